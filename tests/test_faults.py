"""Faults, end to end through the command line on tiny configs: damaged
checkpoints, a write that fails half-way, broken images, SIGTERM at every
stage, kill -9, and a process of a two-process run that dies."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import portpicker
import pytest
from PIL import Image

from gans_jax.train import preemption

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "fault_worker.py")
SCRIPT = os.path.join(ROOT, "experiments", "wgan_gp.py")
DCGAN = os.path.join(ROOT, "experiments", "dcgan.py")
# WGAN-GP's toy smoke preset (MLPs of width 8 on 8 Gaussians), a little longer.
SMOKE = ["--config=experiments/configs/wgan_gp.py:smoke",
         "--config.train.num_steps=6", "--config.train.checkpoint_every=2"]


def _env(**extra):
  return dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0",
              PYTHONPATH=ROOT, **extra)


def _run(*args, worker=(), env=None, timeout=300, script=SCRIPT):
  command = [sys.executable, *((WORKER, *worker) if worker else ()), script, *args]
  return subprocess.run(command, capture_output=True, text=True, env=env or _env(),
                        timeout=timeout, cwd=ROOT)


def _lines(stderr):
  """stderr's lines without the progress bar's redraws."""
  return [l for l in re.split(r"[\r\n]+", stderr)
          if l.strip() and not re.search(r"\d+/\d+ \[", l)]


def _samples(workdir):
  return np.load(os.path.join(workdir, "samples.npz"))["samples"]


def _losses(workdir):
  return [(r["step"], r["critic_loss"]) for r in map(json.loads, open(
      os.path.join(workdir, "metrics.jsonl"))) if "critic_loss" in r]


def _checkpoints(workdir):
  directory = os.path.join(workdir, "checkpoints")
  return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted run of SMOKE: its samples, losses and workdir."""
  workdir = str(tmp_path_factory.mktemp("reference") / "run")
  run = _run(*SMOKE, f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr[-3000:]
  return _samples(workdir), _losses(workdir), workdir


# ------------------------------------------------------------- checkpoints --

def _truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _overwrite(path):
  # A disk fault: the size stays, some bytes change.
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.seek(size // 2)
    data = f.read(8)
    f.seek(size // 2)
    f.write(bytes(b ^ 0xFF for b in data))


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_newest_checkpoint_is_reported_and_the_run_resumes_from_the_one_before(
    tmp_path, reference, damage):
  # A copy of the reference run, without the files its end wrote.
  workdir = str(tmp_path / "run")
  shutil.copytree(reference[2], workdir)
  for name in ("samples.npz", "results.json"):
    os.remove(os.path.join(workdir, name))
  assert _checkpoints(workdir) == [2, 4, 6]
  newest = os.path.join(workdir, "checkpoints", "6")
  # Every file of its arrays, as an interrupted copy or a bad disk leaves them.
  for root, _, names in os.walk(os.path.join(newest, "state")):
    for name in names:
      if os.path.getsize(os.path.join(root, name)) > 16:
        (_truncate if damage == "truncated" else _overwrite)(os.path.join(root, name))
  run = _run(*SMOKE, f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr[-3000:]
  reports = [l for l in _lines(run.stderr) if l.startswith("checkpoint 6 ")]
  assert len(reports) == 1, run.stderr[-3000:]
  assert "cannot be read" in reports[0] and "resuming from step 4" in reports[0]
  assert "Traceback" not in run.stderr and "ERROR" not in run.stderr
  # Moved aside, not deleted; 4 -> 6 trained again gives the same numbers.
  assert os.path.isdir(os.path.join(workdir, "checkpoints_damaged", "6", "state"))
  assert _checkpoints(workdir) == [2, 4, 6]
  np.testing.assert_array_equal(_samples(workdir), reference[0])
  assert _losses(workdir) == reference[1]


@pytest.mark.slow
def test_when_no_checkpoint_can_be_read_the_run_exits_2_saying_what_to_do(tmp_path):
  workdir = str(tmp_path / "run")
  run = _run("--config=experiments/configs/wgan_gp.py:smoke", f"--workdir={workdir}")
  assert run.returncode == 0 and _checkpoints(workdir) == [2]
  _truncate(os.path.join(workdir, "checkpoints", "2", "state", "_METADATA"))
  run = _run("--config=experiments/configs/wgan_gp.py:smoke", f"--workdir={workdir}")
  assert run.returncode == 2, run.stderr[-3000:]
  lines = _lines(run.stderr)
  assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-3000:]
  assert os.path.join(workdir, "checkpoints") in lines[0]
  assert "move the folder aside" in lines[0]
  assert _checkpoints(workdir) == [2]  # left where it was


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill_before_commit", "fail_write",
                                   "kill_before_manifest"])
def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_to_resume_from(
    tmp_path, reference, fault):
  workdir = str(tmp_path / "run")
  run = _run(*SMOKE, f"--workdir={workdir}", worker=(fault, "4"))
  if fault == "fail_write":
    assert run.returncode == 2, run.stderr[-3000:]
    lines = _lines(run.stderr)
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "writing checkpoint 4" in lines[0] and "No space left" in lines[0]
    assert "step 2, is kept" in lines[0]
  else:
    assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]
  # Checkpoint 4 was never committed (or never verified); 2 is intact.
  expected = [2, 4] if fault == "kill_before_manifest" else [2]
  assert _checkpoints(workdir) == expected
  assert not os.path.exists(os.path.join(workdir, "checkpoints", "2", "files.json.tmp"))
  run = _run(*SMOKE, f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr[-3000:]
  assert _checkpoints(workdir) == [2, 4, 6]
  np.testing.assert_array_equal(_samples(workdir), reference[0])
  assert _losses(workdir) == reference[1]


# ------------------------------------------------------------------ images --

def _image_folder(root, modes):
  root.mkdir(parents=True)
  rng = np.random.default_rng(0)
  for i, mode in enumerate(modes):
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (12, 10, channels), np.uint8)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(
        root / f"{i:02d}.png")
  return root


@pytest.mark.slow
def test_a_folder_mixing_grayscale_rgb_and_rgba_trains(tmp_path):
  # The conversion's numbers are checked in test_data_files.py; here, that a
  # run takes such a folder end to end.
  root = _image_folder(tmp_path / "images", ["L", "RGB", "RGBA"] * 4)
  run = _run("--config=experiments/configs/dcgan.py:smoke",
             f"--config.data.dataset=folder:{root}", "--config.data.channels=3",
             f"--workdir={tmp_path / 'run'}", timeout=600, script=DCGAN)
  assert run.returncode == 0, run.stderr[-3000:]
  assert _checkpoints(str(tmp_path / "run")) == [2]


@pytest.mark.slow
def test_an_image_cut_short_after_its_header_exits_2_naming_it(tmp_path):
  # Its header reads, so the folder scan keeps it; reading it fails later.
  root = _image_folder(tmp_path / "images", ["RGB"] * 8)
  data = (root / "03.png").read_bytes()
  (root / "03.png").write_bytes(data[:len(data) // 2])
  run = _run("--config=experiments/configs/dcgan.py:smoke",
             f"--config.data.dataset=folder:{root}", "--config.data.skip_unreadable=True",
             f"--workdir={tmp_path / 'run'}", timeout=600, script=DCGAN)
  assert run.returncode == 2, run.stderr[-3000:]
  errors = [l for l in _lines(run.stderr) if l.startswith("error: ")]
  assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
  assert str(root / "03.png") in errors[0]


# ----------------------------------------------------------------- SIGTERM --

class _Process:
  """A command line started in the background; its stderr is read as it comes."""

  def __init__(self, args, worker=(), env=None):
    command = [sys.executable, *((WORKER, *worker) if worker else ()), SCRIPT, *args]
    self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    env=env or _env(), cwd=ROOT)
    self.stderr = ""
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for chunk in iter(lambda: self.process.stderr.read(1), ""):
      self.stderr += chunk

  def wait_for(self, condition, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
      assert self.process.poll() is None, self.stderr[-3000:]
      assert time.monotonic() < deadline, self.stderr[-3000:]
      time.sleep(0.05)

  def terminate(self, timeout=120):
    """SIGTERM; returns (exit code, seconds until the process ended)."""
    sent = time.monotonic()
    self.process.send_signal(signal.SIGTERM)
    code = self.process.wait(timeout=timeout)
    seconds = time.monotonic() - sent
    self._reader.join(timeout=10)
    return code, seconds


# Each step sleeps this long on the host: 8 steps would make one call of 32 s.
SLOW = ["--config=experiments/configs/wgan_gp.py:smoke", "--config.train.num_steps=8",
        "--config.train.steps_per_call=8", "--config.train.log_every=8",
        "--config.train.checkpoint_every=8"]


@pytest.mark.slow
def test_sigterm_during_a_long_call_checkpoints_and_exits_0_within_the_grace_period(
    tmp_path):
  marker, workdir = str(tmp_path / "stepping"), str(tmp_path / "run")
  slow = ("slow_step", marker)
  process = _Process([*SLOW, f"--workdir={workdir}"], worker=slow,
                     env=_env(SLOW_STEP_SECONDS="4"))
  # After the two one-step calls that time a step, calls shrink to one step.
  process.wait_for(lambda: "calls of phase 'train' run 1 step" in process.stderr)
  code, seconds = process.terminate()
  assert code == 0, process.stderr[-3000:]
  assert seconds < preemption.DEFAULT_GRACE_SECONDS, (seconds, process.stderr[-3000:])
  stop = re.search(r"interrupted by SIGTERM: checkpoint saved at step (\d+)",
                   process.stderr)
  assert stop, process.stderr[-3000:]
  step = int(stop.group(1))
  assert 2 <= step < 8 and _checkpoints(workdir) == [step]
  assert "Traceback" not in process.stderr
  # Resumed (with calls of 8 steps now) and run whole, the same numbers.
  resumed = _run(*SLOW, f"--workdir={workdir}", worker=slow)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  whole = str(tmp_path / "whole")
  assert _run(*SLOW, f"--workdir={whole}", worker=slow).returncode == 0
  np.testing.assert_array_equal(_samples(workdir), _samples(whole))
  assert _losses(workdir) == _losses(whole)


@pytest.mark.slow
def test_sigterm_before_the_first_call_ends_exits_0_at_once(tmp_path):
  marker, workdir = str(tmp_path / "stepping"), str(tmp_path / "run")
  process = _Process([*SLOW, f"--workdir={workdir}"], worker=("slow_step", marker),
                     env=_env(SLOW_STEP_SECONDS="60"))
  process.wait_for(lambda: os.path.exists(marker))  # inside the first step
  code, seconds = process.terminate()
  assert code == 0 and seconds < 10, (seconds, process.stderr[-3000:])
  lines = _lines(process.stderr)
  assert lines[-1].startswith("interrupted by SIGTERM before the first compiled "
                              "call ended: nothing new to save"), lines
  assert "no checkpoint has been saved yet" in lines[-1]
  assert _checkpoints(workdir) == []


@pytest.mark.slow
def test_sigterm_during_the_final_evaluation_exits_0_and_the_rerun_evaluates(tmp_path):
  marker, workdir = str(tmp_path / "trained"), str(tmp_path / "run")
  process = _Process([*SMOKE, f"--workdir={workdir}"],
                     worker=("slow_evaluation", marker))
  process.wait_for(lambda: os.path.exists(marker))
  code, seconds = process.terminate()
  assert code == 0 and seconds < 10, (seconds, process.stderr[-3000:])
  line = _lines(process.stderr)[-1]
  assert line.startswith("interrupted by SIGTERM after training"), line
  assert "step 6" in line and line.endswith("run the same command again to evaluate")
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  losses = _losses(workdir)
  run = _run(*SMOKE, f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr[-3000:]
  assert os.path.exists(os.path.join(workdir, "results.json"))
  assert _losses(workdir) == losses  # nothing trained again


def test_the_watcher_ends_a_process_stuck_past_the_grace_period(tmp_path):
  """A call that neither ends nor lets the loop save: the watcher exits 0
  after GANS_JAX_SIGTERM_SECONDS, naming the newest checkpoint."""
  checkpoints = tmp_path / "checkpoints"
  (checkpoints / "7").mkdir(parents=True)
  (checkpoints / "12.orbax-checkpoint-tmp").mkdir()
  code = f"""
import time
from gans_jax.train import preemption
with preemption.guard() as watch:
  with watch.training({str(checkpoints)!r}):
    watch.progressed()
    open({str(tmp_path / 'ready')!r}, 'w').close()
    time.sleep(120)  # the flag is set, but nobody reads it
print("not reached")
"""
  process = subprocess.Popen([sys.executable, "-c", code], env=_env(
      GANS_JAX_SIGTERM_SECONDS="2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT)
  deadline = time.monotonic() + 120
  while not os.path.exists(tmp_path / "ready"):
    assert process.poll() is None and time.monotonic() < deadline
    time.sleep(0.05)
  process.send_signal(signal.SIGTERM)
  out, err = process.communicate(timeout=60)
  assert process.returncode == 0 and out == "", (out, err)
  lines = _lines(err)
  assert len(lines) == 1, err
  assert "did not end within 2 s" in lines[0]
  assert f"the newest checkpoint is step 7 in {checkpoints}" in lines[0]


# -------------------------------------------------------------------- kill --

@pytest.mark.slow
def test_kill_9_at_a_random_moment_then_the_same_command_gives_the_same_samples(
    tmp_path):
  args = ["--config=experiments/configs/wgan_gp.py:smoke",
          "--config.train.num_steps=400", "--config.train.checkpoint_every=40",
          "--config.train.log_every=20"]
  workdir = str(tmp_path / "run")
  process = _Process([*args, f"--workdir={workdir}"])
  first = os.path.join(workdir, "checkpoints", "40", "files.json")
  process.wait_for(lambda: os.path.exists(first))
  time.sleep(random.Random().uniform(0, 2))
  process.process.kill()
  process.process.wait()
  assert 40 <= max(_checkpoints(workdir)) < 400, process.stderr[-3000:]
  run = _run(*args, f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr[-3000:]
  whole = str(tmp_path / "whole")
  assert _run(*args, f"--workdir={whole}").returncode == 0
  np.testing.assert_array_equal(_samples(workdir), _samples(whole))
  assert _losses(workdir) == _losses(whole)


# -------------------------------------------------------------- lost host --

@pytest.mark.slow
@pytest.mark.parametrize("victim", [0, 1])
def test_when_one_process_of_two_dies_the_other_stops_and_the_job_resumes(
    tmp_path, victim, request):
  workdir = str(tmp_path / "run")

  def start(num_steps):
    port = portpicker.pick_unused_port()
    args = ["--config=experiments/configs/wgan_gp.py:smoke",
            f"--config.train.num_steps={num_steps}",
            "--config.train.checkpoint_every=10", "--config.train.log_every=10",
            f"--workdir={workdir}", f"--coordinator_address=127.0.0.1:{port}",
            "--num_processes=2"]
    env = _env(GANS_JAX_HEARTBEAT_SECONDS="10")
    processes = [_Process([*args, f"--process_id={i}"], env=env) for i in range(2)]
    for p in processes:  # a failed check leaves no process training on
      request.addfinalizer(p.process.kill)
    return processes

  processes = start(100000)
  # Two processes compiling on a busy machine can take minutes.
  processes[0].wait_for(lambda: os.path.exists(
      os.path.join(workdir, "checkpoints", "20", "files.json")), timeout=900)
  processes[victim].process.kill()
  survivor = processes[1 - victim]
  sent = time.monotonic()
  code = survivor.process.wait(timeout=120)
  seconds = time.monotonic() - sent
  survivor._reader.join(timeout=10)
  # A collective with the dead process fails at once; otherwise JAX's
  # coordination service ends the survivor after the heartbeat timeout.
  assert code != 0 and seconds < 10 + 30, (code, seconds, survivor.stderr[-3000:])
  ours = [l for l in _lines(survivor.stderr) if l.startswith("error: process")]
  jax_said = "another task died" in survivor.stderr
  assert ours or jax_said, survivor.stderr[-3000:]
  if ours:
    assert "lost contact with another process" in ours[0]
    assert "start every process again" in ours[0]
  saved = max(_checkpoints(workdir))
  assert saved >= 20
  # The restarted job resumes from the newest checkpoint and finishes.
  processes = start(saved + 20)
  for p in processes:
    assert p.process.wait(timeout=900) == 0, p.stderr[-3000:]
  steps = [r["step"] for r in map(json.loads, open(os.path.join(workdir, "metrics.jsonl")))
           if "critic_loss" in r]
  assert steps == list(range(10, saved + 21, 10))
