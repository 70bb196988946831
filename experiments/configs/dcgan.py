"""Radford, Metz & Chintala 2015, DCGAN (arXiv 1511.06434).

Presets (``--config=experiments/configs/dcgan.py:PRESET``):
  digits    the built-in digits at 32x32, no download (default); a narrower
            network (features=32) and 2,000 steps so it ends in minutes on a CPU
  mnist     MNIST at 32x32 from TFDS
  cifar10   CIFAR-10 32x32 RGB from TFDS
  celeb_a   CelebA, centre-cropped and resized to 64x64, from TFDS
  conditional  class-conditional DCGAN on the built-in digits
  lsgan     Mao et al. 2017 (LSGAN, arXiv 1611.04076) on the built-in digits:
            the least-squares game (gan.loss='least_squares', a = 0, b = c = 1)
            with DCGAN's networks and Adam (lr 2e-4, beta1 0.5), as the paper
  smoke     two steps of a tiny model, for tests
The paper: all-convolutional nets, BatchNorm in both (not on G's output nor
D's input), ReLU/tanh generator, LeakyReLU(0.2) discriminator, weights
N(0, 0.02), Adam lr 2e-4 with beta1 = 0.5, batch 128 (64 in the reference
pytorch/examples implementation, used for the digits). As in pytorch/examples
and the authors' dcgan.torch, the generator's update scores the fake batch of
the discriminator's update (with the updated discriminator, as
pytorch/examples), so each step runs the generator forward once
(``gan.reuse_fake``; False draws fresh noise, as Goodfellow et al.'s
Algorithm 1).
"""

import ml_collections

from experiments.configs import gan
from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, one_of, positive,
                                   positive_int)

PRESETS = ("digits", "mnist", "cifar10", "celeb_a", "conditional", "lsgan", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"dcgan_{preset}"
  c.data = sections.data_defaults(dataset="digits", image_size=32, channels=1)
  c.model = config_lib.section(
      # z dimension (the paper: 100, uniform; the reference implementation
      # draws N(0, I))
      latent_dim=field(100, positive_int),
      noise=field("normal", one_of("uniform", "normal")),
      features=field(32, positive_int),  # base width (64 in the paper); digits: 32
      conditional=field(False, boolean),  # condition G and D on the class label
      dtype=sections.dtype(),    # compute dtype: 'float32' or 'bfloat16'
  )
  c.gan = config_lib.section(
      n_critic=field(1, positive_int),  # discriminator steps per generator step
      # the game (gj.losses.get); see configs/gan.py
      loss=field("non_saturating", one_of(*gan.LOSSES)),
      # G's step scores the D step's fake batch
      reuse_fake=field(True, boolean),
  )
  # Gaussian noise on D's inputs, annealed (gans_jax.noise); std 0: off
  c.instance_noise = sections.instance_noise_defaults()
  c.optim = config_lib.section(
      name=field("adam", one_of("adam")), learning_rate=field(2e-4, positive),
      b1=field(0.5, fraction), b2=field(0.999, fraction))
  c.train = config_lib.train_defaults(
      num_steps=2000, batch_size=64, log_every=50, checkpoint_every=1000,
      sample_every=500)
  c.eval = config_lib.section(
      # generated images for the classifier metrics
      num_samples=field(2000, positive_int),
      # rows of the latent-space interpolation figure
      interpolations=field(8, positive_int),
      **sections.inception_defaults(),
  )
  if preset == "mnist":
    c.data.dataset = "mnist"
    c.model.features = 64
    c.train.update(num_steps=20000, batch_size=128, checkpoint_every=2000,
                   sample_every=1000)
  if preset == "cifar10":
    c.data.update(dataset="cifar10", channels=3)
    c.model.features = 64
    c.train.update(num_steps=50000, batch_size=128, checkpoint_every=5000,
                   sample_every=2500)
  if preset == "celeb_a":
    c.data.update(dataset="celeb_a", image_size=64, channels=3)
    c.model.features = 64
    c.train.update(num_steps=50000, batch_size=128, checkpoint_every=5000,
                   sample_every=2500)
  if preset in ("mnist", "cifar10", "celeb_a"):
    # FID against 10,000 training images (needs the Inception weights).
    c.eval.update(num_samples=10000, inception_metrics=("fid",))
  if preset == "conditional":
    c.model.conditional = True
  if preset == "lsgan":
    c.gan.loss = "least_squares"
  if preset == "smoke":
    c.model.update(latent_dim=8, features=4)
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   sample_every=2)
    c.eval.update(num_samples=16, interpolations=2)
  return c
