"""A small digit classifier, and the sample metrics built on it.

The offline image set of this project is scikit-learn's 8x8 digits, which no
Inception network knows. In the spirit of the Fréchet Inception Distance and
of mode counting with a pretrained MNIST classifier, this module trains its
own small network on the *training* split of those digits (a few seconds on a CPU)
and measures generated digits with it:

- ``classifier_fd``: the Fréchet distance between Gaussians fitted to the
  classifier's penultimate features of generated and reference images;
- ``classes_covered`` / ``class_entropy`` / ``class_kl_to_uniform``: how
  evenly the generated digits spread over the ten classes.

These numbers are comparable only between runs scored by the same classifier
weights; they are not FID values.

Train and cache the weights once with::

  python -m gans_jax.eval.tools.train_networks digit_classifier \\
      --out=/path/to/digit_classifier.npz
"""

import functools
import math
import os
import time

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans_jax.eval import network_cache
from gans_jax.eval.metrics import frechet_distance
from gans_jax.eval.metrics import inception_score

INPUT_SIZE = 16
"""Images are converted to gray and resized to this square size first."""

NUM_CLASSES = 10
_FORMAT_VERSION = 1
_EVAL_BATCH = 256
# ITU-R BT.601 luma weights, for colour inputs.
_LUMA = (0.299, 0.587, 0.114)


# An untruncated normal initialiser: the default truncated normal takes
# seconds to compile on a busy CPU, and a net this small trains as well without.
_INIT = nnx.initializers.variance_scaling(1.0, "fan_in", "normal")


class DigitNet(nnx.Module):
  """A multilayer perceptron 256-256-64-10 on 16x16 gray digits.

  Input ``[N, 16, 16, 1]`` in ``[-1, 1]``; ``embed`` returns the 64-d
  penultimate features (before their ReLU, which keeps their covariance full
  rank), ``__call__`` the 10 logits. An MLP rather than a CNN: on the CPU it
  compiles and trains several times faster, at the same accuracy on these
  digits.
  """

  def __init__(self, *, rngs: nnx.Rngs, hidden_dim: int = 256, feature_dim: int = 64):
    self.hidden = nnx.Linear(INPUT_SIZE * INPUT_SIZE, hidden_dim, kernel_init=_INIT,
                             rngs=rngs)
    self.embedding = nnx.Linear(hidden_dim, feature_dim, kernel_init=_INIT, rngs=rngs)
    self.head = nnx.Linear(feature_dim, NUM_CLASSES, kernel_init=_INIT, rngs=rngs)

  def embed(self, x: jax.Array) -> jax.Array:
    return self.embedding(nnx.relu(self.hidden(x.reshape(x.shape[0], -1))))

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.head(nnx.relu(self.embed(x)))


def _abstract_net() -> DigitNet:
  return nnx.eval_shape(lambda: DigitNet(rngs=nnx.Rngs(0)))


@jax.jit
def _init_params(key: jax.Array) -> nnx.State:
  # One compiled program for all the initialisers, instead of one per shape.
  return nnx.state(DigitNet(rngs=nnx.Rngs(params=key)))


def preprocess(images) -> jax.Array:
  """Converts ``[N, H, W, C]`` images in ``[-1, 1]`` to the classifier's input.

  Colour images (``C = 3``) become gray by BT.601 luma; all are resized to
  ``INPUT_SIZE`` x ``INPUT_SIZE`` with antialiased bilinear interpolation.

  Args:
    images: ``[N, H, W, C]``, ``C`` 1 or 3, floats in ``[-1, 1]``.

  Returns:
    ``[N, INPUT_SIZE, INPUT_SIZE, 1]`` float32.
  """
  images = jnp.asarray(images, dtype=jnp.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(
        f"images must be [N, H, W, C] with C in (1, 3), got shape {images.shape}.")
  if images.shape[-1] == 3:
    images = jnp.tensordot(images, jnp.asarray(_LUMA, jnp.float32), axes=1)[..., None]
  if images.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
    images = jax.image.resize(
        images, (images.shape[0], INPUT_SIZE, INPUT_SIZE, 1), method="linear")
  return images


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef: nnx.GraphDef, state: nnx.State,
             images: jax.Array) -> tuple[jax.Array, jax.Array]:
  net = nnx.merge(graphdef, state)
  features = net.embed(preprocess(images))
  return features, net.head(nnx.relu(features))


class DigitClassifier:
  """A trained :class:`DigitNet` with jitted, batched inference.

  The weights are captured when the classifier is built; later changes to
  the module passed in do not affect it.

  Attributes:
    test_accuracy: accuracy on the digits test split measured after training
      (``None`` when unknown).
  """

  def __init__(self, model: DigitNet, *, test_accuracy: float | None = None):
    self.test_accuracy = test_accuracy
    self._graphdef, self._state = nnx.split(model)

  @property
  def model(self) -> DigitNet:
    """A copy of the network as a Flax NNX module."""
    return nnx.merge(self._graphdef, self._state, copy=True)

  def _run(self, images) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] == 0:
      raise ValueError(
          "images must be [N, H, W, C] with N > 0 and C in (1, 3), got shape "
          f"{images.shape}.")
    n = images.shape[0]
    # A fixed batch (the last one padded) compiles once per image size.
    pad = (-n) % _EVAL_BATCH
    if pad:
      images = np.concatenate([images, np.zeros((pad,) + images.shape[1:], np.float32)])
    features, logits = [], []
    for start in range(0, images.shape[0], _EVAL_BATCH):
      f, l = _forward(self._graphdef, self._state, images[start:start + _EVAL_BATCH])
      features.append(np.asarray(f))
      logits.append(np.asarray(l))
    return np.concatenate(features)[:n], np.concatenate(logits)[:n]

  def features(self, images) -> np.ndarray:
    """Penultimate-layer features ``[N, 64]`` of ``[N, H, W, C]`` images in [-1, 1]."""
    return self._run(images)[0]

  def logits(self, images) -> np.ndarray:
    """Class logits ``[N, 10]``."""
    return self._run(images)[1]

  def predict(self, images) -> np.ndarray:
    """Predicted digit ``[N]`` (int32)."""
    return np.argmax(self.logits(images), axis=1).astype(np.int32)

  def accuracy(self, images, labels) -> float:
    """Fraction of ``images`` whose predicted digit equals ``labels``."""
    return float(np.mean(self.predict(images) == np.asarray(labels)))

  def save(self, path: str | os.PathLike) -> None:
    """Writes the weights and metadata to a ``.npz`` file (atomically)."""
    network_cache.save_network(path, self.model, {
        "format_version": _FORMAT_VERSION, "input_size": INPUT_SIZE,
        "test_accuracy": np.nan if self.test_accuracy is None else self.test_accuracy})

  @classmethod
  def load(cls, path: str | os.PathLike) -> "DigitClassifier":
    """Reads weights written by :meth:`save`; raises if they do not fit."""
    model = _abstract_net()
    metadata = network_cache.load_network(
        path, model, what="digit-classifier",
        expected={"format_version": _FORMAT_VERSION, "input_size": INPUT_SIZE})
    accuracy = float(metadata["test_accuracy"])
    return cls(model, test_accuracy=None if math.isnan(accuracy) else accuracy)


def train_digit_classifier(*, seed: int = 0, num_steps: int = 600,
                           batch_size: int = 128,
                           learning_rate: float = 3e-3) -> DigitClassifier:
  """Trains :class:`DigitNet` on the digits training split with Adam.

  Minimises the softmax cross-entropy over minibatches of the ``'train'``
  split of :func:`gans_jax.data.digits.load_digits_split`, then measures the
  accuracy on the ``'test'`` split (stored as ``test_accuracy``).

  Args:
    seed: seeds the initialisation and the minibatch order.
    num_steps: Adam steps.
    batch_size: examples per step.
    learning_rate: Adam's step size.

  Returns:
    The trained classifier.
  """
  from gans_jax.data.digits import load_digits_split  # pylint: disable=g-import-not-at-top

  train_images, train_labels = load_digits_split("train")
  test_images, test_labels = load_digits_split("test")
  x_train = preprocess(train_images)
  y_train = jnp.asarray(train_labels, jnp.int32)

  key = jax.random.key(seed)
  init_key, order_key = jax.random.split(key)
  graphdef, _ = nnx.split(_abstract_net())
  params = _init_params(init_key)
  params = network_cache.train_classifier(
      graphdef, params, optax.adam(learning_rate), x_train, y_train,
      order_key=order_key, batch_size=batch_size, num_steps=num_steps)
  classifier = DigitClassifier(nnx.merge(graphdef, params))
  classifier.test_accuracy = classifier.accuracy(test_images, test_labels)
  return classifier


def load_or_train_digit_classifier(cache_path: str | os.PathLike, *,
                                   seed: int = 0) -> DigitClassifier:
  """Loads the classifier cached at ``cache_path``, training and saving it when missing.

  Args:
    cache_path: a ``.npz`` file written by :meth:`DigitClassifier.save` or the
      command line ``python -m gans_jax.eval.tools.train_networks
      digit_classifier --out=PATH``.
    seed: the training seed, used only when the file is missing.

  Returns:
    The classifier.
  """
  if os.path.exists(cache_path):
    return DigitClassifier.load(cache_path)
  classifier = train_digit_classifier(seed=seed)
  classifier.save(cache_path)
  return classifier


def _gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  features = np.asarray(features, dtype=np.float64)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def classifier_frechet_distance(classifier: DigitClassifier, generated,
                                reference) -> float:
  """Fréchet distance between classifier features of two image sets.

  FID with :class:`DigitClassifier`'s 64-d penultimate features in place of
  Inception's pool features; each set is summarised by its feature mean and
  covariance. Both sets need at least two images (more than 64 for a
  full-rank covariance; a few hundred for a stable value).

  Args:
    classifier: the feature extractor.
    generated: ``[N, H, W, C]`` images in ``[-1, 1]``.
    reference: ``[M, H', W', C']`` images in ``[-1, 1]``, e.g. held-out test
      digits.

  Returns:
    The squared Fréchet distance between the two feature Gaussians.

  References:
    Heusel et al., arXiv 1706.08500.
  """
  for name, images in (("generated", generated), ("reference", reference)):
    if np.shape(images)[0] < 2:
      raise ValueError(f"{name} needs at least 2 images, got shape {np.shape(images)}.")
  mu1, sigma1 = _gaussian_fit(classifier.features(generated))
  mu2, sigma2 = _gaussian_fit(classifier.features(reference))
  return frechet_distance(mu1, sigma1, mu2, sigma2)


def classifier_inception_score(classifier: DigitClassifier, generated, *,
                               splits: int = 10) -> tuple[float, float]:
  """Inception Score of generated digits with the digit classifier.

  .. math::
    \\mathrm{IS} = \\exp\\Big(\\mathbb{E}_x\\, \\mathrm{KL}\\big(p(y \\mid x)
      \\,\\big\\|\\, p(y)\\big)\\Big)

  :func:`gans_jax.eval.metrics.inception_score` (``splits`` parts, mean and
  standard deviation) of :class:`DigitClassifier`'s ten class logits in
  place of the Inception network's: 1 for samples all of one class or
  classified at random, 10 for confidently classified digits spread evenly
  over the classes. For offline runs on the built-in digits; the value is
  comparable only between runs scored by the same classifier weights.

  Args:
    classifier: the digit classifier.
    generated: ``[N, H, W, C]`` images in ``[-1, 1]``, ``N >= splits``.
    splits: number of parts (10 in the paper).

  Returns:
    ``(mean, std)`` over the parts.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 4.
  """
  return inception_score(classifier.logits(generated), splits=splits)


def class_spread_from_labels(labels, *, num_classes: int = NUM_CLASSES,
                             min_share: float = 0.2) -> dict:
  """How evenly predicted labels spread over the classes.

  With :math:`p_k` the fraction of the :math:`N` labels equal to :math:`k`:

  .. math::
    H = -\\sum_k p_k \\log p_k, \\qquad
    \\mathrm{KL}(p \\,\\|\\, u) = \\log K - H,

  in nats (:math:`H \\le \\log K`, the uniform case). Class :math:`k` is
  covered when it receives at least :math:`\\max(1, \\lceil s N / K \\rceil)`
  labels, :math:`s` being ``min_share``: the default 0.2 asks for a fifth of a
  class's fair share (2% of the samples for 10 classes), so a classifier's
  occasional mistakes on a one-digit generator do not count as coverage.

  Args:
    labels: ``[N]`` integer class labels in ``[0, num_classes)``.
    num_classes: the number of classes :math:`K`.
    min_share: fraction of the fair share ``N / K`` a class needs.

  Returns:
    ``{'classes_covered': int, 'class_entropy': float,
    'class_kl_to_uniform': float, 'histogram': int array [K]}``.
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] == 0:
    raise ValueError(f"labels must be a non-empty [N] array, got shape {labels.shape}.")
  if np.any(labels < 0) or np.any(labels >= num_classes):
    raise ValueError(f"labels must lie in [0, {num_classes}).")
  histogram = np.bincount(labels.astype(np.int64), minlength=num_classes)
  p = histogram / labels.shape[0]
  nonzero = p[p > 0]
  entropy = float(-np.sum(nonzero * np.log(nonzero))) + 0.0  # no -0.0
  min_count = max(1, math.ceil(min_share * labels.shape[0] / num_classes - 1e-9))
  return {
      "classes_covered": int(np.sum(histogram >= min_count)),
      "class_entropy": entropy,
      "class_kl_to_uniform": float(max(math.log(num_classes) - entropy, 0.0)),
      "histogram": histogram,
  }


def class_spread(classifier: DigitClassifier, generated, *,
                 num_classes: int = NUM_CLASSES, min_share: float = 0.2) -> dict:
  """:func:`class_spread_from_labels` of the classifier's predictions.

  Args:
    classifier: the digit classifier.
    generated: ``[N, H, W, C]`` images in ``[-1, 1]``.
    num_classes: the number of classes.
    min_share: fraction of the fair share a class needs to count as covered.

  Returns:
    ``{'classes_covered', 'class_entropy', 'class_kl_to_uniform', 'histogram'}``.
  """
  return class_spread_from_labels(classifier.predict(generated),
                                  num_classes=num_classes, min_share=min_share)


def digit_metrics(classifier: DigitClassifier, generated, reference) -> dict[str, float]:
  """The classifier metrics of generated digits, keyed for ``metrics.jsonl``.

  Args:
    classifier: the digit classifier.
    generated: ``[N, H, W, C]`` generated images in ``[-1, 1]``.
    reference: held-out real images in ``[-1, 1]`` (e.g. the test split).

  Returns:
    ``{'eval/classifier_fd', 'eval/classes_covered', 'eval/class_entropy',
    'eval/class_kl_to_uniform'}`` as Python numbers.
  """
  spread = class_spread(classifier, generated)
  return {
      "eval/classifier_fd": classifier_frechet_distance(classifier, generated, reference),
      "eval/classes_covered": spread["classes_covered"],
      "eval/class_entropy": spread["class_entropy"],
      "eval/class_kl_to_uniform": spread["class_kl_to_uniform"],
  }
