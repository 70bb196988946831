"""FID, KID, Inception Score and precision/recall of generated images.

:func:`image_quality` scores samples against reference images (or their
cached statistics) with the FID Inception network
(:mod:`gans_jax.eval.inception`) and the metrics of
:mod:`gans_jax.eval.metrics`; :func:`reference_statistics` computes a
dataset's feature mean, covariance and features once and caches them in a
``.npz``. The command ``python -m gans_jax.eval.tools.fid`` scores files,
folders and datasets with them (:mod:`gans_jax.eval.tools.fid`).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import hashlib
import os
from typing import Any

import numpy as np

from gans_jax.eval import inception as inception_lib
from gans_jax.eval import metrics as metrics_lib
from gans_jax.eval import network_cache
from gans_jax.eval.inception import InceptionWeightsMissingError

METRICS = ("fid", "kid", "is", "precision_recall")
"""Metric names :func:`image_quality` accepts."""
_STATS_VERSION = 1
_HASH_BATCH = 512


@dataclasses.dataclass(frozen=True, eq=False)
class ReferenceStatistics:
  """A reference set's Inception pool features and their Gaussian fit.

  Attributes:
    mu: mean ``[2048]`` (float64).
    sigma: covariance ``[2048, 2048]`` (float64, ``N - 1`` normalised).
    features: the ``[N, 2048]`` float32 features (for KID and precision /
      recall), or ``None`` when only the Gaussian is known.
    key: digest of the images and network that produced them (empty when
      unknown); a cache whose key differs is recomputed.
    network: digest of the Inception weights used (empty when unknown).
  """

  mu: np.ndarray
  sigma: np.ndarray
  features: np.ndarray | None = None
  key: str = ""
  network: str = ""

  @classmethod
  def from_features(cls, features, *, key: str = "",
                    network: str = "") -> ReferenceStatistics:
    """The statistics of ``[N, d]`` features, ``N >= 2``."""
    features = np.asarray(features, np.float32)
    mu, sigma = metrics_lib.gaussian_statistics(features)
    return cls(mu, sigma, features, key, network)

  def save(self, path: str | os.PathLike) -> None:
    """Writes a ``.npz`` (``mu``, ``sigma``, ``features``), atomically."""
    arrays = {"mu": self.mu, "sigma": self.sigma,
              "key": np.asarray(self.key), "network": np.asarray(self.network),
              "format_version": np.asarray(_STATS_VERSION)}
    if self.features is not None:
      arrays["features"] = self.features
    network_cache.save_npz(path, arrays)

  @classmethod
  def load(cls, path: str | os.PathLike) -> ReferenceStatistics:
    """Reads :meth:`save`'s file (or any ``.npz`` with ``mu`` and ``sigma``)."""
    with np.load(path) as f:
      if "mu" not in f or "sigma" not in f:
        raise ValueError(f"{path} holds no 'mu' and 'sigma' statistics")
      mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
      if mu.ndim != 1 or sigma.shape != mu.shape * 2:
        raise ValueError(
            f"{path}: mu {mu.shape} and sigma {sigma.shape} are not [d] and [d, d]")
      features = np.asarray(f["features"]) if "features" in f else None
      key = str(f["key"]) if "key" in f else ""
      network = str(f["network"]) if "network" in f else ""
    return cls(mu, sigma, features, key, network)


def statistics_key(images: Any, network: str, image_size: int) -> str:
  """A digest of ``images`` (every pixel, in order) and the network used.

  Args:
    images: an ``[N, H, W, C]`` array or a random-access image source.
    network: the Inception weights' digest (``InceptionFeatures.identity``).
    image_size: the network's input side.
  """
  digest = hashlib.sha256(f"fid-statistics-{_STATS_VERSION}/{network}/"
                          f"{image_size}/{len(images)}".encode())
  if isinstance(images, np.ndarray):
    digest.update(f"{images.dtype.str}{images.shape}".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
  else:
    for i in range(len(images)):
      image = np.ascontiguousarray(images[i]["image"])
      digest.update(f"{image.dtype.str}{image.shape}".encode())
      digest.update(image.tobytes())
  return digest.hexdigest()


def reference_statistics(images: Any, *, extractor: Any,
                         cache: str | os.PathLike | None = None
                         ) -> ReferenceStatistics:
  """Pool-feature statistics of ``images``, computed once and cached.

  With ``cache``, a file there whose key matches ``images`` and the
  network (:func:`statistics_key`) is returned as it is; otherwise the
  statistics are computed and the file is (re)written. Checking the key reads
  every image but runs no network.

  Args:
    images: ``[N, H, W, C]`` (floats in ``[-1, 1]`` or integer pixels) or a
      random-access image source (``gans_jax.data.make_image_source``).
    extractor: an :class:`~gans_jax.eval.inception.InceptionFeatures`.
    cache: a ``.npz`` path, or ``None`` for no caching.

  Returns:
    The statistics, features included.
  """
  if isinstance(images, np.ndarray) or hasattr(images, "__array__"):
    images = np.asarray(images)
  key = statistics_key(images, extractor.identity, extractor.image_size)
  if cache is not None and os.path.exists(cache):
    try:
      cached = ReferenceStatistics.load(cache)
    except (OSError, ValueError, KeyError):
      cached = None  # unreadable: recompute and overwrite
    if cached is not None and cached.key == key and cached.features is not None:
      return cached
  features = extractor(images, outputs=("pool",))["pool"]
  stats = ReferenceStatistics.from_features(features, key=key,
                                            network=extractor.identity)
  if cache is not None:
    stats.save(cache)
  return stats


def image_quality(samples: Any, reference: Any = None, *,
                  metrics: Sequence[str] = METRICS,
                  weights: str | os.PathLike | None = None,
                  extractor: Any = None,
                  cache: str | os.PathLike | None = None,
                  kid_subsets: int = 100, kid_subset_size: int = 1000,
                  is_splits: int = 10, k: int = 3, seed: int = 0
                  ) -> dict[str, float]:
  """FID, KID, IS and precision/recall of ``samples`` against ``reference``.

  The samples go through the FID Inception network once (pool features and
  bias-free logits); the reference's features come from ``reference`` or
  from the ``cache`` file (:func:`reference_statistics`).

  Args:
    samples: ``[N, H, W, C]`` generated images, floats in ``[-1, 1]`` (or
      integer pixels), ``C`` 1 or 3, or a random-access image source. Papers
      use N = 50,000 for FID and IS.
    reference: real images (array or source) or their
      :class:`ReferenceStatistics` (with features for ``'kid'`` and
      ``'precision_recall'``); unused when ``metrics`` is ``('is',)``.
    metrics: names among ``METRICS``.
    weights: the converted Inception ``.npz``; default
      ``$GANS_JAX_INCEPTION_WEIGHTS``. Unused when ``extractor`` is given.
    extractor: an :class:`~gans_jax.eval.inception.InceptionFeatures` to
      reuse (e.g. across calls).
    cache: where to cache the reference statistics (``.npz``).
    kid_subsets: KID rounds.
    kid_subset_size: KID subset size.
    is_splits: Inception Score splits.
    k: precision/recall neighbourhood size.
    seed: KID subset draws.

  Returns:
    ``{'fid', 'kid', 'kid_std', 'is', 'is_std', 'precision', 'recall'}``,
    those of the requested metrics, as Python floats.

  Raises:
    InceptionWeightsMissingError: no extractor given and no weights file
      found (its one-line message says how to get it). Nothing is returned
      then: a caller that wants to go on without these metrics catches it
      and reports ``str(error)``.
    ValueError: unknown metric names or unusable inputs.
  """
  metrics = tuple(metrics)
  unknown = [m for m in metrics if m not in METRICS]
  if unknown or not metrics:
    raise ValueError(f"metrics must be among {METRICS}, got {metrics}")
  if extractor is None:
    extractor = inception_lib.InceptionFeatures(weights=weights)
  needs_pool = any(m in metrics for m in ("fid", "kid", "precision_recall"))
  needs_features = any(m in metrics for m in ("kid", "precision_recall"))
  stats = None
  if needs_pool:
    if reference is None:
      raise ValueError(f"metrics {metrics} need reference images or statistics")
    if isinstance(reference, ReferenceStatistics):
      stats = reference
      if stats.network and stats.network != extractor.identity:
        raise ValueError(
            f"the reference statistics were computed with Inception weights "
            f"{stats.network}, not these ({extractor.identity})")
    else:
      stats = reference_statistics(reference, extractor=extractor, cache=cache)
    if needs_features and stats.features is None:
      raise ValueError(
          "KID and precision/recall need the reference features; these "
          "statistics hold only mu and sigma")
  outputs = (("pool",) if needs_pool else ()) + (
      ("logits_unbiased",) if "is" in metrics else ())
  fake = extractor(samples, outputs=outputs)
  results: dict[str, float] = {}
  if "fid" in metrics:
    mu, sigma = metrics_lib.gaussian_statistics(fake["pool"])
    try:
      results["fid"] = metrics_lib.frechet_distance(mu, sigma, stats.mu, stats.sigma)
    except ValueError as error:
      counts = [len(fake["pool"])] + ([] if stats.features is None else [len(stats.features)])
      if min(counts) > len(mu):
        raise
      raise ValueError(
          f"{error} With {' and '.join(map(str, counts))} images for "
          f"{len(mu)}-d features the covariances are singular: FID needs more "
          "images than feature dimensions (papers use 50,000).") from None
  if "kid" in metrics:
    results["kid"], results["kid_std"] = metrics_lib.kernel_inception_distance(
        stats.features, fake["pool"], num_subsets=kid_subsets,
        subset_size=kid_subset_size, seed=seed)
  if "is" in metrics:
    results["is"], results["is_std"] = metrics_lib.inception_score(
        fake["logits_unbiased"], splits=is_splits)
  if "precision_recall" in metrics:
    results["precision"], results["recall"] = metrics_lib.precision_recall(
        stats.features, fake["pool"], k=k)
  return results
