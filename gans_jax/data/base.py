"""The batch-source contract between data pipelines and the training loop.

A batch source is stateless: ``get_batch(step)`` is a pure function of the
seed, the step and the process, so a resumed run sees exactly the batches an
uninterrupted run would, and nothing about the data has to be checkpointed.

Every way a dataset can be unusable (missing, unprepared, an unreadable file)
raises a :class:`DataError` whose one-line message names what and how to fix
it.

Multi-host assignment (shared by every source in ``gans_jax.data``): the data
define one global stream of examples per minibatch index ``m``; minibatch ``m``
holds global examples ``0 .. B - 1``. Process ``p`` of ``P`` receives the
examples ``p, p + P, p + 2P, ...`` of each minibatch (``B / P`` of them), so the
union over processes of one step's examples is exactly the single-process
global batch. Training step ``s`` with ``k`` microbatches consumes the
minibatches ``s * k, ..., s * k + k - 1``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Every source here fulfils the contract; gans_jax.data.BatchSource names it.
from gans_jax.contracts import BatchSource  # pylint: disable=unused-import


class DataError(Exception):
  """A dataset cannot be used as asked; the message names it and the fix.

  Raised when a source is built or, for files decoded lazily, when an example
  is first read (in the training loop's prefetch thread, which re-raises it
  in the thread that called ``fit``). The command line prints its message as
  one line and exits with code 2.
  """


class DatasetNotFoundError(DataError, FileNotFoundError):
  """A dataset is missing, unprepared or empty; the message says the fix."""


class UnreadableImageError(DataError):
  """An image file cannot be decoded; the message names the file.

  Attributes:
    path: the file.
  """

  def __init__(self, message: str, path: str):
    super().__init__(message)
    self.path = path

  def __reduce__(self):
    # Keeps both arguments when pickled (e.g. by a data-loading process).
    return type(self), (str(self), self.path)


def _check_positive_int(name: str, value: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an int, got {value!r}")
  if value < 1:
    raise ValueError(f"{name} must be >= 1, got {value}")
  return int(value)


def check_seed(seed: int) -> int:
  """Validates a data seed: an integer in ``[0, 2**32)``."""
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
    raise ValueError(f"seed must be an int, got {seed!r}")
  if not 0 <= seed < 2**32:
    raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
  return int(seed)


@dataclasses.dataclass
class Sharding:
  """How one process takes its share of the global batch.

  ``process_index``/``process_count`` default to ``jax.process_index()`` and
  ``jax.process_count()``, read on first use (not at construction) so a source
  built before ``jax.distributed.initialize()`` still sees the right values.

  Attributes:
    batch_size: the global batch size ``B`` (all processes together).
    num_microbatches: ``k``, the minibatches one training step consumes.
  """

  batch_size: int
  num_microbatches: int = 1
  process_index_arg: int | None = None
  process_count_arg: int | None = None

  def __post_init__(self):
    self.batch_size = _check_positive_int("batch_size", self.batch_size)
    self.num_microbatches = _check_positive_int(
        "num_microbatches", self.num_microbatches)
    if self.process_count_arg is not None:
      self.process_count_arg = _check_positive_int(
          "process_count", self.process_count_arg)
    if self.process_index_arg is not None:
      if (isinstance(self.process_index_arg, bool)
          or not isinstance(self.process_index_arg, (int, np.integer))
          or self.process_index_arg < 0):
        raise ValueError(
            "process_index must be a non-negative int, got "
            f"{self.process_index_arg!r}")
      self.process_index_arg = int(self.process_index_arg)
    if self.process_count_arg is not None:
      self._validate(self.process_index_arg or 0, self.process_count_arg)

  def _validate(self, index: int, count: int) -> None:
    if index >= count:
      raise ValueError(
          f"process_index must be < process_count ({count}), got {index}")
    if self.batch_size % count:
      raise ValueError(
          f"batch_size ({self.batch_size}) must be divisible by "
          f"process_count ({count}): each process feeds an equal share")

  @property
  def process_index(self) -> int:
    if self.process_index_arg is None:
      import jax  # pylint: disable=g-import-not-at-top
      self.process_index_arg = jax.process_index()
      self._validate(self.process_index_arg, self.process_count)
    return self.process_index_arg

  @property
  def process_count(self) -> int:
    if self.process_count_arg is None:
      import jax  # pylint: disable=g-import-not-at-top
      self.process_count_arg = jax.process_count()
      self._validate(self.process_index_arg or 0, self.process_count_arg)
    return self.process_count_arg

  @property
  def local_batch_size(self) -> int:
    """``B / P``: the examples this process returns per minibatch."""
    return self.batch_size // self.process_count

  def minibatch_indices(self, step: int) -> range:
    """Indices of the minibatches consumed by training step ``step``."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
      raise ValueError(f"step must be an int, got {step!r}")
    if step < 0:
      raise ValueError(f"step must be >= 0, got {step}")
    k = self.num_microbatches
    return range(int(step) * k, (int(step) + 1) * k)

  def stack(self, minibatches: list[dict[str, np.ndarray]]
            ) -> dict[str, np.ndarray]:
    """Returns one minibatch as is, or ``k`` of them stacked on a new axis."""
    if self.num_microbatches == 1:
      return minibatches[0]
    return {key: np.stack([mb[key] for mb in minibatches])
            for key in minibatches[0]}
