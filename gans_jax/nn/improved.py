"""Layers of "Improved Techniques for Training GANs" (Salimans et al. 2016).

- :class:`MinibatchDiscrimination`: closeness of each example to the others
  of its minibatch, appended to the discriminator's features (Section 3.2).
- :class:`VirtualBatchNorm`: normalisation by a fixed reference batch's
  statistics combined with the example's own (Section 3.4), with
  :func:`virtual_batch_norm_reference`, the pass over the reference batch
  that sets those statistics.
- :class:`GaussianNoise`: additive N(0, sigma^2) noise in training mode, the
  official semi-supervised discriminators' regulariser.
- :class:`SemiSupervisedMLPDiscriminator`: the K-class discriminator of the
  semi-supervised experiments (Section 5), with optional minibatch
  discrimination before its output layer.
- :class:`ImprovedMLPGenerator`: the official MNIST generator (softplus
  layers, batch or virtual batch normalisation).
- :class:`SemiSupervisedConvDiscriminator` and :class:`ImprovedConvGenerator`:
  the official CIFAR-10 networks (convolutions with weight normalisation,
  :class:`WeightNormed`).
"""

from __future__ import annotations

from typing import Any

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import (Initializer, dcgan_scale_init, dropout_keys,
                                fan_avg_uniform, get_activation)

Array = jax.Array

__all__ = [
    "GaussianNoise",
    "ImprovedConvGenerator",
    "ImprovedMLPGenerator",
    "SemiSupervisedConvDiscriminator",
    "WeightNormed",
    "SemiSupervisedMLPDiscriminator",
    "MinibatchDiscrimination",
    "VirtualBatchNorm",
    "virtual_batch_norm_reference",
]


class MinibatchDiscrimination(nnx.Module):
  r"""Minibatch discrimination: each example's closeness to the rest of the batch.

  .. math::
    M_i = f(x_i)\, T \in \mathbb{R}^{B \times C}, \quad
    c_b(x_i, x_j) = \exp\big(-\lVert M_{i,b} - M_{j,b} \rVert_{L_1}\big),
    \quad
    o(x_i)_b = \sum_{j \ne i} c_b(x_i, x_j) + \beta_b,

  with :math:`T` a tensor of shape ``(A, B, C)``, and the layer returns
  :math:`[f(x_i), o(x_i)]`, shape ``(n, A + B)``.

  The sum leaves out :math:`j = i`, as the official code does (it adds
  :math:`10^6` to the diagonal of the distances): the paper's
  :math:`\sum_{j=1}^{n}` includes :math:`c_b(x_i, x_i) = 1`, a constant that
  only shifts :math:`o`, which the bias :math:`\beta` absorbs. So a batch of
  one example gives :math:`o = \beta`.

  Sizes: ``num_kernels`` B = 100 and ``kernel_dim`` C = 5 by default, both
  the paper's and the official CIFAR-10 / SVHN code's (the ImageNet code
  uses 300 x 50). Departures from the official code: :math:`T` is a plain
  parameter drawn from N(0, 0.05²) (the official layer weight-normalises it
  with a learned per-(b, c) log-scale and sets that scale and
  :math:`\beta` by data-dependent initialisation), and :math:`\beta` starts
  at -1, the official initial value.

  Parameters: ``kernel`` :math:`T` (A, B, C), ``bias`` :math:`\beta` (B,).

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.2; openai/improved-gan, nn.py
    (``MinibatchLayer``).
  """

  def __init__(self, in_features: int, *, num_kernels: int = 100,
               kernel_dim: int = 5,
               kernel_init: Initializer = nnx.initializers.normal(0.05),
               bias_init: Initializer = nnx.initializers.constant(-1.0),
               rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: A, the size of the (flattened) input features.
      num_kernels: B, the number of closeness features appended.
      kernel_dim: C, the dimension each kernel compares in.
      kernel_init: initialiser of :math:`T`.
      bias_init: initialiser of :math:`\\beta`.
      rngs: parameter initialisation keys.
    """
    for name, value in (("in_features", in_features),
                        ("num_kernels", num_kernels),
                        ("kernel_dim", kernel_dim)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    self.in_features = in_features
    self.num_kernels = num_kernels
    self.kernel_dim = kernel_dim
    self.kernel = nnx.Param(
        kernel_init(rngs.params(), (in_features, num_kernels, kernel_dim)))
    self.bias = nnx.Param(bias_init(rngs.params(), (num_kernels,)))

  def closeness(self, x: Array) -> Array:
    """The minibatch features :math:`o(x_i)`, shape (n, num_kernels).

    Args:
      x: features (n, ...) whose trailing axes flatten to ``in_features``.

    Returns:
      :math:`o(x_i)` for every example of the batch.
    """
    features = x.reshape(x.shape[0], -1)
    if features.shape[1] != self.in_features:
      raise ValueError(
          f"MinibatchDiscrimination expects {self.in_features} features per "
          f"example, got input of shape {x.shape}")
    m = jnp.einsum("na,abc->nbc", features, self.kernel[...])
    l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # (n, n, B)
    others = 1.0 - jnp.eye(x.shape[0], dtype=m.dtype)
    closeness = jnp.sum(jnp.exp(-l1) * others[..., None], axis=1)
    return closeness + self.bias[...]

  def __call__(self, x: Array) -> Array:
    """Maps features (n, ...) to (n, in_features + num_kernels)."""
    features = x.reshape(x.shape[0], -1)
    return jnp.concatenate([features, self.closeness(x)], axis=-1)


class VirtualBatchNorm(nnx.Module):
  r"""Virtual batch norm: a fixed reference batch's statistics and the example's.

  .. math::
    \mu_i = \tfrac{1}{N+1}\,\bar x_i + \tfrac{N}{N+1}\,\mu_{\mathrm{ref}},
    \quad
    \nu_i = \tfrac{1}{N+1}\,\overline{x_i^2}
          + \tfrac{N}{N+1}\,\nu_{\mathrm{ref}},
    \quad
    y_i = \gamma \frac{x_i - \mu_i}{\sqrt{\nu_i - \mu_i^2 + \epsilon}} + \beta,

  per channel (the last axis), where :math:`\bar x_i` and
  :math:`\overline{x_i^2}` are example :math:`i`'s own mean and mean square
  over its spatial positions (the value itself for a ``(n, C)`` input), and
  :math:`\mu_{\mathrm{ref}}, \nu_{\mathrm{ref}}` are the mean and mean square
  of the :math:`N` reference examples over batch and positions. These are
  the statistics of the :math:`N + 1` examples "reference batch plus
  :math:`x_i`", so no example's output depends on the others of its batch.

  The reference batch, chosen once at the start of training, is itself
  normalised with its own statistics only. Those statistics are variables of
  the module (``reference_mean``, ``reference_mean_square``, kind
  ``nnx.BatchStat``), so they live in the training state and a checkpoint
  restores them exactly. They are set by a *reference pass*: calling the
  model on the reference batch inside :func:`virtual_batch_norm_reference`
  (or with ``reference_pass = True``). As in the paper and the official
  code, every training step runs the reference pass first, with the current
  parameters and inside the same differentiated function, so the gradient
  flows through the reference statistics too; the layer then uses the
  statistics of the latest reference pass (for sampling after training:
  those of the last step, or a fresh pass).

  Parameters (the official VBN): ``scale`` :math:`\gamma` ~ N(1, 0.02²),
  ``bias`` :math:`\beta` = 0; :math:`\epsilon = 10^{-5}`.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.4; openai/improved-gan, imagenet/model.py
    (``VBN``).
  """

  def __init__(self, num_features: int, *, reference_size: int,
               epsilon: float = 1e-5,
               scale_init: Initializer = dcgan_scale_init,
               bias_init: Initializer = nnx.initializers.zeros,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      num_features: number of channels C (the last axis).
      reference_size: N, the number of examples in the reference batch.
      epsilon: added to the variance.
      scale_init: initialiser of :math:`\\gamma`.
      bias_init: initialiser of :math:`\\beta`.
      dtype: computation dtype (``None``: float32); statistics are computed
        in float32 and parameters stay float32.
      rngs: parameter initialisation keys.
    """
    if (isinstance(reference_size, bool) or not isinstance(reference_size, int)
        or reference_size < 1):
      raise ValueError(
          f"reference_size must be an int >= 1, got {reference_size!r}")
    self.num_features = num_features
    self.reference_size = reference_size
    self.epsilon = epsilon
    self.dtype = dtype
    self.reference_pass = False
    self.scale = nnx.Param(scale_init(rngs.params(), (num_features,)))
    self.bias = nnx.Param(bias_init(rngs.params(), (num_features,)))
    self.reference_mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
    self.reference_mean_square = nnx.BatchStat(
        jnp.ones((num_features,), jnp.float32))

  def _normalize(self, x: Array, mean: Array, mean_square: Array) -> Array:
    variance = jnp.maximum(mean_square - jnp.square(mean), 0.0)
    y = (x - mean) * jax.lax.rsqrt(variance + self.epsilon)
    y = y * self.scale[...] + self.bias[...]
    return y if self.dtype is None else y.astype(self.dtype)

  def __call__(self, x: Array) -> Array:
    """Normalises (n, ..., C); a reference pass also stores the statistics."""
    if x.shape[-1] != self.num_features:
      raise ValueError(
          f"VirtualBatchNorm expects {self.num_features} channels on the "
          f"last axis, got input of shape {x.shape}")
    x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    if self.reference_pass:
      if x.shape[0] != self.reference_size:
        raise ValueError(
            f"the reference batch has {x.shape[0]} examples but the layer was "
            f"built with reference_size={self.reference_size}")
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x32, axis=axes)
      mean_square = jnp.mean(jnp.square(x32), axis=axes)
      self.reference_mean[...] = mean
      self.reference_mean_square[...] = mean_square
      return self._normalize(x32, mean, mean_square)
    own_axes = tuple(range(1, x.ndim - 1))
    own_mean = jnp.mean(x32, axis=own_axes, keepdims=True)
    own_mean_square = jnp.mean(jnp.square(x32), axis=own_axes, keepdims=True)
    new_weight = 1.0 / (self.reference_size + 1.0)
    mean = (new_weight * own_mean
            + (1.0 - new_weight) * self.reference_mean[...])
    mean_square = (new_weight * own_mean_square
                   + (1.0 - new_weight) * self.reference_mean_square[...])
    return self._normalize(x32, mean, mean_square)


def virtual_batch_norm_reference(model: nnx.Module, *args, **kwargs) -> Any:
  """The reference pass: ``model(*args, **kwargs)``, storing VBN statistics.

  .. math::
    \\mu_{\\mathrm{ref}} = \\mathbb{E}_{\\mathrm{ref}}[x], \\qquad
    \\nu_{\\mathrm{ref}} = \\mathbb{E}_{\\mathrm{ref}}[x^2]

  at the input of each :class:`VirtualBatchNorm` of ``model``, in order, the
  reference batch normalised by these statistics alone (Section 3.4). Call
  it on the reference batch at the start of each step, in the function that
  is differentiated, then call the model on the training batch.

  Args:
    model: a module containing at least one :class:`VirtualBatchNorm`.
    *args: the reference batch and any other positional inputs of the model.
    **kwargs: keyword inputs of the model.

  Returns:
    The model's output on the reference batch.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.4.
  """
  if not any(isinstance(module, VirtualBatchNorm)
             for _, module in nnx.iter_modules(model)):
    raise ValueError(
        f"{type(model).__name__} has no VirtualBatchNorm layer: there are no "
        "reference statistics to set")
  model.set_attributes(VirtualBatchNorm, reference_pass=True)
  try:
    return model(*args, **kwargs)
  finally:
    model.set_attributes(VirtualBatchNorm, reference_pass=False)


class GaussianNoise(nnx.Module):
  r"""Additive Gaussian noise in training mode, the identity in eval mode.

  .. math:: y = x + \sigma \varepsilon, \qquad \varepsilon \sim N(0, I)

  The official semi-supervised discriminators put it on the input (sigma
  0.3 on MNIST) and after each hidden layer (0.5). Like ``nnx.Dropout`` it
  holds no random state: the key comes in at call time; ``train()`` /
  ``eval()`` switch it through ``deterministic``.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498); openai/improved-gan, nn.py (``GaussianNoiseLayer``).
  """

  def __init__(self, stddev: float, *, deterministic: bool = False):
    if not stddev >= 0:
      raise ValueError(f"stddev must be >= 0, got {stddev!r}")
    self.stddev = float(stddev)
    self.deterministic = deterministic

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    if self.deterministic or self.stddev == 0.0:
      return x
    if rngs is None:
      raise ValueError("GaussianNoise needs a key (rngs=) in training mode")
    key = rngs() if isinstance(rngs, nnx.Rngs) else rngs
    return x + self.stddev * jax.random.normal(key, x.shape, x.dtype)


class _KClassDiscriminator(nnx.Module):
  """What the K-class discriminators share after their hidden layers: the
  input check, minibatch discrimination on the last hidden features and the
  output layer, and the names of the features ``features=True`` returns."""

  def _num_hidden(self) -> int:
    raise NotImplementedError

  def feature_names(self) -> tuple[str, ...]:
    """The keys of the features ``features=True`` returns."""
    names = [f"hidden{i}" for i in range(self._num_hidden())] + ["last_hidden"]
    return tuple(names + (["minibatch"] if self.minibatch is not None else []))

  def _check_input(self, x: Array) -> None:
    if x.shape[1:] != self.input_shape:
      raise ValueError(f"{type(self).__name__} expects inputs of shape "
                       f"(B, {', '.join(map(str, self.input_shape))}), got {x.shape}")

  def _classify(self, h: Array, out: dict[str, Array], features: bool):
    if self.minibatch is not None:
      h = self.minibatch(h)
      out["minibatch"] = h
    logits = self.output(h).astype(jnp.float32)
    return (logits, out) if features else logits


class SemiSupervisedMLPDiscriminator(_KClassDiscriminator):
  r"""A K-class MLP discriminator for the K+1 semi-supervised game.

  .. math::
    h_0 = x + \sigma_0 \varepsilon_0, \quad
    a_l = \mathrm{relu}(W_l h_{l-1} + b_l), \quad
    h_l = a_l + \sigma \varepsilon_l, \quad
    l(x) = W_{L+1} [h_L; o(h_L)] + b_{L+1} \in \mathbb{R}^K

  with Gaussian noise in training mode only and :math:`o` the optional
  :class:`MinibatchDiscrimination` features. It returns the K class
  logits; :func:`gans_jax.losses.k_plus_one_logit` of them is the
  real-versus-fake logit, :math:`D(x) = Z/(Z+1)`.

  ``features=True`` also returns, from the same forward pass,
  ``'hidden{i}'``: :math:`a_i`, hidden layer ``i``'s activation before its
  noise (the official code matches the last of these), ``'last_hidden'``
  (:math:`a_L`, the feature-matching layer of the official MNIST code), and
  with minibatch discrimination ``'minibatch'``, :math:`[h_L; o(h_L)]`.

  Defaults are the official MNIST discriminator's sizes (784-1000-500-250-
  250-250-10, noise 0.3 and 0.5). Departure: plain ``Linear`` layers with
  Glorot-uniform weights, not weight normalisation with data-dependent
  initialisation.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Sections 3.2 and 5; openai/improved-gan,
    mnist_svhn_cifar10/train_mnist_feature_matching.py.
  """

  def __init__(self, input_shape: int | Sequence[int], *, num_classes: int = 10,
               hidden: Sequence[int] = (1000, 500, 250, 250, 250),
               input_noise: float = 0.3, hidden_noise: float = 0.5,
               minibatch_kernels: int = 0, minibatch_kernel_dim: int = 5,
               rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      input_shape: shape of one example, e.g. ``(28, 28, 1)``.
      num_classes: K, the number of class logits.
      hidden: hidden layer widths (at least one).
      input_noise: standard deviation of the noise on the input.
      hidden_noise: standard deviation of the noise after each hidden layer.
      minibatch_kernels: B of minibatch discrimination on the last hidden
        layer (0: none).
      minibatch_kernel_dim: C of minibatch discrimination.
      rngs: parameter initialisation keys.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not hidden:
      raise ValueError("hidden must name at least one layer")
    self.input_shape = shape
    self.num_classes = num_classes
    init = fan_avg_uniform(1.0)
    widths = [math.prod(shape), *hidden]
    self.hidden = nnx.List([nnx.Linear(i, o, kernel_init=init, rngs=rngs)
                            for i, o in zip(widths[:-1], widths[1:])])
    self.input_noise = GaussianNoise(input_noise)
    self.noises = nnx.List([GaussianNoise(hidden_noise) for _ in hidden])
    self.minibatch = (MinibatchDiscrimination(
        hidden[-1], num_kernels=minibatch_kernels,
        kernel_dim=minibatch_kernel_dim, rngs=rngs)
                      if minibatch_kernels else None)
    self.output = nnx.Linear(hidden[-1] + minibatch_kernels, num_classes,
                             kernel_init=init, rngs=rngs)

  def _num_hidden(self) -> int:
    return len(self.hidden)

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None,
               features: bool = False
               ) -> Array | tuple[Array, dict[str, Array]]:
    """Maps a batch (B, *input_shape) to class logits (B, K).

    Args:
      x: inputs.
      rngs: PRNG key for the noise (training mode).
      features: also return the features of this forward pass.
    """
    self._check_input(x)
    keys = dropout_keys(rngs, len(self.hidden) + 1)
    h = self.input_noise(x.reshape(x.shape[0], -1), rngs=keys[-1])
    out = {}
    for i, (layer, noise) in enumerate(zip(self.hidden, self.noises)):
      a = jax.nn.relu(layer(h))
      out[f"hidden{i}"] = a
      h = noise(a, rngs=keys[i])
    out["last_hidden"] = out[f"hidden{len(self.hidden) - 1}"]
    return self._classify(h, out, features)


class ImprovedMLPGenerator(nnx.Module):
  r"""The official MNIST generator: softplus layers, each normalised.

  .. math::
    h_l = \mathrm{softplus}(\mathrm{norm}(W_l h_{l-1})), \qquad
    x = g(W_{L+1} h_L + b_{L+1})

  with ``norm`` batch normalisation (the official code), virtual batch
  normalisation (:class:`VirtualBatchNorm`, Section 3.4; needs a
  reference pass, :func:`virtual_batch_norm_reference`) or none.

  Defaults: z of 100, two layers of 500, a sigmoid output, as the official
  MNIST generator (its output layer is weight-normalised; here plain).

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498); openai/improved-gan,
    mnist_svhn_cifar10/train_mnist_feature_matching.py.
  """

  def __init__(self, latent_dim: int, output_shape: int | Sequence[int], *,
               hidden: Sequence[int] = (500, 500), activation: str = "softplus",
               norm: str | None = "batch", reference_size: int = 100,
               output_activation: str | None = "sigmoid", rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      output_shape: shape of one sample.
      hidden: hidden layer widths.
      activation: hidden activation name.
      norm: ``'batch'``, ``'virtual_batch'`` or ``None``.
      reference_size: the reference batch's size (``'virtual_batch'``).
      output_activation: ``'sigmoid'``, ``'tanh'`` or ``None``.
      rngs: parameter initialisation keys.
    """
    if norm not in ("batch", "virtual_batch", None):
      raise ValueError(f"norm must be 'batch', 'virtual_batch' or None, got {norm!r}")
    self.latent_dim = latent_dim
    self.output_shape = ((output_shape,) if isinstance(output_shape, int)
                         else tuple(output_shape))
    self.activation = get_activation(activation)
    self.output_activation = get_activation(output_activation)
    init = fan_avg_uniform(1.0)
    widths = [latent_dim, *hidden]
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=init, use_bias=norm is None, rngs=rngs)
        for i, o in zip(widths[:-1], widths[1:])])
    if norm == "batch":
      self.norms = nnx.List([nnx.BatchNorm(o, momentum=0.9, epsilon=1e-5, rngs=rngs)
                             for o in hidden])
    elif norm == "virtual_batch":
      self.norms = nnx.List([VirtualBatchNorm(o, reference_size=reference_size,
                                              rngs=rngs) for o in hidden])
    else:
      self.norms = nnx.List([])
    self.output = nnx.Linear(widths[-1], math.prod(self.output_shape),
                             kernel_init=init, rngs=rngs)

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Maps z (B, latent_dim) to samples (B, *output_shape)."""
    del labels, rngs  # Unconditional, no dropout: the common call signature.
    h = z
    for i, layer in enumerate(self.hidden):
      h = layer(h)
      if self.norms:
        h = self.norms[i](h)
      h = self.activation(h)
    x = self.output_activation(self.output(h).astype(jnp.float32))
    return x.reshape(z.shape[0], *self.output_shape)


class WeightNormed(nnx.Module):
  r"""A linear layer (dense, conv or transposed conv) with weight normalisation.

  .. math:: y = \frac{g}{\lVert v \rVert} \odot (v * x) + b

  per output unit (the last axis of the kernel :math:`v`), with the norm over
  the kernel's other axes (Salimans & Kingma 2016). The wrapped layer is
  built without bias and holds :math:`v`; since the layer is linear in its
  kernel, scaling its output by :math:`g / \lVert v \rVert` equals using the
  normalised kernel. ``scale`` :math:`g` starts at ``scale_init`` (1: the
  official code sets it by data-dependent initialisation instead) and
  ``bias`` :math:`b` at 0.

  ``nnx.WeightNorm`` exists in flax 0.12.8 but keeps its scales in a plain
  dict of arrays, not ``nnx.Param``: an optimiser over the ``Param`` state
  would not train them. Hence this small wrapper.
  """

  def __init__(self, layer: nnx.Module, out_features: int, *,
               scale_init: float = 1.0, epsilon: float = 1e-12,
               rngs: nnx.Rngs | None = None):
    del rngs
    if getattr(layer, "bias", None) is not None:
      raise ValueError("WeightNormed needs a layer built with use_bias=False")
    self.layer = layer
    self.epsilon = epsilon
    self.scale = nnx.Param(jnp.full((out_features,), scale_init, jnp.float32))
    self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32))

  def __call__(self, x: Array) -> Array:
    v = self.layer.kernel[...]
    norm = jnp.sqrt(jnp.sum(jnp.square(v), axis=tuple(range(v.ndim - 1)))
                    + self.epsilon)
    return self.layer(x) * (self.scale[...] / norm) + self.bias[...]


def _weight_normed(layer_cls, *args, weight_norm: bool, out: int, rngs, **kwargs):
  init = nnx.initializers.normal(0.05)  # the official W = Normal(0.05)
  if not weight_norm:
    return layer_cls(*args, kernel_init=init, rngs=rngs, **kwargs)
  return WeightNormed(layer_cls(*args, kernel_init=init, use_bias=False,
                                rngs=rngs, **kwargs), out)


class SemiSupervisedConvDiscriminator(_KClassDiscriminator):
  r"""The official CIFAR-10 K-class discriminator (all-convolutional).

  Dropout 0.2 on the input; three 3x3 convolutions of ``channels[0]`` (96),
  the third of stride 2; dropout 0.5; three 3x3 of ``channels[1]`` (192),
  the third of stride 2; dropout 0.5; a 3x3 ``'VALID'`` convolution and two
  network-in-network (1x1) layers of ``channels[1]``; all with leaky ReLU
  (slope 0.2); global mean pooling; optional
  :class:`MinibatchDiscrimination` of the pooled features; a dense layer to
  the K class logits. :func:`gans_jax.losses.k_plus_one_logit` of these is
  the real-versus-fake logit, :math:`D(x) = Z/(Z+1)`.

  ``features=True`` also returns ``'hidden{i}'``, the activation of layer
  ``i`` (0-8, maps of shape (B, H, W, C)), ``'last_hidden'``, the pooled
  features (B, C) (the official CIFAR-10 feature-matching layer), and with
  minibatch discrimination ``'minibatch'``, the pooled features with the
  closeness features appended: the keys of
  :class:`SemiSupervisedMLPDiscriminator`.

  Every convolution and the output layer are weight-normalised
  (:class:`WeightNormed`, ``weight_norm=True``), as officially, but without
  the data-dependent initialisation (scales start at 1) and with a plain
  (not mean-only batch-normalised) layer where the official code has none.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 5; openai/improved-gan,
    mnist_svhn_cifar10/train_cifar_feature_matching.py.
  """

  def __init__(self, input_shape: Sequence[int] = (32, 32, 3), *,
               num_classes: int = 10, channels: Sequence[int] = (96, 192),
               input_dropout: float = 0.2, dropout: float = 0.5,
               negative_slope: float = 0.2, weight_norm: bool = True,
               minibatch_kernels: int = 0, minibatch_kernel_dim: int = 5,
               rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      input_shape: (H, W, C) of one image; H and W at least 16.
      num_classes: K, the number of class logits.
      channels: the widths of the first block and of the rest (official
        (96, 192)).
      input_dropout: dropout rate on the input.
      dropout: dropout rate after each stride-2 block.
      negative_slope: the leaky ReLU's slope.
      weight_norm: weight-normalise every layer.
      minibatch_kernels: B of minibatch discrimination on the pooled
        features (0: none).
      minibatch_kernel_dim: C of minibatch discrimination.
      rngs: parameter initialisation keys.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or min(shape[:2]) < 16:
      raise ValueError(f"SemiSupervisedConvDiscriminator expects (H, W, C) with H, "
                       f"W >= 16, got input_shape={input_shape!r}")
    if len(channels) != 2 or min(channels) < 1:
      raise ValueError(f"channels must be two widths >= 1, got {channels!r}")
    self.input_shape = shape
    self.num_classes = num_classes
    self.negative_slope = negative_slope
    a, b = channels
    specs = [(shape[2], a, 1, "SAME"), (a, a, 1, "SAME"), (a, a, 2, "SAME"),
             (a, b, 1, "SAME"), (b, b, 1, "SAME"), (b, b, 2, "SAME"),
             (b, b, 1, "VALID")]
    layers = [_weight_normed(nnx.Conv, i, o, (3, 3), strides=s, padding=p,
                             weight_norm=weight_norm, out=o, rngs=rngs)
              for i, o, s, p in specs]
    layers += [_weight_normed(nnx.Conv, b, b, (1, 1), weight_norm=weight_norm,
                              out=b, rngs=rngs) for _ in range(2)]  # NIN
    self.layers = nnx.List(layers)
    self.input_dropout = nnx.Dropout(input_dropout)
    self.dropouts = nnx.List([nnx.Dropout(dropout), nnx.Dropout(dropout)])
    self.minibatch = (MinibatchDiscrimination(
        b, num_kernels=minibatch_kernels, kernel_dim=minibatch_kernel_dim,
        rngs=rngs) if minibatch_kernels else None)
    self.output = _weight_normed(nnx.Linear, b + minibatch_kernels, num_classes,
                                 weight_norm=weight_norm, out=num_classes,
                                 rngs=rngs)

  def _num_hidden(self) -> int:
    return len(self.layers)

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None,
               features: bool = False
               ) -> Array | tuple[Array, dict[str, Array]]:
    """Maps images (B, H, W, C) to class logits (B, K).

    Args:
      x: inputs.
      rngs: PRNG key for dropout (training mode).
      features: also return the features of this forward pass.
    """
    self._check_input(x)
    keys = dropout_keys(rngs, 3)
    h = self.input_dropout(x, rngs=keys[0])
    out = {}
    for i, layer in enumerate(self.layers):
      h = jax.nn.leaky_relu(layer(h), self.negative_slope)
      out[f"hidden{i}"] = h
      if i in (2, 5):
        h = self.dropouts[i // 3](h, rngs=keys[1 + i // 3])
    h = jnp.mean(h, axis=(1, 2))
    out["last_hidden"] = h
    return self._classify(h, out, features)


class ImprovedConvGenerator(nnx.Module):
  r"""The official CIFAR-10 generator: dense, then 5x5 stride-2 deconvolutions.

  .. math::
    h_0 = \mathrm{relu}(\mathrm{norm}(W_0 z)) \in \mathbb{R}^{s \times s
    \times c_0}, \quad
    h_l = \mathrm{relu}(\mathrm{norm}(\mathrm{deconv}_l(h_{l-1}))), \quad
    x = \tanh(\mathrm{deconv}_{L}(h_{L-1}))

  with ``channels`` = (c_0, ..., c_{L-1}) = (512, 256, 128) officially,
  s = H / 2^L (4 for 32x32 images), each transposed convolution doubling
  the size, ``norm`` batch normalisation (official), virtual batch
  normalisation or none, and the output layer weight-normalised
  (:class:`WeightNormed`, scale starting at 1, not the official
  data-dependent value).

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498); openai/improved-gan,
    mnist_svhn_cifar10/train_cifar_feature_matching.py.
  """

  def __init__(self, latent_dim: int, output_shape: Sequence[int] = (32, 32, 3),
               *, channels: Sequence[int] = (512, 256, 128),
               norm: str | None = "batch", reference_size: int = 100,
               weight_norm: bool = True, output_activation: str | None = "tanh",
               rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      output_shape: (H, W, C) of one sample; H and W divisible by
        2 ** len(channels).
      channels: widths of the dense layer's maps and of each hidden
        transposed convolution.
      norm: ``'batch'``, ``'virtual_batch'`` or ``None``.
      reference_size: the reference batch's size (``'virtual_batch'``).
      weight_norm: weight-normalise the output layer.
      output_activation: ``'tanh'``, ``'sigmoid'`` or ``None``.
      rngs: parameter initialisation keys.
    """
    if norm not in ("batch", "virtual_batch", None):
      raise ValueError(f"norm must be 'batch', 'virtual_batch' or None, got {norm!r}")
    shape = tuple(output_shape)
    factor = 2 ** len(channels)
    if (len(shape) != 3 or not channels or shape[0] % factor
        or shape[1] % factor):
      raise ValueError(f"output_shape {output_shape!r} must be (H, W, C) with H "
                       f"and W divisible by 2 ** len(channels) = {factor}")
    self.latent_dim = latent_dim
    self.output_shape = shape
    self.start = (shape[0] // factor, shape[1] // factor, channels[0])
    self.output_activation = get_activation(output_activation)
    init = nnx.initializers.normal(0.05)  # the official W = Normal(0.05)
    self.project = nnx.Linear(latent_dim, math.prod(self.start), kernel_init=init,
                              use_bias=norm is None, rngs=rngs)
    self.deconvs = nnx.List([
        nnx.ConvTranspose(i, o, (5, 5), strides=(2, 2), padding="SAME",
                          kernel_init=init, use_bias=norm is None, rngs=rngs)
        for i, o in zip(channels[:-1], channels[1:])])
    if norm == "batch":
      self.norms = nnx.List([nnx.BatchNorm(c, momentum=0.9, epsilon=1e-5, rngs=rngs)
                             for c in channels])
    elif norm == "virtual_batch":
      self.norms = nnx.List([VirtualBatchNorm(c, reference_size=reference_size,
                                              rngs=rngs) for c in channels])
    else:
      self.norms = nnx.List([])
    self.output = _weight_normed(nnx.ConvTranspose, channels[-1], shape[2], (5, 5),
                                 strides=(2, 2), padding="SAME",
                                 weight_norm=weight_norm, out=shape[2], rngs=rngs)

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Maps z (B, latent_dim) to images (B, H, W, C)."""
    del labels, rngs  # Unconditional, no dropout: the common call signature.
    h = self.project(z).reshape(z.shape[0], *self.start)
    for i, layer in enumerate([None, *self.deconvs]):
      if layer is not None:
        h = layer(h)
      if self.norms:
        h = self.norms[i](h)
      h = jax.nn.relu(h)
    return self.output_activation(self.output(h).astype(jnp.float32))
