"""Stacked digits: three built-in digits as the channels of one image.

PacGAN's stacked MNIST, on the built-in 8x8 digits: each channel of a
3-channel image is a digit drawn independently and uniformly from one split,
so the image's class triple takes 10^3 = 1,000 equally likely values, the
*modes* a generator should all produce
(:func:`gans_jax.eval.modes.stacked_digit_modes` counts them).

Unlike the paper, which stacks a fixed set of 128,000 triples once, every
training batch draws fresh triples: with 1,297 training digits there are
about 2.2e9 possible stacks, and a fresh draw is a pure function of the seed
and the step (exact resume, nothing to store).

References:
  Lin, Khetan, Fanti & Oh, PacGAN: The power of two samples in generative
  adversarial networks, 2018 (arXiv 1712.04086); Metz et al., Unrolled
  Generative Adversarial Networks, 2017 (arXiv 1611.02163), stacked MNIST.
"""

from __future__ import annotations

import functools

import numpy as np

from gans_jax.data import base
from gans_jax.data import digits

STACKED_DIGITS_CHANNELS = 3
STACKED_DIGITS_MODES = 10 ** STACKED_DIGITS_CHANNELS
# Keeps the fixed evaluation draws apart from every training minibatch's.
_EVALUATION_SPAWN_KEY = (0x57AC,)


@functools.lru_cache(maxsize=4)
def _digit_split(split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """The split's grey digits ``(N, S, S)`` in ``[-1, 1]`` and labels, read-only."""
  images, labels = digits.load_digits_split(split, image_size=image_size,
                                            channels=1)
  images = np.ascontiguousarray(images[..., 0])
  images.setflags(write=False)
  labels.setflags(write=False)
  return images, labels


def stack_digits(
    images: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
  """Stacks digits ``index[i, c]`` as channel ``c`` of image ``i``.

  Args:
    images: grey digits ``(N, S, S)``.
    labels: their classes ``(N,)``.
    index: ``(M, C)`` integer indices into ``images``.

  Returns:
    ``(stacked, classes)``: float32 ``(M, S, S, C)`` and int32 ``(M, C)``, the
    class of each channel.
  """
  index = np.asarray(index)
  if index.ndim != 2:
    raise ValueError(f"index must have shape (M, C), got {index.shape}")
  stacked = np.moveaxis(np.asarray(images)[index], 1, -1)
  return (stacked.astype(np.float32, copy=False),
          np.asarray(labels)[index].astype(np.int32))


def _draw(rng: np.random.Generator, num: int, split: str,
          image_size: int) -> dict[str, np.ndarray]:
  images, labels = _digit_split(split, image_size)
  # Each channel's digit is drawn on its own: the three classes are
  # independent and uniform (up to the split's class balance).
  index = rng.integers(0, len(images), size=(num, STACKED_DIGITS_CHANNELS))
  stacked, classes = stack_digits(images, labels, index)
  return {"image": stacked, "label": classes}


def load_stacked_digits(
    num_samples: int,
    *,
    seed: int,
    split: str = "test",
    image_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
  """A fixed set of stacked digits, e.g. real references for evaluation.

  The same ``(num_samples, seed, split, image_size)`` always gives the same
  set, and no training minibatch of :class:`StackedDigitsBatches` with the
  same seed shares its draws.

  Args:
    num_samples: number of stacked images.
    seed: seed in ``[0, 2**32)``.
    split: digits split the channels come from (``'train'``,
      ``'validation'``, ``'test'``).
    image_size: height and width, one of 8, 16, 28, 32, 64.

  Returns:
    ``(images, classes)``: float32 ``(num_samples, S, S, 3)`` in ``[-1, 1]``
    and int32 ``(num_samples, 3)``, the class of each channel.
  """
  if (isinstance(num_samples, bool) or not isinstance(num_samples, int)
      or num_samples < 1):
    raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
  seed = base.check_seed(seed)
  rng = np.random.default_rng(
      np.random.SeedSequence(seed, spawn_key=_EVALUATION_SPAWN_KEY))
  batch = _draw(rng, num_samples, split, image_size)
  return batch["image"], batch["label"]


class StackedDigitsBatches:
  """A :class:`~gans_jax.data.base.BatchSource` of stacked digits.

  Minibatch ``m`` is drawn whole from ``np.random.default_rng([seed, m])``:
  ``3 * B`` digits of the split, independently and uniformly with
  replacement; process ``p`` of ``P`` keeps its examples ``p::P`` (see
  :mod:`gans_jax.data.base`). Batches are ``{'image': float32 (..., S, S, 3)
  in [-1, 1], 'label': int32 (..., 3)}``, the label holding each channel's
  class, with leading shape ``(B / P,)`` or ``(k, B / P)`` for
  ``num_microbatches = k > 1``.

  Args:
    batch_size: global batch size ``B``.
    seed: data seed in ``[0, 2**32)``.
    split: digits split the channels come from.
    image_size: height and width, one of 8, 16, 28, 32, 64.
    num_microbatches: ``k``, minibatches per training step.
    process_index: this process; default ``jax.process_index()``.
    process_count: number of processes; default ``jax.process_count()``.

  References:
    Lin et al., 2018 (arXiv 1712.04086), stacked MNIST.
  """

  def __init__(
      self,
      *,
      batch_size: int,
      seed: int,
      split: str = "train",
      image_size: int = 32,
      num_microbatches: int = 1,
      process_index: int | None = None,
      process_count: int | None = None,
  ):
    self.seed = base.check_seed(seed)
    self.split = split
    self.image_size = image_size
    self.sharding = base.Sharding(batch_size, num_microbatches,
                                  process_index, process_count)
    _digit_split(split, image_size)  # a wrong split or size fails here

  def minibatch(self, index: int) -> dict[str, np.ndarray]:
    """The global minibatch ``index``: ``B`` stacked images and their classes."""
    rng = np.random.default_rng([self.seed, index])
    return _draw(rng, self.sharding.batch_size, self.split, self.image_size)

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's share of training step ``step``'s batch."""
    sh = self.sharding
    shares = []
    for m in sh.minibatch_indices(step):
      batch = self.minibatch(m)
      shares.append({key: value[sh.process_index::sh.process_count]
                     for key, value in batch.items()})
    return sh.stack(shares)
