"""Measuring processes of the benchmark suite and the protocol between them.

Each implementation of a case runs in its own long-lived worker process
(``benchmarks/run.py --worker``): it reports when its first step has run, then
answers requests for blocks of steps with the seconds of each call, so that
the parent can alternate the implementations under the same machine load. The
time to the first step through ``fit``, the 8-device check and the profile of
the DCGAN 64x64 step run in fresh child processes of their own. Children speak
to the parent in JSON lines prefixed with ``@@bench`` on stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

from benchmarks.cases import (CASES, Case, Variant, build_config, create_state,
                              items_per_step, make_step_fn, microbatches,
                              step_batch, torch_reference, unit)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The command line every child process runs (its hidden options).
RUN_SCRIPT = os.path.join(REPO, "benchmarks", "run.py")
_MESSAGE = "@@bench "


def compile_like_fit(step_fn, *, steps_per_call: int, batch_axis: int,
                     seed: int, mesh=None):
  """``step_fn`` jitted the way ``gans_jax.train.fit`` jits it (its own
  :func:`gans_jax.train.loop.compile_step`).

  Returns:
    ``(compiled, state_sharding, batch_sharding)``; call
    ``compiled(state, batches, np.int32(first_step), np.int32(num_steps))``.
  """
  from gans_jax.train import distributed
  from gans_jax.train import loop

  mesh = distributed.data_mesh() if mesh is None else mesh
  return loop.compile_step(step_fn, mesh=mesh, seed=seed,
                           steps_per_call=steps_per_call, batch_axis=batch_axis)


class JaxRunner:
  """Runs one case's real gans_jax step, one compiled call at a time."""

  def __init__(self, case: Case, variant: Variant, config, *, mesh=None):
    import jax
    import numpy as np

    self.config = config
    self.steps_per_call = config.train.steps_per_call
    self.items_per_step = items_per_step(config)
    self.compiled, state_sharding, batch_sharding = compile_like_fit(
        make_step_fn(case, config), steps_per_call=self.steps_per_call,
        batch_axis=1 if microbatches(case, config) > 1 else 0,
        seed=config.train.seed, mesh=mesh)
    host = step_batch(case, config)
    if self.steps_per_call > 1:
      host = {k: np.stack([v] * self.steps_per_call) for k, v in host.items()}
    self.batch = jax.device_put(host, batch_sharding)
    self.state = jax.device_put(create_state(case, variant, config),
                                state_sharding)
    self.step = 0
    self.metrics = None

  def call(self) -> float:
    """Runs one call (``steps_per_call`` steps); returns its seconds."""
    import jax
    import numpy as np

    start = time.perf_counter()
    self.state, self.metrics = self.compiled(self.state, self.batch,
                                             np.int32(self.step),
                                             np.int32(self.steps_per_call))
    jax.block_until_ready((self.state, self.metrics))
    self.step += self.steps_per_call
    return time.perf_counter() - start


class TorchRunner:
  """Runs the PyTorch reference of a case, one step per call."""

  def __init__(self, case: Case, config, *, threads: int):
    import torch

    torch.set_num_threads(threads)
    self.steps_per_call = 1
    self.items_per_step = items_per_step(config)
    self.reference = torch_reference(case, config)

  def call(self) -> float:
    start = time.perf_counter()
    self.reference.step()
    return time.perf_counter() - start


def cpu_threads() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def peak_rss_mib() -> float:
  # ru_maxrss is in KiB on Linux.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _emit(message: dict[str, Any]) -> None:
  print(_MESSAGE + json.dumps(message), flush=True)


# ---------------------------------------------------------------- workers --

def worker_process(spec: str, quick: bool) -> None:
  """A long-lived measuring process: ``jax:CASE:VARIANT`` or ``torch:CASE``.

  Reports when its first step has run, then answers ``{"calls": n}`` lines on
  stdin with the seconds of each call, and ``{"exit": true}`` with its peak
  memory.
  """
  kind, name, *rest = spec.split(":")
  case = CASES[name]
  if kind == "jax":
    variant = case.variants[int(rest[0])]
    runner = JaxRunner(case, variant, build_config(case, variant, quick=quick))
    import jax
    kind, backend = jax.devices()[0].device_kind, jax.default_backend()
    device = backend if kind == backend else f"{kind} ({backend})"
  else:
    runner = TorchRunner(case, build_config(case, quick=quick),
                         threads=cpu_threads())
    device = "cpu"
  first = runner.call()
  _emit(dict(ready=True, first_step_end=time.time(), first_call_s=first,
             steps_per_call=runner.steps_per_call,
             items_per_step=runner.items_per_step, device=device))
  for line in sys.stdin:
    command = json.loads(line)
    if command.get("exit"):
      _emit(dict(peak_rss_mib=peak_rss_mib()))
      return
    _emit(dict(times=[runner.call() for _ in range(command["calls"])]))


class WorkerError(RuntimeError):
  pass


class Worker:
  """The parent's handle on a worker process."""

  def __init__(self, spec: str, *, quick: bool, env: dict[str, str],
               log_dir: str):
    self.spec = spec
    self.log_path = os.path.join(log_dir, spec.replace(":", "_") + ".log")
    self._log = open(self.log_path, "w", encoding="utf-8")
    self.launched = time.time()
    self.proc = subprocess.Popen(
        [sys.executable, RUN_SCRIPT, "--worker", spec]
        + (["--quick"] if quick else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        text=True, env=env, cwd=REPO)
    ready = self._read()
    self.first_step_s = ready["first_step_end"] - self.launched
    self.first_call_s = ready["first_call_s"]
    self.steps_per_call = ready["steps_per_call"]
    self.items_per_step = ready["items_per_step"]
    self.device = ready["device"]
    self.step_times: list[float] = []

  def _read(self) -> dict[str, Any]:
    while True:
      line = self.proc.stdout.readline()
      if not line:
        self.proc.wait()
        self._log.flush()
        with open(self.log_path, encoding="utf-8") as f:
          tail = f.read()[-3000:]
        raise WorkerError(f"worker {self.spec} exited with code "
                          f"{self.proc.returncode}:\n{tail}")
      if line.startswith(_MESSAGE):
        return json.loads(line[len(_MESSAGE):])

  def _send(self, message: dict[str, Any]) -> None:
    self.proc.stdin.write(json.dumps(message) + "\n")
    self.proc.stdin.flush()

  def run(self, calls: int) -> list[float]:
    self._send({"calls": calls})
    return self._read()["times"]

  def time_steps(self, calls: int) -> None:
    self.step_times += [t / self.steps_per_call for t in self.run(calls)]

  def close(self) -> float:
    self._send({"exit": True})
    rss = self._read()["peak_rss_mib"]
    self.proc.wait(timeout=60)
    self._log.close()
    return rss

  def kill(self) -> None:
    if self.proc.poll() is None:
      self.proc.kill()
      self.proc.wait()
    self._log.close()


def worker_env(platform_name: str) -> dict[str, str]:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = platform_name
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env.pop("XLA_FLAGS", None)
  # The throughput workers compile cold: no persistent cache.
  env["GANS_JAX_COMPILATION_CACHE"] = "0"
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # PyTorch's OpenMP threads spin while waiting by default; on a CPU shared
  # with other processes that spinning made its steps up to 20x slower here
  # (a worker waits for a descheduled peer). Passive waiting is its best
  # setting on a shared machine, so the reference is measured with it.
  env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
  return env


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
  if len(values) < 2:
    return values[0], values[0], values[0]
  q = statistics.quantiles(values, n=4, method="inclusive")
  return q[0], statistics.median(values), q[2]


def measure_case(case: Case, *, quick: bool, with_torch: bool, env,
                 log_dir: str) -> dict[str, Any]:
  """Alternating throughput measurement of every implementation of a case."""
  specs = [(v.label, f"jax:{case.name}:{i}") for i, v in enumerate(case.variants)]
  if with_torch:
    specs.append(("PyTorch (eager)", f"torch:{case.name}"))
  rounds = 2 if quick else case.rounds
  block = 1 if quick else case.block_steps
  warmup_steps = 1 if quick else max(block, 2)
  load_before = os.getloadavg()
  workers: list[tuple[str, Worker]] = []
  try:
    for label, spec in specs:
      workers.append((label, Worker(spec, quick=quick, env=env, log_dir=log_dir)))
    for _, w in workers:
      w.run(max(1, warmup_steps // w.steps_per_call))
    for r in range(rounds):
      order = workers if r % 2 == 0 else workers[::-1]
      for _, w in order:
        w.time_steps(max(1, block // w.steps_per_call))
    rows = []
    for label, w in workers:
      p25, median, p75 = _quantiles(w.step_times)
      rows.append(dict(
          label=label, framework="torch" if w.spec.startswith("torch") else "jax",
          steps_per_call=w.steps_per_call, step_s=median, step_p25=p25,
          step_p75=p75, items_per_s=w.items_per_step / median,
          timed_steps=len(w.step_times), first_step_s=w.first_step_s,
          first_call_s=w.first_call_s, device=w.device,
          peak_rss_mib=w.close()))
  finally:
    for _, w in workers:
      w.kill()
  torch_rows = [r for r in rows if r["framework"] == "torch"]
  for row in rows:
    if torch_rows and row["framework"] == "jax":
      row["ratio"] = torch_rows[0]["step_s"] / row["step_s"]
  return dict(case=case.name, title=case.title, rows=rows,
              unit=unit(case, build_config(case, quick=quick)),
              load_before=load_before, load_after=os.getloadavg())


# ---------------------------------------------------------------- startup --

class _FirstStepDone(Exception):
  pass


class SyntheticBatches:
  def __init__(self, batch):
    self.batch = batch

  def get_batch(self, step: int):
    del step
    return self.batch


def startup_process(name: str, quick: bool) -> None:
  """Time to the first step through ``fit``, in this fresh process."""
  start = time.time()
  import jax

  import gans_jax as gj
  from gans_jax import cli

  case = CASES[name]
  importlib.import_module(f"experiments.{case.experiment}")
  imported = time.time()
  cli.enable_compilation_cache()
  config = build_config(case, quick=quick)
  k = config.train.steps_per_call
  config.train.update(num_steps=2 * k, log_every=k, checkpoint_every=2 * k,
                      sample_every=0)
  state = create_state(case, case.variants[0], config)
  created = time.time()
  marks = {}

  class FirstStep:
    every = k

    def __call__(self, step, state, writer):
      del writer
      jax.block_until_ready(state)
      marks["first_step_end"] = time.time()
      raise _FirstStepDone

  with tempfile.TemporaryDirectory() as workdir:
    try:
      gj.train.fit(make_step_fn(case, config), state,
                   SyntheticBatches(step_batch(case, config)), config, workdir,
                   hooks=[FirstStep()],
                   batch_axis=1 if microbatches(case, config) > 1 else 0,
                   progress=False)
    except _FirstStepDone:
      pass
  if "first_step_end" not in marks:
    raise RuntimeError("fit returned before its first step ended")
  _emit(dict(process_start=start, imports_s=imported - start,
             create_state_s=created - imported,
             fit_to_first_step_s=marks["first_step_end"] - created,
             first_step_end=marks["first_step_end"],
             peak_rss_mib=peak_rss_mib()))


def _run_child(args: list[str], env: dict[str, str], log_path: str,
               timeout: float = 900) -> list[dict[str, Any]]:
  with open(log_path, "w", encoding="utf-8") as log:
    proc = subprocess.run([sys.executable, RUN_SCRIPT, *args],
                          stdout=subprocess.PIPE, stderr=log, text=True,
                          env=env, cwd=REPO, timeout=timeout)
  messages = [json.loads(l[len(_MESSAGE):]) for l in proc.stdout.splitlines()
              if l.startswith(_MESSAGE)]
  if proc.returncode != 0 or not messages:
    with open(log_path, encoding="utf-8") as f:
      tail = f.read()[-3000:]
    raise WorkerError(f"{' '.join(args)} exited with code {proc.returncode}:\n{tail}")
  return messages


def measure_startup(case: Case, *, quick: bool, env, log_dir: str) -> dict[str, Any]:
  """First-step time with an empty compilation cache, then with it warm."""
  cache = tempfile.mkdtemp(prefix="gans_jax_bench_cache_")
  env = dict(env, GANS_JAX_CACHE_DIR=cache)
  env.pop("GANS_JAX_COMPILATION_CACHE", None)
  out = dict(case=case.name, load_before=os.getloadavg())
  try:
    for which in ("cold", "warm"):
      launched = time.time()
      message = _run_child(
          ["--startup", case.name] + (["--quick"] if quick else []), env,
          os.path.join(log_dir, f"startup_{case.name}_{which}.log"))[-1]
      message["launch_to_first_step_s"] = message["first_step_end"] - launched
      out[which] = message
  finally:
    shutil.rmtree(cache, ignore_errors=True)
  return out


# ------------------------------------------------------------ multidevice --

def multidevice_process(names: Sequence[str], quick: bool) -> None:
  """1 device against 8 simulated ones, same initial state and batch."""
  import jax
  import numpy as np

  from gans_jax.train import distributed

  devices = jax.devices()
  for name in names:
    case = CASES[name]
    variant = case.variants[0]
    config = build_config(case, variant, quick=quick)
    note = ""
    b = config.train.batch_size
    if b % len(devices):
      config.train.batch_size = b // len(devices) * len(devices)
      note = f"batch {b} is not divisible by {len(devices)}; ran {config.train.batch_size}"
    # One step per call: the metrics compared are those of the first step,
    # before float rounding differences can grow over many steps.
    config.train.steps_per_call = 1
    result = dict(case=name, devices=len(devices), note=note)
    metrics = {}
    for label, mesh in (("1", distributed.data_mesh(devices[:1])),
                        ("n", distributed.data_mesh(devices))):
      runner = JaxRunner(case, variant, config, mesh=mesh)
      first = runner.call()
      metrics[label] = jax.device_get(runner.metrics)
      times = [runner.call() / runner.steps_per_call for _ in range(1 if quick else 2)]
      result[f"step_s_{label}"] = statistics.median(times)
      result[f"first_call_s_{label}"] = first
    diffs = [float(np.max(np.abs(np.asarray(a) - np.asarray(b))
                          / (1.0 + np.abs(np.asarray(a)))))
             for a, b in zip(jax.tree.leaves(metrics["1"]),
                             jax.tree.leaves(metrics["n"]))]
    result["max_rel_diff"] = max(diffs)
    result["finite"] = bool(all(np.all(np.isfinite(np.asarray(x)))
                                for x in jax.tree.leaves(metrics["n"])))
    _emit(result)


def measure_multidevice(names: Sequence[str], *, quick: bool, env,
                        log_dir: str) -> list[dict[str, Any]]:
  env = dict(env, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  return _run_child(["--multidevice", ",".join(names)]
                    + (["--quick"] if quick else []), env,
                    os.path.join(log_dir, "multidevice.log"), timeout=1800)


# ---------------------------------------------------------------- profile --

def profile_process(quick: bool, with_torch: bool) -> None:
  """Times the sub-parts of the DCGAN 64x64 step, gans_jax against PyTorch."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  case = CASES["dcgan64"]
  config = build_config(case, quick=quick)
  b, m, d = config.train.batch_size, config.model, config.data
  z = jax.random.normal(jax.random.key(0), (b, m.latent_dim))
  x = jax.random.uniform(jax.random.key(1), (b, d.image_size, d.image_size,
                                             d.channels), minval=-1, maxval=1)
  total = lambda y: jnp.sum(y)
  parts = {}

  def generator_parts(g, form):
    parts[f"G forward ({form})"] = (
        jax.jit(lambda p: g.apply(z, params=p)[0]), g.params)
    parts[f"G forward + weight gradient ({form})"] = (
        jax.jit(jax.grad(lambda p: total(g.apply(z, params=p)[0]))), g.params)

  for variant in case.variants:
    state = create_state(case, variant, config)
    generator_parts(state.generator, variant.conv_transpose)
  dis = state.discriminator
  parts["D forward"] = (jax.jit(lambda p: dis.apply(x, params=p)[0]), dis.params)
  parts["D forward + weight gradient"] = (
      jax.jit(jax.grad(lambda p: total(dis.apply(x, params=p)[0]))), dis.params)
  parts["D forward + input gradient"] = (
      jax.jit(jax.grad(lambda x, p: total(dis.apply(x, params=p)[0]))), x)

  torch_parts = {}
  if with_torch:
    import torch
    torch.set_num_threads(cpu_threads())
    ref = torch_reference(case, config)
    tg, td = ref.generator, ref.discriminator
    tz = torch.randn(b, m.latent_dim, 1, 1)
    tx = torch.rand(b, d.channels, d.image_size, d.image_size) * 2 - 1

    def g_forward():
      with torch.no_grad():
        tg(tz)

    def g_backward():
      tg.zero_grad()
      tg(tz).sum().backward()

    def d_forward():
      with torch.no_grad():
        td(tx)

    def d_backward():
      td.zero_grad()
      td(tx).sum().backward()

    def d_input_grad():
      for p in td.parameters():
        p.requires_grad_(False)
      xi = tx.clone().requires_grad_(True)
      torch.autograd.grad(td(xi).sum(), xi)
      for p in td.parameters():
        p.requires_grad_(True)

    for form in ("phase", "direct"):
      torch_parts[f"G forward ({form})"] = g_forward
      torch_parts[f"G forward + weight gradient ({form})"] = g_backward
    torch_parts["D forward"] = d_forward
    torch_parts["D forward + weight gradient"] = d_backward
    torch_parts["D forward + input gradient"] = d_input_grad

  def run_jax(name):
    fn, arg = parts[name]
    start = time.perf_counter()
    if name == "D forward + input gradient":
      jax.block_until_ready(fn(arg, dis.params))
    else:
      jax.block_until_ready(fn(arg))
    return time.perf_counter() - start

  def run_torch(name):
    start = time.perf_counter()
    torch_parts[name]()
    return time.perf_counter() - start

  reps = 1 if quick else 5
  for name in parts:
    run_jax(name)
    if name in torch_parts:
      run_torch(name)
    jt, tt = [], []
    for _ in range(reps):
      jt.append(run_jax(name))
      if name in torch_parts:
        tt.append(run_torch(name))
    _emit(dict(part=name, jax_s=statistics.median(jt),
               torch_s=statistics.median(tt) if tt else None))


def measure_profile(*, quick: bool, with_torch: bool, env,
                    log_dir: str) -> list[dict[str, Any]]:
  return _run_child(["--profile"] + (["--quick"] if quick else [])
                    + ([] if with_torch else ["--jax-only"]), env,
                    os.path.join(log_dir, "profile.log"), timeout=1800)


def machine_info(with_torch: bool) -> dict[str, Any]:
  from importlib import metadata

  model = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  versions = {}
  packages = ["jax", "jaxlib", "flax", "optax", "numpy"]
  if with_torch:
    packages.append("torch")
  for package in packages:
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      versions[package] = "not installed"
  return dict(cpu=model, logical_cpus=os.cpu_count(), usable_cpus=cpu_threads(),
              python=platform.python_version(), os=platform.platform(),
              versions=versions, gpu=shutil.which("nvidia-smi") is not None)
