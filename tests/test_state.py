"""The state of named players: optimizer groups, EMAs, sampling modes, keys."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gans_jax as gj
from gans_jax.train import keys


class _Net(nnx.Module):
  """Linear -> BatchNorm -> Dropout: every kind of variable a player has."""

  def __init__(self, rngs):
    self.linear = nnx.Linear(3, 4, rngs=rngs)
    self.norm = nnx.BatchNorm(4, momentum=0.5, rngs=rngs)
    self.dropout = nnx.Dropout(0.5)

  def __call__(self, x, *, rngs=None):
    return self.dropout(self.norm(self.linear(x)), rngs=rngs)


class FourPlayers(gj.train.TrainState):
  g_ab: gj.train.Network
  g_ba: gj.train.Network
  d_a: gj.train.Network
  d_b: gj.train.Network


def _four(**kwargs):
  rngs = nnx.Rngs(0)
  modules = {name: _Net(rngs) for name in ("g_ab", "g_ba", "d_a", "d_b")}
  defaults = dict(optimizers={("g_ab", "g_ba"): optax.sgd(1.0),
                              "d_a": optax.sgd(0.5), "d_b": optax.sgd(0.25)})
  defaults.update(kwargs)
  return FourPlayers.create(**modules, **defaults)


def _ones_like(network):
  return jax.tree.map(jnp.ones_like, network.params)


def test_players_are_the_network_fields_in_definition_order():
  state = _four()
  assert state.player_names == ("g_ab", "g_ba", "d_a", "d_b")
  assert [g.name for g in state.optimizers] == ["g_ab+g_ba", "d_a", "d_b"]
  with pytest.raises(KeyError, match="not a player"):
    state.player("extra")


def test_a_shared_optimizer_updates_both_players_at_once():
  # One Adam over {g_ab, g_ba}: its moments cover both parameter trees, and
  # both move by the same rule in one update.
  state = _four(optimizers={("g_ab", "g_ba"): optax.adam(0.1),
                            "d_a": optax.sgd(1.0), "d_b": optax.sgd(1.0)})
  mu = state.opt_states["g_ab+g_ba"][0].mu
  assert set(mu) == {"g_ab", "g_ba"}
  grads = {"g_ab": _ones_like(state.g_ab), "g_ba": _ones_like(state.g_ba)}
  new = jax.jit(lambda s: s.apply_gradients(grads))(state)
  for name in ("g_ab", "g_ba"):
    moved = jax.tree.map(lambda a, b: np.asarray(a - b), new.player(name).params,
                         state.player(name).params)
    for leaf in jax.tree.leaves(moved):  # Adam's first step is -lr * sign(g)
      np.testing.assert_allclose(leaf, -0.1, rtol=1e-5)
  chex.assert_trees_all_equal(new.d_a, state.d_a)
  assert int(new.updates["g_ab+g_ba"]) == 1 and int(new.updates["d_a"]) == 0
  # Half of a shared group is refused, and so is a player with no optimizer.
  with pytest.raises(KeyError, match="share optimizer"):
    state.apply_gradients({"g_ab": grads["g_ab"]})
  with pytest.raises(KeyError, match="no optimizer"):
    state.apply_gradients({"elsewhere": grads["g_ab"]})


def test_each_group_uses_its_own_optimizer_and_projection():
  state = _four()
  grads = {"d_a": _ones_like(state.d_a), "d_b": _ones_like(state.d_b)}
  clip = lambda p: gj.train.clip_weights(p, clip=0.01)
  new = state.apply_gradients(grads, projection={"d_b": clip})
  kernel = lambda s, n: np.asarray(s.player(n).params["linear"]["kernel"].value)
  np.testing.assert_allclose(kernel(new, "d_a"), kernel(state, "d_a") - 0.5, rtol=1e-6)
  np.testing.assert_allclose(kernel(new, "d_b"),
                             np.clip(kernel(state, "d_b") - 0.25, -0.01, 0.01))


def test_creation_refuses_unknown_and_doubly_assigned_players():
  rngs = nnx.Rngs(0)
  modules = {name: _Net(rngs) for name in ("g_ab", "g_ba", "d_a", "d_b")}
  with pytest.raises(ValueError, match="not a player"):
    FourPlayers.create(**modules, optimizers={"g_xy": optax.sgd(1.0)})
  with pytest.raises(ValueError, match="two optimizer groups"):
    FourPlayers.create(**modules, optimizers={("g_ab", "g_ba"): optax.sgd(1.0),
                                              "g_ab": optax.sgd(1.0)})
  with pytest.raises(ValueError, match="ema_decay"):
    FourPlayers.create(**modules, optimizers={}, ema_decay={"g_xy": 0.9})


def test_ema_averages_parameters_and_batchnorm_statistics():
  state = _four(ema_decay={"g_ab": 0.75})
  x = jnp.arange(6.0).reshape(2, 3)
  _, g_ab = state.g_ab.apply(x, rngs=jax.random.key(0))  # new batch statistics
  state = state.replace(g_ab=g_ab)
  grads = {"g_ab": _ones_like(state.g_ab), "g_ba": _ones_like(state.g_ba)}
  old_ema = state.ema["g_ab"]
  new = state.apply_gradients(grads)
  expected = jax.tree.map(lambda e, p: 0.75 * e + 0.25 * p,
                          (old_ema.params, old_ema.rest), (new.g_ab.params, new.g_ab.rest))
  chex.assert_trees_all_close((new.ema["g_ab"].params, new.ema["g_ab"].rest),
                              expected, rtol=1e-6)
  # The statistics really moved, so the check above is not about zeros.
  assert not np.allclose(new.ema["g_ab"].rest["norm"]["mean"].value, 0.0)
  assert "g_ba" not in new.ema


def test_sampling_modes_switch_batch_statistics_and_dropout():
  state = _four(ema_decay={"g_ab": 0.5})
  x = jax.random.normal(jax.random.key(1), (8, 3))

  @functools.partial(jax.jit, static_argnames="mode")
  def sample(state, key, mode):
    return state.sampling_module("g_ab", mode=mode)(x, rngs=key)

  eval_a = sample(state, jax.random.key(2), "eval")
  eval_b = sample(state, jax.random.key(3), "eval")
  np.testing.assert_array_equal(eval_a, eval_b)  # no dropout, running stats
  train_a = sample(state, jax.random.key(2), "train")
  train_b = sample(state, jax.random.key(3), "train")
  assert not np.allclose(train_a, train_b)  # dropout follows the key
  kept = np.asarray(train_a) != 0
  # Batch statistics: the kept units, undone by dropout's 1/(1-p), are
  # normalised over the batch (mean ~0), which the eval output is not.
  module = state.ema["g_ab"].module(train=False)
  h = np.asarray(module.linear(x))
  normalised = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5)
  np.testing.assert_allclose(np.asarray(train_a)[kept] * 0.5, normalised[kept],
                             rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="mode"):
    state.sampling_module("g_ab", mode="test")


def test_reset_optimizers_restarts_moments_and_counters():
  state = _four(optimizers={("g_ab", "g_ba"): optax.adam(0.1),
                            "d_a": optax.adam(0.1), "d_b": optax.sgd(1.0)})
  grads = {"g_ab": _ones_like(state.g_ab), "g_ba": _ones_like(state.g_ba),
           "d_a": _ones_like(state.d_a)}
  trained = state.apply_gradients(grads)
  reset = trained.reset_optimizers("d_a")
  chex.assert_trees_all_equal(reset.opt_states["d_a"], state.opt_states["d_a"])
  chex.assert_trees_all_equal(reset.opt_states["g_ab+g_ba"],
                              trained.opt_states["g_ab+g_ba"])
  assert int(reset.updates["d_a"]) == 0 and int(reset.updates["g_ab+g_ba"]) == 1
  chex.assert_trees_all_equal(reset.d_a, trained.d_a)  # parameters kept


def test_gan_state_keeps_its_two_player_names():
  state = gj.train.GANState.create(
      generator=_Net(nnx.Rngs(0)), discriminator=_Net(nnx.Rngs(1)),
      g_optimizer=optax.sgd(1.0), d_optimizer=optax.sgd(1.0), ema_decay=0.5)
  assert state.player_names == ("generator", "discriminator")
  state = state.apply_gradients({"discriminator": _ones_like(state.discriminator)})
  assert int(state.step) == 0
  state = state.apply_gradients({"generator": _ones_like(state.generator)})
  assert int(state.step) == 1
  chex.assert_trees_all_close(
      state.ema_params,
      jax.tree.map(lambda p: p + 0.5, state.generator.params), rtol=1e-6)


def test_gradients_of_the_wrong_player_are_refused_by_name():
  state = gj.train.GANState.create(
      generator=nnx.Linear(2, 3, rngs=nnx.Rngs(0)),
      discriminator=nnx.Linear(3, 1, rngs=nnx.Rngs(1)),
      g_optimizer=optax.sgd(1.0), d_optimizer=optax.sgd(1.0))
  critic_grads = _ones_like(state.discriminator)
  with pytest.raises(AssertionError, match="player 'generator'"):
    state.apply_gradients({"generator": critic_grads})
  with pytest.raises(AssertionError, match="player 'generator'"):
    jax.jit(lambda s, g: s.apply_gradients({"generator": g}))(state, critic_grads)
  state.apply_gradients({"discriminator": critic_grads})  # the right player


def _loss(params, x, *, scale=1.0):
  """A loss whose gradient differs for every parameter leaf."""
  return scale * sum(jnp.sum(jnp.sin(leaf * x.sum())) for leaf in jax.tree.leaves(params))


def test_update_is_value_and_grad_then_apply_gradients():
  state = _four(ema_decay={"d_a": 0.5})
  x = jnp.arange(6.0).reshape(2, 3)
  loss, grads = jax.value_and_grad(_loss)(state.d_a.params, x, scale=2.0)
  expected = state.apply_gradients({"d_a": grads})
  new, got = gj.train.update(state, "d_a", _loss, x, scale=2.0)
  np.testing.assert_array_equal(got, loss)
  chex.assert_trees_all_equal(new, expected)  # parameters, EMA and counters
  assert int(new.updates["d_a"]) == 1 and int(new.updates["d_b"]) == 0


def test_update_of_players_sharing_an_optimizer_takes_one_step_of_both():
  state = _four(optimizers={("g_ab", "g_ba"): optax.adam(0.1),
                            "d_a": optax.sgd(1.0), "d_b": optax.sgd(1.0)})
  x = jnp.ones((2, 3))
  grads = jax.grad(_loss)({"g_ab": state.g_ab.params, "g_ba": state.g_ba.params}, x)
  new, _ = gj.train.update(state, ("g_ab", "g_ba"), _loss, x)
  chex.assert_trees_all_equal(new, state.apply_gradients(grads))
  with pytest.raises(KeyError, match="share optimizer"):
    gj.train.update(state, "g_ab", _loss, x)
  # Two players with optimizers of their own, on one loss: each its own step.
  new, _ = gj.train.update(state, ("d_a", "d_b"), _loss, x)
  grads = jax.grad(_loss)({"d_a": state.d_a.params, "d_b": state.d_b.params}, x)
  chex.assert_trees_all_equal(new, state.apply_gradients(grads))


def test_update_keeps_the_batch_statistics_the_loss_returns_and_its_aux():
  state = _four()
  x = jnp.arange(6.0).reshape(2, 3)

  def loss_fn(params, x):
    out, d_a = state.d_a.apply(x, params=params, rngs=jax.random.key(0))
    return jnp.sum(out ** 2), (d_a, out)

  (loss, (d_a, out)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.d_a.params, x)
  new, (got_loss, got_out) = gj.train.update(state, "d_a", loss_fn, x,
                                            has_aux=True, returns_networks=True)
  np.testing.assert_array_equal(got_out, out)
  np.testing.assert_array_equal(got_loss, loss)
  chex.assert_trees_all_equal(new, state.replace(d_a=d_a).apply_gradients({"d_a": grads}))
  # The statistics moved: the updated network's rest is kept, not the old one.
  assert not np.allclose(new.d_a.rest["norm"]["mean"].value,
                         state.d_a.rest["norm"]["mean"].value)
  chex.assert_trees_all_equal(new.d_a.rest, d_a.rest)


def test_update_applies_the_projection_after_the_optimizer_step():
  state = _four()
  clip = lambda p: gj.train.clip_weights(p, clip=0.01)
  new, _ = gj.train.update(state, "d_b", lambda p: -sum(
      jnp.sum(leaf) for leaf in jax.tree.leaves(p)), projection=clip)
  kernel = np.asarray(new.d_b.params["linear"]["kernel"].value)
  np.testing.assert_allclose(
      kernel, np.clip(np.asarray(state.d_b.params["linear"]["kernel"].value) + 0.25,
                      -0.01, 0.01))


def test_init_keys_never_equal_step_keys():
  # nnx.Rngs(seed) draws key n as fold_in(key(seed), n); a loop that keyed
  # step n by fold_in(key(seed), n) would reuse parameter n's key.
  seed, n = 3, 2000
  rngs = keys.init_rngs(seed)
  init = {tuple(np.asarray(jax.random.key_data(rngs.params()))) for _ in range(n)}
  steps = jax.vmap(lambda s: jax.random.key_data(keys.step_key(seed, s)))(
      jnp.arange(n))
  step_set = {tuple(k) for k in np.asarray(steps)}
  assert len(init) == n and len(step_set) == n
  assert not init & step_set
  purposes = [keys.make_key(seed, p) for p in ("init", "train", "sample", "eval",
                                              "interpolation", "quality")]
  data = {tuple(np.asarray(jax.random.key_data(k))) for k in purposes}
  assert len(data) == len(purposes)
  assert not data & step_set
  # Another seed's root is not one of this run's keys.
  other = tuple(np.asarray(jax.random.key_data(keys.make_key(seed + 1, "train"))))
  assert other not in data | step_set | init
