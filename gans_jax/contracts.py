"""The two contracts the training loop meets other code through.

* A :class:`BatchSource` is what the loop draws its batches from; every
  pipeline in :mod:`gans_jax.data` is one, and so is any object with the
  same ``get_batch``.
* A :class:`Hook` is what the loop calls back every so many steps (sample
  grids, evaluations).

They are protocols and nothing more: this module imports nothing of
gans_jax, JAX or numpy, so the data layer and the training engine both
depend on it and not on each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

if TYPE_CHECKING:
  import numpy as np

  from gans_jax.train.writer import MetricWriter


@runtime_checkable
class BatchSource(Protocol):
  """Anything the training loop can draw batches from.

  ``get_batch(step)`` returns this process's share of the global batch for
  training step ``step`` as a dict of numpy arrays shaped ``(B_local, ...)``,
  or ``(k, B_local, ...)`` when the step consumes ``k`` minibatches (for
  example ``n_critic`` discriminator updates). It must be deterministic in
  ``(seed, step, process)``, so that resuming needs no data state.
  """

  def get_batch(self, step: int) -> Mapping[str, np.ndarray]:
    ...


class Hook(Protocol):
  """Called as ``hook(step, state, writer)`` every ``hook.every`` steps and
  once at the end of training."""

  every: int

  def __call__(self, step: int, state: Any, writer: MetricWriter) -> None:
    ...
