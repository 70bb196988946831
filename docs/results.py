"""The recorded results of the experiments, written into the documentation.

Each paper's measured runs live in ``docs/results/<paper>.json``::

  {"title": ..., "paper": ..., "module": ..., "offline_default": ...,
   "page": "docs/experiments/<paper>.md",
   "headline": {"run": RUN, "text": TEMPLATE},
   "runs": {RUN: {"command": ..., "commit": ..., "machine": ...,
                  "wall_time": ..., "timing": ..., "stale": ...,
                  "recorded": ..., "metrics": {...}}},
   "tables": {TABLE: {"columns": [...], "cells": [TEMPLATE, ...],
                      "rows": [{"name": ..., "run": RUN, "cells": [...]}]}}}

A run's ``metrics`` are its ``results.json`` (the names a run writes, e.g.
``eval/classifier_fd``). A template is text with fields ``{NAME}`` or
``{NAME:SPEC}`` (a format spec); ``NAME`` is looked up in the run's metrics,
then the run's other fields, then the row's, and a cell with a missing field
reads "—". A row may replace the table's templates with its own ``cells``
(the scores of real images, written by the same run under other names), and
may name another paper's run as ``PAPER:RUN``; a row whose run is not
recorded yet reads "—" and its provenance "not recorded yet".

``python docs/results.py`` rewrites every generated block: the table
``TABLE`` between ``<!-- results:TABLE -->`` and ``<!-- /results:TABLE -->``
in the paper's page, with the command, commit, machine and timing of each
run under it, and the README's experiments table between
``<!-- experiments -->`` and ``<!-- /experiments -->``. ``--check`` changes
nothing and exits 1 naming the files that differ from what it would write.

``python docs/results.py add PAPER RUN --workdir=DIR [--command=...]`` records
the run in ``DIR`` (its ``results.json``, and f-GAN's ``mixture.json``) at the
current commit as ``RUN``, replacing a run of that name, and rewrites the
pages; a table shows it once one of its rows names ``RUN``.

``python docs/results.py add-study PAPER PREFIX --root=ROOT`` records a study
(:mod:`gans_jax.train.study`, its ``ROOT/summary.json``): one run per row of
the summary, named ``PREFIX`` followed by the row's labels
(``PREFIX/preset=m2``), whose metrics are ``NAME/mean``, ``NAME/std`` and
``NAME/n`` for each ``NAME`` of the runs' ``results.json``, so a cell reads
``{eval/modes_covered/mean:.0f} ± {eval/modes_covered/std:.0f}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join("docs", "results")
README = "README.md"
MISSING = "—"
_FIELD = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")


# ----------------------------------------------------------------- reading --

def papers(root: str = ROOT) -> list[str]:
  """The papers with a recorded-results file, in the README's order."""
  names = [f[:-5] for f in os.listdir(os.path.join(root, RESULTS_DIR))
           if f.endswith(".json")]
  records = {name: load(name, root) for name in names}
  return sorted(names, key=lambda name: (records[name].get("order", 0), name))


def load(paper: str, root: str = ROOT) -> dict:
  with open(os.path.join(root, RESULTS_DIR, f"{paper}.json"), encoding="utf-8") as f:
    return json.load(f)


def save(paper: str, record: dict, root: str = ROOT) -> None:
  path = os.path.join(root, RESULTS_DIR, f"{paper}.json")
  with open(path, "w", encoding="utf-8") as f:
    json.dump(record, f, indent=2, ensure_ascii=False)
    f.write("\n")


# --------------------------------------------------------------- rendering --

def _lookup(name: str, scopes: tuple[dict, ...]) -> Any:
  """NAME's value in the first scope that has it, or None."""
  return next((scope[name] for scope in scopes
               if scope.get(name) is not None), None)


def fill(template: str, *scopes: dict) -> str:
  """``template`` with each ``{NAME[:SPEC]}`` replaced by the first scope's
  value of NAME, formatted with SPEC; "—" when a field is in no scope."""
  fields = _FIELD.findall(template)
  if any(_lookup(name, scopes) is None for name, _ in fields):
    return MISSING
  return _FIELD.sub(lambda m: format(_lookup(m.group(1), scopes), m.group(2) or ""),
                    template)


NOT_RECORDED = "not recorded yet"


def find_run(records: dict[str, dict], paper: str, name: str) -> dict:
  """The run ``name`` of ``paper``, or ``OTHER:RUN``: a run of another paper.
  A run that a table names before it is recorded reads as an empty run
  (its cells "—", its provenance "not recorded yet")."""
  if ":" in name:
    paper, name = name.split(":", 1)
  run = records.get(paper, {}).get("runs", {}).get(name)
  return run if run is not None else {"metrics": {}, NOT_RECORDED: True}


def _row_cells(table: dict, row: dict, run: dict) -> list[str]:
  cells = [fill(t, run["metrics"], run, row)
           for t in row.get("cells", table["cells"])]
  if run.get("stale"):
    cells[0] += " †"
  return cells


def _short(commit: str) -> str:
  """The abbreviated hash, keeping a ``+changes`` mark."""
  return commit[:7] + commit[40:]


def provenance(run_name: str, run: dict, label: str) -> str:
  """One line: the run's command, commit, machine and timing."""
  if run.get(NOT_RECORDED):
    return f"- **{label}** (`{run_name}`): {NOT_RECORDED}."
  parts = [f"`{run['command']}` at commit `{_short(run['commit'])}`"]
  if run.get("machine"):
    parts.append(run["machine"])
  if run.get("wall_time"):
    parts.append(f"wall time {run['wall_time']}")
  if run.get("cpu_time"):
    parts.append(f"CPU time {run['cpu_time']}")
  if run.get("timing"):
    parts.append(run["timing"])
  line = f"- **{label}** (`{run_name}`): " + "; ".join(parts) + "."
  if run.get("stale"):
    line += f" † {run['stale']}"
  return line


def render_table(records: dict[str, dict], paper: str, table_name: str) -> str:
  """The Markdown of one table, with the provenance of its runs under it."""
  table = records[paper]["tables"][table_name]
  run = lambda name: find_run(records, paper, name)
  lines = ["| " + " | ".join(table["columns"]) + " |",
           "|" + "---|" * len(table["columns"])]
  labels: dict[str, str] = {}
  for row in table["rows"]:
    lines.append("| " + " | ".join(_row_cells(table, row, run(row["run"]))) + " |")
    labels.setdefault(row["run"], row.get("label", row["name"]))
  lines += ["", "Measured by:", ""]
  lines += [provenance(name, run(name), label)
            for name, label in labels.items()]
  return "\n".join(lines)


def headline(record: dict) -> str:
  spec = record["headline"]
  run = record["runs"][spec["run"]]
  text = fill(spec["text"], run["metrics"], run)
  return text + (" †" if run.get("stale") else "")


def render_experiments(records: dict[str, dict]) -> str:
  """The README's experiments table: one headline number per paper."""
  lines = ["| paper | module | offline default | headline result | results |",
           "|---|---|---|---|---|"]
  for name, record in records.items():
    lines.append(
        f"| {record['paper']} | `{record['module']}` | {record['offline_default']} "
        f"| {headline(record)} | [{name}]({record['page']}) |")
  return "\n".join(lines)


def _replace_block(text: str, marker: str, body: str, path: str) -> str:
  start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
  pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.S)
  if not pattern.search(text):
    raise ValueError(f"{path}: no block {start} ... {end}")
  return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text, count=1)


def expected_files(root: str = ROOT) -> dict[str, str]:
  """Every file with generated blocks, as this script would write it."""
  records = {name: load(name, root) for name in papers(root)}
  out = {}
  for name, record in records.items():
    path = record["page"]
    text = out.get(path) or open(os.path.join(root, path), encoding="utf-8").read()
    for table in record["tables"]:
      text = _replace_block(text, f"results:{table}",
                            render_table(records, name, table), path)
    out[path] = text
  readme = open(os.path.join(root, README), encoding="utf-8").read()
  out[README] = _replace_block(readme, "experiments", render_experiments(records),
                               README)
  return out


def stale_files(root: str = ROOT) -> list[str]:
  """The files whose generated blocks differ from the recorded results."""
  return [path for path, text in expected_files(root).items()
          if open(os.path.join(root, path), encoding="utf-8").read() != text]


def write(root: str = ROOT) -> list[str]:
  """Rewrites the generated blocks; returns the files that changed."""
  changed = stale_files(root)
  for path, text in expected_files(root).items():
    if path in changed:
      with open(os.path.join(root, path), "w", encoding="utf-8") as f:
        f.write(text)
  return changed


# ------------------------------------------------------------------ adding --

def _flatten_mixture(mixture: dict) -> dict[str, float]:
  """f-GAN's ``mixture.json``: each fit's ``theta_error`` and the train \\
  test tables, as ``kl/theta_error`` and ``train_test_estimates/kl/pearson``."""
  metrics = {f"{d}/theta_error": fit["theta_error"]
             for d, fit in mixture.get("fits", {}).items()}
  for table in ("train_test_estimates", "train_test_exact"):
    # mixture.json keys its tables by the test divergence, then the trained one.
    for test, column in mixture.get(table, {}).items():
      for train, value in column.items():
        metrics[f"{table}/{train}/{test}"] = value
  return metrics


def run_from_workdir(workdir: str, *, command: str | None, commit: str,
                     machine: str, wall_time: str | None = None,
                     timing: str | None = None) -> dict:
  """A run record from a workdir's ``results.json`` (and ``mixture.json``)."""
  with open(os.path.join(workdir, "results.json"), encoding="utf-8") as f:
    metrics = json.load(f)
  mixture = os.path.join(workdir, "mixture.json")
  if os.path.exists(mixture):
    with open(mixture, encoding="utf-8") as f:
      metrics.update(_flatten_mixture(json.load(f)))
  if command is None:
    with open(os.path.join(workdir, "run.json"), encoding="utf-8") as f:
      argv = json.load(f)["commands"][-1]["argv"]
    command = "python " + shlex.join(argv)
  run = {"command": command, "commit": commit, "machine": machine,
         "recorded": f"results.json of {workdir}", "metrics": metrics}
  if wall_time:
    run["wall_time"] = wall_time
  if timing:
    run["timing"] = timing
  return run


def runs_from_study(root_dir: str, prefix: str, *, command: str | None,
                    commit: str, machine: str, timing: str | None = None
                    ) -> dict[str, dict]:
  """Run records, one per row of a study's ``summary.json``: mean, sample
  standard deviation and number of seeds of each metric."""
  with open(os.path.join(root_dir, "summary.json"), encoding="utf-8") as f:
    summary = json.load(f)
  runs = {}
  for row in summary["rows"]:
    name = "/".join([prefix] + [f"{k}={v}" for k, v in row["labels"].items()])
    metrics = {f"{metric}/{part}": value
               for metric, stats in row["stats"].items()
               for part, value in stats.items() if value is not None}
    run = {"command": command or f"python -m gans_jax.train.study --root={root_dir}",
           "commit": commit, "machine": machine,
           "recorded": f"summary.json of {root_dir} (cells {', '.join(row['cells'])})",
           "metrics": metrics}
    if timing:
      run["timing"] = timing
    runs[name] = run
  return runs


def add(paper: str, runs: dict[str, dict], root: str = ROOT) -> dict[str, bool]:
  """Records each run of ``runs`` (name -> run) in the paper's results file,
  replacing runs of those names, then rewrites the pages once; returns, per
  name, whether a table shows it."""
  record = load(paper, root)
  record["runs"].update(runs)
  save(paper, record, root)
  write(root)
  shown = {row["run"] for table in record["tables"].values() for row in table["rows"]}
  return {name: name in shown for name in runs}


def current_commit(root: str = ROOT) -> str:
  """HEAD, with ``+changes`` when the working tree differs from it."""
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True,
                        capture_output=True, text=True).stdout.strip()
  dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                         cwd=root, check=True, capture_output=True,
                         text=True).stdout.strip()
  return head + ("+changes" if dirty else "")


def _default_machine() -> str:
  return f"{os.cpu_count()} CPU cores, {platform.machine()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 if a generated block is out of date")
  sub = parser.add_subparsers(dest="action")
  adding = sub.add_parser("add", help="record a run's results.json")
  adding.add_argument("paper")
  adding.add_argument("run")
  adding.add_argument("--workdir", required=True)
  adding.add_argument("--command", help="default: the last command in run.json")
  adding.add_argument("--commit", help="default: the current commit")
  adding.add_argument("--machine", default=_default_machine())
  adding.add_argument("--wall_time")
  adding.add_argument("--timing", help="load, CPU time and other notes")
  study = sub.add_parser("add-study", help="record a study's summary.json")
  study.add_argument("paper")
  study.add_argument("prefix", help="runs are named PREFIX/AXIS=VALUE/...")
  study.add_argument("--root", required=True, help="the study's root directory")
  study.add_argument("--command", help="the command that ran the study")
  study.add_argument("--commit", help="default: the current commit")
  study.add_argument("--machine", default=_default_machine())
  study.add_argument("--timing", help="load, CPU time and other notes")
  args = parser.parse_args(argv)
  if args.action == "add-study":
    runs = runs_from_study(args.root, args.prefix, command=args.command,
                           commit=args.commit or current_commit(),
                           machine=args.machine, timing=args.timing)
    for name, shown in add(args.paper, runs).items():
      print(f"recorded {name}" + ("" if shown else
            f"; no table of {args.paper} names it yet"))
    return 0
  if args.action == "add":
    run = run_from_workdir(args.workdir, command=args.command,
                           commit=args.commit or current_commit(),
                           machine=args.machine, wall_time=args.wall_time,
                           timing=args.timing)
    if not add(args.paper, {args.run: run})[args.run]:
      print(f"recorded {args.run}; no table of {args.paper} names it yet "
            f"(add a row with \"run\": \"{args.run}\" to docs/results/{args.paper}.json)")
    return 0
  if args.check:
    stale = stale_files()
    for path in stale:
      print(f"{path}: differs from docs/results (run python docs/results.py)")
    return 1 if stale else 0
  for path in write():
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
