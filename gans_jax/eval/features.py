"""A discriminator's activations as a representation, scored by a linear
classifier: Radford et al. 2015 (DCGAN), Section 5.1.

The paper classifies CIFAR-10 with the features of a discriminator trained
on ImageNet-1k: every layer's activations are max-pooled to a 4x4 spatial
grid, flattened and concatenated, and a regularized linear L2-SVM is
trained on them (82.8 % accuracy). The same recipe here:

.. math::
  \\phi(x) = \\big[\\mathrm{maxpool}_{4\\times 4}(h_1(x)), \\ldots,
  \\mathrm{maxpool}_{4\\times 4}(h_L(x))\\big] \\in \\mathbb{R}^{16 \\sum_l C_l}

with :func:`max_pool_to_grid` and :func:`pooled_features`, and
:func:`linear_probe_error` the test error of an L2-regularized linear SVM
(scikit-learn's ``LinearSVC``, squared hinge, one-vs-rest, on features
standardised with the training set's mean and deviation).
:func:`probe_errors` draws the labelled subsets once per seed
(:func:`gans_jax.data.labelled.labelled_subset`) and scores every feature
set on the same subset, so raw pixels, an untrained and a trained
discriminator are compared on identical labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from gans_jax.data import labelled

POOL_GRID = 4  # the paper's 4x4 spatial grid


def max_pool_to_grid(maps: np.ndarray, grid: int = POOL_GRID) -> np.ndarray:
  """Max-pools ``(B, H, W, C)`` activations to ``(B, grid, grid, C)``.

  Each of the ``grid x grid`` cells takes the maximum over its
  ``H / grid x W / grid`` window; a map already ``grid`` wide is unchanged.

  Raises:
    ValueError: the map is not 4-D or its size is not a multiple of ``grid``.
  """
  maps = np.asarray(maps)
  if maps.ndim != 4:
    raise ValueError(f"max_pool_to_grid expects (B, H, W, C) maps, got {maps.shape}")
  b, h, w, c = maps.shape
  if h % grid or w % grid:
    raise ValueError(f"a {h}x{w} map does not pool to a {grid}x{grid} grid")
  return maps.reshape(b, grid, h // grid, grid, w // grid, c).max(axis=(2, 4))


def pooled_features(feature_maps: Mapping[str, np.ndarray], names: Sequence[str],
                    grid: int = POOL_GRID) -> np.ndarray:
  """The named layers' activations, each max-pooled to ``grid x grid``,
  flattened and concatenated in the order of ``names``: ``(B, D)``."""
  missing = [n for n in names if n not in feature_maps]
  if missing:
    raise KeyError(f"no features named {missing}; the network returns "
                   f"{sorted(feature_maps)}")
  pooled = [max_pool_to_grid(feature_maps[n], grid) for n in names]
  return np.concatenate([p.reshape(p.shape[0], -1) for p in pooled], axis=1)


def linear_probe_error(train_x: np.ndarray, train_y: np.ndarray,
                       test_x: np.ndarray, test_y: np.ndarray, *,
                       c: float = 1.0) -> float:
  """Test error of an L2-regularized linear SVM trained on ``train_x``.

  Features are standardised with the training set's statistics (a constant
  feature is left at 0); ``c`` is the SVM's inverse regularization.
  """
  from sklearn.svm import LinearSVC  # pylint: disable=import-outside-toplevel
  train_x = np.asarray(train_x, np.float64).reshape(len(train_x), -1)
  test_x = np.asarray(test_x, np.float64).reshape(len(test_x), -1)
  mean, std = train_x.mean(0), train_x.std(0)
  std = np.where(std > 0, std, 1.0)
  svm = LinearSVC(C=c, loss="squared_hinge", max_iter=20000)
  svm.fit((train_x - mean) / std, np.asarray(train_y))
  predicted = svm.predict((test_x - mean) / std)
  return float(np.mean(predicted != np.asarray(test_y)))


def probe_errors(train: Mapping[str, np.ndarray], train_labels: np.ndarray,
                 test: Mapping[str, np.ndarray], test_labels: np.ndarray, *,
                 per_class: Sequence[int | None], seeds: Sequence[int],
                 c: float = 1.0,
                 probe: Callable[..., float] = linear_probe_error
                 ) -> dict[str, dict[str, list[float]]]:
  """Test errors of a linear probe on each feature set, with ``per_class``
  labelled examples of each class drawn by each seed.

  Args:
    train, test: ``{feature set: (N, D) features}`` of the training and test
      images, the same images in the same order for every set.
    train_labels, test_labels: their classes.
    per_class: labelled examples per class; ``None`` is every training
      example (drawn once: no seed changes it).
    seeds: one labelled subset per seed, shared by every feature set.

  Returns:
    ``{feature set: {'all' or str(per_class): [error per seed]}}``.
  """
  errors: dict[str, dict[str, list[float]]] = {name: {} for name in train}
  for count in per_class:
    key = "all" if count is None else str(count)
    for seed in (seeds[:1] if count is None else seeds):
      index = (np.arange(len(train_labels)) if count is None else
               labelled.labelled_subset(train_labels, count, seed))
      for name in train:
        errors[name].setdefault(key, []).append(probe(
            train[name][index], train_labels[index], test[name], test_labels, c=c))
  return errors
