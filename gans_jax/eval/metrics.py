"""Sample-quality metrics on features and class logits, as papers report them.

Pure functions of arrays, computed as the reference implementations do, so
that numbers compare with published ones when the features are the FID
Inception network's (:mod:`gans_jax.eval.inception`):

- :func:`frechet_distance`: FID from two feature means and covariances
  (float64, scipy's ``sqrtm``, imaginary parts handled as pytorch-fid and
  TTUR do);
- :func:`kernel_inception_distance`: KID, the unbiased MMD² with the cubic
  polynomial kernel, mean and standard deviation over random subsets of 1000
  (torch-fidelity's defaults: 100 subsets);
- :func:`inception_score`: IS over 10 splits;
- :func:`precision_recall`: improved precision and recall with k = 3.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.special


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean ``[d]`` and covariance ``[d, d]`` (``N - 1`` normalised), float64.

  Args:
    features: ``[N, d]``, ``N >= 2``.
  """
  features = np.asarray(features, dtype=np.float64)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(f"features must be [N, d] with N >= 2, got shape {features.shape}")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6) -> float:
  """Fréchet (2-Wasserstein) distance between two Gaussians.

  .. math::
    d^2 = \\lVert \\mu_1 - \\mu_2 \\rVert^2 + \\operatorname{Tr}\\big(\\Sigma_1
      + \\Sigma_2 - 2 (\\Sigma_1 \\Sigma_2)^{1/2}\\big)

  Returns the squared distance :math:`d^2`, as FID does, computed in float64
  as the reference code (TTUR, pytorch-fid) computes it: the matrix square
  root is scipy's ``sqrtm``; when it is not finite (near-singular
  covariances) ``eps`` is added to both diagonals; an imaginary part from
  round-off is dropped when every diagonal entry's is at most 1e-3, and is an
  error otherwise.

  Args:
    mu1: mean ``[d]`` of the first Gaussian.
    sigma1: covariance ``[d, d]`` of the first Gaussian.
    mu2: mean ``[d]`` of the second Gaussian.
    sigma2: covariance ``[d, d]`` of the second Gaussian.
    eps: diagonal offset used only when the plain square root fails.

  Returns:
    :math:`d^2` as a float.

  Raises:
    ValueError: mismatched shapes, or a square root with a large imaginary
      part (covariances that are not positive semi-definite).

  References:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to
    a Local Nash Equilibrium", arXiv 1706.08500; Dowson & Landau, "The
    Fréchet distance between multivariate normal distributions", 1982.
  """
  mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
  mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
  d = mu1.shape[0]
  if (mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d)
      or sigma2.shape != (d, d)):
    raise ValueError(
        f"expected means [d] and covariances [d, d]; got mu1 {mu1.shape}, "
        f"sigma1 {sigma1.shape}, mu2 {mu2.shape}, sigma2 {sigma2.shape}.")
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.all(np.isfinite(covmean)):
    offset = eps * np.eye(d)
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0.0, atol=1e-3):
      raise ValueError(
          "the matrix square root has a large imaginary part "
          f"({np.max(np.abs(covmean.imag)):.3g}); are the covariances positive "
          "semi-definite?")
    covmean = covmean.real
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2.0 * np.trace(covmean))


def polynomial_mmd2(x, y) -> float:
  """Unbiased MMD² of two equal-size samples under the cubic polynomial kernel.

  .. math::
    k(a, b) = \\Big(\\frac{a^\\top b}{d} + 1\\Big)^3, \\qquad
    \\widehat{\\mathrm{MMD}}^2 = \\frac{\\sum_{i \\ne j} k(x_i, x_j)
      + \\sum_{i \\ne j} k(y_i, y_j)}{m (m - 1)}
      - \\frac{2}{m^2} \\sum_{i, j} k(x_i, y_j)

  Args:
    x: ``[m, d]``.
    y: ``[m, d]``, ``m >= 2``.

  Returns:
    The estimate (float64; it can be slightly negative).

  References:
    Bińkowski et al., "Demystifying MMD GANs", arXiv 1801.01401.
  """
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 2:
    raise ValueError(
        f"x and y must both be [m, d] with m >= 2, got {x.shape} and {y.shape}")
  m, d = x.shape
  k_xx = (x @ x.T / d + 1.0) ** 3
  k_yy = (y @ y.T / d + 1.0) ** 3
  k_xy = (x @ y.T / d + 1.0) ** 3
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2.0 * k_xy.sum() / m**2)


def kernel_inception_distance(real_features, fake_features, *,
                              num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
  """KID: mean and standard deviation of :func:`polynomial_mmd2` over subsets.

  Each of ``num_subsets`` rounds draws ``m = min(subset_size, N_real,
  N_fake)`` real and ``m`` fake features without replacement and evaluates
  the unbiased MMD²; the result is the mean and the (population, ``ddof=0``)
  standard deviation of those values, as Bińkowski et al.'s code and
  torch-fidelity report them (torch-fidelity's defaults: 100 subsets of
  1000). Papers often print KID x 1000.

  Args:
    real_features: ``[N_real, d]``.
    fake_features: ``[N_fake, d]``.
    num_subsets: rounds.
    subset_size: largest subset size.
    seed: seeds the subset draws (numpy).

  Returns:
    ``(mean, std)``.

  References:
    Bińkowski et al., "Demystifying MMD GANs", arXiv 1801.01401.
  """
  real = np.asarray(real_features, dtype=np.float64)
  fake = np.asarray(fake_features, dtype=np.float64)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(
        f"features must be [N, d] with one d, got {real.shape} and {fake.shape}")
  if num_subsets < 1 or subset_size < 2:
    raise ValueError(
        f"need num_subsets >= 1 and subset_size >= 2, got {num_subsets}, {subset_size}")
  m = min(subset_size, real.shape[0], fake.shape[0])
  if m < 2:
    raise ValueError(
        f"KID needs at least 2 real and 2 fake features, got {real.shape[0]} and "
        f"{fake.shape[0]}")
  rng = np.random.default_rng(seed)
  values = np.array([
      polynomial_mmd2(real[rng.choice(real.shape[0], m, replace=False)],
                      fake[rng.choice(fake.shape[0], m, replace=False)])
      for _ in range(num_subsets)])
  return float(values.mean()), float(values.std())


def inception_score(logits, *, splits: int = 10) -> tuple[float, float]:
  """Inception Score: mean and standard deviation over ``splits`` splits.

  .. math::
    \\mathrm{IS} = \\exp\\Big(\\frac{1}{n} \\sum_i \\mathrm{KL}\\big(p(y \\mid
      x_i) \\,\\big\\|\\, \\hat p(y)\\big)\\Big), \\qquad
    \\hat p(y) = \\frac{1}{n} \\sum_i p(y \\mid x_i),

  with :math:`p(y \\mid x) = \\operatorname{softmax}(\\text{logits})`, computed
  on each of ``splits`` consecutive parts (part ``s`` holds samples
  ``s N / splits`` to ``(s + 1) N / splits``, rounded down, as in the
  original code), in float64. The standard deviation is ``ddof=0``.

  For numbers comparable with papers, pass the FID Inception network's 1008
  logits without the classifier's bias (``InceptionFeatures`` output
  ``'logits_unbiased'``), which is what the original code computes.

  Args:
    logits: ``[N, K]``, ``N >= splits``.
    splits: number of parts.

  Returns:
    ``(mean, std)`` over the parts.

  References:
    Salimans et al., "Improved Techniques for Training GANs", arXiv
    1606.03498.
  """
  logits = np.asarray(logits, dtype=np.float64)
  if logits.ndim != 2 or splits < 1 or logits.shape[0] < splits:
    raise ValueError(
        f"logits must be [N, K] with N >= splits = {splits}, got shape {logits.shape}")
  log_p = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
  n = logits.shape[0]
  scores = []
  for s in range(splits):
    part = log_p[s * n // splits:(s + 1) * n // splits]
    log_marginal = scipy.special.logsumexp(part, axis=0) - np.log(part.shape[0])
    kl = np.sum(np.exp(part) * (part - log_marginal), axis=1)
    scores.append(np.exp(kl.mean()))
  scores = np.asarray(scores)
  return float(scores.mean()), float(scores.std())


# ------------------------------------------------- precision and recall ----

_ROWS = 1024  # query rows per compiled distance block


@jax.jit
def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
  # |a|^2 - 2 a.b + |b|^2 in float32, as the reference code does; clipped at 0
  # against round-off.
  dot = jnp.dot(a, b.T, precision=jax.lax.Precision.HIGHEST)
  return jnp.maximum(
      jnp.sum(a * a, axis=1)[:, None] - 2.0 * dot + jnp.sum(b * b, axis=1)[None, :],
      0.0)


@functools.partial(jax.jit, static_argnames="k")
def _kth_neighbour(rows: jax.Array, points: jax.Array, *, k: int) -> jax.Array:
  # rows are points themselves: the smallest distance is the point's own 0,
  # so the (k + 1)-th smallest is the k-th nearest other point.
  distances = _squared_distances(rows, points)
  return -jax.lax.top_k(-distances, k + 1)[0][:, k]


@jax.jit
def _inside_any_ball(rows: jax.Array, centres: jax.Array,
                     radii: jax.Array) -> jax.Array:
  return jnp.any(_squared_distances(rows, centres) <= radii[None, :], axis=1)


def _row_blocks(x: np.ndarray):
  """Yields ``(block padded to _ROWS rows, rows used)``: one compiled shape."""
  for start in range(0, x.shape[0], _ROWS):
    block = x[start:start + _ROWS]
    n = block.shape[0]
    if n < _ROWS:
      block = np.concatenate([block, np.zeros((_ROWS - n, x.shape[1]), x.dtype)])
    yield block, n


def manifold_radii(features, *, k: int = 3) -> np.ndarray:
  """Squared distance from each feature to its ``k``-th nearest other feature."""
  features = np.asarray(features, dtype=np.float32)
  points = jnp.asarray(features)
  return np.concatenate([np.asarray(_kth_neighbour(block, points, k=k))[:n]
                         for block, n in _row_blocks(features)])


def manifold_coverage(queries, features, radii) -> np.ndarray:
  """Whether each query lies in some ball ``|q - f_j|^2 <= radii_j``; ``[Q]`` bool."""
  queries = np.asarray(queries, dtype=np.float32)
  centres, radii = jnp.asarray(features, jnp.float32), jnp.asarray(radii, jnp.float32)
  return np.concatenate([np.asarray(_inside_any_ball(block, centres, radii))[:n]
                         for block, n in _row_blocks(queries)])


def precision_recall(real_features, fake_features, *,
                     k: int = 3) -> tuple[float, float]:
  """Improved precision and recall of generated samples.

  Each set's manifold is the union of balls around its points, the radius of
  a point's ball being the distance to its ``k``-th nearest neighbour in the
  same set:

  .. math::
    \\mathrm{precision} = \\frac{1}{|F|} \\sum_{f \\in F}
      \\big[\\exists r \\in R: \\lVert f - r \\rVert \\le
      \\lVert r - \\mathrm{NN}_k^R(r) \\rVert\\big],

  and recall the same with the roles of real :math:`R` and fake :math:`F`
  swapped. Distances are Euclidean in the feature space (compared squared,
  computed in float32 under jit, in blocks of rows).

  Args:
    real_features: ``[N_real, d]``, ``N_real > k``.
    fake_features: ``[N_fake, d]``, ``N_fake > k``.
    k: the neighbourhood size (3 in the paper).

  Returns:
    ``(precision, recall)``, each in ``[0, 1]``.

  References:
    Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing
    Generative Models", arXiv 1904.06991.
  """
  real = np.asarray(real_features, dtype=np.float32)
  fake = np.asarray(fake_features, dtype=np.float32)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(
        f"features must be [N, d] with one d, got {real.shape} and {fake.shape}")
  if k < 1 or min(real.shape[0], fake.shape[0]) <= k:
    raise ValueError(
        f"need k >= 1 and more than k features on each side, got k={k}, "
        f"{real.shape[0]} real, {fake.shape[0]} fake")
  precision = manifold_coverage(fake, real, manifold_radii(real, k=k)).mean()
  recall = manifold_coverage(real, fake, manifold_radii(fake, k=k)).mean()
  return float(precision), float(recall)
