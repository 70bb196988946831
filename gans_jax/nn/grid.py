"""The architectures of WGAN-GP's robustness test (Gulrajani et al., 2017,
Section 5.1, Figure 2), at 32x32.

The official ``gan_64x64.py`` trains each method on seven generator and
discriminator pairs; here they are, scaled to 32x32 (three up- and
down-sampling levels instead of four):

- :class:`ConvGenerator` / :class:`ConvDiscriminator`: the DCGAN pair with
  a choice of normalisation (BatchNorm, LayerNorm in the critic, none), of
  nonlinearity (ReLU / LeakyReLU, tanh, or the gated multiplicative unit
  :func:`gated_activation`) and, in the generator, of a constant number of
  filters (WGAN's "crippled" generator: no BatchNorm, F filters in every
  layer);
- :class:`DeepResNetGenerator32` / :class:`DeepResNetCritic32`: a deep
  residual pair of pre-activation blocks (:class:`gans_jax.nn.ResidualBlock`),
  ``blocks`` per resolution;
- the 4-layer 512-unit ReLU MLP generator is :class:`gans_jax.nn.MLPGenerator`.

Layouts follow :mod:`gans_jax.nn.dcgan` (4x4 stride-2 (transposed)
convolutions, N(0, 0.02) weights, a 1x1 → 4x4 projection of z, a 4x4
'valid' output convolution) so that the DCGAN row is exactly
:class:`~gans_jax.nn.DCGANGenerator` / :class:`~gans_jax.nn.DCGANDiscriminator`
in function.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.dcgan import _batch_norm, _num_levels
from gans_jax.nn.layers import (ConvTranspose2x, LatentProjection,
                                dcgan_kernel_init, fan_avg_uniform,
                                image_layer_norm, label_one_hot)
from gans_jax.nn.resnet import ResidualBlock

Array = jax.Array

__all__ = ["ConvDiscriminator", "ConvGenerator", "DeepResNetCritic32",
           "DeepResNetGenerator32", "GENERATOR_ACTIVATIONS",
           "DISCRIMINATOR_ACTIVATIONS", "gated_activation", "resnet_depth"]

GENERATOR_ACTIVATIONS = ("relu", "tanh", "gated")
DISCRIMINATOR_ACTIVATIONS = ("leaky_relu", "tanh", "gated")


def gated_activation(x: Array) -> Array:
  """The gated multiplicative unit of PixelCNN, on the channel axis.

  .. math::
    y = \\tanh(a) \\odot \\sigma(b), \\qquad x = [a; b]

  with :math:`a` the first and :math:`b` the second half of the last axis,
  so ``2C`` channels become ``C``. (The official code interleaves the
  halves; which channels gate which is a relabelling of the layer before.)

  References:
    van den Oord et al., 2016, arXiv 1606.05328 (Eq. 2); Gulrajani et al.,
    2017, arXiv 1704.00028 (Figure 2).
  """
  c = x.shape[-1]
  if c % 2:
    raise ValueError(f"gated_activation needs an even number of channels, got {c}")
  a, b = x[..., :c // 2], x[..., c // 2:]
  return jnp.tanh(a) * jax.nn.sigmoid(b)


def _activation(name: str):
  if name == "relu":
    return jax.nn.relu
  if name == "leaky_relu":
    return lambda x: jax.nn.leaky_relu(x, negative_slope=0.2)
  if name == "tanh":
    return jnp.tanh
  return gated_activation


def _check(name: str, value: Any, choices: tuple, model: str) -> None:
  if value not in choices:
    raise ValueError(f"{model} {name} must be one of {choices}, got {value!r}")


class ConvGenerator(nnx.Module):
  """A DCGAN-layout generator: z (B, latent_dim) → images (B, S, S, C).

  .. math::
    x = \\tanh(T_L \\circ \\phi \\circ N \\circ T_{L-1} \\circ \\cdots
        \\circ \\phi \\circ N \\circ P(z))

  :math:`P` the 1x1 → 4x4 projection, :math:`T_l` 4x4 stride-2 transposed
  convolutions, :math:`N` BatchNorm or nothing, :math:`\\phi` ReLU, tanh or
  the gated unit (whose layers output twice the channels it consumes).
  Widths 4F, 2F, F at 32x32 (``constant_width``: F, F, F).
  """

  def __init__(self, latent_dim: int = 128, *, image_size: int = 32,
               channels: int = 1, features: int = 64,
               batch_norm: bool = True, activation: str = "relu",
               constant_width: bool = False, dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      image_size: output size, 8, 16, 32 or 64.
      channels: output channels.
      features: F, the last hidden layer's width (every layer's with
        ``constant_width``).
      batch_norm: BatchNorm before every hidden nonlinearity.
      activation: ``'relu'``, ``'tanh'`` or ``'gated'``.
      constant_width: F filters in every layer instead of doubling.
      dtype: computation dtype (``None``: float32).
      rngs: parameter initialisation keys.
    """
    levels = _num_levels(image_size, "ConvGenerator")
    _check("activation", activation, GENERATOR_ACTIVATIONS, "ConvGenerator")
    self.latent_dim = latent_dim
    self.activation = activation
    gate = 2 if activation == "gated" else 1
    widths = [features if constant_width else features * 2 ** (levels - 1 - i)
              for i in range(levels)]
    self.project = LatentProjection(latent_dim, widths[0] * gate,
                                    use_bias=not batch_norm, dtype=dtype, rngs=rngs)
    outs = [w * gate for w in widths[1:]] + [channels]
    self.upsample = nnx.List([
        ConvTranspose2x(widths[i], outs[i],
                        use_bias=not batch_norm or i == levels - 1,
                        dtype=dtype, rngs=rngs)
        for i in range(levels)])
    self.norms = nnx.List([_batch_norm(w * gate, dtype, rngs) for w in widths]
                          if batch_norm else [])

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Images (B, S, S, C) in [-1, 1] from z (B, latent_dim)."""
    del rngs
    label_one_hot(labels, None, model="ConvGenerator")
    phi = _activation(self.activation)
    h = self.project(z)
    for i, up in enumerate(self.upsample):
      if self.norms:
        h = self.norms[i](h)
      h = up(phi(h))
    return jnp.tanh(h.astype(jnp.float32))


class ConvDiscriminator(nnx.Module):
  """A DCGAN-layout discriminator: images (B, S, S, C) → scores (B,).

  4x4 stride-2 convolutions of widths F, 2F, 4F at 32x32, each followed by
  the normalisation (none on the first), then the nonlinearity (LeakyReLU(0.2),
  tanh or the gated unit, whose layers output twice the channels), and a
  4x4 'valid' convolution to one raw score.
  """

  def __init__(self, *, image_size: int = 32, channels: int = 1,
               features: int = 64, norm: str | None = "batch",
               activation: str = "leaky_relu", dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      image_size: input size, 8, 16, 32 or 64.
      channels: input channels.
      features: F, the first layer's width.
      norm: ``'batch'``, ``'layer'`` (per example: a WGAN-GP critic) or None.
      activation: ``'leaky_relu'``, ``'tanh'`` or ``'gated'``.
      dtype: computation dtype (``None``: float32).
      rngs: parameter initialisation keys.
    """
    levels = _num_levels(image_size, "ConvDiscriminator")
    _check("activation", activation, DISCRIMINATOR_ACTIVATIONS, "ConvDiscriminator")
    _check("norm", norm, ("batch", "layer", None), "ConvDiscriminator")
    self.image_size = image_size
    self.channels = channels
    self.activation = activation
    gate = 2 if activation == "gated" else 1
    widths = [channels] + [features * 2 ** i for i in range(levels)]
    self.downsample = nnx.List([
        nnx.Conv(widths[i], widths[i + 1] * gate, kernel_size=(4, 4), strides=2,
                 padding=((1, 1), (1, 1)), use_bias=i == 0 or norm is None,
                 kernel_init=dcgan_kernel_init, dtype=dtype, rngs=rngs)
        for i in range(levels)])
    if norm == "batch":
      norms = [_batch_norm(w * gate, dtype, rngs) for w in widths[2:]]
    elif norm == "layer":
      norms = [image_layer_norm(w * gate, dtype=dtype, rngs=rngs) for w in widths[2:]]
    else:
      norms = []
    self.norms = nnx.List(norms)
    self.output = nnx.Conv(widths[-1], 1, kernel_size=(4, 4), padding="VALID",
                           kernel_init=dcgan_kernel_init, dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Raw scores (B,) of images (B, S, S, C)."""
    del rngs
    expected = (self.image_size, self.image_size, self.channels)
    if x.shape[1:] != expected:
      raise ValueError(f"ConvDiscriminator expects images of shape "
                       f"(B, {', '.join(map(str, expected))}), got {x.shape}")
    label_one_hot(labels, None, model="ConvDiscriminator")
    phi = _activation(self.activation)
    h = x
    for i, conv in enumerate(self.downsample):
      h = conv(h)
      if i > 0 and self.norms:
        h = self.norms[i - 1](h)
      h = phi(h)
    return self.output(h).reshape(x.shape[0]).astype(jnp.float32)


def resnet_depth(blocks: int) -> int:
  """Weight layers on the main path of :class:`DeepResNetGenerator32` (and of
  :class:`DeepResNetCritic32`): the input layer, two convolutions per
  residual block (``3 * blocks`` blocks) and the output layer."""
  return 2 + 2 * 3 * blocks


_glorot_uniform = fan_avg_uniform(1.0)


class DeepResNetGenerator32(nnx.Module):
  """A deep residual generator: z → (B, 32, 32, C), ``resnet_depth(blocks)``
  layers deep.

  Linear z → 4x4xF, then at each of 4x4, 8x8 and 16x16 ``blocks - 1`` plain
  residual blocks and one up-sampling block, then normalisation, ReLU, a 3x3
  convolution to C channels and tanh. Every block has the width F.
  """

  def __init__(self, latent_dim: int = 128, *, channels: int = 1,
               features: int = 64, blocks: int = 2, norm: str | None = "batch",
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      channels: output channels.
      features: F, every block's width.
      blocks: residual blocks per resolution (at least 1).
      norm: ``'batch'`` or None.
      dtype: computation dtype (``None``: float32).
      rngs: parameter initialisation keys.
    """
    if blocks < 1:
      raise ValueError(f"DeepResNetGenerator32 blocks must be >= 1, got {blocks}")
    _check("norm", norm, ("batch", None), "DeepResNetGenerator32")
    self.latent_dim = latent_dim
    self.features = features
    self.input = nnx.Linear(latent_dim, 4 * 4 * features, kernel_init=_glorot_uniform,
                            dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([
        ResidualBlock(features, features, resample="up" if j == blocks - 1 else None,
                      norm=norm, dtype=dtype, rngs=rngs)
        for _ in range(3) for j in range(blocks)])
    self.output_norm = (_batch_norm(features, dtype, rngs) if norm == "batch" else None)
    self.output = nnx.Conv(features, channels, (3, 3), padding="SAME",
                           kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Images (B, 32, 32, C) in [-1, 1]."""
    del rngs
    label_one_hot(labels, None, model="DeepResNetGenerator32")
    h = self.input(z).reshape(z.shape[0], 4, 4, self.features)
    for block in self.blocks:
      h = block(h)
    if self.output_norm is not None:
      h = self.output_norm(h)
    return jnp.tanh(self.output(jax.nn.relu(h)).astype(jnp.float32))


class DeepResNetCritic32(nnx.Module):
  """A deep residual critic: (B, 32, 32, C) → scores (B,),
  ``resnet_depth(blocks)`` layers deep.

  A 3x3 convolution C → F, then at each of 32x32, 16x16 and 8x8 ``blocks - 1``
  plain residual blocks and one down-sampling block, then ReLU and a linear
  layer on the flattened 4x4xF map.
  """

  def __init__(self, *, channels: int = 1, features: int = 64, blocks: int = 2,
               norm: str | None = None, dtype: Any = None, rngs: nnx.Rngs):
    """Builds the critic.

    Args:
      channels: input channels.
      features: F, every block's width.
      blocks: residual blocks per resolution (at least 1).
      norm: ``'batch'``, ``'layer'`` (per example: a WGAN-GP critic) or None.
      dtype: computation dtype (``None``: float32).
      rngs: parameter initialisation keys.
    """
    if blocks < 1:
      raise ValueError(f"DeepResNetCritic32 blocks must be >= 1, got {blocks}")
    _check("norm", norm, ("batch", "layer", None), "DeepResNetCritic32")
    self.channels = channels
    self.input = nnx.Conv(channels, features, (3, 3), padding="SAME",
                          kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([
        ResidualBlock(features, features, resample="down" if j == blocks - 1 else None,
                      norm=norm, dtype=dtype, rngs=rngs)
        for _ in range(3) for j in range(blocks)])
    self.output = nnx.Linear(4 * 4 * features, 1, kernel_init=_glorot_uniform,
                             dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Raw scores (B,) of images (B, 32, 32, C)."""
    del rngs
    if x.shape[1:] != (32, 32, self.channels):
      raise ValueError(f"DeepResNetCritic32 expects images of shape "
                       f"(B, 32, 32, {self.channels}), got {x.shape}")
    label_one_hot(labels, None, model="DeepResNetCritic32")
    h = self.input(x)
    for block in self.blocks:
      h = block(h)
    h = jax.nn.relu(h).reshape(x.shape[0], -1)
    return self.output(h)[:, 0].astype(jnp.float32)
