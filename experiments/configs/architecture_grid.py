"""Gulrajani et al. 2017, WGAN-GP's architecture-robustness grid (arXiv
1704.00028, Section 5.1, Figure 2), on the built-in digits at 32x32.

Presets (``--config=experiments/configs/architecture_grid.py:PRESET``):
  quick   one cell (``grid.method`` x ``grid.architecture``) of the grid
          (default): 200 generator iterations of batch 32, networks of base
          width 16, a residual pair of 1 block per resolution (8 weight
          layers deep), 500 samples evaluated; the whole grid of 28 cells
          with ``--grid`` used 26 min of CPU time (68 min wall on a shared
          2-core CPU, cells of 23 s to 10.6 min)
  full    the same cells trained 10x longer (2,000 generator iterations of
          batch 64, base width 32, 2 residual blocks per resolution: 14
          layers); many hours on a 2-core CPU: for an accelerator
  smoke   two steps of a tiny model, for tests

Methods (``grid.method``), with the settings of the official
``gan_64x64.py``, the code of Figure 2:
  gan      the standard GAN (the paper's "DCGAN" column): the non-saturating
           generator loss, Adam lr 2e-4, beta1 0.5, 1 discriminator update
           per generator update
  lsgan    least squares (a = 0, b = c = 1), RMSProp lr 1e-4, 1 update
  wgan     WGAN with weight clipping to [-0.01, 0.01] after each critic
           update, RMSProp lr 5e-5, 5 critic updates
  wgan_gp  WGAN-GP, lambda = 10, Adam lr 1e-4, betas (0, 0.9), 5 critic
           updates; the critic's normalisation, wherever the architecture
           has one, is LayerNorm instead of BatchNorm
RMSProp is TensorFlow 1's (decay 0.9, eps 1e-10, mean square started at 1).

Architectures (``grid.architecture``), the rows of Figure 2:
  dcgan             the DCGAN generator and discriminator (baseline)
  no_bn_constant_g  G without BatchNorm and with a constant number of filters
  mlp_g             G a 4-layer 512-unit ReLU MLP
  no_norm           no normalisation in either network
  gated             gated multiplicative nonlinearities in both
  tanh              tanh nonlinearities in both
  resnet            a deep residual G and D (model.resnet_blocks per
                    resolution; the paper's has 101 layers)
The discriminators are the DCGAN one (or its tanh / gated / unnormalised
variants) in every row but ``resnet``.

The grid, every method x architecture, runs through
:mod:`gans_jax.train.study`::

  python experiments/architecture_grid.py --grid [--config=...:PRESET]
      [--root=DIR] [--methods=a,b] [--architectures=a,b] [--seeds=0,1]

This module imports no JAX: :func:`cells` and :func:`main` (the ``--grid``
command line) read it before anything compiles.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Sequence

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import field, non_negative, one_of, positive, positive_int

PRESETS = ("quick", "full", "smoke")

# The four columns of Figure 2, with gan_64x64.py's optimiser settings.
METHODS: dict[str, dict[str, Any]] = {
    "gan": dict(loss="non_saturating", optimizer="adam", learning_rate=2e-4,
                b1=0.5, b2=0.999, n_critic=1, clip=0.0, gp_weight=0.0),
    "lsgan": dict(loss="least_squares", optimizer="rmsprop", learning_rate=1e-4,
                  b1=0.0, b2=0.0, n_critic=1, clip=0.0, gp_weight=0.0),
    "wgan": dict(loss="wasserstein", optimizer="rmsprop", learning_rate=5e-5,
                 b1=0.0, b2=0.0, n_critic=5, clip=0.01, gp_weight=0.0),
    "wgan_gp": dict(loss="wasserstein", optimizer="adam", learning_rate=1e-4,
                    b1=0.0, b2=0.9, n_critic=5, clip=0.0, gp_weight=10.0),
}
# The seven rows of Figure 2, in its order.
ARCHITECTURES = ("dcgan", "no_bn_constant_g", "mlp_g", "no_norm", "gated", "tanh",
                 "resnet")

# The grid's verdict, fixed before any cell of it was run: a cell trains
# when its samples cover at least this many of the 10 digits ...
MIN_CLASSES = 8
# ... at a digit-classifier Frechet distance of at most this (the 2,000-step
# DCGAN default measures about 30, the 2,000-iteration WGAN default 85).
MAX_FD = 150.0
METRICS = ("eval/classifier_fd", "eval/classes_covered", "eval/mean_confidence")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "quick", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"architecture_grid_{preset}"
  c.grid = config_lib.section(
      method=field("wgan_gp", one_of(*METHODS)),  # a column of Figure 2
      architecture=field("dcgan", one_of(*ARCHITECTURES)),  # a row of Figure 2
  )
  c.data = sections.data_defaults(dataset="digits", image_size=32, channels=1)
  c.model = config_lib.section(
      latent_dim=field(128, positive_int),  # z dimension (128 in gan_64x64.py)
      features=field(16, positive_int),  # base width F (DIM = 64 in the paper)
      mlp_width=field(512, positive_int),  # units per layer of the MLP generator
      mlp_depth=field(4, positive_int),  # its ReLU layers
      resnet_blocks=field(1, positive_int),  # residual blocks per resolution
      dtype=sections.dtype(),  # compute dtype: 'float32' or 'bfloat16'
  )
  c.train = config_lib.train_defaults(
      num_steps=200,  # generator iterations (200,000 in the paper)
      batch_size=32,  # 64 in the paper
      log_every=50, checkpoint_every=200, sample_every=200)
  c.eval = config_lib.section(
      num_samples=field(500, positive_int),  # generated digits for the final metrics
      # the classifier's winning probability, averaged over samples, is
      # also reported (a sharp digit scores near 1)
      **sections.inception_defaults(),
  )
  if preset == "full":
    c.model.update(features=32, resnet_blocks=2)
    c.train.update(num_steps=2000, batch_size=64, checkpoint_every=500,
                   sample_every=500)
    c.eval.num_samples = 2000
  if preset == "smoke":
    c.model.update(latent_dim=8, features=4, mlp_width=16, mlp_depth=1,
                   resnet_blocks=1)
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   sample_every=2)
    c.eval.num_samples = 16
  return c


# ------------------------------------------------------------------ grid --

EXPERIMENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "architecture_grid.py")
CONFIG_FILE = os.path.abspath(__file__)


def cells(preset: str = "quick", *, methods: Sequence[str] = tuple(METHODS),
          architectures: Sequence[str] = ARCHITECTURES,
          seeds: Sequence[int] = (0,), overrides: dict[str, Any] | None = None):
  """The grid as :class:`gans_jax.train.study.Cell` s, named
  ``architecture=A__method=M__seed=S``: one workdir per cell."""
  from gans_jax.train import study
  for name, known, given in (("method", METHODS, methods),
                             ("architecture", ARCHITECTURES, architectures)):
    unknown = [g for g in given if g not in known]
    if unknown or not given:
      raise study.StudyError(f"unknown {name} {unknown or given}; valid: "
                             f"{', '.join(known)}")
  return study.product(
      {"architecture": {a: {"grid.architecture": a} for a in architectures},
       "method": {m: {"grid.method": m} for m in methods},
       study.SEED_AXIS: {int(s): {study.SEED_FIELD: int(s)} for s in seeds}},
      experiment=EXPERIMENT, config=f"{CONFIG_FILE}:{preset}", overrides=overrides)


def trains(stats: dict[str, Any]) -> bool | None:
  """The verdict of one cell's mean metrics: ``MIN_CLASSES`` digits or more
  at a classifier FD of ``MAX_FD`` or less; None when it has no results."""
  fd, classes = stats.get("eval/classifier_fd"), stats.get("eval/classes_covered")
  if fd is None or classes is None or math.isnan(fd) or math.isnan(classes):
    return None
  return classes >= MIN_CLASSES and fd <= MAX_FD


def grid_table(summary) -> tuple[str, dict[str, Any]]:
  """Figure 2 as a table: architectures as rows, methods as columns, each
  cell ``FD / classes / confidence`` and whether it trains; and as JSON."""
  rows = list(dict.fromkeys(r.labels.get("architecture") for r in summary.rows))
  cols = list(dict.fromkeys(r.labels.get("method") for r in summary.rows))
  found = {(r.labels.get("architecture"), r.labels.get("method")): r for r in summary.rows}
  lines = [f"Cell: classifier FD / classes covered / mean confidence "
           f"(mean over seeds); trains = at least {MIN_CLASSES} classes and "
           f"FD <= {MAX_FD:g}.", "",
           "| architecture | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
  verdicts: dict[str, Any] = {}
  for a in rows:
    texts = []
    for m in cols:
      row = found.get((a, m))
      means = {k: s.mean for k, s in row.stats.items()} if row else {}
      verdict = trains(means)
      verdicts.setdefault(a, {})[m] = {"trains": verdict, **{
          k: (None if math.isnan(v) else v) for k, v in means.items()}}
      if verdict is None:
        texts.append("not finished")
        continue
      texts.append(f"{means['eval/classifier_fd']:.0f} / "
                   f"{means['eval/classes_covered']:.0f} / "
                   f"{means.get('eval/mean_confidence', math.nan):.2f} "
                   + ("trains" if verdict else "**fails**"))
    lines.append(f"| {a} | " + " | ".join(texts) + " |")
  every = {m: all(verdicts[a][m]["trains"] for a in rows) for m in cols}
  lines += ["", "Trains on every architecture: "
            + (", ".join(m for m in cols if every[m]) or "no method") + "."]
  return "\n".join(lines) + "\n", {"criterion": {"min_classes": MIN_CLASSES,
                                                 "max_fd": MAX_FD},
                                   "cells": verdicts, "trains_everywhere": every}


def _parser() -> argparse.ArgumentParser:
  from gans_jax.train import study
  p = study.ArgumentParser(
      help_hint="--grid --help",
      prog="python experiments/architecture_grid.py --grid",
      description="Runs WGAN-GP's Figure 2 grid: every method x architecture "
      "(x seed), one workdir per cell under --root, through gans_jax.train.study. "
      "Run it again to resume: finished cells are skipped, unfinished ones resume "
      "from their checkpoints. Writes ROOT/summary.md (mean ± std), ROOT/grid.md "
      "and ROOT/grid.json (the table of Figure 2 and which cells train) and "
      "ROOT/samples.png (one sample grid per cell, architectures as rows, methods "
      "as columns). Any --config.FIELD=VALUE is passed to every cell.")
  p.add_argument("--grid", action="store_true", help="run the grid (this command)")
  p.add_argument("--config", default=f"{os.path.relpath(CONFIG_FILE)}:quick",
                 help="FILE:PRESET, this config file and a preset (default: quick)")
  p.add_argument("--root", help="the grid's directory (default runs/architecture_grid_<preset>)")
  p.add_argument("--methods", type=study.comma_list, default=list(METHODS),
                 help=f"comma-separated, default all: {','.join(METHODS)}")
  p.add_argument("--architectures", type=study.comma_list, default=list(ARCHITECTURES),
                 help=f"comma-separated, default all: {','.join(ARCHITECTURES)}")
  p.add_argument("--seeds", type=study.comma_seeds, default=[0], help="comma-separated (default 0)")
  p.add_argument("--timeout", type=float, help="seconds a cell may run")
  p.add_argument("--summarise-only", action="store_true",
                 help="write the tables and figure without running cells")
  return p


def main(argv: Sequence[str]) -> int:
  """``python experiments/architecture_grid.py --grid ...``: runs the grid
  (resuming), then writes its tables and figure. Exit 0 when every cell
  finished, 1 when some did not, 2 on bad input."""
  from gans_jax.train import study
  overrides, rest = {}, []
  for arg in argv:
    if arg.startswith("--config."):
      name, sep, value = arg[len("--config."):].partition("=")
      if not sep or not name:
        print(f"error: {arg} is not --config.FIELD=VALUE", file=sys.stderr)
        return 2
      overrides[name] = value
    else:
      rest.append(arg)
  parser = _parser()
  args = parser.parse_args(rest)
  path, _, preset = args.config.rpartition(":")
  if not path or not os.path.isfile(path) or not os.path.samefile(path, CONFIG_FILE):
    parser.error(f"--config={args.config}: give {os.path.relpath(CONFIG_FILE)}:PRESET")
  if preset not in PRESETS:
    parser.error(f"--config={args.config}: unknown preset {preset!r}; valid: "
                 f"{', '.join(PRESETS)}")
  for name in ("grid.method", "grid.architecture", study.SEED_FIELD):
    if name in overrides:
      parser.error(f"--config.{name} is set per cell by --methods, --architectures "
                   "and --seeds")
  root = args.root or os.path.join("runs", f"architecture_grid_{preset}")
  try:
    grid = study.Study(f"architecture_grid_{preset}",
                       cells(preset, methods=args.methods,
                             architectures=args.architectures, seeds=args.seeds,
                             overrides=overrides), root)
    if not args.summarise_only:
      study.run(grid, timeout=args.timeout, verbose=True)
  except study.StudyError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  summary = study.aggregate(grid, METRICS)
  _, md_path = study.write_summary(grid, summary)
  table, verdicts = grid_table(summary)
  with open(os.path.join(root, "grid.md"), "w", encoding="utf-8") as f:
    f.write(f"## {grid.name}\n\n" + table)
  with open(os.path.join(root, "grid.json"), "w", encoding="utf-8") as f:
    json.dump(verdicts, f, indent=2, sort_keys=True)
  picture = study.figure(grid, rows="architecture", columns="method")
  print(table)
  print(f"tables: {md_path}, {os.path.join(root, 'grid.md')}"
        + (f"\nfigure: {picture}" if picture else ""))
  missing = [name for row in summary.rows for name in row.missing]
  if missing:
    print(f"not finished: {', '.join(missing)} "
          f"(see {os.path.join(root, study.MANIFEST_FILE)})", file=sys.stderr)
    return 1
  return 0
