"""Radford, Metz & Chintala 2015, DCGAN (arXiv 1511.06434).

Presets (``--config=experiments/configs/dcgan.py:PRESET``):
  digits    the built-in digits at 32x32, no download (default); a narrower
            network (features=32) and 2,000 steps so it ends in minutes on a CPU
  mnist     MNIST at 32x32 from TFDS
  cifar10   CIFAR-10 32x32 RGB from TFDS
  celeb_a   CelebA, centre-cropped and resized to 64x64, from TFDS
  conditional  class-conditional DCGAN on the built-in digits
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

from experiments import common
from gans_jax.train import config as config_lib

PRESETS = ("digits", "mnist", "cifar10", "celeb_a", "conditional", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = common.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"dcgan_{preset}"
  c.data = common.data_defaults(dataset="digits", image_size=32, channels=1)
  c.model = ml_collections.ConfigDict(dict(
      latent_dim=100,            # z dimension (the paper: 100, uniform; the
      noise="normal",            # reference implementation draws N(0, I))
      features=32,               # base width (64 in the paper); digits: 32
      conditional=False,         # condition G and D on the class label
      dtype="float32",           # compute dtype: 'float32' or 'bfloat16'
  ))
  c.gan = ml_collections.ConfigDict(dict(
      k=1,                       # discriminator steps per generator step
      generator_loss="non_saturating",
      reuse_fake=True,           # G's step scores the D step's fake batch
  ))
  c.optim = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=2e-4, b1=0.5, b2=0.999))
  c.train = config_lib.train_defaults(
      num_steps=2000, batch_size=64, log_every=50, checkpoint_every=1000,
      sample_every=500)
  c.eval = ml_collections.ConfigDict(dict(
      num_samples=2000,          # generated images for the classifier metrics
      interpolations=8,          # rows of the latent-space interpolation figure
      **common.inception_defaults(),
  ))
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
  if preset == "smoke":
    c.model.update(latent_dim=8, features=4)
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   sample_every=2)
    c.eval.update(num_samples=16, interpolations=2)
  return c
