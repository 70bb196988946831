"""Fully connected generators and discriminators.

The defaults are the MNIST networks of the original GAN paper (a ReLU
generator with 1200-unit layers and a sigmoid output; a maxout discriminator
with dropout). The same classes, configured, give the WGAN-GP toy networks
(three ReLU layers of 512, 2-D output) and f-GAN's MLPs. Weights start
Glorot uniform, biases zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import (Maxout, dropout_keys, fan_avg_uniform,
                                get_activation, label_one_hot)

Array = jax.Array

__all__ = ["ORTHOGONAL_DRAWS", "MLPDiscriminator", "MLPGenerator", "orthogonal_kernels",
           "tf1_orthogonal"]

# Glorot uniform, the default of the WGAN-GP reference code's linear layers.
_glorot_uniform = fan_avg_uniform(1.0)


def _as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
  if isinstance(shape, int):
    return (int(shape),)
  return tuple(int(s) for s in shape)


def tf1_orthogonal(gain: float = 1.0):
  """TensorFlow 1.x's ``tf.orthogonal_initializer(gain)`` (r0.12 to r1.2):
  the singular vectors of a matrix of *uniform* ``[0, 1)`` numbers.

  For a kernel of shape ``(..., n)`` flattened to ``A`` of ``(m, n)``
  entries ``U[0, 1)`` with thin SVD ``A = U S V^T``, the kernel is
  ``gain * U`` when ``m > n`` (orthonormal columns), else ``gain * V^T``
  (orthonormal rows). Orthogonal, but not Haar-distributed: ``A`` is
  ``0.5 * ones`` plus noise, so its leading singular vector is close to
  ``ones / sqrt(len)``, all of one sign; a ``(2, 128)`` first layer has one
  row of nearly equal weights and a ``(128, 1)`` output layer all weights of
  one sign. This is the initializer of the unrolled GAN's and LSGAN's
  ring-of-Gaussians code (``slim.arg_scope(..., weights_initializer=
  tf.orthogonal_initializer(gain=1.4))`` under TensorFlow 1.0), and it
  trains that toy very differently from :func:`jax.nn.initializers.orthogonal`
  (a Haar draw, later TensorFlow's). Signs of singular vectors follow
  LAPACK's convention here, which need not be TensorFlow's.

  Returns:
    ``init(key, shape, dtype=float32)``, a :mod:`jax.nn.initializers` one.
  """

  def init(key, shape, dtype=jnp.float32):
    if len(shape) < 2:
      raise ValueError(f"tf1_orthogonal needs a shape of 2 or more dimensions, "
                       f"got {tuple(shape)}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = jax.random.uniform(key, (rows, cols), jnp.float32)
    u, _, vt = jnp.linalg.svd(a, full_matrices=False)
    q = u if rows > cols else vt
    return (gain * q).reshape(shape).astype(dtype)

  return init


# The orthogonal initializers by name: "tf1_uniform_svd" the TensorFlow 1.x
# one of the 2016-17 toy code, "haar" a uniformly random orthogonal matrix.
ORTHOGONAL_DRAWS = {
    "tf1_uniform_svd": tf1_orthogonal,
    "haar": lambda gain: jax.nn.initializers.orthogonal(gain),
}


def orthogonal_kernels(params: nnx.State, key: Array, *, gain: float,
                       draw: str = "tf1_uniform_svd") -> nnx.State:
  """``params`` with every 2-D ``kernel`` redrawn orthogonal with ``gain``
  (biases and everything else kept), each from its own key.

  Args:
    params: a network's parameters (e.g. ``Network.params``).
    key: PRNG key.
    gain: the orthogonal matrices' scale.
    draw: a name of :data:`ORTHOGONAL_DRAWS`.
  """
  if draw not in ORTHOGONAL_DRAWS:
    raise ValueError(f"unknown orthogonal draw {draw!r}; expected one of "
                     f"{sorted(ORTHOGONAL_DRAWS)}")
  init = ORTHOGONAL_DRAWS[draw](gain)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  keys = jax.random.split(key, len(leaves))
  new = [init(k, x.shape, x.dtype)
         if x.ndim == 2 and "kernel" in jax.tree_util.keystr(path) else x
         for k, (path, x) in zip(keys, leaves)]
  return jax.tree_util.tree_unflatten(treedef, new)


class MLPGenerator(nnx.Module):
  """A multilayer-perceptron generator :math:`G(z) = g(W_L h_{L-1} + b_L)`.

  .. math::
    h_0 = [z; \\mathrm{onehot}(y)], \\qquad
    h_l = \\phi(W_l h_{l-1} + b_l), \\qquad x = g(W_L h_{L-1} + b_L)

  with hidden activation :math:`\\phi` and output activation :math:`g`; the
  output is reshaped to ``output_shape``. For a class-conditional generator
  (``num_classes`` set) the one-hot label is concatenated to the noise, i.e.
  the label enters as an extra input layer joined to :math:`z` (the
  "joint hidden representation" of conditional GANs, in its simplest form).

  Defaults are Goodfellow et al.'s MNIST generator: two ReLU layers of 1200
  units and a sigmoid output. The WGAN-GP toy generator is
  ``MLPGenerator(2, 2, hidden=(512, 512, 512), output_activation=None)``.

  References:
    Goodfellow et al., 2014, arXiv 1406.2661; Mirza & Osindero, 2014,
    arXiv 1411.1784; Gulrajani et al., 2017, arXiv 1704.00028.
  """

  def __init__(self, latent_dim: int, output_shape: int | Sequence[int], *,
               hidden: Sequence[int] = (1200, 1200),
               activation: str = "relu",
               output_activation: str | None = "sigmoid",
               num_classes: int | None = None,
               dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      output_shape: shape of one sample, e.g. ``(28, 28, 1)`` or ``2``.
      hidden: hidden layer widths.
      activation: hidden activation name (see ``layers.ACTIVATIONS``).
      output_activation: ``'sigmoid'`` (data in [0, 1]), ``'tanh'`` (data in
        [-1, 1]) or ``None`` (unbounded, e.g. toy 2-D points).
      num_classes: number of classes for a conditional generator, or None.
      dtype: computation dtype (``None``: float32); parameters stay float32
        and the samples are returned in float32.
      rngs: parameter initialisation keys.
    """
    self.latent_dim = latent_dim
    self.output_shape = _as_shape(output_shape)
    self.num_classes = num_classes
    self.activation = get_activation(activation)
    self.output_activation = get_activation(output_activation)
    widths = [latent_dim + (num_classes or 0), *hidden]
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
        for i, o in zip(widths[:-1], widths[1:])])
    self.output = nnx.Linear(widths[-1], math.prod(self.output_shape),
                             kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Maps z (B, latent_dim) to samples (B, *output_shape).

    Args:
      z: latent codes.
      labels: class labels (B,) for a conditional generator, else None.
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Generated samples.
    """
    del rngs
    one_hot = label_one_hot(labels, self.num_classes, model="MLPGenerator")
    h = z if one_hot is None else jnp.concatenate([z, one_hot], axis=-1)
    for layer in self.hidden:
      h = self.activation(layer(h))
    x = self.output_activation(self.output(h).astype(jnp.float32))
    return x.reshape(z.shape[0], *self.output_shape)


class MLPDiscriminator(nnx.Module):
  """A multilayer-perceptron discriminator (or critic) returning raw scores.

  Each hidden layer is ``[Linear → activation]`` or, with ``maxout_pieces``,
  a :class:`~gans_jax.nn.layers.Maxout` unit; optionally followed by
  LayerNorm, then dropout. The input is flattened (and, when conditional,
  concatenated with the one-hot label) and dropped out with
  ``input_dropout``; a final ``Linear`` gives one logit per example:

  .. math::
    D(x) = w^\\top h_L(x) + b, \\qquad \\text{shape } (B,)

  No sigmoid is applied; losses take logits.

  Defaults are Goodfellow et al.'s MNIST discriminator: two maxout layers of
  240 units with 5 pieces, dropout 0.5 on hidden units and 0.2 on the input
  (as in the official pylearn2 configuration). The WGAN-GP toy critic is
  ``MLPDiscriminator(2, hidden=(512, 512, 512), maxout_pieces=None,
  dropout=0.0, input_dropout=0.0)``; f-GAN's ELU critic sets
  ``activation='elu'``.

  References:
    Goodfellow et al., 2014, arXiv 1406.2661; Goodfellow et al., 2013,
    arXiv 1302.4389 (maxout); Srivastava et al., 2014, JMLR 15 (dropout);
    Gulrajani et al., 2017, arXiv 1704.00028; Nowozin et al., 2016,
    arXiv 1606.00709.
  """

  def __init__(self, input_shape: int | Sequence[int], *,
               hidden: Sequence[int] = (240, 240),
               maxout_pieces: int | None = 5,
               activation: str = "relu",
               dropout: float = 0.5,
               input_dropout: float = 0.2,
               layer_norm: bool = False,
               num_classes: int | None = None,
               dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      input_shape: shape of one example, e.g. ``(28, 28, 1)`` or ``2``.
      hidden: hidden layer widths (maxout units when ``maxout_pieces``).
      maxout_pieces: pieces per maxout unit; ``0`` or ``None`` gives plain
        ``Linear → activation`` layers.
      activation: hidden activation when not maxout: ``'relu'``,
        ``'leaky_relu'`` (slope 0.2), ``'elu'``, ``'tanh'``, ...
      dropout: dropout rate after each hidden layer (0 disables).
      input_dropout: dropout rate on the input (0 disables).
      layer_norm: LayerNorm on each hidden layer's pre-activation (after the
        max for maxout layers), e.g. for WGAN-GP critics.
      num_classes: number of classes for a conditional discriminator, or None.
      dtype: computation dtype (``None``: float32); parameters stay float32
        and the scores are returned in float32.
      rngs: parameter initialisation keys.
    """
    self.input_shape = _as_shape(input_shape)
    self.num_classes = num_classes
    self.maxout = bool(maxout_pieces)
    self.activation = get_activation(activation)
    widths = [math.prod(self.input_shape) + (num_classes or 0), *hidden]
    if self.maxout:
      self.hidden = nnx.List([
          Maxout(i, o, pieces=maxout_pieces, kernel_init=_glorot_uniform,
                 dtype=dtype, rngs=rngs)
          for i, o in zip(widths[:-1], widths[1:])])
    else:
      self.hidden = nnx.List([
          nnx.Linear(i, o, kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
          for i, o in zip(widths[:-1], widths[1:])])
    self.norms = nnx.List([nnx.LayerNorm(o, dtype=dtype, rngs=rngs)
                           for o in hidden] if layer_norm else [])
    # Dropout holds no RNG state: keys come in at call time.
    self.input_dropout = nnx.Dropout(input_dropout) if input_dropout else None
    self.dropouts = nnx.List([nnx.Dropout(dropout) for _ in hidden]
                             if dropout else [])
    self.output = nnx.Linear(widths[-1], 1, kernel_init=_glorot_uniform,
                             dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None,
               features: bool = False) -> Array | tuple[Array, dict[str, Array]]:
    """Maps a batch (B, *input_shape) to logits (B,).

    Args:
      x: inputs.
      labels: class labels (B,) for a conditional discriminator, else None.
      rngs: PRNG key (or ``nnx.Rngs``) for dropout; required in train mode
        when dropout is on, ignored in eval mode.
      features: also return the hidden activations of this forward pass
        (feature matching, perceptual losses).

    Returns:
      Raw scores of shape (B,); with ``features``, ``(scores, features)``
      where ``features['hidden{i}']`` (B, hidden[i]) is hidden layer ``i``'s
      output as the next layer receives it (after activation, norm and
      dropout) and ``features['last_hidden']`` is the input of the output
      layer (the last hidden layer's output, or the flattened, dropped-out
      input when there is no hidden layer).
    """
    if x.shape[1:] != self.input_shape:
      raise ValueError(f"MLPDiscriminator expects inputs of shape "
                       f"(B, {', '.join(map(str, self.input_shape))}), got "
                       f"{x.shape}")
    one_hot = label_one_hot(labels, self.num_classes,
                            model="MLPDiscriminator")
    h = x.reshape(x.shape[0], -1)
    if one_hot is not None:
      h = jnp.concatenate([h, one_hot.astype(h.dtype)], axis=-1)
    keys = dropout_keys(rngs, len(self.hidden) + 1)
    if self.input_dropout is not None:
      h = self.input_dropout(h, rngs=keys[-1])
    hidden = {}
    for i, layer in enumerate(self.hidden):
      h = layer(h)
      if self.norms:
        h = self.norms[i](h)
      if not self.maxout:
        h = self.activation(h)
      if self.dropouts:
        h = self.dropouts[i](h, rngs=keys[i])
      hidden[f"hidden{i}"] = h
    scores = self.output(h)[:, 0].astype(jnp.float32)
    return (scores, {**hidden, "last_hidden": h}) if features else scores
