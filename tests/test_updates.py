"""Tests for gans_jax.train.updates: weight clipping, EMA, global norm."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gans_jax.train import updates

CLIP = 0.01


def _quadratic_problem(seed=0):
  """A random convex quadratic whose minimiser lies far outside the box."""
  rng = np.random.default_rng(seed)
  shapes = {"w1": (6, 5), "b1": (5,), "w2": (5, 1)}
  curvature = {k: jnp.asarray(rng.uniform(0.5, 2.0, size=s), jnp.float32)
               for k, s in shapes.items()}
  optimum = {k: jnp.asarray(rng.normal(size=s), jnp.float32)
             for k, s in shapes.items()}
  init = {k: jnp.asarray(rng.uniform(-0.5, 0.5, size=s), jnp.float32)
          for k, s in shapes.items()}

  def loss(params):
    return sum(jnp.sum(curvature[k] * (params[k] - optimum[k]) ** 2)
               for k in params)

  return loss, init


def _train(loss, params, tx, *, steps, project):
  """Runs ``steps`` optimizer steps; returns final params, max |w| per step."""
  opt_state = tx.init(params)

  def step(carry, _):
    params, opt_state = carry
    grads = jax.grad(loss)(params)
    new_updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, new_updates)
    if project:
      params = updates.clip_weights(params, CLIP)
    largest = jnp.max(jnp.stack(
        [jnp.max(jnp.abs(p)) for p in jax.tree.leaves(params)]))
    return (params, opt_state), largest

  (params, _), largest = jax.jit(
      lambda c: jax.lax.scan(step, c, None, length=steps))((params, opt_state))
  return params, np.asarray(largest)


@pytest.mark.parametrize("with_transformation", (False, True))
def test_clip_weights_keeps_every_weight_in_box_after_every_rmsprop_step(
    with_transformation):
  loss, init = _quadratic_problem()
  tx = optax.rmsprop(1e-3)
  if with_transformation:
    tx = optax.chain(tx, updates.weight_clipping(CLIP))
  params, largest = _train(loss, init, tx, steps=400, project=True)
  assert np.all(largest <= np.float32(CLIP))
  # The constraint is active: the optimum is outside, so weights sit at +-c.
  at_bound = [np.mean(np.abs(np.asarray(p)) == np.float32(CLIP))
              for p in jax.tree.leaves(params)]
  assert min(at_bound) > 0.5


def test_weight_clipping_transformation_alone_is_within_rounding_of_box():
  loss, init = _quadratic_problem(seed=1)
  tx = optax.chain(optax.rmsprop(1e-3), updates.weight_clipping(CLIP))
  _, largest = _train(loss, init, tx, steps=400, project=False)
  # Initial weights reach |w| = 0.5; a few float32 ulps of |w| + c.
  assert np.all(largest <= CLIP + 8 * np.finfo(np.float32).eps * 0.51)
  assert np.all(largest >= CLIP * (1 - 1e-6))


def test_weight_clipping_then_projection_equals_projected_step():
  rng = np.random.default_rng(2)
  params = {"w": jnp.asarray(rng.uniform(-0.05, 0.05, (50, 40)), jnp.float32)}
  raw = {"w": jnp.asarray(rng.normal(size=(50, 40)) * 0.02, jnp.float32)}
  tx = updates.weight_clipping(CLIP)
  rewritten, _ = tx.update(raw, tx.init(params), params)
  via_transformation = updates.clip_weights(
      optax.apply_updates(params, rewritten), CLIP)
  via_projection = updates.clip_weights(optax.apply_updates(params, raw), CLIP)
  np.testing.assert_allclose(via_transformation["w"], via_projection["w"],
                             rtol=0, atol=4 * np.finfo(np.float32).eps * 0.1)
  again = updates.clip_weights(via_transformation, CLIP)
  np.testing.assert_array_equal(again["w"], via_transformation["w"])


def test_clip_weights_is_idempotent_and_clips_to_exact_bounds():
  rng = np.random.default_rng(3)
  params = {"a": jnp.asarray(rng.normal(size=(20, 7)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(9,)) * 0.01, jnp.bfloat16)}
  once = updates.clip_weights(params, CLIP)
  twice = updates.clip_weights(once, CLIP)
  for k in params:
    np.testing.assert_array_equal(np.asarray(twice[k], np.float32),
                                  np.asarray(once[k], np.float32))
    assert once[k].dtype == params[k].dtype
    bound = np.asarray(jnp.asarray(CLIP, params[k].dtype), np.float32)
    assert np.all(np.abs(np.asarray(once[k], np.float32)) <= bound)
  outside = np.abs(np.asarray(params["a"])) > np.float32(CLIP)
  np.testing.assert_array_equal(
      np.asarray(once["a"])[outside],
      np.sign(np.asarray(params["a"])[outside]) * np.float32(CLIP))


def test_clip_weights_leaves_weights_inside_box_untouched():
  inside = jnp.asarray(np.linspace(-CLIP, CLIP, 101), jnp.float32)
  np.testing.assert_array_equal(updates.clip_weights({"w": inside}, CLIP)["w"],
                                inside)


def test_clip_weights_mask_selects_leaves_and_skips_integers():
  params = {"kernel": jnp.full((2, 2), 3.0), "bias": jnp.full((2,), -3.0),
            "count": jnp.array([7, -9])}
  all_clipped = updates.clip_weights(params, CLIP)
  np.testing.assert_array_equal(all_clipped["kernel"], np.full((2, 2), 0.01,
                                                               np.float32))
  np.testing.assert_array_equal(all_clipped["count"], [7, -9])
  masks = ({"kernel": True, "bias": False, "count": False},
           lambda p: jax.tree.map(lambda x: x.ndim == 2, p))
  for mask in masks:
    clipped = updates.clip_weights(params, CLIP, mask=mask)
    np.testing.assert_array_equal(clipped["kernel"],
                                  np.full((2, 2), 0.01, np.float32))
    np.testing.assert_array_equal(clipped["bias"], params["bias"])


def test_clip_weights_works_on_nnx_state_and_under_jit():
  module = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
  state = nnx.state(module, nnx.Param)
  clipped = jax.jit(lambda s: updates.clip_weights(s, CLIP))(state)
  assert isinstance(clipped, nnx.State)
  kernel = np.asarray(clipped["kernel"][...])
  assert np.all(np.abs(kernel) <= np.float32(CLIP))
  assert np.any(np.abs(kernel) == np.float32(CLIP))


def test_clipping_rejects_bad_arguments():
  with pytest.raises(ValueError, match="positive"):
    updates.clip_weights({"w": jnp.ones(2)}, 0.0)
  with pytest.raises(ValueError, match="positive"):
    updates.weight_clipping(-1.0)
  tx = updates.weight_clipping(CLIP)
  with pytest.raises(ValueError, match="params"):
    tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))


def test_ema_update_matches_hand_computed_values():
  ema = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.0)}
  params = {"w": jnp.array([3.0, 2.0]), "b": jnp.array(10.0)}
  new = updates.ema_update(ema, params, decay=0.9)
  # 0.9 * 1 + 0.1 * 3 = 1.2; 0.9 * -2 + 0.1 * 2 = -1.6; 0.1 * 10 = 1.
  np.testing.assert_allclose(new["w"], [1.2, -1.6], rtol=1e-6)
  np.testing.assert_allclose(new["b"], 1.0, rtol=1e-6)
  np.testing.assert_array_equal(
      updates.ema_update(ema, params, decay=0.0)["w"], params["w"])
  np.testing.assert_array_equal(
      updates.ema_update(ema, params, decay=1.0)["w"], ema["w"])


def test_ema_update_follows_geometric_decay_under_jit():
  # Tracking a constant p from e0: e_n = p + decay^n (e0 - p).
  decay, n = 0.8, 12
  step = jax.jit(lambda e, p, d: updates.ema_update(e, p, decay=d))
  ema, params = {"w": jnp.array([0.0, 5.0])}, {"w": jnp.array([1.0, -1.0])}
  for _ in range(n):
    ema = step(ema, params, jnp.float32(decay))
  expected = np.array([1.0, -1.0]) + decay ** n * np.array([-1.0, 6.0])
  np.testing.assert_allclose(ema["w"], expected, rtol=1e-5)


def test_ema_update_keeps_dtypes_and_copies_non_float_leaves():
  ema = {"w": jnp.array([1.0, 2.0], jnp.bfloat16), "count": jnp.array(3)}
  params = {"w": jnp.array([3.0, 4.0], jnp.bfloat16), "count": jnp.array(4)}
  new = updates.ema_update(ema, params, decay=0.5)
  assert new["w"].dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(new["w"], np.float32), [2.0, 3.0])
  assert int(new["count"]) == 4


def test_ema_update_works_on_nnx_state():
  state = nnx.state(nnx.Linear(2, 2, rngs=nnx.Rngs(1)), nnx.Param)
  zeros = jax.tree.map(jnp.zeros_like, state)
  new = updates.ema_update(zeros, state, decay=0.75)
  assert isinstance(new, nnx.State)
  np.testing.assert_allclose(new["kernel"][...], 0.25 * state["kernel"][...],
                             rtol=1e-6)


def test_global_norm_matches_hand_computed_value_and_accumulates_in_float32():
  tree = {"a": jnp.array([3.0, 4.0]), "b": {"c": jnp.array([[12.0]])}}
  np.testing.assert_allclose(updates.global_norm(tree), 13.0, rtol=1e-7)
  assert float(updates.global_norm({})) == 0.0
  # 10,000 bfloat16 entries of 0.01 (stored as 0.010009765625).
  small = {"g": jnp.full((10_000,), 0.01, jnp.bfloat16)}
  norm = updates.global_norm(small)
  assert norm.dtype == jnp.float32
  np.testing.assert_allclose(norm, 100 * 0.010009765625, rtol=1e-6)
