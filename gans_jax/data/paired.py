"""Paired and unpaired image-translation data (pix2pix, CycleGAN).

Sources, in the layouts of the official pix2pix/CycleGAN code
(junyanz/pytorch-CycleGAN-and-pix2pix):

* ``aligned:/path`` (:class:`AlignedSource`): each file of
  ``/path/<split>/`` holds a pair side by side, A on the left half and B on
  the right (splits ``train``, ``val``, ``test``);
* ``unaligned:/path`` (:class:`UnpairedSource`): two folders per split,
  ``/path/<split>A/`` and ``/path/<split>B/``, of unrelated images;
* ``tfds:cycle_gan/<name>`` (:class:`UnpairedSource`): the TFDS CycleGAN
  datasets, splits ``<split>A`` and ``<split>B``, read through
  :func:`~gans_jax.data.images.tfds_source`.

``direction='BtoA'`` swaps the two domains. Batch sources
(:class:`PairedBatches`, :class:`UnpairedBatches`) follow the
:class:`~gans_jax.data.base.BatchSource` contract and apply the official
random jitter (:func:`random_jitter`); :func:`ordered_batches` walks a split
in order without jitter, for evaluation and for translating a folder.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gans_jax.data import base
from gans_jax.data import preprocessing
from gans_jax.data.images import (IMAGE_EXTENSIONS, DatasetNotFoundError,
                                  ImageSource, tfds_source)

__all__ = [
    "AlignedSource",
    "DIRECTIONS",
    "PairedBatches",
    "UnpairedBatches",
    "UnpairedSource",
    "default_load_size",
    "make_paired_source",
    "make_unpaired_source",
    "ordered_batches",
    "random_jitter",
    "resize_bicubic",
]

DIRECTIONS = ("AtoB", "BtoA")
# Random streams of one seed; each use has its own tag.
_SHUFFLE, _JITTER, _SHUFFLE_A, _SHUFFLE_B, _JITTER_A, _JITTER_B = range(6)


def _check_direction(direction: str) -> None:
  if direction not in DIRECTIONS:
    raise ValueError(
        f"direction must be one of {DIRECTIONS}, got {direction!r}")


# --------------------------------------------------------------- files ----


def _decode_image(path: pathlib.Path) -> np.ndarray:
  """One image file as uint8 (H, W) (grey) or (H, W, 3)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as image:
      grey = image.mode in ("1", "L", "LA", "I", "I;16", "F")
      return np.asarray(image.convert("L" if grey else "RGB"))
  except (OSError, ValueError, SyntaxError) as error:
    # PIL reports unreadable files as OSError (UnidentifiedImageError),
    # truncated ones as OSError or SyntaxError; name the file.
    raise OSError(f"cannot decode image file '{path}': {error}") from error


def _image_files(folder: pathlib.Path) -> list[pathlib.Path]:
  """The image files under ``folder``, recursively, sorted by path."""
  if not folder.is_dir():
    raise DatasetNotFoundError(f"image folder {str(folder)!r} does not exist")
  files = sorted(p for p in folder.rglob("*")
                 if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
  if not files:
    raise DatasetNotFoundError(
        f"image folder {str(folder)!r} holds no image files "
        f"({', '.join(IMAGE_EXTENSIONS)})")
  return files


class _ImageFolder:
  """The images of one folder: ``{'image': uint8 (H, W[, 3])}``."""

  def __init__(self, path: str | os.PathLike):
    self.root = pathlib.Path(path).expanduser()
    self.files = _image_files(self.root)

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return {"image": _decode_image(self.files[index])}


class AlignedSource:
  """Aligned pairs: each file holds A (left half) and B (right half).

  The official aligned format: a file of width ``w`` splits into columns
  ``[0, w // 2)`` (A) and ``[w // 2, w)`` (B). Files are found recursively
  and sorted by path.

  Args:
    path: the folder of one split, e.g. ``facades/train``.
    direction: ``'AtoB'`` gives ``{'a': A, 'b': B}``; ``'BtoA'`` swaps them.
  """

  def __init__(self, path: str | os.PathLike, *, direction: str = "AtoB"):
    _check_direction(direction)
    self.root = pathlib.Path(path).expanduser()
    self.direction = direction
    self.files = _image_files(self.root)

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, index: int) -> dict[str, Any]:
    """``{'a': uint8 (H, W_a[, 3]), 'b': uint8 (H, W_b[, 3])}``."""
    pair = _decode_image(self.files[index])
    width = pair.shape[1]
    if width < 2:
      raise ValueError(f"aligned image file '{self.files[index]}' is "
                       f"{width} pixel wide: it cannot hold an A|B pair")
    left, right = pair[:, :width // 2], pair[:, width // 2:]
    if self.direction == "BtoA":
      left, right = right, left
    return {"a": left, "b": right}


@dataclasses.dataclass(frozen=True)
class UnpairedSource:
  """Two unrelated image sources, one per domain.

  Attributes:
    a: domain A, examples ``{'image': ...}`` (and maybe ``'label'``).
    b: domain B, likewise.
  """

  a: ImageSource
  b: ImageSource


def _prefixed(name: str, prefix: str) -> str | None:
  if name.startswith(prefix) and len(name) > len(prefix):
    return name[len(prefix):]
  return None


def make_paired_source(name: str, *, split: str = "train",
                       direction: str = "AtoB") -> AlignedSource:
  """A paired source by name: ``'aligned:/path'`` reads ``/path/<split>``.

  Args:
    name: ``'aligned:<path>'``.
    split: the sub-folder, e.g. ``'train'``, ``'val'``, ``'test'``.
    direction: ``'AtoB'`` or ``'BtoA'``.

  Returns:
    The source.

  Raises:
    ValueError: an unknown name.
    DatasetNotFoundError: the split folder is missing or holds no images.
  """
  path = _prefixed(name, "aligned:")
  if path is None:
    raise ValueError(
        f"unknown paired dataset {name!r}; expected 'aligned:<path>'")
  return AlignedSource(pathlib.Path(path).expanduser() / split,
                       direction=direction)


def make_unpaired_source(name: str, *, split: str = "train",
                         direction: str = "AtoB",
                         data_dir: str | os.PathLike | None = None
                         ) -> UnpairedSource:
  """An unpaired source by name.

  Names: ``'unaligned:<path>'`` (folders ``<path>/<split>A`` and
  ``<path>/<split>B``) and ``'tfds:<name>'`` for a prepared TFDS dataset with
  splits ``<split>A`` and ``<split>B``, such as ``'tfds:cycle_gan/horse2zebra'``.

  Args:
    name: the dataset name.
    split: ``'train'`` or ``'test'``.
    direction: ``'AtoB'``, or ``'BtoA'`` to swap the domains.
    data_dir: TFDS data directory (TFDS names only).

  Returns:
    The two domains.

  Raises:
    ValueError: an unknown name.
    DatasetNotFoundError: a folder or TFDS dataset is missing.
  """
  _check_direction(direction)
  if (path := _prefixed(name, "unaligned:")) is not None:
    root = pathlib.Path(path).expanduser()
    a, b = _ImageFolder(root / f"{split}A"), _ImageFolder(root / f"{split}B")
  elif (tfds_name := _prefixed(name, "tfds:")) is not None:
    a = tfds_source(tfds_name, split=f"{split}A", data_dir=data_dir)
    b = tfds_source(tfds_name, split=f"{split}B", data_dir=data_dir)
  else:
    raise ValueError(
        f"unknown unpaired dataset {name!r}; expected 'unaligned:<path>' or "
        "'tfds:<name>' (e.g. 'tfds:cycle_gan/horse2zebra')")
  if direction == "BtoA":
    a, b = b, a
  return UnpairedSource(a, b)


# -------------------------------------------------------------- jitter ----


def default_load_size(image_size: int) -> int:
  """The jitter's resize target: 286 for 256, scaled (72 for 64, 36 for 32).

  .. math::
    \\mathrm{load} = \\lfloor 286\\, s / 256 + 1/2 \\rfloor
  """
  return int(286 * preprocessing.check_image_size(image_size) / 256 + 0.5)


def resize_bicubic(image: np.ndarray, size: int) -> np.ndarray:
  """Resizes (H, W[, C]) to (size, size[, C]) with PIL's bicubic filter.

  The aspect ratio is not kept (the official ``resize_and_crop``). uint8
  grey or RGB images are resized in one call in PIL's 8-bit modes; anything
  else channel by channel in float32. Integer images stay integer (rounded
  and clipped to their dtype's range), so their scale is kept.
  """
  image = np.asarray(image)
  if image.shape[:2] == (size, size):
    return image
  from PIL import Image  # pylint: disable=g-import-not-at-top
  planes = image[..., None] if image.ndim == 2 else image
  if image.dtype == np.uint8 and planes.shape[-1] in (1, 3):
    mode_planes = planes[..., 0] if planes.shape[-1] == 1 else planes
    out = np.asarray(Image.fromarray(np.ascontiguousarray(mode_planes))
                     .resize((size, size), Image.BICUBIC))
    return out.reshape(size, size, *image.shape[2:])
  out = np.stack([
      np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c],
                                                      dtype=np.float32))
                 .resize((size, size), Image.BICUBIC))
      for c in range(planes.shape[-1])], axis=-1)
  if np.issubdtype(image.dtype, np.integer):
    info = np.iinfo(image.dtype)
    out = np.clip(np.rint(out), info.min, info.max).astype(image.dtype)
  return out[..., 0] if image.ndim == 2 else out


def random_jitter(images: Sequence[np.ndarray], rng: np.random.Generator, *,
                  load_size: int, crop_size: int, flip: bool = True
                  ) -> tuple[np.ndarray, ...]:
  """The official random jitter, with one draw shared by all ``images``.

  Each image is resized to ``load_size`` square (bicubic), cropped to
  ``crop_size`` at the drawn offset and, if drawn, flipped left-right. The
  draws, in order: the crop's left column and top row, each uniform in
  ``[0, load_size - crop_size]``, then ``flip = rng.random() > 0.5`` (not
  drawn when ``flip=False``). Passing A and B of a pair together jitters
  them identically, as pix2pix needs.

  Args:
    images: images (H, W[, C]); they may differ in size.
    rng: the random generator, one per example.
    load_size: side after resizing.
    crop_size: side of the crop.
    flip: whether random horizontal flips are drawn.

  Returns:
    The jittered images, (crop_size, crop_size[, C]) each.

  References:
    Isola et al., 2017, arXiv 1611.07004 (Appendix 6.2).
  """
  if crop_size > load_size:
    raise ValueError(f"crop_size ({crop_size}) must be <= load_size "
                     f"({load_size})")
  left = int(rng.integers(0, load_size - crop_size + 1))
  top = int(rng.integers(0, load_size - crop_size + 1))
  flipped = bool(rng.random() > 0.5) if flip else False
  out = []
  for image in images:
    image = resize_bicubic(image, load_size)
    image = image[top:top + crop_size, left:left + crop_size]
    out.append(image[:, ::-1] if flipped else image)
  return tuple(out)


def _to_model(image: np.ndarray, channels: int) -> np.ndarray:
  """A resized image to float32 (H, W, channels) in [-1, 1]."""
  image = preprocessing.convert_channels(preprocessing.to_float(image),
                                         channels)
  return np.clip(image, -1.0, 1.0).astype(np.float32, copy=False)


# ------------------------------------------------------------- batches ----


@functools.lru_cache(maxsize=16)
def _permutation(seed: int, stream: int, epoch: int, n: int) -> np.ndarray:
  order = np.random.default_rng([seed, stream, epoch]).permutation(n)
  order.flags.writeable = False
  return order


def _stream_index(index: int, n: int, *, seed: int, stream: int,
                  shuffle: bool) -> int:
  """Source index of global example ``index`` of a stream over ``n`` items.

  With ``shuffle``, each epoch (``n`` consecutive examples) visits the items
  in a fresh permutation drawn from ``(seed, stream, epoch)``; otherwise in
  order.
  """
  epoch, position = divmod(index, n)
  if not shuffle:
    return position
  return int(_permutation(seed, stream, epoch, n)[position])


class _TranslationBatches:
  """What paired and unpaired batch sources share."""

  def __init__(self, *, batch_size: int, seed: int, image_size: int,
               load_size: int | None, jitter: bool, flip: bool, channels: int,
               shuffle: bool, num_microbatches: int,
               process_index: int | None, process_count: int | None):
    self.seed = base.check_seed(seed)
    self.image_size = preprocessing.check_image_size(image_size)
    self.load_size = (default_load_size(image_size) if load_size is None
                      else preprocessing.check_image_size(load_size))
    if self.load_size < self.image_size:
      raise ValueError(f"load_size ({self.load_size}) must be >= image_size "
                       f"({self.image_size})")
    self.jitter = bool(jitter)
    self.flip = bool(flip)
    self.channels = preprocessing.check_channels(channels)
    self.shuffle = bool(shuffle)
    self.sharding = base.Sharding(batch_size, num_microbatches,
                                  process_index, process_count)

  def _prepare(self, images: Sequence[np.ndarray], stream: int,
               index: int) -> list[np.ndarray]:
    """Jitters (or just resizes) images that share one draw."""
    if self.jitter:
      rng = np.random.default_rng([self.seed, stream, index])
      images = random_jitter(images, rng, load_size=self.load_size,
                             crop_size=self.image_size, flip=self.flip)
    else:
      images = [resize_bicubic(image, self.image_size) for image in images]
    return [_to_model(image, self.channels) for image in images]

  def example(self, index: int) -> dict[str, np.ndarray]:
    raise NotImplementedError

  def minibatch(self, index: int) -> dict[str, np.ndarray]:
    """This process's share of minibatch ``index``.

    Minibatch ``m`` holds the global examples ``m * B .. m * B + B - 1``;
    process ``p`` of ``P`` takes those at positions ``p, p + P, ...``.
    """
    sh = self.sharding
    start = index * sh.batch_size
    examples = [self.example(start + e)
                for e in range(sh.process_index, sh.batch_size,
                               sh.process_count)]
    return {key: np.stack([ex[key] for ex in examples])
            for key in examples[0]}

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's share of training step ``step``'s batch."""
    return self.sharding.stack(
        [self.minibatch(m) for m in self.sharding.minibatch_indices(step)])


class PairedBatches(_TranslationBatches):
  """A :class:`~gans_jax.data.base.BatchSource` of aligned pairs (pix2pix).

  Batches are ``{'a': float32 (B/P, S, S, C), 'b': ...}`` in [-1, 1] (a
  leading ``k`` axis for ``num_microbatches = k > 1``). Global example ``g``
  (``g = m * B + e`` for position ``e`` of minibatch ``m``) is the pair at
  position ``g mod N`` of epoch ``g // N``'s permutation of the ``N`` pairs,
  jittered by :func:`random_jitter` with A and B sharing one draw made from
  ``(seed, g)``: batches are deterministic in ``(seed, step, process)``, and
  the processes' shares of a step together are the single-process batch.

  Args:
    source: pairs ``{'a', 'b'}`` (e.g. :class:`AlignedSource`).
    batch_size: global batch size ``B`` (1 in pix2pix).
    seed: data seed in ``[0, 2**32)``.
    image_size: side S of the output (the official ``crop_size``, 256).
    load_size: jitter resize side (official ``load_size``, 286); default
      :func:`default_load_size`.
    jitter: resize-crop-flip jitter; ``False`` only resizes to
      ``image_size`` (the official test-time transform).
    flip: random horizontal flips (the official ``--no_flip`` turns them off).
    channels: 1 or 3, for both A and B.
    shuffle: ``False`` walks the pairs in order, epoch after epoch.
    num_microbatches: ``k``, minibatches per training step.
    process_index: this process; default ``jax.process_index()``.
    process_count: number of processes; default ``jax.process_count()``.
  """

  def __init__(self, source: Any, *, batch_size: int, seed: int,
               image_size: int = 256, load_size: int | None = None,
               jitter: bool = True, flip: bool = True, channels: int = 3,
               shuffle: bool = True, num_microbatches: int = 1,
               process_index: int | None = None,
               process_count: int | None = None):
    if len(source) == 0:  # pylint: disable=g-explicit-length-test
      raise ValueError("source is empty")
    super().__init__(batch_size=batch_size, seed=seed, image_size=image_size,
                     load_size=load_size, jitter=jitter, flip=flip,
                     channels=channels, shuffle=shuffle,
                     num_microbatches=num_microbatches,
                     process_index=process_index, process_count=process_count)
    self.source = source

  def example(self, index: int) -> dict[str, np.ndarray]:
    """Global example ``index``: ``{'a', 'b'}`` float32 (S, S, C)."""
    i = _stream_index(index, len(self.source), seed=self.seed,
                      stream=_SHUFFLE, shuffle=self.shuffle)
    pair = self.source[i]
    a, b = self._prepare((pair["a"], pair["b"]), _JITTER, index)
    return {"a": a, "b": b}


class UnpairedBatches(_TranslationBatches):
  """A :class:`~gans_jax.data.base.BatchSource` of unpaired images (CycleGAN).

  Batches are ``{'a': float32 (B/P, S, S, C), 'b': ...}`` in [-1, 1]. The
  two domains are drawn independently: global example ``g`` takes A from
  epoch ``g // N_A``'s permutation of domain A and B from epoch ``g // N_B``'s
  permutation of domain B, each domain with its own random stream, and A and
  B get independent jitter draws. (The official loader pairs A in order with
  a B drawn by a global random state; here every choice is a function of
  ``(seed, g)``, so batches are deterministic in ``(seed, step, process)``.)

  Args:
    source: an :class:`UnpairedSource`, or a pair ``(source_a, source_b)``
      of image sources.
    batch_size: global batch size ``B`` (1 in CycleGAN).
    seed: data seed in ``[0, 2**32)``.
    image_size: side S of the output (official ``crop_size``, 256).
    load_size: jitter resize side; default :func:`default_load_size`.
    jitter: resize-crop-flip jitter; ``False`` only resizes.
    flip: random horizontal flips.
    channels: 1 or 3, for both domains.
    shuffle: ``False`` walks both domains in order (the official
      ``--serial_batches``).
    num_microbatches: ``k``, minibatches per training step.
    process_index: this process; default ``jax.process_index()``.
    process_count: number of processes; default ``jax.process_count()``.
  """

  def __init__(self, source: UnpairedSource | tuple[Any, Any], *,
               batch_size: int, seed: int, image_size: int = 256,
               load_size: int | None = None, jitter: bool = True,
               flip: bool = True, channels: int = 3, shuffle: bool = True,
               num_microbatches: int = 1, process_index: int | None = None,
               process_count: int | None = None):
    if not isinstance(source, UnpairedSource):
      source = UnpairedSource(*source)
    for name, domain in (("A", source.a), ("B", source.b)):
      if len(domain) == 0:  # pylint: disable=g-explicit-length-test
        raise ValueError(f"domain {name} of the source is empty")
    super().__init__(batch_size=batch_size, seed=seed, image_size=image_size,
                     load_size=load_size, jitter=jitter, flip=flip,
                     channels=channels, shuffle=shuffle,
                     num_microbatches=num_microbatches,
                     process_index=process_index, process_count=process_count)
    self.source = source

  def example(self, index: int) -> dict[str, np.ndarray]:
    """Global example ``index``: ``{'a', 'b'}`` float32 (S, S, C)."""
    out = {}
    for key, domain, shuffle_stream, jitter_stream in (
        ("a", self.source.a, _SHUFFLE_A, _JITTER_A),
        ("b", self.source.b, _SHUFFLE_B, _JITTER_B)):
      i = _stream_index(index, len(domain), seed=self.seed,
                        stream=shuffle_stream, shuffle=self.shuffle)
      out[key], = self._prepare((domain[i]["image"],), jitter_stream, index)
    return out


def ordered_batches(source: Any, *, batch_size: int, image_size: int,
                    channels: int = 3) -> Iterator[dict[str, np.ndarray]]:
  """Walks a source once, in order, without jitter (evaluation, inference).

  Every image of an example (keys ``'a'``, ``'b'`` of a pair source,
  ``'image'`` of an image source) is resized to ``image_size`` (bicubic; the
  official test-time transform) and scaled to [-1, 1]; ``'index'`` gives the
  source positions, so outputs can be named after ``source.files[index]``
  where the source has files. The last batch may be smaller. Every process
  walks the whole source.

  Args:
    source: a paired source (e.g. :class:`AlignedSource`) or an image source
      (a domain of an :class:`UnpairedSource`, a folder of images).
    batch_size: examples per batch.
    image_size: output side.
    channels: 1 or 3.

  Returns:
    An iterator of ``{'a', 'b', 'index'}`` or ``{'image', 'index'}``:
    float32 (b, S, S, C) images and int32 (b,) positions, b <= batch_size.
  """
  if (isinstance(batch_size, bool) or not isinstance(batch_size, int)
      or batch_size < 1):
    raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
  preprocessing.check_image_size(image_size)
  preprocessing.check_channels(channels)

  def batches():
    for start in range(0, len(source), batch_size):
      stop = min(start + batch_size, len(source))
      examples = []
      for i in range(start, stop):
        example = source[i]
        examples.append({
            key: _to_model(resize_bicubic(example[key], image_size), channels)
            for key in ("a", "b", "image") if key in example})
      batch = {key: np.stack([ex[key] for ex in examples])
               for key in examples[0]}
      batch["index"] = np.arange(start, stop, dtype=np.int32)
      yield batch

  return batches()
