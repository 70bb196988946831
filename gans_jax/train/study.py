"""Studies: a grid of runs (presets x seeds, or methods x architectures),
run cell by cell through the experiments' command line and summarised as
mean +- std over seeds.

A :class:`Study` is a list of :class:`Cell` s, each one command
``python EXPERIMENT --config=CONFIG [--config.FIELD=VALUE ...]
--workdir=ROOT/<cell name>``. :func:`run` runs the cells that have not
finished, one workdir per cell:

- a cell whose ``results.json`` is complete (its ``step`` reaches the
  config's ``train.num_steps``) is skipped;
- an unfinished cell (no results yet, or a failed or interrupted run) is
  run again with the same command, which resumes from its newest checkpoint;
- a workdir that holds another run (another experiment, preset or
  override, by ``study_cell.json``, ``run.json`` and ``config.json``) is
  refused and left untouched;
- a cell that fails is recorded (exit code, the last lines of
  ``ROOT/<cell>/study.log``) and the study goes on.

``ROOT/study.json`` records every cell, its status and its timings, and is
rewritten atomically after each cell. :func:`aggregate` groups the cells
that differ only by seed and gives, per metric, the mean, the sample
standard deviation

.. math:: s = \\sqrt{\\tfrac{1}{n - 1} \\sum_i (x_i - \\bar x)^2}

and ``n``; :func:`write_summary` writes it as ``ROOT/summary.json`` and
``ROOT/summary.md``, and :func:`figure` lays out one sample grid per cell.

From the shell::

  python -m gans_jax.train.study --experiment=experiments/gan.py \\
      --presets=digits --seeds=0,1,2 --root=runs/gan_seeds

Nothing here imports JAX: every cell runs in its own process.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
import concurrent.futures
import dataclasses
import itertools
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

SEED_FIELD = "train.seed"
SEED_AXIS = "seed"
MANIFEST_FILE = "study.json"
SUMMARY_FILE = "summary.json"
TABLE_FILE = "summary.md"
FIGURE_FILE = "samples.png"
CELL_FILE = "study_cell.json"
LOG_FILE = "study.log"
LOG_TAIL_LINES = 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


class StudyError(ValueError):
  """A study that cannot be run as given: duplicate cell names, a bad
  grid, a root that holds runs when ``resume=False``. One-line message."""


# ------------------------------------------------------------- the cells --

@dataclasses.dataclass(frozen=True)
class Cell:
  """One run of a study.

  Attributes:
    name: the cell's name; its workdir is ``root/<sanitised name>``.
    experiment: the experiment script, ``experiments/<paper>.py``.
    config: the ``--config`` value, ``experiments/configs/<paper>.py:PRESET``.
    overrides: ``{field: value}`` passed as ``--config.FIELD=VALUE``.
    labels: ``{axis: value}``, the cell's place in the grid (for the table's
      rows and the figure's rows and columns); by default empty.
  """
  name: str
  experiment: str
  config: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  labels: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def dirname(self) -> str:
    return sanitise(self.name)

  def command(self, workdir: str) -> list[str]:
    """The command line that runs (or resumes) this cell in ``workdir``."""
    return [sys.executable, os.path.abspath(self.experiment),
            f"--config={_absolute_config(self.config)}",
            *(f"--config.{field}={_flag_value(value)}"
              for field, value in self.overrides.items()),
            f"--workdir={os.path.abspath(workdir)}"]

  def record(self) -> dict[str, Any]:
    """What identifies the cell's run, as written to ``study_cell.json``."""
    return {"experiment": os.path.abspath(self.experiment),
            "config": _absolute_config(self.config),
            "overrides": {k: _flag_value(v) for k, v in sorted(self.overrides.items())}}

  def group(self) -> tuple:
    """The key shared by the cells that differ only by seed."""
    record = self.record()
    record["overrides"].pop(SEED_FIELD, None)
    return (record["experiment"], record["config"],
            tuple(sorted(record["overrides"].items())))


@dataclasses.dataclass(frozen=True)
class Study:
  """A named list of cells whose workdirs lie under ``root``."""
  name: str
  cells: Sequence[Cell]
  root: str

  def __post_init__(self):
    seen: dict[str, str] = {}
    for cell in self.cells:
      d = cell.dirname
      if d in seen:
        raise StudyError(f"cells {seen[d]!r} and {cell.name!r} would share the "
                         f"workdir {os.path.join(self.root, d)}; give them distinct names")
      seen[d] = cell.name

  def workdir(self, cell: Cell) -> str:
    return os.path.join(self.root, cell.dirname)


def sanitise(name: str) -> str:
  """A cell name made safe as one directory name: characters other than
  letters, digits and ``._=+-`` become ``_``."""
  safe = _UNSAFE.sub("_", str(name)).strip("_")
  if not safe or set(safe) == {"."}:
    raise StudyError(f"cell name {name!r} makes no directory name")
  return safe


def product(axes: Mapping[str, Mapping[Any, Mapping[str, Any]]], *,
            experiment: str | None = None, config: str | None = None,
            overrides: Mapping[str, Any] | None = None) -> list[Cell]:
  """The cells of a product of named axes.

  Each axis maps a value's label to its settings: ``experiment`` and
  ``config`` (when the axis chooses them) and config fields. A cell is named
  ``axis=label__axis=label`` in the axes' order; later axes' settings win.
  For example, WGAN and WGAN-GP on the digits over two seeds::

    product({"method": {
                 "wgan": {"experiment": "experiments/wgan.py",
                          "config": "experiments/configs/wgan.py:digits"},
                 "wgan_gp": {"experiment": "experiments/wgan_gp.py",
                             "config": "experiments/configs/wgan_gp.py:digits"}},
             "seed": {0: {"train.seed": 0}, 1: {"train.seed": 1}}})
  """
  if not axes:
    raise StudyError("a study needs at least one axis")
  cells = []
  for combination in itertools.product(*(list(v.items()) for v in axes.values())):
    settings: dict[str, Any] = {"experiment": experiment, "config": config,
                                **(overrides or {})}
    labels = {}
    for axis, (label, values) in zip(axes, combination):
      labels[axis] = label
      settings.update(values)
    cell_experiment = settings.pop("experiment")
    cell_config = settings.pop("config")
    if not cell_experiment or not cell_config:
      raise StudyError(f"cell {labels} names no experiment or no config")
    cells.append(Cell("__".join(f"{a}={v}" for a, v in labels.items()),
                      cell_experiment, cell_config, settings, labels))
  return cells


def default_config_file(experiment: str) -> str:
  """``experiments/configs/<paper>.py`` beside ``experiments/<paper>.py``."""
  return os.path.join(os.path.dirname(experiment) or ".", "configs",
                      os.path.basename(experiment))


def seeds_grid(experiment: str, presets: Sequence[str | None],
               seeds: Sequence[int], *, config_file: str | None = None,
               overrides: Mapping[str, Any] | None = None) -> list[Cell]:
  """Cells ``preset=P__seed=S`` for every preset and seed, the seed set by
  ``--config.train.seed=S``; a preset ``None`` is the config's default."""
  if not presets or not seeds:
    raise StudyError("a seeds grid needs at least one preset and one seed")
  config_file = config_file or default_config_file(experiment)
  return product(
      {"preset": {p or "default": {"config": config_file + (f":{p}" if p else "")}
                  for p in presets},
       SEED_AXIS: {int(s): {SEED_FIELD: int(s)} for s in seeds}},
      experiment=experiment, overrides=overrides)


def _absolute_config(spec: str) -> str:
  path, sep, preset = spec.rpartition(":")
  if not sep or "/" in preset or not path:
    return os.path.abspath(spec)
  return f"{os.path.abspath(path)}:{preset}"


def _same_file(a: str, b: str) -> bool:
  """The same script: one path, or the same file name in the same folder
  name (``experiments/gan.py``) of another checkout, so that a study moved
  with its checkout, or run from a second clone, finds its cells."""
  if os.path.realpath(a) == os.path.realpath(b):
    return True
  tail = lambda p: os.path.normpath(p).split(os.sep)[-2:]
  return tail(a) == tail(b)


def _same_config(a: str, b: str) -> bool:
  """The same ``FILE[:PRESET]``: the same preset of the same config file."""
  (file_a, _, preset_a), (file_b, _, preset_b) = a.rpartition(":"), b.rpartition(":")
  if not file_a or not file_b:
    return _same_file(a, b)
  return preset_a == preset_b and _same_file(file_a, file_b)


def _same_cell(recorded: Any, want: dict[str, Any]) -> bool:
  return (isinstance(recorded, dict)
          and recorded.get("overrides") == want["overrides"]
          and _same_file(str(recorded.get("experiment")), want["experiment"])
          and _same_config(str(recorded.get("config")), want["config"]))


def _flag_value(value: Any) -> str:
  if isinstance(value, (tuple, list)):
    return "(" + ",".join(_flag_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
  return str(value)


# ---------------------------------------------------------- the workdirs --

def _read_json(path: str) -> Any:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _write_json(path: str, value: Any) -> None:
  """Writes ``value`` to ``path`` atomically (a reader sees the old file or
  the new one, never half of one)."""
  tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, sort_keys=True, default=str)
  os.replace(tmp, path)


def _field(config: Any, field: str) -> Any:
  for part in field.split("."):
    if not isinstance(config, dict) or part not in config:
      return _MISSING
    config = config[part]
  return config


_MISSING = object()


def _same_value(recorded: Any, flag: str) -> bool:
  if recorded is _MISSING:
    return False
  if isinstance(recorded, list):
    recorded = tuple(recorded)
  if _flag_value(recorded) == flag:
    return True
  try:
    return float(recorded) == float(flag)
  except (TypeError, ValueError):
    return False


def _config_arg(argv: Sequence[str]) -> str | None:
  for arg in argv:
    if arg.startswith("--config="):
      return arg[len("--config="):]
  return None


def mismatch(cell: Cell, workdir: str) -> str | None:
  """Why ``workdir`` holds a run other than ``cell``'s, or None when it is
  empty or holds this cell's run (finished or not)."""
  want = cell.record()
  marked = _read_json(os.path.join(workdir, CELL_FILE))
  if marked is not None and not _same_cell(marked, want):
    return f"{workdir} was made for another cell ({CELL_FILE}: {marked})"
  run = _read_json(os.path.join(workdir, "run.json"))
  if isinstance(run, dict):
    recorded_file = run.get("file")
    if recorded_file and not _same_file(recorded_file, want["experiment"]):
      return f"{workdir} holds a run of {recorded_file}, not {cell.experiment}"
    flags = {f"--config.{k}={v}" for k, v in want["overrides"].items()}
    for command in run.get("commands", []):
      argv = command.get("argv", [])
      spec = _config_arg(argv)
      if spec is not None and not _same_config(_absolute_config(spec), want["config"]):
        return f"{workdir} holds a run of --config={spec}, not {cell.config}"
      given = {a for a in argv if a.startswith("--config.")}
      if given != flags:
        return (f"{workdir} holds a run with {sorted(given) or 'no overrides'}, "
                f"not {sorted(flags) or 'no overrides'}")
  config = _read_json(os.path.join(workdir, "config.json"))
  if isinstance(config, dict):
    for field, flag in want["overrides"].items():
      recorded = _field(config, field)
      if not _same_value(recorded, flag):
        shown = "nothing" if recorded is _MISSING else repr(recorded)
        return f"{workdir} holds a run with {field}={shown}, not {flag}"
  return None


def finished(workdir: str) -> dict[str, Any] | None:
  """The run's ``results.json`` when it is complete: a dict with a ``step``
  that reaches ``train.num_steps`` of its ``config.json``; else None."""
  results = _read_json(os.path.join(workdir, "results.json"))
  if not isinstance(results, dict) or not isinstance(results.get("step"), (int, float)):
    return None
  config = _read_json(os.path.join(workdir, "config.json"))
  num_steps = _field(config, "train.num_steps") if isinstance(config, dict) else _MISSING
  if isinstance(num_steps, (int, float)) and results["step"] < num_steps:
    return None
  return results


def _log_tail(path: str, start: int, lines: int = LOG_TAIL_LINES) -> list[str]:
  with open(path, "rb") as f:
    f.seek(start)
    text = f.read().decode("utf-8", "replace")
  return text.splitlines()[-lines:]


# ------------------------------------------------------------------ run --

def read_manifest(study: Study) -> dict[str, Any]:
  """``root/study.json`` (an empty manifest when none is written yet)."""
  manifest = _read_json(os.path.join(study.root, MANIFEST_FILE))
  if not isinstance(manifest, dict) or not isinstance(manifest.get("cells"), dict):
    return {"name": study.name, "cells": {}}
  return manifest


def _run_cell(study: Study, cell: Cell, timeout: float | None,
              env: Mapping[str, str] | None) -> dict[str, Any]:
  workdir = study.workdir(cell)
  entry: dict[str, Any] = {"workdir": workdir, **cell.record(),
                           "labels": {k: v for k, v in cell.labels.items()}}
  reason = mismatch(cell, workdir)
  if reason is not None:
    return {**entry, "status": "refused", "reason": reason}
  if finished(workdir) is not None:
    return {**entry, "status": "done", "ran": False}
  os.makedirs(workdir, exist_ok=True)
  _write_json(os.path.join(workdir, CELL_FILE), cell.record())
  command = cell.command(workdir)
  log = os.path.join(workdir, LOG_FILE)
  with open(log, "ab") as f:
    start = f.tell()
    f.write(f"$ {' '.join(command)}\n".encode())
    f.flush()
    began = time.time()
    try:
      code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, timeout=timeout,
                            env=None if env is None else dict(env), check=False).returncode
    except subprocess.TimeoutExpired:
      code = None
  seconds = time.time() - began
  entry.update(ran=True, returncode=code, seconds=round(seconds, 3),
               started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)))
  if code == 0 and finished(workdir) is not None:
    return {**entry, "status": "done"}
  status = "failed" if code != 0 else "unfinished"
  return {**entry, "status": status, "log_tail": _log_tail(log, start)}


def run(study: Study, *, resume: bool = True, jobs: int = 1,
        timeout: float | None = None, env: Mapping[str, str] | None = None,
        verbose: bool = False) -> dict[str, Any]:
  """Runs the study's unfinished cells; returns the manifest.

  Args:
    study: the cells and their root.
    resume: skip finished cells and resume unfinished ones (the default);
      False refuses a root that already holds a manifest or a cell's workdir.
    jobs: cells run at once (each one process).
    timeout: seconds a cell may run before it is stopped and counted failed.
    env: the cells' environment (default: this process's).
    verbose: print one line per cell to stderr.

  Returns:
    The manifest written to ``root/study.json``: ``{"name", "cells": {name:
    {"status": "done" | "failed" | "unfinished" | "refused", "returncode",
    "seconds", "ran", "log_tail", ...}}}``.
  """
  if jobs < 1:
    raise StudyError(f"jobs must be at least 1, not {jobs}")
  if not resume:
    taken = [c.name for c in study.cells if os.path.exists(study.workdir(c))]
    if os.path.exists(os.path.join(study.root, MANIFEST_FILE)) or taken:
      raise StudyError(f"{study.root} already holds this study's runs "
                       f"({', '.join(taken) or MANIFEST_FILE}); resume it or use another root")
  os.makedirs(study.root, exist_ok=True)
  manifest = read_manifest(study)
  manifest["name"] = study.name
  manifest["order"] = [c.name for c in study.cells]
  lock = threading.Lock()
  path = os.path.join(study.root, MANIFEST_FILE)

  def one(cell: Cell) -> None:
    entry = _run_cell(study, cell, timeout, env)
    with lock:
      previous = manifest["cells"].get(cell.name, {})
      entry["runs"] = previous.get("runs", 0) + int(entry.get("ran", False))
      if not entry.get("ran") and "seconds" in previous:
        entry.setdefault("seconds", previous["seconds"])
      manifest["cells"][cell.name] = entry
      manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
      _write_json(path, manifest)
    if verbose:
      extra = entry.get("reason") or (f"exit {entry['returncode']}, see "
                                       f"{os.path.join(entry['workdir'], LOG_FILE)}"
                                       if entry["status"] in ("failed", "unfinished") else "")
      print(f"{cell.name}: {entry['status']}" + (f" ({extra})" if extra else ""),
            file=sys.stderr, flush=True)

  if jobs == 1:
    for cell in study.cells:
      one(cell)
  else:
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
      list(pool.map(one, study.cells))
  return manifest


# ------------------------------------------------------------- summaries --

@dataclasses.dataclass(frozen=True)
class Stat:
  """Mean, sample standard deviation (``ddof=1``; NaN for one value) and
  count of one metric over a group's seeds."""
  mean: float
  std: float
  n: int


@dataclasses.dataclass(frozen=True)
class Row:
  """One group of cells that differ only by seed."""
  labels: Mapping[str, Any]
  cells: Sequence[str]
  missing: Sequence[str]
  stats: Mapping[str, Stat]
  values: Mapping[str, Mapping[str, float]]  # cell -> metric -> value


@dataclasses.dataclass(frozen=True)
class Summary:
  name: str
  metrics: Sequence[str]
  rows: Sequence[Row]


def stat(values: Sequence[float]) -> Stat:
  """:class:`Stat` of ``values`` (NaN mean and std for none)."""
  x = np.asarray(values, np.float64)
  n = int(x.size)
  mean = float(x.mean()) if n else math.nan
  std = float(x.std(ddof=1)) if n > 1 else math.nan
  return Stat(mean, std, n)


def _number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def aggregate(study: Study, metrics: Sequence[str] | None = None) -> Summary:
  """Mean +- std over seeds of each metric, per group of cells that differ
  only by ``train.seed``, from the finished cells' ``results.json``.

  Args:
    study: the study; unfinished cells, and cells whose workdir holds
      another run, count as missing.
    metrics: the ``results.json`` keys to summarise; by default every numeric
      key of any finished cell but ``step``.
  """
  results = {c.name: finished(study.workdir(c))
             if mismatch(c, study.workdir(c)) is None else None for c in study.cells}
  if metrics is None:
    metrics = sorted({k for r in results.values() if r for k, v in r.items()
                      if k != "step" and _number(v)})
  groups: dict[tuple, list[Cell]] = {}
  for cell in study.cells:
    groups.setdefault(cell.group(), []).append(cell)
  rows = []
  for cells in groups.values():
    labels = {k: v for k, v in cells[0].labels.items() if k != SEED_AXIS}
    values = {c.name: {m: float(results[c.name][m]) for m in metrics
                       if _number(results[c.name].get(m))}
              for c in cells if results[c.name] is not None}
    rows.append(Row(labels=labels, cells=[c.name for c in cells],
                    missing=[c.name for c in cells if results[c.name] is None],
                    stats={m: stat([v[m] for v in values.values() if m in v])
                           for m in metrics},
                    values=values))
  return Summary(study.name, list(metrics), rows)


def _format(x: float) -> str:
  return "–" if math.isnan(x) else f"{x:.4g}"


def to_markdown(summary: Summary) -> str:
  """The summary as Markdown: one row per group, ``mean ± std`` per metric
  with ``n`` (the finished seeds), then one row per finished cell."""
  axes = list(dict.fromkeys(a for r in summary.rows for a in r.labels)) or ["cells"]
  head = axes + ["n"] + list(summary.metrics)
  lines = [f"## {summary.name}", "", "| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
  for row in summary.rows:
    names = ([str(row.labels.get(a, "")) for a in axes] if row.labels
             else [", ".join(row.cells)])
    n = len(row.values)
    cells = []
    for m in summary.metrics:
      s = row.stats[m]
      text = _format(s.mean) if s.n < 2 else f"{_format(s.mean)} ± {_format(s.std)}"
      cells.append(text + (f" (n={s.n})" if s.n != n else ""))
    lines.append("| " + " | ".join(names + [str(n)] + cells) + " |")
  lines += ["", "Per cell:", "", "| cell | " + " | ".join(summary.metrics) + " |",
            "|" + "---|" * (len(summary.metrics) + 1)]
  for row in summary.rows:
    for name, values in row.values.items():
      lines.append(f"| {name} | " + " | ".join(
          _format(values.get(m, math.nan)) for m in summary.metrics) + " |")
  missing = [c for r in summary.rows for c in r.missing]
  if missing:
    lines += ["", f"Not finished: {', '.join(missing)}."]
  return "\n".join(lines) + "\n"


def to_json(summary: Summary) -> dict[str, Any]:
  """The summary as JSON-ready data (NaN as null)."""
  clean = lambda x: None if isinstance(x, float) and math.isnan(x) else x
  return {"name": summary.name, "metrics": list(summary.metrics),
          "rows": [{"labels": dict(r.labels), "cells": list(r.cells),
                    "missing": list(r.missing),
                    "stats": {m: {"mean": clean(s.mean), "std": clean(s.std), "n": s.n}
                              for m, s in r.stats.items()},
                    "values": {c: dict(v) for c, v in r.values.items()}}
                   for r in summary.rows]}


def write_summary(study: Study, summary: Summary) -> tuple[str, str]:
  """Writes ``root/summary.json`` and ``root/summary.md``; returns their paths."""
  os.makedirs(study.root, exist_ok=True)
  json_path = os.path.join(study.root, SUMMARY_FILE)
  md_path = os.path.join(study.root, TABLE_FILE)
  _write_json(json_path, to_json(summary))
  with open(md_path + ".tmp", "w", encoding="utf-8") as f:
    f.write(to_markdown(summary))
  os.replace(md_path + ".tmp", md_path)
  return json_path, md_path


# --------------------------------------------------------------- figure --

def _step_of(name: str) -> int:
  digits = re.findall(r"\d+", name)
  return int(digits[-1]) if digits else -1


def sample_grid(workdir: str) -> str | np.ndarray | None:
  """A run's final sample grid: ``samples.png``, else the latest
  ``samples/step_*.png`` (or ``samples_<step>.png``), else the first 64
  images of ``samples.npz`` as an array in ``[0, 1]``; None if none."""
  top = os.path.join(workdir, "samples.png")
  if os.path.isfile(top):
    return top
  found = []
  for directory in (os.path.join(workdir, "samples"), workdir):
    if os.path.isdir(directory):
      found += [os.path.join(directory, n) for n in os.listdir(directory)
                if n.endswith(".png") and (n.startswith("step_") or n.startswith("samples_"))]
  if found:
    return max(found, key=lambda p: _step_of(os.path.basename(p)))
  npz = os.path.join(workdir, "samples.npz")
  if os.path.isfile(npz):
    with np.load(npz) as f:
      images = f["samples"] if "samples" in f else None
    if images is not None and images.ndim == 4 and images.shape[-1] in (1, 3):
      return _tile((np.clip(images[:64], -1, 1) + 1) / 2)
  return None


def _tile(images: np.ndarray) -> np.ndarray:
  n, h, w, c = images.shape
  side = int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / side))
  grid = np.ones((rows * (h + 1) + 1, side * (w + 1) + 1, c), np.float32)
  for i, image in enumerate(images):
    r, q = divmod(i, side)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + q * (w + 1):1 + q * (w + 1) + w] = image
  return grid[..., 0] if c == 1 else grid


def figure(study: Study, out_png: str | None = None, *, rows: str | None = None,
           columns: str | None = None) -> str | None:
  """One sample grid per cell, rows and columns chosen by two axes of the
  cells' labels (by default the first axis and the rest).

  Returns the written path (default ``root/samples.png``), or None when no
  cell has a sample grid yet.
  """
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  axes = list(dict.fromkeys(a for c in study.cells for a in c.labels))
  rows = rows or (axes[0] if axes else None)
  rest = [a for a in axes if a != rows] if columns is None else [columns]
  key_row = lambda c: str(c.labels.get(rows, "")) if rows else ""
  key_col = lambda c: ", ".join(f"{a}={c.labels.get(a, '')}" for a in rest) if rest else c.name
  row_keys = list(dict.fromkeys(key_row(c) for c in study.cells))
  col_keys = list(dict.fromkeys(key_col(c) for c in study.cells))
  pictures = {}
  for cell in study.cells:
    found = sample_grid(study.workdir(cell))
    if found is not None:
      pictures[(key_row(cell), key_col(cell))] = (
          mpimg.imread(found) if isinstance(found, str) else found)
  if not pictures:
    return None
  fig = Figure(figsize=(2.2 * len(col_keys), 2.2 * len(row_keys)), layout="constrained")
  grid = fig.subplots(len(row_keys), len(col_keys), squeeze=False)
  for i, r in enumerate(row_keys):
    for j, c in enumerate(col_keys):
      ax = grid[i][j]
      ax.set_xticks([])
      ax.set_yticks([])
      picture = pictures.get((r, c))
      if picture is not None:
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
      else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", fontsize=8)
      if i == 0:
        ax.set_title(c, fontsize=8)
      if j == 0 and rows:
        ax.set_ylabel(f"{rows}={r}", fontsize=8)
  fig.suptitle(study.name, fontsize=10)
  out_png = out_png or os.path.join(study.root, FIGURE_FILE)
  os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
  fig.savefig(out_png, dpi=100)
  return out_png


# --------------------------------------------------------- command line --

class ArgumentParser(argparse.ArgumentParser):
  """An ``argparse`` parser whose errors are one line and exit 2, pointing
  at ``help_hint`` (the study's command line and the grids built on it)."""

  def __init__(self, *args, help_hint: str = "--help", **kwargs):
    super().__init__(*args, **kwargs)
    self.help_hint = help_hint

  def error(self, message):
    self.exit(2, f"error: {message} (see {self.help_hint})\n")


def comma_list(text: str) -> list[str]:
  """``a,b,c`` -> ``["a", "b", "c"]``, an ``argparse`` type."""
  items = [t.strip() for t in text.split(",") if t.strip()]
  if not items:
    raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
  return items


def comma_seeds(text: str) -> list[int]:
  """``0,1,2`` -> ``[0, 1, 2]``, an ``argparse`` type."""
  try:
    return [int(s) for s in comma_list(text)]
  except ValueError:
    raise argparse.ArgumentTypeError(f"seeds must be integers, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
  p = ArgumentParser(
      prog="python -m gans_jax.train.study",
      description="Runs an experiment's presets x seeds, one workdir per cell "
      "under --root (ROOT/preset=P__seed=S); run it again to resume: finished "
      "cells are skipped, unfinished ones resume from their checkpoints. Writes "
      "ROOT/study.json, ROOT/summary.json and ROOT/summary.md (mean ± std over "
      "seeds) and ROOT/samples.png (one sample grid per cell). Any "
      "--config.FIELD=VALUE is passed to every cell.")
  p.add_argument("--experiment", required=True, help="experiments/<paper>.py")
  p.add_argument("--config", dest="config_file",
                 help="the config file (default: experiments/configs/<paper>.py)")
  p.add_argument("--presets", type=comma_list, default=[None],
                 help="comma-separated presets (default: the config's default)")
  p.add_argument("--seeds", type=comma_seeds, required=True, help="comma-separated seeds, e.g. 0,1,2")
  p.add_argument("--root", required=True, help="the study's directory")
  p.add_argument("--name", help="the study's name (default: the root's name)")
  p.add_argument("--metrics", type=comma_list, help="results.json keys to summarise (default: all)")
  p.add_argument("--jobs", type=int, default=1, help="cells run at once (default 1)")
  p.add_argument("--timeout", type=float, help="seconds a cell may run")
  p.add_argument("--summarise-only", action="store_true",
                 help="write the summary and figure without running cells")
  return p


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  overrides = {}
  rest = []
  for arg in argv:
    if arg.startswith("--config."):
      field, sep, value = arg[len("--config."):].partition("=")
      if not sep or not field:
        print(f"error: {arg} is not --config.FIELD=VALUE", file=sys.stderr)
        return 2
      overrides[field] = value
    else:
      rest.append(arg)
  parser = _parser()
  args = parser.parse_args(rest)
  if not os.path.isfile(args.experiment):
    parser.error(f"--experiment={args.experiment}: no such file")
  config_file = args.config_file or default_config_file(args.experiment)
  if not os.path.isfile(config_file):
    parser.error(f"config file {config_file} not found; name it with --config=FILE")
  if args.jobs < 1:
    parser.error(f"--jobs must be at least 1, not {args.jobs}")
  if SEED_FIELD in overrides:
    parser.error(f"--config.{SEED_FIELD} is set per cell by --seeds")
  try:
    study = Study(args.name or os.path.basename(os.path.abspath(args.root)),
                  seeds_grid(args.experiment, args.presets, args.seeds,
                             config_file=config_file, overrides=overrides),
                  args.root)
    if not args.summarise_only:
      run(study, jobs=args.jobs, timeout=args.timeout, verbose=True)
  except StudyError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  summary = aggregate(study, args.metrics)
  _, md_path = write_summary(study, summary)
  print(to_markdown(summary))
  picture = figure(study)
  print(f"table: {md_path}" + (f"\nfigure: {picture}" if picture else ""))
  bad = [name for row in summary.rows for name in row.missing]
  if bad:
    print(f"not finished: {', '.join(bad)} (see {os.path.join(study.root, MANIFEST_FILE)})",
          file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
