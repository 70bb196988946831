"""Gulrajani et al. 2017, WGAN-GP (arXiv 1704.00028).

Presets (``--config=experiments/configs/wgan_gp.py:PRESET``):
  quickstart   8 Gaussians in under three minutes on a 2-core CPU (default):
               the official toy settings except MLPs of width 64 instead of
               512 and 10,000 generator iterations instead of 100,000, with
               the paper's ResNet schedule (Adam lr 2e-4 decayed linearly to
               0) and a generator EMA (decay 0.999) for sampling
  8gaussians   the official toy code (gan_toy.py): MLPs of three ReLU layers
               of 512, 2-D noise, batch 256, 5 critic iterations, Adam 1e-4
               with betas (0.5, 0.9), lambda = 0.1, 100,000 generator
               iterations
  25gaussians  the same on the 5x5 grid of Gaussians
  swissroll    the same on the swiss roll
  digits       the built-in digits at 32x32, no download: DCGAN-style
               convolutional nets with LayerNorm in the critic (the paper's
               prescription instead of BatchNorm), Algorithm 1's defaults
               (lambda = 10, n_critic = 5, Adam 1e-4, betas (0, 0.9)); a
               narrow network (features 16) and 1,000 iterations so that it
               ends in minutes on a 2-core CPU
  mnist        MNIST at 32x32 with the official gan_mnist.py settings (batch
               50, Adam 1e-4, betas (0.5, 0.9), 200,000 iterations, no
               BatchNorm in the generator) on the DCGAN-style nets with a
               LayerNorm critic
  cifar10      the paper's CIFAR-10 ResNet (gan_cifar_resnet.py, unsupervised):
               ResNet generator and critic of width 128, Adam 2e-4 with betas
               (0, 0.9) decayed linearly to 0 over 100,000 iterations,
               n_critic = 5, batch 64 (128 for the generator's step),
               lambda = 10; no normalisation in the critic, as the official
               code (NORMALIZATION_D = False)
  smoke        two steps of a tiny toy model, for tests

Deviations from the official code, all presets: Flax's default LeCun-normal
initialisation of the MLPs' linear layers (the official toy code uses He
initialisation); the critic updates come before the generator update within
an iteration (Algorithm 1's order; the official code updates the generator
first from the second iteration on); the discriminator's linear decay counts
its own updates (n_critic per generator iteration), which matches the
official per-generator-iteration decay to within one iteration; real CIFAR-10
images are not dequantised with uniform noise.

The toys run 50 steps per compiled call (``train.steps_per_call``, a
``lax.scan``) since their steps are short enough for dispatch to matter; the
image presets keep 1.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative, one_of,
                                   positive, positive_int)

PRESETS = ("quickstart", "8gaussians", "25gaussians", "swissroll", "digits",
           "mnist", "cifar10", "smoke")
TOY_DATASETS = sections.TOY_DATASETS


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "quickstart", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"wgan_gp_{preset}"
  # dataset: a toy ('8gaussians', '25gaussians', 'swissroll') or an image set.
  c.data = sections.data_defaults(dataset="8gaussians", image_size=32, channels=1)
  c.model = config_lib.section(
      # 'mlp' (toys), 'dcgan' or 'resnet' (32x32)
      architecture=field("mlp", one_of("mlp", "dcgan", "resnet")),
      latent_dim=field(2, positive_int),  # z dimension (2 for the toys, 128 for images)
      width=field(512, positive_int),  # units per hidden layer of the MLPs (DIM)
      depth=field(3, positive_int),  # hidden ReLU layers of each MLP
      features=field(64, positive_int),  # base width of the convolutional nets
      # 'layer' or 'none': LayerNorm in the critic
      critic_norm=field("none", one_of("layer", "none")),
      generator_batch_norm=field(True, boolean),  # BatchNorm in the DCGAN-style generator
      dtype=sections.dtype(),    # compute dtype: 'float32' or 'bfloat16'
  )
  c.gan = config_lib.section(
      n_critic=field(5, positive_int),  # critic iterations per generator iteration
      gp_weight=field(0.1, non_negative),  # lambda (0.1 in the toy code, 10 in the paper)
      # generator batch = this x train.batch_size
      generator_batch_multiple=field(1, positive_int),
  )
  c.optim = config_lib.section(
      learning_rate=field(1e-4, positive),  # Adam's alpha, both networks
      b1=field(0.5, fraction), b2=field(0.9, fraction),  # Adam's betas (toy code: 0.5, 0.9)
      # 'none' or 'linear' (to 0 at train.num_steps)
      decay=field("none", one_of("none", "linear")),
      ema_decay=field(0.0, fraction),  # generator EMA for sampling (0: none)
  )
  c.train = config_lib.train_defaults(
      num_steps=100000, batch_size=256, log_every=100, checkpoint_every=10000,
      sample_every=0, steps_per_call=50)
  c.eval = config_lib.section(
      num_samples=field(2500, positive_int),  # generated samples evaluated (VEEGAN: 2,500)
      # a mode counts as covered with this share of its fair N/K
      # high-quality samples
      min_share=field(0.2, fraction),
      plot_range=field(2.0, positive),  # toy figure and critic contours on [-r, r]^2
      **sections.inception_defaults(),
  )

  if preset == "quickstart":
    c.model.width = 64
    c.optim.update(learning_rate=2e-4, decay="linear", ema_decay=0.999)
    c.train.update(num_steps=10000, checkpoint_every=2500)
  if preset in TOY_DATASETS:
    c.data.dataset = preset
  if preset in ("digits", "mnist", "cifar10"):
    c.data.update(dataset=preset, channels=3 if preset == "cifar10" else 1)
    c.model.update(architecture="dcgan", latent_dim=128, critic_norm="layer")
    c.gan.gp_weight = 10.0
    c.optim.update(b1=0.0, b2=0.9)
    c.train.update(batch_size=64, log_every=50, checkpoint_every=500,
                   sample_every=500, steps_per_call=1)
    c.eval.num_samples = 2000
  if preset == "digits":
    c.model.features = 16
    c.train.num_steps = 1000
  if preset == "mnist":
    c.model.generator_batch_norm = False
    c.optim.b1 = 0.5
    c.train.update(num_steps=200000, batch_size=50, checkpoint_every=5000,
                   sample_every=5000)
  if preset == "cifar10":
    c.model.update(architecture="resnet", features=128, critic_norm="none")
    c.gan.generator_batch_multiple = 2
    c.optim.update(learning_rate=2e-4, decay="linear")
    c.train.update(num_steps=100000, checkpoint_every=5000, sample_every=5000)
    # The Inception score of Table 3 (needs the Inception weights); the
    # paper's 50,000 samples are --config.eval.num_samples=50000.
    c.eval.update(num_samples=10000, inception_metrics=("is",))
  if preset == "smoke":
    c.model.update(width=8, depth=2)
    c.train.update(num_steps=2, batch_size=16, log_every=1, checkpoint_every=2,
                   steps_per_call=1)
    c.eval.num_samples = 100
  return c
