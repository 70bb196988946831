"""The WGAN-GP ResNet generator and critic for 32x32 images (CIFAR-10).

Layout of the official ``gan_cifar_resnet.py`` (Gulrajani et al., 2017), with
width F = 128:

- generator: Linear z → 4x4xF, three up-sampling residual blocks (4 → 8 → 16
  → 32), BatchNorm, ReLU, 3x3 convolution to C channels, tanh;
- critic: an "optimized" first block (convolution before the first ReLU,
  32 → 16), one down-sampling block (16 → 8), two plain blocks, ReLU, global
  mean pool over the 8x8 grid, Linear → 1. No BatchNorm (the gradient penalty
  is per example); ``norm='layer'`` adds LayerNorm where the official code's
  ``NORMALIZATION_D`` flag would.

Initialisation follows the official code: 3x3 convolutions use the "He"
uniform variant :math:`\\mathrm{std} = \\sqrt{4 / (\\mathrm{fan_{in}} +
\\mathrm{fan_{out}})}`, 1x1 shortcuts, the output convolution and linear layers
Glorot uniform; all biases start at zero.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import (Initializer, fan_avg_uniform, image_layer_norm,
                                label_one_hot)

Array = jax.Array

__all__ = [
    "ResNetCritic32",
    "ResNetGenerator32",
    "ResidualBlock",
    "mean_pool",
    "upsample_nearest",
]

_he_uniform = fan_avg_uniform(2.0)
_glorot_uniform = fan_avg_uniform(1.0)
_RESAMPLE = ("up", "down", None)
_NORMS = ("batch", "layer", None)


def upsample_nearest(x: Array) -> Array:
  """Nearest-neighbour 2x upsampling of (B, H, W, C) to (B, 2H, 2W, C)."""
  b, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
  return x.reshape(b, 2 * h, 2 * w, c)


def mean_pool(x: Array) -> Array:
  """2x2 mean pooling with stride 2 of (B, H, W, C) to (B, H/2, W/2, C)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _conv(in_features: int, out_features: int, kernel_size: int,
          init: Initializer, dtype: Any, rngs: nnx.Rngs) -> nnx.Conv:
  return nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                  padding="SAME", kernel_init=init, dtype=dtype, rngs=rngs)


def _norm(kind: str | None, num_features: int, dtype: Any,
          rngs: nnx.Rngs) -> nnx.Module | None:
  if kind == "batch":
    return nnx.BatchNorm(num_features, momentum=0.9, epsilon=1e-5, dtype=dtype,
                         rngs=rngs)
  if kind == "layer":
    return image_layer_norm(num_features, dtype=dtype, rngs=rngs)
  return None


class ResidualBlock(nnx.Module):
  """Pre-activation residual block with optional 2x up- or down-sampling.

  .. math::
    y = s(x) + c_2(\\rho(N_2(c_1(\\rho(N_1(x))))))

  with :math:`\\rho` = ReLU and :math:`N_i` the chosen normalisation.
  ``resample='up'``: :math:`c_1` is nearest-neighbour upsampling then a 3x3
  convolution, the shortcut :math:`s` upsampling then a 1x1 convolution.
  ``resample='down'``: :math:`c_2` is a 3x3 convolution then 2x2 mean
  pooling, :math:`s` a 1x1 convolution then mean pooling. ``None``: plain 3x3
  convolutions and an identity shortcut (a 1x1 convolution if the width
  changes).

  References:
    Gulrajani et al., 2017, arXiv 1704.00028 (Appendix F); He et al., 2016,
    arXiv 1603.05027.
  """

  def __init__(self, in_features: int, out_features: int, *,
               resample: str | None, norm: str | None, dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the block.

    Args:
      in_features: input channels.
      out_features: output channels.
      resample: ``'up'``, ``'down'`` or ``None``.
      norm: ``'batch'``, ``'layer'`` or ``None``.
      dtype: computation dtype (``None``: float32).
      rngs: parameter initialisation keys.
    """
    if resample not in _RESAMPLE:
      raise ValueError(f"resample must be one of {_RESAMPLE}, got {resample!r}")
    if norm not in _NORMS:
      raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    self.resample = resample
    # A down block keeps the width in its first convolution, as the official
    # code does; the other blocks change it there.
    mid = in_features if resample == "down" else out_features
    self.norm1 = _norm(norm, in_features, dtype, rngs)
    self.conv1 = _conv(in_features, mid, 3, _he_uniform, dtype, rngs)
    self.norm2 = _norm(norm, mid, dtype, rngs)
    self.conv2 = _conv(mid, out_features, 3, _he_uniform, dtype, rngs)
    self.shortcut = (
        None if resample is None and in_features == out_features
        else _conv(in_features, out_features, 1, _glorot_uniform, dtype, rngs))

  def __call__(self, x: Array) -> Array:
    """Maps (B, H, W, C_in) to (B, H', W', C_out), H' = 2H, H/2 or H."""
    if self.shortcut is None:
      skip = x
    elif self.resample == "up":
      skip = self.shortcut(upsample_nearest(x))
    elif self.resample == "down":
      skip = mean_pool(self.shortcut(x))
    else:
      skip = self.shortcut(x)
    h = x if self.norm1 is None else self.norm1(x)
    h = jax.nn.relu(h)
    if self.resample == "up":
      h = upsample_nearest(h)
    h = self.conv1(h)
    h = h if self.norm2 is None else self.norm2(h)
    h = jax.nn.relu(h)
    h = self.conv2(h)
    if self.resample == "down":
      h = mean_pool(h)
    return skip + h


class _OptimizedDownBlock(nnx.Module):
  """The critic's first block: conv → ReLU → conv → mean pool, no norm.

  Its shortcut is mean pool → 1x1 conv (pooling first is cheaper here).
  """

  def __init__(self, in_features: int, out_features: int, *,
               dtype: Any = None, rngs: nnx.Rngs):
    self.conv1 = _conv(in_features, out_features, 3, _he_uniform, dtype, rngs)
    self.conv2 = _conv(out_features, out_features, 3, _he_uniform, dtype, rngs)
    self.shortcut = _conv(in_features, out_features, 1, _glorot_uniform, dtype,
                          rngs)

  def __call__(self, x: Array) -> Array:
    h = mean_pool(self.conv2(jax.nn.relu(self.conv1(x))))
    return self.shortcut(mean_pool(x)) + h


class ResNetGenerator32(nnx.Module):
  """WGAN-GP's CIFAR-10 ResNet generator: z (B, latent_dim) → (B, 32, 32, C).

  .. math::
    x = \\tanh\\big(c(\\rho(\\mathrm{BN}(
        R_3(R_2(R_1(\\mathrm{reshape}(W z + b)))))))\\big)

  with :math:`R_i` up-sampling residual blocks (BatchNorm + ReLU) and
  :math:`c` a 3x3 convolution. Output in [-1, 1].

  References:
    Gulrajani et al., 2017, arXiv 1704.00028 (Appendix F,
    ``gan_cifar_resnet.py``).
  """

  def __init__(self, latent_dim: int = 128, *, channels: int = 3,
               features: int = 128, dtype: Any = None, rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      channels: output channels.
      features: width F of every residual block (DIM_G).
      dtype: computation dtype (``None``: float32); parameters and BatchNorm
        statistics stay float32 and images are returned in float32.
      rngs: parameter initialisation keys.
    """
    self.latent_dim = latent_dim
    self.features = features
    self.input = nnx.Linear(latent_dim, 4 * 4 * features,
                            kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([
        ResidualBlock(features, features, resample="up", norm="batch",
                      dtype=dtype, rngs=rngs) for _ in range(3)])
    self.output_norm = _norm("batch", features, dtype, rngs)
    self.output = _conv(features, channels, 3, _glorot_uniform, dtype, rngs)

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Generates images.

    Args:
      z: latent codes (B, latent_dim).
      labels: must be None (this generator is unconditional).
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Images (B, 32, 32, channels) in [-1, 1].
    """
    del rngs
    label_one_hot(labels, None, model="ResNetGenerator32")
    h = self.input(z).reshape(z.shape[0], 4, 4, self.features)
    for block in self.blocks:
      h = block(h)
    h = jax.nn.relu(self.output_norm(h))
    return jnp.tanh(self.output(h).astype(jnp.float32))


class ResNetCritic32(nnx.Module):
  """WGAN-GP's CIFAR-10 ResNet critic: images (B, 32, 32, C) → scores (B,).

  .. math::
    f(x) = w^\\top \\operatorname{mean}_{h,w}\\,
           \\rho(R_4(R_3(R_2(R_1(x))))) + b

  with :math:`R_1` the optimized down block (32 → 16), :math:`R_2` a down
  block (16 → 8), :math:`R_3, R_4` plain blocks and :math:`\\rho` = ReLU.

  References:
    Gulrajani et al., 2017, arXiv 1704.00028 (Appendix F,
    ``gan_cifar_resnet.py``).
  """

  def __init__(self, *, channels: int = 3, features: int = 128,
               norm: str | None = None, dtype: Any = None, rngs: nnx.Rngs):
    """Builds the critic.

    Args:
      channels: input channels.
      features: width F of every residual block (DIM_D).
      norm: ``None`` (the official default) or ``'layer'``. BatchNorm is
        refused: it makes each score depend on the rest of the batch.
      rngs: parameter initialisation keys.
    """
    if norm not in ("layer", None):
      raise ValueError(
          f"ResNetCritic32 norm must be None or 'layer', got {norm!r} "
          "(BatchNorm would couple the examples the gradient penalty treats "
          "independently)")
    self.channels = channels
    self.blocks = nnx.List([
        _OptimizedDownBlock(channels, features, dtype=dtype, rngs=rngs),
        ResidualBlock(features, features, resample="down", norm=norm,
                      dtype=dtype, rngs=rngs),
        ResidualBlock(features, features, resample=None, norm=norm,
                      dtype=dtype, rngs=rngs),
        ResidualBlock(features, features, resample=None, norm=norm,
                      dtype=dtype, rngs=rngs),
    ])
    self.output = nnx.Linear(features, 1, kernel_init=_glorot_uniform,
                             dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None,
               features: bool = False) -> Array | tuple[Array, dict[str, Array]]:
    """Scores images.

    Args:
      x: images (B, 32, 32, channels).
      labels: must be None (this critic is unconditional).
      rngs: unused (no dropout); accepted for the common call signature.
      features: also return the activations of this forward pass.

    Returns:
      Raw scores of shape (B,); with ``features``, ``(scores, features)``
      where ``features['block{i}']`` is residual block ``i``'s output
      ((B, 16, 16, F) for block 0, (B, 8, 8, F) after) and
      ``features['last_hidden']`` (B, F), float32, the ReLU'd block output
      averaged over positions, is the input of the output layer.
    """
    del rngs
    if x.shape[1:] != (32, 32, self.channels):
      raise ValueError(f"ResNetCritic32 expects images of shape "
                       f"(B, 32, 32, {self.channels}), got {x.shape}")
    label_one_hot(labels, None, model="ResNetCritic32")
    h = x
    blocks = {}
    for i, block in enumerate(self.blocks):
      h = blocks[f"block{i}"] = block(h)
    h = jnp.mean(jax.nn.relu(h).astype(jnp.float32), axis=(1, 2))
    scores = self.output(h)[:, 0].astype(jnp.float32)
    return (scores, {**blocks, "last_hidden": h}) if features else scores
