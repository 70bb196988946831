"""How sharp images are: the mean magnitude of their finite-difference gradient.

pix2pix (Isola et al., arXiv 1611.07004) argues that an L1 loss alone gives
blurry outputs and the adversarial term sharpens them. Blur lowers image
gradients, so :func:`mean_gradient_magnitude` of generated images, beside that
of the real ones, measures the claim without a trained network.
"""

from __future__ import annotations

import numpy as np


def mean_gradient_magnitude(images) -> float:
  """The mean, over images, pixels and channels, of the forward-difference gradient norm.

  .. math::
    \\frac{1}{N (H-1) (W-1) C} \\sum_{n,i,j,c}
      \\sqrt{(x_{n,i+1,j,c} - x_{n,i,j,c})^2 + (x_{n,i,j+1,c} - x_{n,i,j,c})^2}

  Args:
    images: ``[N, H, W, C]`` (or ``[N, H, W]``) floats, ``H, W >= 2``.

  Returns:
    The mean gradient magnitude, in pixel-value units per pixel.

  References:
    Isola et al., "Image-to-Image Translation with Conditional Adversarial
    Networks", arXiv 1611.07004.
  """
  images = np.asarray(images, dtype=np.float64)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[0] == 0 or min(images.shape[1:3]) < 2:
    raise ValueError(
        "images must be [N, H, W] or [N, H, W, C] with N > 0 and H, W >= 2, got shape "
        f"{images.shape}")
  dy = images[:, 1:, :-1] - images[:, :-1, :-1]
  dx = images[:, :-1, 1:] - images[:, :-1, :-1]
  return float(np.mean(np.sqrt(dx * dx + dy * dy)))
