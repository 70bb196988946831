"""Datasets as files on disk: a TFDS dataset prepared here in array_record
format and read back with no mocks, image folders with broken, truncated and
mixed-mode files, and the command line's one-line answer to each problem."""

import concurrent.futures
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gans_jax import data as gd
from gans_jax import train as gtrain

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "gans_jax_tiny_images"
TINY_TRAIN, TINY_TEST = 10, 4


def _tiny_image(i):
  # Image i: 6x6 RGB, channel c holds 18 i + c everywhere; its label is i % 3.
  return np.broadcast_to(np.array([18 * i, 18 * i + 1, 18 * i + 2], np.uint8),
                         (6, 6, 3)).copy()


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
  """A TFDS data dir holding ``TINY`` prepared in array_record format by TFDS
  itself (no TensorFlow: PIL images are stored as PNG bytes)."""
  import tensorflow_datasets as tfds
  from PIL import Image

  class GansJaxTinyImages(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, features=tfds.features.FeaturesDict({
              "image": tfds.features.Image(shape=(6, 6, 3)),
              "label": tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
      del dl_manager  # nothing to download
      return {"train": self._generate_examples(range(TINY_TRAIN)),
              "test": self._generate_examples(range(TINY_TRAIN,
                                                    TINY_TRAIN + TINY_TEST))}

    def _generate_examples(self, indices):
      for i in indices:
        yield i, {"image": Image.fromarray(_tiny_image(i)), "label": i % 3}

  data_dir = tmp_path_factory.mktemp("tfds")
  GansJaxTinyImages(data_dir=str(data_dir)).download_and_prepare(
      file_format="array_record")
  assert GansJaxTinyImages.name == TINY
  return data_dir


def _copy(tiny_tfds, tmp_path):
  """A private copy of the prepared data dir and its version folder."""
  data_dir = tmp_path / "tfds"
  shutil.copytree(tiny_tfds, data_dir)
  return data_dir, data_dir / TINY / "1.0.0"


def _index(image):
  # Inverse of _tiny_image on a uint8 image or a preprocessed one in [-1, 1].
  value = image[..., 0].mean()
  if image.dtype != np.uint8:
    value = (value + 1) * 127.5
  return int(round(value / 18))


# ------------------------------------------------------- TFDS, no mocks ----


def test_prepared_array_record_dataset_reads_back_what_was_written(tiny_tfds):
  source = gd.make_image_source(f"tfds:{TINY}", split="train",
                                data_dir=tiny_tfds)
  assert len(source) == TINY_TRAIN
  seen = []
  for n in range(len(source)):
    example = source[n]
    i = _index(example["image"])
    np.testing.assert_array_equal(example["image"], _tiny_image(i))
    assert example["label"] == i % 3
    seen.append(i)
  assert sorted(seen) == list(range(TINY_TRAIN))
  # Slices and unions of splits go through TFDS's own split arithmetic.
  both = gd.tfds_source(TINY, split="train[:40%]+test", data_dir=tiny_tfds)
  assert len(both) == 4 + TINY_TEST
  assert {_index(both[n]["image"]) for n in range(len(both))} >= set(
      range(TINY_TRAIN, TINY_TRAIN + TINY_TEST))


def test_prepared_dataset_trains_two_steps_through_grain_and_fit(
    tiny_tfds, tmp_path):
  source = gd.tfds_source(TINY, split="train", data_dir=tiny_tfds)
  batches = gd.ImageBatches(source, batch_size=4, seed=0, image_size=6,
                            channels=3, process_index=0, process_count=1)
  expected = [batches.get_batch(s) for s in range(2)]
  for batch in expected:
    for image, label in zip(batch["image"], batch["label"]):
      i = _index(image)
      np.testing.assert_allclose(image, _tiny_image(i) / 127.5 - 1, atol=1e-6)
      assert label == i % 3

  def step(state, batch, key):
    del key
    state = {"images": state["images"] + batch["image"].sum(0),
             "labels": state["labels"] + batch["label"].sum()}
    return state, {"label_sum": batch["label"].sum().astype(jnp.float32)}

  config = ml_collections.ConfigDict()
  config.train = gtrain.train_defaults(num_steps=2, batch_size=4, log_every=1,
                                       checkpoint_every=2, sample_every=0)
  init = {"images": jnp.zeros((6, 6, 3)), "labels": jnp.zeros((), jnp.int32)}
  state = gtrain.fit(step, init, batches, config, str(tmp_path),
                     progress=False)
  np.testing.assert_allclose(
      state["images"], sum(b["image"].sum(0) for b in expected), atol=1e-5)
  assert int(state["labels"]) == sum(int(b["label"].sum()) for b in expected)


def _make_tfrecord(version_dir):
  # What a dataset prepared in TFRecord looks like on disk. Writing real
  # TFRecord files needs TensorFlow, which is not installed; the contents
  # are never read, only the names and dataset_info.json.
  for path in version_dir.glob(f"{TINY}-*.array_record-*"):
    path.rename(path.with_name(path.name.replace("array_record", "tfrecord")))
  _edit_info(version_dir, lambda info: info.update(fileFormat="tfrecord"))


def _edit_info(version_dir, edit):
  path = version_dir / "dataset_info.json"
  info = json.loads(path.read_text())
  edit(info)
  path.write_text(json.dumps(info))


def _empty_train_split(version_dir):
  for path in version_dir.glob(f"{TINY}-train.*"):
    path.unlink()
  _edit_info(version_dir, lambda info: [
      s.update(shardLengths=[], numBytes="0") for s in info["splits"]
      if s["name"] == "train"])


def _unfinished(data_dir):
  shutil.rmtree(data_dir / TINY)
  (data_dir / TINY / "incomplete.X1Y2Z3_1.0.0").mkdir(parents=True)


@pytest.mark.parametrize("case, split, words", [
    ("no data dir", "train", ["does not exist"]),
    ("no dataset folder", "train", [f"no {{data_dir}}{os.sep}{TINY}"]),
    ("unfinished preparation", "train", ["incomplete.X1Y2Z3_1.0.0"]),
    ("prepared as tfrecord", "train",
     ["as tfrecord", "tfds convert_format --dataset_version_dir={version_dir}",
      "--out_file_format=array_record"]),
    ("empty split", "train", ["split 'train'", "is empty",
                              "delete {version_dir}"]),
    ("missing file", "train", ["0 of its 1 array_record files"]),
    ("unknown split", "validation", ["no split 'validation'",
                                     "'test', 'train'"]),
    ("empty slice", "train[:0]", ["selects no examples"]),
])
def test_unusable_tfds_dataset_is_one_line_naming_it_its_dir_and_the_fix(
    tiny_tfds, tmp_path, case, split, words):
  data_dir, version_dir = _copy(tiny_tfds, tmp_path)
  if case == "no data dir":
    shutil.rmtree(data_dir)
  elif case == "no dataset folder":
    shutil.rmtree(data_dir / TINY)
  elif case == "unfinished preparation":
    _unfinished(data_dir)
  elif case == "prepared as tfrecord":
    _make_tfrecord(version_dir)
  elif case == "empty split":
    _empty_train_split(version_dir)
  elif case == "missing file":
    next(version_dir.glob(f"{TINY}-train.array_record-*")).unlink()
  with pytest.raises(gd.DatasetNotFoundError) as info:
    gd.make_image_source(f"tfds:{TINY}", split=split, data_dir=data_dir)
  message = str(info.value)
  assert isinstance(info.value, gd.DataError)
  assert "\n" not in message
  assert f"'{TINY}'" in message and str(data_dir) in message, message
  for word in words:
    word = word.format(data_dir=data_dir, version_dir=version_dir)
    assert word in message, message
  if case in ("no data dir", "no dataset folder", "unfinished preparation"):
    assert (f"tfds.builder('{TINY}', data_dir='{data_dir}')"
            ".download_and_prepare(file_format='array_record')") in message


def test_failure_with_complete_files_is_reraised_as_tfds_raised_it(
    tiny_tfds, tmp_path, monkeypatch):
  # Only what the disk shows unprepared is reworded; any other failure keeps
  # its own type and traceback.
  import tensorflow_datasets as tfds
  data_dir, _ = _copy(tiny_tfds, tmp_path)

  def broken(*args, **kwargs):
    raise RuntimeError("a bug inside TFDS")

  monkeypatch.setattr(tfds, "data_source", broken)
  with pytest.raises(RuntimeError, match="a bug inside TFDS"):
    gd.tfds_source(TINY, split="train", data_dir=data_dir)


# ---------------------------------------------------------- image folders --


def _save(path, array):
  from PIL import Image
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(array).save(path)


def _truncated_png(path):
  # A PNG whose header is intact but whose pixel data stops half way.
  import io
  from PIL import Image
  buffer = io.BytesIO()
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(
      buffer, format="png")
  data = buffer.getvalue()
  path.write_bytes(data[:len(data) // 2])


def _folder(root, n=6, size=8):
  for i in range(n):
    _save(root / f"img{i:02d}.png", np.full((size, size, 3), 10 * i, np.uint8))
  return root


def test_unreadable_file_stops_the_build_naming_it(tmp_path):
  root = _folder(tmp_path / "images")
  (root / "notes.png").write_text("not an image")
  (root / "empty.jpg").write_bytes(b"")
  with pytest.raises(gd.UnreadableImageError) as info:
    gd.folder_source(root)
  message = str(info.value)
  assert isinstance(info.value, gd.DataError) and "\n" not in message
  # Sorted order: empty.jpg comes first, and the other is counted and named.
  assert info.value.path == str(root / "empty.jpg")
  assert "empty.jpg" in message and "1 more" in message
  assert "notes.png" in message and "skip_unreadable=True" in message


def test_skip_unreadable_leaves_out_exactly_the_broken_files(tmp_path, caplog):
  root = tmp_path / "images"
  _folder(root / "cat", n=3)
  _folder(root / "dog", n=2)
  (root / "cat" / "broken.png").write_text("html error page")
  # A class whose only file is broken keeps its number: 'dog' stays 2.
  (root / "bird").mkdir()
  (root / "bird" / "x.webp").write_bytes(b"\x00" * 10)
  with caplog.at_level(logging.WARNING, logger="gans_jax.data"):
    source = gd.folder_source(root, skip_unreadable=True)
  assert len(source) == 5
  assert [p for p, _ in source.skipped] == [root / "bird" / "x.webp",
                                             root / "cat" / "broken.png"]
  assert source.class_names == ("bird", "cat", "dog")
  np.testing.assert_array_equal(source.labels, [1, 1, 1, 2, 2])
  assert all("broken" not in str(f) for f in source.files)
  log = caplog.text
  assert "skipped 2 of 7" in log and "broken.png" in log and "x.webp" in log


def test_scan_of_a_large_folder_keeps_file_order(tmp_path):
  # 70 files take the threaded scan; the broken ones are at known places.
  root = tmp_path / "images"
  broken = {3, 40, 69}
  for i in range(70):
    if i in broken:
      (root / f"{i:03d}.png").write_text("broken")
    else:
      _save(root / f"{i:03d}.png", np.full((2, 2), i, np.uint8))
  source = gd.folder_source(root, skip_unreadable=True)
  assert [p.name for p, _ in source.skipped] == ["003.png", "040.png",
                                                 "069.png"]
  assert [int(source[n]["image"][0, 0]) for n in range(len(source))] == [
      i for i in range(70) if i not in broken]


def test_declared_size_past_the_bomb_limit_is_unreadable(tmp_path,
                                                         monkeypatch):
  from PIL import Image
  root = _folder(tmp_path / "images", n=2, size=4)
  _save(root / "huge.png", np.zeros((16, 16), np.uint8))
  # PIL refuses, from the header alone, sizes over 2 * MAX_IMAGE_PIXELS.
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
  with pytest.raises(gd.UnreadableImageError, match="huge.png.*DecompressionBomb"):
    gd.folder_source(root)


def test_all_files_unreadable_with_skip_is_an_empty_dataset(tmp_path):
  root = tmp_path / "images"
  root.mkdir()
  (root / "a.png").write_text("x")
  (root / "b.jpg").write_text("y")
  with pytest.raises(gd.DatasetNotFoundError, match="no readable image.*a.png"):
    gd.folder_source(root, skip_unreadable=True)


def test_truncated_file_fails_when_read_naming_it_even_with_skip(tmp_path):
  root = _folder(tmp_path / "images", n=7)
  _truncated_png(root / "cut.png")
  source = gd.folder_source(root, skip_unreadable=True)
  assert len(source) == 8 and not source.skipped  # its header reads
  cut = [f.name for f in source.files].index("cut.png")
  with pytest.raises(gd.UnreadableImageError, match="cut.png.*truncated") as info:
    source[cut]
  assert info.value.path == str(root / "cut.png")
  again = pickle.loads(pickle.dumps(info.value))
  assert (str(again), again.path) == (str(info.value), info.value.path)
  # Through grain, the batch holding it raises the same error.
  batches = gd.ImageBatches(source, batch_size=8, seed=0, image_size=8,
                            channels=3, process_index=0, process_count=1)
  with pytest.raises(gd.UnreadableImageError, match="cut.png"):
    batches.get_batch(0)


def test_truncated_file_reaches_the_caller_of_fit_from_the_prefetch_thread(
    tmp_path):
  root = _folder(tmp_path / "images", n=7)
  _truncated_png(root / "cut.png")
  batches = gd.ImageBatches(gd.folder_source(root), batch_size=4, seed=0,
                            image_size=8, channels=1, process_index=0,
                            process_count=1)
  config = ml_collections.ConfigDict()
  config.train = gtrain.train_defaults(num_steps=2, batch_size=4, log_every=1,
                                       checkpoint_every=2, sample_every=0)
  step = lambda state, batch, key: (state + batch["image"].sum(), {})
  # 8 files, batch 4: the two steps read every file, the cut one included.
  with pytest.raises(gd.UnreadableImageError, match="cut.png"):
    gtrain.fit(step, jnp.zeros(()), batches, config, str(tmp_path / "run"),
               progress=False)


def test_mixed_modes_convert_to_the_configured_channels(tmp_path):
  root = tmp_path / "images"
  grey = np.full((4, 4), 100, np.uint8)
  rgb = np.broadcast_to(np.array([200, 50, 0], np.uint8), (4, 4, 3)).copy()
  rgba = np.concatenate([rgb, np.zeros((4, 4, 1), np.uint8)], axis=-1)
  grey16 = np.full((4, 4), 30000, np.uint16)
  _save(root / "a_grey.png", grey)
  _save(root / "b_rgb.png", rgb)
  _save(root / "c_rgba.png", rgba)  # fully transparent: alpha is dropped
  _save(root / "d_grey16.png", grey16)
  source = gd.folder_source(root)
  assert source[3]["image"].dtype == np.uint16

  def images(channels):
    batches = gd.ImageBatches(source, batch_size=4, seed=0, image_size=4,
                              channels=channels, shuffle=False,
                              process_index=0, process_count=1)
    return batches.get_batch(0)["image"]

  scale = lambda v, top=255: v / top * 2 - 1
  luma = 0.299 * 200 + 0.587 * 50 + 0.114 * 0
  colour = images(3)
  assert colour.shape == (4, 4, 4, 3)
  np.testing.assert_allclose(colour[0], scale(100), atol=1e-6)
  np.testing.assert_allclose(colour[1], np.broadcast_to(
      scale(np.array([200, 50, 0])), (4, 4, 3)), atol=1e-6)
  np.testing.assert_allclose(colour[2], colour[1], atol=1e-6)
  # 16 bits are kept: 30000 / 65535, not 255 / 255 (a clipped 8-bit copy).
  np.testing.assert_allclose(colour[3], scale(30000, 65535), atol=1e-6)
  grey_out = images(1)
  assert grey_out.shape == (4, 4, 4, 1)
  np.testing.assert_allclose(grey_out[0], scale(100), atol=1e-6)
  np.testing.assert_allclose(grey_out[1], scale(luma), atol=1e-5)
  np.testing.assert_allclose(grey_out[2], scale(luma), atol=1e-5)
  np.testing.assert_allclose(grey_out[3], scale(30000, 65535), atol=1e-6)


def test_fewer_examples_than_one_batch_is_a_data_error(tmp_path):
  source = gd.folder_source(_folder(tmp_path / "images", n=3))
  with pytest.raises(gd.DataError, match=r"images.*3 examples.*batch_size=4"):
    gd.ImageBatches(source, batch_size=4, seed=0, image_size=8, channels=1,
                    process_index=0, process_count=1)
  gd.ImageBatches(source, batch_size=3, seed=0, image_size=8, channels=1,
                  process_index=0, process_count=1)


# ---------------------------------------------------------- command line --


def _run(script, *flags, env=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0",
             **(env or {}))
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", script), *flags],
      capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def _one_error_line(run):
  assert run.returncode == 2, run.stderr[-3000:]
  assert "Traceback" not in run.stderr, run.stderr[-3000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-3000:]
  return lines[0]


_SMOKE = "--config=experiments/configs/dcgan.py:smoke"


def test_tfds_preset_without_prepared_data_exits_2_with_the_instruction(
    tmp_path):
  empty = tmp_path / "tfds"
  empty.mkdir()
  run = _run("dcgan.py", "--config=experiments/configs/dcgan.py:cifar10",
             f"--workdir={tmp_path / 'run'}", env={"TFDS_DATA_DIR": str(empty)})
  line = _one_error_line(run)
  assert "'cifar10'" in line and str(empty) in line
  assert "download_and_prepare(file_format='array_record')" in line


def _tfds_presets():
  """(script, preset) for every preset of experiments/configs that reads a
  TFDS dataset."""
  import importlib

  import experiments
  found = []
  for name in experiments.EXPERIMENTS:
    script = f"{name}.py"
    module = importlib.import_module(f"experiments.configs.{name}")
    for preset in module.PRESETS:
      dataset = module.get_config(preset).data.get("dataset")
      if dataset in gd.TFDS_IMAGE_DATASETS:
        found.append((script, preset, dataset))
  return found


@pytest.mark.slow
def test_every_tfds_preset_without_prepared_data_exits_2_in_one_line(tmp_path):
  empty = tmp_path / "tfds"
  empty.mkdir()
  runs = [(s, f"--config=experiments/configs/{s}:{p}", d)
          for s, p, d in _tfds_presets()]
  # fashion_mnist is a TFDS name of gans_jax.data that no preset uses.
  runs.append(("dcgan.py", "--config.data.dataset=fashion_mnist",
               "fashion_mnist"))
  assert {d for _, _, d in runs} == set(gd.TFDS_IMAGE_DATASETS)
  assert len(runs) >= 10

  def one(index_and_args):
    index, (script, flag, _) = index_and_args
    return _run(script, flag, f"--workdir={tmp_path / f'run{index}'}",
                env={"TFDS_DATA_DIR": str(empty)})

  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    results = list(pool.map(one, enumerate(runs)))
  for (script, flag, dataset), run in zip(runs, results):
    line = _one_error_line(run)
    assert f"'{dataset}'" in line and str(empty) in line, (script, flag, line)
    assert "download_and_prepare" in line, (script, flag, line)


@pytest.mark.slow
def test_tfds_dataset_prepared_here_trains_from_the_command_line(
    tiny_tfds, tmp_path):
  # A fresh process has no builder class for it: TFDS reads it from its files.
  run = _run("dcgan.py", _SMOKE, f"--config.data.dataset=tfds:{TINY}",
             f"--config.data.data_dir={tiny_tfds}",
             f"--workdir={tmp_path / 'run'}")
  assert run.returncode == 0, run.stderr[-3000:]
  assert os.listdir(tmp_path / "run" / "checkpoints") == ["2"]


@pytest.mark.parametrize("case", [
    "broken image", "empty folder", "fewer than a batch", "skip with tfds"])
def test_folder_problems_exit_2_in_one_line(tmp_path, case):
  root = tmp_path / "images"
  root.mkdir()
  flags = [f"--config.data.dataset=folder:{root}"]
  if case == "broken image":
    _folder(root, n=9)
    (root / "broken.png").write_text("not an image")
  elif case == "fewer than a batch":
    _folder(root, n=5)  # the smoke batch is 8
  elif case == "skip with tfds":
    flags = ["--config.data.dataset=mnist", "--config.data.skip_unreadable=True"]
  line = _one_error_line(_run("dcgan.py", _SMOKE, *flags,
                              f"--workdir={tmp_path / 'run'}"))
  expected = {
      "broken image": [str(root / "broken.png"), "skip_unreadable=True"],
      "empty folder": [str(root), "no image files"],
      "fewer than a batch": [str(root), "5 examples", "batch_size=8"],
      "skip with tfds": ["data.skip_unreadable", "'mnist'"],
  }[case]
  for word in expected:
    assert word in line, line
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


@pytest.mark.slow
def test_folder_with_a_broken_image_trains_when_told_to_skip_it(tmp_path):
  root = _folder(tmp_path / "images", n=9)
  (root / "broken.png").write_text("not an image")
  run = _run("dcgan.py", _SMOKE, f"--config.data.dataset=folder:{root}",
             "--config.data.skip_unreadable=True",
             f"--workdir={tmp_path / 'run'}")
  assert run.returncode == 0, run.stderr[-3000:]
  assert "skipped 1 of 10" in run.stderr and "broken.png" in run.stderr
  assert os.listdir(tmp_path / "run" / "checkpoints") == ["2"]
