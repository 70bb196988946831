"""SRGAN's pieces: sub-pixel upsampling, its networks, the content loss on a
fixed network's features, PSNR and SSIM."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gans_jax import losses
from gans_jax.eval import fidelity
from gans_jax.eval.domain import DigitConvNet
from gans_jax.nn import srgan


# ------------------------------------------------------ sub-pixel layers --

def test_pixel_shuffle_puts_channel_block_i_r_plus_j_at_sub_pixel_i_j():
  x = jnp.arange(8.0).reshape(1, 1, 1, 8)  # r = 2, C = 2
  y = srgan.pixel_shuffle(x, 2)
  assert y.shape == (1, 2, 2, 2)
  np.testing.assert_array_equal(y[0, :, :, 0], [[0, 2], [4, 6]])
  np.testing.assert_array_equal(y[0, :, :, 1], [[1, 3], [5, 7]])
  # The equation, element by element, on a larger input.
  r, c = 3, 2
  x = np.random.default_rng(0).normal(size=(2, 2, 3, r * r * c)).astype(np.float32)
  y = np.asarray(srgan.pixel_shuffle(jnp.asarray(x), r))
  want = np.empty((2, 2 * r, 3 * r, c))
  for h in range(2):
    for w in range(3):
      for i in range(r):
        for j in range(r):
          want[:, h * r + i, w * r + j, :] = x[:, h, w, (i * r + j) * c:(i * r + j + 1) * c]
  np.testing.assert_allclose(y, want, rtol=0, atol=0)


def test_space_to_depth_undoes_pixel_shuffle_both_ways():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3, 4, 12)))
  np.testing.assert_array_equal(srgan.space_to_depth(srgan.pixel_shuffle(x, 2), 2), x)
  z = jnp.asarray(np.random.default_rng(2).normal(size=(2, 6, 4, 3)))
  np.testing.assert_array_equal(srgan.pixel_shuffle(srgan.space_to_depth(z, 2), 2), z)


def test_prelu_scales_negatives_by_its_per_channel_slope():
  prelu = srgan.PReLU(2)
  prelu.alpha.set_value(jnp.array([0.25, 0.5]))
  x = jnp.array([[-4.0, -4.0], [3.0, 3.0]])
  np.testing.assert_allclose(prelu(x), [[-1.0, -2.0], [3.0, 3.0]])


def test_sub_pixel_upsample_is_conv_then_shuffle_then_prelu():
  block = srgan.SubPixelUpsample(3, 5, r=2, rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(3).normal(size=(2, 4, 4, 3)), jnp.float32)
  y = block(x)
  assert y.shape == (2, 8, 8, 5)
  want = block.prelu(srgan.pixel_shuffle(block.conv(x), 2))
  np.testing.assert_allclose(y, want, rtol=1e-6)


# -------------------------------------------------------------- networks --

def _count(module):
  return sum(np.prod(p.shape) for p in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.slow
def test_srresnet_has_the_papers_layers_and_upscales_by_four():
  # The paper's network (B = 16, F = 64, RGB), built abstractly: its
  # parameters, layer by layer from Figure 4 (no bias before BatchNorm).
  net = nnx.eval_shape(lambda: srgan.SRResNetGenerator(3, rngs=nnx.Rngs(0)))
  conv = lambda k, cin, cout, bias=True: k * k * cin * cout + (cout if bias else 0)
  block = conv(3, 64, 64, False) + 128 + 64 + conv(3, 64, 64, False) + 128
  upsample = conv(3, 64, 256) + 64
  want = (conv(9, 3, 64) + 64 + 16 * block + conv(3, 64, 64, False) + 128
          + 2 * upsample + conv(9, 64, 3))
  assert _count(net) == want
  small = srgan.SRResNetGenerator(1, num_blocks=2, features=8, rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 8, 8, 1)), jnp.float32)
  y = small(x)
  assert y.shape == (2, 32, 32, 1)
  assert float(jnp.max(jnp.abs(y))) <= 1.0
  assert srgan.SRResNetGenerator(1, num_blocks=1, features=4, upscale=2,
                                 rngs=nnx.Rngs(0))(x).shape == (2, 16, 16, 1)


@pytest.mark.slow
def test_srgan_discriminator_has_eight_convolutions_and_two_dense_layers():
  net = nnx.eval_shape(lambda: srgan.SRGANDiscriminator(3, image_size=96,
                                                        rngs=nnx.Rngs(0)))
  widths = [3, 64, 64, 128, 128, 256, 256, 512, 512]
  convs = sum(9 * a * b for a, b in zip(widths[:-1], widths[1:])) + 64
  norms = 2 * sum(widths[2:])
  dense = 6 * 6 * 512 * 1024 + 1024 + 1024 + 1
  assert _count(net) == convs + norms + dense
  small = srgan.SRGANDiscriminator(1, image_size=32, features=4,
                                   dense_features=16, rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(5).normal(size=(3, 32, 32, 1)), jnp.float32)
  assert small(x).shape == (3,)


# ---------------------------------------------------- the content loss --

def _digit_net():
  return DigitConvNet(rngs=nnx.Rngs(0), num_classes=10)


def _images(seed, n=3):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, size=(n, 16, 16, 1)),
                     jnp.float32)


def test_feature_extractor_returns_the_named_layer():
  net = _digit_net()
  x = _images(0)
  second = net.convs[1](jax.nn.relu(net.convs[0](x)))
  np.testing.assert_allclose(srgan.feature_extractor(net, "convs/1")(x), second,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      srgan.feature_extractor(net, "convs/1", activation=jax.nn.relu)(x),
      jax.nn.relu(second), rtol=1e-5, atol=1e-6)
  assert set(srgan.feature_maps(net, x)) == {"convs/0", "convs/1", "convs/2",
                                             "hidden", "head", "output"}


def test_feature_extractor_names_the_valid_layers_for_an_unknown_one():
  with pytest.raises(KeyError, match=r"'conv2'.*'convs/0', 'convs/1'"):
    srgan.feature_extractor(_digit_net(), "conv2")(_images(0))


def test_feature_maps_name_each_call_of_a_layer_used_twice():
  class Twice(nnx.Module):
    def __init__(self):
      self.linear = nnx.Linear(2, 2, rngs=nnx.Rngs(0))

    def __call__(self, x):
      return self.linear(self.linear(x))

  net, x = Twice(), jnp.ones((1, 2))
  maps = srgan.feature_maps(net, x)
  assert set(maps) == {"linear[0]", "linear[1]", "output"}
  np.testing.assert_allclose(maps["linear[0]"], net.linear(x), rtol=1e-6)
  np.testing.assert_allclose(maps["linear[1]"], maps["output"], rtol=1e-6)


def test_content_loss_sends_no_gradient_into_the_fixed_network_or_the_real_images():
  graphdef, state = nnx.split(_digit_net())
  fake, real = _images(1), _images(2)

  def loss(state, fake, real):
    phi = srgan.feature_extractor(nnx.merge(graphdef, state), "convs/2")
    return jnp.mean(losses.perceptual_loss(phi, fake, real))

  state_grads, fake_grads, real_grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(
      state, fake, real)
  assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(state_grads))
  assert float(jnp.max(jnp.abs(real_grads))) == 0.0
  assert float(jnp.max(jnp.abs(fake_grads))) > 0.0


def test_content_loss_is_the_per_example_mean_squared_feature_difference():
  fake, real = _images(3), _images(4)
  phi = lambda x: 2.0 * x
  value = losses.perceptual_loss(phi, fake, real)
  want = np.mean(np.square(2 * np.asarray(real) - 2 * np.asarray(fake)), axis=(1, 2, 3))
  np.testing.assert_allclose(value, want, rtol=1e-6)
  # Its gradient moves the fake towards the real image.
  grads = jax.grad(lambda f: jnp.sum(losses.perceptual_loss(phi, f, real)))(fake)
  np.testing.assert_allclose(grads, 8.0 * (fake - real) / (16 * 16), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_feature_extractor_runs_batch_norm_on_running_statistics():
  net = srgan.SRGANDiscriminator(1, image_size=16, features=2, dense_features=4,
                                 rngs=nnx.Rngs(0))
  before = jax.tree.map(np.array, nnx.state(net, nnx.BatchStat))
  phi = srgan.feature_extractor(net, "norms/0")
  x = _images(5, n=4)
  # Per example: the batch does not change an image's features.
  np.testing.assert_allclose(phi(x)[:1], phi(x[:1]), rtol=1e-5, atol=1e-6)
  after = nnx.state(net, nnx.BatchStat)
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before),
                                                   jax.tree.leaves(after)))


# ------------------------------------------------------- PSNR and SSIM --

def _smooth_pairs(seed, n=3, size=24, channels=3):
  rng = np.random.default_rng(seed)
  base = rng.uniform(-1, 1, size=(n, size // 4, size // 4, channels))
  x = np.clip(np.asarray(fidelity.bicubic_upsample(jnp.asarray(base), 4)), -1, 1)
  y = np.clip(x + 0.2 * rng.normal(size=x.shape), -1, 1)
  return x.astype(np.float32), y.astype(np.float32)


def test_psnr_matches_scikit_image_on_the_stated_range():
  x, y = _smooth_pairs(0)
  got = np.asarray(fidelity.psnr(x, y, data_range=2.0))
  want = [peak_signal_noise_ratio(a, b, data_range=2.0) for a, b in zip(y, x)]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # The same images as 8-bit values give the same PSNR; a [-1, 1] image
  # scored as if its range were 1 would read 6 dB higher.
  to255 = lambda a: (a + 1.0) * 127.5
  np.testing.assert_allclose(fidelity.psnr(to255(x), to255(y), data_range=255.0),
                             got, rtol=1e-5)
  np.testing.assert_allclose(fidelity.psnr(x, y, data_range=1.0) - got,
                             -20 * np.log10(2.0), rtol=1e-5)


def test_ssim_matches_scikit_image_with_gaussian_weights():
  x, y = _smooth_pairs(1)
  got = np.asarray(fidelity.ssim(x, y, data_range=2.0))
  want = [structural_similarity(a, b, data_range=2.0, channel_axis=-1,
                                gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
          for a, b in zip(x, y)]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  assert 0.0 < float(np.min(got)) < 0.99
  np.testing.assert_allclose(fidelity.ssim(x, x, data_range=2.0), 1.0, rtol=1e-5)


def test_bicubic_resampling_keeps_constants_and_linear_ramps():
  constant = jnp.full((1, 32, 32, 1), 0.3)
  low = fidelity.bicubic_downsample(constant, 4)
  assert low.shape == (1, 8, 8, 1)
  np.testing.assert_allclose(low, 0.3, rtol=1e-5)
  ramp = jnp.broadcast_to(jnp.arange(8.0)[None, None, :, None], (1, 8, 8, 1))
  up = fidelity.bicubic_upsample(ramp, 4)
  assert up.shape == (1, 32, 32, 1)
  # Away from the borders, cubic convolution reproduces a linear ramp
  # (nearest-neighbour would give steps).
  row = np.asarray(up[0, 16, 8:24, 0])
  np.testing.assert_allclose(np.diff(row), 0.25, atol=1e-5)


# --------------------------------------------------------------- VGG19 --

def test_vgg19_features_normalise_for_imagenet_and_pool_between_blocks():
  net = srgan.VGG19Features(last_layer="conv2_1", rngs=nnx.Rngs(0))
  assert net.layers == ("conv1_1", "conv1_2", "conv2_1")
  x = jnp.asarray(np.random.default_rng(6).uniform(-1, 1, (2, 8, 8, 3)), jnp.float32)
  maps = srgan.feature_maps(net, x)
  assert set(maps) == {"conv1_1", "conv1_2", "conv2_1", "output"}
  # [-1, 1] -> [0, 1] -> (x - mean) / std with ImageNet's statistics.
  normalised = ((x + 1) / 2 - jnp.asarray([0.485, 0.456, 0.406])) / jnp.asarray(
      [0.229, 0.224, 0.225])
  np.testing.assert_allclose(maps["conv1_1"], net.conv1_1(normalised), rtol=1e-5, atol=1e-5)
  # Block 2 starts after a 2x2 max pooling; the output is the last ReLU.
  assert maps["conv1_2"].shape == (2, 8, 8, 64) and maps["conv2_1"].shape == (2, 4, 4, 128)
  pooled = nnx.max_pool(jax.nn.relu(maps["conv1_2"]), (2, 2), strides=(2, 2))
  np.testing.assert_allclose(maps["conv2_1"], net.conv2_1(pooled), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(maps["output"], jax.nn.relu(maps["conv2_1"]), rtol=1e-6)
  assert len(srgan.VGG19_LAYERS) == 16 and srgan.VGG19_LAYERS[-1] == "conv5_4"


def test_load_vgg19_reads_converted_weights_and_names_what_is_wrong(tmp_path):
  rng = np.random.default_rng(7)
  arrays = {"conv1_1/kernel": rng.normal(size=(3, 3, 3, 64)),
            "conv1_1/bias": rng.normal(size=(64,)),
            "conv1_2/kernel": rng.normal(size=(3, 3, 64, 64)),
            "conv1_2/bias": rng.normal(size=(64,))}
  np.savez(tmp_path / "vgg.npz", **arrays)
  net = srgan.load_vgg19(str(tmp_path / "vgg.npz"), last_layer="conv1_2")
  np.testing.assert_allclose(net.conv1_2.kernel.get_value(), arrays["conv1_2/kernel"],
                             rtol=1e-6)
  np.testing.assert_allclose(net.conv1_1.bias.get_value(), arrays["conv1_1/bias"], rtol=1e-6)
  with pytest.raises(ValueError, match="'conv2_1/kernel'"):
    srgan.load_vgg19(str(tmp_path / "vgg.npz"), last_layer="conv2_1")
  arrays["conv1_1/kernel"] = arrays["conv1_1/kernel"][:, :, :1]
  np.savez(tmp_path / "bad.npz", **arrays)
  with pytest.raises(ValueError, match=r"'conv1_1/kernel' has shape \(3, 3, 1, 64\)"):
    srgan.load_vgg19(str(tmp_path / "bad.npz"), last_layer="conv1_2")
  with pytest.raises(FileNotFoundError):
    srgan.load_vgg19(str(tmp_path / "none.npz"), last_layer="conv1_1")
