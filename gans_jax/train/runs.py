"""A trained run, read back from its workdir.

A workdir written by the command line holds:

- ``config.json``: the config the run trains with, read back exactly
  (:func:`gans_jax.train.config.from_json`: tuples, ints and floats kept);
- ``config.<step>.json``: a config it trained with until step ``<step>``,
  where a later command continued it with another;
- ``run.json``: the experiment module and every command run in it;
- ``checkpoints/<step>/``: Orbax checkpoints of the state.

:func:`load_run` restores the state of a checkpoint from the experiment's
``create_state`` and the config that checkpoint was trained with, and
:func:`load_generator` makes its sampling generator a function. Nothing here
writes to the workdir except :func:`record_command`, so a run may be read
while it trains.

An experiment whose config trains several independent runs in sub-workdirs
(f-GAN's mixture: one per divergence) says so with ``subruns(config) ->
{name: config}``; its state is then ``{name: state}``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import types
from typing import Any

import ml_collections

from gans_jax.train import config as config_lib

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
_KEPT_CONFIG = re.compile(r"^config\.(\d+)\.json$")


class RunError(ValueError):
  """A workdir cannot be used: no checkpoint, no config, or an experiment
  that cannot be imported. The message says which, in one line."""


# ------------------------------------------------------------ the workdir --

def checkpoint_steps(workdir: str) -> list[int]:
  """The steps of the checkpoints in ``workdir/checkpoints`` (read from the
  directory names; nothing is created)."""
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(n) for n in os.listdir(directory)
                if n.isdigit() and os.path.isdir(os.path.join(directory, n)))


def kept_config_steps(workdir: str) -> list[int]:
  """The steps ``S`` of the ``config.<S>.json`` files a workdir keeps."""
  if not os.path.isdir(workdir):
    return []
  return sorted(int(m.group(1)) for n in os.listdir(workdir)
                if (m := _KEPT_CONFIG.match(n)))


def config_path(workdir: str, step: int | None = None) -> str:
  """The file of the config that trained the run up to ``step``: the first
  ``config.<S>.json`` with ``S >= step``, else ``config.json``."""
  if step is not None:
    for kept in kept_config_steps(workdir):
      if kept >= step:
        return os.path.join(workdir, f"config.{kept}.json")
  return os.path.join(workdir, CONFIG_FILE)


def saved_config(workdir: str, step: int | None = None
                 ) -> ml_collections.ConfigDict | None:
  """The config that trained the run in ``workdir`` up to ``step`` (default:
  the newest), or None when the workdir has none.

  Raises:
    RunError: the file does not parse.
  """
  path = config_path(workdir, step)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      return config_lib.from_json(f.read())
  except ValueError as e:
    raise RunError(f"{path} cannot be read as a config ({e})") from None


# ----------------------------------------------------------- experiments --

def experiment_name(experiment: types.ModuleType) -> str:
  """``'experiments.dcgan'`` for the module of experiments/dcgan.py, also
  when it runs as ``__main__``."""
  if experiment.__name__ != "__main__":
    return experiment.__name__
  path = os.path.abspath(experiment.__file__)
  package = os.path.basename(os.path.dirname(path))
  return f"{package}.{os.path.splitext(os.path.basename(path))[0]}"


def _run_record(workdir: str) -> tuple[str, dict[str, Any]] | None:
  """``(directory, record)`` of the nearest ``run.json`` in ``workdir`` or
  above it (a sub-run's workdir lies inside its experiment's)."""
  directory = os.path.abspath(workdir)
  while True:
    path = os.path.join(directory, RUN_FILE)
    if os.path.exists(path):
      try:
        with open(path, encoding="utf-8") as f:
          return directory, json.load(f)
      except ValueError as e:
        raise RunError(f"{path} cannot be read ({e})") from None
    parent = os.path.dirname(directory)
    if parent == directory:
      return None
    directory = parent


def recorded_experiment(workdir: str) -> str | None:
  """The experiment named by the workdir's ``run.json`` (or its parent's)."""
  found = _run_record(workdir)
  return None if found is None else found[1].get("experiment")


def record_command(workdir: str, experiment: types.ModuleType,
                   argv: list[str], *, step: int) -> None:
  """Adds a command, and the step it starts from, to ``workdir/run.json``."""
  import jax
  if jax.process_index() != 0:
    return
  path = os.path.join(workdir, RUN_FILE)
  record = {"experiment": experiment_name(experiment),
            "file": os.path.abspath(experiment.__file__), "commands": []}
  if os.path.exists(path):
    try:
      with open(path, encoding="utf-8") as f:
        record["commands"] = json.load(f).get("commands", [])
    except ValueError:
      pass  # a damaged record is replaced
  record["commands"].append({"step": int(step), "argv": list(argv)})
  os.makedirs(workdir, exist_ok=True)
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(record, f, indent=2)
  os.replace(tmp, path)


def load_experiment(workdir: str, experiment: types.ModuleType | str | None = None
                    ) -> types.ModuleType:
  """The experiment module that trained ``workdir``.

  Args:
    workdir: the run's directory.
    experiment: the module or its name (``'experiments.dcgan'``); by default
      the one named in the workdir's ``run.json``, imported by name or, when
      that fails (a notebook started elsewhere), from the file it records.

  Raises:
    RunError: no experiment is named, or it cannot be imported.
  """
  if isinstance(experiment, types.ModuleType):
    return experiment
  file = None
  if experiment is None:
    found = _run_record(workdir)
    if found is None:
      raise RunError(f"{workdir} has no {RUN_FILE} naming its experiment (it "
                     "was not trained from the command line); pass "
                     "experiment='experiments.<paper>'")
    experiment, file = found[1].get("experiment"), found[1].get("file")
  try:
    return importlib.import_module(experiment)
  except ImportError as first:
    if file and os.path.exists(file):
      root = os.path.dirname(os.path.dirname(file))
      if root not in sys.path:
        sys.path.insert(0, root)
      try:
        return importlib.import_module(experiment)
      except ImportError as e:
        first = e
    raise RunError(f"the experiment {experiment!r} of {workdir} cannot be "
                   f"imported ({first}); run from the repository's root, or "
                   "pass experiment=") from None


def subruns(experiment: types.ModuleType, config: ml_collections.ConfigDict
            ) -> dict[str, ml_collections.ConfigDict]:
  """``experiment.subruns(config)``, or ``{}`` for a single run."""
  fn = getattr(experiment, "subruns", None)
  return dict(fn(config)) if fn is not None else {}


# -------------------------------------------------------------- restoring --

def _restore_one(experiment: types.ModuleType, config: ml_collections.ConfigDict,
                 workdir: str, step: int | None) -> tuple[int, Any]:
  import jax
  from gans_jax.train import checkpoint as checkpoint_lib

  steps = checkpoint_steps(workdir)
  if not steps:
    raise RunError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')}: "
                   "train the run first, or give the --workdir of a trained run")
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise RunError(f"no checkpoint {step} in {os.path.join(workdir, 'checkpoints')}"
                   f" (steps: {', '.join(map(str, steps))})")
  like = jax.eval_shape(lambda: experiment.create_state(config))
  checkpointer = checkpoint_lib.Checkpointer(workdir, keep=len(steps))
  try:
    state, _ = checkpointer.restore(step, like)
  finally:
    checkpointer.close()
  return step, state


def restore(experiment: types.ModuleType, config: ml_collections.ConfigDict,
            workdir: str, *, step: int | None = None) -> tuple[int, Any]:
  """``(step, state)`` of checkpoint ``step`` (default the newest) of the run
  that ``config`` describes, built from ``experiment.create_state``; for an
  experiment of sub-runs, ``{name: state}`` of each sub-run at that step.

  Raises:
    RunError: there is no such checkpoint.
    gans_jax.train.CheckpointError: it does not fit the state or cannot be read.
  """
  runs = subruns(experiment, config)
  if not runs:
    return _restore_one(experiment, config, workdir, step)
  if step is None:
    newest = {name: (checkpoint_steps(os.path.join(workdir, name)) or [None])[-1]
              for name in runs}
    if len(set(newest.values())) > 1:
      raise RunError(f"the runs in {workdir} end at different steps ({newest}); "
                     "name one step")
    step = next(iter(newest.values()))
  states = {}
  for name, run_config in runs.items():
    sub = os.path.join(workdir, name)
    run_config = saved_config(sub, step) or run_config
    step, states[name] = _restore_one(experiment, run_config, sub, step)
  return step, states


def load_run(workdir: str, *, step: int | None = None,
             experiment: types.ModuleType | str | None = None
             ) -> tuple[ml_collections.ConfigDict, Any]:
  """The config and the restored state of a trained run.

  Args:
    workdir: the run's directory.
    step: the checkpoint (default the newest).
    experiment: the experiment module or its name; by default the one the
      workdir's ``run.json`` names.

  Returns:
    ``(config, state)``: the config that trained the checkpoint, and the
    state (``{name: state}`` for an experiment of sub-runs).

  Raises:
    RunError: no config, no checkpoint or no experiment.
    gans_jax.train.CheckpointError: the checkpoint cannot be read.
  """
  module = load_experiment(workdir, experiment)
  if step is None:
    steps = checkpoint_steps(workdir)
    step = steps[-1] if steps else None
  config = saved_config(workdir, step)
  if config is None:
    raise RunError(f"no {CONFIG_FILE} in {workdir}: not the workdir of a run")
  _, state = restore(module, config, workdir, step=step)
  return config, state


def generator(experiment: types.ModuleType, config: ml_collections.ConfigDict,
              state: Any, *, step: int | None = None):
  """The sampling generator of ``state`` (its EMA where kept, in the mode of
  the experiment's ``generator_spec``) as a :class:`gans_jax.nn.Generator`.

  Raises:
    RunError: the state holds several runs' generators.
  """
  from gans_jax.nn import export

  if isinstance(state, dict):
    raise RunError(f"this run holds one state per sub-run ({', '.join(state)}); "
                   "take the generator of one of them")
  if not hasattr(experiment, "generator_spec"):
    raise RunError(f"{experiment_name(experiment)} has no generator_spec(config, "
                   "state=None) saying how to rebuild its generator")
  spec = dict(experiment.generator_spec(config, state))
  network = state.sampling_network(spec.get("player", "generator"))
  spec["source"] = {"experiment": experiment_name(experiment),
                    "config": str(config.get("name", "")), "step": step}
  return export.Generator(network.module(train=spec.get("mode") == "train"), spec)


def load_generator(workdir: str, *, step: int | None = None,
                   experiment: types.ModuleType | str | None = None):
  """The sampling generator of a trained run as a function,
  ``generator(*inputs, key=None)`` (a :class:`gans_jax.nn.Generator`; its
  ``save(path)`` writes the file that ``gans_jax.nn.Generator.load`` reads)."""
  module = load_experiment(workdir, experiment)
  steps = checkpoint_steps(workdir)
  step = steps[-1] if step is None and steps else step
  config, state = load_run(workdir, step=step, experiment=module)
  return generator(module, config, state, step=step)


def sample(experiment: types.ModuleType, config: ml_collections.ConfigDict,
           state: Any, num: int, *, key, batch: int = 100):
  """``num`` samples of the experiment's ``make_sampler``: calls of
  ``min(num, batch)`` samples, call ``i`` with ``fold_in(key, i)``, so that
  the samples are a pure function of the state, ``key`` and ``num``. For an
  experiment of sub-runs, ``{name: samples}`` of each, with the same keys."""
  import jax
  import numpy as np

  if isinstance(state, dict):
    runs = subruns(experiment, config)
    return {name: sample(experiment, runs[name], s, num, key=key, batch=batch)
            for name, s in state.items()}
  size = min(num, batch)
  sampler = experiment.make_sampler(config, size)
  calls = [np.asarray(sampler(state, jax.random.fold_in(key, i)))
           for i in range(-(-num // size))]
  return np.concatenate(calls)[:num]
