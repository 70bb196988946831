"""Stacked digits (1,000 modes) and the PacGAN mode metric."""

import math

import numpy as np
import pytest

import gans_jax.data as gdata
from gans_jax.data import stacked_digits as stacked_lib
from gans_jax.eval import classifier as classifier_lib
from gans_jax.eval import modes


# ------------------------------------------------------------------- data ----


def _digit_lookup(split, image_size):
  images, labels = gdata.load_digits_split(split, image_size=image_size)
  return {images[i, ..., 0].tobytes(): int(labels[i])
          for i in range(len(images))}


def test_each_channel_is_a_whole_digit_of_its_label():
  source = gdata.StackedDigitsBatches(batch_size=64, seed=0, image_size=16)
  batch = source.get_batch(3)
  assert batch["image"].shape == (64, 16, 16, 3)
  assert batch["image"].dtype == np.float32
  assert batch["label"].shape == (64, 3) and batch["label"].dtype == np.int32
  lookup = _digit_lookup("train", 16)
  for i in range(64):
    for c in range(3):
      assert lookup[batch["image"][i, ..., c].tobytes()] == batch["label"][i, c]


def test_channels_are_drawn_independently():
  batch = gdata.StackedDigitsBatches(batch_size=4000, seed=1,
                                     image_size=8).minibatch(0)
  labels = batch["label"]
  for a, b in ((0, 1), (0, 2), (1, 2)):
    assert np.mean(labels[:, a] == labels[:, b]) == pytest.approx(0.1, abs=0.02)
    assert abs(np.corrcoef(labels[:, a], labels[:, b])[0, 1]) < 0.06
  # Close to uniform over the 1,000 triples.
  assert modes.stacked_modes(labels)["kl_to_uniform"] < 0.25


def test_batches_are_a_pure_function_of_seed_and_step():
  make = lambda seed: gdata.StackedDigitsBatches(batch_size=8, seed=seed,
                                                 image_size=8)
  first, again = make(5).get_batch(7), make(5).get_batch(7)
  for key in ("image", "label"):
    np.testing.assert_array_equal(first[key], again[key])
  assert not np.array_equal(first["image"], make(5).get_batch(8)["image"])
  assert not np.array_equal(first["image"], make(6).get_batch(7)["image"])


def test_process_shares_make_up_the_global_batch():
  whole = gdata.StackedDigitsBatches(batch_size=8, seed=2, image_size=8,
                                     process_index=0, process_count=1)
  shares = [gdata.StackedDigitsBatches(batch_size=8, seed=2, image_size=8,
                                       process_index=p, process_count=2)
            for p in range(2)]
  expected = whole.get_batch(4)
  for p, source in enumerate(shares):
    got = source.get_batch(4)
    np.testing.assert_array_equal(got["image"], expected["image"][p::2])
    np.testing.assert_array_equal(got["label"], expected["label"][p::2])
  micro = gdata.StackedDigitsBatches(batch_size=4, seed=2, image_size=8,
                                     num_microbatches=2, process_count=1)
  batch = micro.get_batch(1)
  assert batch["image"].shape == (2, 4, 8, 8, 3)
  np.testing.assert_array_equal(batch["label"][1], micro.minibatch(3)["label"])


def test_evaluation_set_is_fixed_and_drawn_from_the_test_split():
  images, labels = gdata.load_stacked_digits(50, seed=0, image_size=8)
  again, _ = gdata.load_stacked_digits(50, seed=0, image_size=8)
  np.testing.assert_array_equal(images, again)
  assert images.shape == (50, 8, 8, 3) and labels.shape == (50, 3)
  assert not np.array_equal(images, gdata.load_stacked_digits(50, seed=1,
                                                         image_size=8)[0])
  lookup = _digit_lookup("test", 8)
  assert all(lookup[images[i, ..., c].tobytes()] == labels[i, c]
             for i in range(50) for c in range(3))
  with pytest.raises(ValueError, match="num_samples"):
    gdata.load_stacked_digits(0, seed=0)


def test_stack_digits_puts_index_column_c_in_channel_c():
  images = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 2, 2))
  labels = np.array([7, 8, 9, 6])
  stacked, classes = stacked_lib.stack_digits(images, labels,
                                              np.array([[0, 1, 2], [3, 3, 0]]))
  assert stacked.shape == (2, 2, 2, 3)
  np.testing.assert_array_equal(stacked[0, 0, 0], [0, 1, 2])
  np.testing.assert_array_equal(stacked[1, 1, 1], [3, 3, 0])
  np.testing.assert_array_equal(classes, [[7, 8, 9], [6, 6, 7]])


# ----------------------------------------------------------------- metric ----


def test_stacked_modes_counts_ordered_triples():
  triples = np.array([[1, 2, 3], [1, 2, 3], [3, 2, 1], [1, 3, 2]])
  result = modes.stacked_modes(triples)
  assert result["num_modes"] == 1000
  # (1, 2, 3), (3, 2, 1) and (1, 3, 2) are three different modes.
  assert result["modes_covered"] == 3
  histogram = result["histogram"]
  assert histogram.shape == (1000,) and histogram.sum() == 4
  assert (histogram[123], histogram[321], histogram[132]) == (2, 1, 1)
  # KL = 1/2 log(1000/2) + 2 * 1/4 log(1000/4).
  expected = 0.5 * math.log(500) + 0.5 * math.log(250)
  assert result["kl_to_uniform"] == pytest.approx(expected)


def test_stacked_modes_kl_limits():
  every = np.array([[a, b, c] for a in range(10) for b in range(10)
                    for c in range(10)])
  uniform = modes.stacked_modes(np.concatenate([every, every]))
  assert uniform["modes_covered"] == 1000
  assert uniform["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
  collapsed = modes.stacked_modes(np.full((26, 3), 4))
  assert collapsed["modes_covered"] == 1
  assert collapsed["kl_to_uniform"] == pytest.approx(math.log(1000))
  with pytest.raises(ValueError, match=r"\[0, 10\)"):
    modes.stacked_modes(np.array([[0, 10, 1]]))


class _MeanClassifier:
  """Class = the mean pixel of a one-channel image, as an int; records shapes."""

  def __init__(self):
    self.shapes = []

  def predict(self, images):
    self.shapes.append(images.shape)
    return np.rint(images.mean(axis=(1, 2, 3))).astype(np.int32)


def test_classify_channels_reads_each_channel_once_in_order():
  rng = np.random.default_rng(0)
  classes = rng.integers(0, 10, size=(5000, 3))
  images = np.broadcast_to(classes[:, None, None, :].astype(np.float32),
                           (5000, 4, 4, 3))
  classifier = _MeanClassifier()
  got = modes.classify_channels(classifier, images)
  np.testing.assert_array_equal(got, classes)
  # One-channel images only, in chunks.
  assert all(shape[1:] == (4, 4, 1) for shape in classifier.shapes)
  assert sum(shape[0] for shape in classifier.shapes) == 3 * 5000
  assert len(classifier.shapes) > 1
  result = modes.stacked_digit_modes(classifier, images)
  assert result == {**result, **{k: v for k, v in
                                 modes.stacked_modes(classes).items()
                                 if k != "histogram"}}


def test_expected_modes_covered():
  assert modes.expected_modes_covered(2000) == pytest.approx(
      1000 * (1 - math.exp(-2)), rel=1e-3)
  assert modes.expected_modes_covered(modes.PACGAN_NUM_SAMPLES) == (
      pytest.approx(1000.0, abs=1e-6))


@pytest.mark.slow
def test_real_stacks_cover_every_mode_with_the_digit_classifier(tmp_path):
  # The paper's protocol on real stacked digits: 26,000 samples, each channel
  # labelled by the project's classifier, should find all 1,000 modes with a
  # near-uniform histogram.
  classifier = classifier_lib.load_or_train_digit_classifier(
      tmp_path / "digit_classifier.npz")
  images, labels = gdata.load_stacked_digits(modes.PACGAN_NUM_SAMPLES, seed=0,
                                        image_size=16)
  predicted = modes.classify_channels(classifier, images)
  for c in range(3):
    assert np.mean(predicted[:, c] == labels[:, c]) > 0.9
  result = modes.stacked_digit_modes(classifier, images)
  assert result["modes_covered"] == 1000
  assert result["kl_to_uniform"] < 0.1
  # Repeating one channel (the classic bug) collapses the modes to the
  # 100 triples (a, a, b).
  twice = np.concatenate([images[..., :1], images[..., :2]], axis=-1)
  assert modes.stacked_digit_modes(classifier, twice)["modes_covered"] < 200
