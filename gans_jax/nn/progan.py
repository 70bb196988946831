"""ProGAN: the progressively grown generator and critic (Karras et al., 2018).

The layout is the paper's Table 2 and the official ``G_paper`` / ``D_paper``
(tkarras/progressive_growing_of_gans), level ``k`` working at resolution
:math:`4 \\cdot 2^k` with :math:`n_f(k + 1)` feature maps, where

.. math::
  n_f(s) = \\min(\\lfloor f_{\\mathrm{base}} / 2^{s \\cdot d} \\rfloor,
           f_{\\max}),
  \\qquad f_{\\mathrm{base}} = 8192,\\ d = 1,\\ f_{\\max} = 512.

Small runs stay small by scaling ``fmap_base`` and ``fmap_max`` by the same
factor.

- generator: pixel norm on z, an equalized dense layer to 4x4 (gain
  :math:`\\sqrt 2 / 4`, one bias per feature map), a 3x3 convolution; then per
  level nearest 2x up-sampling and two 3x3 convolutions. Every convolution is
  followed by leaky ReLU (0.2) and pixel norm. ``to_rgb[k]`` is a 1x1
  convolution (gain 1) with a linear output.
- critic: ``from_rgb[k]`` (1x1 convolution + leaky ReLU); per level two 3x3
  convolutions (the second to :math:`n_f(k)` maps) and 2x2 average pooling;
  the 4x4 block appends the minibatch standard deviation, then a 3x3
  convolution, a dense layer to :math:`n_f(0)` and a dense layer (gain 1) to
  the score.

Every layer uses the equalized learning rate: weights are stored N(0, 1) and
multiplied at run time by :math:`g / \\sqrt{\\mathrm{fan_{in}}}` (gain
:math:`g = \\sqrt 2` unless stated). Biases start at zero and are not scaled.
Up-sampling then convolving (and convolving then pooling) is the unfused form
of the official code's ``fused_scale`` layers: the same function.

Growth: every level's layers exist from the start. A call names its ``level``
(a static Python int, so one compiled program per level) and the fade-in
``alpha`` (a traced scalar). During a fade the generator blends the new
level's image with the previous level's image up-sampled, and the critic
blends the new ``from_rgb`` and block with the previous ``from_rgb`` applied
to the 2x down-sampled input:

.. math::
  G_k = (1 - \\alpha)\\, \\mathrm{up}(\\mathrm{rgb}_{k-1}(h_{k-1}))
        + \\alpha\\, \\mathrm{rgb}_k(h_k), \\qquad
  e_k = (1 - \\alpha)\\, \\mathrm{from}_{k-1}(\\mathrm{down}(x))
        + \\alpha\\, B_k(\\mathrm{from}_k(x)).

:func:`progan_schedule` gives ``(level, alpha)`` as a function of the images
shown, and :func:`fade_reals` fades the real images the same way.

References:
  Karras, Aila, Laine & Lehtinen, Progressive Growing of GANs for Improved
  Quality, Stability, and Variation, 2018 (arXiv 1710.10196).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import _normal_flat, as_dtype, label_one_hot
from gans_jax.nn.resnet import mean_pool, upsample_nearest

Array = jax.Array

__all__ = [
    "EqualizedConv",
    "EqualizedDense",
    "ProGANCritic",
    "ProGANGenerator",
    "downscale_images",
    "fade_reals",
    "level_resolution",
    "minibatch_stddev",
    "pixel_norm",
    "progan_features",
    "progan_schedule",
]

_SQRT2 = math.sqrt(2.0)
_LEAKY_SLOPE = 0.2


def _leaky_relu(x: Array) -> Array:
  return jax.nn.leaky_relu(x, negative_slope=_LEAKY_SLOPE)


def _lerp(a: Array, b: Array, t: Array) -> Array:
  # (1 - t) a + t b rather than a + (b - a) t: exactly a at t = 0 and exactly
  # b at t = 1, so a finished fade is the new path bit for bit.
  return (1.0 - t) * a + t * b


def _is_power_of_two(n: int) -> bool:
  return isinstance(n, int) and n >= 1 and n & (n - 1) == 0


def level_resolution(level: int) -> int:
  """Image size of level ``level``: :math:`4 \\cdot 2^{\\mathrm{level}}`."""
  return 4 * 2 ** level


def _num_levels(resolution: int, model: str) -> int:
  if not _is_power_of_two(resolution) or resolution < 4:
    raise ValueError(f"{model} resolution must be a power of two >= 4, got "
                     f"{resolution!r}")
  return int(math.log2(resolution)) - 1


def progan_features(stage: int, *, fmap_base: int = 8192,
                    fmap_decay: float = 1.0, fmap_max: int = 512) -> int:
  """Number of feature maps at ``stage`` (level ``k`` uses stage ``k + 1``).

  .. math::
    n_f(s) = \\min(\\lfloor f_{\\mathrm{base}} / 2^{s d} \\rfloor, f_{\\max})

  Args:
    stage: the stage :math:`s \\ge 0`.
    fmap_base: :math:`f_{\\mathrm{base}}` (8192 in the paper).
    fmap_decay: :math:`d`, the log2 reduction per doubling of resolution.
    fmap_max: :math:`f_{\\max}` (512 in the paper).

  Returns:
    The number of feature maps.

  Raises:
    ValueError: if the result is below 1.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Table 2).
  """
  features = min(int(fmap_base / 2.0 ** (stage * fmap_decay)), fmap_max)
  if features < 1:
    raise ValueError(
        f"fmap_base={fmap_base}, fmap_decay={fmap_decay}, fmap_max={fmap_max} "
        f"give {features} feature maps at stage {stage}; need at least 1")
  return features


# ------------------------------------------------------------------ layers --


def pixel_norm(x: Array, *, epsilon: float = 1e-8) -> Array:
  """Pixelwise feature vector normalisation over the channel (last) axis.

  .. math::
    b_{x,y} = a_{x,y} \\Big/ \\sqrt{\\tfrac{1}{C}
              \\textstyle\\sum_{c} (a^c_{x,y})^2 + \\epsilon}

  Computed in at least float32 and returned in ``x.dtype``.

  Args:
    x: activations (..., C).
    epsilon: :math:`\\epsilon` (1e-8 in the paper).

  Returns:
    Normalised activations, same shape and dtype.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 4.2).
  """
  h = x.astype(jnp.promote_types(x.dtype, jnp.float32))
  h = h * jax.lax.rsqrt(jnp.mean(jnp.square(h), axis=-1, keepdims=True)
                        + epsilon)
  return h.astype(x.dtype)


def minibatch_stddev(x: Array, *, group_size: int = 4,
                     epsilon: float = 1e-8) -> Array:
  """Appends the minibatch standard deviation as one feature map.

  The batch of :math:`N` is split into :math:`M = N / G` groups of
  :math:`G = \\min(\\mathrm{group\\_size}, N)` examples, taken with stride
  :math:`M` as the official code's reshape to ``[G, M, ...]`` does (example
  :math:`n` is in group :math:`n \\bmod M`). For each group,

  .. math::
    s_m = \\operatorname{mean}_{h,w,c}
          \\sqrt{\\operatorname{mean}_{g} (x_{g,m} - \\bar x_m)^2 + \\epsilon}

  (the biased variance over the group), and :math:`s_m` is appended as a
  constant map to each member of group :math:`m`. Computed in float32.

  Args:
    x: activations (N, H, W, C).
    group_size: the largest group size G (4 in the paper).
    epsilon: added to the variance before the square root.

  Returns:
    Activations (N, H, W, C + 1) in ``x.dtype``.

  Raises:
    ValueError: if ``x`` is not 4-D, ``group_size < 1``, or N is larger than
      the group size and not a multiple of it (the official code fails on
      such a batch too).

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 3).
  """
  if x.ndim != 4:
    raise ValueError(f"minibatch_stddev expects (N, H, W, C), got {x.shape}")
  if group_size < 1:
    raise ValueError(f"group_size must be >= 1, got {group_size}")
  n = x.shape[0]
  group = min(group_size, n)
  if n % group:
    raise ValueError(
        f"minibatch_stddev needs a batch size that is a multiple of "
        f"group_size={group_size} or smaller than it; got batch size {n}")
  groups = n // group
  y = x.astype(jnp.float32).reshape(group, groups, *x.shape[1:])
  y = y - jnp.mean(y, axis=0, keepdims=True)
  std = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + epsilon)
  per_group = jnp.mean(std, axis=(1, 2, 3))  # (M,)
  per_example = jnp.tile(per_group, group)  # example n gets group n mod M
  maps = jnp.broadcast_to(per_example[:, None, None, None].astype(x.dtype),
                          (*x.shape[:3], 1))
  return jnp.concatenate([x, maps], axis=-1)


class _Equalized(nnx.Module):
  """A kernel drawn from N(0, 1) and scaled by :math:`g / \\sqrt{\\mathrm{fan_{in}}}`
  at every call, and a zero bias: what both equalized layers share."""

  def __init__(self, kernel_shape: tuple[int, ...], *, gain: float,
               use_bias: bool, dtype: Any, rngs: nnx.Rngs):
    self.gain = float(gain)
    self.fan_in = math.prod(kernel_shape[:-1])
    self.dtype = dtype
    self.kernel = nnx.Param(_normal_flat(rngs.params(), kernel_shape,
                                         jnp.float32))
    self.bias = (nnx.Param(jnp.zeros((kernel_shape[-1],), jnp.float32))
                 if use_bias else None)

  @property
  def scale(self) -> float:
    """The run-time weight scale :math:`g / \\sqrt{\\mathrm{fan_{in}}}`."""
    return self.gain / math.sqrt(self.fan_in)

  def _weights(self) -> Array:
    return as_dtype(self.kernel[...] * self.scale, self.dtype)

  def _add_bias(self, y: Array) -> Array:
    return y if self.bias is None else y + as_dtype(self.bias[...], self.dtype)


class EqualizedDense(_Equalized):
  """Dense layer with the equalized learning rate.

  .. math::
    y = x\\, (c\\, W) + b, \\qquad W_{ij} \\sim \\mathcal N(0, 1),
    \\qquad c = g / \\sqrt{\\mathrm{fan_{in}}}

  The stored ``kernel`` is :math:`W`; the constant :math:`c` is applied at
  every call, so the gradient with respect to :math:`W` is :math:`c` times
  that of a plain layer's weight and Adam's steps are equal in every layer.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 4.1).
  """

  def __init__(self, in_features: int, out_features: int, *,
               gain: float = _SQRT2, use_bias: bool = True,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: input size (the fan-in).
      out_features: output size.
      gain: :math:`g` (:math:`\\sqrt 2` for layers followed by leaky ReLU).
      use_bias: add a bias (initialised to zero).
      dtype: computation dtype (``None``: float32); parameters are float32.
      rngs: parameter initialisation keys.
    """
    super().__init__((in_features, out_features), gain=gain,
                     use_bias=use_bias, dtype=dtype, rngs=rngs)

  def __call__(self, x: Array) -> Array:
    """Maps (..., in_features) to (..., out_features) in ``dtype``."""
    w = self._weights()
    return self._add_bias(as_dtype(x, self.dtype) @ w)


class EqualizedConv(_Equalized):
  """Square 'SAME' convolution (stride 1) with the equalized learning rate.

  .. math::
    y = x \\star (c\\, W) + b, \\qquad W \\sim \\mathcal N(0, 1),
    \\qquad c = g / \\sqrt{k^2 C_{\\mathrm{in}}}

  ``kernel`` has shape (k, k, C_in, C_out); see :class:`EqualizedDense`.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 4.1).
  """

  def __init__(self, in_features: int, out_features: int, kernel_size: int,
               *, gain: float = _SQRT2, use_bias: bool = True,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: input channels.
      out_features: output channels.
      kernel_size: odd kernel size k.
      gain: :math:`g` (:math:`\\sqrt 2` for layers followed by leaky ReLU).
      use_bias: add a bias (initialised to zero).
      dtype: computation dtype (``None``: float32); parameters are float32.
      rngs: parameter initialisation keys.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
      raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
    super().__init__((kernel_size, kernel_size, in_features, out_features),
                     gain=gain, use_bias=use_bias, dtype=dtype, rngs=rngs)

  def __call__(self, x: Array) -> Array:
    """Maps (B, H, W, C_in) to (B, H, W, C_out) in ``dtype``."""
    w = self._weights()
    return self._add_bias(jax.lax.conv_general_dilated(
        as_dtype(x, self.dtype), w, window_strides=(1, 1), padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC")))


# ---------------------------------------------------------------- growing --


def progan_schedule(images_shown: Array | int, *, final_resolution: int,
                    stabilize_images: int, fade_images: int,
                    initial_resolution: int = 4) -> tuple[Array, Array]:
  """The level and fade-in alpha after ``images_shown`` real images.

  The official ``TrainingSchedule``: training runs in phases of
  :math:`T + F` images (``stabilize_images``, ``fade_images``); phase
  :math:`p` first trains level :math:`l_0 + p` alone for :math:`T` images,
  then fades in level :math:`l_0 + p + 1` for :math:`F` images. With
  :math:`i` images shown, :math:`p = \\lfloor i / (T + F) \\rfloor` and
  :math:`r = i - p (T + F)`, the level of detail is

  .. math::
    \\mathrm{lod} = \\max\\Big(0,\\ \\log_2 \\tfrac{R}{R_0} - p
      - \\tfrac{\\max(r - T, 0)}{F}\\Big),

  and the level (0 for 4x4) and alpha are

  .. math::
    \\mathrm{level} = \\log_2 R - 2 - \\lfloor \\mathrm{lod} \\rfloor,
    \\qquad \\alpha = 1 - (\\mathrm{lod} - \\lfloor \\mathrm{lod} \\rfloor).

  So the first level (4x4) is never faded, alpha rises linearly from 0 to 1
  during each fade, is 1 while a level stabilises, and after the last fade
  the schedule stays at the final level with alpha 1. The paper uses
  :math:`T = F = 800\\mathrm k` images (600k in the official default).
  Computed in integers (int32), then alpha as float32, so it is exact at
  phase boundaries; ``images_shown`` may be a Python int or a traced array.

  Args:
    images_shown: real images shown to the critic so far (integer, >= 0).
    final_resolution: the final image size :math:`R` (power of two >= 4).
    stabilize_images: :math:`T`, images per level before its successor
      fades in.
    fade_images: :math:`F`, images per fade (0: levels switch abruptly).
    initial_resolution: :math:`R_0`, the first level's size (4 in the
      paper). With :math:`T + F = 0` training stays at :math:`R_0`.

  Returns:
    ``(level, alpha)``: int32 and float32 arrays of the shape of
    ``images_shown``.

  Raises:
    ValueError: bad resolutions, negative image counts, or a non-integer
      ``images_shown``.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 3, Appendix A.1); the
    official ``train.py`` (``TrainingSchedule``).
  """
  for name, value in (("final_resolution", final_resolution),
                      ("initial_resolution", initial_resolution)):
    if not _is_power_of_two(value) or value < 4:
      raise ValueError(f"{name} must be a power of two >= 4, got {value!r}")
  if initial_resolution > final_resolution:
    raise ValueError(f"initial_resolution={initial_resolution} exceeds "
                     f"final_resolution={final_resolution}")
  if stabilize_images < 0 or fade_images < 0:
    raise ValueError(
        f"stabilize_images and fade_images must be >= 0, got "
        f"{stabilize_images} and {fade_images}")
  if isinstance(images_shown, int) and images_shown < 0:
    raise ValueError(f"images_shown must be >= 0, got {images_shown}")
  images = jnp.asarray(images_shown)
  if not jnp.issubdtype(images.dtype, jnp.integer):
    raise ValueError(
        f"images_shown must be an integer count, got dtype {images.dtype}")
  images = images.astype(jnp.int32)
  last = int(math.log2(final_resolution)) - 2
  first = int(math.log2(initial_resolution)) - 2
  period = stabilize_images + fade_images
  if period > 0:
    phase = images // period
    within = images - phase * period
  else:
    phase = jnp.zeros_like(images)
    within = images
  if fade_images > 0:
    fading = jnp.maximum(within - stabilize_images, 0)
  else:
    fading = jnp.zeros_like(images)
  is_fading = fading > 0
  level = first + phase + is_fading.astype(jnp.int32)
  alpha = jnp.where(is_fading,
                    fading.astype(jnp.float32) / max(fade_images, 1), 1.0)
  done = level > last
  level = jnp.where(done, last, level).astype(jnp.int32)
  alpha = jnp.where(done, 1.0, alpha).astype(jnp.float32)
  return level, alpha


def fade_reals(images: Array, alpha: Array | float) -> Array:
  """Fades real images between their own level and the previous one.

  .. math::
    \\tilde x = \\alpha\\, x + (1 - \\alpha)\\,
                \\mathrm{up}(\\mathrm{down}(x))

  with 2x2 average pooling and nearest 2x up-sampling, as the official
  ``process_reals`` does, so real images fade in exactly as fake ones do.

  Args:
    images: real images (B, H, W, C) at the level's resolution (H, W even).
    alpha: the fade-in alpha (scalar, may be traced).

  Returns:
    Faded images, same shape and dtype.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 3); the official
    ``train.py`` (``process_reals``).
  """
  if images.ndim != 4 or images.shape[1] % 2 or images.shape[2] % 2:
    raise ValueError(
        f"fade_reals expects (B, H, W, C) with even H and W, got "
        f"{images.shape}")
  alpha = jnp.asarray(alpha, images.dtype)
  return _lerp(upsample_nearest(mean_pool(images)), images, alpha)


def downscale_images(images: Array, resolution: int) -> Array:
  """Box-filter down-scaling of (B, S, S, C) images to ``resolution``.

  Repeated 2x2 average pooling, the way the official dataset tool builds each
  level's copy of the data.

  Args:
    images: images (B, S, S, C), S a power-of-two multiple of
      ``resolution``.
    resolution: target size.

  Returns:
    Images (B, resolution, resolution, C).
  """
  size = images.shape[1]
  if (images.ndim != 4 or images.shape[2] != size or resolution < 1
      or size % resolution or not _is_power_of_two(size // resolution)):
    raise ValueError(f"cannot downscale images of shape {images.shape} to "
                     f"resolution {resolution}")
  while images.shape[1] > resolution:
    images = mean_pool(images)
  return images


def _check_level(level: int, num_levels: int, model: str) -> int:
  try:
    level = operator.index(level)
  except TypeError as error:
    raise TypeError(
        f"{model} level must be a static Python int (one compiled program "
        f"per level), got {type(level).__name__}") from error
  if not 0 <= level < num_levels:
    raise ValueError(f"{model} level must be in [0, {num_levels - 1}], got "
                     f"{level}")
  return level


# -------------------------------------------------------------- generator --


class _GeneratorInput(nnx.Module):
  """z → 4x4 features: pixel norm, dense (gain √2/4), 3x3 convolution."""

  def __init__(self, latent_dim: int, features: int, *,
               normalize_latents: bool, dtype: Any, rngs: nnx.Rngs):
    self.features = features
    self.normalize_latents = normalize_latents
    self.dtype = dtype
    # Gain sqrt(2)/4 as in the official code; the bias is per feature map.
    self.dense = EqualizedDense(latent_dim, 16 * features, gain=_SQRT2 / 4,
                                use_bias=False, dtype=dtype, rngs=rngs)
    self.dense_bias = nnx.Param(jnp.zeros((features,), jnp.float32))
    self.conv = EqualizedConv(features, features, 3, dtype=dtype, rngs=rngs)

  def __call__(self, z: Array) -> Array:
    if self.normalize_latents:
      z = pixel_norm(z.astype(jnp.float32))
    h = self.dense(z).reshape(z.shape[0], 4, 4, self.features)
    h = h + as_dtype(self.dense_bias[...], self.dtype)
    h = pixel_norm(_leaky_relu(h))
    return pixel_norm(_leaky_relu(self.conv(h)))


class _GeneratorBlock(nnx.Module):
  """Nearest 2x up-sampling, then two 3x3 convolutions with pixel norm."""

  def __init__(self, in_features: int, out_features: int, *, dtype: Any,
               rngs: nnx.Rngs):
    self.conv0 = EqualizedConv(in_features, out_features, 3, dtype=dtype,
                               rngs=rngs)
    self.conv1 = EqualizedConv(out_features, out_features, 3, dtype=dtype,
                               rngs=rngs)

  def __call__(self, h: Array) -> Array:
    h = pixel_norm(_leaky_relu(self.conv0(upsample_nearest(h))))
    return pixel_norm(_leaky_relu(self.conv1(h)))


class ProGANGenerator(nnx.Module):
  """ProGAN generator: z (B, latent_dim) → images (B, S, S, C), S = 4·2^level.

  .. math::
    G(z) = (1 - \\alpha)\\, \\mathrm{up}(\\mathrm{rgb}_{L-1}(h_{L-1}))
           + \\alpha\\, \\mathrm{rgb}_L(h_L), \\qquad
    h_L = B_L(\\cdots B_1(B_0(z)))

  at level :math:`L > 0` (level 0 is :math:`\\mathrm{rgb}_0(B_0(z))`). The
  output is linear (no tanh); images live in [-1, 1] by training.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 3, Table 2).
  """

  def __init__(self, latent_dim: int = 512, *, resolution: int,
               channels: int, fmap_base: int = 8192, fmap_decay: float = 1.0,
               fmap_max: int = 512, normalize_latents: bool = True,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds every level's layers.

    Args:
      latent_dim: size of z (512 in the paper, :math:`n_f(0)`).
      resolution: final image size, a power of two >= 4.
      channels: image channels.
      fmap_base: see :func:`progan_features`.
      fmap_decay: see :func:`progan_features`.
      fmap_max: see :func:`progan_features`.
      normalize_latents: pixel-normalise z first (as the paper does).
      dtype: computation dtype (``None``: float32; e.g. ``jnp.bfloat16``);
        parameters are
        float32 and images are returned in float32.
      rngs: parameter initialisation keys.
    """
    self.num_levels = _num_levels(resolution, "ProGANGenerator")
    self.latent_dim = latent_dim
    self.resolution = resolution
    self.channels = channels
    nf = [progan_features(s, fmap_base=fmap_base, fmap_decay=fmap_decay,
                          fmap_max=fmap_max)
          for s in range(self.num_levels + 1)]
    blocks: list[nnx.Module] = [_GeneratorInput(
        latent_dim, nf[1], normalize_latents=normalize_latents, dtype=dtype,
        rngs=rngs)]
    blocks += [_GeneratorBlock(nf[k], nf[k + 1], dtype=dtype, rngs=rngs)
               for k in range(1, self.num_levels)]
    self.blocks = nnx.List(blocks)
    self.to_rgb = nnx.List([
        EqualizedConv(nf[k + 1], channels, 1, gain=1.0, dtype=dtype,
                      rngs=rngs)
        for k in range(self.num_levels)])

  def __call__(self, z: Array, labels: Array | None = None, *, level: int,
               alpha: Array | float,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Generates images at ``level``.

    Args:
      z: latent codes (B, latent_dim).
      labels: must be None (this generator is unconditional).
      level: static Python int in [0, num_levels); 0 is 4x4.
      alpha: fade-in weight of the newest level, scalar in [0, 1] (may be
        traced); ignored at level 0.
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Images (B, 4·2^level, 4·2^level, channels), float32.
    """
    del rngs
    label_one_hot(labels, None, model="ProGANGenerator")
    level = _check_level(level, self.num_levels, "ProGANGenerator")
    if z.ndim != 2 or z.shape[1] != self.latent_dim:
      raise ValueError(f"ProGANGenerator expects z of shape "
                       f"(B, {self.latent_dim}), got {z.shape}")
    h = z
    for block in self.blocks[:level]:
      h = block(h)
    new = self.to_rgb[level](self.blocks[level](h)).astype(jnp.float32)
    if level == 0:
      return new
    old = upsample_nearest(self.to_rgb[level - 1](h)).astype(jnp.float32)
    alpha = jnp.clip(jnp.asarray(alpha, jnp.float32), 0.0, 1.0)
    return _lerp(old, new, alpha)


# ----------------------------------------------------------------- critic --


class _CriticBlock(nnx.Module):
  """Two 3x3 convolutions with leaky ReLU, then 2x2 average pooling."""

  def __init__(self, in_features: int, out_features: int, *, dtype: Any,
               rngs: nnx.Rngs):
    self.conv0 = EqualizedConv(in_features, in_features, 3, dtype=dtype,
                               rngs=rngs)
    self.conv1 = EqualizedConv(in_features, out_features, 3, dtype=dtype,
                               rngs=rngs)

  def __call__(self, h: Array) -> Array:
    h = _leaky_relu(self.conv0(h))
    return mean_pool(_leaky_relu(self.conv1(h)))


class _CriticOutput(nnx.Module):
  """The 4x4 block: minibatch stddev, 3x3 conv, dense, dense (gain 1)."""

  def __init__(self, features: int, hidden: int, *, mbstd_group_size: int,
               dtype: Any, rngs: nnx.Rngs):
    self.mbstd_group_size = mbstd_group_size
    extra = 1 if mbstd_group_size > 1 else 0
    self.conv = EqualizedConv(features + extra, features, 3, dtype=dtype,
                              rngs=rngs)
    self.dense0 = EqualizedDense(16 * features, hidden, dtype=dtype,
                                 rngs=rngs)
    self.dense1 = EqualizedDense(hidden, 1, gain=1.0, dtype=dtype, rngs=rngs)

  def __call__(self, h: Array) -> Array:
    if self.mbstd_group_size > 1:
      h = minibatch_stddev(h, group_size=self.mbstd_group_size)
    h = _leaky_relu(self.conv(h))
    h = _leaky_relu(self.dense0(h.reshape(h.shape[0], -1)))
    return self.dense1(h)[:, 0]


class ProGANCritic(nnx.Module):
  """ProGAN critic: images (B, S, S, C), S = 4·2^level → scores (B,).

  .. math::
    D(x) = B_0(B_1(\\cdots B_{L-1}(e_L))), \\qquad
    e_L = (1 - \\alpha)\\, \\mathrm{from}_{L-1}(\\mathrm{down}(x))
          + \\alpha\\, B_L(\\mathrm{from}_L(x))

  at level :math:`L > 0` (level 0 is :math:`B_0(\\mathrm{from}_0(x))`). The
  minibatch standard deviation in :math:`B_0` couples the examples of a
  batch: take gradient penalties with ``mode="batch"``.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Sections 3 and 4, Table 2).
  """

  def __init__(self, *, resolution: int, channels: int,
               fmap_base: int = 8192, fmap_decay: float = 1.0,
               fmap_max: int = 512, mbstd_group_size: int = 4,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds every level's layers.

    Args:
      resolution: final image size, a power of two >= 4.
      channels: image channels.
      fmap_base: see :func:`progan_features`.
      fmap_decay: see :func:`progan_features`.
      fmap_max: see :func:`progan_features`.
      mbstd_group_size: group size of the minibatch standard deviation (4
        in the paper; 0 or 1 removes the layer).
      dtype: computation dtype (``None``: float32; e.g. ``jnp.bfloat16``);
        parameters are
        float32 and scores are returned in float32.
      rngs: parameter initialisation keys.
    """
    self.num_levels = _num_levels(resolution, "ProGANCritic")
    self.resolution = resolution
    self.channels = channels
    nf = [progan_features(s, fmap_base=fmap_base, fmap_decay=fmap_decay,
                          fmap_max=fmap_max)
          for s in range(self.num_levels + 1)]
    self.from_rgb = nnx.List([
        EqualizedConv(channels, nf[k + 1], 1, dtype=dtype, rngs=rngs)
        for k in range(self.num_levels)])
    blocks: list[nnx.Module] = [_CriticOutput(
        nf[1], nf[0], mbstd_group_size=mbstd_group_size, dtype=dtype,
        rngs=rngs)]
    blocks += [_CriticBlock(nf[k + 1], nf[k], dtype=dtype, rngs=rngs)
               for k in range(1, self.num_levels)]
    self.blocks = nnx.List(blocks)

  def __call__(self, x: Array, labels: Array | None = None, *, level: int,
               alpha: Array | float,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Scores images at ``level``.

    Args:
      x: images (B, 4·2^level, 4·2^level, channels).
      labels: must be None (this critic is unconditional).
      level: static Python int in [0, num_levels); 0 is 4x4.
      alpha: fade-in weight of the newest level, scalar in [0, 1] (may be
        traced); ignored at level 0.
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Raw scores (B,), float32.
    """
    del rngs
    label_one_hot(labels, None, model="ProGANCritic")
    level = _check_level(level, self.num_levels, "ProGANCritic")
    size = level_resolution(level)
    if x.shape[1:] != (size, size, self.channels):
      raise ValueError(
          f"ProGANCritic at level {level} expects images of shape "
          f"(B, {size}, {size}, {self.channels}), got {x.shape}")
    h = self.blocks[level](_leaky_relu(self.from_rgb[level](x)))
    if level > 0:
      low = _leaky_relu(self.from_rgb[level - 1](mean_pool(x)))
      alpha = jnp.clip(jnp.asarray(alpha, jnp.float32), 0.0, 1.0)
      h = _lerp(low, h, alpha.astype(h.dtype))
      for block in self.blocks[level - 1::-1]:
        h = block(h)
    return h.astype(jnp.float32)
