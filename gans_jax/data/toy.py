"""The papers' toy distributions: numpy samplers with known structure.

Each distribution is a :class:`ToyDistribution`: a sampler plus, where the
structure is known, the mode centres and per-mode standard deviation (for
mode-coverage metrics) and the exact log-density (for divergence estimates by
quadrature).

* ``'8gaussians'``, ``'25gaussians'``, ``'swissroll'``: the datasets of the
  official WGAN-GP toy code, with its centres, noise and scaling.
* ``'ring'``: the unrolled GAN's ring of 8 Gaussians (radius 1, std 0.01).
* ``'fgan_mixture'``: a 1-D two-component Gaussian mixture for the f-GAN
  experiment of fitting a single Gaussian to a mixture.
* ``'parallel_lines'``: WGAN's Example 1, the law of ``(theta, Z)``.

References:
  Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv 1704.00028.
  Nowozin, Cseke & Tomioka, "f-GAN", arXiv 1606.00709.
  Arjovsky, Chintala & Bottou, "Wasserstein GAN", arXiv 1701.07875.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from gans_jax.data import base

Sampler = Callable[[np.random.Generator, int], np.ndarray]
LogDensity = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True, eq=False)
class ToyDistribution:
  """A toy data distribution with whatever structure is known about it.

  Attributes:
    name: registry name (or a descriptive name for parametrised ones).
    dim: dimension ``d`` of a sample.
    sample: ``sample(rng, n) -> (n, d) float32`` draws ``n`` i.i.d. points.
    centers: ``(k, d)`` mode centres of a mixture, or ``None``.
    std: per-mode standard deviation in the same (scaled) units as the
      samples: a float when every mode shares it, else a ``(k,)`` array;
      ``None`` when there are no modes.
    weights: ``(k,)`` mixture weights, or ``None``.
    log_density_fn: exact ``log p(x)`` for ``x`` of shape ``(n, d)``, or
      ``None`` where no density exists or none is known.
  """

  name: str
  dim: int
  sample: Sampler
  centers: np.ndarray | None = None
  std: float | np.ndarray | None = None
  weights: np.ndarray | None = None
  log_density_fn: LogDensity | None = None

  @property
  def has_density(self) -> bool:
    return self.log_density_fn is not None

  def _as_points(self, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if self.dim == 1 and x.ndim == 1:
      x = x[:, None]
    if x.ndim != 2 or x.shape[1] != self.dim:
      raise ValueError(
          f"x must have shape (n, {self.dim}) for {self.name!r}, got {x.shape}")
    return x

  def log_density(self, x: np.ndarray) -> np.ndarray:
    """Exact ``log p(x)``, shape ``(n,)``; 1-D points may come as ``(n,)``."""
    if self.log_density_fn is None:
      raise ValueError(f"toy distribution {self.name!r} has no known density")
    return self.log_density_fn(self._as_points(x))

  def pdf(self, x: np.ndarray) -> np.ndarray:
    """Exact density ``p(x) = exp(log p(x))``, shape ``(n,)``."""
    return np.exp(self.log_density(x))

  def bounds(self, *, num_std: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """A box holding all modes: centres -/+ ``num_std`` per-mode stds.

    Args:
      num_std: half-width of the margin around each centre, in stds.

    Returns:
      ``(low, high)``, each of shape ``(d,)``.
    """
    if self.centers is None or self.std is None:
      raise ValueError(f"toy distribution {self.name!r} has no mode centres")
    margin = num_std * np.max(self.std)
    return (self.centers.min(axis=0) - margin,
            self.centers.max(axis=0) + margin)


def quadrature_grid(
    low: np.ndarray | float,
    high: np.ndarray | float,
    *,
    num_points: int,
) -> tuple[np.ndarray, np.ndarray]:
  """Tensor-product trapezoid grid on the box ``[low, high]`` in ``d`` dims.

  .. math::
    \\int_{[l, h]} g(x)\\,dx \\approx \\sum_i w_i\\, g(x_i)

  With ``d = 1`` this gives the exact-density divergences of the f-GAN
  mixture experiment, e.g. :math:`\\sum_i w_i q(x_i) f(p(x_i)/q(x_i))`.

  Args:
    low: lower corner, scalar or shape ``(d,)``.
    high: upper corner, same shape as ``low``.
    num_points: grid points per dimension (>= 2).

  Returns:
    ``(points, weights)``: points ``(num_points**d, d)`` and trapezoid
    weights ``(num_points**d,)``, both float64.
  """
  low = np.atleast_1d(np.asarray(low, dtype=np.float64))
  high = np.atleast_1d(np.asarray(high, dtype=np.float64))
  if low.shape != high.shape or low.ndim != 1:
    raise ValueError(
        f"low and high must be scalars or equal (d,) vectors, got "
        f"{low.shape} and {high.shape}")
  if np.any(high <= low):
    raise ValueError(f"high must exceed low, got low={low}, high={high}")
  if num_points < 2:
    raise ValueError(f"num_points must be >= 2, got {num_points}")
  axes, axis_weights = [], []
  for lo, hi in zip(low, high):
    axes.append(np.linspace(lo, hi, num_points))
    w = np.full(num_points, (hi - lo) / (num_points - 1))
    w[[0, -1]] *= 0.5
    axis_weights.append(w)
  points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
  weights = np.ones(())
  for w in axis_weights:
    weights = np.multiply.outer(weights, w)
  return points.reshape(-1, len(axes)), weights.reshape(-1)


def _isotropic_mixture_log_density(
    centers: np.ndarray, stds: np.ndarray, weights: np.ndarray) -> LogDensity:
  """Exact log-density of ``sum_k w_k N(c_k, s_k^2 I)``."""
  log_w = np.log(weights)
  dim = centers.shape[1]

  def log_density(x: np.ndarray) -> np.ndarray:
    sq = ((x[:, None, :] - centers[None]) ** 2).sum(-1)  # (n, k)
    log_comp = (log_w - dim * np.log(stds)
                - 0.5 * dim * math.log(2 * math.pi) - 0.5 * sq / stds**2)
    peak = log_comp.max(axis=1, keepdims=True)
    return (peak + np.log(np.exp(log_comp - peak).sum(1, keepdims=True)))[:, 0]

  return log_density


def gaussian_mixture(
    *,
    name: str,
    centers: np.ndarray,
    stds: float | np.ndarray,
    weights: np.ndarray | None = None,
) -> ToyDistribution:
  """An isotropic Gaussian mixture with exact sampler and log-density.

  .. math::
    p(x) = \\sum_k w_k\\, \\mathcal{N}(x;\\, c_k,\\, s_k^2 I)

  Args:
    name: the distribution's name.
    centers: ``(k, d)`` component means.
    stds: shared std (float) or ``(k,)`` per-component stds.
    weights: ``(k,)`` mixture weights summing to one; uniform if ``None``.

  Returns:
    The :class:`ToyDistribution`.
  """
  centers = np.asarray(centers, dtype=np.float64)
  if centers.ndim != 2:
    raise ValueError(f"centers must have shape (k, d), got {centers.shape}")
  num_modes, dim = centers.shape
  std_vec = np.broadcast_to(np.asarray(stds, np.float64), (num_modes,)).copy()
  if np.any(std_vec <= 0):
    raise ValueError(f"stds must be positive, got {stds}")
  if weights is None:
    weights = np.full(num_modes, 1.0 / num_modes)
  weights = np.asarray(weights, dtype=np.float64)
  if weights.shape != (num_modes,) or np.any(weights < 0):
    raise ValueError(
        f"weights must be {num_modes} non-negative numbers, got {weights}")
  if not math.isclose(weights.sum(), 1.0, rel_tol=1e-9):
    raise ValueError(f"weights must sum to 1, got {weights.sum()}")

  def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    modes = rng.choice(num_modes, size=n, p=weights)
    noise = rng.standard_normal((n, dim))
    return (centers[modes] + std_vec[modes, None] * noise).astype(np.float32)

  shared = bool(np.all(std_vec == std_vec[0]))
  for array in (centers, std_vec, weights):
    array.setflags(write=False)
  return ToyDistribution(
      name=name, dim=dim, sample=sample, centers=centers,
      std=float(std_vec[0]) if shared else std_vec, weights=weights,
      log_density_fn=_isotropic_mixture_log_density(centers, std_vec, weights))


def eight_gaussians() -> ToyDistribution:
  """WGAN-GP toy '8gaussians': 8 modes on a circle, as in the official code.

  The official code picks a centre among ``2 * (±1, 0), 2 * (0, ±1),
  2 * (±1/√2, ±1/√2)``, adds N(0, 0.02²) noise and divides the point by 1.414,
  so after scaling the centres have norm ``2 / 1.414`` and the per-mode std is
  ``0.02 / 1.414``.

  References:
    Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv 1704.00028.
  """
  scale, noise, divisor = 2.0, 0.02, 1.414
  r = 1.0 / math.sqrt(2.0)
  unit = np.array([(1, 0), (-1, 0), (0, 1), (0, -1),
                   (r, r), (r, -r), (-r, r), (-r, -r)], dtype=np.float64)
  return gaussian_mixture(
      name="8gaussians", centers=scale * unit / divisor, stds=noise / divisor)


def ring_of_gaussians(*, num_modes: int = 8, radius: float = 1.0,
                      std: float = 0.01) -> ToyDistribution:
  """The unrolled GAN's ring: ``num_modes`` Gaussians evenly on a circle.

  Centre ``k`` is ``radius * (sin t_k, cos t_k)`` with ``t_k = 2 pi k /
  num_modes``, each mode N(centre, std^2 I), equally likely. The official
  demo (github.com/poolio/unrolled_gan) draws its angles with
  ``linspace(0, 2 pi, 8)``, whose two ends coincide, so its ring has only 7
  distinct modes (one of double weight); here the 8 angles are distinct.

  References:
    Metz, Poole, Pfau & Sohl-Dickstein, "Unrolled Generative Adversarial
    Networks", arXiv 1611.02163.
  """
  if num_modes < 1 or radius <= 0 or std <= 0:
    raise ValueError(f"ring needs num_modes >= 1, radius > 0 and std > 0, got "
                     f"{num_modes}, {radius}, {std}")
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  centers = radius * np.stack([np.sin(angles), np.cos(angles)], axis=1)
  return gaussian_mixture(name="ring", centers=centers, stds=std)


def twenty_five_gaussians() -> ToyDistribution:
  """WGAN-GP toy '25gaussians': a 5x5 grid of modes, as in the official code.

  Centres ``{-4, -2, 0, 2, 4}^2``, noise std 0.05, everything divided by
  2.828: the per-mode std after scaling is ``0.05 / 2.828``. (The official
  code draws a fixed set of 100,000 points, 4,000 per mode, and cycles through
  it; here every sample is fresh, with uniform mode probabilities.)

  References:
    Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv 1704.00028.
  """
  noise, divisor = 0.05, 2.828
  grid = np.arange(-2, 3, dtype=np.float64) * 2.0
  centers = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
  return gaussian_mixture(
      name="25gaussians", centers=centers / divisor, stds=noise / divisor)


def swiss_roll() -> ToyDistribution:
  """WGAN-GP toy 'swissroll': scikit-learn's swiss roll, flattened to 2-D.

  ``sklearn.datasets.make_swiss_roll(n, noise=0.25)``, columns 0 and 2,
  divided by 7.5. The generator's draws seed scikit-learn, so a seeded
  ``rng`` gives reproducible samples. No modes and no closed-form density.

  References:
    Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv 1704.00028.
  """

  def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    points, _ = datasets.make_swiss_roll(
        n, noise=0.25, random_state=int(rng.integers(0, 2**31 - 1)))
    return (points[:, [0, 2]] / 7.5).astype(np.float32)

  return ToyDistribution(name="swissroll", dim=2, sample=sample)


# The f-GAN paper shows its 1-D mixture only as a plot; these parameters are
# our choice: two well-separated modes of unequal weight and width, so that
# mode-covering (KL) and mode-seeking (reverse KL) fits differ visibly.
FGAN_MIXTURE_WEIGHTS = (0.6, 0.4)
FGAN_MIXTURE_MEANS = (-1.0, 2.0)
FGAN_MIXTURE_STDS = (0.5, 0.75)


def fgan_mixture(
    *,
    weights: tuple[float, ...] = FGAN_MIXTURE_WEIGHTS,
    means: tuple[float, ...] = FGAN_MIXTURE_MEANS,
    stds: tuple[float, ...] = FGAN_MIXTURE_STDS,
) -> ToyDistribution:
  """The f-GAN 1-D Gaussian mixture, fitted there by a single Gaussian.

  .. math::
    p(x) = \\sum_k w_k\\, \\mathcal{N}(x;\\, \\mu_k,\\, \\sigma_k^2)

  Defaults: ``0.6 N(-1, 0.5²) + 0.4 N(2, 0.75²)`` (the paper gives no numbers
  in its text). Exact ``log_density``/``pdf``; use :func:`quadrature_grid`
  with :meth:`ToyDistribution.bounds` to integrate divergences numerically.

  Args:
    weights: mixture weights, summing to one.
    means: component means.
    stds: component standard deviations.

  Returns:
    The :class:`ToyDistribution` (``dim = 1``).

  References:
    Nowozin, Cseke & Tomioka, "f-GAN: Training Generative Neural Samplers
    using Variational Divergence Minimization", arXiv 1606.00709, Section 4.
  """
  if not len(weights) == len(means) == len(stds):
    raise ValueError(
        "weights, means and stds must have equal lengths, got "
        f"{len(weights)}, {len(means)}, {len(stds)}")
  return gaussian_mixture(
      name="fgan_mixture", centers=np.asarray(means, np.float64)[:, None],
      stds=np.asarray(stds, np.float64), weights=np.asarray(weights))


def parallel_lines(*, theta: float = 0.0) -> ToyDistribution:
  """WGAN's Example 1: :math:`P_\\theta` is the law of :math:`(\\theta, Z)`.

  .. math::
    Z \\sim U[0, 1], \\qquad W(P_0, P_\\theta) = |\\theta|, \\qquad
    JS(P_0, P_\\theta) = \\log 2 \\ (\\theta \\neq 0)

  The distribution lives on a line segment, so it has no density in 2-D.

  Args:
    theta: the horizontal offset of the segment.

  Returns:
    The :class:`ToyDistribution` (``dim = 2``).

  References:
    Arjovsky, Chintala & Bottou, "Wasserstein GAN", arXiv 1701.07875,
    Example 1.
  """
  theta = float(theta)

  def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    z = rng.uniform(0.0, 1.0, size=n)
    return np.stack([np.full(n, theta), z], axis=1).astype(np.float32)

  return ToyDistribution(name=f"parallel_lines(theta={theta})", dim=2,
                         sample=sample)


TOY_DISTRIBUTIONS: dict[str, Callable[..., ToyDistribution]] = {
    "8gaussians": eight_gaussians,
    "25gaussians": twenty_five_gaussians,
    "ring": ring_of_gaussians,
    "swissroll": swiss_roll,
    "fgan_mixture": fgan_mixture,
    "parallel_lines": parallel_lines,
}


def get_toy(name: str, **kwargs) -> ToyDistribution:
  """Returns the toy distribution registered under ``name``.

  Args:
    name: one of ``TOY_DISTRIBUTIONS``.
    **kwargs: parameters of parametrised distributions, e.g.
      ``get_toy('parallel_lines', theta=0.5)``.

  Returns:
    The :class:`ToyDistribution`.
  """
  try:
    factory = TOY_DISTRIBUTIONS[name]
  except KeyError:
    raise ValueError(
        f"unknown toy distribution {name!r}; valid names: "
        f"{', '.join(sorted(TOY_DISTRIBUTIONS))}") from None
  return factory(**kwargs)


class ToyBatches:
  """A :class:`~gans_jax.data.base.BatchSource` of toy samples ``{'x': ...}``.

  Minibatch ``m`` is drawn whole from ``np.random.default_rng([seed, m])``;
  process ``p`` of ``P`` keeps its examples ``p::P`` (see
  :mod:`gans_jax.data.base`). Drawing the global minibatch on every process
  costs nothing at toy sizes and makes the union over processes equal the
  single-process batch exactly.

  Args:
    distribution: a :class:`ToyDistribution` or a registry name.
    batch_size: global batch size ``B``.
    seed: data seed in ``[0, 2**32)``.
    num_microbatches: ``k``; with ``k > 1`` arrays are ``(k, B/P, d)``.
    process_index: this process; default ``jax.process_index()``.
    process_count: number of processes; default ``jax.process_count()``.
  """

  def __init__(
      self,
      distribution: ToyDistribution | str,
      *,
      batch_size: int,
      seed: int,
      num_microbatches: int = 1,
      process_index: int | None = None,
      process_count: int | None = None,
  ):
    if isinstance(distribution, str):
      distribution = get_toy(distribution)
    self.distribution = distribution
    self.seed = base.check_seed(seed)
    self.sharding = base.Sharding(batch_size, num_microbatches,
                                  process_index, process_count)

  def minibatch(self, index: int) -> np.ndarray:
    """The global minibatch ``index``, shape ``(B, d)`` float32."""
    rng = np.random.default_rng([self.seed, index])
    return self.distribution.sample(rng, self.sharding.batch_size)

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's share of training step ``step``'s batch."""
    sh = self.sharding
    shares = [{"x": self.minibatch(m)[sh.process_index::sh.process_count]}
              for m in sh.minibatch_indices(step)]
    return sh.stack(shares)
