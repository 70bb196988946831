"""Synthetic facades: procedural label maps and their 'photos', made on the fly.

An offline stand-in for the CMP Facades labels <-> photo task of pix2pix
(Isola et al., arXiv 1611.07004): nothing is downloaded or stored, every example
is drawn from numpy's ``Generator`` seeded with ``[seed, split, index]``.

A *label map* assigns each pixel one of seven classes (``FACADE_CLASSES``),
laid out by a small grammar: sky above (and sometimes beside) a wall; a roof
cornice; floors, optionally separated by string courses; pillars at the wall's
edges; a grid of windows with jittered positions and mullions; balconies under
some floors' windows; one door on the ground floor, standing on the bottom edge.
Its *labels image* paints each class in a fixed colour (``FACADE_LABEL_COLOURS``),
as the facades dataset colour-codes its labels.

The *photo* renders each class with a colour drawn from its own range
(``FACADE_PHOTO_COLOUR_RANGES``: window, balcony and the darker doors overlap)
and its own texture: bricks or plaster for the wall, horizontal mouldings on
cornices, vertical fluting on pillars, streaked glass with light mullions in
windows, railings on balconies, planks on doors. Cornices and pillars are of the
wall's material: their colour is the wall's times a factor drawn from
``FACADE_MATERIAL_CONTRAST``, so texture and shape, more than colour, tell
them from the wall. Every rectangle gets its own small brightness offset; a
brightness gradient in a random direction, a global brightness and colour cast,
and pixel noise light the whole picture. Recovering the label map from the
photo is thus learnable but not a colour lookup, and a photo painted in flat
class colours (what an L1 loss alone tends to produce) loses the cues that
separate cornices and pillars from the wall.

Geometry is drawn in fractions of the image before any pixel is, so one
``(seed, split, index)`` gives the same facade at every ``image_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FACADE_CLASSES = ("background", "wall", "cornice", "pillar", "window", "balcony", "door")
NUM_FACADE_CLASSES = len(FACADE_CLASSES)
BACKGROUND, WALL, CORNICE, PILLAR, WINDOW, BALCONY, DOOR = range(NUM_FACADE_CLASSES)

FACADE_LABEL_COLOURS = np.array([
    (0.00, 0.00, 0.50),  # background: dark blue
    (0.00, 0.00, 1.00),  # wall: blue
    (0.00, 0.80, 1.00),  # cornice: cyan
    (0.40, 1.00, 0.60),  # pillar: green
    (1.00, 0.55, 0.00),  # window: orange
    (1.00, 1.00, 0.00),  # balcony: yellow
    (0.85, 0.00, 0.00),  # door: red
], dtype=np.float32)
"""RGB in ``[0, 1]`` of each class in the labels image (``2 c - 1`` in the image)."""

FACADE_PHOTO_COLOUR_RANGES = np.array([
    ((0.55, 0.65, 0.78), (0.85, 0.90, 1.00)),  # background: sky
    ((0.50, 0.32, 0.24), (0.85, 0.75, 0.62)),  # wall: brick red to beige
    ((0.50, 0.32, 0.24), (0.85, 0.75, 0.62)),  # cornice: the wall's material
    ((0.50, 0.32, 0.24), (0.85, 0.75, 0.62)),  # pillar: the wall's material
    ((0.10, 0.14, 0.20), (0.35, 0.42, 0.50)),  # window: dark glass
    ((0.08, 0.08, 0.08), (0.35, 0.33, 0.30)),  # balcony: dark metal
    ((0.25, 0.12, 0.06), (0.55, 0.36, 0.22)),  # door: wood
], dtype=np.float32)
"""``[class, (low, high), RGB]`` in ``[0, 1]``: the range of each class's base
colour (cornices and pillars: of the wall's, before ``FACADE_MATERIAL_CONTRAST``)."""

FACADE_MATERIAL_CONTRAST = (0.8, 1.3)
"""Range of the factors between the wall's colour and its cornices' and pillars'."""

FACADES_SPLITS: dict[str, int] = {"train": 400, "validation": 100, "test": 100}
"""Default number of examples per split (as CMP Facades: 400 training images)."""

FACADES_VERSION = 1
"""Changes whenever the generator's output changes (cached networks check it)."""

_SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}


def check_facade_image_size(image_size: int) -> int:
  """Validates ``image_size``: a positive multiple of 32."""
  if (isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer))
      or image_size < 32 or image_size % 32):
    raise ValueError(f"image_size must be a positive multiple of 32, got {image_size!r}")
  return int(image_size)


def _check_split(split: str) -> int:
  if split not in _SPLIT_STREAMS:
    raise ValueError(f"split must be one of {', '.join(_SPLIT_STREAMS)}, got {split!r}")
  return _SPLIT_STREAMS[split]


# ------------------------------------------------------------------ layout --


def _facade_layout(rng: np.random.Generator) -> tuple[list, list]:
  """Rectangles ``(class, top, bottom, left, right)`` in fractions, painted in order,
  and the mullion lines ``(top, bottom, left, right)`` of the windows."""
  rects, mullions = [], []
  top = rng.uniform(0.0, 0.18)
  if rng.random() < 0.5:
    left, right = 0.0, 1.0
  else:
    left, right = rng.uniform(0.0, 0.12), 1.0 - rng.uniform(0.0, 0.12)
  rects.append((WALL, top, 1.0, left, right))

  roof = rng.uniform(0.03, 0.06)
  inner_top = top + roof
  num_floors = int(rng.integers(3, 6))
  ground_ratio = rng.uniform(1.2, 1.5)
  floor = (1.0 - inner_top) / (num_floors - 1 + ground_ratio)
  floor_tops = [inner_top + i * floor for i in range(num_floors)]

  if rng.random() < 0.5:  # string courses between the floors
    course = rng.uniform(0.015, 0.03)
    for y in floor_tops[1:]:
      rects.append((CORNICE, y - course / 2, y + course / 2, left, right))
  inner_left, inner_right = left, right
  if rng.random() < 0.6:
    width = rng.uniform(0.03, 0.06)
    rects.append((PILLAR, inner_top, 1.0, left, left + width))
    rects.append((PILLAR, inner_top, 1.0, right - width, right))
    inner_left, inner_right = left + width, right - width
  overhang = rng.uniform(0.0, 0.02)
  rects.append((CORNICE, top, inner_top, max(left - overhang, 0.0),
                min(right + overhang, 1.0)))

  columns = int(rng.integers(2, 6))
  column = (inner_right - inner_left) / columns
  window_width = column * rng.uniform(0.4, 0.65)
  window_height = floor * rng.uniform(0.45, 0.7)
  window_offset = floor * rng.uniform(0.12, 0.28)
  mullion_style = int(rng.integers(3))  # 0: none, 1: vertical, 2: cross
  balcony_floors = rng.random(num_floors - 1) < 0.35
  continuous_balcony = rng.random(num_floors - 1) < 0.3
  door_column = int(rng.integers(columns))
  door_width = column * rng.uniform(0.45, 0.75)
  door_height = floor * ground_ratio * rng.uniform(0.65, 0.9)
  shop_windows = rng.random() < 0.8
  shop_height = floor * ground_ratio * rng.uniform(0.4, 0.6)
  # Per-window jitter, drawn for a full grid so the draws do not depend on
  # which windows exist.
  jitter = rng.uniform(-1.0, 1.0, size=(num_floors, columns, 2))
  missing = rng.random((num_floors, columns)) < 0.05

  def window(y0, height, x_centre, jx, jy):
    x0 = x_centre - window_width / 2 + 0.05 * column * jx
    y0 = y0 + 0.04 * floor * jy
    rect = (WINDOW, y0, y0 + height, x0, x0 + window_width)
    rects.append(rect)
    if mullion_style >= 1:
      xm = x0 + window_width / 2
      mullions.append((y0, y0 + height, xm, xm))
    if mullion_style == 2:
      ym = y0 + 0.4 * height
      mullions.append((ym, ym, x0, x0 + window_width))
    return rect

  for f in range(num_floors - 1):
    windows = []
    for c in range(columns):
      if missing[f, c]:
        continue
      x_centre = inner_left + (c + 0.5) * column
      windows.append(window(floor_tops[f] + window_offset, window_height, x_centre,
                            *jitter[f, c]))
    if balcony_floors[f] and windows:
      bottom = max(w[2] for w in windows) + 0.01
      height = 0.35 * window_height
      if continuous_balcony[f]:
        rects.append((BALCONY, bottom - height, bottom, inner_left, inner_right))
      else:
        for w in windows:
          margin = 0.12 * window_width
          rects.append((BALCONY, bottom - height, bottom, w[3] - margin, w[4] + margin))

  door_centre = inner_left + (door_column + 0.5) * column
  for c in range(columns):
    if c != door_column and shop_windows:
      x_centre = inner_left + (c + 0.5) * column
      window(1.0 - shop_height - 0.12 * floor, shop_height, x_centre,
             jitter[-1, c, 0], 0.0)
  rects.append((DOOR, 1.0 - door_height, 1.0, door_centre - door_width / 2,
                door_centre + door_width / 2))
  return rects, mullions


def _pixel_span(start: float, stop: float, size: int) -> tuple[int, int]:
  """Pixel rows (or columns) ``[a, b)`` of the fractional span ``[start, stop]``,
  at least one pixel wide."""
  a = int(np.clip(np.round(start * size), 0, size - 1))
  b = int(np.clip(np.round(stop * size), a + 1, size))
  return a, b


def _rasterise(rects, mullions, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  label_map = np.full((size, size), BACKGROUND, dtype=np.int32)
  instance = np.zeros((size, size), dtype=np.int32)
  for i, (cls, top, bottom, left, right) in enumerate(rects, start=1):
    r0, r1 = _pixel_span(top, bottom, size)
    c0, c1 = _pixel_span(left, right, size)
    label_map[r0:r1, c0:c1] = cls
    instance[r0:r1, c0:c1] = i
  mullion = np.zeros((size, size), dtype=bool)
  for top, bottom, left, right in mullions:
    r0, r1 = _pixel_span(top, bottom, size)
    c0, c1 = _pixel_span(left, right, size)
    mullion[r0:r1, c0:c1] = True
  # Mullions show only where a window is still visible (not under a balcony).
  mullion &= label_map == WINDOW
  return label_map, instance, mullion


# ------------------------------------------------------------------- photo --


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
  """Bilinear upsampling of a small square grid to ``size`` x ``size``."""
  n = coarse.shape[0]
  t = (np.arange(size) + 0.5) / size * (n - 1)
  i = np.minimum(t.astype(np.int64), n - 2)
  w = t - i
  rows = coarse[i] * (1 - w)[:, None] + coarse[i + 1] * w[:, None]
  return rows[:, i] * (1 - w)[None, :] + rows[:, i + 1] * w[None, :]


def _render_photo(rng: np.random.Generator, label_map: np.ndarray,
                  instance: np.ndarray, mullion: np.ndarray,
                  num_rects: int) -> np.ndarray:
  """The photo, float32 ``(S, S, 3)`` in ``[0, 1]``, of a rasterised layout."""
  size = label_map.shape[0]
  low, high = FACADE_PHOTO_COLOUR_RANGES[:, 0], FACADE_PHOTO_COLOUR_RANGES[:, 1]
  # Base colours: a shared position in each range, with a little per-channel
  # freedom so hues vary too.
  t = np.clip(rng.random((NUM_FACADE_CLASSES, 1))
              + 0.15 * rng.standard_normal((NUM_FACADE_CLASSES, 3)), 0.0, 1.0)
  base = low + (high - low) * t
  contrast = rng.uniform(*FACADE_MATERIAL_CONTRAST, size=2)
  base[CORNICE] = np.clip(base[WALL] * contrast[0], 0.0, 1.0)
  base[PILLAR] = np.clip(base[WALL] * contrast[1], 0.0, 1.0)
  # Texture parameters, all drawn before any per-pixel noise.
  brick = rng.random() < 0.5
  brick_height = rng.uniform(1 / 28, 1 / 18)
  brick_width = brick_height * rng.uniform(2.0, 2.6)
  brick_shade = 1.0 + 0.07 * rng.standard_normal((32, 32))
  mortar = rng.uniform(0.65, 0.85, size=3)
  plaster = 1.0 + 0.08 * rng.standard_normal((8, 8))
  moulding_period = rng.uniform(0.04, 0.07)
  fluting_period = rng.uniform(0.04, 0.07)
  glass_period, glass_phase = rng.uniform(0.1, 0.2), rng.uniform(0, 2 * np.pi)
  frame = rng.uniform(0.7, 0.92, size=3)
  railing_period = rng.uniform(0.03, 0.05)
  plank_period = rng.uniform(0.025, 0.045)
  instance_shade = 1.0 + 0.05 * rng.standard_normal(num_rects + 1)
  gradient = rng.uniform(0.0, 0.5)
  angle = rng.uniform(0.0, 2 * np.pi)
  brightness = rng.uniform(0.8, 1.15)
  cast = 1.0 + 0.04 * rng.standard_normal(3)
  noise_std = rng.uniform(0.02, 0.05)

  v, u = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size,
                     indexing="ij")
  shade = np.ones((NUM_FACADE_CLASSES, size, size))
  shade[BACKGROUND] = 1.0 + 0.15 * (0.5 - v)
  if brick:
    row = np.floor(v / brick_height).astype(np.int64)
    x = u / brick_width + 0.5 * (row % 2)
    col = np.floor(x).astype(np.int64)
    shade[WALL] = brick_shade[row % 32, col % 32]
  else:
    shade[WALL] = _upsample(plaster, size)
  shade[CORNICE] = 1.0 + 0.12 * np.sin(2 * np.pi * v / moulding_period)
  shade[PILLAR] = 1.0 + 0.15 * np.sin(2 * np.pi * u / fluting_period)
  shade[WINDOW] = 1.0 + 0.3 * np.sin(2 * np.pi * (u + v) / glass_period + glass_phase)
  bars = np.mod(u / railing_period, 1.0) < 0.5
  shade[BALCONY] = np.where(bars, 1.0, 1.9)
  groove = np.mod(u / plank_period, 1.0) < 0.25
  shade[DOOR] = np.where(groove, 0.7, 1.0)

  photo = base[label_map] * np.take_along_axis(shade, label_map[None], 0)[0][..., None]
  if brick:
    joint = ((np.mod(v / brick_height, 1.0) < 0.22)
             | (np.mod(x, 1.0) < 0.1))
    photo = np.where((joint & (label_map == WALL))[..., None], mortar, photo)
  photo = np.where(mullion[..., None], frame, photo)
  light = 1.0 + gradient * ((u - 0.5) * np.cos(angle) + (v - 0.5) * np.sin(angle))
  photo = photo * (instance_shade[instance] * light * brightness)[..., None] * cast
  photo = photo + noise_std * rng.standard_normal(photo.shape)
  return np.clip(photo, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- examples --


def facade_example(index: int, *, split: str = "train", image_size: int = 64,
                   seed: int = 0) -> dict[str, np.ndarray]:
  """One synthetic facade, drawn by ``np.random.default_rng([seed, split, index])``.

  Args:
    index: the example's index, a non-negative int (any, not only those below
      the split's size).
    split: ``'train'``, ``'validation'`` or ``'test'``; each has its own stream.
    image_size: height = width, a multiple of 32.
    seed: the dataset seed.

  Returns:
    ``{'a': labels image, 'b': photo, 'label_map': class ids}``: float32
    ``(S, S, 3)`` in ``[-1, 1]``, float32 ``(S, S, 3)`` in ``[-1, 1]`` and int32
    ``(S, S)`` in ``[0, NUM_FACADE_CLASSES)``.
  """
  image_size = check_facade_image_size(image_size)
  stream = _check_split(split)
  if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
    raise ValueError(f"index must be a non-negative int, got {index!r}")
  rng = np.random.default_rng([int(seed), stream, int(index)])
  rects, mullions = _facade_layout(rng)
  label_map, instance, mullion = _rasterise(rects, mullions, image_size)
  photo = _render_photo(rng, label_map, instance, mullion, len(rects))
  return {
      "a": facade_labels_image(label_map),
      "b": photo * 2.0 - 1.0,
      "label_map": label_map,
  }


def facade_labels_image(label_map) -> np.ndarray:
  """The colour-coded labels image of ``label_map``: float32 ``(..., 3)`` in ``[-1, 1]``.

  Args:
    label_map: integer class ids in ``[0, NUM_FACADE_CLASSES)``, any shape.
  """
  label_map = np.asarray(label_map)
  if not np.issubdtype(label_map.dtype, np.integer):
    raise ValueError(f"label_map must hold integer class ids, got dtype {label_map.dtype}")
  if label_map.size and (label_map.min() < 0 or label_map.max() >= NUM_FACADE_CLASSES):
    raise ValueError(f"label_map ids must lie in [0, {NUM_FACADE_CLASSES})")
  return FACADE_LABEL_COLOURS[label_map] * 2.0 - 1.0


def facade_label_map(labels_image) -> np.ndarray:
  """Class ids of a (possibly generated) labels image: each pixel's nearest class colour.

  The inverse of :func:`facade_labels_image`, for scoring photo -> labels
  translation against the true label map.

  Args:
    labels_image: ``(..., 3)`` floats in ``[-1, 1]``.

  Returns:
    int32 ``(...)`` ids in ``[0, NUM_FACADE_CLASSES)``.
  """
  labels_image = np.asarray(labels_image, dtype=np.float32)
  if labels_image.ndim < 1 or labels_image.shape[-1] != 3:
    raise ValueError(f"labels_image must be (..., 3), got shape {labels_image.shape}")
  colours = FACADE_LABEL_COLOURS * 2.0 - 1.0
  distances = ((labels_image[..., None, :] - colours) ** 2).sum(axis=-1)
  return np.argmin(distances, axis=-1).astype(np.int32)


def _num_examples(split: str, num_examples: int | None) -> int:
  _check_split(split)
  if num_examples is None:
    return FACADES_SPLITS[split]
  if (isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer))
      or num_examples < 1):
    raise ValueError(f"num_examples must be a positive int, got {num_examples!r}")
  return int(num_examples)


class FacadesSource:
  """A split of the synthetic facades as a random-access source.

  ``source[i]`` is :func:`facade_example` ``(i, split=split, ...)``: a dict with
  the labels image ``'a'``, the photo ``'b'`` and the class ids ``'label_map'``.

  Args:
    split: ``'train'``, ``'validation'`` or ``'test'``.
    image_size: height = width, a multiple of 32.
    seed: the dataset seed.
    num_examples: the split's size; default ``FACADES_SPLITS[split]``.
  """

  def __init__(self, split: str = "train", *, image_size: int = 64, seed: int = 0,
               num_examples: int | None = None):
    self.split = split
    self.image_size = check_facade_image_size(image_size)
    self.seed = int(seed)
    self.num_examples = _num_examples(split, num_examples)

  def __len__(self) -> int:
    return self.num_examples

  def __getitem__(self, index: int) -> dict[str, Any]:
    if not -self.num_examples <= index < self.num_examples:
      raise IndexError(f"index {index} out of range for {self.num_examples} facades")
    return facade_example(int(index) % self.num_examples, split=self.split,
                          image_size=self.image_size, seed=self.seed)


def load_facades(split: str = "train", *, image_size: int = 64, seed: int = 0,
                 num_examples: int | None = None) -> dict[str, np.ndarray]:
  """A whole split of the synthetic facades as arrays.

  Args:
    split: ``'train'``, ``'validation'`` or ``'test'``.
    image_size: height = width, a multiple of 32.
    seed: the dataset seed.
    num_examples: the split's size; default ``FACADES_SPLITS[split]``.

  Returns:
    ``{'a': (N, S, S, 3), 'b': (N, S, S, 3), 'label_map': (N, S, S)}``: labels
    images and photos as float32 in ``[-1, 1]``, class ids as int32; example
    ``i`` is ``FacadesSource(split, ...)[i]``.
  """
  source = FacadesSource(split, image_size=image_size, seed=seed,
                         num_examples=num_examples)
  examples = [source[i] for i in range(len(source))]
  return {key: np.stack([e[key] for e in examples]) for key in ("a", "b", "label_map")}
