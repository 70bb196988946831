"""The configuration the mode-collapse experiments share (``pacgan``,
``lsgan``, ``ebgan``; experiments/stacked.py): stacked digits, a small
DCGAN-style generator, Adam, and PacGAN's evaluation on 26,000 samples.

Not an experiment itself: each experiment's config starts from
:func:`base` and adds its own section and presets.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (field, fraction, non_negative_int, one_of, positive,
                                   positive_int, positive_ints)

# The stacked images (1,000 modes), and the 2-D toys: PacGAN's ring of 8 and
# grid of 25 Gaussians, and the unrolled GAN's (and LSGAN's) ring.
STACKED = ("stacked_digits", "stacked_mnist")
TOYS = ("8gaussians", "25gaussians", "ring")


def base(name: str) -> ml_collections.ConfigDict:
  """Stacked built-in digits at their native 8x8, sized for a CPU."""
  c = ml_collections.ConfigDict()
  c.name = name
  c.data = config_lib.section(
      # 'stacked_digits' (built in), 'stacked_mnist' (TFDS) or a 2-D toy
      dataset=field("stacked_digits", one_of(*STACKED, *TOYS)),
      # side of the stacked images (the built-in digits are 8x8)
      image_size=field(8, one_of(8, 16, 32, 64)),
      data_dir="",  # TFDS data directory for stacked_mnist ('' = TFDS's default)
  )
  c.model = config_lib.section(
      latent_dim=field(100, positive_int),  # z dimension (PacGAN: 100)
      # PacGAN's code draws z ~ U(-1, 1)
      noise=field("uniform", one_of("uniform", "normal")),
      # DCGAN widths (ngf, ndf; the paper: 64, 64): on a CPU, G 32 and D
      # 16, as PacGAN's experiments with a discriminator smaller than G
      g_features=field(32, positive_int),
      d_features=field(16, positive_int),
      # the toys: MLP widths (PacGAN's grid: G 4x400, D 3x200 maxout of 5)
      g_hidden=field((400, 400, 400, 400), positive_ints),
      d_hidden=field((200, 200, 200), positive_ints),
      maxout_pieces=field(5, positive_int),  # the toys' D: 1 = no maxout
      # the toys' hidden activation (G, and D without maxout)
      activation=field("relu", one_of("relu", "tanh")),
  )
  c.gan = config_lib.section(
      # generator updates per discriminator update (PacGAN's code: 2)
      g_steps=field(2, positive_int),
      # unrolled GAN (Metz et al. 2016): each generator update minimises its
      # objective against D K Adam steps ahead, differentiated through the
      # steps; 0 = off (the plain step)
      unrolled_steps=field(0, non_negative_int),
      # G's objective at the unrolled D: 'saddle' (-L_D, Metz et al.'s f)
      # or 'game' (the game's own generator loss, e.g. non-saturating)
      unrolled_objective=field("saddle", one_of("saddle", "game")),
  )
  # Gaussian noise on D's inputs, annealed (gans_jax.noise); std 0: off
  c.instance_noise = sections.instance_noise_defaults()
  c.optim = config_lib.section(
      learning_rate=field(2e-4, positive),    # D's Adam step (PacGAN: 2e-4)
      g_learning_rate=field(2e-4, positive),  # G's Adam step
      b1=field(0.5, fraction), b2=field(0.999, fraction),
  )
  c.train = config_lib.train_defaults(
      num_steps=1500, batch_size=64, log_every=250, checkpoint_every=750,
      sample_every=0, steps_per_call=25)
  c.eval = config_lib.section(
      # generated samples whose modes are counted (PacGAN: 26,000)
      num_samples=field(26000, positive_int),
  )
  return c


def use_toy(c: ml_collections.ConfigDict, dataset: str) -> None:
  """PacGAN's toy settings (its grid experiment): MLPs, Adam 1e-4 with
  beta1 0.8, batch 100, 2,500 samples scored."""
  c.data.dataset = dataset
  c.model.update(latent_dim=2, noise="normal")
  c.gan.g_steps = 1
  c.optim.update(learning_rate=1e-4, g_learning_rate=1e-4, b1=0.8)
  c.train.update(num_steps=5000, batch_size=100, log_every=500,
                 checkpoint_every=2500, steps_per_call=50)
  c.eval.num_samples = 2500


def use_stacked_mnist(c: ml_collections.ConfigDict) -> None:
  """PacGAN's stacked MNIST: 3 x MNIST at 32x32 (DCGAN-tensorflow resizes
  28 to 64; 32 keeps a power of two), ngf = ndf = 64, batch 64."""
  c.data.update(dataset="stacked_mnist", image_size=32)
  c.model.update(g_features=64, d_features=64)
  c.train.update(num_steps=50000, checkpoint_every=5000, steps_per_call=10)


def use_smoke(c: ml_collections.ConfigDict) -> None:
  """Two steps of a tiny model, for tests."""
  c.model.update(latent_dim=8, g_features=4, d_features=4, g_hidden=(8,),
                 d_hidden=(8,), maxout_pieces=2)
  c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                 steps_per_call=1)
  c.eval.num_samples = 64
