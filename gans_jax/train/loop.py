"""The generic training loop: jit any pure step, shard the batch, checkpoint.

``fit`` knows nothing about GANs. It takes a pure function
``step_fn(state, batch, key) -> (state, metrics)`` and

* compiles it once with the state donated, over a device mesh whose ``data``
  axis shards the batch while the state is replicated;
* feeds it ``data.get_batch(step)`` (each host's share of the global batch)
  prepared one step ahead on a background thread;
* derives the step's key as ``fold_in(key(seed), step)``, so a run is a pure
  function of its config and a resumed run continues bit for bit;
* runs ``train.steps_per_call`` steps inside one compiled call with
  ``lax.scan`` (same numbers, less dispatch for small models);
* logs metrics, checks every one of them for NaN/Inf, writes checkpoints,
  resumes from the newest one, and saves one more on SIGTERM.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans_jax.train import checkpoint as checkpoint_lib
from gans_jax.train import config as config_lib
from gans_jax.train import distributed
from gans_jax.train import writer as writer_lib

StepFn = Callable[[Any, Any, jax.Array], tuple[Any, Mapping[str, jax.Array]]]


class BatchSource(Protocol):
  def get_batch(self, step: int) -> Mapping[str, np.ndarray]:
    """This host's share of the global batch for training step ``step``."""


class Hook(Protocol):
  """Called as ``hook(step, state, writer)`` every ``hook.every`` steps and
  once at the end of training."""

  every: int

  def __call__(self, step: int, state: Any,
               writer: writer_lib.MetricWriter) -> None:
    ...


class NonFiniteError(FloatingPointError):
  """A metric or the state became NaN or Inf; training stopped."""


class Interrupted(RuntimeError):
  """SIGTERM arrived; a checkpoint was saved and training stopped."""

  def __init__(self, step: int, directory: str):
    self.step = step
    super().__init__(
        f"interrupted by SIGTERM: checkpoint saved at step {step} in "
        f"{directory}; run the same command again to resume")


@dataclasses.dataclass
class _SignalFlag:
  raised: bool = False

  def __call__(self, signum, frame):
    del signum, frame
    self.raised = True


def _stack_steps(batches: Sequence[Mapping[str, np.ndarray]]):
  return jax.tree.map(lambda *xs: np.stack(xs), *batches)


class _Prefetcher:
  """Loads and places the batches of upcoming calls on a background thread."""

  def __init__(self, load: Callable[[int], Any], steps: Iterable[int], depth: int = 2):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()

    def work():
      try:
        for step in steps:
          item = (step, load(step))
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
    step, item = self._queue.get()
    if step is None:
      raise item
    return step, item

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


def _truncate_metrics(path: str, last_step: int) -> None:
  """Drops records past ``last_step`` that an interrupted run wrote."""
  if jax.process_index() != 0 or not os.path.exists(path):
    return
  import json
  with open(path, encoding="utf-8") as f:
    lines = [l for l in f if l.strip() and json.loads(l)["step"] <= last_step]
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(lines)


def _any_host(flag: bool) -> bool:
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils
  return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


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
      newest checkpoint in ``workdir`` when there is one.
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
  """
  train = config.train
  mesh = distributed.data_mesh() if mesh is None else mesh
  config_lib.validate_train(config, device_count=mesh.size)
  k = train.steps_per_call
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))

  state_sharding = distributed.replicated(mesh)
  batch_sharding = distributed.batch_sharding(
      mesh, batch_axis=batch_axis + (1 if k > 1 else 0))
  root_key = jax.random.key(train.seed)

  def one_step(state, xs):
    batch, step = xs
    return step_fn(state, batch, jax.random.fold_in(root_key, step))

  def call(state, batches, first_step):
    if k == 1:
      return one_step(state, (batches, first_step))
    return jax.lax.scan(one_step, state, (batches, first_step + jnp.arange(k)))

  compiled = jax.jit(call, donate_argnums=0,
                     in_shardings=(state_sharding, batch_sharding, None),
                     out_shardings=(state_sharding, state_sharding))

  checkpointer = checkpoint_lib.Checkpointer(workdir, keep=train.keep_checkpoints)
  state = _place(state, state_sharding)
  step = 0
  latest = checkpointer.latest_step()
  if latest is not None:
    state = checkpointer.restore(latest, like=state)
    step = latest
  writer = writer_lib.MetricWriter(workdir)
  _truncate_metrics(writer.path, step)

  def load(first):
    host = [data.get_batch(s) for s in range(first, first + k)]
    host = host[0] if k == 1 else _stack_steps(host)
    return jax.device_put(host, batch_sharding) if jax.process_count() == 1 else (
        jax.tree.map(lambda x: jax.make_array_from_process_local_data(
            batch_sharding, np.asarray(x)), host))

  flag = _SignalFlag()
  previous_handler = None
  if threading.current_thread() is threading.main_thread():
    previous_handler = signal.signal(signal.SIGTERM, flag)

  bar = None
  if progress and jax.process_index() == 0 and step < train.num_steps:
    from tqdm.auto import tqdm
    bar = tqdm(total=train.num_steps, initial=step, unit="step",
               dynamic_ncols=True, mininterval=1.0)

  last_saved = step
  pending = None
  interval_start, interval_steps = time.perf_counter(), 0
  first_call_seconds = None

  def last_good():
    latest = checkpointer.latest_step()
    if latest is None:
      return "No checkpoint had been saved yet."
    return (f"The last good checkpoint, step {latest}, is kept in "
            f"{checkpointer.directory}.")

  def check_and_log(item):
    nonlocal interval_start, interval_steps
    end_step, metrics = item
    metrics = jax.device_get(metrics)
    bad = _first_non_finite(metrics)
    if bad is not None:
      raise NonFiniteError(
          f"non-finite metric {bad!r} at step "
          f"{end_step if k == 1 else f'{end_step - k + 1}-{end_step}'}; "
          f"stopped. {last_good()}")
    if end_step % train.log_every == 0 or end_step == train.num_steps:
      last = {name: (v[-1] if k > 1 else v) for name, v in metrics.items()}
      now = time.perf_counter()
      if interval_steps:
        last["perf/steps_per_sec"] = interval_steps / (now - interval_start)
      if first_call_seconds is not None:
        last["perf/first_call_seconds"] = first_call_seconds
      interval_start, interval_steps = now, 0
      writer.write_scalars(end_step, last)
      if bar is not None:
        bar.set_postfix({n: f"{float(v):.4g}" for n, v in last.items()
                         if not n.startswith("perf/")}, refresh=False)

  def save(at_step):
    nonlocal last_saved, pending
    if pending is not None:
      check_and_log(pending)
      pending = None
    if not bool(_all_finite(state)):
      raise NonFiniteError(
          f"the state became non-finite at {_first_non_finite(state)} by step "
          f"{at_step}; stopped. {last_good()}")
    checkpointer.save(at_step, state)
    last_saved = at_step

  def run_hooks(at_step, final):
    for hook in hooks:
      if final or (hook.every and at_step % hook.every == 0):
        hook(at_step, state, writer)

  prefetcher = _Prefetcher(load, range(step, train.num_steps, k))
  try:
    while step < train.num_steps:
      _, batch = prefetcher.get()
      start = time.perf_counter()
      state, metrics = compiled(state, batch, np.int32(step))
      if first_call_seconds is None:
        jax.block_until_ready(metrics)
        first_call_seconds = time.perf_counter() - start
        interval_start = time.perf_counter()
      if pending is not None:
        check_and_log(pending)
      step += k
      interval_steps += k
      pending = (step, metrics)
      if bar is not None:
        bar.update(k)
      if step % train.checkpoint_every == 0 or step == train.num_steps:
        save(step)
      if step < train.num_steps:
        run_hooks(step, final=False)
      if _any_host(flag.raised):
        if last_saved != step:
          save(step)
        checkpointer.wait()
        raise Interrupted(step, checkpointer.directory)
    if pending is not None:
      check_and_log(pending)
      pending = None
    if last_saved != step:
      save(step)
    run_hooks(step, final=True)
  finally:
    prefetcher.close()
    if bar is not None:
      bar.close()
    checkpointer.close()
    writer.close()
    if previous_handler is not None:
      signal.signal(signal.SIGTERM, previous_handler)
  return state
