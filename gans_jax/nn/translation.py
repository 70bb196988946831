"""Building blocks shared by the image-to-image translation networks.

The networks of pix2pix and CycleGAN, one file each, follow the official
PyTorch code of both papers (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py``):

- :class:`~gans_jax.nn.unet.UNetGenerator` (pix2pix): an encoder of 4x4
  stride-2 convolutions and a mirrored decoder of 4x4 stride-2 transposed
  convolutions, with skip connections between mirrored levels;
- :class:`~gans_jax.nn.patchgan.PatchGANDiscriminator` (both papers) and
  :class:`~gans_jax.nn.patchgan.PixelGANDiscriminator`: fully convolutional
  discriminators that classify every patch of a fixed receptive field
  (:func:`~gans_jax.nn.patchgan.patchgan_receptive_field`) and return a map
  of logits;
- :class:`~gans_jax.nn.resnet_translation.ResNetTranslationGenerator`
  (CycleGAN, and a pix2pix option): reflection padding, two stride-2
  down-samplings, residual blocks and two up-samplings.

Shared conventions (the official ``init_weights('normal')`` and
``get_norm_layer``): convolution weights :math:`\\mathcal{N}(0, 0.02^2)`,
biases zero, BatchNorm scales :math:`\\mathcal{N}(1, 0.02^2)`. ``norm`` is
``'batch'`` (BatchNorm with running statistics, PyTorch momentum 0.1),
``'instance'`` (:class:`InstanceNorm`: no affine parameters, no running
statistics) or ``None``. A convolution followed by a normalisation carries a
bias only with instance norm (``use_bias = norm == 'instance'``, as the
official code, where BatchNorm's shift makes the bias redundant); the same
rule is applied, as there, to the first and innermost U-Net convolutions.

Every model takes ``dtype``, the computation dtype (``None``, the default:
float32 without casts; parameters stay float32), and returns float32. ``model(x, *, rngs=None)``: ``rngs`` is a PRNG key (or
``nnx.Rngs``) used only by dropout; ``model.train()`` / ``model.eval()``
switch BatchNorm statistics and dropout. Note that pix2pix applies dropout
and batch statistics at test time too (the official code stays in train mode
unless ``--eval``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from typing import Any

from gans_jax.nn.layers import dcgan_kernel_init, dcgan_scale_init

Array = jax.Array
Dtype = Any

__all__ = [
    "InstanceNorm",
    "TRANSLATION_NORMS",
    "reflect_pad",
]

TRANSLATION_NORMS = ("batch", "instance", None)


def _leaky_relu(x: Array) -> Array:
  return jax.nn.leaky_relu(x, negative_slope=0.2)


def _check_norm(norm: str | None, model: str) -> None:
  if norm not in TRANSLATION_NORMS:
    raise ValueError(
        f"{model}: norm must be one of {TRANSLATION_NORMS}, got {norm!r}")


def _check_rate(dropout: float, model: str) -> None:
  if not 0.0 <= dropout < 1.0:
    raise ValueError(f"{model}: dropout must lie in [0, 1), got {dropout!r}")


def reflect_pad(x: Array, pad: int) -> Array:
  """Reflection padding of (B, H, W, C) by ``pad`` pixels on each side.

  The border pixel is not repeated (PyTorch's ``ReflectionPad2d``): a row
  ``[a, b, c]`` padded by 1 is ``[b, a, b, c, b]``.
  """
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class InstanceNorm(nnx.Module):
  """Instance normalisation without affine parameters or running statistics.

  .. math::
    y_{b, h, w, c} = \\frac{x_{b, h, w, c} - \\mu_{b, c}}
                          {\\sqrt{\\sigma^2_{b, c} + \\epsilon}}

  with :math:`\\mu_{b, c}, \\sigma^2_{b, c}` the mean and (biased) variance of
  channel ``c`` of example ``b`` over its pixels, computed in float32. This is
  the official code's ``InstanceNorm2d(affine=False,
  track_running_stats=False)``: it behaves the same in train and eval mode
  and holds no state.

  References:
    Ulyanov et al., 2016, "Instance Normalization: The Missing Ingredient for
    Fast Stylization", arXiv 1607.08022.
  """

  def __init__(self, num_features: int, *, epsilon: float = 1e-5):
    """Builds the layer.

    Args:
      num_features: number of channels (checked at call time).
      epsilon: added to the variance.
    """
    self.num_features = num_features
    self.epsilon = epsilon

  def __call__(self, x: Array) -> Array:
    """Normalises (B, H, W, C); the result has the dtype of ``x``."""
    if x.shape[-1] != self.num_features:
      raise ValueError(f"InstanceNorm expects {self.num_features} channels, "
                       f"got shape {x.shape}")
    h = x.astype(jnp.float32)
    mean = jnp.mean(h, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(h - mean), axis=(1, 2), keepdims=True)
    return ((h - mean) * jax.lax.rsqrt(var + self.epsilon)).astype(x.dtype)


class _Dropout(nnx.Dropout):
  """``nnx.Dropout`` with its mask drawn as a vector and reshaped.

  Same distribution; XLA:CPU compiles the partitionable threefry sampler for
  4-D shapes in seconds, for 1-D ones in a fraction of that.
  """

  def __call__(self, inputs: Array, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    if self.deterministic or self.rate == 0.0:
      return inputs
    if rngs is None:
      raise ValueError("dropout is on (train mode) but no rngs was given; "
                       "pass rngs=<PRNG key> or call model.eval()")
    key = rngs.dropout() if isinstance(rngs, nnx.Rngs) else rngs
    keep = 1.0 - self.rate
    mask = jax.random.bernoulli(key, keep, (inputs.size,)).reshape(inputs.shape)
    return jnp.where(mask, inputs / keep, jnp.zeros_like(inputs))


def _norm(kind: str | None, num_features: int, dtype: Dtype,
          rngs: nnx.Rngs) -> nnx.Module | None:
  if kind == "batch":
    # momentum 0.9 is PyTorch's running-average momentum of 0.1.
    return nnx.BatchNorm(num_features, momentum=0.9, epsilon=1e-5,
                         scale_init=dcgan_scale_init, dtype=dtype, rngs=rngs)
  if kind == "instance":
    return InstanceNorm(num_features)
  return None


def _conv(in_features: int, out_features: int, kernel_size: int, *,
          stride: int = 1, padding: int = 0, use_bias: bool, dtype: Dtype,
          rngs: nnx.Rngs) -> nnx.Conv:
  return nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                  strides=stride, padding=((padding, padding),) * 2,
                  use_bias=use_bias, kernel_init=dcgan_kernel_init,
                  dtype=dtype, rngs=rngs)
