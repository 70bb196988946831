"""FID, KID, Inception Score and precision/recall of generated images.

:func:`image_quality` scores samples against reference images (or their
cached statistics) with the FID Inception network
(:mod:`gans_jax.eval.inception`) and the metrics of
:mod:`gans_jax.eval.metrics`; :func:`reference_statistics` computes a
dataset's feature mean, covariance and features once and caches them in a
``.npz``. From the command line::

  python -m gans_jax.eval.fid --real=tfds:cifar10 --fake=RUN/samples.npz \\
      [--weights=inception_fid.npz] [--real-cache=cifar10_train_stats.npz]

Either side may be a ``.npz`` (its ``samples`` array, or its only array:
``[N, H, W, C]`` floats in ``[-1, 1]`` or integer pixels) or ``.npy``, an
image folder, a dataset name of :func:`gans_jax.data.make_image_source`
(``tfds:<name>``, ``cifar10``, ``folder:<path>``, ...), and ``--real`` also a
statistics file written by ``--real-cache``. A missing weights file or bad
input ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import dataclasses
import hashlib
import json
import os
import sys
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


# ------------------------------------------------------------- command ----


class _First:
  """The first ``n`` examples of a random-access source."""

  def __init__(self, source: Any, n: int):
    self._source, self._n = source, min(n, len(source))

  def __len__(self) -> int:
    return self._n

  def __getitem__(self, index: int) -> dict[str, Any]:
    if not 0 <= index < self._n:
      raise IndexError(index)
    return self._source[index]


def load_images(spec: str, *, split: str = "train",
                data_dir: str | None = None) -> Any:
  """Images named on the command line: an array or a random-access source.

  Args:
    spec: a ``.npz`` (key ``samples``, else its only array) or ``.npy`` file,
      an image folder, or a name for :func:`gans_jax.data.make_image_source`.
    split: the dataset split (names and ``folder:`` paths).
    data_dir: the TFDS data directory.

  Raises:
    FileNotFoundError: a file or folder that does not exist.
    ValueError: a file without a usable image array, or an unknown name.
  """
  from gans_jax.data import images as images_lib  # pylint: disable=g-import-not-at-top

  if spec.endswith((".npz", ".npy")):
    if not os.path.isfile(spec):
      raise FileNotFoundError(f"{spec} does not exist")
    if spec.endswith(".npy"):
      array = np.load(spec)
    else:
      with np.load(spec) as f:
        names = list(f.keys())
        if "samples" in names:
          array = f["samples"]
        elif len(names) == 1:
          array = f[names[0]]
        else:
          raise ValueError(
              f"{spec} has arrays {names}; expected one named 'samples' or a "
              "single array")
    if array.ndim != 4 or array.shape[-1] not in (1, 3) or not len(array):
      raise ValueError(
          f"{spec}: expected [N, H, W, C] images with C 1 or 3, got shape "
          f"{array.shape}")
    return array
  if os.path.isdir(spec):
    return images_lib.folder_source(spec, with_labels=False)
  return images_lib.make_image_source(spec, split=split, data_dir=data_dir,
                                      channels=3)


def _is_statistics_file(spec: str) -> bool:
  if not spec.endswith(".npz") or not os.path.isfile(spec):
    return False
  with np.load(spec) as f:
    return "mu" in f and "sigma" in f


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m gans_jax.eval.fid",
      description="FID, KID, Inception Score and precision/recall of generated "
                  "images with the FID Inception network.")
  parser.add_argument("--real", required=True,
                      help="reference images: .npz/.npy, folder, dataset name "
                           "(tfds:cifar10, folder:PATH, ...) or a statistics .npz")
  parser.add_argument("--fake", required=True,
                      help="generated images: .npz (key 'samples'), .npy, folder or name")
  parser.add_argument("--real-split", default="train", help="split of a --real dataset")
  parser.add_argument("--fake-split", default="train", help="split of a --fake dataset")
  parser.add_argument("--num-real", type=int, default=None,
                      help="use only the first N reference images")
  parser.add_argument("--num-fake", type=int, default=None,
                      help="use only the first N generated images")
  parser.add_argument("--data-dir", default=None, help="TFDS data directory")
  parser.add_argument("--weights", default=None,
                      help=f"converted Inception .npz (default ${inception_lib.WEIGHTS_ENV})")
  parser.add_argument("--metrics", default=",".join(METRICS),
                      help=f"comma-separated, among {','.join(METRICS)}")
  parser.add_argument("--real-cache", default=None,
                      help="cache the reference statistics in this .npz")
  parser.add_argument("--batch-size", type=int, default=100,
                      help="images per Inception call (all devices together)")
  parser.add_argument("--kid-subset-size", type=int, default=1000)
  parser.add_argument("--kid-subsets", type=int, default=100)
  parser.add_argument("--out", default=None, help="also write the results as JSON here")
  return parser.parse_args(argv)


def _first(images: Any, n: int | None) -> Any:
  if n is None:
    return images
  if n < 2:
    raise ValueError(f"--num-real/--num-fake must be >= 2, got {n}")
  return images[:n] if isinstance(images, np.ndarray) else _First(images, n)


def run(args: argparse.Namespace) -> dict[str, float]:
  """The command's work; raises on missing weights or bad input."""
  metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
  unknown = [m for m in metrics if m not in METRICS]
  if unknown or not metrics:
    raise ValueError(f"--metrics must be among {','.join(METRICS)}, got {args.metrics!r}")
  # The weights first: no data is read before a missing file is reported.
  weights = inception_lib.weights_path(args.weights)
  if _is_statistics_file(args.real):
    reference = ReferenceStatistics.load(args.real)
  else:
    reference = _first(load_images(args.real, split=args.real_split,
                                   data_dir=args.data_dir), args.num_real)
  fake = _first(load_images(args.fake, split=args.fake_split, data_dir=args.data_dir),
                args.num_fake)
  extractor = inception_lib.InceptionFeatures(weights=weights,
                                              batch_size=args.batch_size)
  return image_quality(fake, reference, metrics=metrics, extractor=extractor,
                       cache=args.real_cache, kid_subsets=args.kid_subsets,
                       kid_subset_size=args.kid_subset_size)


def main(argv: Sequence[str] | None = None) -> int:
  """Prints the metrics; returns 2 (one line on stderr) on bad input."""
  from gans_jax.data.images import DatasetNotFoundError  # pylint: disable=g-import-not-at-top

  args = _parse_args(argv)
  try:
    results = run(args)
  except (InceptionWeightsMissingError, DatasetNotFoundError, FileNotFoundError,
          ValueError) as error:
    print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
          file=sys.stderr)
    return 2
  for name, value in results.items():
    print(f"{name:10s} {value:.6g}")
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=2, sort_keys=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
