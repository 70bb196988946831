"""The generic training loop: jit any pure step, shard the batch, checkpoint.

``fit`` knows nothing about GANs. It takes a pure function
``step_fn(state, batch, key) -> (state, metrics)`` and

* compiles it once with the state donated, over a device mesh whose ``data``
  axis shards the batch while the state is replicated;
* feeds it ``data.get_batch(step)`` (each host's share of the global batch)
  prepared ahead on a background thread;
* derives the step's key as ``fold_in(make_key(seed, "train"), step)``
  (:mod:`gans_jax.train.keys`), so a run is a pure function of its config
  and a resumed run continues bit for bit;
* runs up to ``train.steps_per_call`` steps inside one compiled call (a
  loop over a stack of that many batches; less dispatch for small models),
  with calls short enough to answer SIGTERM within seconds: the first two
  calls of a phase run one step each, and the second one's time sets the call
  length, the largest divisor of ``steps_per_call`` whose calls take at most
  :data:`CALL_SECONDS` (:mod:`gans_jax.train.calls`). Every call runs the same compiled program, so the
  numbers do not depend on the lengths chosen; calls end on multiples of
  their length (so on every multiple of ``steps_per_call``, where logs,
  checkpoints and hooks fall) and at phase ends, so a run never trains past
  ``num_steps``;
* logs metrics, checks every one of them for NaN/Inf, writes checkpoints,
  resumes from the newest readable one, and saves one more on SIGTERM
  (:mod:`gans_jax.train.preemption`).

A run may be a sequence of :class:`Phase` s (:func:`fit_phases`), each with
its own compiled step, data and batch size, and an ``enter`` function applied
to the state when the phase starts (ProGAN's levels, which reset Adam). The
phase is part of every checkpoint's record, and a restart resumes in the
phase it stopped in without entering it again.

A run is one ``_Run`` object: it restores, then trains call after call, and
its methods are the loop's jobs (loading batches ahead, timing and planning
calls, answering SIGTERM, checkpointing, logging), each reading and updating
the run's state in one place.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans_jax.contracts import BatchSource
from gans_jax.contracts import Hook
from gans_jax.train import checkpoint as checkpoint_lib
from gans_jax.train import config as config_lib
from gans_jax.train import distributed
from gans_jax.train import keys as keys_lib
from gans_jax.train import preemption as preemption_lib
from gans_jax.train import writer as writer_lib
from gans_jax.train.calls import CALL_SECONDS
from gans_jax.train.calls import Call
from gans_jax.train.calls import CallPlan
from gans_jax.train.calls import Prefetcher
from gans_jax.train.calls import phase_at
from gans_jax.train.calls import plan_calls

__all__ = ["BatchSource", "CALL_SECONDS", "Hook", "HostLost", "Interrupted",
           "NonFiniteError", "Phase", "StepFn", "compile_step", "fit",
           "fit_phases", "plan_calls"]

StepFn = Callable[[Any, Any, jax.Array], tuple[Any, Mapping[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class Phase:
  """A stretch of training with one compiled step and one data source.

  Attributes:
    name: shown in messages and kept in checkpoint records.
    num_steps: steps in this phase.
    step_fn: the pure step of this phase.
    data: its batch source (``get_batch(step)`` receives the global step).
    batch_axis: the axis of every batch array that holds examples.
    enter: ``state -> state`` applied when the phase starts (not when a run
      resumes in the middle of it), e.g. resetting an optimizer.
  """

  name: str
  num_steps: int
  step_fn: StepFn
  data: BatchSource
  batch_axis: int = 0
  enter: Callable[[Any], Any] | None = None


class NonFiniteError(FloatingPointError):
  """A metric or the state became NaN or Inf; training stopped."""


class Interrupted(RuntimeError):
  """SIGTERM arrived; a checkpoint was saved and training stopped."""

  def __init__(self, step: int, directory: str):
    self.step = step
    super().__init__(
        f"interrupted by SIGTERM: checkpoint saved at step {step} in "
        f"{directory}; run the same command again to resume")


class HostLost(RuntimeError):
  """Another process of a multi-host run died (killed, preempted, its host
  lost) and a collective with it failed; this process stopped too, without
  waiting for the checkpoint being written."""


# What JAX's errors say when a collective's peer or the coordinator is gone.
_LOST_MARKERS = ("gloo", "connection reset", "connection closed", "socket closed",
                 "coordination service", "heartbeat", "unavailable", "barrier")


def _lost_process(error: BaseException) -> bool:
  text = str(error).lower()
  return any(marker in text for marker in _LOST_MARKERS)





def _first_non_finite(tree: Any) -> str | None:
  """Path of the first leaf holding a NaN or Inf, or None."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    leaf = np.asarray(leaf)
    if np.issubdtype(leaf.dtype, np.inexact) and not np.all(np.isfinite(leaf)):
      return "/".join(str(getattr(p, "key", getattr(p, "name", p))) for p in path)
  return None


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _place(tree: Any, sharding) -> Any:
  """Puts a host-identical pytree on ``sharding`` (works across hosts too)."""
  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
  return jax.tree.map(put, tree)



def _stack_steps(batches: Sequence[Mapping[str, np.ndarray]]):
  return jax.tree.map(lambda *xs: np.stack(xs), *batches)


def compile_step(step_fn: StepFn, *, mesh: jax.sharding.Mesh, seed: int,
                 steps_per_call: int = 1, batch_axis: int = 0):
  """``step_fn`` compiled the way :func:`fit` runs it.

  The state is donated and replicated over the ``data`` mesh, the batch
  sharded on it, and step ``s`` gets the key ``step_key(seed, s)``. With
  ``steps_per_call = k > 1`` the batches of ``k`` consecutive steps arrive
  stacked on a new leading axis, and a loop runs the first ``num_steps`` of
  them (any number up to ``k``, chosen at run time: one program serves calls
  of every length, so they compute the same numbers); the metrics come back
  stacked the same way, valid for the first ``num_steps`` rows.

  Returns:
    ``(compiled, state_sharding, batch_sharding)``; call
    ``compiled(state, batches, np.int32(first_step), np.int32(num_steps))
    -> (state, metrics)`` (``num_steps`` is 1 when ``k`` is 1).
  """
  k = steps_per_call
  state_sharding = distributed.replicated(mesh)
  batch_sharding = distributed.batch_sharding(
      mesh, batch_axis=batch_axis + (1 if k > 1 else 0))
  train_key = keys_lib.make_key(seed, "train")

  def one_step(state, batch, step):
    return step_fn(state, batch, keys_lib.step_key(train_key, step))

  def call(state, batches, first_step, num_steps):
    if k == 1:
      return one_step(state, batches, first_step)
    at = lambda i: jax.tree.map(lambda x: x[i], batches)
    shapes = jax.eval_shape(lambda s, b: one_step(s, b, first_step)[1], state, at(0))
    metrics = jax.tree.map(lambda m: jnp.zeros((k, *m.shape), m.dtype), shapes)

    def body(i, carry):
      state, metrics = carry
      state, values = one_step(state, at(i), first_step + i)
      return state, jax.tree.map(lambda buf, v: buf.at[i].set(v), metrics, values)

    return jax.lax.fori_loop(0, num_steps, body, (state, metrics))

  compiled = jax.jit(call, donate_argnums=0,
                     in_shardings=(state_sharding, batch_sharding, None, None),
                     out_shardings=(state_sharding, state_sharding))
  return compiled, state_sharding, batch_sharding


def fit(step_fn: StepFn, state: Any, data: BatchSource,
        config: ml_collections.ConfigDict, workdir: str, *,
        hooks: Sequence[Hook] = (), batch_axis: int = 0,
        mesh: jax.sharding.Mesh | None = None,
        progress: bool = True) -> Any:
  """Trains ``state`` with ``step_fn`` for ``config.train.num_steps`` steps.

  Args:
    step_fn: pure ``step(state, batch, key) -> (state, metrics)``; metrics is
      a flat dict of scalars.
    state: the initial state pytree (identical on every host). Replaced by the
      newest readable checkpoint in ``workdir`` when there is one.
    data: a batch source (``get_batch(step)``, this host's share).
    config: the run's config; ``config.train`` holds the loop's fields (see
      :func:`gans_jax.train.config.train_defaults`). Written to the workdir.
    workdir: where config, metrics, TensorBoard events, checkpoints go.
    hooks: periodic callbacks (sample grids, evaluations).
    batch_axis: the axis of every batch array that holds examples (1 when
      the source stacks several minibatches per step).
    mesh: the device mesh; default all devices on one ``data`` axis.
    progress: show a progress bar on process 0.

  Returns:
    The final state.

  Raises:
    NonFiniteError: a metric or the state became NaN/Inf. The newest
      checkpoint in the workdir is the last good one.
    Interrupted: SIGTERM arrived; a checkpoint of the current step was saved.
    checkpoint.CheckpointError: the workdir's checkpoints cannot be restored.
  """
  phase = Phase("train", config.train.num_steps, step_fn, data, batch_axis)
  return fit_phases([phase], state, config, workdir, hooks=hooks, mesh=mesh,
                    progress=progress)


def _progress_bar(total: int, initial: int):
  """A tqdm bar, or None in a Jupyter kernel without ipywidgets.

  There tqdm would fall back to text, and a notebook stored with its outputs
  would keep every redraw of the bar as a line of its own.
  """
  if "ipykernel" in sys.modules:
    try:
      import ipywidgets  # noqa: F401
    except ImportError:
      return None
  from tqdm.auto import tqdm
  return tqdm(total=total, initial=initial, unit="step",
              dynamic_ncols=True, mininterval=1.0)


def fit_phases(phases: Sequence[Phase], state: Any,
               config: ml_collections.ConfigDict, workdir: str, *,
               hooks: Sequence[Hook] = (), mesh: jax.sharding.Mesh | None = None,
               progress: bool = True) -> Any:
  """Trains ``state`` through ``phases`` one after the other.

  Steps are counted across phases (phase ``i`` covers the global steps after
  those of phases ``0 .. i-1``); ``config.train.num_steps`` must equal their
  sum. Each phase's step is compiled when the phase starts (the persistent
  compilation cache serves it again after a restart), and each checkpoint
  records its phase. Otherwise as :func:`fit`.
  """
  mesh = distributed.data_mesh() if mesh is None else mesh
  phase_ends = _phase_ends(phases, config, mesh)
  return _Run(phases, phase_ends, state, config, workdir, hooks=hooks,
              mesh=mesh, progress=progress).train()


def _phase_ends(phases: Sequence[Phase], config: ml_collections.ConfigDict,
                mesh: jax.sharding.Mesh) -> list[int]:
  """The global step at which each phase ends, once the config and the
  phases are checked to agree."""
  config_lib.validate_train(config, device_count=mesh.size)
  if not phases:
    raise ValueError("fit_phases needs at least one phase")
  phase_ends = [int(e) for e in np.cumsum([p.num_steps for p in phases])]
  if any(p.num_steps < 1 for p in phases):
    raise config_lib.ConfigError(
        "train.num_steps", f"every phase needs at least one step, got "
        f"{[(p.name, p.num_steps) for p in phases]}")
  if phase_ends[-1] != config.train.num_steps:
    raise config_lib.ConfigError(
        "train.num_steps", f"is {config.train.num_steps} but the phases "
        f"{[p.name for p in phases]} add up to {phase_ends[-1]} steps")
  return phase_ends


class _Run:
  """One training run of :func:`fit_phases`, from restoring to the last save.

  It holds what training keeps from one compiled call to the next: the state
  and its step, the call plan, the checkpointer, the metric writer, the
  progress bar, the metrics of the call whose numbers are not yet checked,
  and the step rate's interval.
  """

  def __init__(self, phases: Sequence[Phase], phase_ends: list[int], state: Any,
               config: ml_collections.ConfigDict, workdir: str, *,
               hooks: Sequence[Hook], mesh: jax.sharding.Mesh, progress: bool):
    self.phases, self.phase_ends, self.hooks = list(phases), phase_ends, hooks
    self.total = phase_ends[-1]
    self.train_config = config.train
    self.k = config.train.steps_per_call
    self.mesh = mesh
    self.state_sharding = distributed.replicated(mesh)
    self._compiled: list[Any] = [None] * len(phases)
    self.bar = None
    os.makedirs(workdir, exist_ok=True)
    self.checkpointer = checkpoint_lib.Checkpointer(
        workdir, keep=config.train.keep_checkpoints, report=self.log)
    self.step, self.state = self._restore(state)
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    self.writer = writer_lib.MetricWriter(workdir, resume_step=self.step)
    self.plan = CallPlan(phase_ends, self.step, self.k)
    # Build the first phase's jit object here, not in the prefetch thread.
    if self.step < self.total:
      self.compiled_for(phase_at(phase_ends, self.step))
    self.preemption = preemption_lib.TrainingStop(self.checkpointer.directory)
    if progress and jax.process_index() == 0 and self.step < self.total:
      self.bar = _progress_bar(self.total, self.step)
    self.last_saved = self.step
    self.pending: tuple[Call, Any] | None = None  # a call's unchecked metrics
    self.interval_start, self.interval_steps = time.perf_counter(), 0
    self.first_call_seconds: float | None = None
    # The timing calls, and calls that take longer than CALL_SECONDS even at
    # one step: before each, the state goes to the host, and SIGTERM during
    # the call checkpoints that copy at once instead of waiting for the call
    # (one process; several stop together after a call).
    self.slow_calls = False
    self.lost = False

  # ----------------------------------------------------------- the phases --

  def compiled_for(self, index: int) -> tuple[Any, Any]:
    """Phase ``index``'s compiled call and batch sharding, built once."""
    if self._compiled[index] is None:
      compiled, _, batch_sharding = compile_step(
          self.phases[index].step_fn, mesh=self.mesh,
          seed=self.train_config.seed, steps_per_call=self.k,
          batch_axis=self.phases[index].batch_axis)
      self._compiled[index] = compiled, batch_sharding
    return self._compiled[index]

  def record(self, at_step: int) -> dict[str, Any]:
    """What a checkpoint at ``at_step`` records of its phase."""
    index = phase_at(self.phase_ends, at_step)
    start = self.phase_ends[index] - self.phases[index].num_steps
    return {"phase": self.phases[index].name, "phase_index": index,
            "phase_step": at_step - int(start)}

  def _restore(self, state: Any) -> tuple[int, Any]:
    """The step and state to start from: the newest readable checkpoint's,
    or step 0 and ``state`` placed on the mesh."""
    state = _place(state, self.state_sharding)
    try:
      restored = self.checkpointer.restore_latest(like=state)
    except BaseException:
      self.checkpointer.close()
      raise
    if restored is None:
      return 0, state
    step, state, saved = restored
    expected = self.record(step)
    if (saved.get("phase_index"), saved.get("phase")) != (
        expected["phase_index"], expected["phase"]):
      self.checkpointer.close()
      raise config_lib.ConfigError(
          "train", f"checkpoint {step} was saved in phase "
          f"{saved.get('phase')!r} (#{saved.get('phase_index')}), but the "
          f"config puts step {step} in phase {expected['phase']!r} "
          f"(#{expected['phase_index']}): the phase lengths changed")
    return step, state

  # ----------------------------------------------------------- prefetching --

  def load(self, call: Call) -> Any:
    """The batches of ``call``, placed on the mesh (in the prefetch thread)."""
    phase = self.phases[call.phase]
    host = [phase.data.get_batch(s) for s in range(call.first, call.end)]
    if self.k == 1:
      host = host[0]
    else:  # the program's k rows, of which the call runs the first
      host = _stack_steps(host + host[-1:] * (self.k - call.length))
    _, sharding = self.compiled_for(call.phase)
    if jax.process_count() == 1:
      return jax.device_put(host, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(
        sharding, np.asarray(x)), host)

  # --------------------------------------------------------------- training --

  def train(self) -> Any:
    """Runs every call to the end; returns the final state."""
    prefetcher = Prefetcher(self.load, self.plan)
    try:
      while self.step < self.total:
        self.run_call(*prefetcher.get())
        if self.preemption.reached():
          raise self.save_and_stop(self.step)
      self.finish()
    except jax.errors.JaxRuntimeError as e:
      if not (self.preemption.multi and _lost_process(e)):
        raise
      self.lost = True
      raise HostLost(
          f"process {jax.process_index()} of {jax.process_count()} lost contact "
          f"with another process after step {self.step} ({_one_line(e)}); "
          f"{preemption_lib.newest_checkpoint(self.checkpointer.directory)}; "
          "start every process again to resume from it") from None
    finally:
      self.plan.cancel()
      prefetcher.close()
      if self.bar is not None:
        self.bar.close()
      if not self.lost:  # a write in flight would wait for the lost process
        self.checkpointer.close()
      self.writer.close()
      self.preemption.close()
    return self.state

  def run_call(self, call: Call, batch: Any) -> None:
    """Runs one compiled call, then logs, saves and calls hooks as due."""
    phase = self.phases[call.phase]
    keep_copy = (self.slow_calls or call.probe > 0) and not self.preemption.multi
    host_state = jax.device_get(self.state) if keep_copy else None
    if call.first == self.phase_ends[call.phase] - phase.num_steps and phase.enter:
      self.state = phase.enter(self.state)
    fn, _ = self.compiled_for(call.phase)
    start = time.perf_counter()
    self.state, metrics = fn(self.state, batch, np.int32(call.first),
                             np.int32(call.length))
    if keep_copy and not self.finished_before_sigterm((self.state, metrics)):
      self.stop_during_call(call, host_state)
    if self.first_call_seconds is None or call.probe:
      self.time_call(call, metrics, start)
    if self.pending is not None:
      self.check_and_log(self.pending)
    self.step = call.end
    self.interval_steps += call.length
    self.pending = (call, metrics)
    if self.bar is not None:
      self.bar.update(call.length)
    at_phase_end = self.step == self.phase_ends[call.phase]
    if self.step % self.train_config.checkpoint_every == 0 or at_phase_end:
      self.save(self.step)
    if self.step < self.total:
      self.run_hooks(self.step, final=False)

  def finish(self) -> None:
    """After the last call: the last numbers, the last save, the hooks."""
    if self.pending is not None:
      self.check_and_log(self.pending)
      self.pending = None
    if self.last_saved != self.step:
      self.save(self.step)
    self.checkpointer.wait()
    if self.preemption.watch is not None:
      self.preemption.watch.finished(self.step, self.checkpointer.directory)
    self.run_hooks(self.step, final=True)

  def run_hooks(self, at_step: int, final: bool) -> None:
    for hook in self.hooks:
      if final or (hook.every and at_step % hook.every == 0):
        hook(at_step, self.state, self.writer)

  # ---------------------------------------------------------- call planning --

  def time_call(self, call: Call, metrics: Any, start: float) -> None:
    """Times the run's first call and each phase's probes; after a phase's
    last probe, sets the length of its calls."""
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    if self.first_call_seconds is None:
      self.first_call_seconds = seconds
      self.preemption.progressed()
    self.interval_start = time.perf_counter()
    if self.plan.is_last_probe(call):
      self.choose_length(call, seconds)
      self.slow_calls = (not self.preemption.multi and
                         self.plan.lengths[call.phase] * seconds > CALL_SECONDS)

  def choose_length(self, call: Call, seconds: float) -> None:
    k = self.k
    length = self.plan.decide(call.phase, seconds)
    if length < k:
      self.log(
          f"train.steps_per_call={k}: a step takes {seconds:.2g} s inside a "
          f"compiled call here, so calls of phase "
          f"{self.phases[call.phase].name!r} run {length} "
          f"step{'s' if length > 1 else ''} (at most {CALL_SECONDS:g} s each, "
          "so that SIGTERM is answered promptly)"
          + ("; train.steps_per_call=1 compiles the step without a loop, "
             "which can be much faster (convolutions on a CPU)"
             if length == 1 else ""))

  # ------------------------------------------------------------- preemption --

  def finished_before_sigterm(self, outputs: Any) -> bool:
    """Waits for a call in Python, so that SIGTERM is seen while it runs."""
    leaves, pause = jax.tree.leaves(outputs), 1e-4
    while not all(x.is_ready() for x in leaves):
      if self.preemption.requested():
        return False
      time.sleep(pause)
      pause = min(2 * pause, 0.02)
    return True

  def stop_during_call(self, call: Call, host_state: Any) -> None:
    """SIGTERM came while ``call`` ran: saves the host's copy of the state
    from before it and stops, without waiting for the call."""
    stop = self.save_and_stop(call.first, host_state)
    if self.preemption.watch is not None:
      # The running call would hold up the process's exit until it ends.
      self.writer.close()
      if self.bar is not None:
        self.bar.close()
      self.preemption.watch.exit_now(str(stop))
    raise stop

  def save_and_stop(self, at_step: int, host_state: Any = None) -> Interrupted:
    """Saves step ``at_step`` unless it is saved, waits for the write, and
    returns the error to stop with."""
    if self.last_saved != at_step:
      self.save(at_step, host_state)
    self.checkpointer.wait()
    self.preemption.handled()
    return Interrupted(at_step, self.checkpointer.directory)

  # ---------------------------------------------------------- checkpointing --

  def save(self, at_step: int, host_state: Any = None) -> None:
    """Checkpoints the state (or ``host_state``, a copy on the host of the
    state at ``at_step``, while a call still runs on the device)."""
    if self.pending is not None:
      self.check_and_log(self.pending)
      self.pending = None
    if host_state is not None:
      bad = _first_non_finite(host_state)
      tree = jax.device_put(host_state, self.state_sharding)
    else:
      bad = None if bool(_all_finite(self.state)) else _first_non_finite(self.state)
      tree = self.state
    if bad is not None:
      raise NonFiniteError(
          f"the state became non-finite at {bad} by step {at_step}; stopped. "
          f"{self.last_good()}")
    self.checkpointer.save(at_step, tree, self.record(at_step))
    self.last_saved = at_step

  def last_good(self) -> str:
    """The sentence naming the checkpoint a stopped run keeps."""
    self.checkpointer.wait()
    latest = self.checkpointer.latest_step()
    if latest is None:
      return "No checkpoint had been saved yet."
    return (f"The last good checkpoint, step {latest}, is kept in "
            f"{self.checkpointer.directory}.")

  # ---------------------------------------------------------------- logging --

  def log(self, message: str) -> None:
    """A line on process 0's stderr (above the progress bar)."""
    if jax.process_index() == 0:
      if self.bar is not None:
        self.bar.write(message, file=sys.stderr)
      else:
        print(message, file=sys.stderr)

  def check_and_log(self, item: tuple[Call, Any]) -> None:
    """Stops on a non-finite metric of a finished call; writes the call's
    last numbers when a log step ends it."""
    call, metrics = item
    k = self.k
    metrics = jax.device_get(metrics)
    if k > 1:  # the rows the call ran
      metrics = {name: v[:call.length] for name, v in metrics.items()}
    bad = _first_non_finite(metrics)
    if bad is not None:
      where = call.end if call.length == 1 else f"{call.first + 1}-{call.end}"
      raise NonFiniteError(
          f"non-finite metric {bad!r} at step {where}; stopped. {self.last_good()}")
    if call.end % self.train_config.log_every == 0 or call.end == self.total:
      last = {name: (v[-1] if k > 1 else v) for name, v in metrics.items()}
      now = time.perf_counter()
      if self.interval_steps:
        last["perf/steps_per_sec"] = self.interval_steps / (now - self.interval_start)
      if self.first_call_seconds is not None:
        last["perf/first_call_seconds"] = self.first_call_seconds
      self.interval_start, self.interval_steps = now, 0
      self.writer.write_scalars(call.end, last)
      if self.bar is not None:
        self.bar.set_postfix({n: f"{float(v):.4g}" for n, v in last.items()
                              if not n.startswith("perf/")}, refresh=False)


def _one_line(error: BaseException, limit: int = 200) -> str:
  text = " ".join(f"{type(error).__name__}: {error}".split())
  return text if len(text) <= limit else text[:limit - 3] + "..."
