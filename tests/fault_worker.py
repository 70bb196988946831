"""An experiment's command line with a fault injected into one checkpoint
write, for tests/test_faults.py.

usage: python fault_worker.py FAULT STEP SCRIPT [FLAGS...]

FAULT is what happens to checkpoint STEP:
  kill_before_commit    SIGKILL once its files are written, before Orbax
                        commits them (renames its temporary directory)
  fail_write            its write raises OSError (a full disk) at that moment
  kill_before_manifest  SIGKILL after the commit, before files.json is written
Every other checkpoint is written as usual.
"""

import os
import runpy
import signal
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def main():
  fault, step, script, *flags = sys.argv[1:]
  from orbax.checkpoint._src.path import atomicity
  from gans_jax.train import checkpoint

  def hit(path) -> bool:
    return os.path.basename(str(path)) == step

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
  elif fault == "kill_before_manifest":
    write_manifest = checkpoint.write_manifest

    def faulty_write_manifest(directory):
      if hit(directory):
        fail()
      return write_manifest(directory)

    checkpoint.write_manifest = faulty_write_manifest
  else:
    raise SystemExit(f"unknown fault {fault!r}")
  sys.argv = [script, *flags]
  runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
  main()
