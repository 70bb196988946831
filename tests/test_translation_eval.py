"""Tests for the translation scores: FCN-scores on the synthetic facades, the
digit and domain classifiers of unpaired digits, cycle L1 and sharpness."""

import os

from flax import nnx
import numpy as np
import pytest
from scipy import ndimage

from gans_jax import data as gd
from gans_jax import eval as ge
from gans_jax.eval import domain
from gans_jax.eval import network_cache
from gans_jax.eval import segmentation

# ------------------------------------------------------------------ scores --


def test_confusion_matrix_counts_true_class_by_predicted_class():
  true = np.array([[0, 0, 1], [2, 2, 1]])
  pred = np.array([[0, 1, 1], [2, 0, 0]])
  want = np.array([[1, 1, 0],
                   [1, 1, 0],
                   [1, 0, 1]])
  np.testing.assert_array_equal(ge.confusion_matrix(pred, true, 3), want)


def test_segmentation_scores_match_hand_computed_values():
  true = np.array([0, 0, 0, 1, 1, 2])
  pred = np.array([0, 0, 1, 1, 2, 2])
  # Confusion rows (true) [2, 1, 0], [0, 1, 1], [0, 0, 1].
  scores = ge.segmentation_scores(pred, true, 3)
  assert scores["per_pixel_accuracy"] == pytest.approx(4 / 6)
  np.testing.assert_allclose(scores["class_accuracies"], [2 / 3, 1 / 2, 1])
  assert scores["per_class_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
  # IoU = hits / (true + predicted - hits): 2 / 3, 1 / 3, 1 / 2.
  np.testing.assert_allclose(scores["class_ious"], [2 / 3, 1 / 3, 1 / 2])
  assert scores["class_iou"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)


def test_segmentation_scores_leave_out_undefined_classes():
  true = np.array([[0, 0], [1, 1]])
  pred = np.array([[0, 2], [1, 1]])
  scores = ge.segmentation_scores(pred, true, 4)
  # Class 2 is predicted but absent: no accuracy, IoU 0. Class 3 is nowhere.
  np.testing.assert_allclose(scores["class_accuracies"], [0.5, 1.0, np.nan, np.nan])
  np.testing.assert_allclose(scores["class_ious"], [0.5, 1.0, 0.0, np.nan])
  assert scores["per_class_accuracy"] == pytest.approx(0.75)
  assert scores["class_iou"] == pytest.approx(0.5)
  assert scores["per_pixel_accuracy"] == pytest.approx(0.75)


def test_segmentation_scores_pool_pixels_over_images():
  rng = np.random.default_rng(0)
  true = rng.integers(0, 4, size=(3, 5, 5))
  pred = np.where(rng.random((3, 5, 5)) < 0.7, true, rng.integers(0, 4, size=(3, 5, 5)))
  pooled = ge.segmentation_scores(pred, true, 4)
  flat = ge.segmentation_scores(pred.ravel(), true.ravel(), 4)
  assert pooled["class_iou"] == pytest.approx(flat["class_iou"])
  np.testing.assert_array_equal(pooled["confusion"], sum(
      ge.confusion_matrix(p, t, 4) for p, t in zip(pred, true)))


def test_segmentation_scores_reject_bad_inputs():
  with pytest.raises(ValueError, match="shape"):
    ge.segmentation_scores(np.zeros(3, int), np.zeros(4, int), 2)
  with pytest.raises(ValueError, match=r"\[0, 2\)"):
    ge.segmentation_scores(np.array([0, 2]), np.array([0, 1]), 2)
  with pytest.raises(ValueError, match="integer"):
    ge.segmentation_scores(np.zeros(2), np.zeros(2, int), 2)


def test_cycle_l1_is_the_mean_absolute_difference():
  images = np.zeros((2, 2, 1, 1))
  reconstructions = np.array([0.5, -1.0, 0.0, 0.25]).reshape(2, 2, 1, 1)
  assert ge.cycle_l1(images, reconstructions) == pytest.approx(1.75 / 4)
  with pytest.raises(ValueError, match="shape"):
    ge.cycle_l1(images, reconstructions[:1])


def test_mean_gradient_magnitude_of_a_ramp_and_an_edge():
  i, j = np.mgrid[0:6, 0:7]
  ramp = (0.3 * j - 0.4 * i)[None, ..., None]
  assert ge.mean_gradient_magnitude(ramp) == pytest.approx(0.5)
  edge = np.where(j >= 3, 1.0, -1.0)[None]  # [1, 6, 7]: one column of steps of 2
  assert ge.mean_gradient_magnitude(edge) == pytest.approx(2.0 / 6)
  assert ge.mean_gradient_magnitude(np.full((2, 4, 4, 3), 0.7)) == 0.0
  with pytest.raises(ValueError, match="shape"):
    ge.mean_gradient_magnitude(np.zeros((2, 1, 4, 1)))


def test_blurring_lowers_the_mean_gradient_magnitude():
  photos = gd.load_facades("test", num_examples=8)["b"]
  blurred = ndimage.uniform_filter(photos, size=(1, 3, 3, 1), mode="nearest")
  more = ndimage.uniform_filter(photos, size=(1, 5, 5, 1), mode="nearest")
  sharp, soft, softer = map(ge.mean_gradient_magnitude, (photos, blurred, more))
  assert sharp > 1.5 * soft > 1.5 * softer


# -------------------------------------------------------- facade segmenter --


def _untrained_segmenter(image_size=32, seed=0):
  features = (8, 16, 32)
  abstract = segmentation._abstract_net(features)
  net = nnx.merge(nnx.graphdef(abstract), network_cache.he_normal_state(abstract, seed))
  return ge.FacadeSegmenter(net, image_size=image_size)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
  """A segmenter trained briefly on 32x32 facades, cached for the module."""
  path = tmp_path_factory.mktemp("nets") / "facade_segmenter_32.npz"
  trained = ge.train_facade_segmenter(image_size=32, num_steps=300)
  trained.save(path)
  return trained, path


@pytest.fixture(scope="module")
def facades_test_32():
  return gd.load_facades("test", image_size=32)


@pytest.mark.slow
def test_segmenter_recovers_the_label_maps_of_real_photos(segmenter, facades_test_32):
  trained, _ = segmenter
  scores = ge.fcn_scores(facades_test_32["b"], facades_test_32["label_map"], trained)
  assert scores["per_pixel_accuracy"] > 0.85
  assert scores["per_class_accuracy"] > 0.7
  assert scores["class_iou"] > 0.6
  for name in ("per_pixel_accuracy", "per_class_accuracy", "class_iou"):
    assert trained.test_scores[name] == pytest.approx(scores[name])
  # Scored against another facade's labels, the same photos fail.
  wrong = ge.fcn_scores(facades_test_32["b"], np.roll(facades_test_32["label_map"], 1, axis=0),
                        trained)
  assert wrong["per_pixel_accuracy"] < scores["per_pixel_accuracy"] - 0.2
  # Photos that lose their textures and colours score lower.
  blurred = ndimage.uniform_filter(facades_test_32["b"], size=(1, 3, 3, 1))
  grey = np.repeat(facades_test_32["b"].mean(axis=-1, keepdims=True), 3, axis=-1)
  for worse in (blurred, grey):
    lower = ge.fcn_scores(worse, facades_test_32["label_map"], trained)
    assert lower["class_iou"] < scores["class_iou"] - 0.05


@pytest.mark.slow
def test_a_cached_segmenter_reloads_equal(segmenter, facades_test_32, monkeypatch):
  trained, path = segmenter
  photos = facades_test_32["b"][:10]
  loaded = ge.FacadeSegmenter.load(path)
  np.testing.assert_array_equal(loaded.logits(photos), trained.logits(photos))
  assert loaded.test_scores == pytest.approx(trained.test_scores)
  assert loaded.image_size == 32 and loaded.features == trained.features

  def no_training(**kwargs):
    raise AssertionError("a cached segmenter was retrained")

  monkeypatch.setattr(segmentation, "train_facade_segmenter", no_training)
  mtime = os.path.getmtime(path)
  cached = ge.load_or_train_facade_segmenter(path, image_size=32)
  np.testing.assert_array_equal(cached.predict(photos), trained.predict(photos))
  assert os.path.getmtime(path) == mtime
  with pytest.raises(ValueError, match="image_size"):
    ge.load_or_train_facade_segmenter(path, image_size=64)
  with pytest.raises(ValueError, match="data_seed"):
    ge.load_or_train_facade_segmenter(path, image_size=32, data_seed=1)


def test_load_or_train_segmenter_trains_and_saves_when_missing(tmp_path, monkeypatch):
  calls = []

  def fake_train(*, image_size, data_seed, seed):
    calls.append((image_size, data_seed, seed))
    return _untrained_segmenter(image_size)

  monkeypatch.setattr(segmentation, "train_facade_segmenter", fake_train)
  path = tmp_path / "sub" / "segmenter.npz"
  made = ge.load_or_train_facade_segmenter(path, image_size=32, seed=3)
  assert calls == [(32, 0, 3)] and path.exists()
  photos = gd.load_facades("test", image_size=32, num_examples=4)["b"]
  np.testing.assert_array_equal(ge.FacadeSegmenter.load(path).logits(photos),
                                made.logits(photos))


def test_segmenter_checks_the_photo_size():
  with pytest.raises(ValueError, match=r"\[N, 32, 32, 3\]"):
    _untrained_segmenter(32).predict(np.zeros((2, 64, 64, 3)))
  with pytest.raises(ValueError, match="label_maps"):
    ge.fcn_scores(np.zeros((2, 32, 32, 3)), np.zeros((2, 16, 16), int),
                  _untrained_segmenter(32))


# ------------------------------------------- digit and domain classifiers --


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
  """Both classifiers, trained briefly and cached for the module."""
  directory = tmp_path_factory.mktemp("nets")
  out = {}
  for task, steps in (("digit", 300), ("domain", 100)):
    trained = ge.train_digit_domain_classifier(task, num_steps=steps)
    trained.save(directory / f"{task}.npz")
    out[task] = (trained, directory / f"{task}.npz")
  return out


@pytest.fixture(scope="module")
def unpaired_test():
  return gd.load_unpaired_digits("test")


@pytest.mark.slow
def test_digit_classifier_reads_both_domains(classifiers, unpaired_test):
  digit, _ = classifiers["digit"]
  for images, labels, name in ((unpaired_test["a"], unpaired_test["a_labels"], "handwritten"),
                               (unpaired_test["b"], unpaired_test["b_labels"], "font")):
    kept = ge.class_preservation(labels, images, digit)
    assert kept >= 0.95
    assert digit.test_accuracies[name] == pytest.approx(kept)
    # Against the wrong digits, preservation collapses.
    assert ge.class_preservation((labels + 1) % 10, images, digit) < 0.05


@pytest.mark.slow
def test_domain_classifier_tells_handwritten_from_typeset(classifiers, unpaired_test):
  classifier, _ = classifiers["domain"]
  assert ge.domain_accuracy(unpaired_test["a"], 0, classifier) >= 0.95
  assert ge.domain_accuracy(unpaired_test["b"], 1, classifier) >= 0.95
  assert ge.domain_accuracy(unpaired_test["a"], 1, classifier) <= 0.05
  assert min(classifier.test_accuracies.values()) >= 0.95
  # RGB and other sizes are read as their gray 16x16 versions.
  rgb = gd.load_font_digits("test", image_size=64, channels=3, num_examples=50)[0]
  assert ge.domain_accuracy(rgb, 1, classifier) >= 0.9


@pytest.mark.slow
def test_cached_classifiers_reload_equal(classifiers, unpaired_test, monkeypatch):
  images = np.concatenate([unpaired_test["a"][:20], unpaired_test["b"][:20]])

  def no_training(*args, **kwargs):
    raise AssertionError("a cached classifier was retrained")

  monkeypatch.setattr(domain, "train_digit_domain_classifier", no_training)
  for task, (trained, path) in classifiers.items():
    loaded = ge.load_or_train_digit_domain_classifier(path, task=task)
    np.testing.assert_array_equal(loaded.logits(images), trained.logits(images))
    assert loaded.test_accuracies == pytest.approx(trained.test_accuracies)
    assert loaded.task == task
  with pytest.raises(ValueError, match="task"):
    ge.DigitDomainClassifier.load(classifiers["digit"][1], task="domain")


def _untrained_classifier(task, seed=0):
  num_classes = 10 if task == "digit" else 2
  abstract = domain._abstract_net(num_classes)
  net = nnx.merge(nnx.graphdef(abstract), network_cache.he_normal_state(abstract, seed))
  return ge.DigitDomainClassifier(net, task=task)


def test_load_or_train_classifier_trains_and_saves_when_missing(tmp_path, monkeypatch):
  calls = []

  def fake_train(task, *, seed):
    calls.append((task, seed))
    return _untrained_classifier(task, seed)

  monkeypatch.setattr(domain, "train_digit_domain_classifier", fake_train)
  path = tmp_path / "domain.npz"
  made = ge.load_or_train_digit_domain_classifier(path, task="domain", seed=2)
  assert calls == [("domain", 2)] and path.exists()
  images = gd.load_font_digits("test", num_examples=8)[0]
  np.testing.assert_array_equal(
      ge.DigitDomainClassifier.load(path, task="domain").logits(images), made.logits(images))


def test_scores_need_the_right_classifier():
  images = np.zeros((3, 32, 32, 1))
  with pytest.raises(ValueError, match="'digit' classifier"):
    ge.class_preservation(np.zeros(3, int), images, _untrained_classifier("domain"))
  with pytest.raises(ValueError, match="'domain' classifier"):
    ge.domain_accuracy(images, 1, _untrained_classifier("digit"))
  with pytest.raises(ValueError, match="target_domain"):
    ge.domain_accuracy(images, 2, _untrained_classifier("domain"))
  with pytest.raises(ValueError, match="input_labels"):
    ge.class_preservation(np.zeros(4, int), images, _untrained_classifier("digit"))


def test_output_spread_is_the_mean_distance_over_pairs():
  outputs = np.array([0.0, 1.0, 3.0]).reshape(3, 1, 1, 1)
  # Pairs (0, 1), (0, 2), (1, 2): 1, 3 and 2.
  assert ge.output_spread(outputs) == pytest.approx(2.0)
  two_pixels = np.array([[0.0, 0.0], [1.0, -1.0], [0.0, 2.0]])
  # Per pair the mean over the two pixels: (1 + 1) / 2, (0 + 2) / 2, (1 + 3) / 2.
  assert ge.output_spread(two_pixels) == pytest.approx(4.0 / 3)
  collapsed = np.ones((5, 4, 4, 3))
  assert ge.output_spread(collapsed) == 0.0
  with pytest.raises(ValueError, match="at least 2"):
    ge.output_spread(outputs[:1])
