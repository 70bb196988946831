"""Image datasets as random-access sources, and one batching path for all.

A *source* is any object with ``__len__`` and ``__getitem__(i) ->
{'image': (H, W[, C]) array, 'label': int (optional)}``. Sources here:

* :func:`tfds_source`: a prepared TFDS dataset read with
  ``tfds.data_source`` (array_record files; no TensorFlow needed to read).
* :func:`folder_source`: every image file under a folder, decoded with PIL,
  labelled by first-level sub-folder.
* :class:`ArraySource`: in-memory arrays (the built-in digits).

:class:`ImageBatches` turns any source into a
:class:`~gans_jax.data.base.BatchSource` with ``grain``'s random-access
``MapDataset``, and :func:`make_image_source` picks a source by name.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Any, Callable, Protocol

import numpy as np

from gans_jax.data import base
from gans_jax.data import digits
from gans_jax.data import preprocessing

DataError = base.DataError
DatasetNotFoundError = base.DatasetNotFoundError
UnreadableImageError = base.UnreadableImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class ImageSource(Protocol):
  """Random-access image examples: ``{'image': array, 'label'?: int}``."""

  def __len__(self) -> int:
    ...

  def __getitem__(self, index: int) -> dict[str, Any]:
    ...


class ArraySource:
  """In-memory images (and optional labels) as a random-access source.

  Args:
    images: ``(N, H, W[, C])``, integer pixels or floats in ``[-1, 1]``.
    labels: optional ``(N,)`` integer labels.
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray | None = None):
    images = np.asarray(images)
    if images.ndim not in (3, 4) or not len(images):
      raise ValueError(
          "images must be a non-empty (N, H, W[, C]) array, got "
          f"{images.shape}")
    if labels is not None:
      labels = np.asarray(labels)
      if labels.shape != images.shape[:1]:
        raise ValueError(
            f"labels must have shape ({len(images)},), got {labels.shape}")
    self.images, self.labels = images, labels

  def __repr__(self) -> str:
    return f"ArraySource(images of shape {self.images.shape})"

  def __len__(self) -> int:
    return len(self.images)

  def __getitem__(self, index: int) -> dict[str, Any]:
    example = {"image": self.images[index]}
    if self.labels is not None:
      example["label"] = self.labels[index]
    return example


class _MappedSource:
  """A source whose examples pass through ``fn`` on access."""

  def __init__(self, parent: Any, fn: Callable[[dict[str, Any]], dict],
               name: str):
    self._parent, self._fn, self._name = parent, fn, name

  def __repr__(self) -> str:
    return self._name

  def __len__(self) -> int:
    return len(self._parent)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return self._fn(self._parent[index])


# ---------------------------------------------------------------- TFDS ----


@dataclasses.dataclass(frozen=True)
class TfdsImageSpec:
  """How to read one TFDS image dataset.

  Attributes:
    image_key: the feature holding the image.
    label_key: the feature holding the class label, or ``None``.
    crop: side of a central square crop applied before any resize, or
      ``None`` (CelebA: 178, the usual crop of its 218x178 faces).
  """

  image_key: str = "image"
  label_key: str | None = "label"
  crop: int | None = None


TFDS_IMAGE_DATASETS: dict[str, TfdsImageSpec] = {
    "mnist": TfdsImageSpec(),
    "fashion_mnist": TfdsImageSpec(),
    "cifar10": TfdsImageSpec(),
    "celeb_a": TfdsImageSpec(label_key=None, crop=178),
}


def _prepare_command(name: str, data_dir: str) -> str:
  return (
      "python -c \"import tensorflow_datasets as tfds; "
      f"tfds.builder('{name}', data_dir='{data_dir}').download_and_prepare("
      "file_format='array_record')\" (this step alone needs TensorFlow: pip "
      "install tensorflow)")


def tfds_source(
    name: str,
    *,
    split: str,
    data_dir: str | os.PathLike | None = None,
) -> ImageSource:
  """A prepared TFDS image dataset as a random-access source.

  Reads array_record files through ``tfds.data_source(..., download=False)``;
  TensorFlow is neither imported nor needed. Examples are reduced to
  ``{'image': uint8 (H, W, C), 'label': int}`` (no label where the dataset has
  none); CelebA images are centre-cropped to 178x178.

  The first example is read here, so a dataset that cannot be read fails now
  rather than in the training loop. When TFDS fails, whatever it raises, the
  files on disk decide what is said: a missing data dir or dataset folder, an
  unfinished preparation, a split that does not exist or is empty, files in
  a format without random access (TFRecord) and missing files each become a
  :class:`DatasetNotFoundError` naming the dataset, the directory looked in
  and the command that fixes it. A failure with complete files is re-raised
  as TFDS raised it.

  Args:
    name: a TFDS name; ``TFDS_IMAGE_DATASETS`` lists the tested ones, others
      are read with image key ``'image'`` and label ``'label'`` if present.
    split: a TFDS split, e.g. ``'train'``, ``'train[:90%]'`` or
      ``'train+test'``.
    data_dir: TFDS data directory; default TFDS's own (``TFDS_DATA_DIR`` or
      ``~/tensorflow_datasets``).

  Returns:
    The source.

  Raises:
    DatasetNotFoundError: TFDS knows no dataset ``name``, it is not prepared
      in a random-access format under ``data_dir``, or ``split`` selects no
      examples of it; the message says how to fix it.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data_dir = None if data_dir is None else os.fspath(data_dir)
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir,
                              download=False)
    count = len(source)
    if count:
      source[0]  # pylint: disable=pointless-statement
  except Exception as error:  # pylint: disable=broad-except
    # What TFDS raises for an unprepared dataset changes between versions
    # (NotImplementedError, AssertionError, KeyError, ValueError): the disk
    # decides, not the exception's type.
    problem = _tfds_problem(name, split, data_dir)
    if problem is None:
      raise
    raise DatasetNotFoundError(problem) from error
  if not count:
    raise DatasetNotFoundError(
        _tfds_problem(name, split, data_dir)
        or f"split {split!r} of TFDS dataset {name!r} selects no examples")
  spec = TFDS_IMAGE_DATASETS.get(name, TfdsImageSpec())

  def select(example: dict[str, Any]) -> dict[str, Any]:
    image = np.asarray(example[spec.image_key])
    if spec.crop is not None:
      image = _center_crop(image, spec.crop)
    out = {"image": image}
    if spec.label_key is not None and spec.label_key in example:
      out["label"] = example[spec.label_key]
    return out

  return _MappedSource(source, select,
                       name=f"TFDS dataset {name!r} (split {split!r})")


def _split_names(split: str) -> list[str]:
  """The named splits of a TFDS split spec ('train[:90%]+test': both)."""
  names = [part.split("[")[0].strip() for part in split.split("+")]
  return [n for n in names if n != "all"]  # 'all' is every split


def _tfds_problem(name: str, split: str, data_dir: str | None) -> str | None:
  """Why TFDS dataset ``name`` cannot be read, judged from the files on disk.

  Asks TFDS only where the dataset would live; what is there is read from
  the directory and its ``dataset_info.json``.

  Returns:
    A one-line message naming the dataset, the directory looked in and the
    fix, or ``None`` if the files look complete.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.DatasetNotFoundError:
    where = data_dir or tfds.core.constants.DATA_DIR
    return (f"TFDS knows no dataset named {name!r} and none is prepared in "
            f"{where}; check the name (tfds.list_builders() lists them)")
  what = f"TFDS dataset {name!r}"
  root = pathlib.Path(data_dir if data_dir is not None
                      else os.fspath(builder.data_dir_root))
  dataset_dir = pathlib.Path(os.fspath(builder.data_dir))
  command = _prepare_command(name, str(root))
  prepare = (f"prepare it once with: {command}, or set data_dir / "
             "TFDS_DATA_DIR to a directory that holds it")
  redo = f"delete {dataset_dir} and prepare it again with: {command}"
  if not root.is_dir():
    return (f"{what} is not prepared: its data dir {root} does not exist; "
            f"{prepare}")
  folder = root / builder.name
  if not folder.is_dir():
    return (f"{what} is not prepared in {root} (there is no {folder}); "
            f"{prepare}")
  info_file = dataset_dir / "dataset_info.json"
  if not info_file.is_file():
    found = ", ".join(sorted(os.listdir(folder))[:4]) or "nothing"
    return (f"{what} is not prepared in {root}: there is no {info_file} (an "
            f"unfinished preparation, or another version: {folder} holds "
            f"{found}); {prepare}")
  info = json.loads(info_file.read_text(encoding="utf-8"))
  splits = {s.get("name"): s for s in info.get("splits", [])}
  for split_name in _split_names(split):
    if split_name not in splits:
      known = ", ".join(repr(s) for s in sorted(splits)) or "none"
      return (f"{what} in {dataset_dir} has no split {split_name!r} (its "
              f"splits: {known})" + (f"; {redo}" if not splits else ""))
  # TFDS's default file format, when dataset_info.json names none, is TFRecord.
  formats = [info.get("fileFormat") or "tfrecord",
             *info.get("alternativeFileFormats", [])]
  random_access = [f for f in formats if f in ("array_record", "parquet")]
  if not random_access:
    return (f"{what} is prepared in {dataset_dir} as {formats[0]}, which has "
            "no random access; convert it once with: tfds convert_format "
            f"--dataset_version_dir={dataset_dir} "
            "--out_file_format=array_record (this step alone needs TensorFlow)")
  for split_name in _split_names(split):
    lengths = [int(n) for n in splits[split_name].get("shardLengths", [])]
    if not sum(lengths):
      return f"{what}'s split {split_name!r} in {dataset_dir} is empty; {redo}"
    files = list(dataset_dir.glob(f"*-{split_name}.{random_access[0]}*"))
    if len(files) < len(lengths):
      return (f"{what}'s split {split_name!r} in {dataset_dir} has "
              f"{len(files)} of its {len(lengths)} {random_access[0]} files; "
              f"{redo}")
  try:
    count = builder.info.splits[split].num_examples
  except Exception:  # pylint: disable=broad-except
    count = None  # a spec TFDS cannot count: the files decide alone
  if count == 0:
    return (f"split {split!r} of {what} in {dataset_dir} selects no examples; "
            "choose a wider slice")
  return None


def _center_crop(image: np.ndarray, side: int) -> np.ndarray:
  height, width = image.shape[:2]
  if height < side or width < side:
    raise ValueError(
        f"cannot crop {side}x{side} from an image of shape {image.shape}")
  top, left = (height - side) // 2, (width - side) // 2
  return image[top:top + side, left:left + side]


# -------------------------------------------------------------- folders ----

# PIL modes decoded as one grey plane; 16-bit grey keeps its 16 bits.
_GREY_MODES = ("1", "L", "LA", "F")
_GREY16_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
# Files whose problems are listed in full in a message or log line.
_LISTED = 20


def _reason(error: BaseException) -> str:
  """Why PIL failed, in a few words, without the path it may repeat."""
  from PIL import UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  if isinstance(error, UnidentifiedImageError):
    return "not an image PIL can identify"
  text = " ".join(str(error).split()) or "no message"
  return f"{type(error).__name__}: {text}"


def _header_problem(path: pathlib.Path) -> str | None:
  """Why PIL cannot read the header of ``path``, or None if it can.

  The header gives the format, mode and size; PIL refuses one that is not an
  image, is cut short, or declares a size past ``Image.MAX_IMAGE_PIXELS``.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path):  # reads the header only
      return None
  except Exception as error:  # pylint: disable=broad-except
    # Arbitrary bytes make PIL raise many kinds (OSError, SyntaxError,
    # ValueError, struct.error, DecompressionBombError): all mean unusable.
    return _reason(error)


def _scan(files: list[pathlib.Path]) -> list[str | None]:
  """``_header_problem`` of every file, in order (threads: it is I/O)."""
  if len(files) < 64:
    return [_header_problem(f) for f in files]
  import concurrent.futures  # pylint: disable=g-import-not-at-top
  workers = min(32, 4 * (os.cpu_count() or 1))
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return list(pool.map(_header_problem, files, chunksize=64))


def _listing(problems: list[tuple[pathlib.Path, str]]) -> str:
  shown = ", ".join(f"{str(p)!r} ({why})" for p, why in problems[:_LISTED])
  more = len(problems) - _LISTED
  return shown + (f" and {more} more" if more > 0 else "")


class FolderSource:
  """Every image file under a folder, decoded with PIL on access.

  Files with extensions ``IMAGE_EXTENSIONS`` (any case) are found
  recursively and sorted by relative path. With labels, the class of a file
  is the index of its first-level sub-folder among the sorted sub-folder
  names (``class_names``).

  Building the source reads every file's header (not its pixels; in
  threads), so a file that is not an image PIL can open, or whose declared
  size is past PIL's decompression-bomb limit, is found before training
  starts: it raises :class:`UnreadableImageError` naming it or, with
  ``skip_unreadable``, is left out and logged with its reason (``skipped``).
  What is used is thus fixed when the source is built, and batches never
  depend on timing; classes are numbered over all files, so skipping one
  never renumbers them. A file whose header reads but whose pixels do not (a
  truncated download) raises :class:`UnreadableImageError` naming it when it
  is first read, with or without ``skip_unreadable``: leaving it out then
  would change the batches of a run already under way.

  A folder may mix modes: grey files (``1``, ``L``, ``LA``) decode to
  ``(H, W)`` uint8, 16-bit grey (``I;16``, ``I``) to ``(H, W)`` uint16, and
  every other mode (RGB, RGBA, palette, CMYK) to ``(H, W, 3)`` uint8, alpha
  dropped; :class:`ImageBatches` then converts each image to the configured
  channels (grey to RGB by repeating it, RGB to grey by BT.601 luma).

  Args:
    path: the folder.
    with_labels: ``True``: label by sub-folder (every image must lie in one);
      ``False``: no labels; ``None``: labels iff every image lies in a
      sub-folder.
    skip_unreadable: leave out files whose header PIL cannot read (logged as
      a warning) instead of raising.

  Raises:
    DatasetNotFoundError: the folder does not exist or holds no (readable)
      image files.
    UnreadableImageError: a file is not a readable image and
      ``skip_unreadable`` is False; the message names it.
    ValueError: ``with_labels=True`` but an image lies at the top level.
  """

  def __init__(self, path: str | os.PathLike, *,
               with_labels: bool | None = None,
               skip_unreadable: bool = False):
    root = pathlib.Path(path).expanduser()
    if not root.is_dir():
      raise DatasetNotFoundError(f"image folder {str(root)!r} does not exist")
    files = sorted(
        p.relative_to(root) for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
      raise DatasetNotFoundError(
          f"image folder {str(root)!r} holds no image files "
          f"({', '.join(IMAGE_EXTENSIONS)})")
    at_root = [f for f in files if len(f.parts) == 1]
    if with_labels is None:
      with_labels = not at_root
    if with_labels and at_root:
      raise ValueError(
          f"with_labels=True needs every image of {str(root)!r} in a class "
          f"sub-folder, but {str(at_root[0])!r} lies at its top level")
    class_names = sorted({f.parts[0] for f in files}) if with_labels else []

    problems = [(root / f, why) for f, why in
                zip(files, _scan([root / f for f in files])) if why]
    if problems and not skip_unreadable:
      (first, why), rest = problems[0], problems[1:]
      also = f"; {len(rest)} more cannot be read: {_listing(rest)}" if rest else ""
      raise UnreadableImageError(
          f"image file {str(first)!r} in folder {str(root)!r} cannot be read "
          f"as an image ({why}){also}; delete or replace it, or skip "
          "unreadable files with skip_unreadable=True "
          "(--config.data.skip_unreadable=True)", str(first))
    bad = {p for p, _ in problems}
    files = [f for f in files if root / f not in bad]
    if not files:
      raise DatasetNotFoundError(
          f"image folder {str(root)!r} holds no readable image: all "
          f"{len(problems)} image files were skipped: {_listing(problems)}")
    if problems:
      logging.getLogger(__name__).warning(
          "image folder %r: skipped %d of %d image files that cannot be read: "
          "%s", str(root), len(problems), len(problems) + len(files),
          _listing(problems))

    self.root = root
    self.files = [root / f for f in files]
    self.skipped: tuple[tuple[pathlib.Path, str], ...] = tuple(problems)
    self.class_names: tuple[str, ...] = tuple(class_names)
    self.labels = None
    if with_labels:
      index = {c: i for i, c in enumerate(self.class_names)}
      self.labels = np.array([index[f.parts[0]] for f in files], np.int32)

  def __repr__(self) -> str:
    return f"FolderSource({str(self.root)!r})"

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, index: int) -> dict[str, Any]:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    path = self.files[index]
    try:
      with Image.open(path) as image:
        if image.mode in _GREY16_MODES:
          # PIL's I -> L conversion clips at 255; keep the 16 bits instead.
          array = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        else:
          grey = image.mode in _GREY_MODES
          array = np.asarray(image.convert("L" if grey else "RGB"))
    except Exception as error:  # pylint: disable=broad-except
      raise UnreadableImageError(
          f"image file {str(path)!r} cannot be decoded ({_reason(error)}); "
          "delete or replace it", str(path)) from error
    example = {"image": array}
    if self.labels is not None:
      example["label"] = self.labels[index]
    return example


def folder_source(path: str | os.PathLike, *,
                  with_labels: bool | None = None,
                  skip_unreadable: bool = False) -> FolderSource:
  """The images under ``path`` as a random-access source (see FolderSource)."""
  return FolderSource(path, with_labels=with_labels,
                      skip_unreadable=skip_unreadable)


# ------------------------------------------------------------- batching ----


def _shuffle_seed(seed: int) -> int:
  # Hash the user seed: grain reshuffles epoch e with seed + e, which would
  # make seed s's second epoch equal seed s + 1's first.
  return int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0])


class ImageBatches:
  """A :class:`~gans_jax.data.base.BatchSource` of preprocessed images.

  Built on ``grain.MapDataset``: the source is shuffled (a fresh permutation
  each epoch), repeated forever, sliced ``[p::P]`` for process ``p`` of ``P``,
  preprocessed and batched by ``B / P``, so minibatch ``m`` is the random
  access ``ds[m]`` and the processes' shares of a minibatch together are
  exactly the single-process minibatch.

  Batches are ``{'image': float32 (..., H, W, C) in [-1, 1], 'label': int32
  (...)}`` (``'label'`` only if the source has labels), with leading shape
  ``(B / P,)``, or ``(k, B / P)`` for ``num_microbatches = k > 1``.

  Args:
    source: an :class:`ImageSource`, an ``(N, H, W[, C])`` array, or an
      ``(images, labels)`` pair.
    batch_size: global batch size ``B``.
    seed: data seed in ``[0, 2**32)`` (shuffle order).
    image_size: output height and width.
    channels: 1 or 3.
    num_microbatches: ``k``, minibatches per training step.
    process_index: this process; default ``jax.process_index()``.
    process_count: number of processes; default ``jax.process_count()``.
    shuffle: ``False`` keeps the source order (evaluation).

  Raises:
    DataError: the source has fewer examples than one global batch.
  """

  def __init__(
      self,
      source: ImageSource | np.ndarray | tuple[np.ndarray, np.ndarray],
      *,
      batch_size: int,
      seed: int,
      image_size: int,
      channels: int,
      num_microbatches: int = 1,
      process_index: int | None = None,
      process_count: int | None = None,
      shuffle: bool = True,
  ):
    if isinstance(source, np.ndarray):
      source = ArraySource(source)
    elif isinstance(source, tuple):
      source = ArraySource(*source)
    self.source = source
    self.seed = base.check_seed(seed)
    self.image_size = preprocessing.check_image_size(image_size)
    self.channels = preprocessing.check_channels(channels)
    self.shuffle = bool(shuffle)
    self.sharding = base.Sharding(batch_size, num_microbatches,
                                  process_index, process_count)
    if len(source) < self.sharding.batch_size:
      # Repeating examples within a batch would hide a wrong folder or split.
      raise base.DataError(
          f"{source!r} has {len(source)} examples, fewer than one batch "
          f"(batch_size={self.sharding.batch_size}); use a batch size of at "
          "most that, or more examples")
    self._dataset = None

  def preprocess(self, example: dict[str, Any]) -> dict[str, np.ndarray]:
    """One source example to the model's format."""
    out = {"image": preprocessing.preprocess_image(
        example["image"], image_size=self.image_size, channels=self.channels)}
    if "label" in example:
      out["label"] = np.int32(example["label"])
    return out

  @property
  def dataset(self):
    """The grain ``MapDataset`` of this process's minibatches."""
    if self._dataset is None:
      import grain  # pylint: disable=g-import-not-at-top
      sh = self.sharding
      ds = grain.MapDataset.source(self.source)
      if self.shuffle:
        ds = ds.shuffle(seed=_shuffle_seed(self.seed))
      ds = ds.repeat()[sh.process_index::sh.process_count]
      self._dataset = ds.map(self.preprocess).batch(sh.local_batch_size)
    return self._dataset

  def minibatch(self, index: int) -> dict[str, np.ndarray]:
    """This process's share of minibatch ``index``."""
    return self.dataset[index]

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's share of training step ``step``'s batch."""
    return self.sharding.stack(
        [self.minibatch(m) for m in self.sharding.minibatch_indices(step)])


# ------------------------------------------------------------- registry ----


# A factory takes the split and the keyword options of make_image_source and
# ignores the options that do not concern it.


def _digits(split, *, image_size, channels, **unused):
  del unused  # Built in: no directory, nothing to skip.
  return ArraySource(*digits.load_digits_split(
      split, image_size=image_size, channels=channels))


def _tfds_factory(name: str):
  def make(split, *, data_dir, **unused):
    del unused  # ImageBatches preprocesses; TFDS files are not skipped.
    return tfds_source(name, split=split, data_dir=data_dir)
  return make


def _folder(path: str, split, *, skip_unreadable, **unused):
  del unused  # ImageBatches preprocesses.
  root = pathlib.Path(path).expanduser()
  if (root / split).is_dir():
    return folder_source(root / split, skip_unreadable=skip_unreadable)
  if split != "train":
    raise DatasetNotFoundError(
        f"image folder {str(root)!r} has no sub-folder {split!r} for split "
        f"{split!r} (the whole folder is used only for split 'train')")
  return folder_source(root, skip_unreadable=skip_unreadable)


IMAGE_DATASETS: dict[str, Callable[..., ImageSource]] = {
    "digits": _digits,
    **{name: _tfds_factory(name) for name in TFDS_IMAGE_DATASETS},
}
# Prefixed names: 'folder:/path/to/images', 'tfds:<any TFDS image dataset>'.
IMAGE_DATASET_PREFIXES: dict[str, Callable[..., ImageSource]] = {
    "folder:": _folder,
    "tfds:": lambda name, split, **options: _tfds_factory(name)(split, **options),
}


def make_image_source(
    name: str,
    *,
    split: str,
    data_dir: str | os.PathLike | None = None,
    image_size: int = 32,
    channels: int = 1,
    skip_unreadable: bool = False,
) -> ImageSource:
  """A random-access image source chosen by name.

  Names: ``'digits'`` (built in, split 'train'/'validation'/'test'), the
  TFDS datasets ``'mnist'``, ``'fashion_mnist'``, ``'cifar10'``,
  ``'celeb_a'``, ``'tfds:<name>'`` for another TFDS image dataset, and
  ``'folder:<path>'`` (uses ``<path>/<split>`` if that folder exists, else
  the whole folder for split ``'train'``).

  Args:
    name: the dataset name.
    split: the split to read.
    data_dir: TFDS data directory (TFDS sources only).
    image_size: size the built-in digits are rendered at; other sources are
      resized by :class:`ImageBatches`.
    channels: channels of the built-in digits (1 or 3).
    skip_unreadable: folders only: leave out files that are not readable
      images instead of raising (see :class:`FolderSource`).

  Returns:
    A source to give to :class:`ImageBatches`.

  Raises:
    DataError: the dataset is missing, unprepared or unreadable (see
      :func:`tfds_source` and :class:`FolderSource`).
    ValueError: ``name`` is not a known dataset.
  """
  options = dict(data_dir=data_dir, image_size=image_size, channels=channels,
                 skip_unreadable=skip_unreadable)
  if name in IMAGE_DATASETS:
    return IMAGE_DATASETS[name](split, **options)
  for prefix, factory in IMAGE_DATASET_PREFIXES.items():
    if name.startswith(prefix) and len(name) > len(prefix):
      return factory(name[len(prefix):], split, **options)
  choices = sorted(IMAGE_DATASETS) + [f"{p}..." for p in IMAGE_DATASET_PREFIXES]
  raise ValueError(
      f"unknown image dataset {name!r}; valid names: {', '.join(choices)}")


def source_has_labels(source: ImageSource) -> bool:
  """Whether the source's examples carry a ``'label'``."""
  return "label" in source[0]

