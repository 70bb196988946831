"""FID, KID, Inception Score and precision/recall of generated images, from
the shell::

  python -m gans_jax.eval.tools.fid --real=tfds:cifar10 --fake=RUN/samples.npz \\
      [--weights=inception_fid.npz] [--real-cache=cifar10_train_stats.npz]

Either side may be a ``.npz`` (its ``samples`` array, or its only array:
``[N, H, W, C]`` floats in ``[-1, 1]`` or integer pixels) or ``.npy``, an
image folder, a dataset name of :func:`gans_jax.data.make_image_source`
(``tfds:<name>``, ``cifar10``, ``folder:<path>``, ...), and ``--real`` also a
statistics file written by ``--real-cache``. A missing weights file or bad
input ends the command with one line on stderr and exit status 2. The scores
are :func:`gans_jax.eval.fid.image_quality`'s.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import os
import sys
from typing import Any

import numpy as np

from gans_jax.eval import inception as inception_lib
from gans_jax.eval.fid import METRICS
from gans_jax.eval.fid import ReferenceStatistics
from gans_jax.eval.fid import image_quality
from gans_jax.eval.inception import InceptionWeightsMissingError


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
      prog="python -m gans_jax.eval.tools.fid",
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
