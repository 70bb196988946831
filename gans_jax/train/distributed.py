"""Devices, meshes and multi-host start-up.

Data parallelism is one ``jax.jit`` over a ``Mesh`` with a single ``data``
axis: batches are sharded along it, the training state is replicated. The same
code runs on one CPU, N GPUs or a multi-host TPU slice.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


DEFAULT_HEARTBEAT_SECONDS = 30
DEFAULT_FINISH_SECONDS = 3600
FINISH_BARRIER = "gans_jax_finished"


def heartbeat_seconds() -> int:
  """How long a silent process is waited for: ``$GANS_JAX_HEARTBEAT_SECONDS``
  (default 30; JAX's own default is 100)."""
  try:
    return max(1, int(os.environ.get("GANS_JAX_HEARTBEAT_SECONDS",
                                     DEFAULT_HEARTBEAT_SECONDS)))
  except ValueError:
    return DEFAULT_HEARTBEAT_SECONDS


def finish_seconds() -> int:
  """How long a process that has finished a run waits for the others to
  finish theirs: ``$GANS_JAX_FINISH_SECONDS`` (default 3600)."""
  try:
    return max(1, int(os.environ.get("GANS_JAX_FINISH_SECONDS",
                                     DEFAULT_FINISH_SECONDS)))
  except ValueError:
    return DEFAULT_FINISH_SECONDS


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins a multi-host run; does nothing for a single process.

  With no arguments it calls ``jax.distributed.initialize()`` only where the
  environment describes a cluster (TPU pods, SLURM, ``JAX_COORDINATOR_ADDRESS``),
  which JAX then reads itself. Collectives between the CPUs of the processes
  go through gloo. JAX's preemption service is on: a SIGTERM to any process
  makes every process checkpoint at the same step (see ``fit``).

  A process that dies is noticed within :func:`heartbeat_seconds`: a
  collective with it fails at once (``fit`` raises
  :class:`gans_jax.train.HostLost`), and otherwise JAX's coordination
  service, missing its heartbeats, ends every other process with a message
  saying that another task died.

  Args:
    coordinator_address: ``host:port`` of process 0.
    num_processes: how many processes take part.
    process_id: this process's index.
  """
  if jax.distributed.is_initialized():
    return
  explicit = coordinator_address is not None
  from_env = any(v in os.environ for v in (
      "JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES",
      "MEGASCALE_COORDINATOR_ADDRESS"))
  if not (explicit or from_env):
    return
  # CPU collectives across processes go through gloo whatever backend the
  # accelerators use (the setting only concerns the CPU client); a user's
  # own choice, through JAX_CPU_COLLECTIVES_IMPLEMENTATION, is kept.
  if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes,
                             process_id=process_id,
                             heartbeat_timeout_seconds=heartbeat_seconds())


def finish(timeout_seconds: int | None = None) -> None:
  """Ends a multi-host run that went well: waits until every process has
  finished its work, then shuts JAX's distributed runtime down together.

  Without it, each process enters JAX's shutdown barrier when its interpreter
  exits (JAX's ``atexit`` hook), and that barrier's timeout (JAX's
  ``shutdown_timeout_seconds``, 300 s) runs from the first arrival. After
  training, process 0 alone draws the plots and writes the samples and
  results, so on a busy machine the other processes can wait out the 300 s,
  and the coordination service then aborts every process (exit -6) although
  the run is complete. XLA's coordination service leaves this to the program
  ("users should invoke their own barrier to signify the end of a workload",
  ``CoordinationService::ShutdownTaskAsync`` in
  ``xla/tsl/distributed_runtime/coordination/coordination_service.cc``);
  completed multi-host jobs elsewhere abort at exit too
  (https://github.com/marin-community/marin/issues/8276).

  So every process first waits at a barrier of its own with a long timeout
  (:func:`finish_seconds`), then calls ``jax.distributed.shutdown()`` at
  once, before anything else is torn down, and JAX's shutdown barrier sees
  every process arrive within moments. Call it only on success: a process
  that failed should not wait for the others. Does nothing for a single
  process or after a shutdown.

  Args:
    timeout_seconds: how long to wait for the other processes (default
      :func:`finish_seconds`).
  """
  from jax._src import distributed as jax_distributed
  client = jax_distributed.global_state.client
  if client is None:
    return
  timeout = finish_seconds() if timeout_seconds is None else timeout_seconds
  client.wait_at_barrier(FINISH_BARRIER, timeout_in_ms=1000 * timeout)
  jax.distributed.shutdown()


def data_mesh(devices: Any = None) -> Mesh:
  """A 1-D mesh named ``data`` over ``devices`` (default: all devices)."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, *, batch_axis: int = 0) -> NamedSharding:
  """Shards axis ``batch_axis`` of an array over the ``data`` mesh axis."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def global_batch(local_batch: Any, mesh: Mesh, *, batch_axis: int = 0) -> Any:
  """Assembles every host's share into global arrays sharded on ``data``.

  Each host passes the examples it loaded (its share of the global batch);
  on one host this is the whole batch.
  """
  sharding = batch_sharding(mesh, batch_axis=batch_axis)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
      local_batch)
