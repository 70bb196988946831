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
    "as_dtype",
    "conv_transpose2x_implementation",
    "conv_transpose_stride2",
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


def _phase_taps(kernel_size: int, padding: int, phase: int) -> list[int]:
  """Kernel taps reaching output rows ``2m + phase``, by increasing offset."""
  return [k for k in reversed(range(kernel_size))
          if (k - padding - phase) % 2 == 0]


def conv_transpose_stride2(x: Array, kernel: Array, *, padding: int = 1,
                           output_padding: int = 0,
                           implementation: str = "auto") -> Array:
  """Stride-2 transposed convolution with PyTorch ``ConvTranspose2d`` semantics.

  Each input pixel scatters into the output as

  .. math::
    y_{2i + k - p,\\, 2j + l - p,\\, o} \\mathrel{+}=
      \\sum_c x_{i, j, c}\\, w_{k, l, c, o},

  kept where the output index lies in ``[0, H_out)`` with
  :math:`H_{out} = 2(H - 1) - 2p + K + p_{out}` (``output_padding``
  :math:`p_{out}` adds rows at the bottom and columns at the right only).
  With ``K = 4, p = 1`` (DCGAN, pix2pix's U-Net) and ``K = 3, p = 1,
  p_out = 1`` (the CycleGAN generator) the output is exactly twice the input.

  ``implementation='phase'`` computes output rows of parity ``a`` as a
  stride-1 correlation with the taps :math:`k \\equiv a + p \\pmod 2`
  (:math:`y_{2m + a} = \\sum_k w_k\\, x_{m + (a + p - k)/2}`; for ``K = 4,
  p = 1``: :math:`y_{2m} = w_1 x_m + w_3 x_{m-1}`,
  :math:`y_{2m+1} = w_0 x_{m+1} + w_2 x_m`) and interleaves the four phases
  (depth-to-space), whose gradients are ordinary stride-1 convolutions, which
  XLA's CPU backend computes far faster than those of the strided transposed
  form; ``'direct'`` calls ``jax.lax.conv_transpose`` (a correlation of the
  2x-dilated input with the flipped kernel); ``'auto'`` picks one by backend
  (:func:`conv_transpose2x_implementation`). Both forms compute the same
  function of the same parameters.

  Args:
    x: input (B, H, W, C_in).
    kernel: weights (K, K, C_in, C_out). A PyTorch ``ConvTranspose2d`` weight
      (C_in, C_out, K, K) maps to it by ``w.transpose(2, 3, 0, 1)``.
    padding: PyTorch ``padding`` p, at most K - 1.
    output_padding: PyTorch ``output_padding``, 0 or 1.
    implementation: ``'auto'``, ``'phase'`` or ``'direct'``.

  Returns:
    The output (B, H_out, W_out, C_out), in the dtype of ``x``.

  References:
    Dumoulin & Visin, 2016, "A guide to convolution arithmetic for deep
    learning", arXiv 1603.07285.
  """
  size = kernel.shape[0]
  if kernel.ndim != 4 or kernel.shape[1] != size or size < 2:
    raise ValueError(f"kernel must be (K, K, C_in, C_out) with K >= 2, got "
                     f"{kernel.shape}")
  if not 0 <= padding <= size - 1:
    raise ValueError(f"padding must lie in [0, {size - 1}], got {padding}")
  if output_padding not in (0, 1):
    raise ValueError(f"output_padding must be 0 or 1, got {output_padding}")
  implementation = conv_transpose2x_implementation(implementation)
  kernel = kernel.astype(x.dtype)
  batch, height, width, _ = x.shape
  out_h = 2 * (height - 1) - 2 * padding + size + output_padding
  out_w = 2 * (width - 1) - 2 * padding + size + output_padding
  if implementation == "direct":
    lo = size - 1 - padding
    pads = ((lo, lo + output_padding),) * 2
    return jax.lax.conv_transpose(
        x, kernel, strides=(2, 2), padding=pads,
        dimension_numbers=("NHWC", "HWOI", "NHWC"), transpose_kernel=True)

  def axis_plan(n_in: int, n_out: int, phase: int):
    taps = _phase_taps(size, padding, phase)
    first = (phase + padding - taps[0]) // 2  # offset of the first tap
    count = (n_out - phase + 1) // 2  # outputs of this parity
    return taps, (-first, count - 1 + first + len(taps) - 1 - (n_in - 1))

  phases = {}
  for a in (0, 1):
    rows, row_pad = axis_plan(height, out_h, a)
    for b in (0, 1):
      cols, col_pad = axis_plan(width, out_w, b)
      # Taps of one parity, in decreasing order: a reversed strided slice.
      sub = kernel[rows[0]::-2, cols[0]::-2]
      phases[a, b] = jax.lax.conv_general_dilated(
          x, sub, window_strides=(1, 1), padding=(row_pad, col_pad),
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
  channels = kernel.shape[-1]
  if out_h % 2 == 0 and out_w % 2 == 0:
    y = jnp.stack([jnp.stack([phases[a, 0], phases[a, 1]], axis=3)
                   for a in (0, 1)], axis=2)  # (B, H', 2, W', 2, C)
    return y.reshape(batch, out_h, out_w, channels)
  y = jnp.zeros((batch, out_h, out_w, channels), x.dtype)
  for (a, b), phase in phases.items():
    y = y.at[:, a::2, b::2].set(phase)
  return y


CONV_TRANSPOSE2X_IMPLEMENTATIONS = ("auto", "phase", "direct")


def conv_transpose2x_implementation(implementation: str = "auto") -> str:
  """Resolves ``'auto'``: ``'phase'`` on the CPU, ``'direct'`` elsewhere.

  XLA's CPU backend computes the gradients of strided transposed
  convolutions slowly, and the phase form's stride-1 convolutions fast; on
  GPUs and TPUs the transposed-convolution primitive maps onto the
  vendor's own kernels (cuDNN), which the phase form's four convolutions and
  interleave cannot beat. Both forms compute the same function with the same
  parameters.
  """
  if implementation not in CONV_TRANSPOSE2X_IMPLEMENTATIONS:
    raise ValueError(
        f"implementation must be one of {CONV_TRANSPOSE2X_IMPLEMENTATIONS}, "
        f"got {implementation!r}")
  if implementation == "auto":
    return "phase" if jax.default_backend() == "cpu" else "direct"
  return implementation


def as_dtype(x: Array, dtype: Any) -> Array:
  """``x`` in the computation ``dtype``, or unchanged when ``dtype`` is
  ``None``.

  The dtype convention of every module in :mod:`gans_jax.nn`: ``dtype=None``
  (the default) computes in float32, the parameters' dtype, without a cast;
  a dtype such as ``jnp.bfloat16`` casts inputs and parameters to it.
  Parameters are stored in float32 either way.
  """
  return x if dtype is None else x.astype(dtype)


class ConvTranspose2x(nnx.Module):
  """A stride-2 transposed convolution layer (PyTorch ``ConvTranspose2d``).

  :func:`conv_transpose_stride2` plus a per-channel bias, in the layer's
  ``dtype``. The default, ``K = 4, p = 1``, is DCGAN's and the U-Net's
  upsampling, which doubles the spatial size exactly; CycleGAN's ResNet
  generator uses ``K = 3, p = 1, p_out = 1``. ``implementation`` is
  ``'phase'`` (four stride-1 convolutions and a depth-to-space interleave),
  ``'direct'`` (``jax.lax.conv_transpose``) or ``'auto'`` (default: the phase
  form on the CPU, where it trains several times faster, the direct form on
  GPUs and TPUs; resolved when the layer is called). Both forms compute the
  same function from the same parameters, so weights are interchangeable.

  Parameters: ``kernel`` (K, K, C_in, C_out), ``bias`` (C_out,) or ``None``.
  A PyTorch ``ConvTranspose2d`` weight (C_in, C_out, K, K) maps to
  ``kernel`` by ``w.transpose(2, 3, 0, 1)``.

  References:
    Radford et al., 2015, arXiv 1511.06434; Dumoulin & Visin, 2016, "A guide
    to convolution arithmetic for deep learning", arXiv 1603.07285.
  """

  def __init__(self, in_features: int, out_features: int, *,
               kernel_size: int = 4, padding: int = 1, output_padding: int = 0,
               use_bias: bool = True, implementation: str = "auto",
               kernel_init: Initializer = dcgan_kernel_init,
               bias_init: Initializer | None = nnx.initializers.zeros,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the layer.

    Args:
      in_features: input channels.
      out_features: output channels.
      kernel_size: K.
      padding: PyTorch ``padding``.
      output_padding: PyTorch ``output_padding``.
      use_bias: whether to add a per-channel bias.
      implementation: ``'auto'``, ``'phase'`` or ``'direct'``.
      kernel_init: kernel initialiser (DCGAN's N(0, 0.02) by default).
      bias_init: bias initialiser, given a key of its own; ``None``: zeros,
        drawing no key (the translation networks' order of keys).
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    conv_transpose2x_implementation(implementation)  # refuses unknown names
    self.padding = padding
    self.output_padding = output_padding
    self.implementation = implementation
    self.dtype = dtype
    self.kernel = nnx.Param(kernel_init(
        rngs.params(), (kernel_size, kernel_size, in_features, out_features)))
    if not use_bias:
      self.bias = None
    elif bias_init is None:
      self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32))
    else:
      self.bias = nnx.Param(bias_init(rngs.params(), (out_features,)))

  def __call__(self, x: Array) -> Array:
    """Maps (B, H, W, C_in) to (B, H_out, W_out, C_out) (twice the size)."""
    y = conv_transpose_stride2(
        as_dtype(x, self.dtype), self.kernel[...], padding=self.padding,
        output_padding=self.output_padding,
        implementation=self.implementation)
    if self.bias is not None:
      y = y + as_dtype(self.bias[...], self.dtype)
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
    y = jnp.einsum("bi,hwio->bhwo", as_dtype(z, self.dtype),
                   as_dtype(self.kernel[...], self.dtype))
    if self.bias is not None:
      y = y + as_dtype(self.bias[...], self.dtype)
    return y
