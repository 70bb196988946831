"""Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN" (arXiv 1701.07875).

Algorithm 1 in code. The critic f_w estimates the Wasserstein-1 distance
through the Kantorovich-Rubinstein duality (Eq. 3),

    W(P_r, P_g) = sup_{||f||_L <= 1} E_{x~P_r}[f(x)] - E_{z}[f(G(z))],

restricted to a compact set of weights by clipping them to [-c, c]. Each
generator iteration first runs n_critic critic updates, each on a fresh real
minibatch and fresh noise: RMSProp ascends E[f(x)] - E[f(G(z))], then every
critic weight is clipped. Then one generator update descends -E[f(G(z))].
The official code raises n_critic from 5 to 100 for the first 25 generator
iterations and every 500th, so that the critic is near its optimum when the
generator relies on it most.

One compiled step is one *critic round*: n_critic = 5 critic updates, each on
its own fresh minibatch, written out without a loop, then the generator
update, applied only when the round completes its generator iteration's
quota: after every round normally, after every 20th in the 100-update
phases. So the 100 critic updates of a warm-up iteration see 100 fresh
minibatches, as in the official code, and the step has no data-dependent
control flow, which matters on CPUs: XLA:CPU runs convolution gradients
inside loop or branch bodies about 100 times slower than outside them
(jax-ml/jax#12868). The price: ``train.num_steps`` counts critic rounds, not
generator iterations (``configs/wgan.py:critic_rounds`` converts), and a
skipped generator update is computed and discarded.

The critic's estimate E[f(x)] - E[f(G(z))] is logged every round and plotted
over training next to a measure of sample quality (the paper's Fig. 3):
``w_estimate.png``.

    python experiments/wgan.py [--config=experiments/configs/wgan.py:PRESET]
"""

import functools
from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import os

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

import gans_jax as gj
from experiments import common
from experiments.configs import wgan as wgan_config
from gans_jax.eval import plots
from gans_jax.train import config as config_lib

def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/wgan.py)."""
  common.validate_image_data(config, image_sizes=(32, 64))
  config_lib.check(config.gan.n_critic_warmup % config.gan.n_critic == 0,
                   "gan.n_critic_warmup", f"must be a multiple of gan.n_critic="
                   f"{config.gan.n_critic}: the critic runs in rounds of n_critic")
  common.validate_inception(config)
  config_lib.validate_train(config)


def rmsprop(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """PyTorch's RMSprop, which the official code uses: eps outside the root."""
  o = config.optim
  return optax.rmsprop(o.learning_rate, decay=o.decay, eps=o.eps, eps_in_sqrt=False)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The DCGAN or MLP generator named by ``model.generator``."""
  del state
  m, d = config.model, config.data
  if m.generator == "mlp":
    module = "gans_jax.nn.MLPGenerator"
    kwargs = dict(latent_dim=m.latent_dim,
                  output_shape=(d.image_size, d.image_size, d.channels),
                  hidden=(m.mlp_width,) * m.mlp_depth, output_activation="tanh")
  else:
    module = "gans_jax.nn.DCGANGenerator"
    kwargs = dict(latent_dim=m.latent_dim, image_size=d.image_size,
                  channels=d.channels, features=m.features,
                  batch_norm=m.generator_batch_norm)
  return dict(player="generator", module=module, mode="eval",
              kwargs=dict(kwargs, dtype=common.dtype_name(config)),
              inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """The generator, the critic, their RMSProps, and in ``extra`` the critic
  rounds done in the current generator iteration."""
  m, d = config.model, config.data
  rngs, dtype = gj.train.init_rngs(config.train.seed), common.compute_dtype(config)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  critic = gj.nn.DCGANDiscriminator(
      image_size=d.image_size, channels=d.channels, features=m.features,
      norm=None if m.critic_norm == "none" else m.critic_norm, dtype=dtype,
      rngs=rngs)
  return gj.train.GANState.create(generator=generator, discriminator=critic,
                                  g_optimizer=rmsprop(config),
                                  d_optimizer=rmsprop(config),
                                  extra={"critic_rounds": jnp.zeros((), jnp.int32)})


def make_train_step(config: ml_collections.ConfigDict):
  """One critic round: n_critic clipped critic updates, then the generator
  update if they complete the generator iteration's critic updates."""
  latent_dim, k = config.model.latent_dim, config.gan.n_critic
  clip = functools.partial(gj.train.clip_weights, clip=config.gan.clip)

  def critic_update(state: gj.train.GANState, real, key):
    fake, generator = state.generator.apply(
        jax.random.normal(key, (real.shape[0], latent_dim)))
    fake = jax.lax.stop_gradient(fake)

    def critic_loss(params):
      critic = state.discriminator
      real_scores, critic = critic.apply(real, params=params)
      fake_scores, critic = critic.apply(fake, params=params)
      # Lines 5-6: ascend E[f(x)] - E[f(G(z))], i.e. descend its negative.
      loss = gj.losses.critic_wasserstein_loss(real_scores, fake_scores).mean()
      return loss, (critic, gj.losses.wasserstein_estimate(real_scores, fake_scores))

    # Line 7: w <- clip(w, -c, c) after the RMSProp step.
    state, (_, w_estimate) = gj.train.update(
        state.replace(generator=generator), "discriminator", critic_loss,
        has_aux=True, returns_networks=True, projection=clip)
    return state, w_estimate

  def generator_update(state: gj.train.GANState, batch_size: int, key):
    z = jax.random.normal(key, (batch_size, latent_dim))

    def generator_loss(params):
      fake, generator = state.generator.apply(z, params=params)
      scores, _ = state.discriminator.apply(fake)
      # Line 10: descend -E[f(G(z))].
      return gj.losses.generator_wasserstein_loss(scores).mean(), generator

    return gj.train.update(state, "generator", generator_loss,
                           returns_networks=True)

  def train_step(state: gj.train.GANState, batch, key):
    images = batch["image"] if k > 1 else batch["image"][None]  # (k, B, ...)
    for i in range(k):
      state, w_estimate = critic_update(state, images[i], jax.random.fold_in(key, i))
    rounds = state.extra["critic_rounds"] + 1
    quota_met = rounds * k >= wgan_config.critic_iterations(config.gan, state.step)
    updated, g_loss = generator_update(state, images.shape[1],
                                       jax.random.fold_in(key, k))
    state = jax.tree.map(lambda new, old: jnp.where(quota_met, new, old),
                         updated, state)
    state = state.replace(extra={"critic_rounds": jnp.where(quota_met, 0, rounds)})
    return state, dict(w_estimate=w_estimate, g_loss=g_loss,
                       generator_iterations=state.step.astype(jnp.float32))

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` images."""
  latent_dim = config.model.latent_dim

  @jax.jit
  def sample(state: gj.train.GANState, key):
    return state.sampling_generator()(jax.random.normal(key, (num, latent_dim)))

  return sample


class SampleQuality:
  """Logs the digit classifier's Fréchet distance of fresh samples every
  ``every`` steps, to be plotted under the W estimate (Fig. 3)."""

  def __init__(self, config: ml_collections.ConfigDict, *, every: int):
    self.config = config
    self.every = every
    self.sample = make_sampler(config, config.eval.quality_samples)

  def __call__(self, step: int, state, writer) -> None:
    images = self.sample(state, gj.train.make_key(self.config.train.seed,
                                                  "quality"))
    fd = common.digits_evaluation(self.config, images)["eval/classifier_fd"]
    writer.write_scalars(step, {"quality/classifier_fd": fd})


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  data = common.image_batches(config, num_microbatches=config.gan.n_critic)
  state = create_state(config)
  hooks = common.sample_grid_hook(config, make_sampler(config, 64), workdir)
  quality = config.data.dataset == "digits" and config.eval.quality_every > 0
  if quality:
    hooks.append(SampleQuality(config, every=config.eval.quality_every))
  state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                       hooks=hooks, batch_axis=1 if config.gan.n_critic > 1 else 0)

  if jax.process_index() == 0:
    plots.plot_metrics(
        os.path.join(workdir, "metrics.jsonl"),
        ["w_estimate", "quality/classifier_fd"] if quality else ["w_estimate"],
        os.path.join(workdir, "w_estimate.png"),
        title="WGAN: the critic's estimate and sample quality")
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Samples and, on the digits, the classifier metrics."""
  return common.evaluate_image_samples(config, make_sampler(config, 500), state,
                                       workdir, step=step)
