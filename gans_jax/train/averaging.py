"""Historical averaging of a player's parameters (Salimans et al. 2016, §3.3).

Each player may add to its cost the distance of its parameters from the
mean of all their past values,

.. math::
  \\lambda \\Big\\lVert \\theta - \\frac{1}{t} \\sum_{i=1}^{t} \\theta[i]
  \\Big\\rVert^2 ,

which damps the oscillations of gradient descent on a game (the paper's toy
game :math:`(f(x) - 1)(y - 1)` converges with it). The running mean and its
count form a :class:`HistoricalAverage`, a pytree kept in the training state
(e.g. in ``extra``), so a checkpoint restores it and a resumed run continues
bit for bit. Use from a custom step::

  average = historical_average_init(params)               # at creation
  loss = task_loss + lam * historical_averaging_penalty(params, average)
  ... optimizer step: params -> new_params ...
  average = historical_average_update(average, new_params)

The official code does not contain historical averaging (the paper uses it
in its ImageNet ablation, "-L+HA"); this follows the paper's formula.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

PyTree = Any

__all__ = [
    "HistoricalAverage",
    "historical_average_init",
    "historical_average_update",
    "historical_averaging_penalty",
]


class HistoricalAverage(struct.PyTreeNode):
  """The mean of a player's past parameters, and how many values it holds.

  Attributes:
    mean: :math:`\\frac{1}{t} \\sum_{i=1}^{t} \\theta[i]`, the structure and
      dtypes of the parameters (floating leaves averaged in at least
      float32).
    count: :math:`t`, an int32 scalar.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.3.
  """

  mean: PyTree
  count: jax.Array


def _is_float(x: jax.Array) -> bool:
  return jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)


def historical_average_init(params: PyTree) -> HistoricalAverage:
  """Starts the historical average at the initial parameters.

  .. math::
    \\bar\\theta_1 = \\theta[1], \\qquad t = 1

  Args:
    params: the initial parameters :math:`\\theta[1]` (any pytree).

  Returns:
    The average of one value.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.3.
  """
  return HistoricalAverage(mean=jax.tree.map(jnp.array, params),
                           count=jnp.ones((), jnp.int32))


def historical_average_update(average: HistoricalAverage,
                              params: PyTree) -> HistoricalAverage:
  """Adds the parameters after an update to the historical average.

  .. math::
    \\bar\\theta_{t+1} = \\bar\\theta_t
      + \\frac{\\theta[t+1] - \\bar\\theta_t}{t + 1}

  so that :math:`\\bar\\theta_t` is the plain mean of the :math:`t` values
  seen. Floating leaves are updated in at least float32 and stored in the
  mean's dtype; other leaves (integer counters) take the value of
  ``params``.

  Args:
    average: the average so far.
    params: :math:`\\theta[t+1]`, the parameters after this step's update.

  Returns:
    The average of :math:`t + 1` values.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.3.
  """
  count = average.count + 1
  weight = 1.0 / count.astype(jnp.float32)

  def step(mean, p):
    if not _is_float(mean):
      return p
    dtype = jnp.promote_types(mean.dtype, jnp.float32)
    new = mean.astype(dtype) + weight.astype(dtype) * (
        p.astype(dtype) - mean.astype(dtype))
    return new.astype(mean.dtype)

  return HistoricalAverage(mean=jax.tree.map(step, average.mean, params),
                           count=count)


def historical_averaging_penalty(params: PyTree,
                                 average: HistoricalAverage) -> jax.Array:
  """Squared distance of the parameters from their historical average.

  .. math::
    \\Big\\lVert \\theta - \\frac{1}{t} \\sum_{i=1}^{t} \\theta[i]
    \\Big\\rVert^2 = \\sum_\\ell \\sum_j (\\theta_{\\ell j}
    - \\bar\\theta_{\\ell j})^2

  summed over the floating leaves; the caller multiplies by :math:`\\lambda`.
  The average is a constant of the step (``jax.lax.stop_gradient``), so the
  gradient is :math:`2 (\\theta - \\bar\\theta)`.

  Args:
    params: the current parameters :math:`\\theta`.
    average: their historical average, same structure.

  Returns:
    A scalar in at least float32.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.3.
  """
  mean = jax.lax.stop_gradient(average.mean)

  def squared_distance(p, m):
    if not _is_float(p):
      return jnp.zeros((), jnp.float32)
    dtype = jnp.promote_types(jnp.asarray(p).dtype, jnp.float32)
    return jnp.sum(jnp.square(p.astype(dtype) - m.astype(dtype)))

  return sum(jax.tree.leaves(jax.tree.map(squared_distance, params, mean)),
             jnp.zeros((), jnp.float32))
