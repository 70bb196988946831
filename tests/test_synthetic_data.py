"""Tests for the offline translation data: synthetic facades and typeset digits."""

import os

import numpy as np
import pytest
from scipy import ndimage

from gans_jax import data as gd
from gans_jax.data import font_digits
from gans_jax.data import synthetic_facades as sf


@pytest.fixture(scope="module")
def facades_test():
  return gd.load_facades("test")


# ----------------------------------------------------------------- facades --


def test_a_facade_is_a_function_of_seed_split_and_index():
  first = gd.facade_example(3, split="train", seed=5)
  again = gd.facade_example(3, split="train", seed=5)
  for key in ("a", "b", "label_map"):
    np.testing.assert_array_equal(first[key], again[key])
  others = [gd.facade_example(4, split="train", seed=5),
            gd.facade_example(3, split="test", seed=5),
            gd.facade_example(3, split="train", seed=6)]
  for other in others:
    assert np.mean(other["label_map"] != first["label_map"]) > 0.05
    assert np.abs(other["b"] - first["b"]).mean() > 0.05


def test_source_and_arrays_hold_the_same_examples():
  source = gd.FacadesSource("validation", seed=2, num_examples=7)
  arrays = gd.load_facades("validation", seed=2, num_examples=7)
  assert len(source) == 7
  for i in (0, 6, -1):
    example = source[i]
    for key in ("a", "b", "label_map"):
      np.testing.assert_array_equal(example[key], arrays[key][i])
  with pytest.raises(IndexError):
    source[7]
  assert [len(gd.FacadesSource(s)) for s in ("train", "validation", "test")] == [400, 100, 100]


def test_facade_arrays_have_declared_shapes_types_and_ranges():
  arrays = gd.load_facades("train", image_size=96, num_examples=5)
  assert arrays["a"].shape == arrays["b"].shape == (5, 96, 96, 3)
  assert arrays["label_map"].shape == (5, 96, 96)
  assert arrays["a"].dtype == arrays["b"].dtype == np.float32
  assert arrays["label_map"].dtype == np.int32
  for key in ("a", "b"):
    assert arrays[key].min() >= -1.0 and arrays[key].max() <= 1.0
  assert 0 <= arrays["label_map"].min() and arrays["label_map"].max() < gd.NUM_FACADE_CLASSES


def test_labels_image_paints_each_class_in_its_own_colour(facades_test):
  colours = gd.FACADE_LABEL_COLOURS
  assert colours.shape == (gd.NUM_FACADE_CLASSES, 3)
  gaps = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
  assert gaps[~np.eye(len(colours), dtype=bool)].min() > 0.3
  expected = 2.0 * colours[facades_test["label_map"]] - 1.0
  np.testing.assert_array_equal(facades_test["a"], expected)


def test_label_maps_are_read_back_from_noisy_labels_images(facades_test):
  label_map = facades_test["label_map"][:10]
  noisy = facades_test["a"][:10] + np.random.default_rng(0).uniform(-0.12, 0.12, (10, 64, 64, 3))
  np.testing.assert_array_equal(gd.facade_label_map(noisy), label_map)
  # Each pixel goes to the nearest class colour, halfway points aside.
  colours = 2.0 * gd.FACADE_LABEL_COLOURS - 1.0
  halfway = 0.6 * colours[sf.WINDOW] + 0.4 * colours[sf.BALCONY]
  assert gd.facade_label_map(halfway[None]).tolist() == [sf.WINDOW]


def _class_medians(facades, k):
  """Median photo colour (in [0, 1]) of class ``k`` in each facade; NaN where absent."""
  photos = (facades["b"] + 1.0) / 2.0
  return np.array([np.median(p[m == k], axis=0) if np.any(m == k) else np.full(3, np.nan)
                   for p, m in zip(photos, facades["label_map"])])


def test_each_class_is_photographed_in_its_own_colour_range(facades_test):
  ranges = sf.FACADE_PHOTO_COLOUR_RANGES
  own = [sf.BACKGROUND, sf.WALL, sf.WINDOW, sf.BALCONY, sf.DOOR]  # distinct ranges
  centres = ranges[own].mean(axis=1)
  for i, k in enumerate(own):
    medians = _class_medians(facades_test, k)
    assert np.sum(~np.isnan(medians[:, 0])) >= 20, k
    colour = np.nanmedian(medians, axis=0)
    assert np.all(colour >= ranges[k, 0] - 0.05) and np.all(colour <= ranges[k, 1] + 0.05), k
    assert np.argmin(np.linalg.norm(centres - colour, axis=1)) == i, k


def test_cornices_and_pillars_are_of_the_wall_material(facades_test):
  wall = _class_medians(facades_test, sf.WALL)
  low, high = sf.FACADE_MATERIAL_CONTRAST

  def coupling(k):
    medians = _class_medians(facades_test, k)
    present = ~np.isnan(medians[:, 0])
    ratio = np.median(medians[present] / wall[present])
    correlation = np.mean([np.corrcoef(medians[present, c], wall[present, c])[0, 1]
                           for c in range(3)])
    return ratio, correlation

  for k in (sf.CORNICE, sf.PILLAR):
    ratio, correlation = coupling(k)
    assert low <= ratio <= high and correlation > 0.5, k
  # Other classes' colours vary independently of the wall's (up to shared lighting).
  for k in (sf.WINDOW, sf.DOOR, sf.BACKGROUND):
    assert coupling(k)[1] < 0.45, k


def test_photo_edges_lie_on_label_boundaries(facades_test):
  luma = facades_test["b"] @ np.array([0.299, 0.587, 0.114])
  label_map = facades_test["label_map"]
  across, along = [], []
  for axis in (1, 2):
    step = np.abs(np.diff(luma, axis=axis))
    boundary = np.diff(label_map, axis=axis) != 0
    across.append(step[boundary])
    along.append(step[~boundary])
  # A photo one pixel off its label map gives a ratio near 2.4; aligned, 4.5.
  assert np.concatenate(across).mean() > 3.5 * np.concatenate(along).mean()


def test_facades_follow_the_layout_grammar(facades_test):
  for label_map in facades_test["label_map"]:
    counts = np.bincount(label_map.ravel(), minlength=gd.NUM_FACADE_CLASSES)
    assert counts[sf.WALL] > 0 and counts[sf.WINDOW] > 0
    doors, num_doors = ndimage.label(label_map == sf.DOOR)
    assert num_doors == 1
    assert np.any(doors[-1] > 0)  # standing on the bottom edge
    assert np.all(np.isin(label_map[0], (sf.BACKGROUND, sf.CORNICE)))
    # The top rows are sky or the roof cornice, never a window.
    assert not np.any(label_map[:2] == sf.WINDOW)


def test_a_facade_has_the_same_layout_at_every_size():
  for index in range(5):
    small = gd.facade_example(index, image_size=64)["label_map"]
    large = gd.facade_example(index, image_size=128)["label_map"]
    assert np.mean(large[1::2, 1::2] == small) > 0.93


def test_facade_arguments_are_validated():
  with pytest.raises(ValueError, match="multiple of 32"):
    gd.facade_example(0, image_size=48)
  with pytest.raises(ValueError, match="split"):
    gd.load_facades("val")
  with pytest.raises(ValueError, match="index"):
    gd.facade_example(-1)
  with pytest.raises(ValueError, match="num_examples"):
    gd.FacadesSource("train", num_examples=0)
  with pytest.raises(ValueError, match="label_map"):
    gd.facade_labels_image(np.array([[0, 7]]))


# ----------------------------------------------------------- font digits --


def _ink_box(image):
  rows, cols = np.nonzero(image > 0.0)
  return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def test_fonts_are_the_ones_matplotlib_ships():
  import matplotlib
  root = os.path.realpath(matplotlib.get_data_path())
  paths = {font: font_digits.font_file(font) for font in gd.FONT_DIGIT_FONTS}
  assert len(set(paths.values())) == 3
  for path in paths.values():
    assert os.path.realpath(path).startswith(root) and path.endswith(".ttf")
  with pytest.raises(ValueError, match="font"):
    font_digits.font_file("Arial")


def test_every_digit_renders_in_every_font_centred_within_the_image():
  labels = np.tile(np.arange(10), 3)
  fonts = np.repeat(np.arange(3), 10)
  size = 32
  images = gd.render_font_digits(labels, fonts, image_size=size)
  assert images.shape == (30, size, size) and images.dtype == np.float32
  assert images.min() >= -1.0 and images.max() <= 1.0
  for image in images:
    assert np.all(image[[0, -1]] == -1.0) and np.all(image[:, [0, -1]] == -1.0)
    top, bottom, left, right = _ink_box(image)
    assert abs((top + bottom) / 2 - size / 2) <= 1.0
    assert abs((left + right) / 2 - size / 2) <= 1.0
    assert abs((bottom - top) - font_digits.GLYPH_HEIGHT * size) <= 2.0
  flat = images.reshape(3, 10, -1)
  for font in flat:  # the ten digits of a font differ
    distance = np.linalg.norm(font[:, None] - font[None], axis=-1)
    assert distance[~np.eye(10, dtype=bool)].min() > 5.0
  # One digit differs between fonts: always between Sans and Serif, and on
  # average between Sans and Sans Mono (which shares some of Sans's glyphs).
  sans, serif, mono = flat
  assert np.linalg.norm(sans - serif, axis=-1).min() > 2.0
  assert np.linalg.norm(sans - mono, axis=-1).mean() > 2.0


def test_the_affine_jitter_moves_turns_scales_and_shears_the_ink():
  labels, fonts = np.full(5, 4), np.zeros(5, np.int64)
  plain, moved, turned, small, sheared = gd.render_font_digits(
      labels, fonts, image_size=64,
      rotation=[0, 0, 90, 0, 0], scale=[1, 1, 1, 0.5, 1], shear=[0, 0, 0, 0, 0.4],
      translation=[[0, 0], [0.25, -0.125], [0, 0], [0, 0], [0, 0]])
  ink = lambda image: (image + 1.0) / 2.0
  centroid = lambda image: np.array(ndimage.center_of_mass(ink(image)))
  np.testing.assert_allclose(centroid(moved) - centroid(plain), [-8.0, 16.0], atol=0.3)
  # 90 degrees counter-clockwise about the centre maps the sampling grid onto itself.
  np.testing.assert_allclose(turned, np.rot90(plain), atol=1e-4)
  assert ink(small).sum() == pytest.approx(ink(plain).sum() / 4, rel=0.1)
  # x += shear * y with y down: the lower half moves right, the upper half left.
  lower = centroid(sheared[32:])[1] - centroid(plain[32:])[1]
  upper = centroid(sheared[:32])[1] - centroid(plain[:32])[1]
  assert lower > 2.0 and upper < -2.0


def test_font_digit_splits_are_deterministic_balanced_and_inside_the_image():
  images, labels = gd.load_font_digits("train", seed=0)
  assert images.shape == (1297, 32, 32, 1) and labels.dtype == np.int32
  np.testing.assert_array_equal(labels, np.arange(1297) % 10)
  edge = np.concatenate([images[:, [0, -1]].ravel(), images[:, :, [0, -1]].ravel()])
  assert edge.max() == -1.0
  assert np.all(images.max(axis=(1, 2, 3)) > 0.5)
  # Example i: digit i % 10 in font (i // 10) % 3, placed by jitter row i.
  index = np.arange(60)
  jitter = font_digits.font_digit_jitter("train", 60, seed=0)
  expected = gd.render_font_digits(index % 10, (index // 10) % 3, **jitter)
  np.testing.assert_array_equal(images[:60, ..., 0], expected)
  again, _ = gd.load_font_digits("train", seed=0, num_examples=40)
  np.testing.assert_array_equal(again, images[:40])
  other_seed, _ = gd.load_font_digits("train", seed=1, num_examples=40)
  test, _ = gd.load_font_digits("test", seed=0, num_examples=40)
  for other in (other_seed, test):
    assert np.all(np.abs(other - images[:40]).mean(axis=(1, 2, 3)) > 0.01)
  rgb, _ = gd.load_font_digits("train", num_examples=3, channels=3, image_size=16)
  assert rgb.shape == (3, 16, 16, 3)
  np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_unpaired_digits_are_handwritten_in_a_and_typeset_in_b():
  pair = gd.load_unpaired_digits("test", image_size=16, channels=1)
  handwritten, handwritten_labels = gd.load_digits_split("test", image_size=16)
  typeset, typeset_labels = gd.load_font_digits("test", image_size=16)
  np.testing.assert_array_equal(pair["a"], handwritten)
  np.testing.assert_array_equal(pair["a_labels"], handwritten_labels)
  np.testing.assert_array_equal(pair["b"], typeset)
  np.testing.assert_array_equal(pair["b_labels"], typeset_labels)
