"""SRGAN's networks: the SRResNet generator, its discriminator, sub-pixel
upsampling, PReLU, and feature maps of a fixed network for the content loss.

The generator maps a low-resolution image (N, h, w, C) to (N, r·h, r·w, C):
a 9x9 convolution and PReLU, B residual blocks
(conv3-BN-PReLU-conv3-BN plus the block's input), conv3-BN plus the output
of the first layer (the long skip), log2(r) sub-pixel x2 upsampling blocks
(conv3 to 4F channels, pixel shuffle, PReLU) and a 9x9 convolution to C
channels. The discriminator is eight 3x3 convolutions of F, F, 2F, 2F, 4F,
4F, 8F, 8F channels (strides 1, 2 alternating; BatchNorm on all but the
first; LeakyReLU 0.2), a dense layer of 1024 units, LeakyReLU, and one logit.
The paper's widths are F = 64; ``features`` shrinks both for small runs.

Layouts are NHWC. BatchNorm follows ``model.train()`` / ``model.eval()``
(running statistics with PyTorch's momentum 0.1, as
:mod:`gans_jax.nn.translation`); convolutions followed by BatchNorm carry
no bias.

References:
  Ledig et al., Photo-Realistic Single Image Super-Resolution Using a
  Generative Adversarial Network, 2017 (arXiv 1609.04802), Figure 4;
  Shi et al., Real-Time Single Image and Video Super-Resolution Using an
  Efficient Sub-Pixel Convolutional Neural Network, 2016
  (arXiv 1609.05158); He et al., Delving Deep into Rectifiers, 2015
  (arXiv 1502.01852).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import get_activation

Array = jax.Array

__all__ = ["PReLU", "SRGANDiscriminator", "SRResNetBlock", "SRResNetGenerator",
           "SubPixelUpsample", "VGG19Features", "VGG19_LAYERS",
           "feature_extractor", "feature_maps", "load_vgg19", "pixel_shuffle",
           "space_to_depth"]


def pixel_shuffle(x: Array, r: int) -> Array:
  """Depth to space: (N, H, W, r²·C) to (N, r·H, r·W, C).

  .. math::
    y[n, rh + i, rw + j, c] = x[n, h, w, (ir + j)C + c]

  for :math:`0 \\le i, j < r`: the channels are r² blocks of C, block
  ``i·r + j`` going to the sub-pixel at row offset ``i``, column offset
  ``j`` (TensorFlow's ``depth_to_space`` order for NHWC). Inverse of
  :func:`space_to_depth`.

  Args:
    x: (N, H, W, r²·C).
    r: the upscaling factor.

  Returns:
    (N, r·H, r·W, C).
  """
  n, h, w, channels = x.shape
  if channels % (r * r):
    raise ValueError(f"pixel_shuffle needs channels divisible by r^2={r * r},"
                     f" got {channels}")
  c = channels // (r * r)
  x = x.reshape(n, h, w, r, r, c)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(n, h * r, w * r, c)


def space_to_depth(x: Array, r: int) -> Array:
  """Space to depth: (N, r·H, r·W, C) to (N, H, W, r²·C), undoing
  :func:`pixel_shuffle`.

  .. math::
    y[n, h, w, (ir + j)C + c] = x[n, rh + i, rw + j, c]
  """
  n, hr, wr, c = x.shape
  if hr % r or wr % r:
    raise ValueError(f"space_to_depth needs H and W divisible by r={r}, got "
                     f"{x.shape}")
  x = x.reshape(n, hr // r, r, wr // r, r, c)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(n, hr // r, wr // r, r * r * c)


class PReLU(nnx.Module):
  """Parametric ReLU with one learned slope per channel.

  .. math::
    f(x_c) = \\max(0, x_c) + a_c \\min(0, x_c), \\qquad a_c = 0.25
    \\text{ at initialisation (He et al., 2015).}
  """

  def __init__(self, num_features: int, *, init: float = 0.25):
    self.alpha = nnx.Param(jnp.full((num_features,), init, jnp.float32))

  def __call__(self, x: Array) -> Array:
    alpha = self.alpha.get_value().astype(x.dtype)
    return jnp.where(x >= 0, x, alpha * x)


def _batch_norm(num_features: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
  # momentum 0.9 is PyTorch's running-average momentum of 0.1.
  return nnx.BatchNorm(num_features, momentum=0.9, epsilon=1e-5, rngs=rngs)


def _conv(in_features: int, out_features: int, kernel_size: int, *,
          stride: int = 1, use_bias: bool = True,
          rngs: nnx.Rngs) -> nnx.Conv:
  return nnx.Conv(in_features, out_features, (kernel_size, kernel_size),
                  strides=stride, padding="SAME", use_bias=use_bias, rngs=rngs)


class SubPixelUpsample(nnx.Module):
  """Sub-pixel convolution: conv3 to r²·C channels, :func:`pixel_shuffle`,
  PReLU.

  .. math::
    y = \\mathrm{PReLU}\\big(\\mathrm{PS}_r(W * x + b)\\big)

  (Shi et al., 2016; SRGAN's upsampling block with r = 2.)
  """

  def __init__(self, in_features: int, out_features: int, *, r: int = 2,
               rngs: nnx.Rngs):
    self.r = r
    self.conv = _conv(in_features, r * r * out_features, 3, rngs=rngs)
    self.prelu = PReLU(out_features)

  def __call__(self, x: Array) -> Array:
    return self.prelu(pixel_shuffle(self.conv(x), self.r))


class SRResNetBlock(nnx.Module):
  """SRResNet's residual block: x + BN(conv3(PReLU(BN(conv3(x)))))."""

  def __init__(self, features: int, *, rngs: nnx.Rngs):
    self.conv1 = _conv(features, features, 3, use_bias=False, rngs=rngs)
    self.bn1 = _batch_norm(features, rngs)
    self.prelu = PReLU(features)
    self.conv2 = _conv(features, features, 3, use_bias=False, rngs=rngs)
    self.bn2 = _batch_norm(features, rngs)

  def __call__(self, x: Array) -> Array:
    h = self.prelu(self.bn1(self.conv1(x)))
    return x + self.bn2(self.conv2(h))


class SRResNetGenerator(nnx.Module):
  """SRGAN's generator (SRResNet): low-resolution images to r times larger.

  Input (N, h, w, ``channels``), output (N, r·h, r·w, ``channels``) through
  ``output_activation`` (tanh: images in [-1, 1]; ``None``: the paper's
  linear output).
  """

  def __init__(self, channels: int, *, num_blocks: int = 16,
               features: int = 64, upscale: int = 4,
               output_activation: str | None = "tanh", rngs: nnx.Rngs):
    if upscale < 2 or upscale & (upscale - 1):
      raise ValueError(f"upscale must be a power of 2 >= 2, got {upscale}")
    self.upscale = upscale
    self.output_activation = output_activation
    self.head = _conv(channels, features, 9, rngs=rngs)
    self.head_prelu = PReLU(features)
    self.blocks = nnx.List([SRResNetBlock(features, rngs=rngs)
                            for _ in range(num_blocks)])
    self.trunk_conv = _conv(features, features, 3, use_bias=False, rngs=rngs)
    self.trunk_bn = _batch_norm(features, rngs)
    self.upsample = nnx.List([
        SubPixelUpsample(features, features, r=2, rngs=rngs)
        for _ in range(upscale.bit_length() - 1)])
    self.tail = _conv(features, channels, 9, rngs=rngs)

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    del rngs  # no dropout
    skip = self.head_prelu(self.head(x))
    h = skip
    for block in self.blocks:
      h = block(h)
    h = skip + self.trunk_bn(self.trunk_conv(h))
    for block in self.upsample:
      h = block(h)
    return get_activation(self.output_activation)(self.tail(h))


class SRGANDiscriminator(nnx.Module):
  """SRGAN's discriminator: images (N, S, S, C) to logits (N,), no sigmoid.

  ``image_size`` S must be a multiple of 16 (four stride-2 convolutions).
  """

  def __init__(self, channels: int, *, image_size: int, features: int = 64,
               dense_features: int = 1024, rngs: nnx.Rngs):
    if image_size % 16:
      raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
    widths = [features * m for m in (1, 1, 2, 2, 4, 4, 8, 8)]
    self.convs = nnx.List()
    self.norms = nnx.List()
    in_features = channels
    for i, width in enumerate(widths):
      self.convs.append(_conv(in_features, width, 3, stride=1 + i % 2,
                              use_bias=i == 0, rngs=rngs))
      if i:
        self.norms.append(_batch_norm(width, rngs))
      in_features = width
    size = image_size // 16
    self.dense = nnx.Linear(size * size * widths[-1], dense_features, rngs=rngs)
    self.logit = nnx.Linear(dense_features, 1, rngs=rngs)

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    del rngs  # no dropout
    h = jax.nn.leaky_relu(self.convs[0](x), negative_slope=0.2)
    for conv, norm in zip(self.convs[1:], self.norms):
      h = jax.nn.leaky_relu(norm(conv(h)), negative_slope=0.2)
    h = jax.nn.leaky_relu(self.dense(h.reshape(h.shape[0], -1)),
                          negative_slope=0.2)
    return self.logit(h)[:, 0]


def _layer_name(path: tuple) -> str:
  names = [str(p) for p in path]
  if names[-1] == "__call__":
    names = names[:-1]
  return "/".join(names) or "output"


def feature_maps(module: nnx.Module, x: Array) -> dict[str, Array]:
  """Every sub-module's output on ``x``, by layer name.

  A layer's name is its attribute path joined by ``/`` (``'convs/1'`` for
  ``module.convs[1]``); a method other than ``__call__`` adds its name
  (``'embed'``), and the module's own output is ``'output'``; a layer
  called k times gives ``'name[0]'`` ... ``'name[k-1]'``. These are the
  outputs of the sub-modules themselves: a convolution followed by a
  functional ReLU gives its pre-activation map. Runs on a copy, so
  ``module`` is not changed.

  Args:
    module: any NNX module called as ``module(x)``.
    x: its input.

  Returns:
    A dict from layer name to feature map.
  """
  graphdef, state = nnx.split(module)
  copy = nnx.merge(graphdef, state, copy=True)
  _, captured = nnx.capture(copy, nnx.Intermediate,
                            method_outputs=nnx.Intermediate)(x)
  maps = {}
  for path, variable in nnx.to_flat_state(captured):
    values = variable.get_value()
    name = _layer_name(path)
    if len(values) == 1:
      maps[name] = values[0]
    else:
      maps.update({f"{name}[{k}]": v for k, v in enumerate(values)})
  return maps


def feature_extractor(module: nnx.Module, layer: str, *,
                      activation: Callable[[Array], Array] | None = None
                      ) -> Callable[[Array], Array]:
  """:math:`\\phi`: images to one layer's feature map of a fixed network.

  The returned function closes over a snapshot of the module's parameters
  (taken here) as constants behind ``jax.lax.stop_gradient``, and runs it in
  evaluation mode
  (BatchNorm's running statistics, no dropout): the network is a fixed
  feature space, never trained by a loss built on it, and gradients reach
  only the images. SRGAN's :math:`\\phi_{i,j}` is taken after the
  activation; pass ``activation=jax.nn.relu`` for a convolution whose ReLU
  is functional (see :func:`feature_maps` for the layer names).

  Args:
    module: the fixed network (a trained classifier or segmenter).
    layer: a name from :func:`feature_maps`; an unknown name raises a
      ``KeyError`` listing the valid ones when the function is first called.
    activation: applied to the chosen map.

  Returns:
    ``phi(x) -> feature map``, traceable under ``jit`` and ``grad``.

  References:
    Ledig et al., 2017 (arXiv 1609.04802), equation (5); Johnson, Alahi &
    Fei-Fei, Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution, 2016 (arXiv 1603.08155).
  """
  graphdef, state = nnx.split(module)

  def phi(x: Array) -> Array:
    fixed = nnx.merge(graphdef, jax.lax.stop_gradient(state), copy=True)
    fixed.eval()
    maps = feature_maps(fixed, x)
    if layer not in maps:
      raise KeyError(f"unknown layer {layer!r}; the network's layers are "
                     f"{sorted(maps)}")
    out = maps[layer]
    return out if activation is None else activation(out)

  return phi


# VGG19's convolutions (Simonyan & Zisserman, 2015, configuration E): block b
# has these many 3x3 convolutions of 64·2^min(b-1, 3) channels, then a 2x2
# max pooling.
_VGG19_BLOCKS = (2, 2, 4, 4, 4)
VGG19_LAYERS = tuple(f"conv{b + 1}_{i + 1}" for b, n in enumerate(_VGG19_BLOCKS)
                     for i in range(n))
"""The convolutions of VGG19 in order, ``'conv1_1'`` ... ``'conv5_4'``: SRGAN's
:math:`\\phi_{i,j}` is the ReLU of ``conv{i}_{j}``."""
# torchvision's ImageNet normalisation, for inputs in [0, 1].
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nnx.Module):
  """VGG19's convolutional trunk up to ``last_layer``: SRGAN's fixed feature
  network.

  Input: RGB images (N, H, W, 3) in [-1, 1], mapped to [0, 1] and
  normalised with ImageNet's mean and standard deviation (torchvision's
  convention, that of the usual converted weights). Each ``conv{b}_{i}`` is a
  3x3 convolution followed by a functional ReLU; each block but the last
  ends in 2x2 max pooling. Output: the ReLU of ``last_layer``.
  :func:`feature_maps` names the convolutions ``'conv5_4'`` and so on (their
  pre-activation maps; pass ``activation=jax.nn.relu`` to
  :func:`feature_extractor` for the paper's :math:`\\phi_{5,4}`).

  No weights ship with gans_jax: :func:`load_vgg19` reads converted ones.
  """

  def __init__(self, *, last_layer: str = "conv5_4", rngs: nnx.Rngs):
    if last_layer not in VGG19_LAYERS:
      raise ValueError(f"last_layer must be one of {VGG19_LAYERS}, got "
                       f"{last_layer!r}")
    self.layers = VGG19_LAYERS[:VGG19_LAYERS.index(last_layer) + 1]
    in_features = 3
    for name in self.layers:
      block = int(name[4]) - 1
      width = 64 * 2 ** min(block, 3)
      setattr(self, name, _conv(in_features, width, 3, rngs=rngs))
      in_features = width

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    del rngs
    if x.shape[-1] != 3:
      raise ValueError(f"VGG19 takes RGB images (N, H, W, 3), got {x.shape}")
    mean = jnp.asarray(_IMAGENET_MEAN, x.dtype)
    std = jnp.asarray(_IMAGENET_STD, x.dtype)
    h = ((x + 1.0) / 2.0 - mean) / std
    for k, name in enumerate(self.layers):
      h = jax.nn.relu(getattr(self, name)(h))
      last_in_block = (k + 1 == len(VGG19_LAYERS)
                       or VGG19_LAYERS[k + 1][4] != name[4])
      if last_in_block and k + 1 < len(self.layers):
        h = nnx.max_pool(h, (2, 2), strides=(2, 2))
    return h


def load_vgg19(path: str, *, last_layer: str = "conv5_4") -> VGG19Features:
  """:class:`VGG19Features` with converted ImageNet weights from ``path``.

  The file is an ``.npz`` with ``'{layer}/kernel'`` (3, 3, in, out: HWIO)
  and ``'{layer}/bias'`` for every layer up to ``last_layer``; from
  torchvision's ``vgg19(weights='IMAGENET1K_V1').features``, the k-th
  ``Conv2d`` (in the order of :data:`VGG19_LAYERS`) gives
  ``kernel = weight.permute(2, 3, 1, 0)`` and ``bias = bias``. Nothing is
  downloaded.

  Raises:
    FileNotFoundError: no such file.
    ValueError: a layer is missing or has the wrong shape (naming it).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  net = VGG19Features(last_layer=last_layer, rngs=nnx.Rngs(0))
  with np.load(path) as arrays:
    for name in net.layers:
      conv = getattr(net, name)
      for part, variable in (("kernel", conv.kernel), ("bias", conv.bias)):
        key = f"{name}/{part}"
        if key not in arrays:
          raise ValueError(f"{path}: no array {key!r} (VGG19 weights need "
                           f"{', '.join(net.layers)})")
        value = arrays[key]
        if value.shape != variable.get_value().shape:
          raise ValueError(f"{path}: {key!r} has shape {value.shape}, VGG19 "
                           f"needs {variable.get_value().shape}")
        variable.set_value(jnp.asarray(value, jnp.float32))
  return net
