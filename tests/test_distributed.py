"""Data parallelism across devices and hosts, on this one machine."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import portpicker
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _env(devices=1):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return env


def test_finish_waits_for_every_process_then_shuts_jax_distributed_down(monkeypatch):
  from jax._src import distributed as jax_distributed
  import jax
  from gans_jax.train import distributed
  calls = []

  class Client:
    def wait_at_barrier(self, name, timeout_in_ms):
      calls.append(("barrier", name, timeout_in_ms))

  monkeypatch.setattr(jax.distributed, "shutdown", lambda: calls.append(("shutdown",)))
  monkeypatch.setattr(jax_distributed.global_state, "client", None)
  distributed.finish()  # one process: nothing to wait for
  assert calls == []
  monkeypatch.setattr(jax_distributed.global_state, "client", Client())
  monkeypatch.setenv("GANS_JAX_FINISH_SECONDS", "90")
  distributed.finish()
  distributed.finish(timeout_seconds=5)
  assert calls == [("barrier", "gans_jax_finished", 90_000), ("shutdown",),
                   ("barrier", "gans_jax_finished", 5_000), ("shutdown",)]


# Process 0 leaves LAG seconds after process 1 (alone, it writes the plots and
# results of a run); JAX's shutdown barrier waits SHUTDOWN seconds.
_LAGGING_END = """
import sys, time
import jax
from jax.experimental import multihost_utils
from gans_jax.train import distributed
process_id, port, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"127.0.0.1:{port}", 2, process_id,
                           shutdown_timeout_seconds=8)
multihost_utils.sync_global_devices("trained")
if process_id == 0:
  time.sleep(25)
if mode == "finish":
  distributed.finish()
"""


@pytest.mark.slow
def test_finish_keeps_a_late_process_0_from_failing_jax_shutdown_barrier():
  """Leaving Python at once, process 1 waits out JAX's shutdown barrier and
  the coordination service aborts both processes although their work is
  done; after distributed.finish() both exit 0."""
  runs = {}
  for mode in ("finish", "exit"):
    port = str(portpicker.pick_unused_port())
    runs[mode] = [subprocess.Popen([sys.executable, "-c", _LAGGING_END, str(i), port, mode],
                                   env=_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=ROOT)
                  for i in range(2)]
  outputs = {mode: [p.communicate(timeout=300)[0] for p in procs]
             for mode, procs in runs.items()}
  for p, out in zip(runs["finish"], outputs["finish"]):
    assert p.returncode == 0, out[-3000:]
  for p, out in zip(runs["exit"], outputs["exit"]):
    assert p.returncode == -signal.SIGABRT, out[-3000:]
  assert "Shutdown barrier has failed" in outputs["exit"][1]


@pytest.mark.slow
def test_two_process_run_trains_checkpoints_and_matches_one_process(tmp_path):
  port = portpicker.pick_unused_port()
  worker = os.path.join(HERE, "multihost_worker.py")
  two = str(tmp_path / "two")
  procs = [subprocess.Popen([sys.executable, worker, str(i), "2", str(port), two, "10"],
                            env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  outputs = [p.communicate(timeout=300)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  one = str(tmp_path / "one")
  single = subprocess.run([sys.executable, worker, "0", "1", "0", one, "10"],
                          env=_env(), capture_output=True, text=True, timeout=300)
  assert single.returncode == 0, single.stderr[-3000:]

  two_result = json.load(open(os.path.join(two, "final.json")))
  one_result = json.load(open(os.path.join(one, "final.json")))
  assert two_result["processes"] == 2
  assert sorted(os.listdir(os.path.join(two, "checkpoints"))) == ["10", "5"]
  for a, b in zip(two_result["mu"], one_result["mu"]):
    assert a == pytest.approx(b, abs=1e-6)
  # It learned: the 25-Gaussians mixture has mean 0.
  assert max(abs(v) for v in two_result["mu"]) < 0.2


@pytest.mark.slow
def test_sigterm_to_one_host_stops_every_host_at_one_checkpointed_step(tmp_path):
  """JAX's preemption service (no collective per call) carries a SIGTERM
  received by process 1 to process 0; both stop after the same call, the
  checkpoint is written, and the restarted job resumes from it."""
  port = portpicker.pick_unused_port()
  worker = os.path.join(HERE, "multihost_worker.py")
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  procs = [subprocess.Popen([sys.executable, worker, str(i), "2", str(port), workdir,
                             "100000", "wait"], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True) for i in range(2)]
  deadline = time.monotonic() + 240
  while not os.path.exists(os.path.join(workdir, "ready")):
    assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
    time.sleep(0.2)
  procs[1].send_signal(signal.SIGTERM)
  outputs = [p.communicate(timeout=120)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  stops = [int(re.search(r"^interrupted (\d+)$", out, re.M).group(1)) for out in outputs]
  assert stops[0] == stops[1] and stops[0] >= 20 and stops[0] % 2 == 0
  assert os.listdir(os.path.join(workdir, "checkpoints")) == [str(stops[0])]
  # The restarted two-host job resumes from that step and finishes.
  port = portpicker.pick_unused_port()
  procs = [subprocess.Popen([sys.executable, worker, str(i), "2", str(port), workdir,
                             str(stops[0] + 10)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True) for i in range(2)]
  outputs = [p.communicate(timeout=300)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  records = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert records[-1]["step"] == stops[0] + 10
  assert [r["step"] for r in records] == sorted({r["step"] for r in records})


@pytest.mark.slow
def test_dcgan_steps_on_8_devices_equal_steps_on_1_device(tmp_path):
  """Same global batch: BatchNorm statistics are global under jit sharding,
  so the sharded run must reproduce the single-device numbers."""
  worker = os.path.join(HERE, "multidevice_worker.py")
  run = subprocess.run([sys.executable, worker, str(tmp_path)], env=_env(devices=8),
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.loads(run.stdout.strip().splitlines()[-1])
  assert result["num_leaves"] > 10
  assert result["replicated"] and result["devices"] == [8]
  assert result["max_diff"] < 2e-5, result
