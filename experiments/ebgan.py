"""Zhao, Mathieu & LeCun 2017, "Energy-based Generative Adversarial
Network" (arXiv 1609.03126).

The discriminator is an autoencoder and its energy the reconstruction
error, D(x) = MSE(Dec(Enc(x)), x) (:class:`gans_jax.nn.EBGANDiscriminator`);
it is trained to give data low energy and generated samples at least a
margin m (equation 1), the generator to lower its samples' energy
(equation 2), plus in EBGAN-PT the pulling-away term on the encoder codes S
of the generated batch (Section 2.4):

    L_D = D(x) + [m - D(G(z))]^+
    L_G = D(G(z)) + lambda_PT f_PT(S),
    f_PT(S) = 1 / (N (N - 1)) sum_{i != j} cos^2(S_i, S_j)

with lambda_PT = 0.1 (the paper's). The pulling-away term pushes a batch's
samples apart in the code space, against mode collapse, so EBGAN-PT is one
row of the stacked-digits table; the step, generator and evaluation are
PacGAN's (experiments/stacked.py), with this game.

Departures: the energy is the per-entry mean of squares (the paper writes
the norm ||Dec(Enc(x)) - x||), so the margin is on that scale: 1.0 here
(the paper: 10 on MNIST, 20 on CelebA, for its norm); the autoencoder is
three stride-2 convolutions and their mirror (code 1x1x4F at 8x8), the
paper's MNIST models are fully connected; two generator updates per
discriminator update, as PacGAN's code, not the paper's one.

    python experiments/ebgan.py [--config=experiments/configs/ebgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import ml_collections

import gans_jax as gj
from experiments import stacked


def game(config: ml_collections.ConfigDict) -> stacked.Game:
  """The margin loss for D and energy + lambda_PT f_PT for G, of the
  discriminator's ``(energies, codes)``."""
  margin, weight = config.ebgan.margin, config.ebgan.pulling_away_weight

  def discriminator_loss(real, fake):
    (real_energy, _), (fake_energy, _) = real, fake
    return gj.losses.discriminator_energy_loss(real_energy, fake_energy,
                                               margin=margin).mean()

  def generator_loss(fake):
    energy, codes = fake
    loss = gj.losses.generator_energy_loss(energy).mean()
    if weight:
      loss = loss + weight * gj.losses.pulling_away_term(codes)
    return loss

  return stacked.Game(discriminator_loss, generator_loss)


def validate(config: ml_collections.ConfigDict) -> None:
  stacked.validate(config)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  return stacked.generator_spec(config, state)


def discriminator(config: ml_collections.ConfigDict, rngs):
  """The autoencoder: convolutional for stacked images, an MLP for points."""
  m = config.model
  if stacked.is_toy(config):
    return gj.nn.EBGANMLPDiscriminator(2, code_dim=config.ebgan.code_dim,
                                       hidden=tuple(m.d_hidden), rngs=rngs)
  return gj.nn.EBGANDiscriminator(image_size=config.data.image_size,
                                  channels=stacked.STACKED_CHANNELS,
                                  features=m.d_features, rngs=rngs)


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  return stacked.create_state(config, lambda rngs: discriminator(config, rngs))


def make_train_step(config: ml_collections.ConfigDict):
  """One update of the autoencoder, then ``gan.g_steps`` of the generator."""
  return stacked.make_train_step(config, game(config))


def make_sampler(config: ml_collections.ConfigDict, num: int):
  return stacked.make_sampler(config, num)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  return stacked.train_and_evaluate(config, workdir, state=create_state(config),
                                    game=game(config))


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Modes covered and KL to uniform on stacked digits."""
  return stacked.evaluate(config, state, workdir, step=step)
