"""Typeset digits: 0-9 in the DejaVu fonts that ship with matplotlib, jittered.

The second domain of the offline unpaired translation task (CycleGAN, Zhu et
al., arXiv 1703.10593): domain A is the built-in handwritten digits
(:func:`gans_jax.data.load_digits_split`), domain B these typeset digits, with
no pairing between the two. Each digit is drawn once per font at high
resolution with PIL from the ``.ttf`` files inside matplotlib's own data
directory (never a system font), then placed by a random affine map (rotation,
scale, shear, translation) with bilinear sampling and box-filtered to the
output size, white on black like the handwritten digits.

Splits mirror the handwritten digits' sizes (``FONT_DIGITS_SPLITS``). Example
``i`` of a split shows digit ``i % 10`` in font ``FONT_DIGIT_FONTS[(i // 10) %
3]``, so any 30 consecutive examples hold every digit in every font; its
jitter comes from row ``i`` of a draw from ``np.random.default_rng([seed,
split])``, so a longer split extends a shorter one.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

from gans_jax.data import digits
from gans_jax.data import preprocessing

FONT_DIGIT_FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono")
_FONT_FILES = {"DejaVu Sans": "DejaVuSans.ttf", "DejaVu Serif": "DejaVuSerif.ttf",
               "DejaVu Sans Mono": "DejaVuSansMono.ttf"}
FONT_DIGITS_SPLITS: dict[str, int] = dict(digits.DIGITS_SPLITS)
_SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}

FONT_DIGITS_VERSION = 1
"""Changes whenever the rendering changes (cached networks check it)."""

GLYPH_HEIGHT = 0.68
"""Height of an unjittered digit's ink, as a fraction of the image height."""

DEFAULT_JITTER = {"rotation": 12.0, "scale": (0.85, 1.1), "shear": 0.25,
                  "translation": 0.06}
"""Uniform ranges of the jitter: rotation +-degrees, scale factor range, x-shear
+-factor (``x += shear * y``), translation +-fraction of the image per axis."""

_TEMPLATE_FONT_SIZE = 128
_TEMPLATE_SIZE = 192
_SAMPLES_PER_OUTPUT = 96  # points a side of the supersampled grid, at least


def font_file(font: str) -> str:
  """Path of a font of ``FONT_DIGIT_FONTS`` inside matplotlib's data directory.

  Raises:
    ValueError: ``font`` is not one of ``FONT_DIGIT_FONTS``.
    FileNotFoundError: the matplotlib installation lacks the file.
  """
  if font not in _FONT_FILES:
    raise ValueError(f"font must be one of {FONT_DIGIT_FONTS}, got {font!r}")
  import matplotlib  # pylint: disable=g-import-not-at-top
  path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", _FONT_FILES[font])
  if not os.path.isfile(path):
    raise FileNotFoundError(f"matplotlib ships no {_FONT_FILES[font]} at {path}")
  return path


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, np.ndarray]:
  """Ink ``[font, digit, T, T]`` in [0, 1], each glyph's ink box centred, and
  the ink heights ``[font, digit]`` in template pixels."""
  from PIL import Image, ImageDraw, ImageFont  # pylint: disable=g-import-not-at-top
  size = _TEMPLATE_SIZE
  templates = np.zeros((len(FONT_DIGIT_FONTS), 10, size, size), np.float32)
  heights = np.zeros((len(FONT_DIGIT_FONTS), 10), np.float32)
  for f, font in enumerate(FONT_DIGIT_FONTS):
    typeface = ImageFont.truetype(font_file(font), size=_TEMPLATE_FONT_SIZE)
    for d in range(10):
      canvas = Image.new("L", (size, size), 0)
      ImageDraw.Draw(canvas).text((size // 2, size // 2), str(d), fill=255,
                                  font=typeface, anchor="mm")
      ink = np.asarray(canvas, np.float32) / 255.0
      rows, cols = np.nonzero(ink > 0)
      top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
      glyph = ink[top:bottom, left:right]
      # Re-place the ink box at the centre; odd leftovers go to the bottom/right.
      r0, c0 = (size - glyph.shape[0]) // 2, (size - glyph.shape[1]) // 2
      templates[f, d, r0:r0 + glyph.shape[0], c0:c0 + glyph.shape[1]] = glyph
      heights[f, d] = bottom - top
  templates.setflags(write=False)
  heights.setflags(write=False)
  return templates, heights


def render_font_digits(labels, fonts, *, image_size: int = 32, rotation=0.0,
                       scale=1.0, shear=0.0, translation=0.0) -> np.ndarray:
  """Renders digits in the given fonts, each placed by its own affine map.

  A point :math:`p` of the glyph (centred, in fractions of the image) lands at

  .. math::
    R(\\theta) \\begin{pmatrix} 1 & k \\\\ 0 & 1 \\end{pmatrix} s\\,p + t,

  :math:`\\theta` the rotation, :math:`k` the shear, :math:`s` the scale and
  :math:`t` the translation; at :math:`s = 1` the ink is ``GLYPH_HEIGHT`` of the
  image high, and at the identity map its box is centred.

  Args:
    labels: ``[N]`` digits 0..9.
    fonts: ``[N]`` indices into ``FONT_DIGIT_FONTS``.
    image_size: output height = width.
    rotation: degrees, counter-clockwise on screen; a scalar or ``[N]``.
    scale: size factor; a scalar or ``[N]``.
    shear: ``x += shear * y`` (``y`` pointing down); a scalar or ``[N]``.
    translation: fractions of the image, ``(dx, dy)``; a scalar, ``[2]`` or ``[N, 2]``.

  Returns:
    float32 ``[N, image_size, image_size]`` in ``[-1, 1]``: -1 background, +1 ink.
  """
  labels = np.asarray(labels)
  fonts = np.asarray(fonts)
  image_size = preprocessing.check_image_size(image_size)
  if labels.ndim != 1 or fonts.shape != labels.shape:
    raise ValueError(
        f"labels and fonts must be [N] arrays of one shape, got {labels.shape} and "
        f"{fonts.shape}")
  if labels.size and (labels.min() < 0 or labels.max() > 9):
    raise ValueError("labels must be digits in [0, 9]")
  if fonts.size and (fonts.min() < 0 or fonts.max() >= len(FONT_DIGIT_FONTS)):
    raise ValueError(f"fonts must index FONT_DIGIT_FONTS, in [0, {len(FONT_DIGIT_FONTS)})")
  n = labels.shape[0]
  theta = np.deg2rad(np.broadcast_to(np.asarray(rotation, np.float64), (n,)))
  s = np.broadcast_to(np.asarray(scale, np.float64), (n,))
  k = np.broadcast_to(np.asarray(shear, np.float64), (n,))
  t = np.broadcast_to(np.asarray(translation, np.float64), (n, 2))
  if np.any(s <= 0):
    raise ValueError("scale must be positive")
  templates, heights = _templates()

  # Each image is one PIL affine resampling of its template on a grid
  # `factor` times finer than the output, then box-filtered down. PIL maps an
  # output point X (pixel centres at j + 0.5) to the template point
  # half + ppu * A^-1 (X / grid - 0.5 - t), ppu being template pixels per image.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  factor = math.ceil(_SAMPLES_PER_OUTPUT / image_size)
  grid = image_size * factor
  cos, sin = np.cos(theta), np.sin(theta)
  # Screen coordinates have y down, so a counter-clockwise turn on screen is
  # the matrix [[c, s], [-s, c]] in (x, y).
  forward = np.empty((n, 2, 2))
  forward[:, 0, 0] = s * cos
  forward[:, 0, 1] = s * (k * cos + sin)
  forward[:, 1, 0] = -s * sin
  forward[:, 1, 1] = s * (cos - k * sin)
  inverse = np.linalg.inv(forward)
  pixels_per_unit = heights[fonts, labels] / GLYPH_HEIGHT
  half = _TEMPLATE_SIZE / 2
  ink = np.empty((n, grid, grid), np.float32)
  for i in range(n):
    linear = pixels_per_unit[i] * inverse[i]
    shift = half - linear @ (0.5 + t[i])
    coefficients = (*(linear[0] / grid), shift[0], *(linear[1] / grid), shift[1])
    template = Image.fromarray(templates[fonts[i], labels[i]], mode="F")
    ink[i] = np.asarray(template.transform((grid, grid), Image.Transform.AFFINE,
                                           coefficients, resample=Image.Resampling.BILINEAR))
  ink = ink.reshape(n, image_size, factor, image_size, factor).mean(axis=(2, 4))
  return (2.0 * ink - 1.0).astype(np.float32)


def _check_split(split: str) -> int:
  if split not in _SPLIT_STREAMS:
    raise ValueError(f"split must be one of {', '.join(_SPLIT_STREAMS)}, got {split!r}")
  return _SPLIT_STREAMS[split]


def font_digit_jitter(split: str, num_examples: int, *, seed: int = 0) -> dict[str, np.ndarray]:
  """The affine jitter of a split's first ``num_examples`` examples.

  Returns:
    ``{'rotation': [N], 'scale': [N], 'shear': [N], 'translation': [N, 2]}``,
    uniform over the ranges of ``DEFAULT_JITTER``.
  """
  stream = _check_split(split)
  u = np.random.default_rng([int(seed), stream]).random((num_examples, 5))
  low, high = DEFAULT_JITTER["scale"]
  return {
      "rotation": DEFAULT_JITTER["rotation"] * (2 * u[:, 0] - 1),
      "scale": low + (high - low) * u[:, 1],
      "shear": DEFAULT_JITTER["shear"] * (2 * u[:, 2] - 1),
      "translation": DEFAULT_JITTER["translation"] * (2 * u[:, 3:5] - 1),
  }


def load_font_digits(split: str = "train", *, image_size: int = 32, channels: int = 1,
                     seed: int = 0, num_examples: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """One split of the typeset digits as float images in ``[-1, 1]``.

  Example ``i`` is digit ``i % 10`` in font ``FONT_DIGIT_FONTS[(i // 10) % 3]``
  with the jitter of :func:`font_digit_jitter`.

  Args:
    split: ``'train'``, ``'validation'`` or ``'test'`` (own random streams).
    image_size: output size, one of 8, 16, 28, 32, 64 (as the handwritten digits).
    channels: 1 (grey) or 3 (the grey value repeated).
    seed: the jitter's seed.
    num_examples: the split's size; default ``FONT_DIGITS_SPLITS[split]``.

  Returns:
    ``(images, labels)``: float32 ``(N, image_size, image_size, channels)`` and
    int32 ``(N,)`` digits 0..9.
  """
  _check_split(split)
  image_size = preprocessing.check_image_size(image_size, digits.DIGITS_IMAGE_SIZES)
  channels = preprocessing.check_channels(channels)
  n = FONT_DIGITS_SPLITS[split] if num_examples is None else num_examples
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"num_examples must be a positive int, got {num_examples!r}")
  index = np.arange(n)
  labels = (index % 10).astype(np.int32)
  fonts = (index // 10) % len(FONT_DIGIT_FONTS)
  images = render_font_digits(labels, fonts, image_size=image_size,
                              **font_digit_jitter(split, n, seed=seed))
  images = np.repeat(images[..., None], channels, axis=-1)
  return images, labels


def load_unpaired_digits(split: str = "train", *, image_size: int = 32, channels: int = 1,
                         seed: int = 0) -> dict[str, np.ndarray]:
  """The unpaired digits task: handwritten digits (A) and typeset digits (B).

  Args:
    split: ``'train'``, ``'validation'`` or ``'test'``.
    image_size: one of 8, 16, 28, 32, 64.
    channels: 1 or 3.
    seed: the typeset digits' jitter seed.

  Returns:
    ``{'a', 'a_labels', 'b', 'b_labels'}``: :func:`gans_jax.data.load_digits_split`
    and :func:`load_font_digits` of ``split``. The labels are for evaluation
    only; nothing pairs an image of A with one of B.
  """
  a, a_labels = digits.load_digits_split(split, image_size=image_size, channels=channels)
  b, b_labels = load_font_digits(split, image_size=image_size, channels=channels, seed=seed)
  return {"a": a, "a_labels": a_labels, "b": b, "b_labels": b_labels}
