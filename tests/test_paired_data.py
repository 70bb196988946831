"""Paired (aligned A|B) and unpaired (trainA/trainB, TFDS cycle_gan) data:
the A|B split, the synchronised random jitter, determinism per step and
process, epochs, test-time iteration and error messages."""

import itertools

import numpy as np
import pytest
from PIL import Image

from gans_jax import data as gd


def _save(path, pixels):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(pixels).save(path)


def _random_rgb(rng, height, width):
  return rng.integers(0, 256, (height, width, 3), np.uint8)


def _write_aligned(root, *, count=3, size=10, seed=0, split="train"):
  """A|B files whose B half is A with its colour channels reversed."""
  rng = np.random.default_rng(seed)
  halves = []
  for i in range(count):
    a = _random_rgb(rng, size, size)
    _save(root / split / f"{i:03d}.png", np.concatenate([a, a[..., ::-1]],
                                                        axis=1))
    halves.append(a)
  return halves


def _constant_images(folder, values, size=6):
  for i, value in enumerate(values):
    _save(folder / f"{i:03d}.png", np.full((size, size, 3), value, np.uint8))


def _value_ids(images, step=10):
  """The constant pixel value of each image in [-1, 1], back to its id."""
  values = (np.asarray(images)[..., 0, 0, 0] + 1.0) * 127.5
  return np.rint(values / step).astype(int).tolist()


def _bicubic(image, size):
  return np.asarray(Image.fromarray(image).resize((size, size),
                                                  Image.BICUBIC))


def _to_unit(image):
  return image.astype(np.float32) / 127.5 - 1.0


# ------------------------------------------------------------- sources ----

def test_aligned_files_split_into_a_left_and_b_right(tmp_path):
  rng = np.random.default_rng(1)
  a, b = _random_rgb(rng, 6, 6), _random_rgb(rng, 6, 7)
  _save(tmp_path / "val" / "odd.png", np.concatenate([a, b], axis=1))
  source = gd.make_paired_source(f"aligned:{tmp_path}", split="val")
  assert len(source) == 1 and source.files[0].name == "odd.png"
  # Width 13: A is columns [0, 6), B columns [6, 13) (the official w // 2).
  np.testing.assert_array_equal(source[0]["a"], a)
  np.testing.assert_array_equal(source[0]["b"], b)
  swapped = gd.make_paired_source(f"aligned:{tmp_path}", split="val",
                                  direction="BtoA")[0]
  np.testing.assert_array_equal(swapped["a"], b)
  np.testing.assert_array_equal(swapped["b"], a)
  # Without jitter at the native size, batches are the halves in [-1, 1].
  even = np.concatenate([a, a[::-1]], axis=1)
  _save(tmp_path / "train" / "even.png", even)
  batch = gd.PairedBatches(gd.AlignedSource(tmp_path / "train"), batch_size=1,
                           seed=0, image_size=6, jitter=False,
                           process_index=0, process_count=1).get_batch(0)
  np.testing.assert_allclose(batch["a"][0], _to_unit(a), atol=1e-6)
  np.testing.assert_allclose(batch["b"][0], _to_unit(a[::-1]), atol=1e-6)
  with pytest.raises(ValueError, match="direction"):
    gd.AlignedSource(tmp_path / "train", direction="AtoC")


def test_jitter_is_resize_crop_flip_shared_by_both_halves(tmp_path):
  halves = _write_aligned(tmp_path, count=3, size=10)
  batches = gd.PairedBatches(gd.AlignedSource(tmp_path / "train"),
                             batch_size=4, seed=3, image_size=8, load_size=12,
                             process_index=0, process_count=1)
  loaded = [_bicubic(a, 12) for a in halves]
  seen_offsets, seen_flips = set(), set()
  for step in range(6):
    batch = batches.get_batch(step)
    assert batch["a"].shape == batch["b"].shape == (4, 8, 8, 3)
    for a, b in zip(batch["a"], batch["b"]):
      # B is A with reversed channels, so equal draws keep that relation.
      np.testing.assert_array_equal(b, a[..., ::-1])
      matches = [
          (top, left, flip)
          for image, top, left, flip in itertools.product(
              loaded, range(5), range(5), (False, True))
          if np.allclose(a, _to_unit(
              (lambda c: c[:, ::-1] if flip else c)(
                  image[top:top + 8, left:left + 8])), atol=1e-6)]
      assert matches, "not a crop of the 12-pixel bicubic resize"
      seen_offsets.update((t, l) for t, l, _ in matches)
      seen_flips.update(f for _, _, f in matches)
  assert seen_flips == {False, True} and len(seen_offsets) > 5


def test_paired_batches_are_deterministic_per_step_and_process(tmp_path):
  _write_aligned(tmp_path, count=5, size=12)
  source = gd.AlignedSource(tmp_path / "train")

  def make(**kwargs):
    kwargs = {"batch_size": 4, "seed": 7, "image_size": 8,
              "process_index": 0, "process_count": 1, **kwargs}
    return gd.PairedBatches(source, **kwargs)

  one, again = make(), make()
  for key in ("a", "b"):
    np.testing.assert_array_equal(one.get_batch(3)[key],
                                  again.get_batch(3)[key])
  assert not np.allclose(one.get_batch(3)["a"], one.get_batch(4)["a"])
  assert not np.allclose(one.get_batch(3)["a"],
                         make(seed=8).get_batch(3)["a"])
  # Two processes' shares interleave into the single-process batch.
  shares = [make(process_index=p, process_count=2).get_batch(3)
            for p in range(2)]
  for key in ("a", "b"):
    np.testing.assert_array_equal(shares[0][key], one.get_batch(3)[key][0::2])
    np.testing.assert_array_equal(shares[1][key], one.get_batch(3)[key][1::2])
  # Microbatches: step s with k = 2 is minibatches 2s and 2s + 1.
  stacked = make(num_microbatches=2).get_batch(1)["a"]
  assert stacked.shape == (2, 4, 8, 8, 3)
  np.testing.assert_array_equal(stacked[1], one.minibatch(3)["a"])


def test_paired_batches_visit_every_pair_once_per_epoch(tmp_path):
  values = [10 * i for i in range(1, 7)]
  for i, v in enumerate(values):
    _save(tmp_path / "train" / f"{i}.png",
          np.full((4, 8, 3), v, np.uint8))
  batches = gd.PairedBatches(gd.AlignedSource(tmp_path / "train"),
                             batch_size=3, seed=0, image_size=4, jitter=False,
                             process_index=0, process_count=1)
  ids = sum((_value_ids(batches.get_batch(s)["a"]) for s in range(6)), [])
  epochs = [ids[0:6], ids[6:12], ids[12:18]]
  assert all(sorted(e) == list(range(1, 7)) for e in epochs)
  assert epochs[0] != epochs[1] or epochs[1] != epochs[2]
  ordered = gd.PairedBatches(batches.source, batch_size=3, seed=0,
                             image_size=4, jitter=False, shuffle=False,
                             process_index=0, process_count=1)
  assert _value_ids(ordered.get_batch(1)["a"]) == [4, 5, 6]


def test_test_time_iteration_is_in_order_and_only_resized(tmp_path):
  halves = _write_aligned(tmp_path, count=5, size=10, split="test")
  source = gd.make_paired_source(f"aligned:{tmp_path}", split="test")
  batches = list(gd.ordered_batches(source, batch_size=2, image_size=8))
  assert [b["index"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
  for batch in batches:
    for i, a in zip(batch["index"], batch["a"]):
      np.testing.assert_allclose(a, _to_unit(_bicubic(halves[i], 8)),
                                 atol=1e-6)
  # The same as a batch source without jitter or shuffling.
  plain = gd.PairedBatches(source, batch_size=2, seed=0, image_size=8,
                           jitter=False, shuffle=False, process_index=0,
                           process_count=1).get_batch(1)
  np.testing.assert_array_equal(plain["b"], batches[1]["b"])
  # A folder of single images (to translate): key 'image', here in grey.
  _constant_images(tmp_path / "photos" / "testA", [30, 60, 90])
  _constant_images(tmp_path / "photos" / "testB", [120])
  photos = gd.make_unpaired_source(f"unaligned:{tmp_path / 'photos'}",
                                   split="test")
  for domain in (photos.a, gd.folder_source(tmp_path / "photos" / "testA")):
    batch, = gd.ordered_batches(domain, batch_size=5, image_size=4,
                                channels=1)
    assert batch["image"].shape == (3, 4, 4, 1)
    np.testing.assert_allclose(batch["image"][:, 0, 0, 0],
                               np.array([30, 60, 90]) / 127.5 - 1, atol=1e-6)


# ------------------------------------------------------------ unpaired ----

def _write_unaligned(root, *, count_a=3, count_b=5, split="train"):
  _constant_images(root / f"{split}A", [10 * i for i in range(1, count_a + 1)])
  _constant_images(root / f"{split}B",
                   [10 * i for i in range(11, 11 + count_b)])


def test_unpaired_batches_draw_each_domain_with_its_own_stream(tmp_path):
  _write_unaligned(tmp_path)
  source = gd.make_unpaired_source(f"unaligned:{tmp_path}")
  assert (len(source.a), len(source.b)) == (3, 5)

  def make(**kwargs):
    kwargs = {"batch_size": 5, "seed": 1, "image_size": 6, "jitter": False,
              "process_index": 0, "process_count": 1, **kwargs}
    return gd.UnpairedBatches(source, **kwargs)

  batches = make()
  ids_a = sum((_value_ids(batches.get_batch(s)["a"]) for s in range(3)), [])
  ids_b = sum((_value_ids(batches.get_batch(s)["b"]) for s in range(3)), [])
  # Each domain runs through its own epochs: 3 images of A, 5 of B.
  for e in range(5):
    assert sorted(ids_a[3 * e:3 * e + 3]) == [1, 2, 3]
  for e in range(3):
    assert sorted(ids_b[5 * e:5 * e + 5]) == [11, 12, 13, 14, 15]
  # A's image does not fix B's: the pairing changes across epochs.
  partners = {a: {b for a2, b in zip(ids_a, ids_b) if a2 == a} for a in ids_a}
  assert any(len(p) > 1 for p in partners.values())
  # Deterministic per step, also across instances and processes.
  np.testing.assert_array_equal(make().get_batch(2)["b"],
                                batches.get_batch(2)["b"])
  with pytest.raises(ValueError, match="process_count"):
    make(process_index=1, process_count=2)  # 5 is not divisible by 2
  shares = [gd.UnpairedBatches(source, batch_size=4, seed=1, image_size=6,
                               jitter=False, process_index=p,
                               process_count=2).get_batch(2)
            for p in range(2)]
  single = gd.UnpairedBatches(source, batch_size=4, seed=1, image_size=6,
                              jitter=False, process_index=0,
                              process_count=1).get_batch(2)
  for key in ("a", "b"):
    np.testing.assert_array_equal(shares[1][key], single[key][1::2])
  # 'BtoA' swaps the domains.
  swapped = gd.make_unpaired_source(f"unaligned:{tmp_path}", direction="BtoA")
  assert (len(swapped.a), len(swapped.b)) == (5, 3)


def test_unpaired_jitter_draws_differ_between_domains(tmp_path):
  rng = np.random.default_rng(0)
  image = _random_rgb(rng, 10, 10)
  _save(tmp_path / "trainA" / "x.png", image)
  _save(tmp_path / "trainB" / "x.png", image)
  batches = gd.UnpairedBatches(gd.make_unpaired_source(f"unaligned:{tmp_path}"),
                               batch_size=4, seed=0, image_size=8,
                               load_size=12, process_index=0, process_count=1)
  batch = batches.get_batch(0)
  # Same image in both domains; independent crops and flips tell them apart.
  assert any(not np.array_equal(a, b) for a, b in zip(batch["a"], batch["b"]))
  np.testing.assert_array_equal(batches.get_batch(0)["a"], batch["a"])


def test_tfds_cycle_gan_is_an_unpaired_source():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=5):
    source = gd.make_unpaired_source("tfds:cycle_gan/horse2zebra",
                                     split="train")
    batch = gd.UnpairedBatches(source, batch_size=2, seed=0, image_size=16,
                               process_index=0,
                               process_count=1).get_batch(0)
    test = gd.make_unpaired_source("tfds:cycle_gan/horse2zebra",
                                   split="test")
    first = next(gd.ordered_batches(test.b, batch_size=3, image_size=8))
  assert len(source.a) == len(source.b) == 5
  for key in ("a", "b"):
    assert batch[key].shape == (2, 16, 16, 3)
    assert batch[key].dtype == np.float32
    assert -1.0 <= batch[key].min() < batch[key].max() <= 1.0
  assert first["image"].shape == (3, 8, 8, 3)


# -------------------------------------------------------------- errors ----

def test_broken_image_file_is_named_in_the_error(tmp_path):
  _write_unaligned(tmp_path, count_a=1, count_b=1)
  (tmp_path / "trainA" / "000.png").write_bytes(b"not a png at all")
  batches = gd.UnpairedBatches(gd.make_unpaired_source(f"unaligned:{tmp_path}"),
                               batch_size=1, seed=0, image_size=6,
                               process_index=0, process_count=1)
  with pytest.raises(OSError, match=r"trainA[/\\]000\.png"):
    batches.get_batch(0)
  # A truncated file in an aligned folder.
  _write_aligned(tmp_path / "pairs", count=1, size=16)
  path = tmp_path / "pairs" / "train" / "000.png"
  path.write_bytes(path.read_bytes()[:60])
  with pytest.raises(OSError, match="cannot decode image file.*000.png"):
    gd.AlignedSource(tmp_path / "pairs" / "train")[0]


def test_missing_folders_and_unknown_names_raise_clear_errors(tmp_path):
  with pytest.raises(gd.DatasetNotFoundError, match="trainA.*does not exist"):
    gd.make_unpaired_source(f"unaligned:{tmp_path}")
  (tmp_path / "val").mkdir()
  with pytest.raises(gd.DatasetNotFoundError, match="val.*no image files"):
    gd.make_paired_source(f"aligned:{tmp_path}", split="val")
  with pytest.raises(ValueError, match="aligned:<path>"):
    gd.make_paired_source("facades", split="train")
  with pytest.raises(ValueError, match="unaligned:<path>"):
    gd.make_unpaired_source(f"aligned:{tmp_path}")
  _write_aligned(tmp_path, count=1, size=8)
  with pytest.raises(ValueError, match="load_size"):
    gd.PairedBatches(gd.AlignedSource(tmp_path / "train"), batch_size=1,
                     seed=0, image_size=8, load_size=6)


def test_jitter_sizes_and_options():
  assert [gd.default_load_size(s) for s in (32, 64, 128, 256)] == [
      36, 72, 143, 286]
  rng = np.random.default_rng(0)
  image = _random_rgb(rng, 6, 6)
  for seed in range(20):
    out, = gd.random_jitter((image,), np.random.default_rng(seed),
                            load_size=6, crop_size=6, flip=False)
    np.testing.assert_array_equal(out, image)  # no resize, no crop, no flip
  flipped = [np.array_equal(gd.random_jitter(
      (image,), np.random.default_rng(seed), load_size=6, crop_size=6)[0],
      image[:, ::-1]) for seed in range(20)]
  assert 0 < sum(flipped) < 20
  with pytest.raises(ValueError, match="crop_size"):
    gd.random_jitter((image,), rng, load_size=4, crop_size=6)
  grey = gd.resize_bicubic(image[..., :1], 4)
  assert grey.shape == (4, 4, 1) and grey.dtype == np.uint8
  np.testing.assert_array_equal(grey[..., 0], _bicubic(image[..., 0], 4))
