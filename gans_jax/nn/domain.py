"""Networks of adversarial domain adaptation on digits (ADDA, DANN).

- :class:`LeNetEncoder`: ADDA's digit encoder, conv20-5, max-pool,
  conv50-5, max-pool, fc500, ReLU throughout, 'VALID' convolutions; images
  (B, S, S, C) to features (B, 500).
- :class:`LeNetClassifier`: the label head on those features, one linear
  layer to the 10 class logits (fc10).
- :class:`DomainAdversary`: the domain discriminator, an MLP 500-500 on
  features giving one logit per example, the log-odds that the features
  come from the *source* domain.

ADDA trains ``LeNetClassifier(LeNetEncoder(x))`` on the labelled source
domain, copies the encoder's parameters to a target encoder, and adapts the
target encoder against the adversary
(:func:`gans_jax.adaptation.adda_adaptation_step`). DANN uses the same
encoder and classifier with the adversary behind
:func:`gans_jax.adaptation.gradient_reversal`.

The authors' ADDA code (erictzeng/adda) feeds the adversary the network's
final output, the 10 classifier logits, where the paper's figure shows the
encoder's features; ``DomainAdversary(in_features=10)`` on the classifier's
logits is that variant. Its hidden units are leaky ReLUs of slope 0.1
(tflearn's default; ``negative_slope=0`` is the code's ``--adversary_relu``)
and its output is a two-way softmax; ``num_logits=2`` keeps those two units
and returns the difference of their logits, which is the same classifier
written as one logit.

References:
  Tzeng et al., Adversarial Discriminative Domain Adaptation, CVPR 2017
  (arXiv 1702.05464); LeCun et al., Gradient-based learning applied to
  document recognition, 1998; Ganin et al., JMLR 2016 (arXiv 1505.07818).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import fan_avg_uniform

Array = jax.Array

__all__ = ["DomainAdversary", "LeNetClassifier", "LeNetEncoder",
           "lenet_feature_size"]

_glorot_uniform = fan_avg_uniform(1.0)
_KERNEL = 5
_CHANNELS = (20, 50)


def lenet_feature_size(image_size: int) -> int:
  """Side of LeNet's last feature map: two 5x5 'VALID' convolutions, each
  followed by a 2x2 max-pool (32 -> 5, 28 -> 4)."""
  size = image_size
  for _ in _CHANNELS:
    size = (size - _KERNEL + 1) // 2
  if size < 1:
    raise ValueError(f"LeNet needs images of at least 16 pixels, got "
                     f"{image_size}")
  return size


class LeNetEncoder(nnx.Module):
  """ADDA's LeNet encoder: images (B, S, S, C) → features (B, 500).

  .. math::
    M(x) = \\mathrm{relu}(W_3\\,\\mathrm{flat}(\\mathrm{pool}(\\mathrm{relu}(
      \\mathrm{conv}_{50}(\\mathrm{pool}(\\mathrm{relu}(
      \\mathrm{conv}_{20}(x)))))))) + b_3)

  with 5x5 'VALID' convolutions and 2x2 stride-2 max-pools; at 32 pixels
  the last map is 5x5x50, at 28 pixels 4x4x50.

  References:
    Tzeng et al., 2017 (arXiv 1702.05464), the digit experiments; the
    authors' ``adda/models/lenet.py``.
  """

  def __init__(self, *, image_size: int = 32, channels: int = 1,
               features: int = 500, dtype: Any = None, rngs: nnx.Rngs):
    """Builds the encoder.

    Args:
      image_size: input height and width (32 in ADDA, 28 for MNIST as is).
      channels: input channels.
      features: width of the fully connected feature layer (500).
      dtype: computation dtype (``None``: float32); features are float32.
      rngs: parameter initialisation keys.
    """
    self.image_size = image_size
    self.channels = channels
    self.features = features
    side = lenet_feature_size(image_size)
    self.conv1 = nnx.Conv(channels, _CHANNELS[0],
                          kernel_size=(_KERNEL, _KERNEL), padding="VALID",
                          kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
    self.conv2 = nnx.Conv(_CHANNELS[0], _CHANNELS[1],
                          kernel_size=(_KERNEL, _KERNEL), padding="VALID",
                          kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
    self.fc = nnx.Linear(side * side * _CHANNELS[1], features,
                         kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Maps images (B, image_size, image_size, channels) to features (B, F).

    Args:
      x: images.
      labels: must be None (the encoder sees no labels).
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Features (B, features), float32, after the ReLU.
    """
    del rngs
    if labels is not None:
      raise ValueError("LeNetEncoder is unconditional: labels must be None")
    expected = (self.image_size, self.image_size, self.channels)
    if x.shape[1:] != expected:
      raise ValueError(f"LeNetEncoder expects images of shape "
                       f"(B, {', '.join(map(str, expected))}), got {x.shape}")
    pool = lambda h: nnx.max_pool(h, window_shape=(2, 2), strides=(2, 2))
    h = pool(jax.nn.relu(self.conv1(x)))
    h = pool(jax.nn.relu(self.conv2(h)))
    h = jax.nn.relu(self.fc(h.reshape(x.shape[0], -1)))
    return h.astype(jnp.float32)


class LeNetClassifier(nnx.Module):
  """The label head: features (B, F) → class logits (B, num_classes), one
  linear layer (LeNet's fc10)."""

  def __init__(self, *, in_features: int = 500, num_classes: int = 10,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the head.

    Args:
      in_features: feature width of the encoder (500).
      num_classes: number of classes (10 digits).
      dtype: computation dtype (``None``: float32); logits are float32.
      rngs: parameter initialisation keys.
    """
    self.num_classes = num_classes
    self.linear = nnx.Linear(in_features, num_classes,
                             kernel_init=_glorot_uniform, dtype=dtype,
                             rngs=rngs)

  def __call__(self, features: Array) -> Array:
    """Class logits (B, num_classes), float32, no softmax."""
    return self.linear(features).astype(jnp.float32)


class DomainAdversary(nnx.Module):
  """The domain discriminator: features (B, F) → source logits (B,).

  .. math::
    h_l = \\mathrm{lrelu}_a(W_l h_{l-1} + b_l), \\qquad
    D(f) = w^\\top h_L + b \\quad \\text{or} \\quad
    D(f) = (W_o h_L + b_o)_{\\text{source}} - (W_o h_L + b_o)_{\\text{target}}

  The logit is the log-odds of the *source* domain, so the GAN losses
  apply with source = real and target = fake. With ``num_logits=2`` the
  output layer has the paper's two units (source, target) and the logit is
  their difference: a two-way softmax cross-entropy equals the sigmoid
  cross-entropy of that difference.

  References:
    Tzeng et al., 2017 (arXiv 1702.05464), the digit experiments
    (500-500-2); the authors' ``adda/adversary.py``.
  """

  def __init__(self, *, in_features: int = 500,
               hidden: Sequence[int] = (500, 500),
               negative_slope: float = 0.1, num_logits: int = 2,
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the adversary.

    Args:
      in_features: width of the features it judges (500; 10 when fed the
        classifier's logits as in the authors' code).
      hidden: hidden layer widths (500, 500).
      negative_slope: leaky-ReLU slope of the hidden units (0.1 in the
        authors' code; 0 gives ReLU).
      num_logits: 2 (the paper's softmax output, returned as one logit) or
        1 (a single logit unit).
      dtype: computation dtype (``None``: float32); logits are float32.
      rngs: parameter initialisation keys.
    """
    if num_logits not in (1, 2):
      raise ValueError(f"num_logits must be 1 or 2, got {num_logits!r}")
    self.negative_slope = negative_slope
    self.num_logits = num_logits
    widths = [in_features, *hidden]
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
        for i, o in zip(widths[:-1], widths[1:])])
    self.output = nnx.Linear(widths[-1], num_logits,
                             kernel_init=_glorot_uniform, dtype=dtype,
                             rngs=rngs)

  def __call__(self, features: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> Array:
    """Maps features (B, in_features) to source logits (B,).

    Args:
      features: encoder features (not labels: the adversary sees no class).
      labels: must be None.
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      Logits (B,), float32: > 0 means "source".
    """
    del rngs
    if labels is not None:
      raise ValueError("DomainAdversary is unconditional: labels must be None")
    h = features
    for layer in self.hidden:
      h = jax.nn.leaky_relu(layer(h), negative_slope=self.negative_slope)
    out = self.output(h).astype(jnp.float32)
    return out[:, 0] if self.num_logits == 1 else out[:, 0] - out[:, 1]
