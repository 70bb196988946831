"""Gulrajani et al. 2017, "Improved Training of Wasserstein GANs" (arXiv
1704.00028), Section 5.1 and Figure 2: which GAN trains on which architecture.

The paper trains four methods on seven generator/discriminator pairs and
claims that only WGAN-GP trains on all of them. One run of this module is
one cell of that grid, ``grid.method`` x ``grid.architecture``
(``experiments/configs/architecture_grid.py`` lists both, with each method's
optimiser). Each generator iteration is Algorithm 1's shape, whatever the
method::

    repeat n_critic times (1 for gan and lsgan, 5 for wgan and wgan_gp):
        x ~ P_r (a fresh minibatch), z ~ N(0, I)
        D <- D - opt(grad_D [L_D(D(x), D(G(z))) + lambda GP])
        wgan only: every D parameter clipped to [-0.01, 0.01]
    z ~ N(0, I);  G <- G - opt(grad_G L_G(D(G(z))))

with (L_D, L_G) the non-saturating GAN's, LSGAN's (0-1-1 coding) or the
Wasserstein loss (:func:`gans_jax.losses.get`), and GP WGAN-GP's gradient
penalty at random interpolates (Eq. 3, :func:`gans_jax.penalties.gradient_penalty`),
lambda = 10 for wgan_gp and 0 otherwise. The architectures are in
:mod:`gans_jax.nn.grid`. Each cell ends with 10x10 samples
(``samples.png``) and the digit classifier's Frechet distance, the digits
covered and the classifier's mean confidence on its samples.

The whole grid, resuming cell by cell (:mod:`gans_jax.train.study`), and its
table and figure::

    python experiments/architecture_grid.py --grid [--config=experiments/configs/architecture_grid.py:PRESET] [--root=DIR]

One cell::

    python experiments/architecture_grid.py --config.grid.method=wgan --config.grid.architecture=tanh

Departures from the official ``gan_64x64.py``: 32x32 one-channel digits,
not 64x64 ImageNet, so one up/down-sampling level less; 4x4 (transposed)
convolutions (DCGAN's, as :mod:`gans_jax.nn.dcgan`) instead of 5x5, and a
4x4 'valid' convolution instead of the discriminator's last linear layer;
base width 16 (quick) or 32 (full) instead of 64; 200 (quick, batch 32)
or 2,000 (full, batch 64) generator iterations instead of 200,000 of batch
64; the residual pair is built from the CIFAR-10 ResNet's pre-activation
blocks (:class:`gans_jax.nn.ResidualBlock`, two 3x3 convolutions) with
``model.resnet_blocks`` blocks per resolution, 8 weight layers deep in
``quick`` and 14 in ``full`` (:func:`gans_jax.nn.resnet_depth`), instead of
101 layers of bottleneck blocks with residuals scaled by 0.3 (a 14-layer
WGAN-GP step took 7 s on the shared 2-core CPU, too slow for a grid); the critic updates come
before the generator update (Algorithm 1's order; the official loop starts
with the generator); LSGAN's generator loss is halved ((D - 1)^2 / 2) and
the GAN's discriminator loss not, which RMSProp and Adam nearly undo; the
MLP generator uses Glorot instead of He initialisation.
"""

import sys

from gans_jax import cli

# --grid: the whole grid (imports no JAX; see configs/architecture_grid.py).
if __name__ == "__main__" and "--grid" in sys.argv[1:]:
  from experiments.configs import architecture_grid as _grid_config
  sys.exit(_grid_config.main(sys.argv[1:]))

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import gans_jax as gj
from experiments import common
from experiments.configs import architecture_grid as grid_config
from gans_jax.eval import images as image_eval
from gans_jax.train import config as config_lib

METHODS = grid_config.METHODS
ARCHITECTURES = grid_config.ARCHITECTURES


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (``grid.method`` and
  ``grid.architecture`` are checked there, by name)."""
  common.validate_image_data(config, image_sizes=(32,))
  common.validate_inception(config)
  config_lib.validate_train(config)


def method(config: ml_collections.ConfigDict) -> dict:
  """The settings of ``grid.method`` (``grid_config.METHODS``)."""
  return METHODS[config.grid.method]


def critic_norm(config: ml_collections.ConfigDict) -> str:
  """The discriminator's normalisation where the architecture has one:
  LayerNorm for WGAN-GP (its penalty treats examples one by one), BatchNorm
  for the others (as ``Normalize`` of gan_64x64.py)."""
  return "layer" if config.grid.method == "wgan_gp" else "batch"


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The generator of ``grid.architecture``."""
  del state
  m, d, a = config.model, config.data, config.grid.architecture
  common_kwargs = dict(latent_dim=m.latent_dim, dtype=common.dtype_name(config))
  if a == "mlp_g":
    module = "gans_jax.nn.MLPGenerator"
    kwargs = dict(output_shape=(d.image_size, d.image_size, d.channels),
                  hidden=(m.mlp_width,) * m.mlp_depth, output_activation="tanh")
  elif a == "resnet":
    module = "gans_jax.nn.DeepResNetGenerator32"
    kwargs = dict(channels=d.channels, features=m.features, blocks=m.resnet_blocks)
  else:
    module = "gans_jax.nn.ConvGenerator"
    kwargs = dict(image_size=d.image_size, channels=d.channels, features=m.features,
                  batch_norm=a not in ("no_bn_constant_g", "no_norm"),
                  activation={"gated": "gated", "tanh": "tanh"}.get(a, "relu"),
                  constant_width=a == "no_bn_constant_g")
  return dict(player="generator", module=module, mode="eval",
              kwargs=dict(kwargs, **common_kwargs),
              inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def create_discriminator(config: ml_collections.ConfigDict, rngs: nnx.Rngs):
  """The discriminator of ``grid.architecture``."""
  m, d, a = config.model, config.data, config.grid.architecture
  dtype = common.compute_dtype(config)
  if a == "resnet":
    return gj.nn.DeepResNetCritic32(channels=d.channels, features=m.features,
                                    blocks=m.resnet_blocks, norm=critic_norm(config),
                                    dtype=dtype, rngs=rngs)
  return gj.nn.ConvDiscriminator(
      image_size=d.image_size, channels=d.channels, features=m.features,
      norm=None if a == "no_norm" else critic_norm(config),
      activation={"gated": "gated", "tanh": "tanh"}.get(a, "leaky_relu"),
      dtype=dtype, rngs=rngs)


def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The method's optimiser: Adam, or TensorFlow 1's RMSProp (decay 0.9,
  eps 1e-10 inside the root, the mean square started at 1)."""
  s = method(config)
  if s["optimizer"] == "adam":
    return optax.adam(s["learning_rate"], b1=s["b1"], b2=s["b2"])
  return optax.rmsprop(s["learning_rate"], decay=0.9, eps=1e-10, initial_scale=1.0)


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = create_discriminator(config, rngs)
  return gj.train.GANState.create(generator=generator, discriminator=discriminator,
                                  g_optimizer=optimizer(config),
                                  d_optimizer=optimizer(config))


def make_train_step(config: ml_collections.ConfigDict):
  """One generator iteration: n_critic discriminator updates, one generator
  update, with the method's losses, penalty and clipping."""
  s = method(config)
  latent_dim, n_critic, gp_weight = config.model.latent_dim, s["n_critic"], s["gp_weight"]
  discriminator_loss, generator_loss = gj.losses.get(s["loss"])
  clip = functools.partial(gj.train.clip_weights, clip=s["clip"]) if s["clip"] else None

  def discriminator_update(state: gj.train.GANState, real, key):
    key_z, key_eps = jax.random.split(key)
    fake, generator = state.generator.apply(
        jax.random.normal(key_z, (real.shape[0], latent_dim)))
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(params):
      real_scores, critic = state.discriminator.apply(real, params=params)
      fake_scores, critic = critic.apply(fake, params=params)
      loss = discriminator_loss(real_scores, fake_scores).mean()
      metrics = {"d_loss": loss}
      if gp_weight:
        # Eq. 3; a WGAN-GP critic scores each example on its own (LayerNorm
        # or none), so one backward pass gives every example's gradient.
        scores = lambda x: critic.apply(x, params=params)[0]
        penalty = gj.penalties.gradient_penalty(scores, real, fake, key_eps,
                                                mode="batch").mean()
        loss = loss + gp_weight * penalty
        metrics["gradient_penalty"] = penalty
      return loss, (critic, metrics)

    state, (_, metrics) = gj.train.update(
        state.replace(generator=generator), "discriminator", loss_fn,
        has_aux=True, returns_networks=True, projection=clip)
    return state, metrics

  def train_step(state: gj.train.GANState, batch, key):
    real = batch["image"] if n_critic > 1 else batch["image"][None]  # (n_critic, B, ...)
    for i in range(n_critic):
      state, metrics = discriminator_update(state, real[i], jax.random.fold_in(key, i))
    z = jax.random.normal(jax.random.fold_in(key, n_critic), (real.shape[1], latent_dim))

    def g_loss_fn(params):
      fake, generator = state.generator.apply(z, params=params)
      scores, _ = state.discriminator.apply(fake)
      return generator_loss(scores).mean(), generator

    state, g_loss = gj.train.update(state, "generator", g_loss_fn,
                                    returns_networks=True)
    return state, dict(metrics, g_loss=g_loss)

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` digits, z ~ N(0, I)."""
  return common.normal_latent_sampler(config.model.latent_dim, num)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  n_critic = method(config)["n_critic"]
  data = common.image_batches(config, num_microbatches=n_critic)
  hooks = common.sample_grid_hook(config, make_sampler(config, 64), workdir)
  state = gj.train.fit(make_train_step(config), create_state(config), data, config,
                       workdir, hooks=hooks, batch_axis=1 if n_critic > 1 else 0)
  return evaluate(config, state, workdir)


def mean_confidence(samples: np.ndarray) -> float:
  """The digit classifier's probability of its predicted class, averaged
  over ``samples``: near 1 for sharp digits, lower for ambiguous ones."""
  from gans_jax.eval import classifier as classifier_lib
  classifier = classifier_lib.load_or_train_digit_classifier(
      os.path.join(common.cache_dir(), "digit_classifier.npz"))
  logits = np.asarray(classifier.logits(samples), np.float64)
  p = np.exp(logits - logits.max(axis=1, keepdims=True))
  return float((p.max(axis=1) / p.sum(axis=1)).mean())


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """10x10 samples (``samples.png``), the digit classifier's FD, classes
  covered and mean confidence on ``eval.num_samples`` samples, recorded at
  ``step`` (default ``train.num_steps``)."""
  samples = common.final_samples(config, make_sampler(config, 500), state)
  if jax.process_index() == 0:
    image_eval.save_image_grid(os.path.join(workdir, "samples.png"), samples[:100],
                               nrow=10)
  results = common.digits_evaluation(config, samples)
  if config.data.dataset == "digits":
    results["eval/mean_confidence"] = mean_confidence(samples)
  results.update(common.inception_evaluation(config, samples))
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples[:1000])
  return results
