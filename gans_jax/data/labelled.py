"""Labelled subsets for semi-supervised learning, drawn with a seed.

The semi-supervised experiments of Salimans et al. (2016) train on a few
labelled examples per class (MNIST 10 of each digit, CIFAR-10 400) and the
whole training split unlabelled. :func:`labelled_subset` draws the labelled
few as a pure function of the labels, the count and the seed, so a resumed
run recomputes exactly the same subset and nothing about it needs to be
checkpointed.
"""

from __future__ import annotations

import numpy as np

from gans_jax.data.base import check_seed

__all__ = ["labelled_subset"]


def labelled_subset(labels, per_class: int, seed: int, *,
                    num_classes: int | None = None,
                    field: str = "per_class") -> np.ndarray:
  """Indices of ``per_class`` examples of every class, drawn with ``seed``.

  .. math::
    S = \\bigcup_{k=0}^{K-1} \\{\\text{the first } n \\text{ indices } i
    \\text{ of } \\pi \\text{ with } y_i = k\\}, \\qquad
    \\pi = \\mathrm{permutation}_{\\mathrm{seed}}(0, \\dots, N-1)

  The official code's rule: one seeded permutation of the training split,
  then, class by class, the first ``per_class`` examples of that class in
  the permuted order. The permutation is numpy's legacy
  ``RandomState(seed).permutation``, whose stream is frozen across numpy
  versions, so the subset depends on nothing but ``labels``, ``per_class``
  and ``seed``.

  Args:
    labels: integer class labels ``(N,)`` of the training split, in
      ``[0, K)``.
    per_class: labelled examples per class, ``>= 1``.
    seed: data seed in ``[0, 2**32)``.
    num_classes: K; ``None`` takes ``max(labels) + 1``. Every class must
      have ``per_class`` examples.
    field: the name of ``per_class`` in error messages (e.g. the config
      field it comes from).

  Returns:
    int64 indices into ``labels``, ``(K * per_class,)``, class 0's first,
    each class's in the permuted order.

  Raises:
    ValueError: ``per_class`` below 1 or above the examples of some class
      (the message names ``field`` and the class), or bad labels.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 5; openai/improved-gan,
    train_mnist_feature_matching.py ("select labeled data").
  """
  seed = check_seed(seed)
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] == 0 or not np.issubdtype(
      labels.dtype, np.integer):
    raise ValueError(
        f"labels must be a non-empty (N,) integer array, got shape "
        f"{labels.shape} and dtype {labels.dtype}")
  if (isinstance(per_class, bool)
      or not isinstance(per_class, (int, np.integer))):
    raise ValueError(f"{field} must be an int, got {per_class!r}")
  if per_class < 1:
    raise ValueError(f"{field} must be >= 1, got {per_class}")
  if num_classes is None:
    num_classes = int(labels.max()) + 1
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(
        f"labels must lie in [0, {num_classes}), got values from "
        f"{labels.min()} to {labels.max()}")
  counts = np.bincount(labels, minlength=num_classes)
  short = int(np.argmin(counts))
  if counts[short] < per_class:
    raise ValueError(
        f"{field}={per_class} labelled examples per class, but class {short} "
        f"has only {counts[short]} in the {labels.shape[0]} examples; lower "
        f"{field} to at most {counts[short]}")
  order = np.random.RandomState(seed).permutation(labels.shape[0])
  permuted = labels[order]
  return np.concatenate([
      order[permuted == k][:per_class] for k in range(num_classes)
  ]).astype(np.int64)
