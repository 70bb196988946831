"""Multi-scale structural similarity (MS-SSIM) between images.

ProGAN measures the variety of generated images by the average MS-SSIM
between random pairs of them (lower means more varied), following Odena et
al. (2017). This module computes it as the official
``metrics/ms_ssim.py`` does (itself the TensorFlow port of Wang's MATLAB
code): five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), an
11x11 Gaussian window with σ = 1.5 applied without padding ('valid', window
and σ shrunk proportionally on images smaller than 11 pixels), K1 = 0.01,
K2 = 0.03, 2x2 average pooling between scales, per-scale values clipped at
0, and pixel values in [0, 255].

References:
  Wang, Simoncelli & Bovik, Multiscale Structural Similarity for Image
  Quality Assessment, 2003; Wang, Bovik, Sheikh & Simoncelli, Image Quality
  Assessment: From Error Visibility to Structural Similarity, 2004; Odena,
  Olah & Shlens, 2017, arXiv 1610.09585; Karras et al., 2018,
  arXiv 1710.10196 (Section 5).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gans_jax.eval.swd import pixel_values
from gans_jax.nn.resnet import mean_pool

Array = jax.Array

__all__ = ["MS_SSIM_WEIGHTS", "mean_ms_ssim", "ms_ssim", "ssim"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Per-scale exponents of Wang et al. (2003), finest scale first."""


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
  # Samples at offsets from the window's centre (half-integers for even
  # sizes), normalised; the 2-D window is the outer product of these taps.
  offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  taps = np.exp(-offsets ** 2 / (2.0 * sigma ** 2))
  return (taps / taps.sum()).astype(np.float32)


def _valid_filter(x: Array, taps: np.ndarray) -> Array:
  """'Valid' filtering of each channel of (N, H, W, C) by outer(taps, taps)."""
  n, h, w, c = x.shape
  window = jnp.asarray(np.outer(taps, taps)[:, :, None, None])
  planes = jnp.moveaxis(x, 3, 1).reshape(n * c, h, w, 1)
  out = jax.lax.conv_general_dilated(
      planes, window, window_strides=(1, 1), padding="VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=jax.lax.Precision.HIGHEST)
  return jnp.moveaxis(out.reshape(n, c, *out.shape[1:3]), 1, 3)


@functools.partial(jax.jit, static_argnames=("max_val", "filter_size",
                                             "filter_sigma", "k1", "k2"))
def ssim(x: Array, y: Array, *, max_val: float, filter_size: int = 11,
         filter_sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> tuple[Array, Array]:
  """Single-scale SSIM and contrast-structure term of each image pair.

  .. math::
    \\mathrm{SSIM} = \\operatorname{mean}
      \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
           {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)},
    \\qquad
    \\mathrm{CS} = \\operatorname{mean}
      \\frac{2\\sigma_{xy} + C_2}{\\sigma_x^2 + \\sigma_y^2 + C_2}

  with local Gaussian-weighted means, (population) variances and
  covariance over every window position lying fully inside the image, the
  mean over positions and channels, :math:`C_i = (K_i L)^2` and :math:`L`
  = ``max_val``. The window has ``min(filter_size, H, W)`` taps and σ
  scaled by the same factor.

  Args:
    x: images (N, H, W, C) with values in [0, max_val].
    y: images of the same shape.
    max_val: the dynamic range :math:`L` (255 for 8-bit pixel values).
    filter_size: window size (11).
    filter_sigma: window σ (1.5).
    k1: :math:`K_1` (0.01).
    k2: :math:`K_2` (0.03).

  Returns:
    ``(ssim, cs)``, float32 arrays of shape (N,).

  References:
    Wang, Bovik, Sheikh & Simoncelli, 2004 (IEEE TIP 13(4)).
  """
  if x.ndim != 4 or x.shape != y.shape:
    raise ValueError(f"x and y must be (N, H, W, C) of the same shape, got "
                     f"{x.shape} and {y.shape}")
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  size = min(filter_size, x.shape[1], x.shape[2])
  taps = _gaussian_taps(size, size * filter_sigma / filter_size)
  # Moments of images shifted by their own means: the same variances and
  # covariance, without float32 cancellation in E[x^2] - mu^2 on bright
  # images.
  offset_x = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  offset_y = jnp.mean(y, axis=(1, 2, 3), keepdims=True)
  x, y = x - offset_x, y - offset_y
  mu_x = _valid_filter(x, taps)
  mu_y = _valid_filter(y, taps)
  var_x = _valid_filter(x * x, taps) - mu_x * mu_x
  var_y = _valid_filter(y * y, taps) - mu_y * mu_y
  cov = _valid_filter(x * y, taps) - mu_x * mu_y
  mu_x, mu_y = mu_x + offset_x, mu_y + offset_y
  c1 = (k1 * max_val) ** 2
  c2 = (k2 * max_val) ** 2
  contrast_structure = (2.0 * cov + c2) / (var_x + var_y + c2)
  luminance = (2.0 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
  axes = (1, 2, 3)
  return (jnp.mean(luminance * contrast_structure, axis=axes),
          jnp.mean(contrast_structure, axis=axes))


def ms_ssim(x: Array, y: Array, *, max_val: float,
            weights: Sequence[float] = MS_SSIM_WEIGHTS,
            filter_size: int = 11, filter_sigma: float = 1.5,
            k1: float = 0.01, k2: float = 0.03) -> Array:
  """Multi-scale SSIM of each image pair.

  .. math::
    \\mathrm{MS\\text{-}SSIM} = \\mathrm{SSIM}_M^{\\,w_M}
      \\prod_{j=1}^{M-1} \\mathrm{CS}_j^{\\,w_j}

  where scale :math:`j + 1` is scale :math:`j` average-pooled 2x2, and each
  :math:`\\mathrm{SSIM}_j, \\mathrm{CS}_j` (see :func:`ssim`) is clipped at
  0 first. The luminance term depends on where 0 is: images in [-1, 1]
  should be mapped to [0, 255] first (:func:`mean_ms_ssim` does this).

  Args:
    x: images (N, H, W, C) with values in [0, max_val], H and W divisible
      by :math:`2^{M-1}`.
    y: images of the same shape.
    max_val: the dynamic range (255 for 8-bit pixel values).
    weights: the exponents :math:`w_1..w_M`, finest scale first.
    filter_size: window size (11).
    filter_sigma: window σ (1.5).
    k1: :math:`K_1` (0.01).
    k2: :math:`K_2` (0.03).

  Returns:
    Float32 array (N,).

  References:
    Wang, Simoncelli & Bovik, 2003 (Asilomar); the official ProGAN
    ``metrics/ms_ssim.py``.
  """
  if x.ndim != 4 or x.shape != y.shape:
    raise ValueError(f"x and y must be (N, H, W, C) of the same shape, got "
                     f"{x.shape} and {y.shape}")
  scales = len(weights)
  if scales < 1:
    raise ValueError("weights must name at least one scale")
  factor = 2 ** (scales - 1)
  if x.shape[1] % factor or x.shape[2] % factor:
    raise ValueError(
        f"{scales} scales need H and W divisible by {factor}, got images of "
        f"shape {x.shape}")
  return _ms_ssim(x, y, max_val=float(max_val),
                  weights=tuple(float(w) for w in weights),
                  filter_size=filter_size, filter_sigma=float(filter_sigma),
                  k1=float(k1), k2=float(k2))


@functools.partial(jax.jit, static_argnames=("max_val", "weights",
                                             "filter_size", "filter_sigma",
                                             "k1", "k2"))
def _ms_ssim(x, y, *, max_val, weights, filter_size, filter_sigma, k1, k2):
  scales = len(weights)
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  result = jnp.ones(x.shape[0], jnp.float32)
  options = dict(max_val=max_val, filter_size=filter_size,
                 filter_sigma=filter_sigma, k1=k1, k2=k2)
  for j, weight in enumerate(weights):
    similarity, contrast_structure = ssim(x, y, **options)
    term = similarity if j == scales - 1 else contrast_structure
    result = result * jnp.maximum(term, 0.0) ** weight
    if j < scales - 1:
      x, y = mean_pool(x), mean_pool(y)
  return result


@functools.partial(jax.jit, static_argnames=("quantize",))
def _pair_ms_ssim(a, b, *, quantize):
  return ms_ssim(pixel_values(a, quantize=quantize),
                 pixel_values(b, quantize=quantize), max_val=255.0)


def mean_ms_ssim(images: Array, key: Array, *, num_pairs: int | None = None,
                 batch_size: int = 256, quantize: bool = True) -> Array:
  """Average MS-SSIM over random pairs of distinct images of one set.

  ProGAN's variety measure: lower values mean more varied images. With
  ``num_pairs=None`` the set is shuffled and split into N // 2 disjoint
  pairs (each image used once, as the official evaluation pairs
  consecutive generated images); otherwise ``num_pairs`` pairs
  :math:`(i, j)`, :math:`i \\ne j`, are drawn uniformly with replacement.

  Args:
    images: images (N, H, W, C) in [-1, 1], N >= 2, H and W divisible by
      16.
    key: PRNG key for the pairing.
    num_pairs: number of pairs, or None for N // 2 disjoint pairs.
    batch_size: pairs per compiled call (memory only).
    quantize: clip and round to uint8 levels first, as the official
      evaluation does.

  Returns:
    A float32 scalar.

  References:
    Odena, Olah & Shlens, 2017, arXiv 1610.09585 (Section 4.2); Karras et
    al., 2018, arXiv 1710.10196 (Section 5).
  """
  images = jnp.asarray(images)
  n = images.shape[0]
  if images.ndim != 4 or n < 2:
    raise ValueError(f"images must be (N, H, W, C) with N >= 2, got "
                     f"{images.shape}")
  if num_pairs is None:
    order = jax.random.permutation(key, n)
    first, second = order[0:n - n % 2:2], order[1:n - n % 2:2]
  else:
    if num_pairs < 1:
      raise ValueError(f"num_pairs must be >= 1 or None, got {num_pairs}")
    key_first, key_offset = jax.random.split(key)
    first = jax.random.randint(key_first, (num_pairs,), 0, n)
    # A non-zero offset modulo N makes j uniform over the other images.
    second = (first + jax.random.randint(key_offset, (num_pairs,), 1, n)) % n
  scores = [
      _pair_ms_ssim(images[first[s:s + batch_size]],
                    images[second[s:s + batch_size]], quantize=quantize)
      for s in range(0, first.shape[0], batch_size)]
  return jnp.mean(jnp.concatenate(scores))
