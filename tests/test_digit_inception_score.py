"""The Inception Score computed with the digit classifier (arXiv 1606.03498)."""

import numpy as np
import pytest

from gans_jax.data import load_digits_split
from gans_jax.eval import classifier as classifier_lib
from gans_jax.eval.metrics import inception_score


@pytest.fixture(scope="module")
def classifier():
  return classifier_lib.train_digit_classifier(seed=0, num_steps=300)


@pytest.fixture(scope="module")
def test_digits():
  return load_digits_split("test", image_size=16)


def test_real_digits_score_near_the_number_of_classes(classifier, test_digits):
  images, _ = test_digits
  mean, std = classifier_lib.classifier_inception_score(classifier, images)
  assert 7.0 < mean <= 10.0
  assert 0.0 < std < 1.0


def test_one_digit_over_and_over_scores_near_one(classifier, test_digits):
  images, labels = test_digits
  threes = images[labels == 3]
  mean, _ = classifier_lib.classifier_inception_score(classifier, threes)
  assert 1.0 <= mean < 1.5


def test_score_is_the_inception_score_of_the_class_logits(classifier,
                                                          test_digits):
  images, _ = test_digits
  got = classifier_lib.classifier_inception_score(classifier, images, splits=5)
  want = inception_score(classifier.logits(images), splits=5)
  assert got == pytest.approx(want, rel=1e-9)
  assert got != pytest.approx(
      classifier_lib.classifier_inception_score(classifier, images), rel=1e-6)
