"""The generic loop: determinism, resumption, scan, NaN stops, SIGTERM."""

import json
import os
import signal

import jax
import jax.numpy as jnp
import ml_collections
import chex
import numpy as np
import optax
import pytest

from gans_jax import train as gtrain
from gans_jax.train import calls as calls_lib
from gans_jax.train import loop as loop_lib

_TX = optax.adam(0.05)


class _LinearData:
  """y = 3x - 1 + noise, a pure function of (seed, step)."""

  def __init__(self, batch_size, poison_step=None):
    self.batch_size = batch_size
    self.poison_step = poison_step

  def get_batch(self, step):
    rng = np.random.default_rng([7, step])
    x = rng.normal(size=(self.batch_size, 1)).astype(np.float32)
    y = 3 * x - 1 + 0.1 * rng.normal(size=x.shape).astype(np.float32)
    if step == self.poison_step:
      y[:] = np.nan
    return {"x": x, "y": y}


def _step(state, batch, key):
  def loss_fn(params):
    noise = 0.01 * jax.random.normal(key, batch["x"].shape)
    pred = (batch["x"] + noise) * params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2)
  loss, grads = jax.value_and_grad(loss_fn)(state["params"])
  updates, opt = _TX.update(grads, state["opt"], state["params"])
  return ({"params": optax.apply_updates(state["params"], updates), "opt": opt},
          {"loss": loss})


def _init():
  params = {"w": jnp.zeros((1,)), "b": jnp.zeros((1,))}
  return {"params": params, "opt": _TX.init(params)}


def _config(**train):
  c = ml_collections.ConfigDict()
  c.train = gtrain.train_defaults(num_steps=20, batch_size=8, log_every=2,
                                  checkpoint_every=10, sample_every=0)
  c.train.update(train)
  return c


def _fit(tmp_path, name, data=None, hooks=(), **train):
  return gtrain.fit(_step, _init(), data or _LinearData(8), _config(**train),
                    str(tmp_path / name), hooks=hooks, progress=False)


def _params(state):
  return jax.device_get(state["params"])


def test_the_step_key_is_the_runs_tagged_key_of_that_step(tmp_path):
  def step(state, batch, key):
    keys = state["keys"].at[state["n"]].set(jax.random.key_data(key))
    return {"keys": keys, "n": state["n"] + 1}, {"loss": jnp.zeros(())}

  state = {"keys": jnp.zeros((3, 2), jnp.uint32), "n": jnp.zeros((), jnp.int32)}
  state = gtrain.fit(step, state, _LinearData(8), _config(num_steps=3, seed=5),
                     str(tmp_path / "k"), progress=False)
  expected = np.stack([np.asarray(jax.random.key_data(gtrain.step_key(5, s)))
                       for s in range(3)])
  np.testing.assert_array_equal(np.asarray(state["keys"]), expected)
  assert len({tuple(k) for k in expected}) == 3


def test_training_learns_and_writes_the_workdir(tmp_path):
  state = _fit(tmp_path, "run", num_steps=100, checkpoint_every=50)
  np.testing.assert_allclose(_params(state)["w"], [3.0], atol=0.2)
  workdir = tmp_path / "run"
  records = gtrain.read_metrics(str(workdir))
  assert [r["step"] for r in records] == list(range(2, 101, 2))
  assert records[-1]["loss"] < records[0]["loss"]
  assert json.loads((workdir / "config.json").read_text())["train"]["num_steps"] == 100
  assert sorted(os.listdir(workdir / "checkpoints")) == ["100", "50"]
  assert os.listdir(workdir / "tensorboard")


def test_same_seed_gives_same_numbers_and_another_seed_differs(tmp_path):
  a = gtrain.read_metrics(str(tmp_path / "a")) if _fit(tmp_path, "a") else None
  b = gtrain.read_metrics(str(tmp_path / "b")) if _fit(tmp_path, "b") else None
  c = gtrain.read_metrics(str(tmp_path / "c")) if _fit(tmp_path, "c", seed=1) else None
  losses = lambda rs: [r["loss"] for r in rs]
  assert losses(a) == losses(b)
  assert losses(a) != losses(c)


def test_resumed_run_matches_uninterrupted_run_bit_for_bit(tmp_path):
  full = _fit(tmp_path, "full", num_steps=30)
  _fit(tmp_path, "resumed", num_steps=10)
  resumed = _fit(tmp_path, "resumed", num_steps=30)
  np.testing.assert_array_equal(_params(full)["w"], _params(resumed)["w"])
  np.testing.assert_array_equal(_params(full)["b"], _params(resumed)["b"])
  full_log = [r["loss"] for r in gtrain.read_metrics(str(tmp_path / "full"))]
  resumed_log = [r["loss"] for r in gtrain.read_metrics(str(tmp_path / "resumed"))]
  assert full_log == resumed_log


def test_several_steps_per_call_give_the_same_result(tmp_path):
  one = _fit(tmp_path, "one", num_steps=20)
  four = _fit(tmp_path, "four", num_steps=20, steps_per_call=4, log_every=4,
              checkpoint_every=20)
  np.testing.assert_allclose(_params(one)["w"], _params(four)["w"], rtol=1e-6)
  np.testing.assert_allclose(_params(one)["b"], _params(four)["b"], rtol=1e-6)


class _NumberedData(_LinearData):
  """_LinearData whose batches also carry their step's number."""

  def get_batch(self, step):
    return dict(super().get_batch(step), id=np.full((self.batch_size,), step, np.int32))


def _numbered_step(state, batch, key):
  """_step, also writing down the number of each batch it trains on."""
  inner, metrics = _step({"params": state["params"], "opt": state["opt"]}, batch, key)
  seen = state["seen"].at[state["n"]].set(batch["id"][0])
  return dict(inner, seen=seen, n=state["n"] + 1), metrics


def _numbered_init(num_steps):
  return dict(_init(), seen=jnp.full((num_steps,), -1, jnp.int32),
              n=jnp.zeros((), jnp.int32))


_COMPILE_STEP = loop_lib.compile_step


def _losses(workdir):
  return [(r["step"], r["loss"]) for r in gtrain.read_metrics(str(workdir))]


def _force_call_length(monkeypatch, length):
  """Makes the loop's timer choose calls of ``length`` steps; returns the
  list that receives ``(first step, steps run)`` of every compiled call."""
  ran = []

  def recording(*args, **kwargs):
    compiled, state_sharding, batch_sharding = _COMPILE_STEP(*args, **kwargs)

    def call(state, batches, first, num_steps):
      ran.append((int(first), int(num_steps)))
      return compiled(state, batches, first, num_steps)

    return call, state_sharding, batch_sharding

  monkeypatch.setattr(loop_lib, "compile_step", recording)
  monkeypatch.setattr(calls_lib, "divisor_within", lambda k, seconds, budget: length)
  return ran


def _numbered_fit(tmp_path, monkeypatch, name, length, num_steps=20):
  ran = _force_call_length(monkeypatch, length)
  state = gtrain.fit(_numbered_step, _numbered_init(20), _NumberedData(8),
                     _config(num_steps=num_steps, steps_per_call=6, log_every=6,
                             checkpoint_every=6),
                     str(tmp_path / name), progress=False)
  return jax.device_get(state), ran


def test_the_call_lengths_the_timer_chooses_do_not_change_any_number(
    tmp_path, monkeypatch):
  # 20 steps at up to 6 per call: every divisor of 6 the timer may choose.
  runs = {length: _numbered_fit(tmp_path, monkeypatch, f"L{length}", length)
          for length in (1, 2, 3, 6)}
  for length, (state, ran) in runs.items():
    # Two one-step timing calls, then calls of `length` ending on its
    # multiples (and at step 20); every step once, in order.
    assert ran[:2] == [(0, 1), (1, 1)]
    assert all(n == length or (first + n) % length == 0 or first + n == 20
               for first, n in ran[2:])
    assert max(n for _, n in ran[2:]) == length
    assert [f for f, _ in ran] == list(np.cumsum([0] + [n for _, n in ran])[:-1])
    assert sum(n for _, n in ran) == 20
    # No batch left out, repeated or padded in: the state saw 0..19 in order.
    np.testing.assert_array_equal(state["seen"], np.arange(20))
    assert int(state["n"]) == 20
    chex.assert_trees_all_equal(state, runs[1][0])
    assert _losses(tmp_path / f"L{length}") == _losses(tmp_path / "L1")
  assert [step for step, _ in _losses(tmp_path / "L1")] == [6, 12, 18, 20]


def test_a_run_resumed_with_other_call_lengths_matches_bit_for_bit(tmp_path,
                                                                  monkeypatch):
  whole, _ = _numbered_fit(tmp_path, monkeypatch, "whole", 6)
  _numbered_fit(tmp_path, monkeypatch, "resumed", 2, num_steps=12)
  resumed, ran = _numbered_fit(tmp_path, monkeypatch, "resumed", 3)
  assert ran[:2] == [(12, 1), (13, 1)] and ran[2:] == [(14, 1), (15, 3), (18, 2)]
  chex.assert_trees_all_equal(resumed, whole)
  assert _losses(tmp_path / "resumed") == _losses(tmp_path / "whole")


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  with pytest.raises(gtrain.NonFiniteError, match="'loss' at step 14.*checkpoint, step 10, is kept"):
    _fit(tmp_path, "nan", data=_LinearData(8, poison_step=13))
  assert sorted(os.listdir(tmp_path / "nan" / "checkpoints")) == ["10"]
  # The kept checkpoint restores and training goes on from it.
  state = _fit(tmp_path, "nan", num_steps=12)
  assert np.all(np.isfinite(_params(state)["w"]))


def test_sigterm_saves_a_checkpoint_and_resume_continues(tmp_path):
  class Terminate:
    every = 4

    def __call__(self, step, state, writer):
      if step == 8:
        os.kill(os.getpid(), signal.SIGTERM)

  with pytest.raises(gtrain.Interrupted) as info:
    _fit(tmp_path, "term", hooks=[Terminate()])
  assert info.value.step == 8
  assert sorted(os.listdir(tmp_path / "term" / "checkpoints")) == ["8"]
  resumed = _fit(tmp_path, "term")
  full = _fit(tmp_path, "full")
  np.testing.assert_array_equal(_params(full)["w"], _params(resumed)["w"])


def test_hooks_run_on_their_interval_and_at_the_end(tmp_path):
  calls = []

  class Record:
    every = 6

    def __call__(self, step, state, writer):
      calls.append(step)

  _fit(tmp_path, "hooks", hooks=[Record()])
  assert calls == [6, 12, 18, 20]


@pytest.mark.parametrize("field,value,message", [
    ("batch_size", 7, "not divisible"),
    ("log_every", 3, "multiple of train.steps_per_call"),
    ("num_steps", 0, "positive integer"),
])
def test_bad_train_fields_are_named(tmp_path, field, value, message):
  train = {field: value}
  if field == "log_every":
    train["steps_per_call"] = 2
  config = _config(**train)
  with pytest.raises(gtrain.ConfigError, match=f"train.{field}.*{message}"):
    gtrain.validate_train(config, device_count=8 if field == "batch_size" else 1)
