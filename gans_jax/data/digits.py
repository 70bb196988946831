"""The built-in offline image set: scikit-learn's 8x8 handwritten digits.

``sklearn.datasets.load_digits`` ships 1,797 grey 8x8 images with pixel
values 0..16 inside scikit-learn, so runs and tests need no download. A fixed
permutation splits them, once and for all, into disjoint parts:

* ``'train'``: 1,297 images,
* ``'validation'``: 200 images,
* ``'test'``: 300 images.

The permutation comes from numpy's legacy ``RandomState(0)``, whose stream is
frozen across numpy versions, so the split never changes.
"""

from __future__ import annotations

import functools

import numpy as np

from gans_jax.data import preprocessing

DIGITS_SPLITS: dict[str, int] = {"train": 1297, "validation": 200, "test": 300}
DIGITS_IMAGE_SIZES = (8, 16, 28, 32, 64)
_NUM_DIGITS = 1797
_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  images = digits.images.astype(np.float32)
  labels = digits.target.astype(np.int32)
  if images.shape != (_NUM_DIGITS, 8, 8):
    raise RuntimeError(f"unexpected sklearn digits shape {images.shape}")
  images.setflags(write=False)
  labels.setflags(write=False)
  return images, labels


def digits_split_indices(split: str) -> np.ndarray:
  """Indices into ``load_digits()`` of the examples in ``split``.

  Args:
    split: ``'train'``, ``'validation'`` or ``'test'``.

  Returns:
    int64 indices, sorted ascending.
  """
  if split not in DIGITS_SPLITS:
    raise ValueError(
        f"split must be one of {', '.join(DIGITS_SPLITS)}, got {split!r}")
  order = np.random.RandomState(_SPLIT_SEED).permutation(_NUM_DIGITS)
  start = 0
  for name, size in DIGITS_SPLITS.items():
    if name == split:
      return np.sort(order[start:start + size])
    start += size
  raise AssertionError("unreachable")


def load_digits_split(
    split: str,
    *,
    image_size: int = 32,
    channels: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
  """One split of the digits as float images in ``[-1, 1]``.

  Pixels ``v`` in 0..16 map to ``v / 8 - 1``; images are resized from 8x8 with
  PIL's bilinear filter.

  Args:
    split: ``'train'``, ``'validation'`` or ``'test'``.
    image_size: output size, one of 8, 16, 28, 32, 64.
    channels: 1 (grey) or 3 (the grey value repeated).

  Returns:
    ``(images, labels)``: float32 ``(N, image_size, image_size, channels)``
    and int32 ``(N,)`` class labels 0..9.
  """
  image_size = preprocessing.check_image_size(image_size, DIGITS_IMAGE_SIZES)
  channels = preprocessing.check_channels(channels)
  index = digits_split_indices(split)
  raw, labels = _raw_digits()
  scaled = raw[index] / 8.0 - 1.0
  images = np.stack([
      preprocessing.preprocess_image(
          image[..., None], image_size=image_size, channels=channels)
      for image in scaled])
  return images, labels[index].copy()
