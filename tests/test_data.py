"""Tests for gans_jax.data: toys, digits, TFDS, folders and batching."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from gans_jax import data as gd
from gans_jax.data import preprocessing

# ------------------------------------------------------------------ toys ----


@pytest.mark.parametrize("name", sorted(gd.TOY_DISTRIBUTIONS))
def test_toy_sampler_returns_float32_points_of_declared_dimension(name):
  dist = gd.get_toy(name)
  x = dist.sample(np.random.default_rng(0), 7)
  assert x.shape == (7, dist.dim)
  assert x.dtype == np.float32
  assert np.all(np.isfinite(x))


def _nearest(x, centers):
  return np.argmin(((x[:, None] - centers[None]) ** 2).sum(-1), axis=1)


def test_eight_gaussians_has_official_centres_and_scaled_std():
  dist = gd.get_toy("8gaussians")
  r = 1 / math.sqrt(2)
  expected = 2 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1),
                           (r, r), (r, -r), (-r, r), (-r, -r)]) / 1.414
  assert dist.centers.shape == (8, 2)
  gaps = np.linalg.norm(dist.centers[:, None] - expected[None], axis=-1)
  np.testing.assert_allclose(gaps.min(axis=0), 0.0, atol=1e-12)
  assert dist.std == pytest.approx(0.02 / 1.414)

  x = dist.sample(np.random.default_rng(1), 40_000).astype(np.float64)
  mode = _nearest(x, dist.centers)
  residual = x - dist.centers[mode]
  assert residual.std() == pytest.approx(dist.std, rel=0.02)
  np.testing.assert_allclose(np.bincount(mode, minlength=8) / len(x),
                             np.full(8, 1 / 8), atol=0.01)


def test_twenty_five_gaussians_has_official_grid_and_scaled_std():
  dist = gd.get_toy("25gaussians")
  grid = np.array([-4, -2, 0, 2, 4]) / 2.828
  expected = {(a, b) for a in grid for b in grid}
  assert {tuple(c) for c in dist.centers} == expected
  assert dist.std == pytest.approx(0.05 / 2.828)

  x = dist.sample(np.random.default_rng(2), 50_000).astype(np.float64)
  mode = _nearest(x, dist.centers)
  assert (x - dist.centers[mode]).std() == pytest.approx(dist.std, rel=0.02)
  assert np.bincount(mode, minlength=25).min() > 0.03 * len(x)


def test_swissroll_radius_follows_the_roll_parameter():
  # Before scaling, the roll is t (cos t, sin t) with t ~ U[1.5 pi, 4.5 pi]
  # plus N(0, 0.25^2) noise, so 7.5 * |x| has mean ~3 pi and stays in range.
  dist = gd.get_toy("swissroll")
  assert dist.centers is None and not dist.has_density
  x = dist.sample(np.random.default_rng(3), 20_000).astype(np.float64)
  radius = 7.5 * np.linalg.norm(x, axis=1)
  assert radius.mean() == pytest.approx(3 * math.pi, abs=0.1)
  assert radius.min() > 1.5 * math.pi - 1.5
  assert radius.max() < 4.5 * math.pi + 1.5
  again = dist.sample(np.random.default_rng(3), 20_000)
  np.testing.assert_array_equal(x.astype(np.float32), again)


def test_fgan_mixture_density_matches_hand_computed_value():
  dist = gd.get_toy("fgan_mixture")

  def normal(x, mu, s):
    return math.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))

  for x in (-1.3, 0.0, 2.4):
    expected = 0.6 * normal(x, -1.0, 0.5) + 0.4 * normal(x, 2.0, 0.75)
    assert dist.pdf(np.array([x]))[0] == pytest.approx(expected, rel=1e-12)
    assert dist.log_density(np.array([[x]]))[0] == pytest.approx(
        math.log(expected), rel=1e-12)


def test_fgan_mixture_samples_have_the_mixture_moments():
  dist = gd.get_toy("fgan_mixture")
  x = dist.sample(np.random.default_rng(4), 200_000)[:, 0].astype(np.float64)
  mean = 0.6 * -1.0 + 0.4 * 2.0
  var = 0.6 * (0.25 + 1.0) + 0.4 * (0.5625 + 4.0) - mean**2
  assert x.mean() == pytest.approx(mean, abs=0.01)
  assert x.var() == pytest.approx(var, rel=0.01)


@pytest.mark.parametrize("name, num_points", [
    ("fgan_mixture", 2001), ("8gaussians", 500), ("25gaussians", 500)])
def test_mixture_density_integrates_to_one(name, num_points):
  dist = gd.get_toy(name)
  low, high = dist.bounds(num_std=8.0)
  points, weights = gd.quadrature_grid(low, high, num_points=num_points)
  assert points.shape == (num_points**dist.dim, dist.dim)
  assert (weights * dist.pdf(points)).sum() == pytest.approx(1.0, abs=1e-6)


def test_quadrature_grid_is_exact_for_bilinear_integrands():
  points, weights = gd.quadrature_grid([0.0, 0.0], [1.0, 2.0], num_points=3)
  assert points.shape == (9, 2) and weights.shape == (9,)
  assert weights.sum() == pytest.approx(2.0)
  # int_0^1 int_0^2 (x y + x) dy dx = 1 * ... = 0.5 * 2 + 0.5 * 2 = 2.
  values = points[:, 0] * points[:, 1] + points[:, 0]
  assert (weights * values).sum() == pytest.approx(2.0)


def test_parallel_lines_is_the_law_of_theta_and_a_uniform():
  dist = gd.get_toy("parallel_lines", theta=0.7)
  x = dist.sample(np.random.default_rng(5), 100_000).astype(np.float64)
  np.testing.assert_allclose(x[:, 0], 0.7, rtol=1e-6)
  assert x[:, 1].min() >= 0.0 and x[:, 1].max() <= 1.0
  assert x[:, 1].mean() == pytest.approx(0.5, abs=0.005)
  assert x[:, 1].var() == pytest.approx(1 / 12, rel=0.02)
  assert not dist.has_density
  np.testing.assert_array_equal(
      gd.get_toy("parallel_lines").sample(np.random.default_rng(0), 4)[:, 0], 0)


def test_get_toy_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match="8gaussians.*swissroll"):
    gd.get_toy("9gaussians")


# ----------------------------------------------------------- toy batches ----


def _toy(**kwargs):
  kwargs = {"batch_size": 8, "seed": 0, "process_index": 0,
            "process_count": 1, **kwargs}
  return gd.ToyBatches("25gaussians", **kwargs)


def test_toy_batches_are_a_batch_source():
  assert isinstance(_toy(), gd.BatchSource)


def test_toy_batches_are_step_deterministic_and_differ_across_steps():
  a, b = _toy(), _toy()
  np.testing.assert_array_equal(a.get_batch(7)["x"], b.get_batch(7)["x"])
  assert a.get_batch(7)["x"].shape == (8, 2)
  assert not np.array_equal(a.get_batch(7)["x"], a.get_batch(8)["x"])
  assert not np.array_equal(a.get_batch(7)["x"], _toy(seed=1).get_batch(7)["x"])


@pytest.mark.parametrize("process_count", [2, 4])
def test_toy_hosts_shares_partition_the_single_host_batch(process_count):
  single = _toy().get_batch(3)["x"]
  shares = [_toy(process_index=p, process_count=process_count).get_batch(3)["x"]
            for p in range(process_count)]
  assert all(s.shape == (8 // process_count, 2) for s in shares)
  union = np.concatenate(shares)
  assert len({tuple(r) for r in union}) == 8
  assert {tuple(r) for r in union} == {tuple(r) for r in single}


def test_toy_microbatches_stack_distinct_consecutive_minibatches():
  source = _toy(num_microbatches=3)
  batch = source.get_batch(2)["x"]
  assert batch.shape == (3, 8, 2)
  for i in range(3):
    np.testing.assert_array_equal(batch[i], source.minibatch(6 + i))
  assert not np.array_equal(batch[0], batch[1])


def test_batch_size_not_divisible_by_process_count_names_the_field():
  with pytest.raises(ValueError, match="batch_size"):
    _toy(batch_size=9, process_count=2)
  with pytest.raises(ValueError, match="num_microbatches"):
    _toy(num_microbatches=0)


def test_process_defaults_come_from_jax():
  source = gd.ToyBatches("8gaussians", batch_size=4, seed=0)
  assert source.sharding.process_count == 1
  assert source.sharding.process_index == 0
  assert source.get_batch(0)["x"].shape == (4, 2)


# ---------------------------------------------------------------- digits ----


def test_digits_splits_are_disjoint_and_cover_the_set():
  index = {s: gd.digits_split_indices(s) for s in gd.DIGITS_SPLITS}
  assert {s: len(i) for s, i in index.items()} == {
      "train": 1297, "validation": 200, "test": 300}
  union = np.concatenate(list(index.values()))
  assert len(np.unique(union)) == 1797
  np.testing.assert_array_equal(gd.digits_split_indices("test"), index["test"])


def test_digits_at_native_size_are_raw_pixels_scaled_to_unit_range():
  from sklearn import datasets
  raw = datasets.load_digits()
  images, labels = gd.load_digits_split("validation", image_size=8)
  index = gd.digits_split_indices("validation")
  assert images.shape == (200, 8, 8, 1) and images.dtype == np.float32
  assert labels.dtype == np.int32
  np.testing.assert_allclose(images[..., 0], raw.images[index] / 8 - 1,
                             atol=1e-6)
  np.testing.assert_array_equal(labels, raw.target[index])


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
def test_digits_resize_to_each_supported_size(size):
  images, labels = gd.load_digits_split("test", image_size=size, channels=3)
  assert images.shape == (300, size, size, 3)
  assert images.min() >= -1.0 and images.max() <= 1.0
  assert images.min() == -1.0 and images.max() > 0.5
  np.testing.assert_array_equal(images[..., 0], images[..., 2])
  assert set(np.unique(labels)) == set(range(10))


def test_digits_reject_bad_arguments():
  with pytest.raises(ValueError, match="image_size"):
    gd.load_digits_split("train", image_size=12)
  with pytest.raises(ValueError, match="channels"):
    gd.load_digits_split("train", channels=2)
  with pytest.raises(ValueError, match="split"):
    gd.load_digits_split("valid")


# --------------------------------------------------------- preprocessing ----


def test_preprocess_scales_crops_resizes_and_converts_channels():
  image = np.zeros((6, 4, 3), np.uint8)
  image[1:5] = 255  # the central 4x4 square is white, the rest black
  out = gd.preprocess_image(image, image_size=4, channels=3)
  np.testing.assert_allclose(out, 1.0)
  out = gd.preprocess_image(image, image_size=2, channels=1)
  assert out.shape == (2, 2, 1)
  np.testing.assert_allclose(out, 1.0, atol=1e-6)

  rgb = np.zeros((4, 4, 3), np.uint8)
  rgb[..., 0] = 255
  grey = gd.preprocess_image(rgb, image_size=4, channels=1)
  np.testing.assert_allclose(grey, 0.299 * 2 - 1, atol=1e-6)
  # A pixel-wise checkerboard shrinks to its mean (0 in [-1, 1]) only if the
  # resize is antialiased; point-sampled bilinear would give +-1.
  board = (np.indices((16, 16)).sum(0) % 2 * 255).astype(np.uint8)
  small = gd.preprocess_image(board, image_size=4, channels=1)
  np.testing.assert_allclose(small, 0.0, atol=0.01)
  assert preprocessing.convert_channels(np.zeros((2, 2, 1)), 3).shape[-1] == 3


# ------------------------------------------------------------------ TFDS ----


@pytest.mark.parametrize("name, size, labelled", [
    ("mnist", 28, True), ("cifar10", 32, True), ("celeb_a", 64, False)])
def test_tfds_datasets_batch_through_grain_from_mock_data(name, size, labelled):
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=12):
    source = gd.make_image_source(name, split="train")
    batches = gd.ImageBatches(source, batch_size=4, seed=0, image_size=size,
                              channels=3, process_index=0, process_count=1)
    batch = batches.get_batch(1)
  assert batch["image"].shape == (4, size, size, 3)
  assert batch["image"].dtype == np.float32
  assert -1.0 <= batch["image"].min() < batch["image"].max() <= 1.0
  assert ("label" in batch) == labelled
  if labelled:
    assert batch["label"].dtype == np.int32 and batch["label"].shape == (4,)


def test_celeb_a_is_center_cropped_to_178_and_scaled():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=3):
    raw = tfds.data_source("celeb_a", split="test")[0]["image"]
    source = gd.tfds_source("celeb_a", split="test")
    batches = gd.ImageBatches(source, batch_size=1, seed=0, image_size=178,
                              channels=3, shuffle=False, process_index=0,
                              process_count=1)
    image = batches.get_batch(0)["image"][0]
  assert raw.shape == (218, 178, 3)
  np.testing.assert_allclose(image, raw[20:198] / 127.5 - 1, atol=1e-6)


def test_missing_tfds_dataset_raises_with_preparation_hint(tmp_path):
  with pytest.raises(gd.DatasetNotFoundError) as info:
    gd.tfds_source("cifar10", split="train", data_dir=tmp_path)
  message = str(info.value)
  assert isinstance(info.value, FileNotFoundError)
  assert "\n" not in message
  assert "'cifar10'" in message and str(tmp_path) in message
  assert "download_and_prepare(file_format='array_record')" in message
  assert "TFRECORD" not in message


def test_unknown_names_say_which_names_exist():
  with pytest.raises(ValueError, match="digits.*mnist"):
    gd.make_image_source("imagenet64", split="train")
  with pytest.raises(gd.DatasetNotFoundError,
                     match="no dataset named 'no_such_dataset_xyz'"):
    gd.tfds_source("no_such_dataset_xyz", split="train")


# -------------------------------------------------------- image batching ----


def _indexed_images(n=48):
  # Image i is constant i / 100 (in [-1, 1]) and has label i.
  images = np.repeat(np.arange(n, dtype=np.float32)[:, None, None, None] / 100,
                     4, axis=1).repeat(4, axis=2)
  return images, np.arange(n)


def _image_batches(**kwargs):
  kwargs = {"batch_size": 8, "seed": 0, "image_size": 4, "channels": 1,
            "process_index": 0, "process_count": 1, **kwargs}
  return gd.ImageBatches(gd.ArraySource(*_indexed_images()), **kwargs)


def test_image_batches_are_step_deterministic_and_differ_across_steps():
  a, b = _image_batches(), _image_batches()
  assert isinstance(a, gd.BatchSource)
  first, again = a.get_batch(5), b.get_batch(5)
  np.testing.assert_array_equal(first["label"], again["label"])
  np.testing.assert_array_equal(first["image"], again["image"])
  assert not np.array_equal(a.get_batch(5)["label"], a.get_batch(6)["label"])
  assert not np.array_equal(a.get_batch(0)["label"],
                            _image_batches(seed=1).get_batch(0)["label"])


def test_image_batches_visit_every_example_once_per_epoch_and_reshuffle():
  source = _image_batches()
  epoch0 = np.concatenate([source.get_batch(s)["label"] for s in range(6)])
  epoch1 = np.concatenate([source.get_batch(s)["label"] for s in range(6, 12)])
  np.testing.assert_array_equal(np.sort(epoch0), np.arange(48))
  np.testing.assert_array_equal(np.sort(epoch1), np.arange(48))
  assert not np.array_equal(epoch0, epoch1)
  batch = source.get_batch(0)
  np.testing.assert_allclose(batch["image"][:, 0, 0, 0], batch["label"] / 100)


@pytest.mark.parametrize("process_count", [2, 4])
def test_image_hosts_shares_partition_the_single_host_batch(process_count):
  for step in (0, 7):
    single = _image_batches().get_batch(step)["label"]
    shares = [_image_batches(process_index=p, process_count=process_count)
              .get_batch(step)["label"] for p in range(process_count)]
    assert all(len(s) == 8 // process_count for s in shares)
    union = np.concatenate(shares)
    assert len(set(union)) == 8
    assert set(union) == set(single)


def test_image_microbatches_stack_distinct_consecutive_minibatches():
  source = _image_batches(num_microbatches=2)
  batch = source.get_batch(3)
  assert batch["image"].shape == (2, 8, 4, 4, 1)
  assert batch["label"].shape == (2, 8)
  np.testing.assert_array_equal(batch["label"][0], source.minibatch(6)["label"])
  np.testing.assert_array_equal(batch["label"][1], source.minibatch(7)["label"])
  assert not set(batch["label"][0]) & set(batch["label"][1])


def test_image_batches_accept_plain_arrays_and_digits():
  images, labels = _indexed_images()
  plain = gd.ImageBatches(images, batch_size=4, seed=0, image_size=8,
                          channels=3, process_index=0, process_count=1)
  assert plain.get_batch(0)["image"].shape == (4, 8, 8, 3)
  assert "label" not in plain.get_batch(0)
  paired = gd.ImageBatches((images, labels), batch_size=4, seed=0,
                           image_size=4, channels=1, process_index=0,
                           process_count=1)
  assert paired.get_batch(0)["label"].dtype == np.int32
  digits = gd.make_image_source("digits", split="train", image_size=16,
                                channels=1)
  assert len(digits) == 1297
  batch = gd.ImageBatches(digits, batch_size=16, seed=0, image_size=16,
                          channels=1, process_index=0,
                          process_count=1).get_batch(0)
  assert batch["image"].shape == (16, 16, 16, 1)
  with pytest.raises(ValueError, match="batch_size"):
    gd.ImageBatches(images, batch_size=6, seed=0, image_size=4, channels=1,
                    process_count=4)


# --------------------------------------------------------------- folders ----


def _write_folder(root):
  from PIL import Image
  rng = np.random.default_rng(0)
  (root / "dog").mkdir(parents=True)
  (root / "cat" / "inner").mkdir(parents=True)
  Image.fromarray(rng.integers(0, 256, (10, 12, 3), np.uint8)).save(
      root / "dog" / "a.png")
  Image.fromarray(rng.integers(0, 256, (8, 8), np.uint8)).save(
      root / "cat" / "b.PNG")
  Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(
      root / "cat" / "inner" / "c.jpg")
  (root / "cat" / "notes.txt").write_text("not an image")


def test_folder_source_reads_images_with_subfolder_labels(tmp_path):
  _write_folder(tmp_path)
  source = gd.folder_source(tmp_path)
  assert len(source) == 3
  assert source.class_names == ("cat", "dog")
  np.testing.assert_array_equal(source.labels, [0, 0, 1])
  assert source[1]["image"].shape == (16, 16, 3)
  assert source[0]["image"].shape == (8, 8)
  batches = gd.ImageBatches(source, batch_size=3, seed=0, image_size=8,
                            channels=3, process_index=0, process_count=1)
  batch = batches.get_batch(0)
  assert batch["image"].shape == (3, 8, 8, 3)
  assert sorted(batch["label"]) == [0, 0, 1]
  same = gd.make_image_source(f"folder:{tmp_path}", split="train")
  assert len(same) == 3
  assert len(gd.folder_source(tmp_path, with_labels=False)[0]) == 1


def test_folder_source_errors_name_the_path(tmp_path):
  missing = tmp_path / "nowhere"
  with pytest.raises(gd.DatasetNotFoundError, match="nowhere.*does not exist"):
    gd.folder_source(missing)
  (tmp_path / "empty").mkdir()
  with pytest.raises(gd.DatasetNotFoundError, match="empty.*no image files"):
    gd.folder_source(tmp_path / "empty")
  _write_folder(tmp_path / "data")
  with pytest.raises(gd.DatasetNotFoundError, match="'test'"):
    gd.make_image_source(f"folder:{tmp_path / 'data'}", split="test")
  from PIL import Image
  Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "data" / "x.png")
  with pytest.raises(ValueError, match="x.png"):
    gd.folder_source(tmp_path / "data", with_labels=True)
  assert gd.folder_source(tmp_path / "data").labels is None


def _modules_loaded_by(statement: str, prefixes: tuple[str, ...]) -> list[str]:
  """The modules under ``prefixes`` that ``statement`` loads in a new process."""
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  code = (f"import json, sys; {statement}; print(json.dumps(sorted("
          f"m for m in sys.modules if m.startswith({prefixes!r}))))")
  done = subprocess.run([sys.executable, "-c", code], cwd=repo, check=True,
                        env=dict(os.environ, PYTHONPATH=repo),
                        capture_output=True, text=True)
  return json.loads(done.stdout)


def test_the_data_pipelines_load_neither_the_training_engine_nor_orbax():
  assert _modules_loaded_by("import gans_jax.data", ("orbax", "gans_jax.train")) == []
  # The contract they fulfil is the loop's own.
  assert _modules_loaded_by(
      "import gans_jax.data, gans_jax.train as t; "
      "assert t.BatchSource is gans_jax.data.BatchSource", ("gans_jax.eval",)) == []


def test_the_training_loop_loads_no_metric_or_picture_code():
  assert _modules_loaded_by("import gans_jax.train.loop", ("gans_jax.eval",)) == []
