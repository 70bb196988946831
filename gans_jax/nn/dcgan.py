"""DCGAN generator and discriminator (Radford et al., 2015).

The layout follows the reference DCGAN of pytorch/examples at 64x64:

- generator: z → 4x4x(8F) (a 1x1 → 4x4 transposed convolution) → 8x8x(4F)
  → 16x16x(2F) → 32x32xF → 64x64xC, each step a 4x4 stride-2 transposed
  convolution; BatchNorm + ReLU after every layer but the last, tanh output;
- discriminator: the mirror image with 4x4 stride-2 convolutions and
  LeakyReLU(0.2), no normalisation on the first layer, and a final 4x4
  'valid' convolution to one logit.

At 32x32 one level is dropped (4x4x(4F) → ... → 32x32xC), and so on down
to 8x8 (4x4xF → 8x8xC: one transposed convolution; the discriminator one
stride-2 convolution, then the output convolution), for small images on a CPU. Weights are
initialised N(0, 0.02) and BatchNorm scales N(1, 0.02). Convolutions followed
by a normalisation carry no bias (it would be cancelled); the others do.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import (ConvTranspose2x, LatentProjection,
                                dcgan_kernel_init, dcgan_scale_init,
                                image_layer_norm, label_one_hot)

Array = jax.Array

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "SUPPORTED_IMAGE_SIZES"]

SUPPORTED_IMAGE_SIZES = (8, 16, 32, 64)
_NORMS = ("batch", "layer", None)


def _num_levels(image_size: int, model: str) -> int:
  """Number of stride-2 steps between 4x4 and ``image_size``."""
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(
        f"{model} supports image_size in {SUPPORTED_IMAGE_SIZES}, got "
        f"{image_size!r}")
  return {8: 1, 16: 2, 32: 3, 64: 4}[image_size]


def _batch_norm(num_features: int, dtype: Any, rngs: nnx.Rngs) -> nnx.BatchNorm:
  # momentum 0.9 is PyTorch's default running-average momentum of 0.1.
  return nnx.BatchNorm(num_features, momentum=0.9, epsilon=1e-5,
                       scale_init=dcgan_scale_init, dtype=dtype, rngs=rngs)


class DCGANGenerator(nnx.Module):
  """DCGAN generator: z (B, latent_dim) → images (B, S, S, C) in [-1, 1].

  .. math::
    x = \\tanh(T_L \\circ \\rho \\circ \\mathrm{BN} \\circ T_{L-1} \\circ
        \\cdots \\circ \\rho \\circ \\mathrm{BN} \\circ P(z))

  with :math:`P` the 1x1 → 4x4 projection, :math:`T_l` the 4x4 stride-2
  transposed convolutions and :math:`\\rho` = ReLU.

  Conditional variant (``num_classes``): the one-hot label is concatenated to
  z before the projection. ``batch_norm=False`` removes every BatchNorm (the
  "generator without BatchNorm" of the WGAN paper). The transposed
  convolutions use the phase form by default (same result, much faster
  gradients on CPU); ``conv_transpose='direct'`` selects
  ``jax.lax.conv_transpose``.

  References:
    Radford et al., 2015, arXiv 1511.06434; Arjovsky et al., 2017,
    arXiv 1701.07875 (Section 4.3); Mirza & Osindero, 2014, arXiv 1411.1784.
  """

  def __init__(self, latent_dim: int = 100, *, image_size: int,
               channels: int, features: int = 64,
               num_classes: int | None = None, batch_norm: bool = True,
               conv_transpose: str = "auto", dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      latent_dim: size of z.
      image_size: output height and width, 8, 16, 32 or 64.
      channels: output channels (1 or 3).
      features: width F of the last hidden layer (ngf); earlier layers have
        2F, 4F, 8F.
      num_classes: number of classes for a conditional generator, or None.
      batch_norm: BatchNorm after every hidden layer.
      conv_transpose: ``'auto'`` (phase form on the CPU, direct elsewhere),
        ``'phase'`` or ``'direct'`` (see
        :class:`~gans_jax.nn.layers.ConvTranspose2x`).
      dtype: computation dtype (``None``: float32); parameters and BatchNorm
        statistics stay float32 and images are returned in float32.
      rngs: parameter initialisation keys.
    """
    levels = _num_levels(image_size, "DCGANGenerator")
    self.latent_dim = latent_dim
    self.image_size = image_size
    self.channels = channels
    self.num_classes = num_classes
    widths = [features * 2 ** (levels - 1 - i) for i in range(levels)]
    widths.append(channels)
    self.project = LatentProjection(latent_dim + (num_classes or 0),
                                    widths[0], use_bias=not batch_norm,
                                    dtype=dtype, rngs=rngs)
    self.upsample = nnx.List([
        ConvTranspose2x(widths[i], widths[i + 1],
                        use_bias=not batch_norm or i == levels - 1,
                        implementation=conv_transpose, dtype=dtype, rngs=rngs)
        for i in range(levels)])
    self.norms = nnx.List([_batch_norm(w, dtype, rngs) for w in widths[:-1]]
                          if batch_norm else [])

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Generates images.

    Args:
      z: latent codes (B, latent_dim).
      labels: class labels (B,) for a conditional generator, else None.
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Images (B, image_size, image_size, channels) in [-1, 1].
    """
    del rngs
    one_hot = label_one_hot(labels, self.num_classes, model="DCGANGenerator")
    if one_hot is not None:
      z = jnp.concatenate([z, one_hot.astype(z.dtype)], axis=-1)
    h = self.project(z)
    for i, up in enumerate(self.upsample):
      if self.norms:
        h = self.norms[i](h)
      h = jax.nn.relu(h)
      h = up(h)
    return jnp.tanh(h.astype(jnp.float32))


class DCGANDiscriminator(nnx.Module):
  """DCGAN discriminator: images (B, S, S, C) → logits (B,).

  .. math::
    D(x) = c_{\\mathrm{out}}(\\lambda(N(c_L(\\cdots \\lambda(c_1(x))))))

  with :math:`c_l` 4x4 stride-2 convolutions, :math:`\\lambda` = LeakyReLU(0.2),
  :math:`N` the chosen normalisation (none on the first layer), and
  :math:`c_{\\mathrm{out}}` a 4x4 'valid' convolution from 4x4 to one logit.

  ``norm='layer'`` normalises each example over (H, W, C) with per-channel
  scale and bias: the WGAN-GP critic, where BatchNorm would couple the
  examples that the gradient penalty treats independently. Conditional
  variant (``num_classes``): the one-hot label is broadcast to
  ``num_classes`` constant maps and concatenated to the image channels.

  References:
    Radford et al., 2015, arXiv 1511.06434; Gulrajani et al., 2017,
    arXiv 1704.00028 (Section 4); Mirza & Osindero, 2014, arXiv 1411.1784.
  """

  def __init__(self, *, image_size: int, channels: int, features: int = 64,
               num_classes: int | None = None, norm: str | None = "batch",
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      image_size: input height and width, 8, 16, 32 or 64.
      channels: input channels (1 or 3).
      features: width F of the first layer (ndf); later layers have 2F, 4F,
        8F.
      num_classes: number of classes for a conditional discriminator, or
        None.
      norm: ``'batch'``, ``'layer'`` or ``None``.
      dtype: computation dtype (``None``: float32); parameters and BatchNorm
        statistics stay float32 and scores are returned in float32.
      rngs: parameter initialisation keys.
    """
    levels = _num_levels(image_size, "DCGANDiscriminator")
    if norm not in _NORMS:
      raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    self.image_size = image_size
    self.channels = channels
    self.num_classes = num_classes
    widths = [channels + (num_classes or 0)]
    widths += [features * 2 ** i for i in range(levels)]
    self.downsample = nnx.List([
        nnx.Conv(widths[i], widths[i + 1], kernel_size=(4, 4), strides=2,
                 padding=((1, 1), (1, 1)),
                 use_bias=i == 0 or norm is None,
                 kernel_init=dcgan_kernel_init, dtype=dtype, rngs=rngs)
        for i in range(levels)])
    if norm == "batch":
      norms = [_batch_norm(w, dtype, rngs) for w in widths[2:]]
    elif norm == "layer":
      norms = [image_layer_norm(w, dtype=dtype, rngs=rngs) for w in widths[2:]]
    else:
      norms = []
    self.norms = nnx.List(norms)
    self.output = nnx.Conv(widths[-1], 1, kernel_size=(4, 4), padding="VALID",
                           kernel_init=dcgan_kernel_init, dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None,
               features: bool = False) -> Array | tuple[Array, dict[str, Array]]:
    """Scores images.

    Args:
      x: images (B, image_size, image_size, channels) in [-1, 1].
      labels: class labels (B,) for a conditional discriminator, else None.
      rngs: unused (no dropout); accepted for the common call signature.
      features: also return the activations of this forward pass (feature
        matching, perceptual losses).

    Returns:
      Raw scores (logits) of shape (B,); with ``features``,
      ``(scores, features)`` where ``features['block{i}']``
      (B, S / 2^(i+1), S / 2^(i+1), F 2^i) is block ``i``'s output (after
      its convolution, norm and LeakyReLU) in the computation dtype, and
      ``features['last_hidden']``, the last block's (B, 4, 4, F 2^(L-1)), is
      the input of the output convolution.
    """
    del rngs
    expected = (self.image_size, self.image_size, self.channels)
    if x.shape[1:] != expected:
      raise ValueError(f"DCGANDiscriminator expects images of shape "
                       f"(B, {', '.join(map(str, expected))}), got {x.shape}")
    one_hot = label_one_hot(labels, self.num_classes,
                            model="DCGANDiscriminator")
    h = x
    if one_hot is not None:
      maps = jnp.broadcast_to(one_hot[:, None, None, :].astype(x.dtype),
                              (*x.shape[:3], self.num_classes))
      h = jnp.concatenate([h, maps], axis=-1)
    blocks = {}
    for i, conv in enumerate(self.downsample):
      h = conv(h)
      if i > 0 and self.norms:
        h = self.norms[i - 1](h)
      h = jax.nn.leaky_relu(h, negative_slope=0.2)
      blocks[f"block{i}"] = h
    scores = self.output(h).reshape(x.shape[0]).astype(jnp.float32)
    return (scores, {**blocks, "last_hidden": h}) if features else scores
