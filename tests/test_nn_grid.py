"""gans_jax.nn.grid: the architectures of WGAN-GP's Figure 2 at 32x32: the
gate's formula, shapes, widths, which normalisation each variant has (and
has not), and the DCGAN row equal to gans_jax.nn.dcgan's pair."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import gans_jax as gj
from gans_jax.nn import grid


def _modules(module, kind):
  return [m for _, m in nnx.iter_graph(module) if isinstance(m, kind)]


def _param_shapes(module, name):
  return [p.shape for path, p in nnx.to_flat_state(nnx.state(module, nnx.Param))
          if path[-1] == name]


def test_gated_activation_is_tanh_of_the_first_half_times_sigmoid_of_the_second():
  x = jnp.array([[0.5, -1.0, 3.0, 2.0, 0.0, -1.5]])
  # tanh(a) * sigmoid(b), computed by hand with math.tanh and 1 / (1 + e^-b).
  expected = [[0.4070314417980621, -0.3807970779778824, 0.1815233846573067]]
  np.testing.assert_allclose(grid.gated_activation(x), expected, rtol=1e-6)
  with pytest.raises(ValueError, match="even number of channels"):
    grid.gated_activation(jnp.ones((1, 3)))


@pytest.mark.parametrize("activation", grid.GENERATOR_ACTIVATIONS)
@pytest.mark.parametrize("batch_norm,constant", [(True, False), (False, True)])
@pytest.mark.slow
def test_conv_generator_shapes_and_range(activation, batch_norm, constant):
  g = grid.ConvGenerator(8, image_size=32, channels=1, features=4,
                         batch_norm=batch_norm, activation=activation,
                         constant_width=constant, rngs=nnx.Rngs(0))
  x = g(jax.random.normal(jax.random.key(1), (3, 8)))
  chex.assert_shape(x, (3, 32, 32, 1))
  assert float(jnp.abs(x).max()) <= 1.0
  assert bool(_modules(g, nnx.BatchNorm)) == batch_norm
  gate = 2 if activation == "gated" else 1
  widths = [4, 4, 4] if constant else [16, 8, 4]
  # Each transposed convolution consumes a width and (gated) makes twice
  # the next one; the last makes the image's channel.
  assert _param_shapes(g.upsample, "kernel") == [
      (4, 4, widths[0], widths[1] * gate), (4, 4, widths[1], widths[2] * gate),
      (4, 4, widths[2], 1)]
  assert _param_shapes(g.project, "kernel") == [(4, 4, 8, widths[0] * gate)]


@pytest.mark.parametrize("activation", grid.DISCRIMINATOR_ACTIVATIONS)
@pytest.mark.parametrize("norm", ["batch", "layer", None])
def test_conv_discriminator_shapes_and_norms(activation, norm):
  d = grid.ConvDiscriminator(image_size=32, channels=1, features=4, norm=norm,
                             activation=activation, rngs=nnx.Rngs(0))
  chex.assert_shape(d(jnp.zeros((5, 32, 32, 1))), (5,))
  assert bool(_modules(d, nnx.BatchNorm)) == (norm == "batch")
  assert bool(_modules(d, nnx.LayerNorm)) == (norm == "layer")
  gate = 2 if activation == "gated" else 1
  assert [s[-1] for s in _param_shapes(d.downsample, "kernel")] == [
      4 * gate, 8 * gate, 16 * gate]


def test_the_dcgan_row_is_the_dcgan_pair():
  z = jax.random.normal(jax.random.key(2), (4, 8))
  ours = grid.ConvGenerator(8, image_size=32, channels=1, features=4, rngs=nnx.Rngs(3))
  dcgan = gj.nn.DCGANGenerator(8, image_size=32, channels=1, features=4,
                               rngs=nnx.Rngs(3))
  chex.assert_trees_all_close(ours(z), dcgan(z), atol=1e-6)
  x = ours(z)
  ours_d = grid.ConvDiscriminator(image_size=32, channels=1, features=4,
                                  rngs=nnx.Rngs(4))
  dcgan_d = gj.nn.DCGANDiscriminator(image_size=32, channels=1, features=4,
                                     rngs=nnx.Rngs(4))
  chex.assert_trees_all_close(ours_d(x), dcgan_d(x), atol=1e-6)


@pytest.mark.parametrize("norm", ["layer", None])
def test_a_wgan_gp_critic_scores_each_example_on_its_own(norm):
  d = grid.ConvDiscriminator(image_size=32, channels=1, features=4, norm=norm,
                             activation="gated", rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(5), (4, 32, 32, 1))
  y = x.at[1:].set(jax.random.normal(jax.random.key(6), (3, 32, 32, 1)))
  np.testing.assert_allclose(d(x)[0], d(y)[0], rtol=1e-6)


@pytest.mark.parametrize("blocks", [1, 2])
@pytest.mark.slow
def test_deep_resnet_pair_depth_and_shapes(blocks):
  g = grid.DeepResNetGenerator32(8, channels=1, features=4, blocks=blocks,
                                 rngs=nnx.Rngs(0))
  x = g(jax.random.normal(jax.random.key(1), (2, 8)))
  chex.assert_shape(x, (2, 32, 32, 1))
  assert len(g.blocks) == 3 * blocks
  assert [b.resample for b in g.blocks].count("up") == 3
  assert grid.resnet_depth(blocks) == 2 + 6 * blocks
  c = grid.DeepResNetCritic32(channels=1, features=4, blocks=blocks, norm="layer",
                              rngs=nnx.Rngs(0))
  chex.assert_shape(c(x), (2,))
  assert [b.resample for b in c.blocks].count("down") == 3
  assert not _modules(c, nnx.BatchNorm) and _modules(c, nnx.LayerNorm)
  plain = grid.DeepResNetGenerator32(8, channels=1, features=4, blocks=blocks,
                                     norm=None, rngs=nnx.Rngs(0))
  assert not _modules(plain, nnx.BatchNorm)


def test_bad_arguments_raise_one_line_errors():
  with pytest.raises(ValueError, match="activation"):
    grid.ConvGenerator(8, features=4, activation="gelu", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="norm"):
    grid.ConvDiscriminator(features=4, norm="group", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="blocks"):
    grid.DeepResNetCritic32(features=4, blocks=0, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="32, 32, 1"):
    grid.DeepResNetCritic32(features=4, rngs=nnx.Rngs(0))(jnp.zeros((1, 16, 16, 1)))
