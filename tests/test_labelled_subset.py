"""Seeded, balanced labelled subsets for semi-supervised learning."""

import numpy as np
import pytest

from gans_jax.data import labelled_subset
from gans_jax.data import load_digits_split


@pytest.fixture(scope="module")
def digit_labels():
  return load_digits_split("train", image_size=8)[1]


def test_subset_is_balanced_and_drawn_from_each_class(digit_labels):
  indices = labelled_subset(digit_labels, 10, seed=3)
  assert indices.shape == (100,) and indices.dtype == np.int64
  assert len(set(indices.tolist())) == 100
  # Class 0's ten first, then class 1's, ...
  np.testing.assert_array_equal(digit_labels[indices],
                                np.repeat(np.arange(10), 10))


def test_subset_follows_the_official_rule():
  # One permutation of the split, then the first per_class of each class.
  labels = np.array([0, 1, 0, 1, 2, 2, 0, 1, 2, 0], np.int32)
  order = np.random.RandomState(5).permutation(10)
  want = np.concatenate([[i for i in order if labels[i] == k][:2]
                         for k in range(3)])
  np.testing.assert_array_equal(labelled_subset(labels, 2, seed=5), want)


def test_subset_is_a_pure_function_of_labels_count_and_seed(digit_labels):
  first = labelled_subset(digit_labels, 5, seed=7)
  # Another call (a resumed run), after other draws from numpy's global state.
  np.random.seed(123)
  np.random.rand(10)
  np.testing.assert_array_equal(labelled_subset(digit_labels, 5, seed=7), first)
  assert not np.array_equal(labelled_subset(digit_labels, 5, seed=8), first)
  # More labels per class keep the smaller subset's examples, class by class.
  larger = labelled_subset(digit_labels, 6, seed=7).reshape(10, 6)
  np.testing.assert_array_equal(larger[:, :5], first.reshape(10, 5))


def test_too_many_labels_per_class_names_the_field_and_the_class():
  labels = np.array([0] * 5 + [1] * 3 + [2] * 4, np.int32)
  with pytest.raises(ValueError, match=r"data\.labels_per_class=4 .* class 1 "
                                       r"has only 3"):
    labelled_subset(labels, 4, seed=0, field="data.labels_per_class")
  with pytest.raises(ValueError, match="per_class must be >= 1"):
    labelled_subset(labels, 0, seed=0)
  # A class with no example at all.
  with pytest.raises(ValueError, match="class 3 has only 0"):
    labelled_subset(labels, 1, seed=0, num_classes=4)
  with pytest.raises(ValueError, match="labels must lie"):
    labelled_subset(labels, 1, seed=0, num_classes=2)
  with pytest.raises(ValueError, match="seed"):
    labelled_subset(labels, 1, seed=-1)
