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
import os
import pathlib
from typing import Any, Callable, Protocol

import numpy as np

from gans_jax.data import base
from gans_jax.data import digits
from gans_jax.data import preprocessing

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class DatasetNotFoundError(FileNotFoundError):
  """A dataset is missing, unprepared or empty; the message says the fix."""


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

  def __len__(self) -> int:
    return len(self.images)

  def __getitem__(self, index: int) -> dict[str, Any]:
    example = {"image": self.images[index]}
    if self.labels is not None:
      example["label"] = self.labels[index]
    return example


class _MappedSource:
  """A source whose examples pass through ``fn`` on access."""

  def __init__(self, parent: Any, fn: Callable[[dict[str, Any]], dict]):
    self._parent, self._fn = parent, fn

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


def _prepare_hint(name: str, data_dir: str | None) -> str:
  dir_arg = f", data_dir={data_dir!r}" if data_dir else ""
  return (
      "prepare it once with: python -c \"import tensorflow_datasets as tfds; "
      f"tfds.builder('{name}'{dir_arg}).download_and_prepare("
      "file_format='array_record')\" (pip install tensorflow for this step "
      "only), or pass data_dir / set TFDS_DATA_DIR to a directory that already "
      "holds it")


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

  Args:
    name: a TFDS name; ``TFDS_IMAGE_DATASETS`` lists the tested ones, others
      are read with image key ``'image'`` and label ``'label'`` if present.
    split: a TFDS split, e.g. ``'train'`` or ``'train[:90%]'``.
    data_dir: TFDS data directory; default TFDS's own (``TFDS_DATA_DIR`` or
      ``~/tensorflow_datasets``).

  Returns:
    The source.

  Raises:
    DatasetNotFoundError: the dataset is not prepared in array_record format
      under ``data_dir``; the message says how to prepare it.
    ValueError: ``name`` is not a TFDS dataset.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data_dir = None if data_dir is None else os.fspath(data_dir)
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir,
                              download=False)
  except tfds.core.registered.DatasetNotFoundError:
    raise ValueError(f"{name!r} is not a TFDS dataset name") from None
  except (NotImplementedError, OSError, AssertionError) as error:
    raise _not_found(name, split, data_dir) from error
  spec = TFDS_IMAGE_DATASETS.get(name, TfdsImageSpec())

  def select(example: dict[str, Any]) -> dict[str, Any]:
    image = np.asarray(example[spec.image_key])
    if spec.crop is not None:
      image = _center_crop(image, spec.crop)
    out = {"image": image}
    if spec.label_key is not None and spec.label_key in example:
      out["label"] = example[spec.label_key]
    return out

  return _MappedSource(source, select)


def _not_found(name: str, split: str, data_dir: str | None
               ) -> DatasetNotFoundError:
  """The one-line error for a TFDS dataset that cannot be read."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  where, prepared = data_dir, False
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    where, prepared = builder.data_dir, builder.is_prepared()
  except Exception:  # pylint: disable=broad-except
    # Only used to word the message; the original error is chained anyway.
    pass
  if prepared:
    problem = (f"TFDS dataset {name!r} at {where} is prepared in a format "
               "without random access (TFRecord); re-prepare it as "
               "array_record:")
  else:
    problem = (f"TFDS dataset {name!r} (split {split!r}) is not prepared "
               f"under {where};")
  return DatasetNotFoundError(f"{problem} {_prepare_hint(name, data_dir)}")


def _center_crop(image: np.ndarray, side: int) -> np.ndarray:
  height, width = image.shape[:2]
  if height < side or width < side:
    raise ValueError(
        f"cannot crop {side}x{side} from an image of shape {image.shape}")
  top, left = (height - side) // 2, (width - side) // 2
  return image[top:top + side, left:left + side]


# -------------------------------------------------------------- folders ----


class FolderSource:
  """Every image file under a folder, decoded with PIL on access.

  Files with extensions ``IMAGE_EXTENSIONS`` (any case) are found
  recursively and sorted by relative path. With labels, the class of a file
  is the index of its first-level sub-folder among the sorted sub-folder
  names (``class_names``).

  Args:
    path: the folder.
    with_labels: ``True``: label by sub-folder (every image must lie in one);
      ``False``: no labels; ``None``: labels iff every image lies in a
      sub-folder.
  """

  def __init__(self, path: str | os.PathLike, *,
               with_labels: bool | None = None):
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
    self.root = root
    self.files = [root / f for f in files]
    self.class_names: tuple[str, ...] = ()
    self.labels = None
    if with_labels:
      self.class_names = tuple(sorted({f.parts[0] for f in files}))
      index = {c: i for i, c in enumerate(self.class_names)}
      self.labels = np.array([index[f.parts[0]] for f in files], np.int32)

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, index: int) -> dict[str, Any]:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    with Image.open(self.files[index]) as image:
      grey = image.mode in ("1", "L", "LA", "I", "I;16", "F")
      image = np.asarray(image.convert("L" if grey else "RGB"))
    example = {"image": image}
    if self.labels is not None:
      example["label"] = self.labels[index]
    return example


def folder_source(path: str | os.PathLike, *,
                  with_labels: bool | None = None) -> FolderSource:
  """The images under ``path`` as a random-access source (see FolderSource)."""
  return FolderSource(path, with_labels=with_labels)


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
    if len(source) == 0:  # pylint: disable=g-explicit-length-test
      raise ValueError("source is empty")
    self.source = source
    self.seed = base.check_seed(seed)
    self.image_size = preprocessing.check_image_size(image_size)
    self.channels = preprocessing.check_channels(channels)
    self.shuffle = bool(shuffle)
    self.sharding = base.Sharding(batch_size, num_microbatches,
                                  process_index, process_count)
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


def _digits(split, data_dir, image_size, channels):
  del data_dir  # Built in.
  return ArraySource(*digits.load_digits_split(
      split, image_size=image_size, channels=channels))


def _tfds_factory(name: str):
  def make(split, data_dir, image_size, channels):
    del image_size, channels  # ImageBatches preprocesses.
    return tfds_source(name, split=split, data_dir=data_dir)
  return make


def _folder(path: str, split, data_dir, image_size, channels):
  del data_dir, image_size, channels
  root = pathlib.Path(path).expanduser()
  if (root / split).is_dir():
    return folder_source(root / split)
  if split != "train":
    raise DatasetNotFoundError(
        f"image folder {str(root)!r} has no sub-folder {split!r} for split "
        f"{split!r} (the whole folder is used only for split 'train')")
  return folder_source(root)


IMAGE_DATASETS: dict[str, Callable[..., ImageSource]] = {
    "digits": _digits,
    **{name: _tfds_factory(name) for name in TFDS_IMAGE_DATASETS},
}
# Prefixed names: 'folder:/path/to/images', 'tfds:<any TFDS image dataset>'.
IMAGE_DATASET_PREFIXES: dict[str, Callable[..., ImageSource]] = {
    "folder:": _folder,
    "tfds:": lambda name, *args: _tfds_factory(name)(*args),
}


def make_image_source(
    name: str,
    *,
    split: str,
    data_dir: str | os.PathLike | None = None,
    image_size: int = 32,
    channels: int = 1,
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

  Returns:
    A source to give to :class:`ImageBatches`.
  """
  if name in IMAGE_DATASETS:
    return IMAGE_DATASETS[name](split, data_dir, image_size, channels)
  for prefix, factory in IMAGE_DATASET_PREFIXES.items():
    if name.startswith(prefix) and len(name) > len(prefix):
      return factory(name[len(prefix):], split, data_dir, image_size, channels)
  choices = sorted(IMAGE_DATASETS) + [f"{p}..." for p in IMAGE_DATASET_PREFIXES]
  raise ValueError(
      f"unknown image dataset {name!r}; valid names: {', '.join(choices)}")


def source_has_labels(source: ImageSource) -> bool:
  """Whether the source's examples carry a ``'label'``."""
  return "label" in source[0]

