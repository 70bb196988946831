"""Config sections several experiments share, each field with its check.

Config modules import only this, ``ml_collections`` and
:mod:`gans_jax.train.config` (no JAX), so that ``--help`` reads their
presets at once.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative_int,
                                   one_of, positive, section, tuple_of,
                                   unit_interval)

DTYPES = ("float32", "bfloat16")
# The 2-D toys of gans_jax.data.get_toy that the GAN experiments train on.
TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")
INCEPTION_METRICS = ("fid", "kid", "is", "precision_recall")


def check_preset(name: str | None, presets: dict[str, Any]) -> str:
  if name not in presets:
    raise ValueError(f"unknown preset {name!r}; valid presets: {sorted(presets)}")
  return name


def dtype(default: str = "float32") -> config_lib.Field:
  """``model.dtype``: the models' compute dtype."""
  return field(default, one_of(*DTYPES))


def data_defaults(**overrides) -> ml_collections.ConfigDict:
  """The ``data`` section of the image experiments (``data.dataset`` and
  ``data.image_size`` are checked by the experiment, which knows its own)."""
  data = section(
      dataset="digits",      # 'digits' (built in), a TFDS name, or 'folder:PATH'
      data_dir="",           # TFDS data directory ('' = TFDS's default)
      image_size=32,         # height = width the model sees
      channels=field(1, one_of(1, 3)),  # 1 (grayscale) or 3 (RGB)
      # folders: leave out (and log) files that are not readable images
      # instead of stopping the run with an error naming the first
      skip_unreadable=field(False, boolean),
  )
  data.update(overrides)
  return data


def inception_defaults(metrics: tuple[str, ...] = ()) -> dict[str, Any]:
  """The ``eval`` fields of the Inception-network metrics."""
  return dict(
      # any of fid, kid, is, precision_recall; need $GANS_JAX_INCEPTION_WEIGHTS
      inception_metrics=field(
          metrics, tuple_of(one_of(*INCEPTION_METRICS), distinct=True)),
      inception_reference="train",    # split of the real images they compare with
      # real images used (0: the whole split)
      inception_num_real=field(10000, non_negative_int),
  )


# ------------------------------------------------------ image translation --

def translation_data_defaults(**overrides) -> ml_collections.ConfigDict:
  """pix2pix's and CycleGAN's ``data`` section (experiments/translation.py)."""
  data = section(
      dataset="facades",   # see experiments/translation.py's docstring
      data_dir="",         # TFDS data directory ('' = TFDS's default)
      # 'BtoA' swaps the domains (official --direction)
      direction=field("AtoB", one_of("AtoB", "BtoA")),
      image_size=64,       # side of the images the networks see (crop_size)
      channels=field(3, one_of(1, 3)),  # 1 (grey) or 3 (RGB), both domains
      # jitter: resize to this, crop image_size; 0 is 286/256 of image_size
      # (official 286 -> 256)
      load_size=field(0, non_negative_int),
      jitter=field(True, boolean),  # random resize-crop (and flip) of training images
      flip=field(True, boolean),    # random horizontal flips (official --no_flip)
  )
  data.update(overrides)
  return data


def translation_optim_defaults(**overrides) -> ml_collections.ConfigDict:
  """Adam with a linear decay to 0 over the last ``decay_fraction`` of the run."""
  optim = section(
      learning_rate=field(2e-4, positive),  # Adam, both papers
      b1=field(0.5, fraction),
      b2=field(0.999, fraction),
      # the last half of the run decays the rate linearly to 0 (CycleGAN:
      # 100 epochs + 100 of decay)
      decay_fraction=field(0.5, unit_interval),
  )
  optim.update(overrides)
  return optim


def translation_eval_defaults(**overrides) -> ml_collections.ConfigDict:
  e = section(
      split="test",        # the split translated and scored at the end
      # its first examples (all 100 synthetic facades)
      num_test=field(100, config_lib.positive_int),
      # images translated per call (each on its own)
      batch_size=field(50, config_lib.positive_int),
      # 'train': the networks as in training (batch statistics, dropout on;
      # official test.py without --eval); 'eval': running statistics, no
      # dropout
      mode=field("train", one_of("train", "eval")),
      grid_examples=field(8, config_lib.positive_int),  # examples in the sample grids
      # examples whose images go to samples.npz
      num_saved=field(100, config_lib.positive_int),
  )
  e.update(overrides)
  return e


# ---------------------------------------------------------- instance noise --

INSTANCE_NOISE_SCHEDULES = ("linear", "cosine", "constant")


def instance_noise_defaults(**overrides) -> ml_collections.ConfigDict:
  """The ``instance_noise`` section (:mod:`gans_jax.noise`): Gaussian noise
  of std sigma on every input of the discriminator, real and generated,
  annealed to 0 over ``anneal_steps`` discriminator updates. ``std = 0``
  (the default) turns it off and leaves the step exactly as without it."""
  noise = section(
      # sigma_0, in the data's units (pixels in [-1, 1]); 0: off
      std=field(0.0, config_lib.non_negative),
      # discriminator updates until sigma reaches 0 (Sønderby et al.: linear)
      anneal_steps=field(1000, config_lib.positive_int),
      schedule=field("linear", one_of(*INSTANCE_NOISE_SCHEDULES)),
  )
  noise.update(overrides)
  return noise
