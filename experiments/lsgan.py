"""Mao, Li, Xie, Lau, Wang & Smolley 2017, "Least Squares Generative
Adversarial Networks" (arXiv 1611.04076).

The discriminator is a regressor with a linear output, fit to target b on
real data and a on generated data; the generator pulls its samples' scores
to c (equation 2):

    min_D  1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]
    min_G  1/2 E[(D(G(z)) - c)^2]

``lsgan.coding`` picks the paper's a-b-c: 0-1-1 (equation 9, its code) or
-1-1-0 (equation 8: b - c = 1, b - a = 2, minimising the Pearson chi^2
divergence between p_data + p_g and 2 p_g). Because the loss keeps
penalising fakes that lie on the right side of the boundary but far from
the data, the paper argues, LSGAN gives non-vanishing gradients and resists
mode collapse: on a mixture of 8 Gaussians on a ring, its generator spreads
over the modes where the regular GAN's jumps from one to another. The
``mixture`` and ``mixture_gan`` presets repeat that test; on stacked digits
the step, networks and evaluation are PacGAN's (experiments/stacked.py),
so LSGAN is one row of the mode-collapse table.

Departures: the paper's stacked setting is not in the paper (it uses
LSUN, CIFAR-10 and HWDB1.0); the networks here are the DCGAN ones of
experiments/pacgan.py at 8x8, with two generator updates per discriminator
update as there. The mixture test follows the paper's code
(stability_comparison/mixture_gaussian: the ring of radius 1 and std 0.01,
whose ``linspace(0, 2 pi, 9)`` gives 8 distinct modes, the first of double
weight; here the 8 are equally likely), with TensorFlow 1.0's orthogonal
initializer (:func:`gans_jax.nn.mlp.tf1_orthogonal`, gain 1.4), but 5,000
iterations instead of 35,000, the two players alternating (D, then G against
the updated D) where the code updates both in one ``session.run``, and the
least-squares losses averaged over the batch where the code sums them
(``tf.nn.l2_loss``; Adam is nearly invariant to that scale).

    python experiments/lsgan.py [--config=experiments/configs/lsgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import jax
import ml_collections
import numpy as np

import gans_jax as gj
from experiments import common
from experiments import stacked
from gans_jax.eval import toy as toy_eval
from gans_jax.nn import mlp
from gans_jax.train import config as config_lib


# The radius of eval/near_fraction, in the toy's standard deviations.
NEAR_STD = 10.0


def game(config: ml_collections.ConfigDict) -> stacked.Game:
  """The least-squares game with ``lsgan.coding``'s a, b, c (or the regular
  GAN's game for the comparison)."""
  if config.lsgan.game == "non_saturating":
    d_loss, g_loss = gj.losses.get("non_saturating")
    return stacked.Game(lambda real, fake: d_loss(real, fake).mean(),
                        lambda fake: g_loss(fake).mean())
  coding = gj.losses.LEAST_SQUARES_CODINGS[config.lsgan.coding]
  return stacked.Game(
      discriminator_loss=lambda real, fake: gj.losses.discriminator_least_squares_loss(
          real, fake, a=coding.a, b=coding.b).mean(),
      generator_loss=lambda fake: gj.losses.generator_least_squares_loss(
          fake, c=coding.c).mean())


def validate(config: ml_collections.ConfigDict) -> None:
  stacked.validate(config)
  config_lib.check(not config.lsgan.orthogonal_gain or stacked.is_toy(config),
                   "lsgan.orthogonal_gain",
                   f"applies to the 2-D toys' MLPs only, not to "
                   f"{config.data.dataset!r}; set it to 0")


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  return stacked.generator_spec(config, state)


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """The generator and the (unpacked) discriminator, its output linear; on
  a toy with ``lsgan.orthogonal_gain``, every weight matrix redrawn
  orthogonal (:func:`gans_jax.nn.mlp.orthogonal_kernels`), biases zero."""
  state = stacked.create_state(
      config, lambda rngs: stacked.classifier_discriminator(config, rngs))
  gain = config.lsgan.orthogonal_gain
  if not gain:
    return state
  key = gj.train.make_key(config.train.seed, "orthogonal_init")
  redraw = lambda network, i: network.replace(params=mlp.orthogonal_kernels(
      network.params, jax.random.fold_in(key, i), gain=gain,
      draw=config.lsgan.orthogonal_draw))
  return state.replace(generator=redraw(state.generator, 0),
                       discriminator=redraw(state.discriminator, 1))


def make_train_step(config: ml_collections.ConfigDict):
  """One discriminator update, then ``gan.g_steps`` generator updates."""
  return stacked.make_train_step(config, game(config))


def make_sampler(config: ml_collections.ConfigDict, num: int):
  return stacked.make_sampler(config, num)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  state = gj.train.fit(stacked.make_train_step(config, game(config)),
                       create_state(config), stacked.batches(config), config, workdir)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Modes covered and KL to uniform on stacked digits; on the mixture,
  modes covered, the high-quality share (within 3 std of a centre) and
  ``eval/near_fraction``, the share within 10 std (0.1 on the ring), which
  tells samples around the ring from a diffuse cloud."""
  if not stacked.is_toy(config):
    return stacked.evaluate(config, state, workdir, step=step)
  sample = stacked.make_sampler(config, config.eval.num_samples)
  points = np.asarray(sample(state, gj.train.make_key(config.train.seed, "eval")))
  toy = gj.data.get_toy(config.data.dataset)
  near = toy_eval.mode_metrics(points, toy.centers, toy.std,
                               threshold=NEAR_STD)["high_quality_fraction"]
  return common.evaluate_toy_samples(config, sample, state, workdir, step=step,
                                    extra={"eval/near_fraction": near})
