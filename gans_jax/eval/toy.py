"""Mode coverage and sample quality on 2-D Gaussian-mixture toys.

The standard metrics for the 8- and 25-Gaussian toys (VEEGAN, PacGAN): each
generated sample is assigned to its nearest mixture centre; it is *high
quality* when that centre lies within ``threshold`` standard deviations of it,
and a mode is *covered* when enough high-quality samples are assigned to it.
"""

import math

import numpy as np


def mode_metrics(samples, centers, std: float, *, threshold: float = 3.0,
                 min_share: float = 0.0) -> dict:
  """Counts covered modes and the fraction of high-quality samples.

  A sample :math:`x` is assigned to :math:`c(x) = \\arg\\min_k \\lVert x -
  \\mu_k \\rVert` and is high quality when :math:`\\lVert x - \\mu_{c(x)}
  \\rVert \\le t \\sigma`. With :math:`n_k` high-quality samples assigned to
  mode :math:`k`, :math:`N` samples and :math:`K` modes, mode :math:`k` is
  covered when

  .. math::
    n_k \\ge \\max\\big(1, \\lceil s \\cdot N / K \\rceil\\big),

  where :math:`s` is ``min_share``. The default ``min_share=0`` is VEEGAN's
  rule (one high-quality sample suffices); ``min_share=0.2`` is the stricter
  rule that asks for a fifth of a mode's fair share of samples (20 of the
  expected 100 when drawing 2,500 samples from 25 modes, as in PacGAN).

  Args:
    samples: generated points, ``[N, d]`` (``d = 2`` for the usual toys).
    centers: the mixture's centres, ``[K, d]``, in the same coordinates
      (after any rescaling the data set applies).
    std: the mixture's per-coordinate standard deviation, same coordinates.
    threshold: the high-quality radius, in standard deviations.
    min_share: fraction of the fair share ``N / K`` a mode needs to count as
      covered (at least one sample in any case).

  Returns:
    ``{'modes_covered': int, 'num_modes': int, 'high_quality_fraction':
    float, 'counts': int array [K]}``, ``counts`` being the number of
    high-quality samples assigned to each mode.

  References:
    Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit
    Variational Learning", arXiv 1705.07761; Lin et al., "PacGAN: The power
    of two samples in generative adversarial networks", arXiv 1712.04086.
  """
  samples = np.asarray(samples, dtype=np.float64)
  centers = np.asarray(centers, dtype=np.float64)
  if samples.ndim != 2 or samples.shape[0] == 0:
    raise ValueError(f"samples must be [N, d] with N > 0, got shape {samples.shape}.")
  if centers.ndim != 2 or centers.shape[0] == 0:
    raise ValueError(f"centers must be [K, d] with K > 0, got shape {centers.shape}.")
  if samples.shape[1] != centers.shape[1]:
    raise ValueError(
        f"samples have shape {samples.shape} but centers have shape "
        f"{centers.shape}: the point dimensions differ.")
  if not std > 0:
    raise ValueError(f"std must be positive, got {std}.")
  if threshold <= 0 or min_share < 0:
    raise ValueError(
        f"threshold must be positive and min_share non-negative, got "
        f"threshold={threshold}, min_share={min_share}.")
  num_samples, num_modes = samples.shape[0], centers.shape[0]
  distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)
  nearest = np.argmin(distances, axis=1)
  # Non-finite samples (a diverged generator) are never high quality.
  high_quality = distances[np.arange(num_samples), nearest] <= threshold * std
  counts = np.bincount(nearest[high_quality], minlength=num_modes)
  # The small slack keeps float rounding (0.2 * 2500 / 25) from adding one.
  min_count = max(1, math.ceil(min_share * num_samples / num_modes - 1e-9))
  return {
      "modes_covered": int(np.sum(counts >= min_count)),
      "num_modes": int(num_modes),
      "high_quality_fraction": float(np.mean(high_quality)),
      "counts": counts,
  }
