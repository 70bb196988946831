"""Shapes, ranges, conditioning, initialisation and train/eval behaviour of
the gans_jax.nn architectures.

Compilation dominates the run time on CPU, so the tests reuse a few small
model configurations and batch shapes, and check structure with
``nnx.eval_shape`` where no numbers are needed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gans_jax import nn as gnn

LATENT = 16
BATCH = 4

# One compiled program per model configuration: cheaper than op-by-op on
# CPU, and it runs the models under jit as a training step will.
_call = nnx.jit(lambda model, *args, **kwargs: model(*args, **kwargs))


# Inputs are drawn with numpy: XLA:CPU compiles JAX's sampler for every new
# shape, which is slow (seconds for 4-D shapes).
def _z(batch=BATCH, dim=LATENT, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(batch, dim)),
                     jnp.float32)


def _images(batch, size, channels, seed=1):
  x = np.random.default_rng(seed).uniform(-1.0, 1.0,
                                          (batch, size, size, channels))
  return jnp.asarray(x, jnp.float32)


def _with_other_batch_mates(x):
  """Same first example, different (rescaled, shifted) batch mates."""
  return jnp.concatenate([x[:1], 3.0 * x[1:] + 0.5])


def _assert_first_example_independent_of_batch(model, x):
  np.testing.assert_allclose(_call(model, x)[0],
                             _call(model, _with_other_batch_mates(x))[0],
                             rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- DCGAN -----

@pytest.mark.parametrize("size", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_output_shapes(size, channels):
  # Shapes only: traced abstractly, nothing is compiled.
  def generate(z):
    return gnn.DCGANGenerator(LATENT, image_size=size, channels=channels,
                              rngs=nnx.Rngs(0))(z)

  def discriminate(x):
    return gnn.DCGANDiscriminator(image_size=size, channels=channels,
                                  rngs=nnx.Rngs(1))(x)

  x = jax.eval_shape(generate, _z())
  assert x.shape == (BATCH, size, size, channels)
  assert jax.eval_shape(discriminate, x).shape == (BATCH,)


@pytest.mark.parametrize("size,channels", [(32, 3), (64, 1)])
def test_dcgan_value_ranges(size, channels):
  g = gnn.DCGANGenerator(LATENT, image_size=size, channels=channels,
                         features=4, rngs=nnx.Rngs(0))
  d = gnn.DCGANDiscriminator(image_size=size, channels=channels, features=4,
                             rngs=nnx.Rngs(1))
  x = _call(g, _z() * 10)
  assert x.shape == (BATCH, size, size, channels)
  assert float(jnp.min(x)) >= -1.0 and float(jnp.max(x)) <= 1.0
  assert float(jnp.min(x)) < 0.0 < float(jnp.max(x))
  logits = _call(d, x)
  assert logits.shape == (BATCH,)
  assert np.all(np.isfinite(logits)) and float(jnp.std(logits)) > 0.0


@pytest.mark.parametrize("size,levels", [(32, 3), (64, 4)])
def test_dcgan_widths_follow_the_reference_layout(size, levels):
  g = nnx.eval_shape(lambda: gnn.DCGANGenerator(
      100, image_size=size, channels=3, features=64, rngs=nnx.Rngs(0)))
  assert g.project.kernel.shape == (4, 4, 100, 64 * 2 ** (levels - 1))
  assert [u.kernel.shape[-1] for u in g.upsample] == (
      [64 * 2 ** (levels - 2 - i) for i in range(levels - 1)] + [3])
  d = nnx.eval_shape(lambda: gnn.DCGANDiscriminator(
      image_size=size, channels=3, rngs=nnx.Rngs(0)))
  assert [c.kernel.shape[-1] for c in d.downsample] == (
      [64 * 2 ** i for i in range(levels)])
  assert d.output.kernel.shape == (4, 4, 64 * 2 ** (levels - 1), 1)
  # No BatchNorm on the discriminator's first layer nor the generator's
  # output; BatchNorm after every other layer.
  assert len(d.norms) == levels - 1 and len(g.norms) == levels
  # Biases only where no normalisation follows.
  assert g.project.bias is None and g.upsample[0].bias is None
  assert g.upsample[-1].bias is not None
  assert d.downsample[0].bias is not None and d.downsample[1].bias is None


@pytest.mark.parametrize("model", ["generator", "discriminator"])
def test_dcgan_rejects_unsupported_image_size(model):
  with pytest.raises(ValueError, match=r"\(8, 16, 32, 64\).*48"):
    if model == "generator":
      gnn.DCGANGenerator(image_size=48, channels=3, rngs=nnx.Rngs(0))
    else:
      gnn.DCGANDiscriminator(image_size=48, channels=3, rngs=nnx.Rngs(0))


def test_dcgan_discriminator_rejects_bad_norm_and_wrong_image_shape():
  with pytest.raises(ValueError, match="norm"):
    gnn.DCGANDiscriminator(image_size=32, channels=3, norm="instance",
                           rngs=nnx.Rngs(0))
  d = gnn.DCGANDiscriminator(image_size=32, channels=3, features=4,
                             rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="32, 32, 3"):
    d(_images(2, 32, 1))


def test_dcgan_generator_without_batch_norm_has_no_batch_stats():
  g = gnn.DCGANGenerator(LATENT, image_size=32, channels=3, features=4,
                         batch_norm=False, rngs=nnx.Rngs(0))
  assert not jax.tree.leaves(nnx.state(g, nnx.BatchStat))
  assert all(u.bias is not None for u in g.upsample)
  _assert_first_example_independent_of_batch(g, _z())


@pytest.mark.parametrize("norm", ["layer", None])
def test_dcgan_critic_without_batch_norm_scores_examples_independently(norm):
  d = gnn.DCGANDiscriminator(image_size=32, channels=3, features=4, norm=norm,
                             rngs=nnx.Rngs(0))
  assert not jax.tree.leaves(nnx.state(d, nnx.BatchStat))
  assert len(d.norms) == (2 if norm else 0)
  _assert_first_example_independent_of_batch(d, _images(BATCH, 32, 3))


def test_dcgan_generator_direct_and_phase_upsampling_agree():
  phase = gnn.DCGANGenerator(LATENT, image_size=32, channels=3, features=4,
                             conv_transpose="phase", rngs=nnx.Rngs(0))
  direct = gnn.DCGANGenerator(LATENT, image_size=32, channels=3, features=4,
                              conv_transpose="direct", rngs=nnx.Rngs(0))
  assert all(u.implementation == "phase" for u in phase.upsample)
  assert all(u.implementation == "direct" for u in direct.upsample)
  np.testing.assert_allclose(_call(phase, _z()), _call(direct, _z()),
                             rtol=1e-4, atol=1e-5)


def test_dcgan_initialisation_statistics():
  # The 64x64 models of the value-range test (compiled initialisers are
  # reused).
  g = gnn.DCGANGenerator(LATENT, image_size=64, channels=1, features=4,
                         rngs=nnx.Rngs(0))
  d = gnn.DCGANDiscriminator(image_size=64, channels=1, features=4,
                             rngs=nnx.Rngs(1))
  kernels = [g.project.kernel[...]] + [u.kernel[...] for u in g.upsample]
  kernels += [c.kernel[...] for c in d.downsample] + [d.output.kernel[...]]
  weights = jnp.concatenate([k.ravel() for k in kernels])
  assert weights.size > 20_000
  assert abs(float(jnp.std(weights)) - 0.02) < 0.0005
  assert abs(float(jnp.mean(weights))) < 0.0005
  # Excess kurtosis of a Gaussian is 0 (a uniform's is -1.2).
  kurtosis = float(jnp.mean(weights ** 4) / jnp.mean(weights ** 2) ** 2) - 3
  assert abs(kurtosis) < 0.2
  norms = list(g.norms) + list(d.norms)
  scales = jnp.concatenate([n.scale[...] for n in norms])
  biases = jnp.concatenate([n.bias[...] for n in norms])
  assert scales.size > 100
  assert abs(float(jnp.mean(scales)) - 1.0) < 0.006
  assert abs(float(jnp.std(scales)) - 0.02) < 0.005
  assert float(jnp.max(jnp.abs(biases))) == 0.0


# --------------------------------------------------------------- ResNet -----

def test_resnet_generator_and_critic_shapes_and_ranges():
  g = gnn.ResNetGenerator32(LATENT, channels=3, features=4, rngs=nnx.Rngs(0))
  x = _call(g, _z())
  assert x.shape == (BATCH, 32, 32, 3)
  assert float(jnp.min(x)) >= -1.0 and float(jnp.max(x)) <= 1.0
  assert float(jnp.std(x)) > 0.0
  assert [b.resample for b in g.blocks] == ["up", "up", "up"]
  critic = gnn.ResNetCritic32(channels=3, features=4, rngs=nnx.Rngs(1))
  scores = _call(critic, x)
  assert scores.shape == (BATCH,) and np.all(np.isfinite(scores))
  assert [getattr(b, "resample", "optimized") for b in critic.blocks] == [
      "optimized", "down", None, None]


@pytest.mark.parametrize("norm", [None, "layer"])
def test_resnet_critic_has_no_batch_norm_and_scores_examples_independently(
    norm):
  critic = gnn.ResNetCritic32(channels=3, features=4, norm=norm,
                              rngs=nnx.Rngs(1))
  assert not jax.tree.leaves(nnx.state(critic, nnx.BatchStat))
  has_layer_norm = any(isinstance(m, nnx.LayerNorm)
                       for _, m in nnx.iter_graph(critic))
  assert has_layer_norm == (norm == "layer")
  _assert_first_example_independent_of_batch(critic, _images(BATCH, 32, 3))


def test_resnet_critic_refuses_batch_norm():
  with pytest.raises(ValueError, match="layer"):
    gnn.ResNetCritic32(norm="batch", rngs=nnx.Rngs(0))


def test_resnet_blocks_resample_as_documented():
  x = _images(2, 8, 4)
  rngs = nnx.Rngs(0)
  up = gnn.ResidualBlock(4, 6, resample="up", norm="batch", rngs=rngs)
  down = gnn.ResidualBlock(4, 6, resample="down", norm="layer", rngs=rngs)
  same = nnx.eval_shape(lambda: gnn.ResidualBlock(
      4, 4, resample=None, norm=None, rngs=nnx.Rngs(0)))
  assert _call(up, x).shape == (2, 16, 16, 6)
  assert _call(down, x).shape == (2, 4, 4, 6)
  assert same.shortcut is None and same.norm1 is None
  with pytest.raises(ValueError, match="resample"):
    gnn.ResidualBlock(4, 4, resample="sideways", norm=None, rngs=rngs)
  np.testing.assert_allclose(gnn.upsample_nearest(x)[:, 1::2, ::2], x)
  np.testing.assert_allclose(gnn.upsample_nearest(x)[:, ::2, 1::2], x)
  np.testing.assert_allclose(
      gnn.mean_pool(x),
      (x[:, ::2, ::2] + x[:, 1::2, ::2] + x[:, ::2, 1::2] + x[:, 1::2, 1::2])
      / 4, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ MLP -----

def test_mlp_generator_output_shapes_and_activations():
  rngs = nnx.Rngs(0)
  g = gnn.MLPGenerator(LATENT, (28, 28, 1), hidden=(32, 32), rngs=rngs)
  x = _call(g, _z() * 10)
  assert x.shape == (BATCH, 28, 28, 1)
  assert float(jnp.min(x)) >= 0.0 and float(jnp.max(x)) <= 1.0
  g_tanh = gnn.MLPGenerator(LATENT, 5, hidden=(32,), output_activation="tanh",
                            rngs=rngs)
  y = _call(g_tanh, _z() * 10)
  assert float(jnp.min(y)) < 0.0 and float(jnp.max(jnp.abs(y))) <= 1.0
  toy = gnn.MLPGenerator(2, 2, hidden=(512, 512, 512), output_activation=None,
                         rngs=rngs)
  points = _call(toy, _z(256, 2) * 100)
  assert points.shape == (256, 2)
  assert float(jnp.max(jnp.abs(points))) > 1.0  # unbounded output


def test_mlp_discriminator_variants():
  rngs = nnx.Rngs(0)
  d = gnn.MLPDiscriminator((28, 28, 1), hidden=(16, 16), rngs=rngs)
  d.eval()
  assert _call(d, _images(BATCH, 28, 1)).shape == (BATCH,)
  with pytest.raises(ValueError, match=r"\(B, 28, 28, 1\)"):
    d(_z(BATCH, 2))
  critic = gnn.MLPDiscriminator(2, hidden=(512, 512, 512), maxout_pieces=None,
                                dropout=0.0, input_dropout=0.0,
                                layer_norm=True, activation="elu", rngs=rngs)
  assert not critic.maxout and len(critic.norms) == 3
  assert critic.input_dropout is None and not critic.dropouts
  # LayerNorm is per example: fine for a gradient-penalty critic.
  _assert_first_example_independent_of_batch(critic, _z(BATCH, 2))
  with pytest.raises(ValueError, match="activation"):
    gnn.MLPDiscriminator(2, maxout_pieces=0, activation="swishy", rngs=rngs)


def test_goodfellow_mnist_defaults():
  g = nnx.eval_shape(lambda: gnn.MLPGenerator(100, (28, 28, 1),
                                              rngs=nnx.Rngs(0)))
  assert [layer.kernel.shape for layer in g.hidden] == [(100, 1200),
                                                        (1200, 1200)]
  assert g.output.kernel.shape == (1200, 784)
  d = nnx.eval_shape(lambda: gnn.MLPDiscriminator((28, 28, 1),
                                                  rngs=nnx.Rngs(0)))
  # 240 maxout units of 5 pieces each.
  assert [layer.linear.kernel.shape for layer in d.hidden] == [(784, 1200),
                                                               (240, 1200)]
  assert d.output.kernel.shape == (240, 1)
  assert d.input_dropout.rate == 0.2
  assert [layer.rate for layer in d.dropouts] == [0.5, 0.5]


# --------------------------------------------------------- conditioning -----

def test_conditional_models_use_labels_and_check_them():
  rngs = nnx.Rngs(0)
  models = [
      (gnn.DCGANGenerator(LATENT, image_size=32, channels=1, features=4,
                          num_classes=10, rngs=rngs), _z()),
      (gnn.DCGANDiscriminator(image_size=32, channels=1, features=4,
                              num_classes=10, norm=None, rngs=rngs),
       _images(BATCH, 32, 1)),
      (gnn.MLPGenerator(LATENT, 5, hidden=(8,), num_classes=10, rngs=rngs),
       _z()),
      (gnn.MLPDiscriminator(5, hidden=(8,), num_classes=10, dropout=0.0,
                            input_dropout=0.0, rngs=rngs),
       _z(BATCH, 5)),
  ]
  for model, inputs in models:
    name = type(model).__name__
    model.eval()  # so that BatchNorm does not couple the examples
    a = _call(model, inputs, jnp.array([0, 1, 2, 3]))
    b = _call(model, inputs, jnp.array([9, 1, 2, 3]))
    assert not np.allclose(a[0], b[0]), name
    np.testing.assert_allclose(a[1:], b[1:], rtol=1e-6, err_msg=name)
    with pytest.raises(ValueError, match="needs labels"):
      model(inputs)
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
      model(inputs, jnp.zeros((BATCH, 1), jnp.int32))


@pytest.mark.parametrize("make", [
    lambda r: gnn.DCGANGenerator(LATENT, image_size=32, channels=1,
                                 features=4, rngs=r),
    lambda r: gnn.DCGANDiscriminator(image_size=32, channels=1, features=4,
                                     rngs=r),
    lambda r: gnn.ResNetGenerator32(LATENT, features=4, rngs=r),
    lambda r: gnn.ResNetCritic32(channels=1, features=4, rngs=r),
    lambda r: gnn.MLPGenerator(LATENT, 3, hidden=(4,), rngs=r),
    lambda r: gnn.MLPDiscriminator(3, hidden=(4,), rngs=r),
])
def test_unconditional_models_refuse_labels(make):
  model = nnx.eval_shape(lambda: make(nnx.Rngs(0)))
  inputs = {"DCGANDiscriminator": jnp.zeros((2, 32, 32, 1)),
            "ResNetCritic32": jnp.zeros((2, 32, 32, 1)),
            "MLPDiscriminator": jnp.zeros((2, 3))}.get(type(model).__name__,
                                                      _z(2))
  with pytest.raises(ValueError, match="unconditional"):
    model(inputs, jnp.array([0, 1]))


# --------------------------------------------------------------- layers -----

def test_maxout_matches_hand_computation():
  layer = gnn.Maxout(2, 2, pieces=3, rngs=nnx.Rngs(0))
  # Columns 0..2 are unit 0's pieces, 3..5 unit 1's.
  layer.linear.kernel[...] = jnp.array([[1.0, -1.0, 0.0, 2.0, 0.5, -3.0],
                                        [0.0, 1.0, 1.0, 0.0, 0.5, 1.0]])
  layer.linear.bias[...] = jnp.array([0.0, 0.0, -1.0, 0.0, 1.0, 0.0])
  x = jnp.array([[1.0, 2.0], [-2.0, 1.0]])
  # x0: pieces u0 = (1, 1, 1), u1 = (2, 2.5, -1); x1: u0 = (-2, 3, 0),
  # u1 = (-4, 0.5, 7).
  np.testing.assert_allclose(_call(layer, x), [[1.0, 2.5], [3.0, 7.0]])
  with pytest.raises(ValueError):
    gnn.Maxout(2, 2, pieces=0, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_fan_avg_uniform_has_the_tflib_standard_deviation(scale):
  shape = (3, 3, 64, 32)
  w = gnn.fan_avg_uniform(scale)(jax.random.key(0), shape)
  fan_in, fan_out = 9 * 64, 9 * 32
  std = np.sqrt(2.0 * scale / (fan_in + fan_out))
  assert w.shape == shape
  assert abs(float(jnp.std(w)) / std - 1.0) < 0.03
  assert float(jnp.max(jnp.abs(w))) <= np.sqrt(3.0) * std * (1 + 1e-6)
  assert float(jnp.max(jnp.abs(w))) > 0.95 * np.sqrt(3.0) * std


def test_get_activation():
  x = jnp.array([-1.0, 2.0])
  np.testing.assert_allclose(gnn.get_activation("leaky_relu")(x), [-0.2, 2.0])
  np.testing.assert_allclose(gnn.get_activation(None)(x), x)
  with pytest.raises(ValueError, match="relu"):
    gnn.get_activation("relu6")


def test_models_hold_no_rng_state():
  makers = [
      lambda: gnn.MLPDiscriminator(3, hidden=(4,), rngs=nnx.Rngs(0)),
      lambda: gnn.DCGANGenerator(LATENT, image_size=32, channels=1,
                                 features=2, rngs=nnx.Rngs(0)),
      lambda: gnn.ResNetCritic32(features=2, norm="layer", rngs=nnx.Rngs(0)),
  ]
  for make in makers:
    model = nnx.eval_shape(make)
    assert jax.tree.leaves(nnx.state(model, nnx.Param))
    assert not jax.tree.leaves(nnx.state(model, nnx.RngState))


# ---------------------------------------------------- train / eval mode -----

def test_dropout_needs_a_key_in_train_mode_and_is_off_in_eval_mode():
  d = gnn.MLPDiscriminator(6, hidden=(32, 32), rngs=nnx.Rngs(0))
  x = _z(BATCH, 6)
  with pytest.raises(ValueError, match="rngs"):
    d(x)
  key = jax.random.key(7)
  train_scores = _call(d, x, rngs=key)
  np.testing.assert_array_equal(train_scores, _call(d, x, rngs=key))
  assert not np.allclose(train_scores, _call(d, x, rngs=jax.random.key(8)))
  assert _call(d, x, rngs=nnx.Rngs(dropout=3)).shape == (BATCH,)
  d.eval()
  eval_scores = _call(d, x, rngs=key)
  assert not np.allclose(eval_scores, train_scores)
  np.testing.assert_array_equal(eval_scores,
                                _call(d, x, rngs=jax.random.key(8)))
  np.testing.assert_array_equal(eval_scores, _call(d, x))
  d.train()
  np.testing.assert_array_equal(_call(d, x, rngs=key), train_scores)


def test_dropout_keys_differ_per_layer():
  keys = gnn.dropout_keys(jax.random.key(0), 3)
  data = [jax.random.key_data(k) for k in keys]
  assert len({tuple(np.asarray(k).ravel()) for k in data}) == 3
  rngs = nnx.Rngs(0)
  assert gnn.dropout_keys(rngs, 2) == [rngs, rngs]
  assert gnn.dropout_keys(None, 2) == [None, None]


def _batch_norm_models():
  return {
      "dcgan_generator": (
          gnn.DCGANGenerator(LATENT, image_size=32, channels=3, features=4,
                             rngs=nnx.Rngs(0)), _z()),
      "dcgan_discriminator": (
          gnn.DCGANDiscriminator(image_size=32, channels=3, features=4,
                                 norm="batch", rngs=nnx.Rngs(0)),
          _images(BATCH, 32, 3)),
      "resnet_generator": (
          gnn.ResNetGenerator32(LATENT, features=4, rngs=nnx.Rngs(0)), _z()),
  }


@pytest.mark.parametrize("name", ["dcgan_generator", "dcgan_discriminator",
                                  "resnet_generator"])
@pytest.mark.slow
def test_batch_norm_split_merge_inside_grad_updates_statistics(name):
  model, inputs = _batch_norm_models()[name]
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  @jax.jit
  def step(params, rest, inputs, key):
    def loss(params):
      merged = nnx.merge(graphdef, params, rest, copy=True)
      out = merged(inputs, rngs=key)
      return jnp.mean(out ** 2), nnx.state(merged, nnx.BatchStat)
    return jax.grad(loss, has_aux=True)(params)

  grads, stats = step(params, rest, inputs, jax.random.key(0))
  grad_norm = sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(grads))
  assert np.isfinite(grad_norm) and grad_norm > 0.0
  old = jax.tree.leaves(nnx.state(model, nnx.BatchStat))
  new = jax.tree.leaves(stats)
  assert len(new) == len(old) > 0
  assert all(not np.allclose(a, b) for a, b in zip(old, new))
  if name == "dcgan_generator":
    # First BatchNorm: mean <- 0.9 * 0 + 0.1 * batch mean of the projection.
    projected = model.project(inputs)
    np.testing.assert_allclose(
        stats["norms"][0]["mean"][...],
        0.1 * jnp.mean(projected, axis=(0, 1, 2)), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["dcgan_generator", "dcgan_discriminator",
                                  "resnet_generator"])
def test_eval_mode_uses_running_averages(name):
  model, inputs = _batch_norm_models()[name]
  mates = _with_other_batch_mates(inputs)
  # Train mode: batch statistics couple example 0 to its batch mates.
  assert not np.allclose(_call(model, inputs)[0], _call(model, mates)[0],
                         atol=1e-5)
  model.eval()
  _assert_first_example_independent_of_batch(model, inputs)


# ------------------------------------------------------------- features -----

def _discriminators():
  """(model, input, {feature: shape}, final layer, last_hidden from the
  blocks' outputs) for each discriminator."""
  rngs = nnx.Rngs(0)
  x = _images(BATCH, 32, 3)
  mlp = gnn.MLPDiscriminator((32, 32, 3), hidden=(8, 6), maxout_pieces=2,
                             dropout=0.5, input_dropout=0.2, rngs=rngs)
  dcgan = gnn.DCGANDiscriminator(image_size=32, channels=3, features=4,
                                 rngs=rngs)
  resnet = gnn.ResNetCritic32(channels=3, features=8, rngs=rngs)
  patch = gnn.PatchGANDiscriminator(in_channels=3, features=4, rngs=rngs)
  b = BATCH
  return {
      "mlp": (mlp, x, {"hidden0": (b, 8), "hidden1": (b, 6),
                       "last_hidden": (b, 6)},
              lambda m, h: m.output(h)[:, 0], lambda f: f["hidden1"]),
      "dcgan": (dcgan, x, {"block0": (b, 16, 16, 4), "block1": (b, 8, 8, 8),
                           "block2": (b, 4, 4, 16),
                           "last_hidden": (b, 4, 4, 16)},
                lambda m, h: m.output(h).reshape(b), lambda f: f["block2"]),
      "resnet": (resnet, x, {"block0": (b, 16, 16, 8), "block1": (b, 8, 8, 8),
                             "block2": (b, 8, 8, 8), "block3": (b, 8, 8, 8),
                             "last_hidden": (b, 8)},
                 lambda m, h: m.output(h)[:, 0],
                 lambda f: jnp.mean(jax.nn.relu(f["block3"]), axis=(1, 2))),
      "patchgan": (patch, x, {"block0": (b, 16, 16, 4), "block1": (b, 8, 8, 8),
                              "block2": (b, 4, 4, 16), "block3": (b, 3, 3, 32),
                              "last_hidden": (b, 3, 3, 32)},
                   lambda m, h: m.output(h), lambda f: f["block3"]),
  }


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet", "patchgan"])
def test_discriminator_features_come_from_the_same_forward_pass(name):
  from gans_jax.train import Network
  model, x, shapes, final, last = _discriminators()[name]
  network = Network.create(model)
  key = jax.random.key(3)  # dropout on (train mode): the same mask both ways

  @jax.jit
  def both(network):
    plain, after_plain = network.apply(x, rngs=key)
    (logits, feats), after = network.apply(x, rngs=key, features=True)
    on_last = final(network.module(train=True), feats["last_hidden"])
    return plain, after_plain.rest, logits, feats, after.rest, on_last

  plain, rest_plain, logits, feats, rest, on_last = both(network)
  np.testing.assert_array_equal(logits, plain)
  assert {k: v.shape for k, v in feats.items()} == shapes
  # last_hidden is the input of the final layer, the last block's output.
  np.testing.assert_allclose(on_last.astype(jnp.float32), logits,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(feats["last_hidden"], last(feats), rtol=1e-6)
  # One forward pass: BatchNorm statistics moved once, as by the plain call.
  jax.tree.map(np.testing.assert_array_equal, rest, rest_plain)


# ------------------------------------------------- orthogonal initialisers --

def test_tf1_orthogonal_is_the_svd_of_a_uniform_matrix():
  """TensorFlow 1.x's draw: the singular vectors of U[0, 1) numbers
  (columns when the kernel is tall, rows when it is wide), times the gain."""
  from gans_jax.nn import mlp
  key = jax.random.key(3)
  for shape in [(7, 3), (3, 7), (5, 5)]:
    q = np.asarray(mlp.tf1_orthogonal(1.4)(key, shape))
    a = np.asarray(jax.random.uniform(key, shape), np.float64)
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    want = u if shape[0] > shape[1] else vt
    # Singular vectors are defined up to sign: compare vector by vector.
    vectors = (lambda m: m.T) if shape[0] > shape[1] else (lambda m: m)
    for got, ref in zip(vectors(q), vectors(want)):
      sign = np.sign(got @ ref)
      np.testing.assert_allclose(got, 1.4 * sign * ref, atol=1e-5)
    gram = q.T @ q if shape[0] > shape[1] else q @ q.T
    np.testing.assert_allclose(gram, 1.4**2 * np.eye(min(shape)), atol=1e-5)


def test_tf1_orthogonal_is_not_haar_its_leading_vector_is_of_one_sign():
  """What sets it apart from a uniformly random orthogonal matrix (and what
  the ring-of-Gaussians code relies on): a (128, 1) output layer has every
  weight of one sign, and a (2, 128) first layer one row of weights of one
  sign (each input coordinate feeds every unit with the same sign). A Haar
  draw has neither."""
  from gans_jax.nn import mlp
  out = np.asarray(mlp.tf1_orthogonal(1.4)(jax.random.key(0), (128, 1)))[:, 0]
  assert np.all(out > 0) or np.all(out < 0)
  first = np.asarray(mlp.tf1_orthogonal(1.4)(jax.random.key(1), (2, 128)))
  lead = first[np.argmax(np.abs(first.sum(axis=1)))]
  assert np.all(np.sign(lead) == np.sign(lead[0]))
  haar = np.asarray(jax.nn.initializers.orthogonal(1.4)(jax.random.key(0), (128, 1)))
  assert 0 < np.sum(haar > 0) < 128
  haar = np.asarray(jax.nn.initializers.orthogonal(1.4)(jax.random.key(1), (2, 128)))
  assert all(0 < np.sum(row > 0) < 128 for row in haar)


def test_orthogonal_kernels_redraws_weight_matrices_only():
  from gans_jax.nn import mlp
  rngs = nnx.Rngs(0)
  d = gnn.MLPDiscriminator(2, hidden=(16, 16), maxout_pieces=None, activation="tanh",
                           dropout=0.0, input_dropout=0.0, rngs=rngs)
  params = nnx.state(d, nnx.Param)
  key = jax.random.key(5)
  for draw in mlp.ORTHOGONAL_DRAWS:
    new = mlp.orthogonal_kernels(params, key, gain=1.4, draw=draw)
    for (path, old), (_, x) in zip(jax.tree_util.tree_flatten_with_path(params)[0],
                                   jax.tree_util.tree_flatten_with_path(new)[0]):
      if "kernel" in jax.tree_util.keystr(path):
        x = np.asarray(x)
        gram = x.T @ x if x.shape[0] > x.shape[1] else x @ x.T
        np.testing.assert_allclose(gram, 1.96 * np.eye(min(x.shape)), atol=1e-4)
      else:
        np.testing.assert_array_equal(x, old)
  # "haar" is jax's orthogonal initializer, key for key.
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  keys = jax.random.split(key, len(leaves))
  new = jax.tree_util.tree_flatten_with_path(
      mlp.orthogonal_kernels(params, key, gain=1.4, draw="haar"))[0]
  for k, (path, x), (_, got) in zip(keys, leaves, new):
    if "kernel" in jax.tree_util.keystr(path):
      np.testing.assert_array_equal(
          got, jax.nn.initializers.orthogonal(1.4)(k, x.shape, x.dtype))
  with pytest.raises(ValueError, match="unknown orthogonal draw"):
    mlp.orthogonal_kernels(params, key, gain=1.0, draw="qr")
