"""PacGAN's packing: the discriminator judges m samples at once.

A packed discriminator sees :math:`m` samples of the same kind (all real or
all generated) concatenated along their last (channel) axis and returns one
score for the pack; the loss is unchanged. A generator that drops modes
makes packs of look-alike samples that real packs rarely are, which the
discriminator can learn to spot.

Samples ``k * m .. k * m + m - 1`` of a batch form pack ``k``, so a batch of
``B * m`` reals followed by ``B * m`` fakes packs into ``B`` real packs
followed by ``B`` fake packs: concatenating the two batches for one call
(e.g. for BatchNorm statistics over both) never mixes them in a pack.

References:
  Lin, Khetan, Fanti & Oh, PacGAN: The power of two samples in generative
  adversarial networks, 2018 (arXiv 1712.04086).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array

__all__ = ["Packed", "pack", "unpack"]


def _check_packing(packing: int) -> int:
  if isinstance(packing, bool) or not isinstance(packing, int) or packing < 1:
    raise ValueError(f"packing must be an int >= 1, got {packing!r}")
  return packing


def pack(x: Array, packing: int) -> Array:
  r"""Concatenates each run of ``packing`` consecutive samples along channels.

  .. math::
    (B m, \ldots, C) \to (B, \ldots, m C), \qquad
    \mathrm{pack}(x)_k = [x_{km}; x_{km+1}; \ldots; x_{km+m-1}]

  Images ``(B*m, H, W, C)`` become ``(B, H, W, m*C)`` and vectors
  ``(B*m, D)`` become ``(B, m*D)``; channels ``j*C .. j*C + C - 1`` of pack
  ``k`` hold sample ``k*m + j``.

  Args:
    x: a batch ``(B*m, ..., C)`` whose size is a multiple of ``packing``.
    packing: the packing degree :math:`m \ge 1`.

  Returns:
    The packed batch ``(B, ..., m*C)``.

  References:
    Lin et al., 2018 (arXiv 1712.04086).
  """
  packing = _check_packing(packing)
  x = jnp.asarray(x)
  if x.ndim < 2:
    raise ValueError(f"pack needs a batch of shape (N, ..., C), got {x.shape}")
  if x.shape[0] % packing:
    raise ValueError(
        f"pack: the batch size {x.shape[0]} is not a multiple of the packing "
        f"degree {packing}")
  if packing == 1:
    return x
  grouped = x.reshape(x.shape[0] // packing, packing, *x.shape[1:])
  # (B, m, ..., C) -> (B, ..., m, C) -> (B, ..., m*C).
  moved = jnp.moveaxis(grouped, 1, -2)
  return moved.reshape(*moved.shape[:-2], packing * x.shape[-1])


def unpack(x: Array, packing: int) -> Array:
  """The inverse of :func:`pack`: ``(B, ..., m*C)`` to ``(B*m, ..., C)``.

  Args:
    x: a packed batch whose last axis is a multiple of ``packing``.
    packing: the packing degree :math:`m \\ge 1`.

  Returns:
    The samples, in the order :func:`pack` took them.
  """
  packing = _check_packing(packing)
  x = jnp.asarray(x)
  if x.ndim < 2 or x.shape[-1] % packing:
    raise ValueError(
        f"unpack: the last axis of shape {x.shape} is not a multiple of the "
        f"packing degree {packing}")
  if packing == 1:
    return x
  split = x.reshape(*x.shape[:-1], packing, x.shape[-1] // packing)
  moved = jnp.moveaxis(split, -2, 1)
  return moved.reshape(x.shape[0] * packing, *moved.shape[2:])


class Packed(nnx.Module):
  """Any discriminator, made to score packs of ``packing`` samples.

  .. math::
    D_m(x_{km}, \\ldots, x_{km+m-1}) = D([x_{km}; \\ldots; x_{km+m-1}])

  Wraps a discriminator built for ``packing`` times the channels of one
  sample (``DCGANDiscriminator(channels=m * 3, ...)`` for stacked digits,
  ``MLPDiscriminator(m * 2, ...)`` for the 2-D toys) and calls it on
  :func:`pack` of its input, passing on every other keyword argument
  (``rngs``, ProGAN's ``level`` and ``alpha``) and returning whatever it
  returns (scores ``(B,)``, or scores and features). Score real and fake
  batches in separate calls, or concatenate two batches whose sizes are
  multiples of ``packing`` (see :mod:`gans_jax.nn.packing`).
  ``train()``/``eval()`` reach the wrapped module.

  Packing is for unconditional discriminators: the ``m`` samples of a pack
  have no single label, so ``labels`` is refused.

  Attributes:
    discriminator: the wrapped module.
    packing: :math:`m`.

  References:
    Lin et al., 2018 (arXiv 1712.04086).
  """

  def __init__(self, discriminator: nnx.Module, *, packing: int):
    """Wraps ``discriminator``.

    Args:
      discriminator: a discriminator whose input has ``packing`` times the
        channels (last axis) of one sample.
      packing: the packing degree :math:`m \\ge 1` (PacGAN uses 2, 3, 4).
    """
    self.discriminator = discriminator
    self.packing = _check_packing(packing)

  def __call__(self, x: Array, labels: Array | None = None, **kwargs: Any):
    """Scores the packs of a batch.

    Args:
      x: samples ``(B*m, ..., C)``.
      labels: must be ``None``.
      **kwargs: passed to the wrapped discriminator (e.g. ``rngs``).

    Returns:
      The wrapped discriminator's output on the ``B`` packs.
    """
    if labels is not None:
      raise ValueError(
          "Packed discriminators are unconditional: the samples of a pack "
          "have no single label, so labels must be None")
    return self.discriminator(pack(x, self.packing), **kwargs)
