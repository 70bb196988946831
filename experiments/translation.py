"""What pix2pix and CycleGAN share: translation data from the config, Adam
with the papers' linear decay, translating a test split, picture grids and
the scores of the two offline tasks.

Datasets (``data.dataset``):

- ``'facades'``: the synthetic facades (:mod:`gans_jax.data.synthetic_facades`),
  built in; A is the colour-coded labels image, B the photo. Paired for
  pix2pix; for CycleGAN the two domains are drawn independently, so no label
  map is ever shown with its photo. Splits ``train`` (400), ``validation``,
  ``test`` (100 each). Scored by the FCN-scores of the photos
  (:mod:`gans_jax.eval.segmentation`) and by the labels recovered from
  generated labels images.
- ``'digits'`` (unpaired only): the built-in handwritten digits (A) and the
  typeset digits (B) of :mod:`gans_jax.data.font_digits`, scored by
  :mod:`gans_jax.eval.domain`.
- ``'aligned:PATH'`` (paired): the official ``A|B`` layout,
  ``PATH/{train,val,test}/*.jpg``.
- ``'unaligned:PATH'`` or ``'tfds:cycle_gan/NAME'`` (unpaired): the official
  ``PATH/{train,test}{A,B}`` folders, or a prepared TFDS CycleGAN dataset.

``data.direction='BtoA'`` swaps the two domains everywhere (training,
evaluation and the scores), as the official ``--direction``.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from gans_jax import data as gdata
from gans_jax.eval import images as image_eval
from gans_jax.eval import report
from gans_jax.train import config as config_lib

PAIRED_DATASETS = ("facades",)
UNPAIRED_DATASETS = ("facades", "digits")
PAIRED_PREFIXES = ("aligned:",)
UNPAIRED_PREFIXES = ("unaligned:", "tfds:")
EVAL_MODES = ("train", "eval")


# ----------------------------------------------------------------- config --

def validate_data(config: ml_collections.ConfigDict, *, paired: bool) -> None:
  """Checks ``config.data`` and ``config.eval`` for a paired (pix2pix) or
  unpaired (CycleGAN) task."""
  names, prefixes = ((PAIRED_DATASETS, PAIRED_PREFIXES) if paired
                     else (UNPAIRED_DATASETS, UNPAIRED_PREFIXES))
  name = config_lib.get(config, "data.dataset")
  config_lib.check(
      isinstance(name, str) and (name in names or any(
          name.startswith(p) and len(name) > len(p) for p in prefixes)),
      "data.dataset", f"unknown {'paired' if paired else 'unpaired'} dataset "
      f"{name!r}; valid: {list(names)} or "
      f"{', '.join(p + 'PATH' for p in prefixes)}")
  size = config_lib.check_positive_int(config, "data.image_size")
  channels = config.data.channels
  if name == "facades":
    config_lib.check(size % 32 == 0, "data.image_size",
                     f"the synthetic facades need a multiple of 32, got {size}")
    config_lib.check(channels == 3, "data.channels",
                     f"the synthetic facades are RGB (3), got {channels}")
  if name == "digits":
    config_lib.check_choice(config, "data.image_size", (16, 32, 64))
  load = config.data.load_size
  config_lib.check(load == 0 or load >= size, "data.load_size",
                   f"must be 0 or >= data.image_size={size}, got {load}")
  common.validate_split(config, "eval.split")
  if config.data.dataset == "facades":
    from gans_jax.data import synthetic_facades
    config_lib.check_choice(config, "eval.split",
                            tuple(synthetic_facades.FACADES_SPLITS))


def learning_rate(config: ml_collections.ConfigDict) -> optax.Schedule:
  """The rate at update ``n``: constant, then linear to 0 at ``num_steps``.

  .. math::
    \\eta_n = \\eta \\min\\Big(1, \\frac{N - n}{N - n_0}\\Big),
    \\qquad n_0 = N - \\lfloor f N \\rfloor

  with ``N = train.num_steps`` and ``f = optim.decay_fraction``. The official
  code lowers the rate once per epoch; here every update does, by the same
  line (a departure of less than one epoch's step).
  """
  o, total = config.optim, config.train.num_steps
  decay_steps = int(o.decay_fraction * total)
  if decay_steps == 0:
    return optax.constant_schedule(o.learning_rate)
  constant = total - decay_steps
  return optax.join_schedules(
      [optax.constant_schedule(o.learning_rate),
       optax.linear_schedule(o.learning_rate, 0.0, decay_steps)], [constant])


def adam(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  o = config.optim
  return optax.adam(learning_rate(config), b1=o.b1, b2=o.b2)


def _swap(direction: str, a, b):
  return (b, a) if direction == "BtoA" else (a, b)


def _facades(split: str, config) -> dict[str, np.ndarray]:
  """A split of the synthetic facades: ``'a'``, ``'b'`` by direction and the
  class ids ``'label_map'``; the dataset's own seed 0 (the facade segmenter is
  trained on it), independent of the run's seed."""
  facades = gdata.load_facades(split, image_size=config.data.image_size)
  a, b = _swap(config.data.direction, facades["a"], facades["b"])
  return {"a": a, "b": b, "label_map": facades["label_map"]}


class _Pairs:
  """In-memory pairs ``{'a', 'b'}`` as a paired source."""

  def __init__(self, a: np.ndarray, b: np.ndarray):
    self.a, self.b = a, b

  def __len__(self) -> int:
    return len(self.a)

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    return {"a": self.a[index], "b": self.b[index]}


def _split_name(config, split: str) -> str:
  """The official folders call the validation split 'val'."""
  if config.data.dataset.startswith("aligned:") and split == "validation":
    return "val"
  return split


def paired_source(config: ml_collections.ConfigDict, split: str):
  """The pairs of ``split``: examples ``{'a', 'b'}``."""
  d = config.data
  if d.dataset == "facades":
    facades = _facades(split, config)
    return _Pairs(facades["a"], facades["b"])
  return gdata.make_paired_source(d.dataset, split=_split_name(config, split),
                                  direction=d.direction)


def unpaired_source(config: ml_collections.ConfigDict,
                    split: str) -> gdata.UnpairedSource:
  """The two domains of ``split``: examples ``{'image', 'label'?}``."""
  d = config.data
  if d.dataset == "facades":
    facades = _facades(split, config)
    return gdata.UnpairedSource(gdata.ArraySource(facades["a"]),
                                gdata.ArraySource(facades["b"]))
  if d.dataset == "digits":
    digits = gdata.load_unpaired_digits(split, image_size=d.image_size,
                                        channels=d.channels)
    a, b = _swap(d.direction, gdata.ArraySource(digits["a"], digits["a_labels"]),
                 gdata.ArraySource(digits["b"], digits["b_labels"]))
    return gdata.UnpairedSource(a, b)
  return gdata.make_unpaired_source(d.dataset, split=split, direction=d.direction,
                                    data_dir=d.data_dir or None)


def training_batches(config: ml_collections.ConfigDict, *, paired: bool):
  """The jittered training batches ``{'a', 'b'}`` of the config's task."""
  d = config.data
  source = (paired_source if paired else unpaired_source)(config, "train")
  cls = gdata.PairedBatches if paired else gdata.UnpairedBatches
  return cls(source, batch_size=config.train.batch_size, seed=config.train.seed,
             image_size=d.image_size, load_size=d.load_size or None,
             jitter=d.jitter, flip=d.flip, channels=d.channels)


def _ordered(source, config, limit: int) -> dict[str, np.ndarray]:
  """The first ``limit`` examples of a source, resized, as stacked arrays."""
  n = min(limit, len(source))
  head = _Head(source, n)
  batches = list(gdata.ordered_batches(head, batch_size=max(n, 1),
                                       image_size=config.data.image_size,
                                       channels=config.data.channels))
  return {k: v for k, v in batches[0].items() if k != "index"}


class _Head:
  """The first ``n`` examples of a source."""

  def __init__(self, source, n: int):
    self.source, self.n = source, n

  def __len__(self) -> int:
    return self.n

  def __getitem__(self, index: int):
    if not 0 <= index < self.n:
      raise IndexError(index)
    return self.source[index]


def eval_pairs(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """The first ``eval.num_test`` pairs of ``eval.split``, resized, unjittered:
  ``{'a', 'b'}`` (and ``'label_map'`` for the facades), float32 in [-1, 1]."""
  e = config.eval
  if config.data.dataset == "facades":
    facades = _facades(e.split, config)
    return {k: v[:e.num_test] for k, v in facades.items()}
  return _ordered(paired_source(config, e.split), config, e.num_test)


def eval_domains(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """The first ``eval.num_test`` images of each domain of ``eval.split``:
  ``{'a', 'b'}``, and where known the digits ``'a_labels'``, ``'b_labels'``
  or the facades' ``'label_map'`` (of both domains: the same facades)."""
  e = config.eval
  if config.data.dataset == "facades":
    facades = _facades(e.split, config)
    return {k: v[:e.num_test] for k, v in facades.items()}
  source = unpaired_source(config, e.split)
  out = {}
  for name, domain in (("a", source.a), ("b", source.b)):
    out[name] = _ordered(domain, config, e.num_test)["image"]
    n = len(out[name])
    if gdata.source_has_labels(domain):
      out[f"{name}_labels"] = np.asarray([domain[i]["label"] for i in range(n)],
                                         np.int32)
  return out


# -------------------------------------------------------------- translate --

@functools.lru_cache(maxsize=None)
def make_translate(player: str, mode: str) -> Callable:
  """``translate(state, images, key)``: each image translated on its own by
  ``state``'s ``player`` (the EMA where kept) in ``mode``.

  Every image is a batch of one, as the official test script runs: in train
  mode its BatchNorm uses that image's statistics and its dropout a mask from
  its own key (``split(key, N)[i]``), so an output never depends on the other
  images of the call. One compiled function per ``(player, mode)``.
  """
  if mode not in EVAL_MODES:
    raise ValueError(f"mode must be one of {EVAL_MODES}, got {mode!r}")

  @jax.jit
  def translate(state, images, key):
    def one(image, image_key):
      network = state.sampling_module(player, mode=mode)
      return network(image[None], rngs=image_key)[0]
    return jax.vmap(one)(images, jax.random.split(key, images.shape[0]))

  return translate


def translate_all(translate: Callable, state, images: np.ndarray, key: jax.Array,
                  *, batch_size: int) -> np.ndarray:
  """``translate(state, images, key)`` over ``images`` in calls of
  ``batch_size`` (call ``i`` with ``fold_in(key, i)``; a short last call is
  padded with copies of its last image, so there is one compiled shape)."""
  images = np.asarray(images, np.float32)
  n = len(images)
  out = []
  for i, start in enumerate(range(0, n, batch_size)):
    chunk = images[start:start + batch_size]
    pad = batch_size - len(chunk)
    if pad and n > batch_size:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
    result = translate(state, jnp.asarray(chunk), jax.random.fold_in(key, i))
    out.append(np.asarray(result)[:len(images[start:start + batch_size])])
  return np.concatenate(out)


def make_test_sampler(translate: Callable, inputs: np.ndarray, num: int):
  """``sample(state, key)``: ``num`` test inputs drawn with ``key`` (with
  replacement), translated."""
  inputs = jnp.asarray(inputs)

  @jax.jit
  def draw(state, inputs, key):
    key_pick, key_translate = jax.random.split(key)
    index = jax.random.randint(key_pick, (num,), 0, inputs.shape[0])
    return translate(state, inputs[index], key_translate)

  return lambda state, key: draw(state, inputs, key)


# ------------------------------------------------------------------ grids --

def _as_channels(images: np.ndarray, channels: int) -> np.ndarray:
  images = np.asarray(images, np.float32)
  return np.repeat(images, channels, axis=-1) if images.shape[-1] < channels else images


def interleave(columns: list[np.ndarray]) -> np.ndarray:
  """Example ``i`` of every column, one after the other: a grid with
  ``len(columns)`` images per example (grey columns shown as RGB when another
  is in colour)."""
  channels = max(c.shape[-1] for c in columns)
  columns = [_as_channels(c, channels) for c in columns]
  return np.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])


def translation_grid_hook(config: ml_collections.ConfigDict,
                          columns: Callable[[Any, jax.Array], list], workdir: str,
                          *, num_columns: int, examples_per_row: int = 4) -> list:
  """Sample grids during training: the ``num_columns`` arrays of
  ``columns(state, key)`` (e.g. input, output and target of the first test
  examples), each example one after the other, with the run's fixed sampling
  key every ``train.sample_every`` steps."""
  sample = lambda state, key: interleave([np.asarray(c) for c in columns(state, key)])
  return common.sample_grid_hook(config, sample, workdir,
                                 nrow=num_columns * examples_per_row)


def save_translation_grid(path: str, columns: list[np.ndarray], *,
                          examples_per_row: int = 4) -> None:
  if jax.process_index() == 0:
    image_eval.save_image_grid(path, interleave(columns),
                               nrow=len(columns) * examples_per_row)


def write_test_report(workdir: str, step: int, results: dict[str, float],
                      columns: dict[str, np.ndarray]) -> None:
  """``results.md`` and the test-results gallery, beside ``results.json``.

  ``results.md`` is a Markdown table of ``results``, a metric's ``_real``
  twin (the same score of real images) in its own column. The gallery is
  ``test_results/index.html`` over ``test_results/images/NNNN_NAME.png``:
  one row per test example, one image per column (e.g. ``real_A``,
  ``fake_B``, ``real_B``), as the official test script's web page shows.

  Args:
    workdir: where to write.
    step: the checkpoint evaluated.
    results: the ``eval/...`` numbers.
    columns: name -> ``[N, H, W, C]`` images in [-1, 1], the same N for each.
  """
  if jax.process_index() != 0:
    return
  sizes = {len(images) for images in columns.values()}
  if len(sizes) != 1:
    raise ValueError(f"the columns must hold as many images each, got "
                     f"{ {k: len(v) for k, v in columns.items()} }")
  cell = lambda v: "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
  rows = ["| metric | generated | real images |", "|---|---|---|"]
  for name, value in results.items():
    if not name.endswith("_real"):
      rows.append(f"| {name.removeprefix('eval/')} | {cell(value)} "
                  f"| {cell(results.get(f'{name}_real'))} |")
  with open(os.path.join(workdir, "results.md"), "w", encoding="utf-8") as f:
    f.write(f"Results at step {step}\n\n" + "\n".join(rows) + "\n")
  gallery = os.path.join(workdir, "test_results")
  os.makedirs(os.path.join(gallery, "images"), exist_ok=True)
  rows = []
  for i in range(sizes.pop()):
    files = [f"images/{i:04d}_{name}.png" for name in columns]
    for file, images in zip(files, columns.values()):
      image_eval.save_image_grid(os.path.join(gallery, file), images[i:i + 1],
                                 padding=0)
    rows.append((str(i), files))
  report.write_gallery(gallery, title=f"test results, step {step}",
                       columns=["#", *columns], rows=rows)


# ----------------------------------------------------------------- scores --

def _scores(name: str, scores: dict, suffix: str) -> dict[str, float]:
  return {f"eval/{name}_{k}{suffix}": float(scores[k])
          for k in ("per_pixel_accuracy", "per_class_accuracy", "class_iou")}


def facade_segmenter(config: ml_collections.ConfigDict):
  """The FCN-score segmenter for the run's image size, cached in
  ``$GANS_JAX_CACHE_DIR`` (trained on the real training photos when missing)."""
  from gans_jax.eval import segmentation
  size = config.data.image_size
  return segmentation.load_or_train_facade_segmenter(
      os.path.join(common.cache_dir(), f"facade_segmenter_{size}.npz"),
      image_size=size)


def facade_photos_domain(config: ml_collections.ConfigDict) -> str:
  """The domain ('a' or 'b') of the facades' photos; the other holds labels."""
  return "b" if config.data.direction == "AtoB" else "a"


def facade_scores(config: ml_collections.ConfigDict, images: np.ndarray,
                  label_maps: np.ndarray, *, domain: str,
                  suffix: str = "") -> dict[str, float]:
  """Scores of facades of ``domain`` ('a' or 'b') against their label maps.

  Photos get the FCN-scores (pix2pix, Section 4.2): how well a segmenter
  trained on real photos recovers the label maps from them,
  ``eval/fcn_{per_pixel_accuracy,per_class_accuracy,class_iou}<suffix>``.
  Labels images are read back pixel by pixel as their nearest class colour
  and scored the same way, ``eval/labels_...<suffix>`` (the photo -> labels
  direction).
  """
  from gans_jax.eval import segmentation
  if domain == facade_photos_domain(config):
    scores = segmentation.fcn_scores(images, label_maps, facade_segmenter(config))
    return _scores("fcn", scores, suffix)
  predicted = gdata.facade_label_map(images)
  return _scores("labels", segmentation.segmentation_scores(
      predicted, label_maps, gdata.NUM_FACADE_CLASSES), suffix)


def digit_scores(input_labels: np.ndarray, outputs: np.ndarray,
                 target_domain: int, *, name: str) -> dict[str, float]:
  """Class preservation and domain accuracy of translated digits
  (``target_domain`` 0: handwritten, 1: typeset), with the cached
  classifiers of :mod:`gans_jax.eval.domain`."""
  from gans_jax.eval import domain
  cache = common.cache_dir()
  digit = domain.load_or_train_digit_domain_classifier(
      os.path.join(cache, "digit_cross_domain_classifier.npz"), task="digit")
  kind = domain.load_or_train_digit_domain_classifier(
      os.path.join(cache, "digit_domain_classifier.npz"), task="domain")
  return {
      f"eval/{name}_class_preservation": domain.class_preservation(
          input_labels, outputs, digit),
      f"eval/{name}_domain_accuracy": domain.domain_accuracy(
          outputs, target_domain, kind),
  }
