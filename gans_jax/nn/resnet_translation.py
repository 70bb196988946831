"""CycleGAN's ResNet generator, in the conventions of
:mod:`gans_jax.nn.translation`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import ConvTranspose2x, as_dtype, dropout_keys
from gans_jax.nn.resnet import upsample_nearest
from gans_jax.nn.translation import (_check_norm, _check_rate, _conv, _Dropout,
                                     _norm, reflect_pad)

Array = jax.Array
Dtype = Any

__all__ = [
    "ResNetTranslationGenerator",
]

_UPSAMPLE = ("transpose", "resize")


class _ResNetBlock(nnx.Module):
  """Reflect-pad, 3x3 conv, norm, ReLU, [dropout], reflect-pad, 3x3 conv,
  norm, plus the input."""

  def __init__(self, features: int, *, norm: str | None, dropout: float,
               dtype: Dtype, rngs: nnx.Rngs):
    use_bias = norm == "instance"
    self.conv1 = _conv(features, features, 3, use_bias=use_bias, dtype=dtype,
                       rngs=rngs)
    self.norm1 = _norm(norm, features, dtype, rngs)
    self.dropout = _Dropout(dropout) if dropout else None
    self.conv2 = _conv(features, features, 3, use_bias=use_bias, dtype=dtype,
                       rngs=rngs)
    self.norm2 = _norm(norm, features, dtype, rngs)

  def __call__(self, x: Array, key: Array | nnx.Rngs | None) -> Array:
    h = self.conv1(reflect_pad(x, 1))
    if self.norm1 is not None:
      h = self.norm1(h)
    h = jax.nn.relu(h)
    if self.dropout is not None:
      h = self.dropout(h, rngs=key)
    h = self.conv2(reflect_pad(h, 1))
    if self.norm2 is not None:
      h = self.norm2(h)
    return x + h


class ResNetTranslationGenerator(nnx.Module):
  """CycleGAN's ResNet generator: images (B, H, W, C_in) → (B, H, W, C_out).

  Layout (c7s1-64, d128, d256, R256 x n, u128, u64, c7s1-3 at F = 64):

  - reflect-pad 3, 7x7 convolution to F, norm, ReLU;
  - two 3x3 stride-2 convolutions (zero padding 1) to 2F and 4F, each with
    norm and ReLU;
  - ``num_blocks`` residual blocks of width 4F:
    :math:`y = x + N(c(\\mathrm{pad}(\\mathrm{drop}(\\rho(N(c(\\mathrm{pad}
    (x))))))))` with reflect-pad 1 and 3x3 convolutions;
  - two 2x up-samplings to 2F and F, each with norm and ReLU;
  - reflect-pad 3, 7x7 convolution to C_out (with bias), tanh.

  ``upsample='transpose'`` (official) up-samples with a 3x3 stride-2
  transposed convolution, padding 1, output_padding 1
  (:func:`~gans_jax.nn.layers.conv_transpose_stride2`); ``'resize'`` with nearest-neighbour 2x
  up-sampling, reflect-pad 1 and a 3x3 convolution, the usual remedy for the
  transposed convolution's checkerboard artefacts (Odena et al., 2016). H and
  W must be multiples of 4.

  References:
    Zhu et al., 2017, "Unpaired Image-to-Image Translation using
    Cycle-Consistent Adversarial Networks", arXiv 1703.10593 (Appendix 7.2);
    Johnson et al., 2016, arXiv 1603.08155; Odena et al., 2016,
    "Deconvolution and Checkerboard Artifacts", Distill.
  """

  def __init__(self, in_channels: int = 3, out_channels: int = 3, *,
               features: int = 64, num_blocks: int = 9,
               norm: str | None = "instance", dropout: float = 0.0,
               upsample: str = "transpose", conv_transpose: str = "phase",
               dtype: Dtype = None, rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      in_channels: input image channels.
      out_channels: output image channels.
      features: width F of the first convolution (ngf).
      num_blocks: residual blocks (9 at 256 px, 6 at 128 px in CycleGAN).
      norm: ``'instance'`` (CycleGAN), ``'batch'`` or ``None``.
      dropout: dropout rate inside the residual blocks (0: none, the
        CycleGAN default; the official ``use_dropout`` is 0.5).
      upsample: ``'transpose'`` or ``'resize'``.
      conv_transpose: ``'phase'`` or ``'direct'`` for ``upsample='transpose'``.
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    _check_norm(norm, "ResNetTranslationGenerator")
    _check_rate(dropout, "ResNetTranslationGenerator")
    if upsample not in _UPSAMPLE:
      raise ValueError(f"ResNetTranslationGenerator: upsample must be one of "
                       f"{_UPSAMPLE}, got {upsample!r}")
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or (
        num_blocks < 0):
      raise ValueError(f"ResNetTranslationGenerator: num_blocks must be an "
                       f"int >= 0, got {num_blocks!r}")
    self.in_channels = in_channels
    self.out_channels = out_channels
    self.upsample = upsample
    self.dtype = dtype
    use_bias = norm == "instance"
    f = features
    self.stem = _conv(in_channels, f, 7, use_bias=use_bias, dtype=dtype,
                      rngs=rngs)
    self.stem_norm = _norm(norm, f, dtype, rngs)
    self.down = nnx.List([
        _conv(f * 2 ** i, f * 2 ** (i + 1), 3, stride=2, padding=1,
              use_bias=use_bias, dtype=dtype, rngs=rngs) for i in range(2)])
    self.down_norms = nnx.List([_norm(norm, f * 2 ** (i + 1), dtype, rngs)
                                for i in range(2)] if norm else [])
    self.blocks = nnx.List([
        _ResNetBlock(4 * f, norm=norm, dropout=dropout, dtype=dtype, rngs=rngs)
        for _ in range(num_blocks)])
    widths = [4 * f, 2 * f, f]
    if upsample == "transpose":
      up = [ConvTranspose2x(widths[i], widths[i + 1], kernel_size=3,
                            padding=1, output_padding=1, use_bias=use_bias,
                            bias_init=None, implementation=conv_transpose,
                            dtype=dtype, rngs=rngs) for i in range(2)]
    else:
      up = [_conv(widths[i], widths[i + 1], 3, use_bias=use_bias, dtype=dtype,
                  rngs=rngs) for i in range(2)]
    self.up = nnx.List(up)
    self.up_norms = nnx.List([_norm(norm, w, dtype, rngs) for w in widths[1:]]
                             if norm else [])
    self.output = _conv(f, out_channels, 7, use_bias=True, dtype=dtype,
                        rngs=rngs)

  def __call__(self, x: Array, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Translates images.

    Args:
      x: images (B, H, W, in_channels), H and W multiples of 4.
      rngs: PRNG key (or ``nnx.Rngs``) for dropout; required in train mode
        when dropout is on, ignored otherwise.

    Returns:
      Images (B, H, W, out_channels) in [-1, 1], float32.
    """
    if (x.ndim != 4 or x.shape[-1] != self.in_channels or x.shape[1] % 4
        or x.shape[2] % 4 or not x.shape[1]):
      raise ValueError(
          f"ResNetTranslationGenerator expects images (B, H, W, "
          f"{self.in_channels}) with H and W multiples of 4, got shape "
          f"{x.shape}")
    h = self.stem(reflect_pad(as_dtype(x, self.dtype), 3))
    if self.stem_norm is not None:
      h = self.stem_norm(h)
    h = jax.nn.relu(h)
    for i, conv in enumerate(self.down):
      h = conv(h)
      if self.down_norms:
        h = self.down_norms[i](h)
      h = jax.nn.relu(h)
    keys = dropout_keys(rngs, len(self.blocks))
    for block, key in zip(self.blocks, keys):
      h = block(h, key)
    for i, up in enumerate(self.up):
      if self.upsample == "transpose":
        h = up(h)
      else:
        h = up(reflect_pad(upsample_nearest(h), 1))
      if self.up_norms:
        h = self.up_norms[i](h)
      h = jax.nn.relu(h)
    h = self.output(reflect_pad(h, 3))
    return jnp.tanh(h).astype(jnp.float32)
