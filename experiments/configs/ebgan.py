"""Zhao, Mathieu & LeCun 2017, Energy-based Generative Adversarial Network
(arXiv 1609.03126).

Presets (``--config=experiments/configs/ebgan.py:PRESET``):
  digits         EBGAN-PT on stacked built-in digits at 8x8 (1,000 modes),
                 no download (default)
  no_pt          the same without the pulling-away term (EBGAN)
  ring           EBGAN-PT on the ring of 8 Gaussians (2-D toy)
  stacked_mnist  stacked MNIST (TFDS) at 32x32: for an accelerator
  smoke          two steps of a tiny model, for tests
"""

import ml_collections

from experiments.configs import sections
from experiments.configs import stacked
from gans_jax.train import config as config_lib
from gans_jax.train.config import field, non_negative, positive, positive_int

PRESETS = ("digits", "no_pt", "ring", "stacked_mnist", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = stacked.base(f"ebgan_{preset}")
  c.ebgan = config_lib.section(
      # m of D's hinge [m - D(G(z))]^+, on the per-entry MSE energy's scale
      # (an autoencoder that outputs 0 gives a digit stack about 0.6)
      margin=field(1.0, positive),
      # lambda_PT of the pulling-away term (the paper: 0.1)
      pulling_away_weight=field(0.1, non_negative),
      code_dim=field(16, positive_int),  # the toys' autoencoder code width
  )
  if preset == "no_pt":
    c.ebgan.pulling_away_weight = 0.0
  if preset == "ring":
    stacked.use_toy(c, "8gaussians")
    c.model.update(d_hidden=(128, 128), maxout_pieces=1)
    c.ebgan.margin = 0.5
  if preset == "stacked_mnist":
    stacked.use_stacked_mnist(c)
  if preset == "smoke":
    stacked.use_smoke(c)
  return c
