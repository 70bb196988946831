"""pix2pix's U-Net generator, in the conventions of :mod:`gans_jax.nn.translation`."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import ConvTranspose2x, as_dtype, dropout_keys
from gans_jax.nn.translation import (_check_norm, _check_rate, _conv, _Dropout,
                                     _leaky_relu, _norm)

Array = jax.Array
Dtype = Any

__all__ = [
    "UNetGenerator",
]


def _unet_depth(image_size: int) -> int:
  if (isinstance(image_size, bool) or not isinstance(image_size, int)
      or image_size < 4 or image_size & (image_size - 1)):
    raise ValueError(
        f"UNetGenerator: image_size must be a power of two >= 4, got "
        f"{image_size!r}")
  return int(math.log2(image_size))


class _UNetLevel(nnx.Module):
  """One U-Net level: a down-convolution and its mirrored up-convolution."""

  def __init__(self, in_features: int, inner: int, out_features: int, *,
               outermost: bool, innermost: bool, norm: str | None,
               dropout: float, conv_transpose: str, dtype: Dtype,
               rngs: nnx.Rngs):
    use_bias = norm == "instance"
    self.down = _conv(in_features, inner, 4, stride=2, padding=1,
                      use_bias=use_bias, dtype=dtype, rngs=rngs)
    # No norm on the image-facing convolution nor on the 1x1 bottleneck
    # (BatchNorm of a single pixel with batch 1 would zero it).
    self.down_norm = (None if outermost or innermost
                      else _norm(norm, inner, dtype, rngs))
    self.up = ConvTranspose2x(
        inner if innermost else 2 * inner, out_features, kernel_size=4,
        padding=1, use_bias=outermost or use_bias, bias_init=None,
        implementation=conv_transpose, dtype=dtype, rngs=rngs)
    self.up_norm = None if outermost else _norm(norm, out_features, dtype,
                                                rngs)
    self.dropout = _Dropout(dropout) if dropout else None


class UNetGenerator(nnx.Module):
  """pix2pix's U-Net generator: images (B, S, S, C_in) → (B, S, S, C_out).

  With :math:`n = \\log_2 S` levels, the encoder is

  .. math::
    e_0 = x, \\qquad e_{j+1} = N_j(c_j(\\lambda(e_j))), \\quad j = 0..n-1

  (no LeakyReLU(0.2) :math:`\\lambda` before :math:`c_0`; no norm
  :math:`N_j` on :math:`c_0` nor on the innermost :math:`c_{n-1}`), with
  :math:`c_j` 4x4 stride-2 convolutions of widths
  :math:`F \\cdot \\min(2^j, 8)` (64-128-256-512-512-512-512-512 at 256 px,
  F = 64), so the bottleneck :math:`e_n` is 1x1. The decoder mirrors it:

  .. math::
    d_{n-1} = N'(u_{n-1}(\\rho(e_n))), \\quad
    d_j = \\mathrm{drop}(N'(u_j(\\rho([e_{j+1}, d_{j+1}])))), \\quad
    y = \\tanh(u_0(\\rho([e_1, d_1])))

  with :math:`u_j` 4x4 stride-2 transposed convolutions, :math:`\\rho` = ReLU
  and :math:`[\\cdot, \\cdot]` channel concatenation (skip first, as the
  official code).

  Dropout (rate ``dropout``, 0.5 in pix2pix) follows the decoder
  normalisation of the levels whose input and output widths are both 8F,
  except the innermost: the official ``UnetGenerator(num_downs=n)`` gives
  ``n - 5`` such levels, i.e. the three innermost 512-channel decoder blocks
  after the bottleneck's up-convolution at 256 px (outputs 4x4, 8x8, 16x16),
  two at 128 px, one at 64 px (output 4x4) and none at 32 px. At small sizes
  ``dropout_blocks=k`` puts dropout on the ``k`` levels just outside the
  innermost one instead (at 32 px, ``k = 3`` puts it on the decoder outputs
  at 4x4, 8x8 and 16x16, of widths 4F, 2F and F).

  Inputs larger than ``image_size`` work when their sides are multiples of
  :math:`2^n` (the bottleneck is then larger than 1x1).

  References:
    Isola et al., 2017, "Image-to-Image Translation with Conditional
    Adversarial Networks", arXiv 1611.07004 (Section 3.2.1, Appendix 6.1.1);
    Ronneberger et al., 2015, arXiv 1505.04597.
  """

  def __init__(self, in_channels: int = 3, out_channels: int = 3, *,
               image_size: int = 256, features: int = 64,
               norm: str | None = "batch", dropout: float = 0.5,
               dropout_blocks: int | None = None,
               conv_transpose: str = "phase", dtype: Dtype = None,
               rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      in_channels: input image channels.
      out_channels: output image channels.
      image_size: image side S, a power of two; the depth is log2(S).
      features: width F of the first level (ngf).
      norm: ``'batch'`` (pix2pix), ``'instance'`` or ``None``.
      dropout: dropout rate of the decoder levels with dropout (0 disables,
        as the official ``--no_dropout``).
      dropout_blocks: number of levels with dropout, counted outwards from
        the one next to the innermost; ``None`` is the official count
        ``max(log2(S) - 5, 0)``.
      conv_transpose: ``'phase'`` or ``'direct'`` (see
        :func:`~gans_jax.nn.layers.conv_transpose_stride2`).
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    _check_norm(norm, "UNetGenerator")
    _check_rate(dropout, "UNetGenerator")
    depth = _unet_depth(image_size)
    if dropout_blocks is None:
      dropout_blocks = max(depth - 5, 0)
    if not 0 <= dropout_blocks <= depth - 2:
      raise ValueError(
          f"UNetGenerator: dropout_blocks must lie in [0, {depth - 2}] at "
          f"image_size {image_size}, got {dropout_blocks}")
    self.in_channels = in_channels
    self.out_channels = out_channels
    self.image_size = image_size
    self.depth = depth
    self.dtype = dtype
    widths = [in_channels] + [features * min(2 ** j, 8) for j in range(depth)]
    with_dropout = range(depth - 1 - dropout_blocks, depth - 1)
    self.levels = nnx.List([
        _UNetLevel(widths[j], widths[j + 1],
                   out_channels if j == 0 else widths[j],
                   outermost=j == 0, innermost=j == depth - 1, norm=norm,
                   dropout=dropout if j in with_dropout else 0.0,
                   conv_transpose=conv_transpose, dtype=dtype, rngs=rngs)
        for j in range(depth)])

  @property
  def dropout_levels(self) -> tuple[int, ...]:
    """Indices of the levels with dropout (0 is the outermost)."""
    return tuple(j for j, level in enumerate(self.levels)
                 if level.dropout is not None)

  def __call__(self, x: Array, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Translates images.

    Args:
      x: images (B, H, W, in_channels), H and W multiples of
        ``2 ** depth``.
      rngs: PRNG key (or ``nnx.Rngs``) for dropout; required in train mode
        when dropout is on, ignored in eval mode.

    Returns:
      Images (B, H, W, out_channels) in [-1, 1], float32.
    """
    step = 2 ** self.depth
    if (x.ndim != 4 or x.shape[-1] != self.in_channels
        or x.shape[1] % step or x.shape[2] % step or not x.shape[1]):
      raise ValueError(
          f"UNetGenerator expects images (B, H, W, {self.in_channels}) with H "
          f"and W multiples of {step}, got shape {x.shape}")
    h = as_dtype(x, self.dtype)
    encoded = []
    for j, level in enumerate(self.levels):
      if j > 0:
        h = _leaky_relu(h)
      h = level.down(h)
      if level.down_norm is not None:
        h = level.down_norm(h)
      encoded.append(h)
    keys = dropout_keys(rngs, self.depth)
    for j in reversed(range(self.depth)):
      level = self.levels[j]
      h = level.up(jax.nn.relu(h))
      if level.up_norm is not None:
        h = level.up_norm(h)
      if level.dropout is not None:
        h = level.dropout(h, rngs=keys[j])
      if j > 0:
        h = jnp.concatenate([encoded[j - 1], h], axis=-1)
    return jnp.tanh(h).astype(jnp.float32)
