"""Goodfellow et al. 2014, "Generative Adversarial Networks" (arXiv 1406.2661).

Algorithm 1 in code: for each training iteration, k discriminator updates
(``gan.n_critic``),
each on a fresh minibatch of m real examples and m noise samples, ascending

    (1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))],

then one generator update on fresh noise, descending log(1 - D(G(z))) or, as
the paper recommends in practice, ascending log D(G(z)) (non-saturating).
``gan.loss`` names the game (``gj.losses.get``): the paper's, or another
played by the same algorithm, such as LSGAN's least squares (the ``lsgan``
presets, on the digits and on the ring of 8 Gaussians, a 2-D toy whose
evaluation counts the modes covered). The evaluation is the paper's Table 1:
a Gaussian Parzen-window estimate of the test set's log-likelihood under
10,000 generated samples, with the window width chosen on a validation split.

``instance_noise.std > 0`` adds instance noise (Arjovsky & Bottou 2017,
arXiv 1701.04862; Sønderby et al. 2017, arXiv 1610.04490): Gaussian noise on
every input of the discriminator, real and generated, in both players'
updates, its std annealed to 0 over ``instance_noise.anneal_steps``
discriminator updates (:mod:`gans_jax.noise`); off by default.

    python experiments/gan.py [--config=experiments/configs/gan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)


import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import gans_jax as gj
from experiments import common
from experiments.configs import gan as gan_config
from gans_jax.eval import parzen
from gans_jax.train import config as config_lib

def is_toy(config: ml_collections.ConfigDict) -> bool:
  """Whether ``data.dataset`` is a 2-D toy (points, not images)."""
  return config.data.dataset in gan_config.TOY_DATASETS


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/gan.py)."""
  if is_toy(config):
    # The image fields are unused here, and checked all the same.
    config_lib.check_choice(config, "data.image_size", (8, 16, 28, 32, 64))
  else:
    common.validate_image_data(config)
  common.validate_split(config, "eval.validation_split")
  if config.model.conditional:
    config_lib.check(config.data.dataset in ("digits", "mnist", "fashion_mnist", "cifar10"),
                     "model.conditional", "needs a labelled dataset")
  config_lib.validate_train(config)


def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  o = config.optim
  if o.name == "adam":
    return optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  # mnist.yaml: lr divided by lr_decay each step (floored), momentum ramped.
  lr = optax.exponential_decay(o.learning_rate, transition_steps=1,
                               decay_rate=1.0 / o.lr_decay,
                               end_value=o.min_learning_rate)
  momentum = optax.linear_schedule(o.momentum, o.final_momentum, o.momentum_steps)
  return optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=momentum)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The ReLU MLP generator, as ``create_state`` builds it: a tanh output for
  images, a linear one for a toy's points."""
  del state
  m, d = config.model, config.data
  num_classes = 10 if m.conditional else None
  toy = is_toy(config)
  return dict(
      player="generator", module="gans_jax.nn.MLPGenerator", mode="eval",
      kwargs=dict(latent_dim=m.latent_dim,
                  output_shape=2 if toy else (d.image_size, d.image_size, d.channels),
                  hidden=tuple(m.g_hidden), activation="relu",
                  output_activation=None if toy else "tanh", num_classes=num_classes,
                  dtype=common.dtype_name(config)),
      inputs=dict(latent_dim=m.latent_dim, noise=m.noise, num_classes=num_classes))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  m, d = config.model, config.data
  shape = 2 if is_toy(config) else (d.image_size, d.image_size, d.channels)
  num_classes = 10 if m.conditional else None
  rngs, dtype = gj.train.init_rngs(config.train.seed), common.compute_dtype(config)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = gj.nn.MLPDiscriminator(
      shape, hidden=tuple(m.d_hidden), maxout_pieces=m.maxout_pieces,
      dropout=m.d_dropout, input_dropout=m.d_input_dropout,
      num_classes=num_classes, dtype=dtype, rngs=rngs)
  return gj.train.GANState.create(
      generator=generator, discriminator=discriminator,
      g_optimizer=optimizer(config), d_optimizer=optimizer(config))


def make_train_step(config: ml_collections.ConfigDict):
  """Algorithm 1: k discriminator updates, then one generator update.

  The generator's update draws fresh noise, or with ``gan.reuse_fake``
  back-propagates the last discriminator update's fake batch (scored by the
  updated discriminator) through that batch's generator forward pass.
  """
  k, latent_dim, noise = config.gan.n_critic, config.model.latent_dim, config.model.noise
  adversarial_loss, generator_loss = gj.losses.get(config.gan.loss)
  conditional = config.model.conditional
  reuse_fake = config.gan.reuse_fake
  instance_noise = common.instance_noise(config)  # None: off: the step as without it

  def train_step(state: gj.train.GANState, batch, key):
    images = batch["image"] if k > 1 else batch["image"][None]
    labels = (batch["label"] if k > 1 else batch["label"][None]) if conditional else None
    m = images.shape[1]
    metrics = {}
    for i in range(k):
      key_z, key_real, key_fake = jax.random.split(jax.random.fold_in(key, i), 3)
      y = None if labels is None else labels[i]
      z = common.latent(key_z, m, latent_dim, noise)
      if reuse_fake and i == k - 1:
        # The generator's forward pass, kept for its update below: G does not
        # change during the discriminator steps.
        fake, generator_vjp, generator = jax.vjp(
            lambda p, z=z, y=y: state.generator.apply(z, y, params=p),
            state.generator.params, has_aux=True)
        reused_labels = y
      else:
        fake, generator = state.generator.apply(z, y)
      fake = jax.lax.stop_gradient(fake)
      real, fake_in = images[i], fake
      if instance_noise is not None:
        metrics["instance_noise_std"] = sigma = instance_noise.std(state)
        real, fake_in = instance_noise.pair(real, fake, jax.random.fold_in(
            key_z, common.INSTANCE_NOISE_TAG), sigma)

      def discriminator_loss(params):
        d = state.discriminator
        real_logits, d = d.apply(real, y, params=params, rngs=key_real)
        fake_logits, d = d.apply(fake_in, y, params=params, rngs=key_fake)
        # gan.loss's discriminator loss, averaged over the minibatch; for
        # the paper's game -[log D(x) + log(1 - D(G(z)))].
        loss = adversarial_loss(real_logits, fake_logits).mean()
        return loss, (d, (real_logits, fake_logits))

      state = state.replace(generator=generator)
      state, (d_loss, (real_logits, fake_logits)) = gj.train.update(
          state, "discriminator", discriminator_loss, has_aux=True,
          returns_networks=True)
      metrics.update(d_loss=d_loss, d_real=jax.nn.sigmoid(real_logits).mean(),
                     d_fake=jax.nn.sigmoid(fake_logits).mean())

    key_z, key_d, key_y = jax.random.split(jax.random.fold_in(key, k), 3)
    if instance_noise is not None:
      sigma = instance_noise.std(state)
      key_noise = jax.random.fold_in(key_z, common.INSTANCE_NOISE_TAG)
    # The generator sees D's view of its samples: with instance noise on.
    to_discriminator = (lambda x: x) if instance_noise is None else (
        lambda x: instance_noise.one(x, key_noise, sigma))
    if reuse_fake:
      # The last discriminator step's fake batch, scored by the updated D and
      # back-propagated through the generator's saved forward pass.
      def g_loss_of_fake(fake):
        logits, _ = state.discriminator.apply(to_discriminator(fake), reused_labels,
                                              rngs=key_d)
        return generator_loss(logits).mean()

      g_loss, fake_grads = jax.value_and_grad(g_loss_of_fake)(fake)
      (grads,) = generator_vjp(fake_grads)
      state = state.replace(generator=generator)
      state = state.apply_gradients({"generator": grads})
    else:
      y = None if labels is None else jax.random.randint(key_y, (m,), 0, 10)
      z = common.latent(key_z, m, latent_dim, noise)

      def g_loss_fn(params):
        fake, generator = state.generator.apply(z, y, params=params)
        logits, _ = state.discriminator.apply(to_discriminator(fake), y, rngs=key_d)
        return generator_loss(logits).mean(), generator

      state, g_loss = gj.train.update(state, "generator", g_loss_fn,
                                      returns_networks=True)
    metrics["g_loss"] = g_loss
    return state, metrics

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` images (labels cycling 0-9 if conditional)."""
  m = config.model

  @jax.jit
  def sample(state, key):
    labels = jnp.arange(num) % 10 if m.conditional else None
    z = common.latent(key, num, m.latent_dim, m.noise)
    return state.sampling_generator()(z, labels)

  return sample


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  k = config.gan.n_critic
  if is_toy(config):
    data, hooks = common.ToyPoints(config, num_microbatches=k), []
  else:
    data = common.image_batches(config, num_microbatches=k)
    hooks = common.sample_grid_hook(config, make_sampler(config, 100), workdir,
                                    nrow=10)
  state = create_state(config)
  state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                       hooks=hooks, batch_axis=1 if k > 1 else 0)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Parzen-window log-likelihood of the test split (Table 1), and for the
  built-in digits the classifier metrics, recorded at ``step`` (default
  ``train.num_steps``); on a toy, its modes covered instead."""
  if is_toy(config):
    return common.evaluate_toy_samples(
        config, make_sampler(config, config.eval.num_samples), state, workdir,
        step=step)
  e = config.eval
  samples = common.final_samples(config, make_sampler(config, 500), state)
  results = {}
  validation = common.held_out_images(config, e.validation_split, e.num_validation)
  test = common.held_out_images(config, "test", e.num_test)
  to_unit = lambda x: (np.asarray(x, np.float32) + 1.0) / 2.0  # the paper's [0, 1]
  window = parzen.parzen_evaluate(to_unit(samples), to_unit(validation),
                                  to_unit(test))
  results["eval/parzen_log_likelihood"] = window["log_likelihood_mean"]
  results["eval/parzen_stderr"] = window["log_likelihood_stderr"]
  results["eval/parzen_sigma"] = window["sigma"]
  # The same estimate with training images in place of samples: what a
  # generator that reproduced its training set would score.
  train = common.held_out_images(config, "train", e.num_samples)
  reference = parzen.parzen_evaluate(to_unit(train), to_unit(validation),
                                     to_unit(test))
  results["eval/parzen_log_likelihood_train_images"] = reference["log_likelihood_mean"]
  results.update(common.digits_evaluation(config, samples))
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples[:1000])
  return results
