"""ProGAN's layers, growing networks, schedule and real-image fade.

The networks are tested at 16x16 (levels 0, 1, 2) with a few feature maps;
structure at the paper's 1024x1024 size is checked abstractly with
``nnx.eval_shape``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gans_jax import nn as gnn

LATENT = 8
CHANNELS = 3
SMALL = dict(resolution=16, channels=CHANNELS, fmap_base=64, fmap_max=8)

# One compiled program per (model, level); alpha stays traced.
_call = nnx.jit(lambda model, x, alpha, level: model(x, level=level,
                                                     alpha=alpha),
                static_argnames="level")


def _normal(shape, seed):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


def _generator(**kwargs):
  return gnn.ProGANGenerator(LATENT, **SMALL, rngs=nnx.Rngs(0), **kwargs)


def _critic(**kwargs):
  return gnn.ProGANCritic(**SMALL, rngs=nnx.Rngs(1), **kwargs)


def _images(batch, size, seed=2):
  return _normal((batch, size, size, CHANNELS), seed)


def _perturbed(model, path):
  """A copy of ``model`` with the parameters under ``path`` changed."""
  model = nnx.clone(model)
  module = model
  for name in path:
    module = module[name] if isinstance(name, int) else getattr(module, name)
  for _, param in nnx.iter_graph(module):
    if isinstance(param, nnx.Param):
      param[...] = param[...] + 0.5
  return model


# ----------------------------------------------------- equalized layers -----

def test_equalized_dense_is_a_plain_dense_with_scaled_weights():
  layer = gnn.EqualizedDense(6, 5, gain=1.7, rngs=nnx.Rngs(0))
  layer.bias[...] = _normal((5,), 1)
  scale = 1.7 / math.sqrt(6)
  plain = nnx.Linear(6, 5, rngs=nnx.Rngs(2))
  plain.kernel[...] = layer.kernel[...] * scale
  plain.bias[...] = layer.bias[...]
  x, r = _normal((4, 6), 3), _normal((4, 5), 4)
  np.testing.assert_allclose(layer(x), plain(x), rtol=1e-5, atol=1e-6)

  def loss(model):
    return jnp.sum(model(x) * r)

  g_eq = nnx.grad(loss)(layer)
  g_plain = nnx.grad(loss)(plain)
  # d loss / d W = c * d loss / d (c W): the equalized learning rate.
  np.testing.assert_allclose(g_eq["kernel"][...],
                             scale * g_plain["kernel"][...], rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(g_eq["bias"][...], g_plain["bias"][...],
                             rtol=1e-5)


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_equalized_conv_is_a_plain_conv_with_scaled_weights(kernel_size):
  layer = gnn.EqualizedConv(4, 5, kernel_size, rngs=nnx.Rngs(0))
  layer.bias[...] = _normal((5,), 1)
  scale = math.sqrt(2) / math.sqrt(kernel_size * kernel_size * 4)
  plain = nnx.Conv(4, 5, (kernel_size, kernel_size), padding="SAME",
                   rngs=nnx.Rngs(2))
  plain.kernel[...] = layer.kernel[...] * scale
  plain.bias[...] = layer.bias[...]
  x, r = _normal((2, 6, 6, 4), 3), _normal((2, 6, 6, 5), 4)
  np.testing.assert_allclose(layer(x), plain(x), rtol=1e-5, atol=1e-5)

  def loss(model):
    return jnp.sum(model(x) * r)

  np.testing.assert_allclose(
      nnx.grad(loss)(layer)["kernel"][...],
      scale * nnx.grad(loss)(plain)["kernel"][...], rtol=1e-4, atol=1e-5)


def test_equalized_weights_are_stored_standard_normal():
  layer = gnn.EqualizedConv(64, 64, 3, rngs=nnx.Rngs(0))
  w = np.asarray(layer.kernel[...])
  assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01
  np.testing.assert_array_equal(layer.bias[...], 0.0)
  assert layer.scale == pytest.approx(math.sqrt(2) / math.sqrt(9 * 64))


def test_paper_gains_of_every_layer():
  g = nnx.eval_shape(lambda: _generator())
  d = nnx.eval_shape(lambda: _critic())
  sqrt2 = math.sqrt(2)
  assert g.blocks[0].dense.gain == pytest.approx(sqrt2 / 4)
  assert g.blocks[0].dense.scale == pytest.approx(sqrt2 / 4 / math.sqrt(LATENT))
  assert g.blocks[0].conv.gain == pytest.approx(sqrt2)
  for k in (1, 2):
    assert g.blocks[k].conv0.gain == g.blocks[k].conv1.gain == pytest.approx(
        sqrt2)
  assert all(rgb.gain == 1.0 for rgb in g.to_rgb)
  assert all(rgb.gain == pytest.approx(sqrt2) for rgb in d.from_rgb)
  assert d.blocks[0].conv.gain == pytest.approx(sqrt2)
  assert d.blocks[0].dense0.gain == pytest.approx(sqrt2)
  assert d.blocks[0].dense1.gain == 1.0
  for k in (1, 2):
    assert d.blocks[k].conv0.gain == d.blocks[k].conv1.gain == pytest.approx(
        sqrt2)


# --------------------------------------------- pixel norm, minibatch std -----

def test_pixel_norm_normalises_each_pixel_over_channels():
  x = jnp.array([[[[3.0, 4.0], [1.0, 0.0]]]])  # (1, 1, 2, 2): two pixels
  expected = np.array([[[[3.0, 4.0], [1.0, 0.0]]]])
  expected[0, 0, 0] /= math.sqrt((9 + 16) / 2 + 1e-8)
  expected[0, 0, 1] /= math.sqrt(1 / 2 + 1e-8)
  np.testing.assert_allclose(gnn.pixel_norm(x), expected, rtol=1e-6)
  assert gnn.pixel_norm(x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def _stddev_by_hand(x, group):
  """The minibatch-stddev value of each example, by explicit loops."""
  x = np.asarray(x, np.float64)
  n = x.shape[0]
  groups = n // group
  values = np.zeros(n)
  for m in range(groups):
    members = [m + groups * g for g in range(group)]  # strided, as official
    std = np.sqrt(x[members].var(axis=0) + 1e-8)
    values[members] = std.mean()
  return values


@pytest.mark.parametrize("batch, group", [(8, 4), (4, 4), (3, 3), (2, 2)])
def test_minibatch_stddev_matches_hand_computation(batch, group):
  x = _normal((batch, 2, 3, 5), 0) * jnp.arange(1.0, batch + 1)[:, None, None,
                                                               None]
  y = gnn.minibatch_stddev(x, group_size=4)
  assert y.shape == (batch, 2, 3, 6)
  np.testing.assert_array_equal(y[..., :5], x)
  expected = _stddev_by_hand(x, group)
  np.testing.assert_allclose(y[..., 5], np.broadcast_to(
      expected[:, None, None], (batch, 2, 3)), rtol=1e-5)
  if batch == 8:  # two groups of strided examples: {0, 2, 4, 6}, {1, 3, 5, 7}
    assert float(y[0, 0, 0, 5]) != pytest.approx(float(y[1, 0, 0, 5]))
    np.testing.assert_array_equal(y[0::2, 0, 0, 5], y[0, 0, 0, 5])


def test_minibatch_stddev_of_two_examples_is_half_their_distance():
  a = jnp.zeros((1, 1, 1, 2))
  b = jnp.array([[[[2.0, 6.0]]]])
  y = gnn.minibatch_stddev(jnp.concatenate([a, b]), group_size=4)
  # std of {0, 2} is 1 and of {0, 6} is 3; their mean is 2.
  np.testing.assert_allclose(y[:, 0, 0, 2], [2.0, 2.0], rtol=1e-6)


@pytest.mark.parametrize("batch", [5, 6, 7, 10])
def test_minibatch_stddev_rejects_a_batch_not_divisible_by_the_group(batch):
  with pytest.raises(ValueError, match=f"batch size {batch}"):
    gnn.minibatch_stddev(jnp.zeros((batch, 4, 4, 2)), group_size=4)


def test_critic_couples_examples_only_within_their_strided_group():
  d = _critic()
  x = _images(8, 4)
  scores = _call(d, x, 1.0, 0)
  # Example 0's group is {0, 2, 4, 6}: changing example 1 leaves it alone,
  # changing example 2 does not.
  other_group = _call(d, x.at[1].multiply(3.0), 1.0, 0)
  same_group = _call(d, x.at[2].multiply(3.0), 1.0, 0)
  assert float(other_group[0]) == pytest.approx(float(scores[0]), rel=1e-5)
  assert abs(float(same_group[0]) - float(scores[0])) > 1e-4
  no_mbstd = _critic(mbstd_group_size=0)
  np.testing.assert_allclose(
      _call(no_mbstd, x.at[2].multiply(3.0), 1.0, 0)[0],
      _call(no_mbstd, x, 1.0, 0)[0], rtol=1e-5)


# ----------------------------------------------------------- architecture --

def test_feature_maps_follow_the_paper_table():
  # Table 2 of arXiv 1710.10196: 512 maps up to 64x64... read per level
  # 4, 8, 16, 32 → 512; 64 → 256; 128 → 128; 256 → 64; 512 → 32; 1024 → 16.
  per_level = [512, 512, 512, 512, 256, 128, 64, 32, 16]
  assert [gnn.progan_features(k + 1) for k in range(9)] == per_level
  assert gnn.progan_features(0) == 512
  g = nnx.eval_shape(lambda: gnn.ProGANGenerator(resolution=1024, channels=3,
                                                 rngs=nnx.Rngs(0)))
  d = nnx.eval_shape(lambda: gnn.ProGANCritic(resolution=1024, channels=3,
                                              rngs=nnx.Rngs(0)))
  assert [rgb.kernel.shape for rgb in g.to_rgb] == [
      (1, 1, f, 3) for f in per_level]
  assert [rgb.kernel.shape for rgb in d.from_rgb] == [
      (1, 1, 3, f) for f in per_level]
  # The paper's parameter counts: 23.1M each.
  for model in (g, d):
    count = sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
    assert round(count / 1e5) == 231


def test_shapes_and_float32_outputs_at_every_level():
  g, d = _generator(), _critic()
  z = _normal((4, LATENT), 0)
  for level in range(3):
    images = _call(g, z, 0.5, level)
    size = 4 * 2 ** level
    assert images.shape == (4, size, size, CHANNELS)
    assert images.dtype == jnp.float32
    scores = _call(d, images, 0.5, level)
    assert scores.shape == (4,) and scores.dtype == jnp.float32
    assert np.all(np.isfinite(scores))


def test_level_must_be_a_static_int_in_range():
  g, d = _generator(), _critic()
  z = _normal((2, LATENT), 0)
  with pytest.raises(ValueError, match="level must be in"):
    g(z, level=3, alpha=1.0)
  with pytest.raises(TypeError, match="static Python int"):
    jax.jit(lambda lv: g(z, level=lv, alpha=1.0))(1)
  with pytest.raises(ValueError, match=r"\(B, 8, 8, 3\)"):
    d(_images(2, 16), level=1, alpha=1.0)
  with pytest.raises(ValueError, match="unconditional"):
    g(z, jnp.zeros(2, jnp.int32), level=0, alpha=1.0)


# ------------------------------------------------------------------ fading --

@pytest.mark.parametrize("level", [1, 2])
def test_generator_at_alpha_0_is_the_previous_level_upsampled(level):
  g = _generator()
  z = _normal((4, LATENT), 0)
  faded_out = _call(g, z, jnp.float32(0.0), level)
  previous = _call(g, z, jnp.float32(1.0), level - 1)
  np.testing.assert_allclose(faded_out, gnn.upsample_nearest(previous),
                             rtol=1e-5, atol=1e-6)
  # ... and nothing of the new level's layers reaches it.
  changed = _perturbed(g, ("blocks", level))
  changed = _perturbed(changed, ("to_rgb", level))
  np.testing.assert_allclose(_call(changed, z, 0.0, level), faded_out,
                             rtol=1e-6)


@pytest.mark.parametrize("level", [1, 2])
def test_generator_at_alpha_1_is_the_new_level_alone(level):
  g = _generator()
  z = _normal((4, LATENT), 0)
  new = _call(g, z, 1.0, level)
  # The previous toRGB no longer contributes; mid-fade it still does.
  changed = _perturbed(g, ("to_rgb", level - 1))
  np.testing.assert_allclose(_call(changed, z, 1.0, level), new, rtol=1e-6)
  assert not np.allclose(_call(changed, z, 0.5, level),
                         _call(g, z, 0.5, level), atol=1e-4)
  # The blend is linear in alpha.
  np.testing.assert_allclose(
      _call(g, z, 0.25, level),
      0.75 * _call(g, z, 0.0, level) + 0.25 * new, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("level", [1, 2])
def test_critic_at_alpha_0_is_the_previous_level_on_downscaled_images(level):
  d = _critic()
  x = _images(4, 4 * 2 ** level)
  faded_out = _call(d, x, jnp.float32(0.0), level)
  previous = _call(d, gnn.mean_pool(x), jnp.float32(1.0), level - 1)
  np.testing.assert_allclose(faded_out, previous, rtol=1e-5, atol=1e-6)
  changed = _perturbed(d, ("blocks", level))
  changed = _perturbed(changed, ("from_rgb", level))
  np.testing.assert_allclose(_call(changed, x, 0.0, level), faded_out,
                             rtol=1e-6)


@pytest.mark.parametrize("level", [1, 2])
def test_critic_at_alpha_1_is_the_new_level_alone(level):
  d = _critic()
  x = _images(4, 4 * 2 ** level)
  new = _call(d, x, 1.0, level)
  changed = _perturbed(d, ("from_rgb", level - 1))
  np.testing.assert_allclose(_call(changed, x, 1.0, level), new, rtol=1e-6)
  # Mid-fade the critic is neither end: it fades.
  middle = _call(d, x, 0.5, level)
  assert not np.allclose(middle, new, atol=1e-4)
  assert not np.allclose(middle, _call(d, x, 0.0, level), atol=1e-4)
  assert not np.allclose(_call(changed, x, 0.5, level), middle, atol=1e-4)


def test_bfloat16_models_keep_float32_parameters_and_outputs():
  g16, d16 = _generator(dtype=jnp.bfloat16), _critic(dtype=jnp.bfloat16)
  g32, d32 = _generator(), _critic()
  params = nnx.state(g16, nnx.Param)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  z = _normal((4, LATENT), 0)
  images16, images32 = _call(g16, z, 0.5, 1), _call(g32, z, 0.5, 1)
  assert images16.dtype == jnp.float32
  np.testing.assert_allclose(images16, images32, atol=0.1)
  scores16, scores32 = _call(d16, images32, 0.5, 1), _call(d32, images32, 0.5, 1)
  assert scores16.dtype == jnp.float32
  np.testing.assert_allclose(scores16, scores32, atol=0.1, rtol=0.05)


# ---------------------------------------------------------------- schedule --

def _official_schedule(images, final_resolution, stabilize, fade,
                       initial_resolution=4):
  """train.py's TrainingSchedule in float64, as level (0 = 4x4) and alpha."""
  kimg = images / 1000.0
  training, transition = stabilize / 1000.0, fade / 1000.0
  phase_dur = training + transition
  phase_idx = int(np.floor(kimg / phase_dur)) if phase_dur > 0 else 0
  phase_kimg = kimg - phase_idx * phase_dur
  lod = np.log2(final_resolution) - np.floor(np.log2(initial_resolution))
  lod -= phase_idx
  if transition > 0:
    lod -= max(phase_kimg - training, 0.0) / transition
  lod = max(lod, 0.0)
  level = int(np.log2(final_resolution)) - 2 - int(np.floor(lod))
  return level, 1.0 - (lod - np.floor(lod))


def test_schedule_by_hand():
  # 16x16 final, 100 images to stabilise and 100 to fade.
  expected = {0: (0, 1.0), 99: (0, 1.0), 100: (0, 1.0), 101: (1, 0.01),
              150: (1, 0.5), 199: (1, 0.99), 200: (1, 1.0), 300: (1, 1.0),
              350: (2, 0.5), 400: (2, 1.0), 550: (2, 1.0), 10_000: (2, 1.0)}
  for images, (level, alpha) in expected.items():
    got = gnn.progan_schedule(images, final_resolution=16,
                              stabilize_images=100, fade_images=100)
    assert int(got[0]) == level, images
    assert float(got[1]) == pytest.approx(alpha, abs=1e-6), images


@pytest.mark.parametrize("stabilize, fade, initial", [
    (800_000, 800_000, 4), (600_000, 600_000, 4), (1000, 300, 4),
    (700, 0, 4), (0, 500, 4), (800, 800, 16)])
def test_schedule_matches_the_official_formula(stabilize, fade, initial):
  final = 256
  period = stabilize + fade
  counts = {0, 1, 12_345, 10 * period + 7}
  for p in range(8):
    start = p * period
    counts |= {start, start + 1, start + stabilize - 1, start + stabilize,
               start + stabilize + 1, start + stabilize + fade // 2,
               start + stabilize + fade // 3, start + period - 1}
  counts = sorted(c for c in counts if c >= 0)
  schedule = jax.jit(lambda i: gnn.progan_schedule(
      i, final_resolution=final, stabilize_images=stabilize,
      fade_images=fade, initial_resolution=initial))
  levels, alphas = schedule(jnp.asarray(counts, jnp.int32))
  for i, count in enumerate(counts):
    level, alpha = _official_schedule(count, final, stabilize, fade, initial)
    assert int(levels[i]) == level, count
    assert float(alphas[i]) == pytest.approx(alpha, abs=1e-6), count


def test_schedule_rejects_bad_arguments():
  kwargs = dict(final_resolution=64, stabilize_images=10, fade_images=10)
  with pytest.raises(ValueError, match="integer"):
    gnn.progan_schedule(1.5, **kwargs)
  with pytest.raises(ValueError, match="images_shown"):
    gnn.progan_schedule(-1, **kwargs)
  with pytest.raises(ValueError, match="final_resolution"):
    gnn.progan_schedule(0, final_resolution=48, stabilize_images=1,
                        fade_images=1)


# ------------------------------------------------------------- real fading --

def test_fade_reals_blends_with_the_down_then_up_image():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  # Each 2x2 block's mean, repeated over the block.
  blocks = np.array([[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5],
                     [10.5, 10.5, 12.5, 12.5], [10.5, 10.5, 12.5, 12.5]])
  np.testing.assert_array_equal(gnn.fade_reals(x, 1.0), x)
  np.testing.assert_array_equal(gnn.fade_reals(x, 0.0)[0, :, :, 0], blocks)
  faded = jax.jit(gnn.fade_reals)(x, jnp.float32(0.25))
  np.testing.assert_allclose(faded[0, :, :, 0],
                             0.25 * np.arange(16.0).reshape(4, 4)
                             + 0.75 * blocks, rtol=1e-6)


def test_downscale_images_averages_blocks():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  np.testing.assert_allclose(gnn.downscale_images(x, 1)[0, 0, 0, 0], 7.5)
  np.testing.assert_allclose(gnn.downscale_images(x, 2)[0, :, :, 0],
                             [[2.5, 4.5], [10.5, 12.5]])
  assert gnn.downscale_images(x, 4) is x
  with pytest.raises(ValueError, match="resolution 3"):
    gnn.downscale_images(x, 3)
