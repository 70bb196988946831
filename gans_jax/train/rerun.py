"""Running again in a workdir that holds a checkpoint, with another config.

Before anything compiles, the new config is compared with the one the run
was trained with (``config.json``), and every differing field is put in one
of three kinds:

- **structure**: the state built from the new config would not take the
  checkpoint (another architecture, width or optimizer). Judged by building
  the state abstractly (``jax.eval_shape`` of the experiment's
  ``create_state``: no arrays, no compilation) from the saved config with
  that one field changed, and comparing every array's path, shape and dtype.
- **harmless**: fields that change neither the state nor the numbers of
  training: a longer ``train.num_steps``, how often the loop logs, samples
  and checkpoints, ``train.steps_per_call``, ``data.data_dir``, the run's
  ``name`` and the ``eval`` section.
- **training**: everything else (learning rate, schedule, data, seed, a
  shorter run, the compute dtype): the checkpoint restores, but the run
  would go on differently from how it started.

A structural change is refused; a training change is refused unless
``allow_change``; harmless ones pass. Whenever the run goes on with a
changed config, the previous one is kept as ``config.<step>.json`` (``step``
being the checkpoint it resumes from) and ``metrics.jsonl`` gets a record
``{"step": step, "config_changed": "<fields>"}`` naming the fields that
differ from it. ``start_over`` instead
moves everything in the workdir to ``previous/<n>/`` and trains afresh.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import types
from typing import Any

import ml_collections

from gans_jax.train import config as config_lib
from gans_jax.train import runs as runs_lib

HARMLESS_FIELDS = frozenset({
    "name", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
    "train.sample_every", "train.steps_per_call", "data.data_dir"})
HARMLESS_SECTIONS = ("eval",)
PREVIOUS = "previous"


class ConfigChangeError(ValueError):
  """The config differs from the run's in a way that needs a decision."""


@dataclasses.dataclass(frozen=True)
class Change:
  """One differing field: its values and its kind ('structure', 'training'
  or 'harmless')."""

  field: str
  old: Any
  new: Any
  kind: str

  def __str__(self) -> str:
    return f"{self.field}: {self.old!r} -> {self.new!r}"


def _with_field(config: ml_collections.ConfigDict, field: str, value: Any
                ) -> ml_collections.ConfigDict:
  tree = config.to_dict()
  node, *parts = tree, *field.split(".")
  for part in parts[:-1]:
    node = node.setdefault(part, {})
  if value is config_lib.MISSING:
    node.pop(parts[-1], None)
  else:
    node[parts[-1]] = value
  return ml_collections.ConfigDict(tree)


def _structure(create_state, config: ml_collections.ConfigDict):
  """``{path: (shape, dtype)}`` of the state ``config`` builds, or None when
  it cannot be built."""
  import jax
  from gans_jax.train import checkpoint as checkpoint_lib
  shapes = checkpoint_lib._shapes  # pylint: disable=protected-access
  try:
    return shapes(jax.eval_shape(lambda: create_state(config)))
  except Exception:  # pylint: disable=broad-except
    return None


def classify(create_state, old: ml_collections.ConfigDict,
             new: ml_collections.ConfigDict, *, step: int) -> list[Change]:
  """Every field that differs between the run's config ``old`` and ``new``,
  with its kind (see the module docstring); ``step`` is the checkpoint the
  run would resume from."""
  differing = config_lib.differences(old, new)
  structural = set()
  before = _structure(create_state, old)
  # The same arrays (or a saved config today's code cannot build, where
  # restoring the checkpoint will tell) leave nothing structural.
  if differing and before is not None and _structure(create_state, new) != before:
    structural = {field for field, _, b in differing
                  if _structure(create_state, _with_field(old, field, b)) != before}
    if not structural:  # only the fields together change the state
      structural = {field for field, _, _ in differing}
  changes = []
  for field, a, b in differing:
    if field in structural:
      kind = "structure"
    elif (field in HARMLESS_FIELDS or field.split(".")[0] in HARMLESS_SECTIONS
          or field == "train.num_steps" and isinstance(b, int) and b >= step):
      kind = "harmless"
    else:
      kind = "training"
    changes.append(Change(field, a, b, kind))
  return changes


def _listing(changes: list[Change], limit: int = 4) -> str:
  text = ", ".join(str(c) for c in changes[:limit])
  return text + (f" and {len(changes) - limit} more" if len(changes) > limit else "")


def _previous_directory(workdir: str) -> str:
  root = os.path.join(workdir, PREVIOUS)
  taken = [int(n) for n in os.listdir(root) if n.isdigit()] if os.path.isdir(root) else []
  return os.path.join(root, str(max(taken, default=0) + 1))


def start_over(workdir: str) -> str | None:
  """Moves everything in ``workdir`` (but earlier ``previous/`` runs) to
  ``workdir/previous/<n>``; returns that directory, or None if there was
  nothing to move."""
  import jax
  target = None
  if os.path.isdir(workdir):
    entries = [n for n in os.listdir(workdir) if n != PREVIOUS]
    if entries:
      target = _previous_directory(workdir)
      if jax.process_index() == 0:
        os.makedirs(target)
        for name in entries:
          shutil.move(os.path.join(workdir, name), os.path.join(target, name))
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices("gans_jax_start_over")
  return target


def keep_previous_config(workdir: str, step: int,
                         config: ml_collections.ConfigDict) -> str:
  """Copies ``config.json`` to ``config.<step>.json``, unless the workdir
  already keeps the config that trained up to ``step`` (a config changed
  twice before training on), and records in ``metrics.jsonl`` at ``step``
  the fields in which ``config`` differs from that one; returns the kept
  file's path."""
  import jax
  from gans_jax.train import writer as writer_lib
  kept = os.path.join(workdir, f"config.{step}.json")
  if jax.process_index() == 0:
    if not os.path.exists(kept):
      shutil.copyfile(os.path.join(workdir, runs_lib.CONFIG_FILE), kept)
    with open(kept, encoding="utf-8") as f:
      fields = [f for f, _, _ in config_lib.differences(
          config_lib.from_json(f.read()), config)]
    path = os.path.join(workdir, "metrics.jsonl")
    writer_lib.rewrite_metrics(
        path, lambda r: not (r["step"] == step and "config_changed" in r))
    if fields:
      writer = writer_lib.MetricWriter(workdir, tensorboard=False)
      writer.write_scalars(step, {"config_changed": ", ".join(fields)})
      writer.close()
  return kept


def _decide(experiment: types.ModuleType, config: ml_collections.ConfigDict,
            workdir: str, *, allow_change: bool
            ) -> tuple[int, list[Change]] | None:
  """``(step, changes)`` of a run that goes on with a changed config, None
  when nothing changed (or nothing was trained); raises when refused."""
  steps = runs_lib.checkpoint_steps(workdir)
  saved = runs_lib.saved_config(workdir) if steps else None
  if saved is None:
    return None
  step = steps[-1]
  changes = classify(experiment.create_state, saved, config, step=step)
  if not changes:
    return None
  ways = (f"train in a new --workdir, or pass --start_over to move the run to "
          f"{os.path.join(workdir, PREVIOUS, 'N')} and start again")
  structural = [c for c in changes if c.kind == "structure"]
  if structural:
    raise ConfigChangeError(
        f"the config changes the model of the run in {workdir} "
        f"({_listing(structural)}), so its checkpoint {step} cannot be "
        f"restored: {ways}")
  training = [c for c in changes if c.kind == "training"]
  if training and not allow_change:
    raise ConfigChangeError(
        f"the config changes how the run in {workdir} trains after its "
        f"checkpoint {step} ({_listing(training)}): pass --allow_config_change "
        f"to continue it with this config (the old one is kept as "
        f"config.{step}.json), or {ways}")
  return step, changes


def check(experiment: types.ModuleType, config: ml_collections.ConfigDict,
          workdir: str, *, allow_change: bool = False,
          start_again: bool = False) -> list[str]:
  """Decides whether a run may go on in ``workdir`` with ``config``.

  Args:
    experiment: the experiment module (its ``create_state`` and ``subruns``).
    config: the validated new config.
    workdir: the run's directory.
    allow_change: continue despite changes that alter training.
    start_again: move the workdir's run aside and start afresh.

  Returns:
    Notes to show (one line each): what was kept or moved.

  Raises:
    ConfigChangeError: the change is refused; the message says why and what
      to do, in one line.
  """
  recorded = runs_lib.recorded_experiment(workdir)
  name = runs_lib.experiment_name(experiment)
  if recorded is not None and recorded != name and not start_again:
    raise ConfigChangeError(
        f"{workdir} holds a run of {recorded}, not {name}: use another "
        "--workdir, or pass --start_over to move that run aside")
  if start_again:
    moved = start_over(workdir)
    return [f"moved the previous run in {workdir} to {moved}"] if moved else []
  runs = runs_lib.subruns(experiment, config)
  decisions = []  # every run is judged before anything is written
  for run_workdir, run_config in [(workdir, config)] + [
      (os.path.join(workdir, n), c) for n, c in runs.items()]:
    decision = _decide(experiment, run_config, run_workdir,
                       allow_change=allow_change)
    if decision is not None:
      decisions.append((run_workdir, run_config, *decision))
  notes = []
  for run_workdir, run_config, step, changes in decisions:
    kept = keep_previous_config(run_workdir, step, run_config)
    if [c.field for c in changes] == ["train.num_steps"]:
      what = f"trains on to step {changes[0].new}"
    else:
      what = f"goes on with a changed config ({_listing(changes)})"
    notes.append(f"the run in {run_workdir} resumes from checkpoint {step} and "
                 f"{what}; the config it had is kept in {kept}")
  return notes
