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

This file is the command line; the cases live in ``benchmarks/cases.py``, the
measuring processes in ``benchmarks/runner.py`` and the Markdown in
``benchmarks/report.py``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

from benchmarks import report
from benchmarks import runner
from benchmarks.cases import CASES

SECTIONS = ("throughput", "startup", "multidevice", "profile")


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
    runner.worker_process(args.worker, args.quick)
    return 0
  if args.startup:
    runner.startup_process(args.startup, args.quick)
    return 0
  if args.multidevice:
    runner.multidevice_process(args.multidevice.split(","), args.quick)
    return 0
  if args.profile:
    runner.profile_process(args.quick, not args.jax_only)
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
                           if args.quick else report.DEFAULT_OUTPUT)
  env = runner.worker_env(args.platform)
  results_env = dict(omp_wait_policy=env["OMP_WAIT_POLICY"])
  log_dir = tempfile.mkdtemp(prefix="gans_jax_bench_logs_")
  started = time.time()
  loads = [os.getloadavg()[0]]
  command = "python benchmarks/run.py" + "".join(
      f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
  results: dict[str, Any] = dict(
      command=command, quick=args.quick, machine=runner.machine_info(with_torch),
      date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
      throughput=[], startup=[], multidevice=[], profile=[], errors=[],
      **results_env)

  def log(message: str) -> None:
    print(f"[{time.time() - started:6.0f} s, load {os.getloadavg()[0]:.1f}] "
          f"{message}", flush=True)

  def attempt(what: str, fn):
    try:
      return fn()
    except (runner.WorkerError, subprocess.TimeoutExpired) as e:
      results["errors"].append(f"{what}: {str(e).splitlines()[0]}")
      log(f"FAILED {what}: {e}")
      return None
    finally:
      loads.append(os.getloadavg()[0])

  if "throughput" not in skip:
    for name in names:
      log(f"throughput: {name}")
      r = attempt(f"throughput {name}", lambda: runner.measure_case(
          CASES[name], quick=args.quick, with_torch=with_torch, env=env,
          log_dir=log_dir))
      if r:
        results["throughput"].append(r)
        results["device"] = r["rows"][0]["device"]
        for row in r["rows"]:
          log(f"  {row['label']}: {report.fmt_seconds(row['step_s'])}/step, "
              f"{report.fmt_rate(row['items_per_s'])} {r['unit']}/s"
              + (f", ratio {row['ratio']:.2f}x" if "ratio" in row else ""))
  # The start-up and multi-device checks cover the default experiments
  # (all selected cases when none of them is a default).
  defaults = [n for n in names if CASES[n].default] or names
  if "startup" not in skip:
    for name in defaults:
      log(f"time to first step: {name}")
      r = attempt(f"startup {name}", lambda: runner.measure_startup(
          CASES[name], quick=args.quick, env=env, log_dir=log_dir))
      if r:
        results["startup"].append(r)
        log(f"  empty cache {r['cold']['launch_to_first_step_s']:.1f} s, warm "
            f"{r['warm']['launch_to_first_step_s']:.1f} s")
  if "multidevice" not in skip:
    log("8 simulated devices")
    r = attempt("multidevice", lambda: runner.measure_multidevice(
        defaults, quick=args.quick, env=env, log_dir=log_dir))
    results["multidevice"] = r or []
  if "profile" not in skip and "dcgan64" in names:
    log("profile: DCGAN 64x64 sub-parts")
    r = attempt("profile", lambda: runner.measure_profile(
        quick=args.quick, with_torch=with_torch, env=env, log_dir=log_dir))
    results["profile"] = r or []

  results["wall_s"] = time.time() - started
  results["load_min"], results["load_max"] = min(loads), max(loads)
  report.write_results(output, report.render(results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=2)
  log(f"wrote {output} (worker logs in {log_dir})")
  if args.quick:
    print("quick mode: tiny models; the ratios below are a smoke test, "
          "not measurements")
  for line in report.target_lines(results):
    print(line)
  return 1 if results["errors"] else 0


if __name__ == "__main__":
  sys.exit(main())
