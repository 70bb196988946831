"""An experiment's command line with a fault injected, for tests/test_faults.py.

usage: python fault_worker.py FAULT ARG SCRIPT [FLAGS...]

FAULT and ARG:
  kill_before_commit STEP    SIGKILL once the files of checkpoint STEP are
                             written, before Orbax commits them (renames its
                             temporary directory)
  fail_write STEP            the write of checkpoint STEP raises OSError (a
                             full disk) at that moment
  kill_before_manifest STEP  SIGKILL after checkpoint STEP is committed,
                             before its files.json is written
  slow_step MARKER           every training step also sleeps on the host for
                             $SLOW_STEP_SECONDS (read when the step runs, so
                             runs with other pauses run the same program) and
                             creates the file MARKER the first time
  slow_evaluation MARKER     once training returns, create the file MARKER
                             and sleep for a minute before evaluating
Everything else runs as usual.
"""

import os
import runpy
import signal
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _checkpoint_fault(fault: str, step: str) -> None:
  from orbax.checkpoint._src.path import atomicity
  from gans_jax.train import checkpoint

  hit = lambda path: os.path.basename(str(path)) == step

  def fail():
    if fault == "fail_write":
      raise OSError(28, "No space left on device")
    os.kill(os.getpid(), signal.SIGKILL)

  if fault in ("kill_before_commit", "fail_write"):
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def faulty_finalize(self):
      if hit(self.get_final()):
        fail()
      return await finalize(self)

    atomicity.AtomicRenameTemporaryPath.finalize = faulty_finalize
  else:
    write_manifest = checkpoint.write_manifest

    def faulty_write_manifest(directory):
      if hit(directory):
        fail()
      return write_manifest(directory)

    checkpoint.write_manifest = faulty_write_manifest


def _slow_step(marker: str) -> None:
  import jax
  import numpy as np
  from gans_jax.train import loop

  def pause():
    if not os.path.exists(marker):
      open(marker, "w").close()
    time.sleep(float(os.environ.get("SLOW_STEP_SECONDS", "0")))
    return np.float32(0)

  compile_step = loop.compile_step

  def slow_compile_step(step_fn, **kwargs):
    def step(state, batch, key):
      state, metrics = step_fn(state, batch, key)
      waited = jax.pure_callback(pause, jax.ShapeDtypeStruct((), np.float32))
      return state, dict(metrics, paused=waited)
    return compile_step(step, **kwargs)

  loop.compile_step = slow_compile_step


def _slow_evaluation(marker: str) -> None:
  from gans_jax.train import loop

  fit_phases = loop.fit_phases

  def fit_then_wait(*args, **kwargs):
    state = fit_phases(*args, **kwargs)
    open(marker, "w").close()
    time.sleep(60)
    return state

  loop.fit_phases = fit_then_wait


def main():
  fault, arg, script, *flags = sys.argv[1:]
  if fault in ("kill_before_commit", "fail_write", "kill_before_manifest"):
    _checkpoint_fault(fault, arg)
  elif fault == "slow_step":
    _slow_step(arg)
  elif fault == "slow_evaluation":
    _slow_evaluation(arg)
  else:
    raise SystemExit(f"unknown fault {fault!r}")
  sys.argv = [script, *flags]
  runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
  main()
