"""Arjovsky, Chintala & Bottou 2017, Wasserstein GAN (arXiv 1701.07875).

Presets (``--config=experiments/configs/wgan.py:PRESET``):
  digits    the built-in digits at 32x32, no download (default); a narrower
            network (features=16) and 2,000 generator iterations (2,532
            critic rounds) so that it ends in minutes on a 2-core CPU
  mnist     MNIST at 32x32 from TFDS
  cifar10   CIFAR-10 32x32 RGB from TFDS
  celeb_a   CelebA, centre-cropped and resized to 64x64, from TFDS
            (these three: features 64 as the official code, 100,000
            generator iterations, our choice; the official code counts 25
            epochs)
  no_bn     Section 4.3's robustness test on the digits: a DCGAN generator
            without BatchNorm (the official code's --noBN)
  mlp       the other robustness test on the digits: an MLP generator of 4
            ReLU layers of 512 units (the paper's text; the official --mlp_G
            has 3 layers and no output nonlinearity, here tanh keeps samples
            in [-1, 1] like the data)
  smoke     two steps of a tiny model, for tests
Settings of Algorithm 1 and the official code (martinarjovsky/WassersteinGAN):
RMSProp with lr 5e-5 (PyTorch's RMSprop: squared-gradient average 0.99, eps
1e-8 outside the square root), clip c = 0.01 on every critic parameter
(BatchNorm's scale and offset included), batch 64, n_critic = 5 raised to
100 for the first 25 generator iterations and every 500th, z ~ N(0, I) of
dimension 100, the DCGAN critic (with BatchNorm, as the official code keeps
it) returning raw scores (no sigmoid), the DCGAN generator.

``train.num_steps`` counts critic rounds (one round: n_critic critic updates
on n_critic fresh minibatches, and the generator update once the iteration's
critic updates are done), not generator iterations: a warm-up iteration takes
n_critic_warmup / n_critic = 20 rounds. :func:`critic_rounds` converts; the
presets give the rounds for a whole number of generator iterations, and
``generator_iterations`` is logged.

Deviation: weights are clipped after each critic update (Algorithm 1, line
7); the official code clips before each update, so its generator step sees
the last critic update unclipped.
"""

import math

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative_int, one_of,
                                   positive, positive_int)

PRESETS = ("digits", "mnist", "cifar10", "celeb_a", "no_bn", "mlp", "smoke")


def critic_iterations(gan: ml_collections.ConfigDict, iteration):
  """Critic updates before generator update ``iteration`` (0-based): the
  official schedule. Works on Python ints and on JAX integer arrays."""
  warmup = (iteration < gan.warmup_iterations) | (iteration % gan.warmup_every == 0)
  return gan.n_critic + (gan.n_critic_warmup - gan.n_critic) * warmup


def critic_rounds(gan: ml_collections.ConfigDict, generator_iterations: int) -> int:
  """Critic rounds (steps) that make ``generator_iterations`` iterations."""
  return sum(math.ceil(critic_iterations(gan, i) / gan.n_critic)
             for i in range(generator_iterations))


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"wgan_{preset}"
  c.data = sections.data_defaults(dataset="digits", image_size=32, channels=1)
  c.model = config_lib.section(
      generator=field("dcgan", one_of("dcgan", "mlp")),  # 'dcgan' or 'mlp'
      generator_batch_norm=field(True, boolean),  # BatchNorm in the DCGAN generator
      mlp_width=field(512, positive_int),  # units per layer of the MLP generator
      mlp_depth=field(4, positive_int),  # its hidden ReLU layers
      latent_dim=field(100, positive_int),  # z dimension (nz)
      features=field(16, positive_int),  # base width of the DCGAN nets (64 in the paper)
      # 'batch' (official), 'layer' or 'none'
      critic_norm=field("batch", one_of("batch", "layer", "none")),
      dtype=sections.dtype(),      # compute dtype: 'float32' or 'bfloat16'
  )
  c.gan = config_lib.section(
      n_critic=field(5, positive_int),  # critic iterations per generator iteration
      n_critic_warmup=field(100, positive_int),  # ... raised to this ...
      # ... for the first this many generator iterations
      warmup_iterations=field(25, non_negative_int),
      warmup_every=field(500, positive_int),  # ... and for every this-many-th one
      clip=field(0.01, positive),  # critic weights are clipped to [-c, c]
  )
  c.optim = config_lib.section(
      learning_rate=field(5e-5, positive),  # RMSProp's lr, both networks
      decay=field(0.99, fraction),  # RMSProp's squared-gradient average (PyTorch alpha)
      eps=field(1e-8, positive),  # added to the root
  )
  c.train = config_lib.train_defaults(
      num_steps=0,                 # critic rounds; set below from the iterations
      batch_size=64, log_every=1, checkpoint_every=500, sample_every=500)
  generator_iterations = 2000
  c.eval = config_lib.section(
      num_samples=field(2000, positive_int),  # generated images for the final metrics
      # steps between sample-quality points logged next to the W estimate
      # (digits only; 0: off)
      quality_every=field(250, non_negative_int),
      quality_samples=field(500, positive_int),  # images each of those points uses
      **sections.inception_defaults(),
  )
  if preset in ("mnist", "cifar10", "celeb_a"):
    c.data.update(dataset=preset, channels=1 if preset == "mnist" else 3,
                  image_size=64 if preset == "celeb_a" else 32)
    c.model.features = 64
    c.train.update(checkpoint_every=5000, sample_every=2500, log_every=50)
    # FID against 10,000 training images (needs the Inception weights).
    c.eval.update(num_samples=10000, inception_metrics=("fid",))
    generator_iterations = 100000
  if preset == "no_bn":
    c.model.generator_batch_norm = False
  if preset == "mlp":
    c.model.generator = "mlp"
  if preset == "smoke":
    c.model.update(latent_dim=8, features=4, mlp_width=16, mlp_depth=1)
    c.gan.update(n_critic=2, n_critic_warmup=4, warmup_iterations=1)
    c.train.update(batch_size=8, log_every=1, checkpoint_every=2, sample_every=2)
    c.eval.update(num_samples=16, quality_every=1, quality_samples=16)
    generator_iterations = 1
  c.train.num_steps = critic_rounds(c.gan, generator_iterations)
  return c
