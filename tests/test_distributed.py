"""Data parallelism across devices and hosts, on this one machine."""

import json
import os
import subprocess
import sys

import portpicker
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _env(devices=1):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return env


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
