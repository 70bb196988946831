"""EBGAN's autoencoder discriminators: energy = reconstruction error.

The discriminator of an energy-based GAN is an autoencoder; the energy of an
input is how badly it is reconstructed,

.. math::
  D(x) = \\mathrm{MSE}(\\mathrm{Dec}(\\mathrm{Enc}(x)), x)

(:func:`gans_jax.losses.reconstruction_energy`). Both models here return
``(energy, code)``: the energies ``(B,)`` for the margin loss and the
flattened encoder output ``(B, D)`` for the pulling-away term, from one
forward pass.

- :class:`EBGANDiscriminator`: a DCGAN-style convolutional autoencoder for
  images, encoder (F)4c2s-(2F)4c2s-(4F)4c2s and the mirror decoder
  (2F)4c2s-(F)4c2s-(C)4c2s, the layout of the paper's 64x64 models.
- :class:`EBGANMLPDiscriminator`: a fully connected autoencoder for points
  (the 2-D toys) and small flattened images.

References:
  Zhao, Mathieu & LeCun, Energy-based Generative Adversarial Network, 2017
  (arXiv 1609.03126).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax import losses
from gans_jax.nn.layers import (ConvTranspose2x, dcgan_kernel_init,
                                dcgan_scale_init, fan_avg_uniform,
                                get_activation)

Array = jax.Array

__all__ = ["EBGANDiscriminator", "EBGANMLPDiscriminator"]

_LEVELS = 3


def _check_unconditional(labels: Array | None, model: str) -> None:
  if labels is not None:
    raise ValueError(f"{model} is unconditional: labels must be None")


def _batch_norm(num_features: int, dtype: Any, rngs: nnx.Rngs) -> nnx.BatchNorm:
  # momentum 0.9 is PyTorch's default running-average momentum of 0.1.
  return nnx.BatchNorm(num_features, momentum=0.9, epsilon=1e-5,
                       scale_init=dcgan_scale_init, dtype=dtype, rngs=rngs)


class _EnergyAutoencoder(nnx.Module):
  """An autoencoder discriminator: ``reconstruct`` is the subclass's; the
  energy of an example is its reconstruction's mean squared error."""

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> tuple[Array, Array]:
    """Energies and codes of a batch.

    Args:
      x: inputs (B, ...) as the subclass takes them.
      labels: must be None (EBGAN is unconditional).
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      ``(energy (B,), code (B, D))``.
    """
    del rngs
    _check_unconditional(labels, type(self).__name__)
    reconstruction, code = self.reconstruct(x)
    return losses.reconstruction_energy(x.astype(jnp.float32),
                                        reconstruction), code


class EBGANDiscriminator(_EnergyAutoencoder):
  """Convolutional autoencoder discriminator: images → (energies, codes).

  .. math::
    S = \\mathrm{Enc}(x), \\qquad
    D(x) = \\tfrac{1}{HWC} \\lVert \\mathrm{Dec}(S) - x \\rVert_2^2

  Encoder: three 4x4 stride-2 convolutions of F, 2F, 4F channels, each
  followed by LeakyReLU(0.2) (BatchNorm before it on all but the first);
  the code :math:`S` is their output, ``(S/8) x (S/8) x 4F``, flattened.
  Decoder: three 4x4 stride-2 transposed convolutions of 2F, F, C channels,
  BatchNorm and ReLU between them and a linear output, so the
  reconstruction is not bounded to the data's range.

  References:
    Zhao, Mathieu & LeCun, 2017 (arXiv 1609.03126), Section 2.3 and the
    appendix's architectures.
  """

  def __init__(self, *, image_size: int, channels: int, features: int = 64,
               batch_norm: bool = True, conv_transpose: str = "auto",
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the autoencoder.

    Args:
      image_size: input height and width, a multiple of 8.
      channels: input channels (e.g. 1, 3, or ``3 * m`` when packed).
      features: width F of the first encoder layer.
      batch_norm: BatchNorm inside the encoder and the decoder.
      conv_transpose: ``'auto'``, ``'phase'`` or ``'direct'`` (see
        :class:`~gans_jax.nn.layers.ConvTranspose2x`).
      dtype: computation dtype (``None``: float32); parameters and BatchNorm
        statistics stay float32, energies and codes are float32.
      rngs: parameter initialisation keys.
    """
    if (isinstance(image_size, bool) or not isinstance(image_size, int)
        or image_size < 8 or image_size % 8):
      raise ValueError(
          f"EBGANDiscriminator needs an image_size that is a multiple of 8, "
          f"got {image_size!r}")
    self.image_size = image_size
    self.channels = channels
    widths = [channels] + [features * 2 ** i for i in range(_LEVELS)]
    self.encoder = nnx.List([
        nnx.Conv(widths[i], widths[i + 1], kernel_size=(4, 4), strides=2,
                 padding=((1, 1), (1, 1)), use_bias=i == 0 or not batch_norm,
                 kernel_init=dcgan_kernel_init, dtype=dtype, rngs=rngs)
        for i in range(_LEVELS)])
    self.encoder_norms = nnx.List(
        [_batch_norm(w, dtype, rngs) for w in widths[2:]]
        if batch_norm else [])
    backwards = widths[::-1]  # 4F, 2F, F, C
    self.decoder = nnx.List([
        ConvTranspose2x(backwards[i], backwards[i + 1],
                        use_bias=not batch_norm or i == _LEVELS - 1,
                        implementation=conv_transpose, dtype=dtype, rngs=rngs)
        for i in range(_LEVELS)])
    self.decoder_norms = nnx.List(
        [_batch_norm(w, dtype, rngs) for w in backwards[1:-1]]
        if batch_norm else [])

  def reconstruct(self, x: Array) -> tuple[Array, Array]:
    """Returns ``(reconstruction (B, S, S, C), code (B, D))`` in float32."""
    expected = (self.image_size, self.image_size, self.channels)
    if x.shape[1:] != expected:
      raise ValueError(f"EBGANDiscriminator expects images of shape "
                       f"(B, {', '.join(map(str, expected))}), got {x.shape}")
    h = x
    for i, conv in enumerate(self.encoder):
      h = conv(h)
      if i > 0 and self.encoder_norms:
        h = self.encoder_norms[i - 1](h)
      h = jax.nn.leaky_relu(h, negative_slope=0.2)
    code = h
    for i, up in enumerate(self.decoder):
      h = up(h)
      if i < _LEVELS - 1:
        if self.decoder_norms:
          h = self.decoder_norms[i](h)
        h = jax.nn.relu(h)
    return (h.astype(jnp.float32),
            code.reshape(x.shape[0], -1).astype(jnp.float32))


_glorot_uniform = fan_avg_uniform(1.0)


class EBGANMLPDiscriminator(_EnergyAutoencoder):
  """Fully connected autoencoder discriminator: points → (energies, codes).

  .. math::
    S = W_S\\, h_L(x) + b_S, \\qquad
    D(x) = \\tfrac1d \\lVert \\mathrm{Dec}(S) - x \\rVert_2^2

  The encoder's hidden layers (``hidden``, each ``Linear → activation``)
  lead to a linear code of ``code_dim`` units; the decoder mirrors them
  (``reversed(hidden)``) back to a linear output of the input's shape.

  References:
    Zhao, Mathieu & LeCun, 2017 (arXiv 1609.03126), Section 2.3.
  """

  def __init__(self, input_shape: int | Sequence[int], *, code_dim: int,
               hidden: Sequence[int] = (128, 128), activation: str = "relu",
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the autoencoder.

    Args:
      input_shape: shape of one example, e.g. ``2`` or ``(8, 8, 1)``.
      code_dim: width of the code; no default: a code as wide as the input
        lets the autoencoder reconstruct everything, the choice is the
        experiment's.
      hidden: hidden widths of the encoder (the decoder reverses them).
      activation: hidden activation name (see ``layers.ACTIVATIONS``).
      dtype: computation dtype (``None``: float32); parameters stay float32.
      rngs: parameter initialisation keys.
    """
    self.input_shape = ((int(input_shape),) if isinstance(input_shape, int)
                        else tuple(int(s) for s in input_shape))
    self.activation = get_activation(activation)
    dim = math.prod(self.input_shape)
    encoder_widths = [dim, *hidden]
    decoder_widths = [code_dim, *reversed(hidden)]
    linear = lambda i, o: nnx.Linear(i, o, kernel_init=_glorot_uniform,
                                     dtype=dtype, rngs=rngs)
    self.encoder = nnx.List([linear(i, o) for i, o in
                             zip(encoder_widths[:-1], encoder_widths[1:])])
    self.code = linear(encoder_widths[-1], code_dim)
    self.decoder = nnx.List([linear(i, o) for i, o in
                             zip(decoder_widths[:-1], decoder_widths[1:])])
    self.output = linear(decoder_widths[-1], dim)

  def reconstruct(self, x: Array) -> tuple[Array, Array]:
    """Returns ``(reconstruction (B, *input_shape), code (B, code_dim))``."""
    if x.shape[1:] != self.input_shape:
      raise ValueError(f"EBGANMLPDiscriminator expects inputs of shape "
                       f"(B, {', '.join(map(str, self.input_shape))}), got "
                       f"{x.shape}")
    h = x.reshape(x.shape[0], -1)
    for layer in self.encoder:
      h = self.activation(layer(h))
    code = self.code(h)
    h = code
    for layer in self.decoder:
      h = self.activation(layer(h))
    reconstruction = self.output(h).reshape(x.shape).astype(jnp.float32)
    return reconstruction, code.astype(jnp.float32)
