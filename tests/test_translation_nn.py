"""The pix2pix and CycleGAN networks: layouts, shapes, receptive fields,
PyTorch-semantics transposed convolutions, normalisation and dropout.

Models are kept small (few channels, 32-96 px) so that compilation stays
cheap; full-size models are only traced abstractly (``nnx.eval_shape``).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gans_jax import nn as gnn

_call = nnx.jit(lambda model, *args, **kwargs: model(*args, **kwargs))


# Small configurations shared by the tests: parameter initialisation compiles
# one random program per kernel size, and the forward pass one program per
# configuration, so the tests reuse a few of each.
def _small_unet(**kwargs):
  return gnn.UNetGenerator(3, 3, image_size=32, features=4, dropout_blocks=3,
                           rngs=nnx.Rngs(0), **kwargs)


def _small_resnet(out_channels=3, **kwargs):
  kwargs.setdefault("num_blocks", 2)
  return gnn.ResNetTranslationGenerator(3, out_channels, features=2,
                                        rngs=nnx.Rngs(0), **kwargs)


def _small_patchgan(n_layers=1, **kwargs):
  return gnn.PatchGANDiscriminator(in_channels=2, features=4,
                                   n_layers=n_layers, rngs=nnx.Rngs(0),
                                   **kwargs)


def _images(batch, height, channels, seed=1, width=None):
  x = np.random.default_rng(seed).uniform(
      -1.0, 1.0, (batch, height, width or height, channels))
  return jnp.asarray(x, jnp.float32)


def _param_count(model):
  return sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def _abstract(make):
  return nnx.eval_shape(lambda: make(nnx.Rngs(0)))


def _output_shape(make, shape):
  def apply(x):
    return make(nnx.Rngs(0))(x, rngs=jax.random.key(0))
  return jax.eval_shape(apply, jax.ShapeDtypeStruct(shape, jnp.float32)).shape


# ---------------------------------------------------------------- U-Net -----

def _check_unet_layout(g, depth):
  assert len(g.levels) == depth  # size / 2**depth == 1
  # Encoder widths 64-128-256-512-512-...
  assert [lv.down.kernel.shape[-1] for lv in g.levels] == (
      [64, 128, 256] + [512] * (depth - 3))
  # Skip connections: every decoder but the innermost sees twice the width
  # of its level's encoder output.
  assert [lv.up.kernel.shape[2] for lv in g.levels] == (
      [128, 256, 512] + [1024] * (depth - 4) + [512])
  assert [lv.up.kernel.shape[3] for lv in g.levels][1:] == (
      [64, 128, 256] + [512] * (depth - 4))
  # Dropout on the 512-channel decoder levels outside the innermost one (the
  # official UnetGenerator's num_downs - 5 levels).
  assert g.dropout_levels == tuple(range(4, depth - 1))
  assert all(g.levels[j].dropout.rate == 0.5 for j in g.dropout_levels)


@pytest.mark.parametrize("size,depth", [(32, 5), (64, 6), (128, 7)])
def test_unet_depth_follows_the_image_size_down_to_a_1x1_bottleneck(size,
                                                                    depth):
  make = lambda r: gnn.UNetGenerator(3, 2, image_size=size, rngs=r)
  assert _output_shape(make, (2, size, size, 3)) == (2, size, size, 2)
  g = _abstract(make)
  assert g.levels[0].up.kernel.shape[3] == 2
  _check_unet_layout(g, depth)
  assert g.dropout_levels == {32: (), 64: (4,), 128: (4, 5)}[size]


def test_full_size_unet_is_the_official_unet_256():
  # The only full-size U-Net of the tests, traced abstractly.
  layout = {}

  def translate(x):
    g = gnn.UNetGenerator(1, 1, image_size=256, rngs=nnx.Rngs(0))
    layout["model"], layout["params"] = g, _param_count(g)
    return g(x, rngs=jax.random.key(0))

  shape = jax.eval_shape(translate, jax.ShapeDtypeStruct((1, 256, 256, 1),
                                                         jnp.float32)).shape
  assert shape == (1, 256, 256, 1)
  _check_unet_layout(layout["model"], 8)
  assert layout["model"].dropout_levels == (4, 5, 6)
  # Printed by the official code for 1-channel pix2pix (issue #1152 of
  # junyanz/pytorch-CycleGAN-and-pix2pix): unet_256 54.408 M.
  assert round(layout["params"] / 1e6, 3) == 54.408


def test_unet_norms_and_biases_follow_the_official_code():
  g = _abstract(lambda r: gnn.UNetGenerator(image_size=64, rngs=r))
  levels = list(g.levels)
  # No norm on the first down-convolution nor at the bottleneck.
  assert levels[0].down_norm is None and levels[-1].down_norm is None
  assert all(isinstance(lv.down_norm, nnx.BatchNorm) for lv in levels[1:-1])
  assert levels[0].up_norm is None
  assert all(isinstance(lv.up_norm, nnx.BatchNorm) for lv in levels[1:])
  # With BatchNorm no convolution has a bias except the output one.
  assert all(lv.down.bias is None for lv in levels)
  assert levels[0].up.bias is not None
  assert all(lv.up.bias is None for lv in levels[1:])
  inst = _abstract(lambda r: gnn.UNetGenerator(image_size=64, norm="instance",
                                               rngs=r))
  assert all(lv.down.bias is not None and lv.up.bias is not None
             for lv in inst.levels)
  assert isinstance(inst.levels[1].down_norm, gnn.InstanceNorm)
  assert not jax.tree.leaves(nnx.state(inst, nnx.BatchStat))


def test_parameter_counts_match_the_official_networks():
  # Printed by the official code for 1-channel pix2pix (issue #1152 of
  # junyanz/pytorch-CycleGAN-and-pix2pix): the 70x70 PatchGAN (input 1 + 1
  # channels) 2.765 M, a 6-level U-Net 29.238 M and the n_layers=2 PatchGAN
  # 0.662 M.
  counts = [
      _param_count(_abstract(lambda r: gnn.PatchGANDiscriminator(
          in_channels=2, rngs=r))),
      _param_count(_abstract(lambda r: gnn.UNetGenerator(
          1, 1, image_size=64, rngs=r))),
      _param_count(_abstract(lambda r: gnn.PatchGANDiscriminator(
          in_channels=2, n_layers=2, rngs=r))),
  ]
  assert [round(c / 1e6, 3) for c in counts] == [2.765, 29.238, 0.662]
  # CycleGAN's resnet_9blocks with instance norm, counted by hand:
  # 7x7 stem, two 3x3 down-convolutions, 9 blocks of two 3x3 convolutions,
  # two 3x3 transposed convolutions, 7x7 output (all with biases).
  def conv(k, i, o):
    return k * k * i * o + o
  by_hand = (conv(7, 3, 64) + conv(3, 64, 128) + conv(3, 128, 256)
             + 18 * conv(3, 256, 256) + conv(3, 256, 128) + conv(3, 128, 64)
             + conv(7, 64, 3))
  resnet = _abstract(lambda r: gnn.ResNetTranslationGenerator(rngs=r))
  assert _param_count(resnet) == by_hand
  assert round(by_hand / 1e6, 3) == 11.378


def test_unet_translates_to_tanh_range_and_checks_inputs():
  g = _small_unet()
  g.eval()
  y = _call(g, _images(2, 32, 3) * 5)
  assert y.shape == (2, 32, 32, 3) and y.dtype == jnp.float32
  assert -1.0 <= float(jnp.min(y)) < 0.0 < float(jnp.max(y)) <= 1.0
  # Larger inputs work when their sides are multiples of 2**depth.
  assert jax.eval_shape(g, _images(1, 64, 3, width=96)).shape == (1, 64, 96, 3)
  with pytest.raises(ValueError, match="multiples of 32"):
    g(_images(1, 48, 3))
  with pytest.raises(ValueError, match="power of two"):
    gnn.UNetGenerator(image_size=48, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="norm"):
    gnn.UNetGenerator(image_size=32, norm="layer", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="dropout_blocks"):
    gnn.UNetGenerator(image_size=32, dropout_blocks=4, rngs=nnx.Rngs(0))


def test_unet_dropout_is_random_in_train_mode_and_off_in_eval_mode():
  g = _small_unet()
  assert g.dropout_levels == (1, 2, 3)
  x = _images(2, 32, 3)
  with pytest.raises(ValueError, match="rngs"):
    jax.eval_shape(lambda x: _small_unet()(x), x)  # traced, not compiled
  key = jax.random.key(3)
  train = _call(g, x, rngs=key)
  np.testing.assert_array_equal(train, _call(g, x, rngs=key))
  assert not np.allclose(train, _call(g, x, rngs=jax.random.key(4)))
  g.eval()
  evaluated = _call(g, x, rngs=key)
  np.testing.assert_array_equal(evaluated, _call(g, x, rngs=jax.random.key(4)))
  np.testing.assert_array_equal(evaluated, _call(g, x))
  # Without dropout a train-mode call needs no key.
  assert nnx.eval_shape(lambda: _small_unet(dropout=0.0)).dropout_levels == ()
  assert jax.eval_shape(lambda x: _small_unet(dropout=0.0)(x), x).shape == (
      x.shape)


def test_unet_initialisation_is_the_official_normal_init():
  g = _small_unet()
  kernels = [lv.down.kernel[...] for lv in g.levels]
  kernels += [lv.up.kernel[...] for lv in g.levels]
  weights = jnp.concatenate([k.ravel() for k in kernels])
  assert weights.size > 50_000
  assert abs(float(jnp.std(weights)) - 0.02) < 0.0005
  assert abs(float(jnp.mean(weights))) < 0.0005
  scales = jnp.concatenate(
      [n.scale[...] for lv in g.levels for n in (lv.down_norm, lv.up_norm)
       if n is not None])
  assert scales.size > 100
  assert abs(float(jnp.mean(scales)) - 1.0) < 0.006
  assert abs(float(jnp.std(scales)) - 0.02) < 0.006
  biases = [lv.up.bias for lv in g.levels if lv.up.bias is not None]
  assert len(biases) == 1 and float(jnp.max(jnp.abs(biases[0][...]))) == 0.0


def test_models_compute_in_bfloat16_with_float32_params_and_outputs():
  g32, g16 = _small_unet(), _small_unet(dtype=jnp.bfloat16)
  d16 = _small_patchgan(dtype=jnp.bfloat16)
  for model in (g32, g16, d16):
    model.eval()
  assert {p.dtype for p in jax.tree.leaves(nnx.state(g16, nnx.Param))} == {
      jnp.dtype(jnp.float32)}
  x = _images(2, 32, 3)
  y32, y16 = _call(g32, x), _call(g16, x)
  assert y16.dtype == jnp.float32 and not np.array_equal(y16, y32)
  np.testing.assert_allclose(y16, y32, atol=0.05)
  assert _call(d16, y16[..., :2]).dtype == jnp.float32


# -------------------------------------------------------- instance norm -----

def test_instance_norm_normalises_each_channel_of_each_example():
  x = np.random.default_rng(0).normal(3.0, 2.0, (3, 5, 4, 2))
  x[1, ..., 0] *= 10.0  # a different scale per example and channel
  norm = gnn.InstanceNorm(2)
  y = np.asarray(norm(jnp.asarray(x, jnp.float32)))
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4,
                             atol=1e-5)
  assert not jax.tree.leaves(nnx.state(norm))  # no affine, no statistics
  with pytest.raises(ValueError, match="2 channels"):
    norm(jnp.zeros((1, 2, 2, 3)))


def test_instance_norm_networks_treat_examples_independently():
  g = _small_resnet(dropout=0.5)
  g.eval()
  x = _images(3, 8, 3)
  others = jnp.concatenate([x[:1], 3.0 * x[1:] + 0.5])
  np.testing.assert_allclose(_call(g, x)[0], _call(g, others)[0], rtol=1e-5,
                             atol=1e-6)


# ------------------------------------------------------------- PatchGAN -----

@pytest.mark.parametrize("size,n_layers,side", [
    (256, 3, 30), (128, 3, 14), (64, 3, 6), (32, 2, 6), (64, 1, 30)])
def test_patchgan_logit_map_sizes(size, n_layers, side):
  def apply(x):
    d = gnn.PatchGANDiscriminator(in_channels=6, n_layers=n_layers,
                                  rngs=nnx.Rngs(0))
    return d(x[..., 3:], condition=x[..., :3])
  shape = jax.eval_shape(apply, jax.ShapeDtypeStruct((2, size, size, 6),
                                                     jnp.float32)).shape
  assert shape == (2, side, side, 1)
  assert gnn.patchgan_output_size(size, n_layers) == side


def test_patchgan_layout_follows_the_official_code():
  d = _abstract(lambda r: gnn.PatchGANDiscriminator(in_channels=6, rngs=r))
  # C64-C128-C256-C512 then the 1-channel output, 4x4 kernels throughout.
  assert [c.kernel.shape for c in d.convs] == [
      (4, 4, 6, 64), (4, 4, 64, 128), (4, 4, 128, 256), (4, 4, 256, 512)]
  assert [c.strides for c in d.convs] == [2, 2, 2, 1]
  assert d.output.kernel.shape == (4, 4, 512, 1)
  assert len(d.norms) == 3  # none after the first convolution
  assert d.convs[0].bias is not None and d.output.bias is not None
  assert all(c.bias is None for c in d.convs[1:])
  assert d.receptive_field == 70
  pixel = _abstract(lambda r: gnn.PixelGANDiscriminator(in_channels=6,
                                                        rngs=r))
  assert [c.kernel.shape for c in (pixel.conv1, pixel.conv2, pixel.output)
          ] == [(1, 1, 6, 64), (1, 1, 64, 128), (1, 1, 128, 1)]
  assert pixel.receptive_field == 1


def test_patchgan_receptive_field_is_documented_per_setting():
  assert [gnn.patchgan_receptive_field(n) for n in ("pixel", 1, 2, 3, 4, 5)
          ] == [1, 16, 34, 70, 142, 286]
  for bad in (0, -1, 2.0, True, "patch"):
    with pytest.raises(ValueError, match="n_layers"):
      gnn.patchgan_receptive_field(bad)


def _nonzero_extent(grad):
  """(first, last) rows and columns where the input gradient is non-zero."""
  mask = np.abs(np.asarray(grad)).sum(axis=(0, 3)) > 0
  rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
  return (rows[0], rows[-1]), (cols[0], cols[-1])


@pytest.mark.parametrize("n_layers,size,field", [(3, 96, 70), (2, 48, 34),
                                                 (1, 24, 16)])
def test_patchgan_receptive_field_measured_by_the_input_gradient(
    n_layers, size, field):
  d = _small_patchgan(n_layers)
  d.eval()  # running statistics: no coupling through batch statistics
  x = _images(1, size, 2, seed=n_layers)
  j = gnn.patchgan_output_size(size, n_layers) // 2  # an interior logit
  grad = jax.jit(jax.grad(lambda x: d(x)[0, j, j + 1, 0]))(x)
  (top, bottom), (left, right) = _nonzero_extent(grad)
  assert bottom - top + 1 == right - left + 1 == field
  assert field == gnn.patchgan_receptive_field(n_layers)
  # Logit (j, k) sees rows from 2^n j - (3 * 2^n - 1): each stride-2 layer
  # and each of the two stride-1 layers pads by one input step.
  stride = 2 ** n_layers
  assert top == stride * j - (3 * stride - 1)
  assert left == stride * (j + 1) - (3 * stride - 1)


def test_pixelgan_sees_one_pixel():
  d = gnn.PixelGANDiscriminator(in_channels=4, features=4, rngs=nnx.Rngs(0))
  d.eval()
  x = _images(1, 6, 4)
  assert _call(d, x).shape == (1, 6, 6, 1)
  grad = jax.jit(jax.grad(lambda x: d(x)[0, 2, 3, 0]))(x)
  assert _nonzero_extent(grad) == ((2, 2), (3, 3))


def test_patchgan_condition_is_concatenated_before_the_images():
  d = _small_patchgan(norm=None)
  x = _images(2, 16, 2)
  logits = _call(d, x[..., 1:], x[..., :1])
  assert logits.dtype == jnp.float32
  np.testing.assert_allclose(logits, _call(d, x), rtol=1e-6)
  assert not np.allclose(logits, _call(d, x[..., ::-1]))
  with pytest.raises(ValueError, match="2 input channels"):
    d(x[..., 1:])
  with pytest.raises(ValueError, match="share"):
    d(x[..., 1:], x[:1, :, :, :1])
  with pytest.raises(ValueError, match="norm"):
    gnn.PatchGANDiscriminator(in_channels=3, norm="layer", rngs=nnx.Rngs(0))


# ------------------------------------------------ transposed convolution -----

def _conv_transpose_by_scatter(x, w, *, padding, output_padding):
  """PyTorch ConvTranspose2d(stride=2) by explicit scatter loops."""
  batch, height, width, _ = x.shape
  k = w.shape[0]
  out_h = 2 * (height - 1) - 2 * padding + k + output_padding
  out_w = 2 * (width - 1) - 2 * padding + k + output_padding
  y = np.zeros((batch, out_h, out_w, w.shape[-1]))
  for i in range(height):
    for j in range(width):
      for a in range(k):
        for b in range(k):
          oi, oj = 2 * i + a - padding, 2 * j + b - padding
          if 0 <= oi < out_h and 0 <= oj < out_w:
            y[:, oi, oj] += x[:, i, j] @ w[a, b]
  return y


@pytest.mark.parametrize("kernel_size,padding,output_padding", [
    (3, 1, 1), (4, 1, 0), (3, 1, 0), (5, 2, 1)])
@pytest.mark.parametrize("implementation", ["phase", "direct"])
def test_conv_transpose_has_pytorch_semantics(kernel_size, padding,
                                              output_padding, implementation):
  rng = np.random.default_rng(kernel_size + padding)
  x = rng.normal(size=(2, 3, 4, 3))
  w = rng.normal(size=(kernel_size, kernel_size, 3, 2))
  conv_transpose = jax.jit(functools.partial(
      gnn.conv_transpose_stride2, padding=padding,
      output_padding=output_padding, implementation=implementation))
  y = conv_transpose(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32))
  expected = _conv_transpose_by_scatter(x, w, padding=padding,
                                        output_padding=output_padding)
  assert y.shape == expected.shape
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_resnet_generator_upsampling_layer_is_the_pytorch_transposed_conv():
  g = _small_resnet(num_blocks=0)
  up = g.up[0]
  assert up.kernel.shape == (3, 3, 8, 4)
  up.bias[...] = jnp.arange(4.0)
  x = np.random.default_rng(5).normal(size=(1, 3, 3, 8))
  expected = _conv_transpose_by_scatter(
      x, np.asarray(up.kernel[...], np.float64), padding=1, output_padding=1)
  np.testing.assert_allclose(up(jnp.asarray(x, jnp.float32)),
                             expected + np.arange(4.0), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="output_padding"):
    gnn.conv_transpose_stride2(jnp.zeros((1, 2, 2, 1)), jnp.zeros((3, 3, 1, 1)),
                               padding=1, output_padding=2)


# ------------------------------------------------------ ResNet generator -----

@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_resnet_generator_shapes_for_both_upsampling_modes(upsample):
  def translate(x):
    return _small_resnet(1, upsample=upsample)(x)
  assert jax.eval_shape(translate, _images(2, 20, 3, width=28)).shape == (
      2, 20, 28, 1)
  assert jax.eval_shape(translate, _images(1, 256, 3)).shape == (
      1, 256, 256, 1)
  g = nnx.eval_shape(lambda: _small_resnet(1, upsample=upsample))
  if upsample == "transpose":
    assert all(isinstance(u, gnn.ConvTranspose2x) and
               u.kernel.shape[:2] == (3, 3) and u.output_padding == 1
               for u in g.up)
  else:
    assert all(isinstance(u, nnx.Conv) and u.kernel.shape[:2] == (3, 3)
               for u in g.up)
  assert [u.kernel.shape[-1] for u in g.up] == [4, 2]
  with pytest.raises(ValueError, match="multiples of 4"):
    jax.eval_shape(translate, _images(1, 18, 3))


def test_resnet_generator_layout_follows_cyclegan():
  g = _abstract(lambda r: gnn.ResNetTranslationGenerator(num_blocks=6,
                                                         rngs=r))
  assert g.stem.kernel.shape == (7, 7, 3, 64)
  assert [c.kernel.shape for c in g.down] == [(3, 3, 64, 128),
                                              (3, 3, 128, 256)]
  assert len(g.blocks) == 6
  assert g.blocks[0].conv1.kernel.shape == (3, 3, 256, 256)
  assert g.output.kernel.shape == (7, 7, 64, 3)
  assert all(isinstance(n, gnn.InstanceNorm) for n in g.up_norms)
  assert g.blocks[0].dropout is None
  batch = _abstract(lambda r: gnn.ResNetTranslationGenerator(
      norm="batch", num_blocks=1, rngs=r))
  assert batch.stem.bias is None and batch.output.bias is not None
  with pytest.raises(ValueError, match="upsample"):
    gnn.ResNetTranslationGenerator(upsample="bilinear", rngs=nnx.Rngs(0))


def test_resnet_blocks_are_residual_with_reflection_padding():
  # Zero second convolution: each block is the identity, so the generator
  # equals the one without blocks.
  with_blocks = _small_resnet(dropout=0.5)
  without = _small_resnet(num_blocks=0)
  with_blocks.eval()
  for name in ("stem", "output"):
    getattr(without, name).kernel[...] = getattr(with_blocks, name).kernel[...]
  for i in range(2):
    without.down[i].kernel[...] = with_blocks.down[i].kernel[...]
    without.up[i].kernel[...] = with_blocks.up[i].kernel[...]
  for block in with_blocks.blocks:
    block.conv2.kernel[...] = jnp.zeros_like(block.conv2.kernel[...])
    block.conv2.bias[...] = jnp.zeros_like(block.conv2.bias[...])
  x = _images(1, 8, 3)
  # Instance norm of a zero map is zero, so the blocks add nothing.
  np.testing.assert_allclose(_call(with_blocks, x), _call(without, x),
                             rtol=1e-5, atol=1e-6)
  row = jnp.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1)
  np.testing.assert_array_equal(gnn.reflect_pad(row, 1)[0, 1, :, 0],
                                [2.0, 1.0, 2.0, 3.0, 2.0])


def test_resnet_generator_dropout_option():
  g = _small_resnet(dropout=0.5)
  x = _images(1, 8, 3)
  a = _call(g, x, rngs=jax.random.key(0))
  assert not np.allclose(a, _call(g, x, rngs=jax.random.key(1)))
  g.eval()
  np.testing.assert_array_equal(_call(g, x, rngs=jax.random.key(0)),
                                _call(g, x))
