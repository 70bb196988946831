"""The phase form of the stride-2 transposed convolution is exact."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from gans_jax.nn import layers
from gans_jax.nn.layers import (ConvTranspose2x, LatentProjection,
                                conv_transpose_stride2)

# DCGAN's and the U-Net's case, K = 4, p = 1, in each form.
conv_transpose2x_phase = functools.partial(conv_transpose_stride2,
                                           implementation="phase")
conv_transpose2x_direct = functools.partial(conv_transpose_stride2,
                                            implementation="direct")

# (batch, height, width, in_channels, out_channels): odd, even, non-square.
SHAPES = [
    (1, 1, 1, 1, 1),
    (2, 2, 2, 1, 3),
    (2, 3, 5, 2, 3),
    (1, 4, 4, 5, 2),
    (3, 7, 6, 3, 4),
]


def _scatter_reference(x, kernel, *, stride, padding):
  """Transposed convolution as the literal scatter-add of its definition.

  Input pixel (i, j) adds ``x[i, j] @ kernel[k, l]`` to output pixel
  ``(stride*i + k - padding, stride*j + l - padding)``.
  """
  x = np.asarray(x, np.float64)
  kernel = np.asarray(kernel, np.float64)
  b, h, w, _ = x.shape
  kh, kw, _, c_out = kernel.shape
  full = np.zeros((b, stride * (h - 1) + kh, stride * (w - 1) + kw, c_out))
  for i in range(h):
    for j in range(w):
      for k in range(kh):
        for l in range(kw):
          full[:, stride * i + k, stride * j + l] += x[:, i, j] @ kernel[k, l]
  out_h = stride * (h - 1) + kh - 2 * padding
  out_w = stride * (w - 1) + kw - 2 * padding
  return full[:, padding:padding + out_h, padding:padding + out_w]


def _random(shape, seed):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


@pytest.mark.parametrize("impl", [conv_transpose2x_phase,
                                  conv_transpose2x_direct])
def test_2x2_single_channel_matches_hand_scatter(impl):
  x = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
  kernel = jnp.arange(16.0).reshape(4, 4, 1, 1) / 10.0
  y = impl(x, kernel)[0, :, :, 0]
  # y[2i + k - 1, 2j + l - 1] += x[i, j] * w[k, l]; the corner output (0, 0)
  # only receives x[0, 0] * w[1, 1], and (3, 3) only x[1, 1] * w[2, 2].
  assert y.shape == (4, 4)
  np.testing.assert_allclose(y[0, 0], 1.0 * 0.5, rtol=1e-6)
  np.testing.assert_allclose(y[3, 3], 4.0 * 1.0, rtol=1e-6)
  # Output (1, 1): taps (k, l) in {(2, 2) from x00, (2, 0) from x01,
  # (0, 2) from x10, (0, 0) from x11}.
  np.testing.assert_allclose(
      y[1, 1], 1 * 1.0 + 2 * 0.8 + 3 * 0.2 + 4 * 0.0, rtol=1e-6)
  np.testing.assert_allclose(
      y, _scatter_reference(x, kernel, stride=2, padding=1)[0, :, :, 0],
      rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_phase_and_direct_match_scatter_definition_under_jit(shape):
  b, h, w, c_in, c_out = shape
  x = _random((b, h, w, c_in), 0)
  kernel = _random((4, 4, c_in, c_out), 1)
  expected = _scatter_reference(x, kernel, stride=2, padding=1)
  phase = jax.jit(conv_transpose2x_phase)(x, kernel)
  direct = jax.jit(conv_transpose2x_direct)(x, kernel)
  assert phase.shape == (b, 2 * h, 2 * w, c_out)
  np.testing.assert_allclose(phase, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(direct, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(phase, direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES[1:4])
def test_phase_matches_dilated_correlation_and_nnx_conv_transpose(shape):
  b, h, w, c_in, c_out = shape
  x = _random((b, h, w, c_in), 2)
  kernel = _random((4, 4, c_in, c_out), 3)
  phase = conv_transpose2x_phase(x, kernel)
  # A transposed convolution is a correlation of the 2x-dilated input with
  # the spatially flipped kernel (padding 4 - 1 - 1 = 2 on each side).
  dilated = jax.lax.conv_general_dilated(
      x, kernel[::-1, ::-1], window_strides=(1, 1), padding=((2, 2), (2, 2)),
      lhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(phase, dilated, rtol=1e-5, atol=1e-5)
  # Flax's ConvTranspose does not flip its kernel: give it the flipped one.
  layer = nnx.ConvTranspose(c_in, c_out, (4, 4), strides=(2, 2),
                            padding=((2, 2), (2, 2)), use_bias=False,
                            kernel_init=nnx.initializers.zeros,
                            rngs=nnx.Rngs(0))
  layer.kernel[...] = kernel[::-1, ::-1]
  np.testing.assert_allclose(phase, layer(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_phase_gradients_match_direct_gradients_under_jit(shape):
  b, h, w, c_in, c_out = shape
  x = _random((b, h, w, c_in), 4)
  kernel = _random((4, 4, c_in, c_out), 5)
  cotangent = _random((b, 2 * h, 2 * w, c_out), 6)

  def grads(fn):
    def loss(x, kernel):
      return jnp.sum(fn(x, kernel) * cotangent)
    return jax.jit(jax.grad(loss, argnums=(0, 1)))(x, kernel)

  (gx_phase, gk_phase), (gx_direct, gk_direct) = (
      grads(conv_transpose2x_phase), grads(conv_transpose2x_direct))
  assert gx_phase.shape == x.shape and gk_phase.shape == kernel.shape
  np.testing.assert_allclose(gx_phase, gx_direct, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(gk_phase, gk_direct, rtol=1e-5, atol=1e-4)


def test_phase_gradients_match_finite_differences():
  x = _random((1, 3, 2, 2), 7)
  kernel = _random((4, 4, 2, 2), 8)
  check_grads(conv_transpose2x_phase, (x, kernel), order=1, modes=("rev",),
              atol=2e-2, rtol=2e-2)


def test_layer_implementations_share_parameters_and_outputs():
  phase = ConvTranspose2x(3, 5, implementation="phase", rngs=nnx.Rngs(0))
  direct = ConvTranspose2x(3, 5, implementation="direct", rngs=nnx.Rngs(1))
  bias = _random((5,), 9)
  phase.bias[...] = bias
  assert not np.allclose(phase.kernel[...], direct.kernel[...])
  nnx.update(direct, nnx.state(phase, nnx.Param))
  x = _random((2, 5, 3, 3), 10)
  y = phase(x)
  np.testing.assert_allclose(y, direct(x), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      y, conv_transpose2x_direct(x, phase.kernel[...]) + bias,
      rtol=1e-5, atol=1e-5)


def test_auto_takes_the_phase_form_on_cpu_and_the_direct_form_elsewhere(monkeypatch):
  assert layers.conv_transpose2x_implementation("auto") == "phase"  # tests run on CPU
  layer = ConvTranspose2x(3, 5, rngs=nnx.Rngs(0))
  assert layer.implementation == "auto"
  calls = []
  for backend in ("gpu", "tpu", "cpu"):
    monkeypatch.setattr(layers.jax, "default_backend", lambda b=backend: b)
    form = layers.conv_transpose2x_implementation("auto")
    calls.append(form)
    assert layers.conv_transpose2x_implementation("phase") == "phase"
  assert calls == ["direct", "direct", "phase"]
  # The layer resolves it when called, so the same weights run either way.
  monkeypatch.setattr(layers.jax, "default_backend", lambda: "gpu")
  used = []
  real = layers.jax.lax.conv_transpose
  monkeypatch.setattr(layers.jax.lax, "conv_transpose",
                      lambda *a, **k: used.append("direct") or real(*a, **k))
  layer(_random((1, 2, 2, 3), 13))
  assert used == ["direct"]


def test_layer_rejects_unknown_implementation():
  with pytest.raises(ValueError, match="phase"):
    ConvTranspose2x(2, 2, implementation="fft", rngs=nnx.Rngs(0))


def test_bias_init_none_draws_no_key_and_a_given_one_draws_one():
  # The translation networks build their zero biases without a key, DCGAN
  # with one: the keys drawn after the layer depend on it.
  def next_key(**kwargs):
    rngs = nnx.Rngs(0)
    ConvTranspose2x(2, 3, rngs=rngs, **kwargs)
    return jax.random.key_data(rngs.params())
  without = ConvTranspose2x(2, 3, bias_init=None, rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(without.bias[...], np.zeros(3, np.float32))
  assert not np.array_equal(next_key(bias_init=None), next_key())
  np.testing.assert_array_equal(next_key(bias_init=None), next_key(use_bias=False))


def test_latent_projection_equals_valid_transposed_conv_from_1x1():
  layer = LatentProjection(6, 5, size=4, rngs=nnx.Rngs(0))
  layer.bias[...] = _random((5,), 11)
  z = _random((3, 6), 12)
  kernel = layer.kernel[...]
  expected = jax.lax.conv_transpose(
      z[:, None, None, :], kernel, strides=(1, 1), padding="VALID",
      dimension_numbers=("NHWC", "HWOI", "NHWC"),
      transpose_kernel=True) + layer.bias[...]
  y = jax.jit(lambda z: layer(z))(z)
  assert y.shape == (3, 4, 4, 5)
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      y - layer.bias[...],
      _scatter_reference(z[:, None, None, :], kernel, stride=1, padding=0),
      rtol=1e-5, atol=1e-5)
