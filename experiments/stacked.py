"""What the mode-collapse experiments share (``pacgan``, ``lsgan``,
``ebgan``): stacked digits, the generator, one GAN step with a game,
instance noise and an unrolled generator loss as parameters, and PacGAN's
count of modes.

The step is the alternation of PacGAN's code: one discriminator update on
a real minibatch and a generated one, then ``gan.g_steps`` generator updates
on fresh noise. What the papers change is the *game*: the two losses as
functions of whatever the discriminator returns (logits, least-squares
scores, or an autoencoder's energies and codes), and the discriminator
itself (packed, or an autoencoder). Plumbing only; each paper's module
states its own algorithm.
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import jax
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from experiments.configs import stacked as stacked_config
from gans_jax import data as gdata
from gans_jax.eval import images as image_eval
from gans_jax.eval import modes as modes_eval
from gans_jax.data.stacked_digits import STACKED_DIGITS_CHANNELS as STACKED_CHANNELS
from gans_jax.train import config as config_lib


class Game(NamedTuple):
  """An adversarial game as two scalar losses of the discriminator's outputs
  (per pack when packed): ``discriminator_loss(real_out, fake_out)`` and
  ``generator_loss(fake_out)``."""

  discriminator_loss: Callable[[Any, Any], jax.Array]
  generator_loss: Callable[[Any], jax.Array]


def is_toy(config: ml_collections.ConfigDict) -> bool:
  """Whether ``data.dataset`` is a 2-D toy (points, not stacked images)."""
  return config.data.dataset in stacked_config.TOYS


def validate(config: ml_collections.ConfigDict, *, samples_per_pack: int = 1) -> None:
  """The rules beyond each field's own check."""
  config_lib.validate_train(config)
  b = config.train.batch_size
  config_lib.check(b * samples_per_pack >= 2, "train.batch_size",
                   f"must give at least 2 samples per minibatch, got {b}")


def sample_shape(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """One sample's shape: a point, or a stacked image (S, S, 3)."""
  if is_toy(config):
    return (2,)
  s = config.data.image_size
  return (s, s, STACKED_CHANNELS)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """A DCGAN generator of stacked images, or the toys' ReLU MLP."""
  del state
  m = config.model
  inputs = dict(latent_dim=m.latent_dim, noise=m.noise)
  if is_toy(config):
    return dict(player="generator", module="gans_jax.nn.MLPGenerator", mode="eval",
                kwargs=dict(latent_dim=m.latent_dim, output_shape=2,
                            hidden=tuple(m.g_hidden), activation=m.activation,
                            output_activation=None),
                inputs=inputs)
  return dict(player="generator", module="gans_jax.nn.DCGANGenerator", mode="eval",
              kwargs=dict(latent_dim=m.latent_dim, image_size=config.data.image_size,
                          channels=STACKED_CHANNELS,
                          features=m.g_features),
              inputs=inputs)


def classifier_discriminator(config: ml_collections.ConfigDict, rngs, *,
                             packing: int = 1):
  """The DCGAN discriminator (or the toys' maxout MLP), made to judge packs
  of ``packing`` samples (:class:`gans_jax.nn.Packed`) when ``packing > 1``."""
  m = config.model
  if is_toy(config):
    discriminator = gj.nn.MLPDiscriminator(
        2 * packing, hidden=tuple(m.d_hidden),
        maxout_pieces=m.maxout_pieces if m.maxout_pieces > 1 else None,
        activation=m.activation, dropout=0.0, input_dropout=0.0, rngs=rngs)
  else:
    discriminator = gj.nn.DCGANDiscriminator(
        image_size=config.data.image_size,
        channels=STACKED_CHANNELS * packing,
        features=m.d_features, norm="batch", rngs=rngs)
  return gj.nn.Packed(discriminator, packing=packing) if packing > 1 else discriminator


def create_state(config: ml_collections.ConfigDict,
                 discriminator: Callable[[Any], Any]) -> gj.train.GANState:
  """The generator of :func:`generator_spec`, ``discriminator(rngs)``, and
  each with its Adam."""
  o = config.optim
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  adam = lambda lr: optax.adam(lr, b1=o.b1, b2=o.b2)
  return gj.train.GANState.create(
      generator=generator, discriminator=discriminator(rngs),
      g_optimizer=adam(o.g_learning_rate), d_optimizer=adam(o.learning_rate))


class StackedImages:
  """Stacked MNIST (or any labelled image source): each channel an image
  drawn independently, minibatch ``m`` from ``default_rng([seed, m])``, as
  :class:`gans_jax.data.StackedDigitsBatches` does for the built-in digits."""

  def __init__(self, config: ml_collections.ConfigDict, batch_size: int):
    d = config.data
    self.source = gdata.make_image_source(
        "mnist", split="train", data_dir=d.data_dir or None,
        image_size=d.image_size, channels=1)
    self.batch_size, self.seed, self.image_size = batch_size, config.train.seed, d.image_size

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step])
    index = rng.integers(0, len(self.source),
                         (self.batch_size, STACKED_CHANNELS))
    image = np.stack([np.concatenate([gdata.preprocess_image(
        self.source[int(i)]["image"], image_size=self.image_size, channels=1)
        for i in row], axis=-1) for row in index])
    return {"image": image}


def batches(config: ml_collections.ConfigDict, *, samples_per_pack: int = 1):
  """Training minibatches of ``train.batch_size * samples_per_pack`` samples
  under the key ``'image'``: ``batch_size`` packs for the discriminator."""
  n = config.train.batch_size * samples_per_pack
  d = config.data
  if is_toy(config):
    toy = gdata.ToyBatches(d.dataset, batch_size=n, seed=config.train.seed)
    return _Renamed(toy, "x")
  if d.dataset == "stacked_mnist":
    return StackedImages(config, n)
  return _Renamed(gdata.StackedDigitsBatches(
      batch_size=n, seed=config.train.seed, split="train",
      image_size=d.image_size), "image")


class _Renamed:
  """A batch source whose samples are under ``key``, served as ``'image'``
  (labels are not used: the generators are unconditional)."""

  def __init__(self, source, key: str):
    self.source, self.key = source, key

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    return {"image": self.source.get_batch(step)[self.key]}


def make_train_step(config: ml_collections.ConfigDict, game: Game):
  """One discriminator update, then ``gan.g_steps`` generator updates.

  With instance noise on (``instance_noise.std > 0``) the discriminator's
  inputs, real and generated, carry Gaussian noise in both players'
  updates, its std a pure function of the discriminator's update counter.

  With ``gan.unrolled_steps`` K > 0 each generator update minimises its
  objective against the discriminator K steps ahead (:func:`unrolled_objective`);
  the discriminator's own update is the same single step. K = 0 traces
  exactly the plain step.
  """
  m, g_steps = config.model, config.gan.g_steps
  unrolled_steps = config.gan.get("unrolled_steps", 0)
  objective = config.gan.get("unrolled_objective", "saddle")
  instance_noise = common.instance_noise(config)

  def train_step(state: gj.train.GANState, batch, key):
    real = batch["image"]
    n = real.shape[0]
    metrics = {}
    z = common.latent(jax.random.fold_in(key, 0), n, m.latent_dim, m.noise)
    fake, generator = state.generator.apply(z)
    fake = jax.lax.stop_gradient(fake)
    if instance_noise is not None:
      metrics["instance_noise_std"] = sigma = instance_noise.std(state)
      real, fake = instance_noise.pair(real, fake, jax.random.fold_in(
          key, common.INSTANCE_NOISE_TAG), sigma)

    def discriminator_loss(params):
      real_out, d = state.discriminator.apply(real, params=params)
      fake_out, d = d.apply(fake, params=params)
      return game.discriminator_loss(real_out, fake_out), d

    state = state.replace(generator=generator)
    state, metrics["d_loss"] = gj.train.update(
        state, "discriminator", discriminator_loss, returns_networks=True)

    for i in range(g_steps):
      key_i = jax.random.fold_in(key, 1 + i)
      z = common.latent(key_i, n, m.latent_dim, m.noise)

      def generator_loss(params, z=z, key_i=key_i):
        fake, g = state.generator.apply(z, params=params)
        if instance_noise is not None:
          fake = instance_noise.one(
              fake, jax.random.fold_in(key_i, common.INSTANCE_NOISE_TAG),
              instance_noise.std(state))
        if unrolled_steps:
          return unrolled_objective(state, game, fake, real, steps=unrolled_steps,
                                    objective=objective), g
        out, _ = state.discriminator.apply(fake)
        return game.generator_loss(out), g

      state, metrics["g_loss"] = gj.train.update(
          state, "generator", generator_loss, returns_networks=True)
    return state, metrics

  return train_step


def unrolled_objective(state: gj.train.GANState, game: Game, fake: jax.Array,
                       real: jax.Array, *, steps: int,
                       objective: str = "saddle") -> jax.Array:
  """The generator's objective against the discriminator ``steps`` updates
  ahead (Metz et al. 2016, equations 4-7; :mod:`gans_jax.train.unrolled`).

  From the state's discriminator and its optimizer's state (Adam's moments
  and count), K updates of that optimizer on ``game.discriminator_loss``
  with ``real`` and ``fake`` at every step (the demo's replay of the
  iteration's batch), as one ``lax.scan`` that ``jax.grad`` differentiates
  through: ``fake`` carries the generator's parameters into every step.
  The unrolled parameters are returned to no one: the discriminator's own
  update is the step's ordinary single step.

  BatchNorm: every unroll step runs the discriminator in training mode, on
  the batch statistics of that step's real batch and, separately, of its
  generated batch, as its ordinary update does; only the parameters (and
  the optimizer state) are carried from step to step. The running averages
  the passes compute are thrown away (training mode never reads them), so
  the state's running statistics are untouched by the generator's update,
  as they are in the plain step.

  Args:
    state: the state; its discriminator is the unroll's start.
    game: the two losses.
    fake: the generated batch, a function of the generator's parameters
      (after instance noise, when on).
    real: the real batch the discriminator's update saw (with its noise).
    steps: K >= 1.
    objective: ``'saddle'``: :math:`-L_D(\\theta_D^K)`, the unrolled GAN's
      :math:`f_K` (Metz et al. and their demo); ``'game'``: the game's
      generator loss at :math:`\\theta_D^K` (PacGAN's: non-saturating).

  Returns:
    The scalar objective.
  """
  network = state.discriminator
  group = state.group("discriminator")

  # L_D as a function of the parameters as the optimizer sees them,
  # {player: params}, and of the generated batch.
  def discriminator_loss(d_params, fake, real):
    params = d_params["discriminator"]
    real_out, d = network.apply(real, params=params)
    fake_out, _ = d.apply(fake, params=params)
    return game.discriminator_loss(real_out, fake_out)

  def generator_objective(fake, d_params):
    if objective == "saddle":
      return -discriminator_loss(d_params, fake, real)
    out, _ = network.apply(fake, params=d_params["discriminator"])
    return game.generator_loss(out)

  return gj.train.unrolled_generator_loss(
      generator_objective, fake, {p: state.player(p).params for p in group.players},
      state.opt_states[group.name], group.tx, discriminator_loss, steps=steps,
      batches=gj.train.repeat_batch(real, steps))


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` samples, z from ``model.noise``. No
  instance noise: that is the discriminator's, in training only."""
  m = config.model

  @jax.jit
  def sample(state, key):
    return state.sampling_generator()(common.latent(key, num, m.latent_dim, m.noise))

  return sample


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       state, game: Game, samples_per_pack: int = 1) -> dict:
  state = gj.train.fit(make_train_step(config, game), state,
                       batches(config, samples_per_pack=samples_per_pack),
                       config, workdir)
  return evaluate(config, state, workdir)


def digit_classifier():
  from gans_jax.eval import classifier as classifier_lib
  return classifier_lib.load_or_train_digit_classifier(
      os.path.join(common.cache_dir(), "digit_classifier.npz"))


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """PacGAN's measure of collapse: ``eval.num_samples`` samples, each
  channel classified on its own; the modes covered (of 1,000) and the KL
  divergence of the mode histogram to uniform. On a toy: the modes covered
  and the share of high-quality samples."""
  if is_toy(config):
    return common.evaluate_toy_samples(
        config, make_sampler(config, config.eval.num_samples), state, workdir,
        step=step)
  samples = common.final_samples(config, make_sampler(config, 500), state)
  modes = modes_eval.stacked_digit_modes(digit_classifier(), samples)
  results = {"eval/modes_covered": modes["modes_covered"],
             "eval/kl_to_uniform": modes["kl_to_uniform"],
             "eval/num_samples": len(samples)}
  if jax.process_index() == 0:
    image_eval.save_image_grid(os.path.join(workdir, "samples.png"), samples[:100],
                               nrow=10)
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples[:1000], mode_histogram=modes["histogram"])
  return results
