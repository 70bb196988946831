"""Mao et al. 2017, Least Squares Generative Adversarial Networks
(arXiv 1611.04076).

Presets (``--config=experiments/configs/lsgan.py:PRESET``):
  digits       stacked built-in digits at 8x8 (1,000 modes), the 0-1-1
               coding (a = 0, b = c = 1; the paper's code), no download
               (default)
  pearson      the same with the -1-1-0 coding (a = -1, b = 1, c = 0: the
               Pearson chi^2 divergence, Section 3.2.2)
  mixture      the paper's Gaussian-mixture test (its code,
               stability_comparison/mixture_gaussian) on the ring of 8
               (radius 1, std 0.01): G and D two tanh layers of 128, z ~
               N(0, I) of 256, TensorFlow 1.0's orthogonal init with gain
               1.4, batch 512, Adam lr D 1e-4, G 1e-3, beta1 0.5
  mixture_gan  the same with the regular GAN's game (the paper's Figure:
               it collapses where LSGAN does not)
  stacked_mnist  stacked MNIST (TFDS) at 32x32: for an accelerator
  smoke        two steps of a tiny model, for tests
"""

import ml_collections

from experiments.configs import sections
from experiments.configs import stacked
from gans_jax.train import config as config_lib
from gans_jax.train.config import field, non_negative, one_of

PRESETS = ("digits", "pearson", "mixture", "mixture_gan", "stacked_mnist", "smoke")
# LEAST_SQUARES_CODINGS's names, a-b-c.
CODINGS = ("0-1-1", "-1-1-0")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = stacked.base(f"lsgan_{preset}")
  c.lsgan = config_lib.section(
      # the targets a (fakes, D), b (reals, D), c (fakes, G)
      coding=field("0-1-1", one_of(*CODINGS)),
      # 'least_squares', or the regular GAN's game for the comparison
      game=field("least_squares", one_of("least_squares", "non_saturating")),
      # >0 (toys only): every weight matrix of G and D drawn orthogonal
      # with this gain (the mixture code: 1.4); 0 keeps Glorot uniform
      orthogonal_gain=field(0.0, non_negative),
      # the orthogonal draw (gans_jax.nn.mlp.ORTHOGONAL_DRAWS): the code's
      # TensorFlow 1.0 initializer, or a Haar-random orthogonal matrix
      orthogonal_draw=field("tf1_uniform_svd", one_of("tf1_uniform_svd", "haar")),
  )
  if preset == "pearson":
    c.lsgan.coding = "-1-1-0"
  if preset.startswith("mixture"):
    stacked.use_toy(c, "ring")
    c.model.update(latent_dim=256, g_hidden=(128, 128), d_hidden=(128, 128),
                   maxout_pieces=1, activation="tanh")
    c.lsgan.orthogonal_gain = 1.4
    c.optim.update(learning_rate=1e-4, g_learning_rate=1e-3, b1=0.5)
    c.train.update(num_steps=5000, batch_size=512)
  if preset == "mixture_gan":
    c.lsgan.game = "non_saturating"
  if preset == "stacked_mnist":
    stacked.use_stacked_mnist(c)
  if preset == "smoke":
    stacked.use_smoke(c)
  return c
