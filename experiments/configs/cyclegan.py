"""Zhu et al. 2017, CycleGAN (arXiv 1703.10593).

Presets (``--config=experiments/configs/cyclegan.py:PRESET``):
  digits        handwritten (A) <-> typeset (B) digits at 32x32, grey, no
                download (default): the paper's losses (least squares,
                cycle lambda = 10, identity 0.5 lambda), image pools of 50,
                batch 1, Adam 2e-4 with beta1 = 0.5, the rate constant for
                the first half then decayed linearly to 0; the ResNet
                generator with 6 blocks (the paper's choice below 256 px) of
                width 16 and 16x16 PatchGANs of width 32 so that it ends in
                minutes on a CPU; crops without flips (a mirrored digit is
                not a digit)
  gan_alone     the same without the cycle (and identity) terms (Table 4)
  cycle_alone   the same without the GAN terms: D is not trained (Table 4)
  gan_forward   GAN + the forward cycle A -> B -> A only (Table 4)
  gan_backward  GAN + the backward cycle B -> A -> B only (Table 4)
  facades       synthetic facades, labels (A) <-> photos (B) at 64x64,
                unpaired, scored by FCN-scores and labels accuracy as the
                paper's Cityscapes experiment
  horse2zebra   the TFDS cycle_gan/horse2zebra at 256x256 with the paper's
                networks (9 blocks, width 64; 70x70 PatchGAN of width 64),
                200 epochs of the larger domain (1,334 images)
  smoke         two steps of a tiny model, for tests
Every preset follows the official code: one Adam for both generators and one
for both discriminators, G updated before the Ds, each D's loss halved, the
Ds shown images from the pools, instance normalisation, N(0, 0.02)
initialisation, transposed convolutions for up-sampling.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (field, fraction, non_negative, non_negative_int,
                                   one_of, positive_int)

PRESETS = ("digits", "gan_alone", "cycle_alone", "gan_forward", "gan_backward",
           "facades", "horse2zebra", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"cyclegan_{preset}"
  c.data = sections.translation_data_defaults(dataset="digits", image_size=32, channels=1,
                                     flip=False)
  c.model = config_lib.section(
      features=field(16, positive_int),  # generator width ngf (64 in the paper)
      blocks=field(6, non_negative_int),  # residual blocks: 6 below 256 px, 9 at 256
      # 'transpose' (official) or 'resize' (nearest 2x then a 3x3 convolution:
      # no checkerboard)
      upsample=field("transpose", one_of("transpose", "resize")),
      dropout=field(0.0, fraction),  # dropout in the residual blocks (official: none)
      d_features=field(32, positive_int),  # discriminator width ndf (64 in the paper)
      d_layers=field(1, positive_int),  # PatchGAN depth: 1 = 16x16, 3 = 70x70 patches
      # 'instance' (the paper), 'batch' or 'none'
      norm=field("instance", one_of("instance", "batch", "none")),
      dtype=sections.dtype(), # compute dtype: 'float32' or 'bfloat16'
  )
  c.loss = config_lib.section(
      gan_weight=field(1.0, non_negative),  # weight of the two GAN terms (0: no D)
      cycle_a=field(10.0, non_negative),  # lambda_A: forward cycle |F(G(a)) - a| (Eq. 2)
      cycle_b=field(10.0, non_negative),  # lambda_B: backward cycle |G(F(b)) - b|
      # identity |G(b) - b| weighs identity * lambda_B, |F(a) - a| identity *
      # lambda_A (official 0.5)
      identity=field(0.5, non_negative),
  )
  c.gan = config_lib.section(
      pool_size=field(50, non_negative_int),  # generated images each D's history pool keeps
  )
  c.optim = sections.translation_optim_defaults()
  c.train = config_lib.train_defaults(
      num_steps=10000, batch_size=1, log_every=100, checkpoint_every=2500,
      sample_every=2500)
  c.eval = sections.translation_eval_defaults(num_test=300, batch_size=100, num_saved=300)
  if preset == "gan_alone":
    c.loss.update(cycle_a=0.0, cycle_b=0.0)
  if preset == "cycle_alone":
    c.loss.gan_weight = 0.0
  if preset == "gan_forward":
    c.loss.cycle_b = 0.0
  if preset == "gan_backward":
    c.loss.cycle_a = 0.0
  if preset == "facades":
    c.data.update(dataset="facades", image_size=64, channels=3, flip=True)
    c.eval.update(num_test=100, batch_size=50)
  if preset == "horse2zebra":
    c.data.update(dataset="tfds:cycle_gan/horse2zebra", image_size=256,
                  channels=3, flip=True)
    c.model.update(features=64, blocks=9, d_features=64, d_layers=3)
    c.train.update(num_steps=200 * 1334, log_every=1000, checkpoint_every=10000,
                   sample_every=10000)
    c.eval.update(num_test=120, batch_size=10)
  if preset == "smoke":
    c.data.image_size = 16
    c.model.update(features=4, blocks=1, d_features=4)
    c.gan.pool_size = 3
    c.train.update(num_steps=2, log_every=1, checkpoint_every=2,
                   sample_every=2)
    c.eval.update(num_test=4, batch_size=2, grid_examples=2)
  return c
