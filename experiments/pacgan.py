"""Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in
generative adversarial networks" (arXiv 1712.04086).

Packing: the discriminator judges m samples at once, all real or all
generated, concatenated along channels (:class:`gans_jax.nn.Packed` around
any discriminator); the game is the original GAN's, unchanged,

    min_G max_D  E[log D(x_1, ..., x_m)] + E[log(1 - D(G(z_1), ..., G(z_m)))],

with the non-saturating generator loss. A generator that drops modes makes
packs of look-alike samples that real packs rarely are, and a packed
discriminator sees it (the paper's mode-collapse region analysis).

Algorithm (PacGAN's code, after DCGAN-tensorflow): per iteration one
discriminator update on ``train.batch_size`` real and as many generated
packs (m x batch samples each), then two generator updates on fresh noise
(``gan.g_steps``); Adam 2e-4, beta1 0.5; z ~ U(-1, 1)^100. Measured as the
paper measures collapse on stacked MNIST: 26,000 samples, each channel
classified by a digit classifier, the modes covered (of 1,000) and the KL
divergence of the mode histogram to uniform (experiments/stacked.py). On
the 2-D ring and grid, modes covered and the share of high-quality samples
(within 3 std of a centre).

Departures from the paper:

- stacked *built-in* digits at their native 8x8 (the 1,297 training
  digits, fresh triples every minibatch) instead of 128,000 fixed stacks of
  MNIST at 64x64; the networks are DCGAN's scaled to 8x8 (G: z -> 4x4x32
  -> 8x8x3; D: 8x8x3m -> 4x4x16 -> logit, narrower than G as in the
  paper's reduced-discriminator runs), 1,500 iterations, so a CPU run takes
  minutes; the classifier is the project's digit classifier (99.3% on the
  digits' test split);
- the paper's runs are 10 per setting, here 3 seeds;
- the toys' G has no BatchNorm (PacGAN: 4x400 ReLU + BN).

``instance_noise.std > 0`` adds instance noise to the discriminator's inputs
(the ``instance_noise`` preset: one row of the remedies' table).

``gan.unrolled_steps`` K > 0 makes it the unrolled GAN (Metz et al. 2016,
arXiv 1611.02163), the row PacGAN's table of reduced discriminators quotes
(the ``unrolled`` preset: m = 1, K = 5): each generator update minimises
the saddle objective f_K = -L_D(theta_D^K) at the discriminator K Adam
steps ahead (its moments and count carried from its current state, the
iteration's real batch and the update's generated batch replayed at every
step, BatchNorm on each step's batch statistics), differentiated through
the K steps (:func:`experiments.stacked.unrolled_objective`); the
discriminator's own update stays the single plain step, and theta_D^K is
thrown away. Departures from Metz et al.: the unroll starts from the
discriminator *after* its update of the iteration, and it serves both of
PacGAN's generator updates (Metz et al. update both players from the same
point, one generator step per discriminator step). The 327 modes PacGAN
quotes for the unrolled GAN are the K = 10 column of Metz et al.'s
Table 2 (D a quarter of G); its K = 5 column reads 236.
The saddle objective is the one the method is defined on and the one its
demo trains; ``gan.unrolled_objective = 'game'`` puts PacGAN's
non-saturating loss at theta_D^K instead.

    python experiments/pacgan.py [--config=experiments/configs/pacgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import ml_collections

import gans_jax as gj
from experiments import stacked
from gans_jax.train import config as config_lib

# The original GAN's game with the non-saturating generator loss.
_d_loss, _g_loss = gj.losses.get("non_saturating")
GAME = stacked.Game(
    discriminator_loss=lambda real, fake: _d_loss(real, fake).mean(),
    generator_loss=lambda fake: _g_loss(fake).mean())


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check."""
  stacked.validate(config, samples_per_pack=config.pacgan.packing)
  config_lib.check(config.pacgan.packing <= 16, "pacgan.packing",
                   f"must be at most 16, got {config.pacgan.packing}")


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  return stacked.generator_spec(config, state)


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """The generator, and the discriminator packed m-fold."""
  return stacked.create_state(config, lambda rngs: stacked.classifier_discriminator(
      config, rngs, packing=config.pacgan.packing))


def make_train_step(config: ml_collections.ConfigDict):
  """One update of the packed discriminator, then ``gan.g_steps`` of G."""
  return stacked.make_train_step(config, GAME)


def make_sampler(config: ml_collections.ConfigDict, num: int):
  return stacked.make_sampler(config, num)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  return stacked.train_and_evaluate(config, workdir, state=create_state(config),
                                    game=GAME, samples_per_pack=config.pacgan.packing)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Modes covered (of 1,000) and KL to uniform on 26,000 samples; on a
  toy, modes covered and the high-quality share."""
  return stacked.evaluate(config, state, workdir, step=step)
