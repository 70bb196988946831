"""Benchmarks gans_jax's train steps against eager PyTorch references.

    python benchmarks/run.py [--quick] [--only dcgan64,wgan_gp_8gaussians,...]
                             [--skip startup,multidevice,profile] [--jax-only]
                             [--output benchmarks/RESULTS.md]

For each case (an experiment's config, usually its default preset) it
measures, with gans_jax and with the PyTorch reference in
``benchmarks/torch_reference/`` (same architecture, losses, optimiser, batch):

* train-step throughput: the median time of one step (one generator
  iteration with its discriminator / critic updates) over timed steps after
  warm-up, as items (images or points of the generator batch) per second.
  gans_jax runs the experiment's own ``make_train_step`` jitted as
  ``gans_jax.train.fit`` jits it (state donated, replicated over a ``data``
  mesh, ``train.steps_per_call`` steps in one ``lax.scan`` call). Batches are
  made once before timing and stay on the device: no data loading is timed.
* time to the first step: from process launch to the end of the first step
  (imports, model construction, compilation and the step itself);
* peak host memory: the worker process's maximum resident set size.

Each framework runs in its own long-lived worker process; the parent asks them
for blocks of steps in turn (alternating order each round), so both see the
same machine load and the ratio holds on a shared, noisy CPU. PyTorch uses as
many intra-op threads as the CPUs this process may run on, the number XLA's
CPU backend uses.

It also measures, in fresh processes, the time to the first step of the
default experiments through ``gans_jax.train.fit`` itself with the persistent
compilation cache empty and again warm; runs the step on 8 simulated CPU
devices against 1 (a sharding check, not a speed claim); and times the
sub-parts of the DCGAN 64x64 step. Everything lands in ``RESULTS.md``; the
section below the notes marker in that file is kept from run to run.

PyTorch is only needed for the reference side (``pip install .[bench]``).
Without it, or with ``--jax-only``, the gans_jax side runs alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.util
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

DEFAULT_OUTPUT = os.path.join(REPO, "benchmarks", "RESULTS.md")
NOTES_MARKER = "<!-- Everything below this line is kept by benchmarks/run.py. -->"
_MESSAGE = "@@bench "
SECTIONS = ("throughput", "startup", "multidevice", "profile")


# ------------------------------------------------------------------ cases --

@dataclasses.dataclass(frozen=True)
class Variant:
  """One gans_jax configuration of a case (a row of its table)."""

  label: str
  overrides: tuple[tuple[str, Any], ...] = ()
  conv_transpose: str | None = None  # 'phase' / 'direct' for DCGAN generators


@dataclasses.dataclass(frozen=True)
class Case:
  """An experiment config measured against its PyTorch reference.

  Attributes:
    name: the case's name (``--only``).
    experiment: module under ``experiments/``.
    preset: the config preset (None: the experiment's default).
    title: one line saying what is measured.
    overrides: dotted config fields changed for the benchmark.
    quick: further overrides for ``--quick`` (tiny sizes).
    block_steps: steps per timed block (about a second of work).
    rounds: timed blocks per implementation.
    variants: the gans_jax rows.
    default: the experiment's default preset (in the startup table).
    target: the throughput ratio gans_jax / PyTorch the issue asks for.
  """

  name: str
  experiment: str
  preset: str | None
  title: str
  overrides: tuple[tuple[str, Any], ...] = ()
  quick: tuple[tuple[str, Any], ...] = ()
  block_steps: int = 1
  rounds: int = 6
  variants: tuple[Variant, ...] = (Variant("gans_jax"),)
  default: bool = False
  target: float | None = None


_TINY_IMAGES = (("model.features", 4), ("train.batch_size", 8))
_TINY_TOY = (("model.width", 16), ("train.batch_size", 16),
             ("train.steps_per_call", 2))
# The official WGAN schedule runs 100 critic updates in the first 25 and every
# 500th generator iteration (iteration 0 included); the benchmark measures the
# ordinary iteration, n_critic = 5, from the first step on.
_WGAN_STEADY = (("gan.n_critic_warmup", 5),)

CASES: dict[str, Case] = {c.name: c for c in (
    Case("gan_digits", "gan", None,
         "GAN (Goodfellow et al.), default preset: MLP generator 1200-1200, "
         "maxout discriminator 240x5 with dropout, 16x16 digits, batch 100, "
         "Adam",
         quick=(("model.g_hidden", (32,)), ("model.d_hidden", (16,)),
                ("model.maxout_pieces", 2), ("train.batch_size", 16)),
         block_steps=20, rounds=10, default=True),
    Case("dcgan_digits", "dcgan", None,
         "DCGAN, default preset: 32x32x1, features 32, batch 64, Adam",
         quick=_TINY_IMAGES, block_steps=2, rounds=8, default=True),
    Case("dcgan64", "dcgan", "celeb_a",
         "DCGAN 64x64x3 (celeb_a preset's nets, features 64) at batch 64, as "
         "pytorch/examples; both forms of the stride-2 transposed convolution",
         overrides=(("train.batch_size", 64),), quick=_TINY_IMAGES,
         block_steps=1, rounds=6, target=1.3,
         variants=(Variant("gans_jax, phase form", conv_transpose="phase"),
                   Variant("gans_jax, direct form", conv_transpose="direct"))),
    Case("wgan_digits", "wgan", None,
         "WGAN, default preset: DCGAN nets 32x32x1, features 32, batch 64, "
         "5 clipped RMSProp critic updates per generator update",
         overrides=_WGAN_STEADY,
         quick=_TINY_IMAGES + (("gan.n_critic", 2), ("gan.n_critic_warmup", 2)),
         block_steps=1, rounds=6, default=True),
    Case("wgan_gp_quickstart", "wgan_gp", None,
         "WGAN-GP, default preset (quickstart): 8 Gaussians, MLPs 3x128, "
         "batch 256, 5 critic updates with penalty, generator EMA, lr decay",
         quick=_TINY_TOY, block_steps=50, rounds=6, default=True),
    Case("wgan_gp_8gaussians", "wgan_gp", "8gaussians",
         "WGAN-GP, 8gaussians preset (gan_toy.py): MLPs 3x512, batch 256, "
         "5 critic updates with penalty per generator update",
         quick=_TINY_TOY, block_steps=10, rounds=5, target=1.5,
         variants=(Variant("gans_jax, 50 steps per call"),
                   Variant("gans_jax, 1 step per call",
                           overrides=(("train.steps_per_call", 1),)))),
    Case("fgan_mixture", "fgan", None,
         "f-GAN, default preset (Section 4): N(mu, sigma) fitted to a 1-D "
         "mixture, critic 2x64 tanh, batch 1024, the first divergence of the "
         "config (KL), single-step method",
         quick=(("train.batch_size", 64), ("train.steps_per_call", 4),
                ("model.critic_hidden", (8,))),
         block_steps=1000, rounds=6, default=True),
)}


def _set(config, field: str, value: Any) -> None:
  node = config
  *parents, leaf = field.split(".")
  for part in parents:
    node = node[part]
  if leaf not in node:
    raise KeyError(f"benchmark override of unknown config field {field!r}")
  node[leaf] = value


def build_config(case: Case, variant: Variant | None = None, *,
                 quick: bool = False):
  """The experiment's config with the case's (and variant's) overrides."""
  module = importlib.import_module(f"experiments.configs.{case.experiment}")
  config = module.get_config(case.preset) if case.preset else module.get_config()
  changes = list(case.overrides) + list(case.quick if quick else ())
  changes += list(variant.overrides if variant else ())
  for field, value in changes:
    _set(config, field, value)
  return config


def microbatches(case: Case, config) -> int:
  """Real minibatches one step consumes (stacked on a leading axis if > 1)."""
  if case.experiment in ("gan", "dcgan"):
    return config.gan.n_critic
  if case.experiment in ("wgan", "wgan_gp"):
    return config.gan.n_critic
  return 1


def items_per_step(config) -> int:
  """Images or points per step: the generator's batch."""
  return config.train.batch_size


def unit(case: Case, config) -> str:
  """What one generated item is: 'points' for the toys, else 'images'."""
  if case.experiment == "fgan" or (case.experiment == "wgan_gp"
                                   and config.model.architecture == "mlp"):
    return "points"
  return "images"


def step_batch(case: Case, config) -> dict[str, Any]:
  """One step's batch, as the experiment's BatchSource shapes it.

  Toy data comes from the library's own samplers; images are synthetic
  (uniform in [-1, 1], random labels) so that no dataset is needed.
  """
  import numpy as np

  import gans_jax as gj

  micro = microbatches(case, config)
  b = config.train.batch_size
  if case.experiment == "fgan":
    module = importlib.import_module("experiments.fgan")
    if not module.is_mixture(config):
      raise ValueError("only the f-GAN mixture preset is benchmarked")
    return gj.data.ToyBatches(module.mixture_distribution(config), batch_size=b,
                              seed=config.train.seed).get_batch(0)
  if case.experiment == "wgan_gp" and config.model.architecture == "mlp":
    return gj.data.ToyBatches(config.data.dataset, batch_size=b,
                              seed=config.train.seed,
                              num_microbatches=micro).get_batch(0)
  d = config.data
  lead = (micro, b) if micro > 1 else (b,)
  rng = np.random.default_rng(0)
  return {
      "image": rng.uniform(-1, 1, lead + (d.image_size, d.image_size,
                                          d.channels)).astype(np.float32),
      "label": rng.integers(0, 10, lead).astype(np.int32),
  }


# Experiments whose step function lives in another experiment's module.
_STEP_MODULES = {"dcgan": "gan"}


def make_step_fn(case: Case, config):
  """The experiment's own train step for ``config``."""
  module = importlib.import_module(
      f"experiments.{_STEP_MODULES.get(case.experiment, case.experiment)}")
  if case.experiment == "fgan":
    return module.make_train_step(config, config.fgan.divergences[0])
  return module.make_train_step(config)


def with_conv_transpose(state, implementation: str):
  """``state`` with every ConvTranspose2x of the generator set to
  ``implementation`` (same parameters; only the computation changes)."""
  from flax import nnx

  import gans_jax as gj

  module = state.generator.module(train=True)
  layers = [m for _, m in nnx.iter_graph(module)
            if isinstance(m, gj.nn.ConvTranspose2x)]
  if not layers:
    raise ValueError("the generator has no ConvTranspose2x layer")
  for layer in layers:
    layer.implementation = implementation
  return state.replace(generator=gj.train.Network.create(module))


def create_state(case: Case, variant: Variant, config):
  module = importlib.import_module(f"experiments.{case.experiment}")
  state = module.create_state(config)
  if variant.conv_transpose is not None:
    state = with_conv_transpose(state, variant.conv_transpose)
  return state


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


def _require(condition: bool, what: str) -> None:
  if not condition:
    raise ValueError(f"the PyTorch reference does not implement {what}")


def torch_reference(case: Case, config):
  """The PyTorch reference for ``case``, built from the same config."""
  import torch

  m, o, t = config.model, config.optim, config.train
  if case.experiment in ("gan", "dcgan", "wgan"):
    _require(not m.get("conditional", False), "conditional models")
  if case.experiment in ("gan", "dcgan"):
    _require(config.gan.n_critic == 1 and config.gan.loss == "non_saturating"
             and o.name == "adam", "this GAN setting")
  if case.experiment == "gan":
    from benchmarks.torch_reference import gan
    _require(m.noise == "uniform", "normal noise for the MLP GAN")
    return gan.Reference(
        image_size=config.data.image_size, channels=config.data.channels,
        latent_dim=m.latent_dim, g_hidden=tuple(m.g_hidden),
        d_hidden=tuple(m.d_hidden), maxout_pieces=m.maxout_pieces,
        dropout=m.d_dropout, input_dropout=m.d_input_dropout,
        batch_size=t.batch_size, learning_rate=o.learning_rate, b1=o.b1,
        b2=o.b2)
  if case.experiment == "dcgan":
    from benchmarks.torch_reference import dcgan
    _require(m.noise == "normal", "uniform noise for DCGAN")
    return dcgan.Reference(
        image_size=config.data.image_size, channels=config.data.channels,
        features=m.features, latent_dim=m.latent_dim, batch_size=t.batch_size,
        learning_rate=o.learning_rate, b1=o.b1, b2=o.b2)
  if case.experiment == "wgan":
    from benchmarks.torch_reference import wgan
    _require(m.generator == "dcgan" and m.critic_norm == "batch",
             "this WGAN architecture")
    return wgan.Reference(
        image_size=config.data.image_size, channels=config.data.channels,
        features=m.features, latent_dim=m.latent_dim, batch_size=t.batch_size,
        n_critic=config.gan.n_critic, clip=config.gan.clip,
        learning_rate=o.learning_rate, alpha=o.decay, eps=o.eps,
        generator_batch_norm=m.generator_batch_norm)
  if case.experiment == "wgan_gp":
    from benchmarks.torch_reference import wgan_gp
    _require(m.architecture == "mlp" and m.critic_norm == "none"
             and config.gan.generator_batch_multiple == 1, "this WGAN-GP setting")
    n = config.gan.n_critic
    real = torch.from_numpy(step_batch(case, config)["x"]).reshape(
        n, t.batch_size, -1)
    return wgan_gp.Reference(
        real=real, latent_dim=m.latent_dim, width=m.width, depth=m.depth,
        gp_weight=config.gan.gp_weight, learning_rate=o.learning_rate,
        b1=o.b1, b2=o.b2,
        linear_decay_steps=t.num_steps if o.decay == "linear" else 0,
        ema_decay=o.ema_decay)
  if case.experiment == "fgan":
    from benchmarks.torch_reference import fgan
    _require(config.fgan.scheme == "single_step"
             and m.critic_activation == "tanh", "this f-GAN setting")
    return fgan.Reference(
        real=torch.from_numpy(step_batch(case, config)["x"]),
        divergence=config.fgan.divergences[0], hidden=tuple(m.critic_hidden),
        optimizer=o.name, learning_rate=o.learning_rate, b1=o.b1, b2=o.b2,
        init_mean=m.init_mean, init_std=m.init_std)
  raise ValueError(f"no PyTorch reference for {case.experiment!r}")


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

def _worker(spec: str, quick: bool) -> None:
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
        [sys.executable, os.path.abspath(__file__), "--worker", spec]
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


class _SyntheticBatches:
  def __init__(self, batch):
    self.batch = batch

  def get_batch(self, step: int):
    del step
    return self.batch


def _startup(name: str, quick: bool) -> None:
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
                   _SyntheticBatches(step_batch(case, config)), config, workdir,
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
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args],
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

def _multidevice(names: Sequence[str], quick: bool) -> None:
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

def _profile(quick: bool, with_torch: bool) -> None:
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


# ----------------------------------------------------------------- report --

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


def _fmt_s(seconds: float | None) -> str:
  if seconds is None:
    return "–"
  if seconds >= 1:
    return f"{seconds:.2f} s"
  if seconds >= 1e-3:
    return f"{seconds * 1e3:.1f} ms"
  return f"{seconds * 1e6:.0f} µs"


def _fmt_rate(x: float) -> str:
  return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def target_lines(results: dict[str, Any]) -> list[str]:
  lines = []
  by_case = {r["case"]: r for r in results.get("throughput", [])}
  for case in CASES.values():
    if case.target is None or case.name not in by_case:
      continue
    row = by_case[case.name]["rows"][0]
    if "ratio" not in row:
      lines.append(f"- {case.name}: gans_jax / PyTorch >= {case.target}: "
                   "not measured (no PyTorch side)")
      continue
    verdict = "met" if row["ratio"] >= case.target else "MISSED"
    lines.append(f"- {case.name} ({row['label']}): gans_jax / PyTorch = "
                 f"**{row['ratio']:.2f}x** (target >= {case.target}x): {verdict}")
  startup = results.get("startup", [])
  defaults = [s for s in startup if CASES[s["case"]].default]
  if defaults:
    worst = max(defaults, key=lambda s: s["cold"]["launch_to_first_step_s"])
    warm = max(s["warm"]["launch_to_first_step_s"] for s in defaults)
    cold = worst["cold"]["launch_to_first_step_s"]
    verdict = "met" if cold < 20 else "MISSED"
    lines.append(f"- time to first step, default experiments, empty cache: at "
                 f"most **{cold:.1f} s** ({worst['case']}; target < 20 s): "
                 f"{verdict}; warm cache: at most **{warm:.1f} s**")
  multi = results.get("multidevice", [])
  if multi:
    ok = all(m["finite"] and m["max_rel_diff"] < 1e-3 for m in multi)
    lines.append(f"- 8 simulated devices: the step ran for {len(multi)} "
                 f"case(s); metrics {'match' if ok else 'DIFFER FROM'} 1 device "
                 f"(largest relative difference "
                 f"{max(m['max_rel_diff'] for m in multi):.1e})")
  return lines


def render(results: dict[str, Any]) -> str:
  """RESULTS.md's generated part (everything above the notes marker)."""
  info = results["machine"]
  lines = ["# Benchmarks: gans_jax against eager PyTorch", ""]
  lines += [f"Generated by `{results['command']}` on {results['date']} "
            f"({results['wall_s'] / 60:.1f} min).", ""]
  if results.get("quick"):
    lines += ["**Quick mode: tiny models and few steps; the figures are a "
              "smoke test, not measurements.**", ""]
  gpu = ("a GPU is present but this run measured the CPU only"
         if info["gpu"] else "no GPU on this machine, so no GPU figures")
  lines += [
      "## Machine", "",
      f"- CPU: {info['cpu']}, {info['logical_cpus']} logical CPUs "
      f"({info['usable_cpus']} usable by this process); "
      f"device: {results.get('device', 'cpu')}; {gpu}.",
      f"- Threads: XLA's default CPU pool (one thread per usable CPU) and "
      f"`torch.set_num_threads({info['usable_cpus']})` with "
      f"`OMP_WAIT_POLICY={results.get('omp_wait_policy', 'PASSIVE')}` (on a "
      "shared CPU, OpenMP's default spin-waiting made PyTorch's steps up to "
      "20x slower; passive waiting is its best setting there).",
      f"- Load average (1 min) over the run: {results['load_min']:.2f} – "
      f"{results['load_max']:.2f} (a shared machine: ratios, not absolute "
      "times, are the headline).",
      f"- Python {info['python']}; "
      + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
      + f"; {info['os']}.", ""]
  targets = target_lines(results)
  if targets:
    lines += ["## Targets", ""] + targets + [""]

  if results.get("throughput"):
    lines += [
        "## Train-step throughput", "",
        "One step is one generator iteration with its discriminator / critic "
        "updates; items/s counts the generator's batch. Median over the timed "
        "steps after warm-up (interquartile range in brackets); gans_jax and "
        "PyTorch ran in separate worker processes, alternating blocks of "
        "steps. Batches are made before timing (synthetic images of the "
        "right shape; the library's own toy samplers), so no data loading is "
        "timed. *First step*: process launch to the end of the first call "
        "(all `steps_per_call` steps of it), compilation included, no "
        "persistent cache. *Ratio*: gans_jax items/s over PyTorch items/s.",
        ""]
    for case_result in results["throughput"]:
      lines += [f"### {case_result['case']}", "", case_result["title"] + ".", "",
                f"| implementation | {case_result['unit']}/s | step | "
                "first step | peak RSS | ratio |",
                "|---|---:|---:|---:|---:|---:|"]
      for row in case_result["rows"]:
        ratio = f"**{row['ratio']:.2f}x**" if "ratio" in row else "–"
        lines.append(
            f"| {row['label']} | {_fmt_rate(row['items_per_s'])} | "
            f"{_fmt_s(row['step_s'])} [{_fmt_s(row['step_p25'])} – "
            f"{_fmt_s(row['step_p75'])}] | {row['first_step_s']:.1f} s | "
            f"{row['peak_rss_mib']:,.0f} MiB | {ratio} |")
      steps = ", ".join(f"{r['timed_steps']} ({r['steps_per_call']}/call)"
                        for r in case_result["rows"])
      lines += ["", f"Timed steps: {steps}. Load average before / after: "
                f"{case_result['load_before'][0]:.2f} / "
                f"{case_result['load_after'][0]:.2f}.", ""]

  if results.get("startup"):
    lines += [
        "## Time to first step", "",
        "Fresh processes running `gans_jax.train.fit` on the experiment's "
        "config with a synthetic batch source, the persistent compilation "
        "cache on (`gans_jax.cli.enable_compilation_cache`, "
        "`GANS_JAX_CACHE_DIR` set to a new directory): first with the cache "
        "empty, then again with it warm. Launch to the end of the first step; "
        "the breakdown is imports / `create_state` / `fit` up to the end of "
        "the first step (compilation included).", "",
        "| experiment | default | empty cache | warm cache | breakdown (empty) "
        "| breakdown (warm) | peak RSS |",
        "|---|:---:|---:|---:|---|---|---:|"]
    for s in results["startup"]:
      def parts(m):
        return (f"{m['imports_s']:.1f} / {m['create_state_s']:.1f} / "
                f"{m['fit_to_first_step_s']:.1f} s")
      lines.append(
          f"| {s['case']} | {'yes' if CASES[s['case']].default else 'no'} | "
          f"{s['cold']['launch_to_first_step_s']:.1f} s | "
          f"{s['warm']['launch_to_first_step_s']:.1f} s | {parts(s['cold'])} | "
          f"{parts(s['warm'])} | {s['cold']['peak_rss_mib']:,.0f} MiB |")
    lines.append("")

  if results.get("multidevice"):
    lines += [
        "## Multi-device (8 simulated CPU devices)", "",
        "`XLA_FLAGS=--xla_force_host_platform_device_count=8`: the same step "
        "and initial state on a 1-device mesh and on the 8-device `data` mesh "
        "(batch sharded, state replicated), in one process, one step per "
        "call. A check that the sharded step runs and computes the same "
        "numbers (the first step's metrics); the 8 devices share "
        f"the same {info['usable_cpus']} cores, so the cost ratio is not a "
        "speed-up figure.", "",
        "| case | step, 1 device | step, 8 devices | 8 / 1 | first call 1 / 8 "
        "| metrics, max relative difference | note |",
        "|---|---:|---:|---:|---:|---:|---|"]
    for m in results["multidevice"]:
      lines.append(
          f"| {m['case']} | {_fmt_s(m['step_s_1'])} | {_fmt_s(m['step_s_n'])} | "
          f"{m['step_s_n'] / m['step_s_1']:.2f}x | "
          f"{m['first_call_s_1']:.1f} / {m['first_call_s_n']:.1f} s | "
          f"{m['max_rel_diff']:.1e}{'' if m['finite'] else ' (non-finite!)'} | "
          f"{m['note']} |")
    lines.append("")

  if results.get("profile"):
    lines += [
        "## Profile: sub-parts of the DCGAN 64x64 step", "",
        "Each part jitted on its own (gans_jax) or run eagerly (PyTorch), "
        "batch 64, training-mode BatchNorm, median of 5 after one warm-up, "
        "alternating. *Weight gradient* is d(sum of outputs)/d(parameters); "
        "*input gradient* is the path the generator's update takes through "
        "D.", "",
        "| part | gans_jax | PyTorch | PyTorch / gans_jax |",
        "|---|---:|---:|---:|"]
    for p in results["profile"]:
      ratio = f"{p['torch_s'] / p['jax_s']:.2f}" if p["torch_s"] else "–"
      lines.append(f"| {p['part']} | {_fmt_s(p['jax_s'])} | "
                   f"{_fmt_s(p['torch_s'])} | {ratio} |")
    lines.append("")
  if results.get("errors"):
    lines += ["## Errors", ""] + [f"- {e}" for e in results["errors"]] + [""]
  return "\n".join(lines)


def write_results(path: str, text: str) -> None:
  """Writes ``text`` above the notes marker, keeping what was below it."""
  notes = ""
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      old = f.read()
    if NOTES_MARKER in old:
      notes = old.split(NOTES_MARKER, 1)[1]
  with open(path, "w", encoding="utf-8") as f:
    f.write(text.rstrip() + "\n\n" + NOTES_MARKER + (notes or "\n"))


# ------------------------------------------------------------------- main --

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="tiny models and few steps (a smoke test)")
  parser.add_argument("--only", default="",
                      help=f"comma-separated cases; default all: {','.join(CASES)}")
  parser.add_argument("--skip", default="",
                      help=f"comma-separated sections to skip: {','.join(SECTIONS)}")
  parser.add_argument("--jax-only", action="store_true",
                      help="do not run the PyTorch references")
  parser.add_argument("--platform", default="cpu",
                      help="JAX_PLATFORMS for the gans_jax workers (the "
                           "PyTorch references run on the CPU)")
  parser.add_argument("--output", default=None,
                      help="markdown file to write; default benchmarks/RESULTS.md "
                           "(a temporary file with --quick)")
  parser.add_argument("--json", default=None, help="also write the raw results here")
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  parser.add_argument("--startup", help=argparse.SUPPRESS)
  parser.add_argument("--multidevice", help=argparse.SUPPRESS)
  parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
  args = parse_args(argv)
  if args.worker:
    _worker(args.worker, args.quick)
    return 0
  if args.startup:
    _startup(args.startup, args.quick)
    return 0
  if args.multidevice:
    _multidevice(args.multidevice.split(","), args.quick)
    return 0
  if args.profile:
    _profile(args.quick, not args.jax_only)
    return 0

  names = [n for n in args.only.split(",") if n] or list(CASES)
  unknown = sorted(set(names) - set(CASES))
  skip = {s for s in args.skip.split(",") if s}
  if unknown or skip - set(SECTIONS):
    print(f"error: unknown case(s) {unknown} or section(s) "
          f"{sorted(skip - set(SECTIONS))}; cases: {list(CASES)}, sections: "
          f"{list(SECTIONS)}", file=sys.stderr)
    return 2
  with_torch = not args.jax_only and importlib.util.find_spec("torch") is not None
  if not with_torch and not args.jax_only:
    print("PyTorch is not installed (pip install .[bench]); running the "
          "gans_jax side only", file=sys.stderr)
  output = args.output or (os.path.join(tempfile.gettempdir(),
                                        "gans_jax_benchmarks_quick.md")
                           if args.quick else DEFAULT_OUTPUT)
  env = worker_env(args.platform)
  results_env = dict(omp_wait_policy=env["OMP_WAIT_POLICY"])
  log_dir = tempfile.mkdtemp(prefix="gans_jax_bench_logs_")
  started = time.time()
  loads = [os.getloadavg()[0]]
  command = "python benchmarks/run.py" + "".join(
      f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
  results: dict[str, Any] = dict(
      command=command, quick=args.quick, machine=machine_info(with_torch),
      date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
      throughput=[], startup=[], multidevice=[], profile=[], errors=[],
      **results_env)

  def log(message: str) -> None:
    print(f"[{time.time() - started:6.0f} s, load {os.getloadavg()[0]:.1f}] "
          f"{message}", flush=True)

  def attempt(what: str, fn):
    try:
      return fn()
    except (WorkerError, subprocess.TimeoutExpired) as e:
      results["errors"].append(f"{what}: {str(e).splitlines()[0]}")
      log(f"FAILED {what}: {e}")
      return None
    finally:
      loads.append(os.getloadavg()[0])

  if "throughput" not in skip:
    for name in names:
      log(f"throughput: {name}")
      r = attempt(f"throughput {name}", lambda: measure_case(
          CASES[name], quick=args.quick, with_torch=with_torch, env=env,
          log_dir=log_dir))
      if r:
        results["throughput"].append(r)
        results["device"] = r["rows"][0]["device"]
        for row in r["rows"]:
          log(f"  {row['label']}: {_fmt_s(row['step_s'])}/step, "
              f"{_fmt_rate(row['items_per_s'])} {r['unit']}/s"
              + (f", ratio {row['ratio']:.2f}x" if "ratio" in row else ""))
  # The start-up and multi-device checks cover the default experiments
  # (all selected cases when none of them is a default).
  defaults = [n for n in names if CASES[n].default] or names
  if "startup" not in skip:
    for name in defaults:
      log(f"time to first step: {name}")
      r = attempt(f"startup {name}", lambda: measure_startup(
          CASES[name], quick=args.quick, env=env, log_dir=log_dir))
      if r:
        results["startup"].append(r)
        log(f"  empty cache {r['cold']['launch_to_first_step_s']:.1f} s, warm "
            f"{r['warm']['launch_to_first_step_s']:.1f} s")
  if "multidevice" not in skip:
    log("8 simulated devices")
    r = attempt("multidevice", lambda: measure_multidevice(
        defaults, quick=args.quick, env=env, log_dir=log_dir))
    results["multidevice"] = r or []
  if "profile" not in skip and "dcgan64" in names:
    log("profile: DCGAN 64x64 sub-parts")
    r = attempt("profile", lambda: measure_profile(
        quick=args.quick, with_torch=with_torch, env=env, log_dir=log_dir))
    results["profile"] = r or []

  results["wall_s"] = time.time() - started
  results["load_min"], results["load_max"] = min(loads), max(loads)
  write_results(output, render(results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=2)
  log(f"wrote {output} (worker logs in {log_dir})")
  if args.quick:
    print("quick mode: tiny models; the ratios below are a smoke test, "
          "not measurements")
  for line in target_lines(results):
    print(line)
  return 1 if results["errors"] else 0


if __name__ == "__main__":
  sys.exit(main())
