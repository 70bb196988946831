"""Building blocks shared by the GAN architectures.

Everything here is a Flax NNX module or a small helper that such modules use:
maxout units, the DCGAN stride-2 transposed convolution (in a form whose
gradients are cheap on the CPU), the 1x1 → 4x4 latent projection, the DCGAN
initialisers and the label / dropout-key plumbing that every model shares.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array
Initializer = Callable[..., Array]

__all__ = [
    "ACTIVATIONS",
    "CONV_TRANSPOSE2X_IMPLEMENTATIONS",
    "ConvTranspose2x",
    "LatentProjection",
    "Maxout",
    "conv_transpose2x_direct",
    "conv_transpose2x_implementation",
    "conv_transpose2x_phase",
    "dcgan_kernel_init",
    "dcgan_scale_init",
    "dropout_keys",
    "fan_avg_uniform",
    "get_activation",
    "image_layer_norm",
    "label_one_hot",
]


def _leaky_relu_02(x: Array) -> Array:
  # DCGAN's slope; jax.nn.leaky_relu defaults to 0.01.
  return jax.nn.leaky_relu(x, negative_slope=0.2)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "leaky_relu": _leaky_relu_02,
    "elu": jax.nn.elu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
}


def _identity(x: Array) -> Array:
  return x


def get_activation(name: str | None) -> Callable[[Array], Array]:
  """Returns the activation called ``name`` (``None`` is the identity).

  ``'leaky_relu'`` uses slope 0.2, as in DCGAN.

  Args:
    name: one of ``ACTIVATIONS`` or ``None``.

  Returns:
    An elementwise function.
  """
  if name is None:
    return _identity
  if name not in ACTIVATIONS:
    raise ValueError(
        f"unknown activation {name!r}; expected one of "
        f"{sorted(ACTIVATIONS)} or None"
    )
  return ACTIVATIONS[name]


def _normal_flat(key: Array, shape: Sequence[int], dtype: Any) -> Array:
  # Drawn as a vector and reshaped: XLA:CPU takes seconds to compile the
  # partitionable threefry sampler for 4-D shapes, and milliseconds for 1-D.
  return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def fan_avg_uniform(scale: float) -> Initializer:
  """Uniform initialiser scaled by the average fan of the kernel.

  .. math::
    w \\sim \\mathcal{U}(-a, a), \\qquad
    a = \\sqrt{\\frac{6 s}{n_{\\mathrm{in}} + n_{\\mathrm{out}}}},
    \\qquad \\mathrm{Var}(w) = \\frac{2 s}{n_{\\mathrm{in}} + n_{\\mathrm{out}}}

  with fans counted over the receptive field (kernel shape (..., in, out)).
  ``scale=1`` is Glorot uniform; ``scale=2`` is the "He" variant of the
  WGAN-GP code, std :math:`\\sqrt{4 / (n_{\\mathrm{in}} + n_{\\mathrm{out}})}`.

  Args:
    scale: variance scale s.

  Returns:
    An initialiser ``(key, shape, dtype) -> Array``.

  References:
    Glorot & Bengio, 2010, AISTATS; Gulrajani et al., 2017, arXiv 1704.00028.
  """

  def init(key: Array, shape: Sequence[int],
           dtype: Any = jnp.float32) -> Array:
    receptive = math.prod(shape[:-2])
    fan_sum = receptive * (shape[-2] + shape[-1])
    limit = math.sqrt(6.0 * scale / fan_sum)
    # Flat draw, as in _normal_flat.
    return jax.random.uniform(key, (math.prod(shape),), dtype, -limit,
                              limit).reshape(shape)

  return init


def dcgan_kernel_init(key: Array, shape: Sequence[int],
                      dtype: Any = jnp.float32) -> Array:
  """DCGAN weight initialiser: :math:`w \\sim \\mathcal{N}(0, 0.02^2)`.

  Args:
    key: PRNG key.
    shape: parameter shape.
    dtype: parameter dtype.

  Returns:
    The initial weights.

  References:
    Radford et al., 2015, arXiv 1511.06434 (Section 4).
  """
  return 0.02 * _normal_flat(key, shape, dtype)


def dcgan_scale_init(key: Array, shape: Sequence[int],
                     dtype: Any = jnp.float32) -> Array:
  """DCGAN BatchNorm scale initialiser, N(1, 0.02²).

  .. math::
    \\gamma \\sim \\mathcal{N}(1, 0.02^2)


  The matching BatchNorm bias is initialised to zero (Flax's default).

  Args:
    key: PRNG key.
    shape: parameter shape.
    dtype: parameter dtype.

  Returns:
    The initial scales.

  References:
    Radford et al., 2015, arXiv 1511.06434; the reference implementation in
    pytorch/examples (dcgan).
  """
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def image_layer_norm(num_features: int, *, dtype: Any = None,
                     rngs: nnx.Rngs) -> nnx.LayerNorm:
  """LayerNorm over (H, W, C) of each example, per-channel scale and bias.

  .. math::
    y = \\gamma_c \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta_c

  where :math:`\\mu, \\sigma^2` are the mean and variance of one example over
  all its pixels and channels. This is the normalisation WGAN-GP allows in the
  critic: it does not couple examples of a batch.

  Args:
    num_features: number of channels C.
    dtype: computation dtype (``None``: float32); statistics are reduced in
      float32 and parameters stay float32.
    rngs: parameter initialisation keys.

  Returns:
    An ``nnx.LayerNorm`` for NHWC inputs.

  References:
    Gulrajani et al., 2017, arXiv 1704.00028 (Section 4);
    Ba et al., 2016, arXiv 1607.06450.
  """
  return nnx.LayerNorm(num_features, reduction_axes=(-3, -2, -1),
                       feature_axes=-1, epsilon=1e-5, dtype=dtype, rngs=rngs)


def label_one_hot(labels: Array | None, num_classes: int | None, *,
                  model: str) -> Array | None:
  """Checks a model's ``labels`` argument against its ``num_classes``.

  Args:
    labels: integer class labels of shape (B,), or ``None``.
    num_classes: the model's number of classes; ``None`` for an
      unconditional model.
    model: model name used in the error message.

  Returns:
    One-hot float32 labels of shape (B, num_classes), or ``None`` for an
    unconditional model.

  Raises:
    ValueError: labels given to an unconditional model, missing for a
      conditional one, or not of shape (B,).
  """
  if num_classes is None:
    if labels is not None:
      raise ValueError(
          f"{model} is unconditional (num_classes=None) but labels were "
          "given; construct it with num_classes=... for a conditional model"
      )
    return None
  if labels is None:
    raise ValueError(
        f"{model} is class-conditional (num_classes={num_classes}) and "
        "needs labels of shape (B,)"
    )
  labels = jnp.asarray(labels)
  if labels.ndim != 1:
    raise ValueError(
        f"{model} expects labels of shape (B,), got shape {labels.shape}")
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def dropout_keys(rngs: Array | nnx.Rngs | None,
                 n: int) -> list[Array | nnx.Rngs | None]:
  """Gives each of ``n`` dropout layers its own randomness.

  A raw PRNG key is split so that no two layers share a mask; ``nnx.Rngs``
  advance their stream on every draw, so they are passed through as they are;
  ``None`` stays ``None`` (fine in eval mode, an error from ``nnx.Dropout`` in
  train mode).

  Args:
    rngs: a PRNG key, an ``nnx.Rngs`` or ``None``.
    n: number of dropout layers.

  Returns:
    A list of ``n`` values for the ``rngs`` argument of ``nnx.Dropout``.
  """
  if rngs is None or isinstance(rngs, nnx.Rngs):
    return [rngs] * n
  return list(jax.random.split(rngs, n))


class Maxout(nnx.Module):
  """A maxout layer: the maximum of ``pieces`` affine maps per output unit.

  .. math::
    h_j(x) = \\max_{k \\in \\{1..K\\}}
             \\left( x^\\top W_{:, jK + k} + b_{jK + k} \\right)

  Unit ``j``'s pieces are the contiguous columns ``j*K .. j*K + K - 1`` of the
  underlying ``Linear`` map.

  References:
    Goodfellow et al., 2013, "Maxout Networks", arXiv 1302.4389.
  """

  def __init__(self, in_features: int, out_features: int, *, pieces: int,
               kernel_init: Initializer | None = None, dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: input size.
      out_features: number of maxout units.
      pieces: number of affine pieces per unit (K).
      kernel_init: weight initialiser (Flax's ``Linear`` default if None).
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    if pieces < 1:
      raise ValueError(f"pieces must be >= 1, got {pieces}")
    self.out_features = out_features
    self.pieces = pieces
    kwargs = {} if kernel_init is None else {"kernel_init": kernel_init}
    self.linear = nnx.Linear(in_features, out_features * pieces, dtype=dtype,
                             rngs=rngs, **kwargs)

  def __call__(self, x: Array) -> Array:
    """Maps (..., in_features) to (..., out_features)."""
    h = self.linear(x)
    h = h.reshape(*h.shape[:-1], self.out_features, self.pieces)
    return jnp.max(h, axis=-1)


def conv_transpose2x_direct(x: Array, kernel: Array) -> Array:
  """Stride-2, 4x4 transposed convolution with XLA's transposed-conv primitive.

  Semantics of PyTorch's ``ConvTranspose2d(kernel_size=4, stride=2,
  padding=1)``: each input pixel scatters into the output as

  .. math::
    y_{2i + k - 1,\\, 2j + l - 1,\\, o} \\mathrel{+}=
      \\sum_c x_{i, j, c}\\, w_{k, l, c, o},

  for :math:`k, l \\in \\{0, 1, 2, 3\\}`, so an (H, W) input gives a (2H, 2W)
  output. Equivalently, a correlation of the 2x-dilated input (padded by 2)
  with the spatially flipped kernel.

  Args:
    x: input of shape (B, H, W, C_in).
    kernel: weights of shape (4, 4, C_in, C_out).

  Returns:
    Output of shape (B, 2H, 2W, C_out).
  """
  return jax.lax.conv_transpose(
      x, kernel, strides=(2, 2), padding=((2, 2), (2, 2)),
      dimension_numbers=("NHWC", "HWOI", "NHWC"), transpose_kernel=True)


def conv_transpose2x_phase(x: Array, kernel: Array) -> Array:
  """The same transposed convolution as four stride-1 convolutions.

  Output pixel :math:`(2m + a, 2n + b)` only receives kernel taps of parity
  :math:`(1 - a, 1 - b)`; per axis

  .. math::
    y_{2m} = w_1 x_m + w_3 x_{m-1}, \\qquad y_{2m+1} = w_0 x_{m+1} + w_2 x_m.

  So phase :math:`(a, b)` is a stride-1 2x2 correlation of the input, padded by
  :math:`(1 - a, a)` rows and :math:`(1 - b, b)` columns, with the sub-kernel
  ``kernel[3-a::-2, 3-b::-2]``; the four phase images are then interleaved
  (depth-to-space). The result equals :func:`conv_transpose2x_direct`, but the
  gradients are ordinary stride-1 convolution gradients, which XLA's CPU
  backend computes far faster than those of the strided transposed form.

  Args:
    x: input of shape (B, H, W, C_in).
    kernel: weights of shape (4, 4, C_in, C_out), as in
      :func:`conv_transpose2x_direct`.

  Returns:
    Output of shape (B, 2H, 2W, C_out).
  """
  batch, height, width, _ = x.shape
  rows = []
  for a in (0, 1):
    cols = []
    for b in (0, 1):
      cols.append(jax.lax.conv_general_dilated(
          x, kernel[3 - a::-2, 3 - b::-2], window_strides=(1, 1),
          padding=((1 - a, a), (1 - b, b)),
          dimension_numbers=("NHWC", "HWIO", "NHWC")))
    rows.append(jnp.stack(cols, axis=3))  # (B, H, W, 2[b], C_out)
  y = jnp.stack(rows, axis=2)  # (B, H, 2[a], W, 2[b], C_out)
  return y.reshape(batch, 2 * height, 2 * width, kernel.shape[-1])


_CONV_TRANSPOSE2X_IMPLS = {
    "phase": conv_transpose2x_phase,
    "direct": conv_transpose2x_direct,
}
CONV_TRANSPOSE2X_IMPLEMENTATIONS = ("auto", *_CONV_TRANSPOSE2X_IMPLS)


def conv_transpose2x_implementation(implementation: str = "auto") -> str:
  """Resolves ``'auto'``: ``'phase'`` on the CPU, ``'direct'`` elsewhere.

  XLA's CPU backend computes the gradients of strided transposed
  convolutions slowly, and the phase form's stride-1 convolutions fast; on
  GPUs and TPUs the transposed-convolution primitive maps onto the
  vendor's own kernels (cuDNN), which the phase form's four convolutions and
  interleave cannot beat. Both forms compute the same function with the same
  parameters.
  """
  if implementation == "auto":
    return "phase" if jax.default_backend() == "cpu" else "direct"
  if implementation not in _CONV_TRANSPOSE2X_IMPLS:
    raise ValueError(
        f"implementation must be one of {CONV_TRANSPOSE2X_IMPLEMENTATIONS}, "
        f"got {implementation!r}")
  return implementation


def _cast(x: Array, dtype: Any) -> Array:
  return x if dtype is None else x.astype(dtype)


class ConvTranspose2x(nnx.Module):
  """DCGAN's upsampling layer: a 4x4, stride-2 transposed convolution.

  Doubles the spatial size exactly (PyTorch ``ConvTranspose2d(k=4, s=2,
  p=1)``). ``implementation='phase'`` computes it as four stride-1
  convolutions and a depth-to-space interleave (:func:`conv_transpose2x_phase`);
  ``'direct'`` calls ``jax.lax.conv_transpose``
  (:func:`conv_transpose2x_direct`); ``'auto'`` (default) takes the phase form
  on the CPU, where it trains several times faster, and the direct form on
  GPUs and TPUs, where the backend's own transposed convolution is the fast
  one (:func:`conv_transpose2x_implementation`, resolved when the layer is
  called). Both forms compute the same function from the same parameters, so
  weights are interchangeable.

  Parameters: ``kernel`` (4, 4, C_in, C_out), ``bias`` (C_out,). A PyTorch
  ``ConvTranspose2d`` weight (C_in, C_out, 4, 4) maps to ``kernel`` by
  ``w.transpose(2, 3, 0, 1)``.

  References:
    Radford et al., 2015, arXiv 1511.06434; Dumoulin & Visin, 2016, "A guide
    to convolution arithmetic for deep learning", arXiv 1603.07285.
  """

  def __init__(self, in_features: int, out_features: int, *,
               use_bias: bool = True, implementation: str = "auto",
               kernel_init: Initializer = dcgan_kernel_init,
               bias_init: Initializer = nnx.initializers.zeros,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: input channels.
      out_features: output channels.
      use_bias: whether to add a per-channel bias.
      implementation: ``'auto'``, ``'phase'`` or ``'direct'``.
      kernel_init: kernel initialiser (DCGAN's N(0, 0.02) by default).
      bias_init: bias initialiser.
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    if implementation not in CONV_TRANSPOSE2X_IMPLEMENTATIONS:
      raise ValueError(
          f"implementation must be one of {CONV_TRANSPOSE2X_IMPLEMENTATIONS}, "
          f"got {implementation!r}")
    self.implementation = implementation
    self.dtype = dtype
    self.kernel = nnx.Param(
        kernel_init(rngs.params(), (4, 4, in_features, out_features)))
    self.bias = (nnx.Param(bias_init(rngs.params(), (out_features,)))
                 if use_bias else None)

  def __call__(self, x: Array) -> Array:
    """Maps (B, H, W, C_in) to (B, 2H, 2W, C_out)."""
    form = _CONV_TRANSPOSE2X_IMPLS[
        conv_transpose2x_implementation(self.implementation)]
    y = form(_cast(x, self.dtype), _cast(self.kernel[...], self.dtype))
    if self.bias is not None:
      y = y + _cast(self.bias[...], self.dtype)
    return y


class LatentProjection(nnx.Module):
  """DCGAN's first generator layer: a 1x1 → size x size transposed convolution.

  A ``size x size`` 'valid' transposed convolution applied to a 1x1 input is a
  matrix product followed by a reshape:

  .. math::
    y_{h, w, o} = \\sum_i z_i\\, w_{h, w, i, o} + b_o,

  which is how it is computed here (one matmul, no convolution).

  Parameters: ``kernel`` (size, size, in, out) with the meaning of a
  transposed-convolution kernel, and ``bias`` (out,).

  References:
    Radford et al., 2015, arXiv 1511.06434 (Figure 1).
  """

  def __init__(self, in_features: int, out_features: int, *, size: int = 4,
               use_bias: bool = True,
               kernel_init: Initializer = dcgan_kernel_init,
               bias_init: Initializer = nnx.initializers.zeros,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: latent size.
      out_features: output channels.
      size: output height and width.
      use_bias: whether to add a per-channel bias.
      kernel_init: kernel initialiser (DCGAN's N(0, 0.02) by default).
      bias_init: bias initialiser.
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    self.size = size
    self.dtype = dtype
    self.kernel = nnx.Param(
        kernel_init(rngs.params(), (size, size, in_features, out_features)))
    self.bias = (nnx.Param(bias_init(rngs.params(), (out_features,)))
                 if use_bias else None)

  def __call__(self, z: Array) -> Array:
    """Maps (B, in) to (B, size, size, out)."""
    y = jnp.einsum("bi,hwio->bhwo", _cast(z, self.dtype),
                   _cast(self.kernel[...], self.dtype))
    if self.bias is not None:
      y = y + _cast(self.bias[...], self.dtype)
    return y
