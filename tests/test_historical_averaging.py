"""Historical averaging (Salimans et al. 2016, §3.3, arXiv 1606.03498)."""

import jax
import jax.numpy as jnp
from flax import nnx
import numpy as np
import pytest

from gans_jax.train import averaging
from gans_jax.train.checkpoint import Checkpointer


def _history(steps):
  key = jax.random.key(0)
  return [{"w": jax.random.normal(jax.random.fold_in(key, t), (3, 2)),
           "b": jnp.full((2,), float(t)),
           "count": jnp.asarray(t, jnp.int32)} for t in range(steps)]


def test_average_is_the_mean_of_all_values_seen():
  history = _history(7)
  average = averaging.historical_average_init(history[0])
  update = jax.jit(averaging.historical_average_update)
  for params in history[1:]:
    average = update(average, params)
  assert int(average.count) == 7
  for name in ("w", "b"):
    want = np.mean([np.asarray(p[name], np.float64) for p in history], axis=0)
    np.testing.assert_allclose(average.mean[name], want, rtol=1e-6, atol=1e-6)
  # Integer leaves are not averaged: they take the latest value.
  assert int(average.mean["count"]) == 6


def test_penalty_is_the_squared_distance_with_the_average_held_constant():
  average = averaging.HistoricalAverage(
      mean={"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.5)},
      count=jnp.asarray(3, jnp.int32))
  params = {"w": jnp.array([2.0, 0.0]), "b": jnp.array(-0.5)}
  # (2-1)^2 + (0-2)^2 + (-0.5-0.5)^2 = 6.
  value, grads = jax.jit(jax.value_and_grad(
      averaging.historical_averaging_penalty))(params, average)
  assert float(value) == pytest.approx(6.0)
  # 2 (theta - mean): the mean gets no gradient, though it contains theta.
  np.testing.assert_allclose(grads["w"], [2.0, -4.0])
  np.testing.assert_allclose(grads["b"], -2.0)
  grad_mean = jax.grad(lambda mean: averaging.historical_averaging_penalty(
      params, average.replace(mean=mean)))(average.mean)
  np.testing.assert_array_equal(grad_mean["w"], [0.0, 0.0])


def test_penalty_and_average_work_on_a_module_state():
  model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
  params = nnx.state(model, nnx.Param)
  average = averaging.historical_average_init(params)
  assert float(averaging.historical_averaging_penalty(params, average)) == 0.0
  moved = jax.tree.map(lambda p: p + 1.0, params)
  average = averaging.historical_average_update(average, moved)
  # Every one of the 3*2 + 2 entries is half a unit from the mean.
  assert float(averaging.historical_averaging_penalty(moved, average)) == (
      pytest.approx(8 * 0.25))
  with pytest.raises(ValueError):
    averaging.historical_averaging_penalty({"other": jnp.zeros(2)}, average)


def _game_step(params, averages, *, lam, lr=0.05):
  # Simultaneous gradient descent on V(x, y) = (f(x) - 1)(y - 1), x
  # minimising and y maximising, f(x) = x for x < 0 and x^2 otherwise; each
  # player keeps the historical average of its own parameter.
  def value(x, y):
    f = jnp.where(x < 0, x, x * x)
    return (f - 1.0) * (y - 1.0)

  def cost_x(x):
    return value(x, params["y"]) + lam * (
        averaging.historical_averaging_penalty(x, averages["x"]))

  def cost_y(y):
    return -value(params["x"], y) + lam * (
        averaging.historical_averaging_penalty(y, averages["y"]))

  new = {"x": params["x"] - lr * jax.grad(cost_x)(params["x"]),
         "y": params["y"] - lr * jax.grad(cost_y)(params["y"])}
  return new, {name: averaging.historical_average_update(averages[name],
                                                         new[name])
               for name in new}


def _start():
  params = {"x": jnp.asarray(0.5), "y": jnp.asarray(0.5)}
  return params, {name: averaging.historical_average_init(value)
                  for name, value in params.items()}


def test_historical_averaging_finds_the_equilibrium_of_the_papers_toy_game():
  @jax.jit
  def play(lam):
    def body(carry, _):
      return _game_step(*carry, lam=lam), None
    return jax.lax.scan(body, _start(), length=5000)[0][0]

  distance = lambda p: float(jnp.hypot(p["x"] - 1.0, p["y"] - 1.0))
  assert distance(play(0.5)) < 0.05
  # Plain simultaneous gradient descent does not get there (it diverges).
  assert not distance(play(0.0)) < 0.2


def test_average_resumes_exactly_from_a_checkpoint(tmp_path):
  step = jax.jit(lambda params, averages: _game_step(params, averages,
                                                     lam=0.5))
  straight = _start()
  for _ in range(60):
    straight = step(*straight)

  first = _start()
  for _ in range(25):
    first = step(*first)
  checkpointer = Checkpointer(str(tmp_path), keep=1)
  checkpointer.save(25, first)
  checkpointer.close()
  like = jax.tree.map(jnp.zeros_like, first)
  saved_step, resumed, _ = Checkpointer(str(tmp_path),
                                        keep=1).restore_latest(like)
  assert saved_step == 25 and int(resumed[1]["x"].count) == 26
  for _ in range(35):
    resumed = step(*resumed)
  assert int(resumed[1]["y"].count) == 61
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed),
                  strict=True):
    np.testing.assert_array_equal(a, b)
