"""Ledig et al. 2017, SRGAN: 4x super-resolution with a perceptual loss
(arXiv 1609.04802).

Presets (``--config=experiments/configs/srgan.py:PRESET``):
  srgan       the built-in digits, 8x8 -> 32x32, no download (default):
              SRGAN, content loss on the ReLU of the second convolution of
              the project's digit CNN + 1e-3 x the adversarial loss; the
              generator first trained 500 steps on the pixel MSE (the
              paper initialises SRGAN from SRResNet-MSE), then 1,000
              adversarial steps
  mse         the same networks, generator only, on the pixel MSE
              (SRResNet-MSE), 1,500 steps
  perceptual  generator only, on the feature content loss alone
              (SRResNet-VGG22's analogue), 1,500 steps
  facades     SRGAN on the synthetic facade photos, 16x16 -> 64x64 RGB,
              content loss on the facade segmenter's features
  facades_mse the same task with the pixel MSE (SRResNet-MSE)
  imagenet    the paper's SRGAN-VGG54: 96x96 RGB crops of ImageNet from a
              prepared TFDS dataset (tfds:imagenet2012), VGG19 conv5_4
              features scaled by 1/12.75 (converted weights in
              content.vgg_weights), B = 16 residual blocks of 64, batch 16,
              Adam 1e-4, 10^6 SRResNet-MSE updates then 10^5 adversarial at
              1e-4 and 10^5 at 1e-5
  div2k       the same on an image folder (folder:datasets/DIV2K with
              train/ and test/ sub-folders; put Set5/Set14/BSD100 in test/)
  smoke       two steps of a tiny model, for tests
The digits presets use 4 residual blocks of 32 features (paper 16 of 64), a
discriminator of width 16 with a 128-unit dense layer (paper 64 and 1024),
batch 16 and Adam 2e-4 (paper 1e-4): each run took 1.6 min of CPU on
average (2.5 to 5.6 min wall on two cores shared with four other jobs).
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (field, fraction, non_negative,
                                   non_negative_int, one_of, positive,
                                   positive_int)

PRESETS = ("srgan", "mse", "perceptual", "facades", "facades_mse", "imagenet",
           "div2k", "smoke")
# The fixed networks whose features the content loss compares: the
# project's own trained digit CNN and facade segmenter, or VGG19 (converted
# ImageNet weights the user supplies; none ship offline).
CONTENT_NETWORKS = ("digit_classifier", "facade_segmenter", "vgg19")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "srgan", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"srgan_{preset}"
  # 'digits' (built in), 'facades' (the synthetic facade photos, built in),
  # 'tfds:NAME' or 'folder:PATH'; image_size is the high-resolution side
  c.data = sections.data_defaults(dataset="digits", image_size=32, channels=1)
  c.model = config_lib.section(
      # r: the low-resolution side is data.image_size / r (paper 4)
      upscale=field(4, one_of(2, 4, 8)),
      num_blocks=field(4, non_negative_int),    # B residual blocks (paper 16)
      features=field(32, positive_int),         # generator width (paper 64)
      d_features=field(16, positive_int),       # discriminator's first width (paper 64)
      d_dense=field(128, positive_int),         # its dense layer (paper 1024)
  )
  c.content = config_lib.section(
      # 'mse': pixel MSE (SRResNet-MSE); 'features': the MSE of a fixed
      # network's feature maps (the paper's VGG loss, Eq. 5)
      loss=field("features", one_of("mse", "features")),
      network=field("digit_classifier", one_of(*CONTENT_NETWORKS)),
      # its layer (gans_jax.nn.feature_maps name), taken after a ReLU:
      # 'convs/1' of the digit CNN ~ phi_2,2; 'enc2/1' of the segmenter;
      # 'conv5_4' or 'conv2_2' of VGG19
      layer="convs/1",
      vgg_weights="",          # vgg19: an .npz of converted weights (gans_jax.nn.load_vgg19)
      # features are multiplied by this (paper: 1/12.75 for VGG)
      feature_scale=field(1.0, positive),
  )
  c.gan = config_lib.section(
      # weight of the adversarial loss -log D(G(x)) (paper 1e-3; 0: no
      # discriminator, an SRResNet)
      adversarial_weight=field(1e-3, non_negative),
      # generator updates on the pixel MSE before the adversarial phase
      # (paper: SRGAN starts from a trained SRResNet-MSE; 0: from scratch)
      pretrain_steps=field(500, non_negative_int),
  )
  c.optim = config_lib.section(
      learning_rate=field(2e-4, positive),      # Adam (paper 1e-4)
      b1=field(0.9, fraction), b2=field(0.999, fraction),  # paper: beta1 = 0.9
      # adversarial updates after which both rates drop 10x (paper 10^5;
      # 0: never)
      decay_after=field(0, non_negative_int),
  )
  c.train = config_lib.train_defaults(
      num_steps=1500, batch_size=16, log_every=100, checkpoint_every=500,
      sample_every=0)
  c.eval = config_lib.section(
      split="test",            # the split super-resolved and scored
      num_test=field(300, positive_int),        # its first images (all 300 test digits)
      batch_size=field(100, positive_int),      # images per generator call
      # pixels cropped from each border before PSNR and SSIM (paper 4)
      crop_border=field(4, non_negative_int),
      grid_examples=field(8, positive_int),     # examples in the figures
      num_saved=field(100, positive_int),       # examples whose images go to samples.npz
  )
  if preset == "mse":
    c.content.loss = "mse"
    c.gan.update(adversarial_weight=0.0, pretrain_steps=0)
  if preset == "perceptual":
    c.gan.update(adversarial_weight=0.0, pretrain_steps=0)
  if preset in ("facades", "facades_mse"):
    c.data.update(dataset="facades", image_size=64, channels=3)
    c.content.update(network="facade_segmenter", layer="enc2/1")
    c.eval.num_test = 100
  if preset == "facades_mse":
    c.content.loss = "mse"
    c.gan.update(adversarial_weight=0.0, pretrain_steps=0)
  if preset in ("imagenet", "div2k"):
    dataset = "tfds:imagenet2012" if preset == "imagenet" else "folder:datasets/DIV2K"
    c.data.update(dataset=dataset, image_size=96, channels=3)
    c.model.update(num_blocks=16, features=64, d_features=64, d_dense=1024)
    c.content.update(network="vgg19", layer="conv5_4", vgg_weights="vgg19.npz",
                     feature_scale=1 / 12.75)
    c.gan.pretrain_steps = 1_000_000
    c.optim.update(learning_rate=1e-4, decay_after=100_000)
    c.train.update(num_steps=1_200_000, log_every=1000, checkpoint_every=10000,
                   sample_every=10000)
    c.eval.update(split="validation" if preset == "imagenet" else "test",
                  num_test=500 if preset == "imagenet" else 100, batch_size=10)
  if preset == "smoke":
    c.model.update(num_blocks=1, features=4, d_features=2, d_dense=8)
    c.gan.pretrain_steps = 1
    c.train.update(num_steps=2, batch_size=4, log_every=1, checkpoint_every=2)
    c.eval.update(num_test=12, batch_size=6, grid_examples=2, num_saved=4)
  return c
