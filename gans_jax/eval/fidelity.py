"""Fidelity of reconstructed images to their references: PSNR and SSIM, a
denoising autoencoder's PSNR before and after, and the bicubic resampling of
super-resolution's inputs and baseline.

Both metrics take the pixel range explicitly (``data_range``: 2 for images
in [-1, 1], 1 for [0, 1], 255 for 8-bit values) because a wrong range
silently shifts PSNR by ``20 log10`` of the ratio and changes SSIM's
constants. They return one value per image pair; SRGAN reports the means.

References:
  Ledig et al., 2017 (arXiv 1609.04802), Section 3.2 (PSNR and SSIM of 4x
  upscaled images against the originals, bicubic as the baseline);
  Wang, Bovik, Sheikh & Simoncelli, Image Quality Assessment: From Error
  Visibility to Structural Similarity, 2004 (IEEE TIP 13(4)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gans_jax.eval import ms_ssim

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = ["bicubic_downsample", "bicubic_upsample", "denoising_scores", "psnr",
           "ssim"]


def _check_pair(x: Array, y: Array) -> tuple[Array, Array]:
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  if x.ndim != 4 or x.shape != y.shape:
    raise ValueError(f"x and y must be images (N, H, W, C) of the same shape, "
                     f"got {x.shape} and {y.shape}")
  return x, y


def psnr(x: ArrayLike, y: ArrayLike, *, data_range: float) -> Array:
  """Peak signal-to-noise ratio of each image against its reference, in dB.

  .. math::
    \\mathrm{PSNR}(x, y) = 10 \\log_{10} \\frac{R^2}{\\mathrm{MSE}(x, y)}

  Args:
    x: images to score, ``(B, ...)``.
    y: the reference (clean) images, same shape.
    data_range: :math:`R`, the width of the pixel range (1.0 for ``[0, 1]``,
      2.0 for ``[-1, 1]``, 255 for 8-bit). Required: the same images give
      different numbers on different scales.

  Returns:
    ``(B,)``: one PSNR per image over all its pixels (``inf`` where ``x``
    equals the reference); average the values, not the errors, for the
    usual mean PSNR of a set.
  """
  x = jnp.asarray(x, dtype=jnp.result_type(x, jnp.float32))
  y = jnp.asarray(y, dtype=x.dtype)
  if x.shape != y.shape or x.ndim < 2:
    raise ValueError(f"psnr: x and y must share one (B, ...) shape, "
                     f"got {x.shape} and {y.shape}")
  if isinstance(data_range, (int, float)) and not data_range > 0:
    raise ValueError(f"data_range must be positive, got {data_range}")
  squared = jnp.square(x - y).reshape(x.shape[0], -1)
  mse = jnp.mean(squared, axis=1)
  return 10.0 * (2.0 * jnp.log10(jnp.asarray(data_range, x.dtype))
                 - jnp.log10(mse))


def ssim(x: Array, y: Array, *, data_range: float) -> Array:
  """Structural similarity of each image pair (Wang et al., 2004).

  The mean over window positions and channels of

  .. math::
    \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
         {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)},
    \\quad C_1 = (0.01 L)^2, \\; C_2 = (0.03 L)^2,

  with Gaussian-weighted local statistics (11x11 window, σ = 1.5,
  population variances) at every position where the window lies inside
  the image: the single-scale term of :func:`gans_jax.eval.ms_ssim.ssim`,
  and scikit-image's ``structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False)``. Images must be at least 11
  pixels on each side for the standard window.

  Args:
    x: images (N, H, W, C).
    y: reference images of the same shape.
    data_range: :math:`L`, the span of the pixel values.

  Returns:
    (N,) float32.
  """
  x, y = _check_pair(x, y)
  if min(x.shape[1:3]) < 11:
    raise ValueError(f"ssim needs images of at least 11x11 pixels for its "
                     f"11x11 window, got {x.shape[1:3]}")
  # The range enters only through C1 and C2: pixels need not start at 0.
  return ms_ssim.ssim(x, y, max_val=float(data_range))[0]


def _resize(images: Array, height: int, width: int) -> Array:
  images = jnp.asarray(images, jnp.float32)
  return jax.image.resize(images, (images.shape[0], height, width,
                                   images.shape[3]), method="cubic",
                          antialias=True)


def bicubic_downsample(images: Array, factor: int) -> Array:
  """Images (N, H, W, C) to (N, H/factor, W/factor, C), bicubic with
  antialiasing (the paper's low-resolution inputs; ``jax.image.resize``
  with ``'cubic'``, Keys' a = -0.5)."""
  h, w = jnp.shape(images)[1:3]
  if h % factor or w % factor:
    raise ValueError(f"image sides {h}x{w} must be multiples of {factor}")
  return _resize(images, h // factor, w // factor)


def bicubic_upsample(images: Array, factor: int) -> Array:
  """Images (N, h, w, C) to (N, factor·h, factor·w, C), bicubic: the
  baseline every super-resolution method is compared with."""
  h, w = jnp.shape(images)[1:3]
  return _resize(images, h * factor, w * factor)


def denoising_scores(clean: ArrayLike, noisy: ArrayLike,
                     denoised: ArrayLike, *,
                     data_range: float) -> dict[str, Array]:
  """Mean PSNR of a denoising autoencoder's input and output, both against
  the clean images.

  Args:
    clean: the clean images, ``(B, ...)``.
    noisy: the corrupted inputs given to the autoencoder, same shape.
    denoised: its reconstructions of ``noisy``, same shape.
    data_range: the width of the pixel range (see :func:`psnr`).

  Returns:
    ``{'psnr_noisy': ..., 'psnr_denoised': ..., 'psnr_gain': ...}``: the
    mean PSNR (dB) of the noisy inputs and of the reconstructions against
    ``clean``, and their difference (positive when the autoencoder removes
    noise).
  """
  noisy_db = jnp.mean(psnr(noisy, clean, data_range=data_range))
  denoised_db = jnp.mean(psnr(denoised, clean, data_range=data_range))
  return {"psnr_noisy": noisy_db, "psnr_denoised": denoised_db,
          "psnr_gain": denoised_db - noisy_db}
