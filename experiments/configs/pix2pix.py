"""Isola et al. 2017, pix2pix (arXiv 1611.07004).

Presets (``--config=experiments/configs/pix2pix.py:PRESET``):
  facades      synthetic facades, labels -> photo at 64x64, no download
               (default): the paper's L1 + cGAN objective (lambda = 100), its
               U-Net with the three dropout layers, batch 1, Adam 2e-4 with
               beta1 = 0.5; widths 16 (G) and 32 (D) instead of 64, and
               10,000 steps (25 epochs of the 400 facades), so that it ends
               in minutes on a CPU; a 16x16 PatchGAN, the share of a 64x64
               image that the paper's 70x70 patch is of a 256x256 one
  l1           the same with the L1 term alone (Table 1, "L1")
  cgan         the same with the cGAN term alone (Table 1, "cGAN")
  l1_gan       L1 + an unconditional GAN: D does not see the labels
               (Table 1, "L1+GAN")
  labels       synthetic facades, photo -> labels (scored by the labels
               read back from the generated labels images)
  cmp_facades  the CMP Facades of the official code at 256x256, labels ->
               photo: data.dataset='aligned:datasets/facades' (the folder
               made by the official download_pix2pix_dataset.sh facades,
               whose A is the photo, hence direction 'BtoA'), 200 epochs
  cityscapes   the official Cityscapes pairs at 256x256, labels -> photo
               (aligned:datasets/cityscapes, direction 'BtoA'), 200 epochs
  smoke        two steps of a tiny model, for tests
Every preset: BCE from logits (no sigmoid in D), D's loss halved, D updated
before G, N(0, 0.02) initialisation, BatchNorm, the official jitter (resize
to 286/256 of the size, random crop, flip, one draw for both halves), the
rate constant for the first half of the run then linearly decayed to 0 (the
official 100 + 100 epochs), and at test time the networks in train mode
(batch statistics of each image, dropout on), as the paper.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative,
                                   non_negative_int, one_of, positive_int)

PRESETS = ("facades", "l1", "cgan", "l1_gan", "labels", "cmp_facades",
           "cityscapes", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "facades", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"pix2pix_{preset}"
  c.data = sections.translation_data_defaults(dataset="facades", image_size=64)
  c.model = config_lib.section(
      # 'unet' (the paper) or 'resnet' (official option)
      generator=field("unet", one_of("unet", "resnet")),
      features=field(16, positive_int),  # generator width ngf (64 in the paper)
      # dropout rate in the U-Net decoder (the paper's only noise) ...
      dropout=field(0.5, fraction),
      dropout_blocks=3,      # ... on its 3 levels next to the bottleneck
                             # (-1: the official max(log2 S - 5, 0))
      resnet_blocks=field(9, non_negative_int),  # residual blocks of the 'resnet' generator
      d_features=field(32, positive_int),  # discriminator width ndf (64 in the paper)
      # PatchGAN depth: 0 = PixelGAN (1x1), 1 = 16x16, 2 = 34x34, 3 = 70x70, 5 =
      # 286x286 patches
      d_layers=field(1, non_negative_int),
      # 'batch' (the paper), 'instance' or 'none'
      norm=field("batch", one_of("batch", "instance", "none")),
      conditional=field(True, boolean),  # D sees the input with the output (cGAN)
      dtype=sections.dtype(), # compute dtype: 'float32' or 'bfloat16'
  )
  c.loss = config_lib.section(
      gan_weight=field(1.0, non_negative),  # weight of the GAN term (0: L1 alone, no D)
      l1_weight=field(100.0, non_negative),  # lambda, the L1 term's weight (Eq. 4)
  )
  c.optim = sections.translation_optim_defaults()
  c.train = config_lib.train_defaults(
      num_steps=10000, batch_size=1, log_every=100, checkpoint_every=2500,
      sample_every=2500)
  c.eval = sections.translation_eval_defaults()
  if preset == "l1":
    c.loss.gan_weight = 0.0
  if preset == "cgan":
    c.loss.l1_weight = 0.0
  if preset == "l1_gan":
    c.model.conditional = False
  if preset == "labels":
    c.data.direction = "BtoA"
  if preset in ("cmp_facades", "cityscapes"):
    folder = "facades" if preset == "cmp_facades" else "cityscapes"
    num_pairs = 400 if preset == "cmp_facades" else 2975
    c.data.update(dataset=f"aligned:datasets/{folder}", direction="BtoA",
                  image_size=256)
    c.model.update(features=64, d_features=64, d_layers=3, dropout_blocks=-1)
    c.train.update(num_steps=200 * num_pairs, log_every=1000,
                   checkpoint_every=10000, sample_every=10000)
    c.eval.update(split="validation" if preset == "cityscapes" else "test",
                  num_test=500, batch_size=10)
  if preset == "smoke":
    c.data.image_size = 32
    c.model.update(features=4, d_features=4, dropout_blocks=2)
    c.train.update(num_steps=2, log_every=1, checkpoint_every=2,
                   sample_every=2)
    c.eval.update(num_test=4, batch_size=2, grid_examples=2)
  return c
