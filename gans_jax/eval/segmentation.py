"""The FCN-score of pix2pix, on the synthetic facades.

pix2pix (Isola et al., arXiv 1611.07004, Section 4.2) judges generated
labels -> photo images by how well an off-the-shelf semantic segmentation
network (an FCN-8s trained on real Cityscapes photos) recovers the input labels
from them: the better the photos, the closer the scores come to those of the
real photos. This module does the same on :mod:`gans_jax.data.synthetic_facades`:
gans_jax trains a small fully convolutional network on the real photos of the
training split (well under a minute on a CPU), caches it, and scores
photos against their label maps with the confusion-matrix scores of the
pix2pix / FCN evaluation code:

- per-pixel accuracy :math:`\\sum_k n_{kk} / \\sum_{k,l} n_{kl}`,
- per-class accuracy: the mean over classes present of :math:`n_{kk} / \\sum_l n_{kl}`,
- class IoU: the mean over classes of :math:`n_{kk} / (\\sum_l n_{kl} +
  \\sum_l n_{lk} - n_{kk})`,

with :math:`n_{kl}` the number of pixels of true class :math:`k` predicted as
:math:`l`, summed over all images. The numbers are comparable only between
photos scored by the same segmenter weights.

Train and cache the weights once with::

  python -m gans_jax.eval.tools.train_networks facade_segmenter \\
      --out=/path/to/facade_segmenter.npz
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import math
import os

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans_jax.data import synthetic_facades
from gans_jax.eval import network_cache

_FORMAT_VERSION = 1
_EVAL_BATCH = 64
_SCORE_NAMES = ("per_pixel_accuracy", "per_class_accuracy", "class_iou")
_INIT = nnx.initializers.variance_scaling(2.0, "fan_in", "normal")


# ---------------------------------------------------------------- scores --


def confusion_matrix(pred_ids, true_ids, num_classes: int) -> np.ndarray:
  """Pixel counts ``[true class, predicted class]``.

  Args:
    pred_ids: predicted class ids, any shape.
    true_ids: true class ids, the same shape.
    num_classes: the number of classes :math:`K`.

  Returns:
    int64 ``[K, K]``; entry ``(k, l)`` counts pixels of class ``k`` predicted ``l``.
  """
  pred_ids, true_ids = np.asarray(pred_ids), np.asarray(true_ids)
  if pred_ids.shape != true_ids.shape:
    raise ValueError(
        f"pred_ids and true_ids must have one shape, got {pred_ids.shape} and "
        f"{true_ids.shape}")
  for name, ids in (("pred_ids", pred_ids), ("true_ids", true_ids)):
    if not np.issubdtype(ids.dtype, np.integer):
      raise ValueError(f"{name} must hold integer class ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
      raise ValueError(
          f"{name} must lie in [0, {num_classes}), got values in "
          f"[{ids.min()}, {ids.max()}]")
  flat = true_ids.astype(np.int64).ravel() * num_classes + pred_ids.astype(np.int64).ravel()
  return np.bincount(flat, minlength=num_classes * num_classes).reshape(
      num_classes, num_classes)


def segmentation_scores(pred_ids, true_ids, num_classes: int) -> dict:
  """Per-pixel accuracy, per-class accuracy and class IoU of a segmentation.

  .. math::
    \\text{per-pixel} = \\frac{\\sum_k n_{kk}}{\\sum_{kl} n_{kl}}, \\quad
    \\text{per-class} = \\operatorname{mean}_k \\frac{n_{kk}}{t_k}, \\quad
    \\text{IoU} = \\operatorname{mean}_k \\frac{n_{kk}}{t_k + p_k - n_{kk}},

  with :math:`n` the confusion matrix summed over all pixels of all images,
  :math:`t_k = \\sum_l n_{kl}` and :math:`p_k = \\sum_l n_{lk}`. As in the
  FCN / pix2pix evaluation code, a class absent from the truth is left out of the
  per-class mean, and a class absent from both truth and prediction out of the
  IoU mean.

  Args:
    pred_ids: predicted class ids, e.g. ``[N, H, W]``.
    true_ids: true class ids, the same shape.
    num_classes: the number of classes :math:`K`.

  Returns:
    ``{'per_pixel_accuracy', 'per_class_accuracy', 'class_iou'}`` as floats,
    ``'class_accuracies'`` and ``'class_ious'`` (float64 ``[K]``, NaN where
    undefined) and ``'confusion'`` (int64 ``[K, K]``).

  References:
    Long et al., "Fully Convolutional Networks for Semantic Segmentation",
    arXiv 1411.4038; Isola et al., arXiv 1611.07004.
  """
  confusion = confusion_matrix(pred_ids, true_ids, num_classes)
  if confusion.sum() == 0:
    raise ValueError("cannot score an empty segmentation")
  hits = np.diag(confusion).astype(np.float64)
  truth, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
  union = truth + predicted - hits
  with np.errstate(divide="ignore", invalid="ignore"):
    class_accuracies = np.where(truth > 0, hits / truth, np.nan)
    class_ious = np.where(union > 0, hits / union, np.nan)
  return {
      "per_pixel_accuracy": float(hits.sum() / confusion.sum()),
      "per_class_accuracy": float(np.nanmean(class_accuracies)),
      "class_iou": float(np.nanmean(class_ious)),
      "class_accuracies": class_accuracies,
      "class_ious": class_ious,
      "confusion": confusion,
  }


# --------------------------------------------------------------- network --


def _conv(cin: int, cout: int, rngs: nnx.Rngs, *, kernel: int = 3,
          stride: int = 1) -> nnx.Conv:
  return nnx.Conv(cin, cout, (kernel, kernel), strides=stride, padding="SAME",
                  kernel_init=_INIT, rngs=rngs)


def _upsample(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class FacadeSegmenterNet(nnx.Module):
  """A small U-Net: photos ``[N, H, W, 3]`` to class logits ``[N, H, W, K]``.

  Two 3x3 convolutions at each of three scales (full, 1/2, 1/4; strided
  convolutions go down), nearest-neighbour upsampling and skip connections
  back up, ReLU throughout; ``H`` and ``W`` must be multiples of 4.
  """

  def __init__(self, *, rngs: nnx.Rngs, num_classes: int = synthetic_facades.NUM_FACADE_CLASSES,
               features: Sequence[int] = (8, 16, 32)):
    c1, c2, c3 = features
    self.enc1 = nnx.List([_conv(3, c1, rngs), _conv(c1, c1, rngs)])
    self.enc2 = nnx.List([_conv(c1, c2, rngs, stride=2), _conv(c2, c2, rngs)])
    self.enc3 = nnx.List([_conv(c2, c3, rngs, stride=2), _conv(c3, c3, rngs)])
    self.dec2 = _conv(c3 + c2, c2, rngs)
    self.dec1 = _conv(c2 + c1, c1, rngs)
    self.head = _conv(c1, num_classes, rngs, kernel=1)

  def __call__(self, x: jax.Array) -> jax.Array:
    skips = []
    for block in (self.enc1, self.enc2, self.enc3):
      for conv in block:
        x = nnx.relu(conv(x))
      skips.append(x)
    h1, h2, h3 = skips
    x = nnx.relu(self.dec2(jnp.concatenate([_upsample(h3), h2], axis=-1)))
    x = nnx.relu(self.dec1(jnp.concatenate([_upsample(x), h1], axis=-1)))
    return self.head(x)


def _abstract_net(features: tuple[int, ...]) -> FacadeSegmenterNet:
  return nnx.eval_shape(lambda: FacadeSegmenterNet(rngs=nnx.Rngs(0), features=features))


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef: nnx.GraphDef, state: nnx.State, photos: jax.Array) -> jax.Array:
  return nnx.merge(graphdef, state)(photos)


class FacadeSegmenter:
  """A trained :class:`FacadeSegmenterNet` with batched inference.

  Attributes:
    image_size: the photo size it was trained on (and accepts).
    features: the network's channel widths.
    data_seed: the seed of the facades it was trained on.
    test_scores: :func:`segmentation_scores`' three means on the real photos of
      the test split, measured after training (``None`` when unknown).
  """

  def __init__(self, model: FacadeSegmenterNet, *, image_size: int, data_seed: int = 0,
               test_scores: dict[str, float] | None = None):
    self.image_size = synthetic_facades.check_facade_image_size(image_size)
    self.features = tuple(int(block[0].out_features)
                          for block in (model.enc1, model.enc2, model.enc3))
    self.data_seed = int(data_seed)
    self.test_scores = test_scores
    self._graphdef, self._state = nnx.split(model)

  @property
  def model(self) -> FacadeSegmenterNet:
    """A copy of the network as a Flax NNX module."""
    return nnx.merge(self._graphdef, self._state, copy=True)

  def logits(self, photos) -> np.ndarray:
    """Class logits ``[N, S, S, K]`` of photos ``[N, S, S, 3]`` in ``[-1, 1]``."""
    photos = np.asarray(photos, dtype=np.float32)
    size = self.image_size
    if photos.ndim != 4 or photos.shape[1:] != (size, size, 3) or not len(photos):
      raise ValueError(
          f"photos must be [N, {size}, {size}, 3] with N > 0 (the segmenter's training "
          f"size), got shape {photos.shape}")
    n = photos.shape[0]
    pad = (-n) % _EVAL_BATCH
    if pad:  # one compiled batch shape
      photos = np.concatenate([photos, np.zeros((pad,) + photos.shape[1:], np.float32)])
    out = [np.asarray(_forward(self._graphdef, self._state, photos[i:i + _EVAL_BATCH]))
           for i in range(0, photos.shape[0], _EVAL_BATCH)]
    return np.concatenate(out)[:n]

  def predict(self, photos) -> np.ndarray:
    """Predicted class ids ``[N, S, S]`` (int32)."""
    return np.argmax(self.logits(photos), axis=-1).astype(np.int32)

  def save(self, path: str | os.PathLike) -> None:
    """Writes the weights and metadata to a ``.npz`` file (atomically)."""
    scores = self.test_scores or {}
    network_cache.save_network(path, self.model, {
        "format_version": _FORMAT_VERSION,
        "data_version": synthetic_facades.FACADES_VERSION,
        "image_size": self.image_size,
        "features": np.asarray(self.features),
        "data_seed": self.data_seed,
        **{f"test_{k}": scores.get(k, np.nan) for k in _SCORE_NAMES},
    })

  @classmethod
  def load(cls, path: str | os.PathLike, *, image_size: int | None = None,
           data_seed: int | None = None) -> FacadeSegmenter:
    """Reads weights written by :meth:`save`.

    Args:
      path: the file.
      image_size: if given, the photo size the weights must be for.
      data_seed: if given, the facades seed the weights must be trained on.

    Raises:
      ValueError: the file is of another format, facades version, size, seed or
        architecture; the message says to delete it to retrain.
    """
    metadata = network_cache.read_metadata(path)
    expected = {"format_version": _FORMAT_VERSION,
                "data_version": synthetic_facades.FACADES_VERSION}
    if image_size is not None:
      expected["image_size"] = image_size
    if data_seed is not None:
      expected["data_seed"] = data_seed
    # A file of another format fails the check in load_network.
    features = tuple(int(f) for f in metadata.get("features", (8, 16, 32)))
    model = _abstract_net(features)
    metadata = network_cache.load_network(path, model, expected=expected,
                                          what="facade segmenter")
    scores = {k: float(metadata[f"test_{k}"]) for k in _SCORE_NAMES}
    return cls(model, image_size=int(metadata["image_size"]),
               data_seed=int(metadata["data_seed"]),
               test_scores=None if any(map(math.isnan, scores.values())) else scores)


def fcn_scores(photos, label_maps, segmenter: FacadeSegmenter) -> dict:
  """The FCN-scores of photos: how well ``segmenter`` recovers their label maps.

  Args:
    photos: ``[N, S, S, 3]`` in ``[-1, 1]``, real or generated from the labels
      images of ``label_maps``.
    label_maps: ``[N, S, S]`` class ids the photos should show.
    segmenter: the trained segmenter (``S`` must be its ``image_size``).

  Returns:
    :func:`segmentation_scores` of the segmenter's predictions.

  References:
    Isola et al., "Image-to-Image Translation with Conditional Adversarial
    Networks", arXiv 1611.07004 (Section 4.2, Table 1).
  """
  label_maps = np.asarray(label_maps)
  if label_maps.shape != np.shape(photos)[:3]:
    raise ValueError(
        f"label_maps must be [N, S, S] matching photos {np.shape(photos)}, got "
        f"{label_maps.shape}")
  return segmentation_scores(segmenter.predict(photos), label_maps,
                             synthetic_facades.NUM_FACADE_CLASSES)


# -------------------------------------------------------------- training --


def train_facade_segmenter(*, image_size: int = 64, data_seed: int = 0, seed: int = 0,
                           num_steps: int = 800, batch_size: int = 16,
                           learning_rate: float = 4e-3,
                           features: Sequence[int] = (8, 16, 32)) -> FacadeSegmenter:
  """Trains :class:`FacadeSegmenterNet` on the real photos of the facades training split.

  Minimises the per-pixel softmax cross-entropy to the label maps with Adam
  (step size cosine-decayed to 0), on minibatches drawn with replacement, then
  scores the real photos of the ``'test'`` split (``test_scores``).

  Args:
    image_size: the photo size, a multiple of 32.
    data_seed: the seed of :func:`~gans_jax.data.synthetic_facades.load_facades`.
    seed: seeds the initialisation and the minibatch order.
    num_steps: Adam steps.
    batch_size: photos per step.
    learning_rate: Adam's initial step size.
    features: channel widths at the three scales.

  Returns:
    The trained segmenter.
  """
  features = tuple(int(f) for f in features)
  train = synthetic_facades.load_facades("train", image_size=image_size, seed=data_seed)
  test = synthetic_facades.load_facades("test", image_size=image_size, seed=data_seed)
  x_train = jnp.asarray(train["b"])
  y_train = jnp.asarray(train["label_map"])

  abstract = _abstract_net(features)
  graphdef, _ = nnx.split(abstract)
  params = network_cache.he_normal_state(abstract, seed)
  order_key = jax.random.key(seed)
  optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
  params = network_cache.train_classifier(
      graphdef, params, optimizer, x_train, y_train,
      order_key=order_key, batch_size=batch_size, num_steps=num_steps)
  segmenter = FacadeSegmenter(nnx.merge(graphdef, params), image_size=image_size,
                              data_seed=data_seed)
  scores = fcn_scores(test["b"], test["label_map"], segmenter)
  segmenter.test_scores = {k: scores[k] for k in _SCORE_NAMES}
  return segmenter


def load_or_train_facade_segmenter(cache_path: str | os.PathLike, *,
                                   image_size: int = 64, data_seed: int = 0,
                                   seed: int = 0) -> FacadeSegmenter:
  """Loads the segmenter cached at ``cache_path``, training and saving it when missing.

  Args:
    cache_path: a ``.npz`` file written by :meth:`FacadeSegmenter.save` or by
      ``python -m gans_jax.eval.tools.train_networks facade_segmenter
      --out=PATH``; keep one per image size.
    image_size: the photo size; a cached file for another size raises.
    data_seed: the facades seed; a cached file for another seed raises.
    seed: the training seed, used only when the file is missing.

  Returns:
    The segmenter.
  """
  if os.path.exists(cache_path):
    return FacadeSegmenter.load(cache_path, image_size=image_size, data_seed=data_seed)
  segmenter = train_facade_segmenter(image_size=image_size, data_seed=data_seed, seed=seed)
  segmenter.save(cache_path)
  return segmenter
