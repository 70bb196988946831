"""Random keys: one seed, split by purpose so that no two uses share a key.

Every random number of a run comes from ``jax.random.key(seed)`` through a
*purpose tag*: parameter initialisation, training steps, sample grids and the
final evaluation each fold their own 32-bit tag into the root key, and a
training step's key is ``fold_in(key(seed, "train"), step)``.

Why tags: NNX's ``nnx.Rngs(seed)`` draws its n-th key as
``fold_in(key(seed), n)``, so a loop that used ``fold_in(key(seed), step)``
would hand step ``n`` the very key the n-th parameter tensor was drawn with,
and ``key(seed + 1)`` would simply be another run's root key. With tags the
streams are disjoint by construction (up to the 2^-64-ish chance of a
threefry collision).
"""

from __future__ import annotations

import zlib

import jax
from flax import nnx

# The tags of the purposes gans_jax itself uses; any other name gets the CRC32
# of its UTF-8 bytes. Fixed numbers, so that a saved run's keys never change.
PURPOSES = {
    "init": 0x1A17,        # parameter initialisation (nnx.Rngs)
    "train": 0x7EA1,       # training steps: fold_in(train key, step)
    "sample": 0x5A3B,      # sample grids written during training
    "eval": 0xE7A1,        # the final evaluation's samples
    "interpolation": 0x1E7B,  # latent walks drawn after training
}


def _tag(purpose: str) -> int:
  if not isinstance(purpose, str) or not purpose:
    raise ValueError(f"purpose must be a non-empty string, got {purpose!r}")
  if purpose in PURPOSES:
    return PURPOSES[purpose]
  return zlib.crc32(purpose.encode("utf-8"))


def make_key(seed: int, purpose: str) -> jax.Array:
  """The key of one purpose of a run: ``fold_in(key(seed), tag(purpose))``.

  Args:
    seed: the run's seed (``config.train.seed``).
    purpose: ``'init'``, ``'train'``, ``'sample'``, ``'eval'``,
      ``'interpolation'``, or any other name (tagged by its CRC32).

  Returns:
    A typed PRNG key.
  """
  return jax.random.fold_in(jax.random.key(seed), _tag(purpose))


def init_rngs(seed: int) -> nnx.Rngs:
  """The ``nnx.Rngs`` that models of a run are initialised with."""
  return nnx.Rngs(make_key(seed, "init"))


def step_key(seed_or_key: int | jax.Array, step) -> jax.Array:
  """The key of training step ``step``: ``fold_in(make_key(seed, 'train'), step)``.

  Args:
    seed_or_key: the run's seed, or the train key ``make_key(seed, 'train')``
      (pass the key inside compiled code).
    step: the step index (a Python int or a traced integer).
  """
  if isinstance(seed_or_key, int):
    seed_or_key = make_key(seed_or_key, "train")
  return jax.random.fold_in(seed_or_key, step)
