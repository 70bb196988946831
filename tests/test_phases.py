"""Runs made of phases, calls that stop at num_steps, and resume bookkeeping."""

import glob
import json
import os
import signal
import struct

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from experiments import common
from gans_jax import train as gtrain
from gans_jax.train import loop as loop_lib

_TX = optax.adam(0.05)


class _Data:
  """y = 3x - 1 + noise with a fixed batch size, a pure function of the step."""

  def __init__(self, batch_size):
    self.batch_size = batch_size

  def get_batch(self, step):
    rng = np.random.default_rng([11, step])
    x = rng.normal(size=(self.batch_size, 1)).astype(np.float32)
    return {"x": x, "y": 3 * x - 1 + 0.1 * rng.normal(size=x.shape).astype(np.float32)}


def _make_step(power, tag):
  """A regression step on |error|^power; each phase gets its own."""

  def step(state, batch, key):
    def loss_fn(params):
      noise = 0.01 * jax.random.normal(key, batch["x"].shape)
      pred = (batch["x"] + noise) * params["w"] + params["b"]
      return jnp.mean(jnp.abs(pred - batch["y"]) ** power)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    updates, opt = _TX.update(grads, state["opt"], state["params"])
    new = dict(state, params=optax.apply_updates(state["params"], updates), opt=opt,
               batch_sizes=state["batch_sizes"].at[state["n"]].set(batch["x"].shape[0]),
               n=state["n"] + 1)
    return new, {"loss": loss, tag: jnp.ones(())}

  return step


def _init():
  params = {"w": jnp.zeros((1,)), "b": jnp.zeros((1,))}
  return {"params": params, "opt": _TX.init(params), "entered": jnp.zeros((), jnp.int32),
          "batch_sizes": jnp.zeros((12,), jnp.int32), "n": jnp.zeros((), jnp.int32)}


def _enter(state):
  """Entering phase 2 resets Adam (as ProGAN does at a new level) and counts."""
  return dict(state, opt=_TX.init(state["params"]), entered=state["entered"] + 1)


def _phases():
  return [gtrain.Phase("small", 5, _make_step(2, "phase/small"), _Data(4)),
          gtrain.Phase("large", 7, _make_step(1, "phase/large"), _Data(16),
                       enter=_enter)]


def _config(**train):
  c = ml_collections.ConfigDict()
  c.train = gtrain.train_defaults(num_steps=12, batch_size=16, log_every=1,
                                  checkpoint_every=4, sample_every=0)
  c.train.update(train)
  return c


class _Stop:
  """A hook that stops the run at ``at``: by SIGTERM, or by a crash."""

  every = 1

  def __init__(self, at, how):
    self.at, self.how = at, how

  def __call__(self, step, state, writer):
    if step == self.at:
      if self.how == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
      else:
        raise RuntimeError("simulated crash")


def _fit_phases(workdir, hooks=(), **train):
  return gtrain.fit_phases(_phases(), _init(), _config(**train), str(workdir),
                           hooks=hooks, progress=False)


def test_each_phase_runs_its_own_step_and_batch_size_and_enters_once(tmp_path):
  state = _fit_phases(tmp_path / "run")
  np.testing.assert_array_equal(state["batch_sizes"], [4] * 5 + [16] * 7)
  assert int(state["entered"]) == 1
  records = gtrain.read_metrics(str(tmp_path / "run"))
  assert [r["step"] for r in records if "phase/small" in r] == [1, 2, 3, 4, 5]
  assert [r["step"] for r in records if "phase/large" in r] == list(range(6, 13))
  # Phase ends are checkpointed, with their phase in the record.
  assert sorted(map(int, os.listdir(tmp_path / "run" / "checkpoints")))[-1] == 12


@pytest.mark.parametrize("how,stop_at,resumes_from", [
    ("sigterm", 9, 9),    # a checkpoint is written at the stop
    ("crash", 10, 8),     # lost after the last periodic checkpoint
    ("sigterm", 5, 5),    # stopped exactly at the phase boundary
])
@pytest.mark.slow
def test_a_run_stopped_in_phase_two_resumes_bit_for_bit(tmp_path, how, stop_at,
                                                        resumes_from):
  full = _fit_phases(tmp_path / "full")
  workdir = tmp_path / "stopped"
  error = gtrain.Interrupted if how == "sigterm" else RuntimeError
  with pytest.raises(error):
    _fit_phases(workdir, hooks=[_Stop(stop_at, how)])
  steps = sorted(map(int, os.listdir(workdir / "checkpoints")))
  assert steps[-1] == resumes_from
  resumed = _fit_phases(workdir)
  chex.assert_trees_all_equal(resumed, full)
  assert int(resumed["entered"]) == 1  # not entered again when resuming
  losses = lambda d: [r["loss"] for r in gtrain.read_metrics(str(d))]
  assert losses(workdir) == losses(tmp_path / "full")


def test_a_checkpoint_from_another_phase_layout_is_refused(tmp_path):
  with pytest.raises(gtrain.Interrupted):
    _fit_phases(tmp_path / "run", hooks=[_Stop(6, "sigterm")])
  phases = _phases()
  phases[0] = gtrain.Phase("small", 7, phases[0].step_fn, phases[0].data)
  phases[1] = gtrain.Phase("large", 5, phases[1].step_fn, phases[1].data)
  with pytest.raises(gtrain.ConfigError, match="phase lengths changed"):
    gtrain.fit_phases(phases, _init(), _config(), str(tmp_path / "run"),
                      progress=False)


def test_phases_must_add_up_to_num_steps(tmp_path):
  with pytest.raises(gtrain.ConfigError, match="add up to 12"):
    gtrain.fit_phases(_phases(), _init(), _config(num_steps=10), str(tmp_path),
                      progress=False)


@pytest.mark.parametrize("ends,start,k,expected", [
    ([10], 0, 4, [(0, 0, 4), (0, 4, 4), (0, 8, 2)]),
    ([10], 8, 4, [(0, 8, 2)]),
    ([5, 12], 0, 4, [(0, 0, 4), (0, 4, 1), (1, 5, 3), (1, 8, 4)]),
    ([5, 12], 6, 4, [(1, 6, 2), (1, 8, 4)]),
    ([3], 0, 1, [(0, 0, 1), (0, 1, 1), (0, 2, 1)]),
])
def test_calls_end_on_multiples_of_steps_per_call_and_at_phase_ends(
    ends, start, k, expected):
  calls = loop_lib.plan_calls(ends, start, k)
  assert [(c.phase, c.first, c.length) for c in calls] == expected


def test_a_last_short_call_stops_at_num_steps(tmp_path):
  # 10 steps at 4 per call: calls of 4, 4 and 2, never 12 steps.
  one = gtrain.fit_phases([gtrain.Phase("p", 10, _make_step(2, "t"), _Data(4))],
                          _init(), _config(num_steps=10, checkpoint_every=10),
                          str(tmp_path / "one"), progress=False)
  four = gtrain.fit_phases([gtrain.Phase("p", 10, _make_step(2, "t"), _Data(4))],
                           _init(), _config(num_steps=10, steps_per_call=4,
                                            log_every=4, checkpoint_every=8),
                           str(tmp_path / "four"), progress=False)
  assert int(four["n"]) == 10
  chex.assert_trees_all_close(four["params"], one["params"], rtol=1e-6)
  assert [r["step"] for r in gtrain.read_metrics(str(tmp_path / "four"))] == [4, 8, 10]


# ----------------------------------------------------- resume bookkeeping --

def _events(directory):
  """(tag, step) of every scalar TensorBoard would show, applying its rule
  that a SessionLog START at step s purges the earlier events at steps >= s."""
  from tensorboardX.proto import event_pb2

  shown = []
  for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
    data = open(path, "rb").read()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack("<Q", data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      if event.HasField("session_log") and event.session_log.status == 1:
        shown = [(tag, step) for tag, step in shown if step < event.step]
      for value in event.summary.value:
        shown.append((value.tag, event.step))
  return shown


@pytest.mark.parametrize("cut_short", [False, True])
def test_a_resumed_run_leaves_no_duplicate_metrics_or_tensorboard_points(
    tmp_path, cut_short):
  workdir = tmp_path / "run"
  with pytest.raises(RuntimeError):  # killed at 10, last checkpoint at 8
    _fit_phases(workdir, hooks=[_Stop(10, "crash")])
  if cut_short:  # a killed run can leave half a line behind
    with open(workdir / "metrics.jsonl", "a") as f:
      f.write('{"step": 11, "lo')
  _fit_phases(workdir)
  lines = open(workdir / "metrics.jsonl").read().splitlines()
  assert all("step" in json.loads(line) for line in lines)  # every line whole
  steps = [r["step"] for r in gtrain.read_metrics(str(workdir)) if "loss" in r]
  assert steps == list(range(1, 13))
  shown = _events(str(workdir / "tensorboard"))
  loss_steps = [step for tag, step in shown if tag == "loss"]
  assert sorted(loss_steps) == list(range(1, 13))
  assert len(shown) == len(set(shown))


def test_final_results_written_again_replace_the_earlier_record(tmp_path):
  _fit_phases(tmp_path)
  common.write_results(str(tmp_path), 12, {"eval/score": 1.0})
  common.write_results(str(tmp_path), 12, {"eval/score": 2.0})
  records = gtrain.read_metrics(str(tmp_path))
  assert [r["eval/score"] for r in records if "eval/score" in r] == [2.0]
  # The training record at the same step is kept.
  assert [r["step"] for r in records if "loss" in r][-1] == 12
