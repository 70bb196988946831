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
  :data:`CALL_SECONDS`. Every call runs the same compiled program, so the
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
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import sys
import threading
import time
from typing import (Any, Callable, Iterable, Mapping, Protocol, Sequence,
                    runtime_checkable)

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans_jax.train import checkpoint as checkpoint_lib
from gans_jax.train import config as config_lib
from gans_jax.train import distributed
from gans_jax.train import keys as keys_lib
from gans_jax.train import preemption as preemption_lib
from gans_jax.train import writer as writer_lib

StepFn = Callable[[Any, Any, jax.Array], tuple[Any, Mapping[str, jax.Array]]]

# A compiled call runs this long at most (as measured on the phase's second
# call), so that SIGTERM is answered within a few seconds.
CALL_SECONDS = 2.0
# Calls of one step at the start of each phase: the first compiles, the
# second is timed.
PROBE_CALLS = 2


@runtime_checkable
class BatchSource(Protocol):
  """Anything the training loop can draw batches from.

  ``get_batch(step)`` returns this process's share of the global batch for
  training step ``step`` as a dict of numpy arrays shaped ``(B_local, ...)``,
  or ``(k, B_local, ...)`` when the step consumes ``k`` minibatches (for
  example ``n_critic`` discriminator updates). It must be deterministic in
  ``(seed, step, process)``, so that resuming needs no data state.
  """

  def get_batch(self, step: int) -> Mapping[str, np.ndarray]:
    ...


class Hook(Protocol):
  """Called as ``hook(step, state, writer)`` every ``hook.every`` steps and
  once at the end of training."""

  every: int

  def __call__(self, step: int, state: Any,
               writer: writer_lib.MetricWriter) -> None:
    ...


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


@dataclasses.dataclass
class _SignalFlag:
  raised: bool = False

  def __call__(self, signum, frame):
    del signum, frame
    self.raised = True


class _Prefetcher:
  """Loads and places the batches of upcoming calls on a background thread
  (``calls`` is iterated there, so a plan may wait for its next length)."""

  def __init__(self, load: Callable[[Any], Any], calls: Iterable[Any], depth: int = 2):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()

    def work():
      try:
        for call in calls:
          item = (call, load(call))
          while not self._stop.is_set():
            try:
              self._queue.put(item, timeout=0.1)
              break
            except queue.Full:
              continue
          if self._stop.is_set():
            return
      except BaseException as e:  # surfaced in the training thread
        self._queue.put((None, e))

    self._thread = threading.Thread(target=work, daemon=True)
    self._thread.start()

  def get(self):
    call, item = self._queue.get()
    if call is None:
      raise item
    return call, item

  def close(self):
    self._stop.set()
    self._thread.join(timeout=5)


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


@dataclasses.dataclass(frozen=True)
class _Call:
  """One compiled call: ``length`` steps of phase ``phase`` from ``first``;
  ``probe`` counts the one-step calls that time a phase (0: not one)."""

  phase: int
  first: int
  length: int
  probe: int = 0

  @property
  def end(self) -> int:
    return self.first + self.length


def plan_calls(phase_ends: Sequence[int], start: int, k: int) -> list[_Call]:
  """The calls from step ``start`` to the end: at most ``k`` steps each,
  ending on multiples of ``k``, at phase ends and at the last step."""
  return list(_CallPlan(phase_ends, start, k, probes=0, lengths={
      i: k for i in range(len(phase_ends))}))


def _divisor_within(k: int, seconds_per_step: float, budget: float) -> int:
  """The largest divisor of ``k`` whose calls take at most ``budget``."""
  fits = [d for d in range(1, k + 1) if k % d == 0 and d * seconds_per_step <= budget]
  return max(fits, default=1)


class _CallPlan:
  """The calls of a run, generated as they are needed.

  Each phase (entered or resumed) starts with ``probes`` one-step calls;
  :meth:`decide` then sets its call length from the time the last of them
  took, and the plan waits for that before going on. A call of length ``L``
  ends on the
  next multiple of ``L`` (or the phase's end); since every ``L`` divides
  ``k``, every multiple of ``k`` ends a call.
  """

  def __init__(self, phase_ends: Sequence[int], start: int, k: int, *,
               probes: int = PROBE_CALLS, lengths: dict[int, int] | None = None):
    self.phase_ends, self.start, self.k = list(phase_ends), start, k
    self.probes = probes
    self.lengths = dict(lengths or {})
    self._decided = threading.Condition()
    self._cancelled = False

  def _length(self, phase: int) -> int | None:
    with self._decided:
      while phase not in self.lengths and not self._cancelled:
        self._decided.wait(0.1)
      return self.lengths.get(phase)

  def __iter__(self):
    step = self.start
    for index, end in enumerate(self.phase_ends):
      probe = 0
      while step < end:
        if probe < self.probes:
          probe += 1
          yield _Call(index, step, 1, probe)
          step += 1
          continue
        length = self._length(index)
        if length is None:  # cancelled
          return
        stop = min(end, (step // length + 1) * length)
        yield _Call(index, step, stop - step)
        step = stop

  def is_last_probe(self, call: _Call) -> bool:
    return call.probe == self.probes and call.probe > 0

  def decide(self, phase: int, seconds_per_step: float) -> int:
    """Sets (and returns) the call length of ``phase`` from the time of one
    step; process 0's choice on every process."""
    length = _divisor_within(self.k, seconds_per_step, CALL_SECONDS)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      length = int(multihost_utils.broadcast_one_to_all(np.int32(length)))
    with self._decided:
      self.lengths[phase] = length
      self._decided.notify_all()
    return length

  def cancel(self) -> None:
    with self._decided:
      self._cancelled = True
      self._decided.notify_all()


def _phase_at(phase_ends: Sequence[int], step: int) -> int:
  """Index of the phase that step ``step`` belongs to (the last one at the end)."""
  for index, end in enumerate(phase_ends):
    if step < end:
      return index
  return len(phase_ends) - 1


class _Preemption:
  """Whether to stop and checkpoint now.

  One process: SIGTERM sets a flag, read after every call; under the command
  line's :func:`gans_jax.train.preemption.guard` its watcher also bounds the
  time to exit. Several processes: JAX's preemption service (which catches
  SIGTERM itself) agrees on a call at which every process stops, without a
  collective per call.
  """

  def __init__(self, directory: str):
    self.multi = jax.process_count() > 1
    self._flag = _SignalFlag()
    self._previous = None
    self._calls = 0
    self.watch = None if self.multi else preemption_lib.current()
    self._training = None
    if self.watch is not None:
      self._training = self.watch.training(directory)
      self._training.__enter__()
    elif not self.multi and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._flag)

  def requested(self) -> bool:
    """SIGTERM has arrived (one process; for several, see :meth:`reached`)."""
    if self.watch is not None:
      return self.watch.received.is_set()
    return self._flag.raised

  def reached(self) -> bool:
    """Whether to stop after this call (counted: call it once per call)."""
    self._calls += 1
    if not self.multi:
      return self.requested()
    from jax.experimental import multihost_utils
    return multihost_utils.reached_preemption_sync_point(self._calls)

  def progressed(self) -> None:
    if self.watch is not None:
      self.watch.progressed()

  def handled(self) -> None:
    if self.watch is not None:
      self.watch.handled()

  def close(self) -> None:
    if self._training is not None:
      self._training.__exit__(None, None, None)
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


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
  train = config.train
  mesh = distributed.data_mesh() if mesh is None else mesh
  config_lib.validate_train(config, device_count=mesh.size)
  if not phases:
    raise ValueError("fit_phases needs at least one phase")
  phase_ends = [int(e) for e in np.cumsum([p.num_steps for p in phases])]
  total = int(phase_ends[-1])
  if any(p.num_steps < 1 for p in phases):
    raise config_lib.ConfigError(
        "train.num_steps", f"every phase needs at least one step, got "
        f"{[(p.name, p.num_steps) for p in phases]}")
  if total != train.num_steps:
    raise config_lib.ConfigError(
        "train.num_steps", f"is {train.num_steps} but the phases "
        f"{[p.name for p in phases]} add up to {total} steps")
  k = train.steps_per_call
  os.makedirs(workdir, exist_ok=True)

  state_sharding = distributed.replicated(mesh)

  def make_compiled(phase: Phase):
    compiled, _, batch_sharding = compile_step(
        phase.step_fn, mesh=mesh, seed=train.seed, steps_per_call=k,
        batch_axis=phase.batch_axis)
    return compiled, batch_sharding

  compiled = [None] * len(phases)

  def compiled_for(index):
    if compiled[index] is None:
      compiled[index] = make_compiled(phases[index])
    return compiled[index]

  def record(at_step: int) -> dict[str, Any]:
    index = _phase_at(phase_ends, at_step)
    start = phase_ends[index] - phases[index].num_steps
    return {"phase": phases[index].name, "phase_index": index,
            "phase_step": at_step - int(start)}

  bar = None

  def log(message: str) -> None:
    if jax.process_index() == 0:
      if bar is not None:
        bar.write(message, file=sys.stderr)
      else:
        print(message, file=sys.stderr)

  checkpointer = checkpoint_lib.Checkpointer(workdir, keep=train.keep_checkpoints,
                                             report=log)
  state = _place(state, state_sharding)
  step = 0
  try:
    restored = checkpointer.restore_latest(like=state)
  except BaseException:
    checkpointer.close()
    raise
  if restored is not None:
    step, state, saved = restored
    expected = record(step)
    if (saved.get("phase_index"), saved.get("phase")) != (
        expected["phase_index"], expected["phase"]):
      checkpointer.close()
      raise config_lib.ConfigError(
          "train", f"checkpoint {step} was saved in phase "
          f"{saved.get('phase')!r} (#{saved.get('phase_index')}), but the "
          f"config puts step {step} in phase {expected['phase']!r} "
          f"(#{expected['phase_index']}): the phase lengths changed")
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  writer = writer_lib.MetricWriter(workdir, resume_step=step)

  plan = _CallPlan(phase_ends, step, k)

  def load(call: _Call):
    phase = phases[call.phase]
    host = [phase.data.get_batch(s) for s in range(call.first, call.end)]
    if k == 1:
      host = host[0]
    else:  # the program's k rows, of which the call runs the first
      host = _stack_steps(host + host[-1:] * (k - call.length))
    _, sharding = compiled_for(call.phase)
    if jax.process_count() == 1:
      return jax.device_put(host, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(
        sharding, np.asarray(x)), host)

  # Build the first phase's jit object here, not in the prefetch thread.
  if step < total:
    compiled_for(_phase_at(phase_ends, step))
  preemption = _Preemption(checkpointer.directory)

  if progress and jax.process_index() == 0 and step < total:
    bar = _progress_bar(total, step)

  last_saved = step
  pending = None
  interval_start, interval_steps = time.perf_counter(), 0
  first_call_seconds = None

  def last_good():
    checkpointer.wait()
    latest = checkpointer.latest_step()
    if latest is None:
      return "No checkpoint had been saved yet."
    return (f"The last good checkpoint, step {latest}, is kept in "
            f"{checkpointer.directory}.")

  def check_and_log(item):
    nonlocal interval_start, interval_steps
    call, metrics = item
    metrics = jax.device_get(metrics)
    if k > 1:  # the rows the call ran
      metrics = {name: v[:call.length] for name, v in metrics.items()}
    bad = _first_non_finite(metrics)
    if bad is not None:
      where = call.end if call.length == 1 else f"{call.first + 1}-{call.end}"
      raise NonFiniteError(
          f"non-finite metric {bad!r} at step {where}; stopped. {last_good()}")
    if call.end % train.log_every == 0 or call.end == total:
      last = {name: (v[-1] if k > 1 else v) for name, v in metrics.items()}
      now = time.perf_counter()
      if interval_steps:
        last["perf/steps_per_sec"] = interval_steps / (now - interval_start)
      if first_call_seconds is not None:
        last["perf/first_call_seconds"] = first_call_seconds
      interval_start, interval_steps = now, 0
      writer.write_scalars(call.end, last)
      if bar is not None:
        bar.set_postfix({n: f"{float(v):.4g}" for n, v in last.items()
                         if not n.startswith("perf/")}, refresh=False)

  def save(at_step, host_state=None):
    """Checkpoints ``state`` (or ``host_state``, a copy on the host of the
    state at ``at_step``, while a call still runs on the device)."""
    nonlocal last_saved, pending
    if pending is not None:
      check_and_log(pending)
      pending = None
    if host_state is not None:
      bad = _first_non_finite(host_state)
      tree = jax.device_put(host_state, state_sharding)
    else:
      bad = None if bool(_all_finite(state)) else _first_non_finite(state)
      tree = state
    if bad is not None:
      raise NonFiniteError(
          f"the state became non-finite at {bad} by step {at_step}; stopped. "
          f"{last_good()}")
    checkpointer.save(at_step, tree, record(at_step))
    last_saved = at_step

  def finished_before_sigterm(outputs) -> bool:
    """Waits for a call in Python, so that SIGTERM is seen while it runs."""
    leaves, pause = jax.tree.leaves(outputs), 1e-4
    while not all(x.is_ready() for x in leaves):
      if preemption.requested():
        return False
      time.sleep(pause)
      pause = min(2 * pause, 0.02)
    return True

  def run_hooks(at_step, final):
    for hook in hooks:
      if final or (hook.every and at_step % hook.every == 0):
        hook(at_step, state, writer)

  def choose_length(call: _Call, seconds: float) -> None:
    length = plan.decide(call.phase, seconds)
    if length < k:
      log(f"train.steps_per_call={k}: a step takes {seconds:.2g} s inside a "
          f"compiled call here, so calls of phase {phases[call.phase].name!r} "
          f"run {length} step{'s' if length > 1 else ''} (at most "
          f"{CALL_SECONDS:g} s each, so that SIGTERM is answered promptly)"
          + ("; train.steps_per_call=1 compiles the step without a loop, "
             "which can be much faster (convolutions on a CPU)"
             if length == 1 else ""))

  # The timing calls, and calls that take longer than CALL_SECONDS even at
  # one step: before each, the state goes to the host, and SIGTERM during
  # the call checkpoints that copy at once instead of waiting for the call
  # (one process; several stop together after a call).
  slow_calls = False
  lost = False
  prefetcher = _Prefetcher(load, plan)
  try:
    while step < total:
      call, batch = prefetcher.get()
      phase = phases[call.phase]
      keep_copy = (slow_calls or call.probe > 0) and not preemption.multi
      host_state = jax.device_get(state) if keep_copy else None
      if call.first == phase_ends[call.phase] - phase.num_steps and phase.enter:
        state = phase.enter(state)
      fn, _ = compiled_for(call.phase)
      start = time.perf_counter()
      state, metrics = fn(state, batch, np.int32(call.first), np.int32(call.length))
      if keep_copy and not finished_before_sigterm((state, metrics)):
        if last_saved != call.first:
          save(call.first, host_state)
        checkpointer.wait()
        preemption.handled()
        stop = Interrupted(call.first, checkpointer.directory)
        if preemption.watch is not None:
          # The running call would hold up the process's exit until it ends.
          writer.close()
          if bar is not None:
            bar.close()
          preemption.watch.exit_now(str(stop))
        raise stop
      if first_call_seconds is None or call.probe:
        jax.block_until_ready(metrics)
        seconds = time.perf_counter() - start
        if first_call_seconds is None:
          first_call_seconds = seconds
          preemption.progressed()
        interval_start = time.perf_counter()
        if plan.is_last_probe(call):
          choose_length(call, seconds)
          slow_calls = (not preemption.multi
                        and plan.lengths[call.phase] * seconds > CALL_SECONDS)
      if pending is not None:
        check_and_log(pending)
      step = call.end
      interval_steps += call.length
      pending = (call, metrics)
      if bar is not None:
        bar.update(call.length)
      at_phase_end = step == phase_ends[call.phase]
      if step % train.checkpoint_every == 0 or at_phase_end:
        save(step)
      if step < total:
        run_hooks(step, final=False)
      if preemption.reached():
        if last_saved != step:
          save(step)
        checkpointer.wait()
        preemption.handled()
        raise Interrupted(step, checkpointer.directory)
    if pending is not None:
      check_and_log(pending)
      pending = None
    if last_saved != step:
      save(step)
    checkpointer.wait()
    if preemption.watch is not None:
      preemption.watch.finished(step, checkpointer.directory)
    run_hooks(step, final=True)
  except jax.errors.JaxRuntimeError as e:
    if not (preemption.multi and _lost_process(e)):
      raise
    lost = True
    raise HostLost(
        f"process {jax.process_index()} of {jax.process_count()} lost contact "
        f"with another process after step {step} ({_one_line(e)}); "
        f"{preemption_lib.newest_checkpoint(checkpointer.directory)}; start "
        "every process again to resume from it") from None
  finally:
    plan.cancel()
    prefetcher.close()
    if bar is not None:
      bar.close()
    if not lost:  # a write in flight would wait for the lost process
      checkpointer.close()
    writer.close()
    preemption.close()
  return state


def _one_line(error: BaseException, limit: int = 200) -> str:
  text = " ".join(f"{type(error).__name__}: {error}".split())
  return text if len(text) <= limit else text[:limit - 3] + "..."
