"""Reconstruction quality: PSNR, and the scores of a denoising autoencoder.

The peak signal-to-noise ratio of an image :math:`x` against a clean
reference :math:`y` with pixel range :math:`R` (the distance from the
darkest to the brightest possible value: 1 for ``[0, 1]`` images, 2 for
``[-1, 1]``, 255 for 8-bit) is

.. math::
  \\mathrm{PSNR}(x, y) = 10 \\log_{10} \\frac{R^2}{\\mathrm{MSE}(x, y)}
  \\quad \\text{dB},

higher is better, infinite for a perfect copy. The mean squared error
itself (per example) is :func:`gans_jax.losses.reconstruction_energy`. For
multi-scale structural similarity see :mod:`gans_jax.eval.ms_ssim`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = ["denoising_scores", "psnr"]


def psnr(x: ArrayLike, reference: ArrayLike, *, data_range: float) -> Array:
  """Peak signal-to-noise ratio of each image against its reference, in dB.

  Args:
    x: images to score, ``(B, ...)``.
    reference: the clean images, same shape.
    data_range: :math:`R`, the width of the pixel range (1.0 for ``[0, 1]``,
      2.0 for ``[-1, 1]``, 255 for 8-bit). Required: the same images give
      different numbers on different scales.

  Returns:
    ``(B,)``: one PSNR per image over all its pixels (``inf`` where ``x``
    equals the reference); average the values, not the errors, for the
    usual mean PSNR of a set.
  """
  x = jnp.asarray(x, dtype=jnp.result_type(x, jnp.float32))
  reference = jnp.asarray(reference, dtype=x.dtype)
  if x.shape != reference.shape or x.ndim < 2:
    raise ValueError(f"psnr: x and reference must share one (B, ...) shape, "
                     f"got {x.shape} and {reference.shape}")
  if isinstance(data_range, (int, float)) and not data_range > 0:
    raise ValueError(f"data_range must be positive, got {data_range}")
  squared = jnp.square(x - reference).reshape(x.shape[0], -1)
  mse = jnp.mean(squared, axis=1)
  return 10.0 * (2.0 * jnp.log10(jnp.asarray(data_range, x.dtype))
                 - jnp.log10(mse))


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
