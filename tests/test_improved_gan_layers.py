"""Minibatch discrimination and virtual batch norm (arXiv 1606.03498)."""

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.test_util import check_grads
import numpy as np
import pytest

from gans_jax import nn as gnn

# Three examples in two dimensions: L1 distances d01 = 1, d02 = 2, d12 = 3.
POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], np.float32)


def _minibatch_layer(num_kernels=2, kernel_dim=2, in_features=2):
  return gnn.MinibatchDiscrimination(in_features, num_kernels=num_kernels,
                                     kernel_dim=kernel_dim, rngs=nnx.Rngs(0))


def _set_kernels(layer):
  # Kernel 0 maps x to itself, kernel 1 to 2x: distances 1, 2, 3 and 2, 4, 6.
  kernel = np.zeros((2, 2, 2), np.float32)
  kernel[:, 0, :] = np.eye(2)
  kernel[:, 1, :] = 2.0 * np.eye(2)
  layer.kernel[...] = jnp.asarray(kernel)
  return layer


# ---------------------------------------------------------------------------
# Minibatch discrimination.
# ---------------------------------------------------------------------------


def test_minibatch_features_match_a_hand_computed_three_example_batch():
  layer = _set_kernels(_minibatch_layer())
  e = math.exp
  # o(x_i)_b = sum over j != i of exp(-L1), plus the bias -1.
  want = np.array([
      [e(-1) + e(-2), e(-2) + e(-4)],
      [e(-1) + e(-3), e(-2) + e(-6)],
      [e(-2) + e(-3), e(-4) + e(-6)],
  ]) - 1.0
  got = nnx.jit(lambda m, x: m(x))(layer, POINTS)
  assert got.shape == (3, 4)
  np.testing.assert_allclose(got[:, :2], POINTS)
  np.testing.assert_allclose(got[:, 2:], want, rtol=1e-6)


def test_minibatch_features_leave_out_the_example_itself():
  # The paper's sum over all j adds c_b(x_i, x_i) = 1; the official code
  # (and this layer) leaves it out, so one example alone gets only the bias.
  layer = _set_kernels(_minibatch_layer())
  np.testing.assert_allclose(layer.closeness(POINTS[:1]), [[-1.0, -1.0]])
  # Two identical examples are each other's closest: exp(0) = 1 each.
  twins = np.array([[0.5, 0.5], [0.5, 0.5]], np.float32)
  np.testing.assert_allclose(layer.closeness(twins), np.zeros((2, 2)),
                             atol=1e-7)


def test_minibatch_layer_defaults_are_the_official_sizes_and_initial_values():
  layer = gnn.MinibatchDiscrimination(7, rngs=nnx.Rngs(1))
  assert layer.kernel.shape == (7, 100, 5)
  np.testing.assert_array_equal(layer.bias[...], -np.ones(100, np.float32))
  assert float(jnp.std(layer.kernel[...])) == pytest.approx(0.05, rel=0.05)


def test_minibatch_layer_flattens_image_features_and_is_permutation_equivariant():
  layer = _minibatch_layer(num_kernels=3, kernel_dim=4, in_features=12)
  x = jax.random.normal(jax.random.key(0), (5, 2, 2, 3))
  out = layer(x)
  assert out.shape == (5, 15)
  np.testing.assert_allclose(out[:, :12], x.reshape(5, 12))
  order = np.array([3, 0, 4, 1, 2])
  np.testing.assert_allclose(layer(x[order]), out[order], rtol=1e-5)
  # Each example's features depend on the others: change one, all move.
  moved = layer(x.at[4].add(1.0))
  assert not np.allclose(moved[:4, 12:], out[:4, 12:])


def test_minibatch_layer_gradients_match_finite_differences():
  layer = _minibatch_layer(num_kernels=3, kernel_dim=2, in_features=2)
  graphdef, params = nnx.split(layer)

  def total(params, x):
    out = nnx.merge(graphdef, params)(x)
    return jnp.sum(jnp.sin(3.0 * out))

  x = jnp.asarray(POINTS) + 0.1
  check_grads(jax.jit(total), (params, x), order=1, modes=("rev",), eps=1e-3)


def test_minibatch_layer_rejects_the_wrong_feature_size():
  with pytest.raises(ValueError, match="expects 2 features"):
    _minibatch_layer()(np.zeros((3, 5), np.float32))
  with pytest.raises(ValueError, match="num_kernels"):
    gnn.MinibatchDiscrimination(2, num_kernels=0, rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------
# Virtual batch normalisation.
# ---------------------------------------------------------------------------


def _vbn(num_features, reference_size):
  layer = gnn.VirtualBatchNorm(num_features, reference_size=reference_size,
                               rngs=nnx.Rngs(0))
  layer.scale[...] = jnp.linspace(0.5, 1.5, num_features)
  layer.bias[...] = jnp.linspace(-0.2, 0.3, num_features)
  return layer


def _pooled_normalisation(layer, group, index):
  """Example ``index`` of ``group`` normalised with the statistics of all of
  ``group`` (every axis but the channels), the layer's scale and bias."""
  group = np.asarray(group, np.float64)
  axes = tuple(range(group.ndim - 1))
  mean = group.mean(axis=axes)
  variance = np.square(group).mean(axis=axes) - np.square(mean)
  y = (group[index] - mean) / np.sqrt(variance + layer.epsilon)
  return y * np.asarray(layer.scale[...]) + np.asarray(layer.bias[...])


@pytest.mark.parametrize("shape", [(2,), (3, 3, 2)], ids=["dense", "image"])
def test_vbn_normalises_with_the_reference_batch_plus_the_example(shape):
  reference = jax.random.normal(jax.random.key(0), (4, *shape)) * 2.0 + 1.0
  x = jax.random.normal(jax.random.key(1), (3, *shape)) - 3.0
  layer = _vbn(shape[-1], 4)
  ref_out = gnn.virtual_batch_norm_reference(layer, reference)
  out = nnx.jit(lambda m, x: m(x))(layer, x)
  # The reference batch with its own statistics only.
  for i in range(4):
    np.testing.assert_allclose(ref_out[i],
                               _pooled_normalisation(layer, reference, i),
                               rtol=1e-4, atol=1e-5)
  # Each example with the statistics of the N + 1 examples "reference plus
  # itself": weights 1/(N+1) on its own, N/(N+1) on the reference's.
  for i in range(3):
    group = np.concatenate([reference, x[i:i + 1]])
    np.testing.assert_allclose(out[i], _pooled_normalisation(layer, group, 4),
                               rtol=1e-4, atol=1e-5)


def test_vbn_weights_the_example_one_over_n_plus_one():
  # Dense case by hand: N = 3 reference values 0, 1, 2 (mean 1, mean square
  # 5/3) and x = 5: mean (5 + 3)/4 = 2, mean square (25 + 5)/4 = 7.5,
  # variance 3.5.
  layer = gnn.VirtualBatchNorm(1, reference_size=3, epsilon=0.0,
                               scale_init=nnx.initializers.ones,
                               rngs=nnx.Rngs(0))
  gnn.virtual_batch_norm_reference(layer, np.array([[0.0], [1.0], [2.0]]))
  np.testing.assert_allclose(layer.reference_mean[...], [1.0], rtol=1e-6)
  np.testing.assert_allclose(layer.reference_mean_square[...], [5.0 / 3.0],
                             rtol=1e-6)
  got = layer(np.array([[5.0]], np.float32))
  np.testing.assert_allclose(got, [[3.0 / math.sqrt(3.5)]], rtol=1e-6)


def test_vbn_output_depends_on_the_reference_and_the_example_not_the_batch():
  shape = (2, 2, 3)
  reference = jax.random.normal(jax.random.key(0), (5, *shape))
  x = jax.random.normal(jax.random.key(1), (4, *shape))
  layer = _vbn(3, 5)
  gnn.virtual_batch_norm_reference(layer, reference)
  out = layer(x)
  # The other examples of the batch do not matter (unlike BatchNorm) ...
  np.testing.assert_allclose(layer(x.at[1:].multiply(7.0))[0], out[0],
                             rtol=1e-6)
  np.testing.assert_allclose(layer(x[:1])[0], out[0], rtol=1e-6)
  # ... nor is the example normalised by its own statistics alone ...
  own = (x - x.mean(axis=(1, 2), keepdims=True)) / jnp.sqrt(
      x.var(axis=(1, 2), keepdims=True) + layer.epsilon)
  assert not np.allclose(out, own * layer.scale[...] + layer.bias[...],
                         atol=1e-2)
  # ... while another reference batch changes every output.
  gnn.virtual_batch_norm_reference(layer, reference * 3.0 + 1.0)
  assert not np.allclose(layer(x)[0], out[0], atol=1e-2)


def test_vbn_reference_statistics_live_in_the_module_state():
  reference = jax.random.normal(jax.random.key(0), (4, 3)) + 2.0
  x = jax.random.normal(jax.random.key(1), (2, 3))
  layer = _vbn(3, 4)
  gnn.virtual_batch_norm_reference(layer, reference)
  out = layer(x)
  graphdef, params, stats = nnx.split(layer, nnx.Param, nnx.BatchStat)
  np.testing.assert_allclose(stats["reference_mean"][...],
                             reference.mean(axis=0), rtol=1e-6)
  # A copy through host arrays (a checkpoint) gives the same outputs.
  host = jax.tree.map(np.asarray, (params, stats))
  restored = nnx.merge(graphdef, *host)
  assert restored.reference_pass is False
  np.testing.assert_array_equal(restored(x), out)
  # Without those statistics (a fresh layer), the outputs differ.
  fresh = nnx.merge(graphdef, params, nnx.state(_vbn(3, 4), nnx.BatchStat))
  assert not np.allclose(fresh(x), out, atol=1e-2)


class _LinearVBN(nnx.Module):

  def __init__(self, *, rngs):
    self.linear = nnx.Linear(3, 4, rngs=rngs)
    self.norm = gnn.VirtualBatchNorm(4, reference_size=5, rngs=rngs)

  def __call__(self, x):
    return jnp.tanh(self.norm(self.linear(x)))


def test_vbn_step_differentiates_through_the_reference_statistics():
  model = _LinearVBN(rngs=nnx.Rngs(0))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  reference = jax.random.normal(jax.random.key(0), (5, 3))
  x = jax.random.normal(jax.random.key(1), (6, 3))
  w = jax.random.normal(jax.random.key(2), (6, 4))

  def loss(params, rest):
    module = nnx.merge(graphdef, params, rest, copy=True)
    gnn.virtual_batch_norm_reference(module, reference)
    value = jnp.sum(w * module(x))
    return value, nnx.state(module, nnx.Not(nnx.Param))

  # Finite differences move the reference statistics with the parameters.
  check_grads(lambda p: loss(p, rest)[0], (params,), order=1, modes=("rev",),
              eps=1e-3)
  (value, new_rest), grads = jax.jit(
      jax.value_and_grad(loss, has_aux=True))(params, rest)
  # The step's reference statistics come back in the state.
  hidden = model.linear(reference)
  np.testing.assert_allclose(new_rest["norm"]["reference_mean"][...],
                             hidden.mean(axis=0), rtol=1e-5, atol=1e-6)

  # Holding the reference statistics constant gives another gradient.
  def loss_frozen(params):
    module = nnx.merge(graphdef, params, new_rest, copy=True)
    return jnp.sum(w * module(x))

  frozen_value, frozen_grads = jax.value_and_grad(loss_frozen)(params)
  assert float(frozen_value) == pytest.approx(float(value), rel=1e-5)
  assert not np.allclose(frozen_grads["linear"]["kernel"][...],
                         grads["linear"]["kernel"][...], atol=1e-4)


def test_vbn_reference_pass_checks_its_batch_and_the_model():
  layer = _vbn(2, 4)
  with pytest.raises(ValueError, match="reference_size=4"):
    gnn.virtual_batch_norm_reference(layer, np.zeros((3, 2), np.float32))
  # The flag is reset even when the pass fails.
  assert layer.reference_pass is False
  with pytest.raises(ValueError, match="no VirtualBatchNorm"):
    gnn.virtual_batch_norm_reference(nnx.Linear(2, 2, rngs=nnx.Rngs(0)),
                                     np.zeros((4, 2), np.float32))
  with pytest.raises(ValueError, match="channels"):
    layer(np.zeros((2, 3), np.float32))


# ------------------------------------------------ convolutional networks --

def test_conv_discriminator_logits_give_d_of_z_over_z_plus_one():
  from gans_jax import losses
  d = gnn.SemiSupervisedConvDiscriminator((32, 32, 3), channels=(4, 6),
                                          minibatch_kernels=3,
                                          minibatch_kernel_dim=2,
                                          rngs=nnx.Rngs(0))
  d.eval()
  x = jax.random.uniform(jax.random.key(1), (5, 32, 32, 3), minval=-1)
  logits, features = d(x, features=True)
  assert logits.shape == (5, 10) and logits.dtype == jnp.float32
  assert features["last_hidden"].shape == (5, 6)
  assert features["minibatch"].shape == (5, 9)
  assert features["hidden6"].shape == (5, 6, 6, 6)  # the 3x3 'VALID' layer
  z = np.exp(np.asarray(logits, np.float64)).sum(-1)
  d_of_x = jax.nn.sigmoid(losses.k_plus_one_logit(logits))
  np.testing.assert_allclose(d_of_x, z / (z + 1), rtol=1e-5)
  # Dropout only in training mode.
  np.testing.assert_array_equal(d(x), logits)
  d.train()
  assert not np.allclose(d(x, rngs=jax.random.key(2)), logits)


def test_weight_normed_layer_uses_the_normalised_kernel_times_its_scale():
  layer = gnn.WeightNormed(nnx.Conv(3, 4, (3, 3), use_bias=False,
                                    rngs=nnx.Rngs(0)), 4)
  layer.scale[...] = jnp.arange(1.0, 5.0)
  layer.bias[...] = jnp.full((4,), 0.5)
  x = jax.random.normal(jax.random.key(1), (2, 5, 5, 3))
  v = layer.layer.kernel[...]
  w = v / jnp.linalg.norm(v.reshape(-1, 4), axis=0) * jnp.arange(1.0, 5.0)
  expected = jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + 0.5
  np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
  # The scale and bias are trained parameters.
  names = {"/".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(layer, nnx.Param))}
  assert {"scale", "bias", "layer/kernel"} <= names


def test_conv_generator_maps_z_to_images_in_minus_one_one():
  g = gnn.ImprovedConvGenerator(6, (32, 32, 3), channels=(8, 4, 4),
                                rngs=nnx.Rngs(0))
  x = g(jax.random.uniform(jax.random.key(0), (3, 6)))
  assert x.shape == (3, 32, 32, 3) and np.abs(np.asarray(x)).max() <= 1.0
  with pytest.raises(ValueError, match="divisible"):
    gnn.ImprovedConvGenerator(6, (20, 20, 3), channels=(8, 4, 4), rngs=nnx.Rngs(0))
