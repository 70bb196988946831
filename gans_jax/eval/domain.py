"""Scores of unpaired digit translation: class preservation, domain and cycle error.

CycleGAN (Zhu et al., arXiv 1703.10593) is judged on its offline default, the
handwritten digits (domain A, :func:`gans_jax.data.load_digits_split`) <->
typeset digits (domain B, :mod:`gans_jax.data.font_digits`), by two small
networks that gans_jax trains itself (seconds on a CPU) and caches, as the
digit classifier of :mod:`gans_jax.eval.classifier`:

- a *cross-domain digit classifier*, trained on the training splits of both
  domains, for :func:`class_preservation`: is :math:`G(a)` still the digit
  :math:`a` was? (the FCN-score idea of pix2pix, for digits);
- a *domain classifier* (0 = handwritten, 1 = typeset), for
  :func:`domain_accuracy`: does :math:`G(a)` look like domain B?

and by :func:`cycle_l1`, the mean :math:`|F(G(a)) - a|`. The numbers are
comparable only between runs scored by the same weights.

Train and cache both networks once with::

  python -m gans_jax.eval.tools.train_networks domain_classifiers \\
      --digit_out=PATH.npz --domain_out=PATH.npz
"""

from __future__ import annotations

import functools
import math
import os

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans_jax.data import font_digits
from gans_jax.eval import classifier as digit_classifier
from gans_jax.eval import network_cache

DOMAINS = ("handwritten", "font")
"""Domain ids: 0 = A, the handwritten digits; 1 = B, the typeset digits."""

TRAINING_IMAGE_SIZE = 32
"""Both domains are rendered at this size for training (inputs are resized to
``classifier.INPUT_SIZE`` first anyway)."""

_TASKS = {"digit": 10, "domain": 2}
# Adam steps by default: telling the domain apart is the easier task.
_DEFAULT_STEPS = {"digit": 600, "domain": 200}
_FORMAT_VERSION = 1
_EVAL_BATCH = 256
_INIT = nnx.initializers.variance_scaling(2.0, "fan_in", "normal")


class DigitConvNet(nnx.Module):
  """A small CNN on 16x16 gray images: three 3x3 convolutions (16, 32, 64
  channels; the last two strided), a 64-unit hidden layer and ``num_classes``
  logits; ReLU throughout."""

  def __init__(self, *, rngs: nnx.Rngs, num_classes: int):
    def conv(cin, cout, stride):
      return nnx.Conv(cin, cout, (3, 3), strides=stride, padding="SAME",
                      kernel_init=_INIT, rngs=rngs)
    self.convs = nnx.List([conv(1, 16, 1), conv(16, 32, 2), conv(32, 64, 2)])
    size = digit_classifier.INPUT_SIZE // 4
    self.hidden = nnx.Linear(size * size * 64, 64, kernel_init=_INIT, rngs=rngs)
    self.head = nnx.Linear(64, num_classes, kernel_init=_INIT, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    for conv in self.convs:
      x = nnx.relu(conv(x))
    return self.head(nnx.relu(self.hidden(x.reshape(x.shape[0], -1))))


def _abstract_net(num_classes: int) -> DigitConvNet:
  return nnx.eval_shape(lambda: DigitConvNet(rngs=nnx.Rngs(0), num_classes=num_classes))


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef: nnx.GraphDef, state: nnx.State, images: jax.Array) -> jax.Array:
  return nnx.merge(graphdef, state)(digit_classifier.preprocess(images))


def _check_task(task: str) -> int:
  if task not in _TASKS:
    raise ValueError(f"task must be one of {tuple(_TASKS)}, got {task!r}")
  return _TASKS[task]


class DigitDomainClassifier:
  """A trained :class:`DigitConvNet`: digits of both domains, or the domain.

  Images ``[N, H, W, C]`` in ``[-1, 1]`` (``C`` 1 or 3, any size) are made gray
  and resized to 16x16 as for :class:`gans_jax.eval.DigitClassifier`.

  Attributes:
    task: ``'digit'`` (10 classes) or ``'domain'`` (0 handwritten, 1 typeset).
    num_classes: 10 or 2.
    test_accuracies: accuracy on each domain's test split (``{'handwritten',
      'font'}``), measured after training; ``None`` when unknown.
  """

  def __init__(self, model: DigitConvNet, *, task: str,
               test_accuracies: dict[str, float] | None = None):
    self.num_classes = _check_task(task)
    self.task = task
    self.test_accuracies = test_accuracies
    self._graphdef, self._state = nnx.split(model)

  @property
  def model(self) -> DigitConvNet:
    """A copy of the network as a Flax NNX module."""
    return nnx.merge(self._graphdef, self._state, copy=True)

  def logits(self, images) -> np.ndarray:
    """Class logits ``[N, num_classes]``."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] == 0:
      raise ValueError(
          "images must be [N, H, W, C] with N > 0 and C in (1, 3), got shape "
          f"{images.shape}")
    n = images.shape[0]
    pad = (-n) % _EVAL_BATCH
    if pad:  # one compiled batch shape per image size
      images = np.concatenate([images, np.zeros((pad,) + images.shape[1:], np.float32)])
    out = [np.asarray(_forward(self._graphdef, self._state, images[i:i + _EVAL_BATCH]))
           for i in range(0, images.shape[0], _EVAL_BATCH)]
    return np.concatenate(out)[:n]

  def predict(self, images) -> np.ndarray:
    """Predicted class ``[N]`` (int32)."""
    return np.argmax(self.logits(images), axis=1).astype(np.int32)

  def accuracy(self, images, labels) -> float:
    """Fraction of ``images`` whose predicted class equals ``labels``."""
    return float(np.mean(self.predict(images) == np.asarray(labels)))

  def save(self, path: str | os.PathLike) -> None:
    """Writes the weights and metadata to a ``.npz`` file (atomically)."""
    accuracies = self.test_accuracies or {}
    network_cache.save_network(path, self.model, {
        "format_version": _FORMAT_VERSION,
        "font_digits_version": font_digits.FONT_DIGITS_VERSION,
        "task": self.task,
        **{f"test_accuracy_{d}": accuracies.get(d, np.nan) for d in DOMAINS},
    })

  @classmethod
  def load(cls, path: str | os.PathLike, *, task: str) -> DigitDomainClassifier:
    """Reads weights written by :meth:`save`; raises if they are not for ``task``
    or this version."""
    model = _abstract_net(_check_task(task))
    metadata = network_cache.load_network(
        path, model, what=f"{task} classifier",
        expected={"format_version": _FORMAT_VERSION, "task": task,
                  "font_digits_version": font_digits.FONT_DIGITS_VERSION})
    accuracies = {d: float(metadata[f"test_accuracy_{d}"]) for d in DOMAINS}
    return cls(model, task=task,
               test_accuracies=None if any(map(math.isnan, accuracies.values()))
               else accuracies)


def _domain_data(split: str, task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Both domains' images of ``split``, their targets for ``task``, and domain ids."""
  data = font_digits.load_unpaired_digits(split, image_size=TRAINING_IMAGE_SIZE)
  images = np.concatenate([data["a"], data["b"]])
  domain = np.repeat(np.arange(2, dtype=np.int32), [len(data["a"]), len(data["b"])])
  targets = (np.concatenate([data["a_labels"], data["b_labels"]]) if task == "digit"
             else domain)
  return images, targets.astype(np.int32), domain


def train_digit_domain_classifier(task: str, *, seed: int = 0, num_steps: int | None = None,
                                  batch_size: int = 128,
                                  learning_rate: float = 3e-3) -> DigitDomainClassifier:
  """Trains a :class:`DigitConvNet` on the training splits of both digit domains.

  Minimises the softmax cross-entropy to the digit (``task='digit'``) or to
  the domain (``task='domain'``) with Adam (step size cosine-decayed to 0) on
  minibatches drawn with replacement from the handwritten and typeset
  training digits together, then measures the accuracy on each domain's test
  split (``test_accuracies``).

  Args:
    task: ``'digit'`` or ``'domain'``.
    seed: seeds the initialisation and the minibatch order.
    num_steps: Adam steps; default 600 for ``'digit'``, 200 for ``'domain'``.
    batch_size: examples per step.
    learning_rate: Adam's initial step size.

  Returns:
    The trained classifier.
  """
  num_classes = _check_task(task)
  num_steps = _DEFAULT_STEPS[task] if num_steps is None else num_steps
  images, targets, _ = _domain_data("train", task)
  x_train = digit_classifier.preprocess(images)
  y_train = jnp.asarray(targets)

  abstract = _abstract_net(num_classes)
  graphdef, _ = nnx.split(abstract)
  params = network_cache.he_normal_state(abstract, seed)
  order_key = jax.random.key(seed)
  optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
  params = network_cache.train_classifier(
      graphdef, params, optimizer, x_train, y_train,
      order_key=order_key, batch_size=batch_size, num_steps=num_steps)
  classifier = DigitDomainClassifier(nnx.merge(graphdef, params), task=task)
  test_images, test_targets, test_domain = _domain_data("test", task)
  correct = classifier.predict(test_images) == test_targets
  classifier.test_accuracies = {d: float(correct[test_domain == i].mean())
                                for i, d in enumerate(DOMAINS)}
  return classifier


def load_or_train_digit_domain_classifier(cache_path: str | os.PathLike, *, task: str,
                                          seed: int = 0) -> DigitDomainClassifier:
  """Loads the ``task`` classifier cached at ``cache_path``, training and saving it
  when missing.

  Args:
    cache_path: a ``.npz`` file written by :meth:`DigitDomainClassifier.save` or by
      ``python -m gans_jax.eval.tools.train_networks domain_classifiers``; one
      file per task.
    task: ``'digit'`` or ``'domain'``.
    seed: the training seed, used only when the file is missing.

  Returns:
    The classifier.
  """
  if os.path.exists(cache_path):
    return DigitDomainClassifier.load(cache_path, task=task)
  classifier = train_digit_domain_classifier(task, seed=seed)
  classifier.save(cache_path)
  return classifier


def _require_task(classifier: DigitDomainClassifier, task: str) -> None:
  if classifier.task != task:
    raise ValueError(f"needs a {task!r} classifier, got a {classifier.task!r} one")


def class_preservation(input_labels, translated_images,
                       classifier: DigitDomainClassifier) -> float:
  """The fraction of translated digits still classified as their input's digit.

  Args:
    input_labels: ``[N]`` digits of the images before translation.
    translated_images: ``[N, H, W, C]`` in ``[-1, 1]``, e.g. :math:`G(a)`.
    classifier: a ``'digit'`` :class:`DigitDomainClassifier`.

  Returns:
    :math:`\\frac{1}{N} \\sum_i [\\hat y(G(a_i)) = y_i]`.
  """
  _require_task(classifier, "digit")
  input_labels = np.asarray(input_labels)
  if input_labels.shape != np.shape(translated_images)[:1]:
    raise ValueError(
        f"input_labels must be [N] for translated_images {np.shape(translated_images)}, "
        f"got shape {input_labels.shape}")
  return classifier.accuracy(translated_images, input_labels)


def domain_accuracy(images, target_domain: int, classifier: DigitDomainClassifier) -> float:
  """The fraction of ``images`` the domain classifier assigns to ``target_domain``.

  Args:
    images: ``[N, H, W, C]`` in ``[-1, 1]``, e.g. :math:`G(a)` for target 1.
    target_domain: 0 (A, handwritten) or 1 (B, typeset); see ``DOMAINS``.
    classifier: a ``'domain'`` :class:`DigitDomainClassifier`.

  Returns:
    :math:`\\frac{1}{N} \\sum_i [\\hat d(x_i) = d]`.
  """
  _require_task(classifier, "domain")
  if target_domain not in (0, 1) or isinstance(target_domain, bool):
    raise ValueError(f"target_domain must be 0 (A) or 1 (B), got {target_domain!r}")
  return float(np.mean(classifier.predict(images) == target_domain))


def cycle_l1(images, reconstructions) -> float:
  """The mean absolute cycle error :math:`\\operatorname{mean} |F(G(a)) - a|`.

  Args:
    images: ``[N, ...]`` originals, e.g. :math:`a`.
    reconstructions: the same shape, e.g. :math:`F(G(a))`.

  Returns:
    The mean over every element, as a float.

  References:
    Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks", arXiv 1703.10593 (Eq. 2).
  """
  images = np.asarray(images, dtype=np.float64)
  reconstructions = np.asarray(reconstructions, dtype=np.float64)
  if images.shape != reconstructions.shape or images.size == 0:
    raise ValueError(
        f"images and reconstructions must have one non-empty shape, got {images.shape} "
        f"and {reconstructions.shape}")
  return float(np.mean(np.abs(reconstructions - images)))


def output_spread(outputs) -> float:
  """The mean absolute difference between the outputs for two different
  inputs, :math:`\\frac{2}{N(N-1)} \\sum_{i<j} \\operatorname{mean} |y_i - y_j|`.

  A translator that ignores its input (the collapse the CycleGAN paper
  reports for "GAN alone") gives a spread near 0; compare it with the spread
  of the real images of the target domain.

  Args:
    outputs: ``[N, ...]``, N at least 2, e.g. :math:`G(a_1), \\dots, G(a_N)`.

  Returns:
    The mean over every pair and element, as a float.
  """
  outputs = np.asarray(outputs, dtype=np.float64)
  if outputs.ndim < 1 or outputs.shape[0] < 2:
    raise ValueError(f"outputs must hold at least 2 images, got shape {outputs.shape}")
  flat = outputs.reshape(outputs.shape[0], -1)
  n = flat.shape[0]
  total = sum(np.abs(flat[i + 1:] - flat[i]).mean(axis=1).sum() for i in range(n - 1))
  return float(total / (n * (n - 1) / 2))
