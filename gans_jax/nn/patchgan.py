"""The PatchGAN and PixelGAN discriminators of pix2pix and CycleGAN, in the
conventions of :mod:`gans_jax.nn.translation`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import as_dtype
from gans_jax.nn.translation import _check_norm, _conv, _leaky_relu, _norm

Array = jax.Array
Dtype = Any

__all__ = [
    "PatchGANDiscriminator",
    "PixelGANDiscriminator",
    "patchgan_output_size",
    "patchgan_receptive_field",
]


def patchgan_receptive_field(n_layers: int | str) -> int:
  """Side of the input patch that one PatchGAN output logit sees.

  .. math::
    r = 9 \\cdot 2^{n} - 2

  for ``n_layers = n`` (n stride-2 4x4 convolutions followed by two stride-1
  4x4 convolutions: :math:`r = 7` after the last two, and each stride-2 layer
  maps :math:`r \\to 2r + 2`). Per setting:

  ========== =========================================
  n_layers   receptive field
  ========== =========================================
  'pixel'    1 (PixelGAN, 1x1 convolutions only)
  1          16 (the paper's 16x16 PatchGAN)
  2          34
  3          70 (the paper's 70x70 PatchGAN, default)
  4          142
  5          286 (the paper's ImageGAN at 256 px)
  ========== =========================================

  Args:
    n_layers: the :class:`PatchGANDiscriminator`'s ``n_layers`` (>= 1), or
      ``'pixel'`` for :class:`PixelGANDiscriminator`.

  Returns:
    The receptive field side in pixels.

  References:
    Isola et al., 2017, arXiv 1611.07004 (Section 4.4, Appendix 6.1.2).
  """
  if n_layers == "pixel":
    return 1
  if (isinstance(n_layers, bool) or not isinstance(n_layers, int)
      or n_layers < 1):
    raise ValueError(f"n_layers must be an int >= 1 or 'pixel', got "
                     f"{n_layers!r}")
  return 9 * 2 ** n_layers - 2


def patchgan_output_size(image_size: int, n_layers: int | str) -> int:
  """Side of the logit map a PatchGAN gives for an ``image_size`` input.

  Each stride-2 layer maps :math:`s \\to \\lfloor s / 2 \\rfloor`, each
  stride-1 layer :math:`s \\to s - 1`: 30 for 256 px and ``n_layers = 3``;
  the PixelGAN keeps the size.

  Args:
    image_size: input side.
    n_layers: as in :func:`patchgan_receptive_field`.

  Returns:
    The output side (at least 1).

  Raises:
    ValueError: the input is too small for this depth.
  """
  patchgan_receptive_field(n_layers)  # validates
  if n_layers == "pixel":
    return image_size
  size = image_size
  for _ in range(n_layers):
    size //= 2
  size -= 2
  if size < 1:
    raise ValueError(f"an input of side {image_size} is too small for a "
                     f"PatchGAN with n_layers={n_layers}")
  return size


def _concat_condition(x: Array, condition: Array | None, in_channels: int,
                      model: str) -> Array:
  if condition is not None:
    if condition.shape[:3] != x.shape[:3]:
      raise ValueError(
          f"{model}: condition {condition.shape} and images {x.shape} must "
          "share (B, H, W)")
    x = jnp.concatenate([condition.astype(x.dtype), x], axis=-1)
  if x.ndim != 4 or x.shape[-1] != in_channels:
    raise ValueError(
        f"{model} expects {in_channels} input channels (condition and images "
        f"together), got shape {x.shape}")
  return x


class PatchGANDiscriminator(nnx.Module):
  """The PatchGAN discriminator: images → a map of logits, one per patch.

  .. math::
    D(x) = c_{\\mathrm{out}}(\\lambda(N(c'(\\lambda(N(c_n(\\cdots
           \\lambda(c_1(x)))))))))

  with :math:`c_1..c_n` 4x4 stride-2 convolutions of widths
  :math:`F \\cdot \\min(2^{i-1}, 8)` (no norm after :math:`c_1`), :math:`c'`
  a 4x4 stride-1 convolution of width :math:`F \\cdot \\min(2^n, 8)`,
  :math:`c_{\\mathrm{out}}` a 4x4 stride-1 convolution to one channel (all
  padded by 1), :math:`\\lambda` = LeakyReLU(0.2). The default
  ``n_layers=3`` is the 70x70 PatchGAN (C64-C128-C256-C512): a 256 px input
  gives a 30x30 map; see :func:`patchgan_receptive_field` and
  :func:`patchgan_output_size`.

  Conditioning (pix2pix): pass ``condition`` (the input image); it is
  concatenated before ``x`` on the channel axis, as the official code's
  ``cat(real_A, fake_B)``, and ``in_channels`` counts both.

  References:
    Isola et al., 2017, arXiv 1611.07004 (Section 3.2.2, Appendix 6.1.2);
    Zhu et al., 2017, arXiv 1703.10593 (Section 4).
  """

  def __init__(self, *, in_channels: int, features: int = 64,
               n_layers: int = 3, norm: str | None = "batch",
               dtype: Dtype = None, rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      in_channels: input channels, condition included (6 for pix2pix's RGB
        pairs, 3 for CycleGAN).
      features: width F of the first layer (ndf).
      n_layers: number of stride-2 convolutions (3: 70x70 patches).
      norm: ``'batch'`` (pix2pix), ``'instance'`` (CycleGAN) or ``None``.
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    _check_norm(norm, "PatchGANDiscriminator")
    self.receptive_field = patchgan_receptive_field(n_layers)
    self.in_channels = in_channels
    self.n_layers = n_layers
    self.dtype = dtype
    use_bias = norm == "instance"
    widths = [in_channels] + [features * min(2 ** i, 8)
                              for i in range(n_layers + 1)]
    self.convs = nnx.List([
        _conv(widths[i], widths[i + 1], 4, stride=2 if i < n_layers else 1,
              padding=1, use_bias=i == 0 or use_bias, dtype=dtype, rngs=rngs)
        for i in range(n_layers + 1)])
    self.norms = nnx.List([_norm(norm, w, dtype, rngs) for w in widths[2:]]
                          if norm else [])
    self.output = _conv(widths[-1], 1, 4, padding=1, use_bias=True,
                        dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, condition: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None,
               features: bool = False) -> Array | tuple[Array, dict[str, Array]]:
    """Scores every patch.

    Args:
      x: images (B, H, W, C).
      condition: images (B, H, W, C') concatenated before ``x``, or None.
      rngs: unused (no dropout); accepted for the common call signature.
      features: also return the activations of this forward pass.

    Returns:
      Logits (B, h, w, 1), float32 (no sigmoid); with ``features``,
      ``(logits, features)`` where ``features['block{i}']`` is convolution
      block ``i``'s output (after its norm and LeakyReLU) and
      ``features['last_hidden']``, the last block's, is the input of the
      output convolution.
    """
    del rngs
    h = as_dtype(_concat_condition(x, condition, self.in_channels,
                                   "PatchGANDiscriminator"), self.dtype)
    blocks = {}
    for i, conv in enumerate(self.convs):
      h = conv(h)
      if i > 0 and self.norms:
        h = self.norms[i - 1](h)
      h = blocks[f"block{i}"] = _leaky_relu(h)
    logits = self.output(h).astype(jnp.float32)
    return (logits, {**blocks, "last_hidden": h}) if features else logits


class PixelGANDiscriminator(nnx.Module):
  """The 1x1 PixelGAN: every pixel classified on its own.

  .. math::
    D(x)_{h, w} = c_3(\\lambda(N(c_2(\\lambda(c_1(x_{h, w}))))))

  with :math:`c_i` 1x1 convolutions of widths F, 2F, 1 and
  :math:`\\lambda` = LeakyReLU(0.2): receptive field 1, a logit map of the
  input's size. As the official ``PixelDiscriminator``, the last convolution
  carries a bias only with instance norm. Conditioning as in
  :class:`PatchGANDiscriminator`.

  References:
    Isola et al., 2017, arXiv 1611.07004 (Section 4.4).
  """

  def __init__(self, *, in_channels: int, features: int = 64,
               norm: str | None = "batch", dtype: Dtype = None,
               rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      in_channels: input channels, condition included.
      features: width F of the first layer (ndf).
      norm: ``'batch'``, ``'instance'`` or ``None``.
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    _check_norm(norm, "PixelGANDiscriminator")
    self.receptive_field = patchgan_receptive_field("pixel")
    self.in_channels = in_channels
    self.dtype = dtype
    use_bias = norm == "instance"
    self.conv1 = _conv(in_channels, features, 1, use_bias=True, dtype=dtype,
                       rngs=rngs)
    self.conv2 = _conv(features, 2 * features, 1, use_bias=use_bias,
                       dtype=dtype, rngs=rngs)
    self.norm = _norm(norm, 2 * features, dtype, rngs)
    self.output = _conv(2 * features, 1, 1, use_bias=use_bias, dtype=dtype,
                        rngs=rngs)

  def __call__(self, x: Array, condition: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Scores every pixel: logits (B, H, W, 1), float32 (no sigmoid)."""
    del rngs
    h = as_dtype(_concat_condition(x, condition, self.in_channels,
                                   "PixelGANDiscriminator"), self.dtype)
    h = self.conv2(_leaky_relu(self.conv1(h)))
    if self.norm is not None:
      h = self.norm(h)
    return self.output(_leaky_relu(h)).astype(jnp.float32)
