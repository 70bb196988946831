"""Image-to-image translation networks: pix2pix and CycleGAN.

The layouts follow the official PyTorch code of both papers
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``):

- :class:`UNetGenerator` (pix2pix): an encoder of 4x4 stride-2 convolutions
  and a mirrored decoder of 4x4 stride-2 transposed convolutions, with skip
  connections between mirrored levels;
- :class:`PatchGANDiscriminator` (both papers) and
  :class:`PixelGANDiscriminator`: fully convolutional discriminators that
  classify every patch of a fixed receptive field
  (:func:`patchgan_receptive_field`) and return a map of logits;
- :class:`ResNetTranslationGenerator` (CycleGAN, and a pix2pix option):
  reflection padding, two stride-2 down-samplings, residual blocks and two
  up-samplings.

Shared conventions (the official ``init_weights('normal')`` and
``get_norm_layer``): convolution weights :math:`\\mathcal{N}(0, 0.02^2)`,
biases zero, BatchNorm scales :math:`\\mathcal{N}(1, 0.02^2)`. ``norm`` is
``'batch'`` (BatchNorm with running statistics, PyTorch momentum 0.1),
``'instance'`` (:class:`InstanceNorm`: no affine parameters, no running
statistics) or ``None``. A convolution followed by a normalisation carries a
bias only with instance norm (``use_bias = norm == 'instance'``, as the
official code, where BatchNorm's shift makes the bias redundant); the same
rule is applied, as there, to the first and innermost U-Net convolutions.

Every model takes ``dtype``, the computation dtype (parameters stay float32),
and returns float32. ``model(x, *, rngs=None)``: ``rngs`` is a PRNG key (or
``nnx.Rngs``) used only by dropout; ``model.train()`` / ``model.eval()``
switch BatchNorm statistics and dropout. Note that pix2pix applies dropout
and batch statistics at test time too (the official code stays in train mode
unless ``--eval``).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import (Initializer, dcgan_kernel_init,
                                dcgan_scale_init, dropout_keys)
from gans_jax.nn.resnet import upsample_nearest

Array = jax.Array
Dtype = Any

__all__ = [
    "ConvTransposeStride2",
    "InstanceNorm",
    "PatchGANDiscriminator",
    "PixelGANDiscriminator",
    "ResNetTranslationGenerator",
    "TRANSLATION_NORMS",
    "UNetGenerator",
    "conv_transpose_stride2",
    "patchgan_output_size",
    "patchgan_receptive_field",
    "reflect_pad",
]

TRANSLATION_NORMS = ("batch", "instance", None)
_UPSAMPLE = ("transpose", "resize")
_CONV_TRANSPOSE_IMPLS = ("phase", "direct")


def _leaky_relu(x: Array) -> Array:
  return jax.nn.leaky_relu(x, negative_slope=0.2)


def _check_norm(norm: str | None, model: str) -> None:
  if norm not in TRANSLATION_NORMS:
    raise ValueError(
        f"{model}: norm must be one of {TRANSLATION_NORMS}, got {norm!r}")


def _check_rate(dropout: float, model: str) -> None:
  if not 0.0 <= dropout < 1.0:
    raise ValueError(f"{model}: dropout must lie in [0, 1), got {dropout!r}")


def reflect_pad(x: Array, pad: int) -> Array:
  """Reflection padding of (B, H, W, C) by ``pad`` pixels on each side.

  The border pixel is not repeated (PyTorch's ``ReflectionPad2d``): a row
  ``[a, b, c]`` padded by 1 is ``[b, a, b, c, b]``.
  """
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class InstanceNorm(nnx.Module):
  """Instance normalisation without affine parameters or running statistics.

  .. math::
    y_{b, h, w, c} = \\frac{x_{b, h, w, c} - \\mu_{b, c}}
                          {\\sqrt{\\sigma^2_{b, c} + \\epsilon}}

  with :math:`\\mu_{b, c}, \\sigma^2_{b, c}` the mean and (biased) variance of
  channel ``c`` of example ``b`` over its pixels, computed in float32. This is
  the official code's ``InstanceNorm2d(affine=False,
  track_running_stats=False)``: it behaves the same in train and eval mode
  and holds no state.

  References:
    Ulyanov et al., 2016, "Instance Normalization: The Missing Ingredient for
    Fast Stylization", arXiv 1607.08022.
  """

  def __init__(self, num_features: int, *, epsilon: float = 1e-5):
    """Builds the layer.

    Args:
      num_features: number of channels (checked at call time).
      epsilon: added to the variance.
    """
    self.num_features = num_features
    self.epsilon = epsilon

  def __call__(self, x: Array) -> Array:
    """Normalises (B, H, W, C); the result has the dtype of ``x``."""
    if x.shape[-1] != self.num_features:
      raise ValueError(f"InstanceNorm expects {self.num_features} channels, "
                       f"got shape {x.shape}")
    h = x.astype(jnp.float32)
    mean = jnp.mean(h, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(h - mean), axis=(1, 2), keepdims=True)
    return ((h - mean) * jax.lax.rsqrt(var + self.epsilon)).astype(x.dtype)


class _Dropout(nnx.Dropout):
  """``nnx.Dropout`` with its mask drawn as a vector and reshaped.

  Same distribution; XLA:CPU compiles the partitionable threefry sampler for
  4-D shapes in seconds, for 1-D ones in a fraction of that.
  """

  def __call__(self, inputs: Array, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    if self.deterministic or self.rate == 0.0:
      return inputs
    if rngs is None:
      raise ValueError("dropout is on (train mode) but no rngs was given; "
                       "pass rngs=<PRNG key> or call model.eval()")
    key = rngs.dropout() if isinstance(rngs, nnx.Rngs) else rngs
    keep = 1.0 - self.rate
    mask = jax.random.bernoulli(key, keep, (inputs.size,)).reshape(inputs.shape)
    return jnp.where(mask, inputs / keep, jnp.zeros_like(inputs))


def _norm(kind: str | None, num_features: int, dtype: Dtype,
          rngs: nnx.Rngs) -> nnx.Module | None:
  if kind == "batch":
    # momentum 0.9 is PyTorch's running-average momentum of 0.1.
    return nnx.BatchNorm(num_features, momentum=0.9, epsilon=1e-5,
                         scale_init=dcgan_scale_init, dtype=dtype, rngs=rngs)
  if kind == "instance":
    return InstanceNorm(num_features)
  return None


def _conv(in_features: int, out_features: int, kernel_size: int, *,
          stride: int = 1, padding: int = 0, use_bias: bool, dtype: Dtype,
          rngs: nnx.Rngs) -> nnx.Conv:
  return nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                  strides=stride, padding=((padding, padding),) * 2,
                  use_bias=use_bias, kernel_init=dcgan_kernel_init,
                  dtype=dtype, rngs=rngs)


# ------------------------------------------------ transposed convolution ----


def _phase_taps(kernel_size: int, padding: int, phase: int) -> list[int]:
  """Kernel taps reaching output rows ``2m + phase``, by increasing offset."""
  return [k for k in reversed(range(kernel_size))
          if (k - padding - phase) % 2 == 0]


def conv_transpose_stride2(x: Array, kernel: Array, *, padding: int,
                           output_padding: int = 0,
                           implementation: str = "phase") -> Array:
  """Stride-2 transposed convolution with PyTorch ``ConvTranspose2d`` semantics.

  Each input pixel scatters into the output as

  .. math::
    y_{2i + k - p,\\, 2j + l - p,\\, o} \\mathrel{+}=
      \\sum_c x_{i, j, c}\\, w_{k, l, c, o},

  kept where the output index lies in ``[0, H_out)`` with
  :math:`H_{out} = 2(H - 1) - 2p + K + p_{out}` (``output_padding``
  :math:`p_{out}` adds rows at the bottom and columns at the right only).
  With ``K = 3, p = 1, p_out = 1`` (the CycleGAN generator) and ``K = 4,
  p = 1`` (pix2pix's U-Net, DCGAN) the output is exactly twice the input.

  ``implementation='phase'`` computes output rows of parity ``a`` as a
  stride-1 correlation with the taps :math:`k \\equiv a + p \\pmod 2`
  (:math:`y_{2m + a} = \\sum_k w_k\\, x_{m + (a + p - k)/2}`) and interleaves
  the four phases, whose gradients are ordinary stride-1 convolutions (fast
  on CPU); ``'direct'`` calls ``jax.lax.conv_transpose``. Both give the same
  result.

  Args:
    x: input (B, H, W, C_in).
    kernel: weights (K, K, C_in, C_out). A PyTorch ``ConvTranspose2d`` weight
      (C_in, C_out, K, K) maps to it by ``w.transpose(2, 3, 0, 1)``.
    padding: PyTorch ``padding`` p, at most K - 1.
    output_padding: PyTorch ``output_padding``, 0 or 1.
    implementation: ``'phase'`` or ``'direct'``.

  Returns:
    The output (B, H_out, W_out, C_out), in the dtype of ``x``.

  References:
    Dumoulin & Visin, 2016, "A guide to convolution arithmetic for deep
    learning", arXiv 1603.07285.
  """
  size = kernel.shape[0]
  if kernel.ndim != 4 or kernel.shape[1] != size or size < 2:
    raise ValueError(f"kernel must be (K, K, C_in, C_out) with K >= 2, got "
                     f"{kernel.shape}")
  if not 0 <= padding <= size - 1:
    raise ValueError(f"padding must lie in [0, {size - 1}], got {padding}")
  if output_padding not in (0, 1):
    raise ValueError(f"output_padding must be 0 or 1, got {output_padding}")
  if implementation not in _CONV_TRANSPOSE_IMPLS:
    raise ValueError(f"implementation must be one of {_CONV_TRANSPOSE_IMPLS}, "
                     f"got {implementation!r}")
  kernel = kernel.astype(x.dtype)
  batch, height, width, _ = x.shape
  out_h = 2 * (height - 1) - 2 * padding + size + output_padding
  out_w = 2 * (width - 1) - 2 * padding + size + output_padding
  if implementation == "direct":
    lo = size - 1 - padding
    pads = ((lo, lo + output_padding),) * 2
    return jax.lax.conv_transpose(
        x, kernel, strides=(2, 2), padding=pads,
        dimension_numbers=("NHWC", "HWOI", "NHWC"), transpose_kernel=True)

  def axis_plan(n_in: int, n_out: int, phase: int):
    taps = _phase_taps(size, padding, phase)
    first = (phase + padding - taps[0]) // 2  # offset of the first tap
    count = (n_out - phase + 1) // 2  # outputs of this parity
    return taps, (-first, count - 1 + first + len(taps) - 1 - (n_in - 1))

  phases = {}
  for a in (0, 1):
    rows, row_pad = axis_plan(height, out_h, a)
    for b in (0, 1):
      cols, col_pad = axis_plan(width, out_w, b)
      # Taps of one parity, in decreasing order: a reversed strided slice.
      sub = kernel[rows[0]::-2, cols[0]::-2]
      phases[a, b] = jax.lax.conv_general_dilated(
          x, sub, window_strides=(1, 1), padding=(row_pad, col_pad),
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
  channels = kernel.shape[-1]
  if out_h % 2 == 0 and out_w % 2 == 0:
    y = jnp.stack([jnp.stack([phases[a, 0], phases[a, 1]], axis=3)
                   for a in (0, 1)], axis=2)  # (B, H', 2, W', 2, C)
    return y.reshape(batch, out_h, out_w, channels)
  y = jnp.zeros((batch, out_h, out_w, channels), x.dtype)
  for (a, b), phase in phases.items():
    y = y.at[:, a::2, b::2].set(phase)
  return y


class ConvTransposeStride2(nnx.Module):
  """A stride-2 transposed convolution layer (PyTorch ``ConvTranspose2d``).

  Computes :func:`conv_transpose_stride2` plus a per-channel bias, in the
  layer's ``dtype``. Parameters: ``kernel`` (K, K, C_in, C_out), ``bias``
  (C_out,) or ``None``.

  References:
    Dumoulin & Visin, 2016, arXiv 1603.07285.
  """

  def __init__(self, in_features: int, out_features: int, *,
               kernel_size: int, padding: int, output_padding: int = 0,
               use_bias: bool = True, implementation: str = "phase",
               dtype: Dtype = jnp.float32,
               kernel_init: Initializer = dcgan_kernel_init,
               rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: input channels.
      out_features: output channels.
      kernel_size: K.
      padding: PyTorch ``padding``.
      output_padding: PyTorch ``output_padding``.
      use_bias: whether to add a per-channel bias (initialised to zero).
      implementation: ``'phase'`` (default) or ``'direct'``.
      dtype: computation dtype.
      kernel_init: kernel initialiser (N(0, 0.02) by default).
      rngs: parameter initialisation keys.
    """
    if implementation not in _CONV_TRANSPOSE_IMPLS:
      raise ValueError(f"implementation must be one of {_CONV_TRANSPOSE_IMPLS}"
                       f", got {implementation!r}")
    self.padding = padding
    self.output_padding = output_padding
    self.implementation = implementation
    self.dtype = dtype
    self.kernel = nnx.Param(kernel_init(
        rngs.params(), (kernel_size, kernel_size, in_features, out_features)))
    self.bias = (nnx.Param(jnp.zeros((out_features,), jnp.float32))
                 if use_bias else None)

  def __call__(self, x: Array) -> Array:
    """Maps (B, H, W, C_in) to (B, H_out, W_out, C_out)."""
    y = conv_transpose_stride2(
        x.astype(self.dtype), self.kernel[...], padding=self.padding,
        output_padding=self.output_padding,
        implementation=self.implementation)
    if self.bias is not None:
      y = y + self.bias[...].astype(y.dtype)
    return y


# ---------------------------------------------------------------- U-Net ----


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
    self.up = ConvTransposeStride2(
        inner if innermost else 2 * inner, out_features, kernel_size=4,
        padding=1, use_bias=outermost or use_bias,
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
               conv_transpose: str = "phase", dtype: Dtype = jnp.float32,
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
        :func:`conv_transpose_stride2`).
      dtype: computation dtype (parameters stay float32).
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
    h = x.astype(self.dtype)
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


# ------------------------------------------------------------- PatchGAN ----


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
               dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      in_channels: input channels, condition included (6 for pix2pix's RGB
        pairs, 3 for CycleGAN).
      features: width F of the first layer (ndf).
      n_layers: number of stride-2 convolutions (3: 70x70 patches).
      norm: ``'batch'`` (pix2pix), ``'instance'`` (CycleGAN) or ``None``.
      dtype: computation dtype (parameters stay float32).
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
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Scores every patch.

    Args:
      x: images (B, H, W, C).
      condition: images (B, H, W, C') concatenated before ``x``, or None.
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Logits (B, h, w, 1), float32 (no sigmoid).
    """
    del rngs
    h = _concat_condition(x, condition, self.in_channels,
                          "PatchGANDiscriminator").astype(self.dtype)
    for i, conv in enumerate(self.convs):
      h = conv(h)
      if i > 0 and self.norms:
        h = self.norms[i - 1](h)
      h = _leaky_relu(h)
    return self.output(h).astype(jnp.float32)


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
               norm: str | None = "batch", dtype: Dtype = jnp.float32,
               rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      in_channels: input channels, condition included.
      features: width F of the first layer (ndf).
      norm: ``'batch'``, ``'instance'`` or ``None``.
      dtype: computation dtype (parameters stay float32).
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
    h = _concat_condition(x, condition, self.in_channels,
                          "PixelGANDiscriminator").astype(self.dtype)
    h = self.conv2(_leaky_relu(self.conv1(h)))
    if self.norm is not None:
      h = self.norm(h)
    return self.output(_leaky_relu(h)).astype(jnp.float32)


# ------------------------------------------------------ ResNet generator ----


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
  (:func:`conv_transpose_stride2`); ``'resize'`` with nearest-neighbour 2x
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
               dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
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
      dtype: computation dtype (parameters stay float32).
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
      up = [ConvTransposeStride2(widths[i], widths[i + 1], kernel_size=3,
                                 padding=1, output_padding=1,
                                 use_bias=use_bias,
                                 implementation=conv_transpose, dtype=dtype,
                                 rngs=rngs) for i in range(2)]
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
    h = self.stem(reflect_pad(x.astype(self.dtype), 3))
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
