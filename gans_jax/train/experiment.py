"""The experiment contract: what a paper's module under ``experiments/`` defines.

An experiment is a module ``experiments/<paper>.py`` with its config in
``experiments/configs/<paper>.py``; ``experiments/template.py`` is one to copy.
The engine (the loop, the command line, :mod:`gans_jax.train.runs`) calls
nothing else of it. Required, with ``config`` the validated
``ml_collections.ConfigDict``:

``validate(config) -> None``
  The paper's rules that tie fields together (each field's type, range and
  choices are checked before, from its declaration in the config module:
  :func:`gans_jax.train.config.field`). Raises ``ConfigError`` naming a field.
``create_state(config) -> TrainState``
  The freshly initialised players and optimisers, from ``train.seed``; also
  the structure a checkpoint is restored into.
``make_train_step(config, ...) -> step``
  The paper's algorithm: a pure ``step(state, batch, key) -> (state,
  metrics)`` (extra arguments for a run made of phases or sub-runs).
``make_sampler(config, num) -> sample``
  ``sample(state, key)``: ``num`` samples of the trained generator (a dict
  of arrays for a run of several players).
``train_and_evaluate(config, workdir) -> dict``
  Trains (:func:`gans_jax.train.fit`) and returns :func:`evaluate`'s numbers.
``evaluate(config, state, workdir, *, step=None) -> dict``
  The paper's evaluation of a state, written to ``workdir``, recorded at
  ``step`` (default ``train.num_steps``).
``generator_spec(config, state=None) -> dict``
  How to rebuild the generator without the experiment
  (:func:`gans_jax.nn.build_module`; ``--export``).

Optional:

``FIGURES: dict[str, draw]``
  Figures ``--draw=NAME`` draws again: ``draw(config, state, directory, *,
  key) -> path``. Their names are also given to
  :func:`gans_jax.cli.script`, so that ``--help`` lists them before
  anything heavy is imported (a test checks the two agree).
``translators(config) -> dict[str, translate]``
  Image-to-image experiments: ``{direction: translate(state, images, key)}``
  for ``--translate``.
``interpolate(config, state, key, *, pairs, steps, method) -> (codes, frames)``
  The endpoints of ``--interpolate`` chosen by the experiment instead of
  drawn from the generator's latent distribution (the VAE: the encoder
  means of two test images): ``codes`` ``(steps, pairs, D)`` along
  ``method`` ('lerp' or 'slerp', :mod:`gans_jax.eval.interpolation`),
  ``frames`` ``(steps, pairs, ...)`` their outputs, frame 0 and the last
  the outputs at the two endpoints. Without it, any generator whose
  spec's ``inputs`` name a ``latent_dim`` is interpolated by
  :func:`gans_jax.eval.report.interpolate_generator`.
``subruns(config) -> dict[str, ConfigDict]``
  A run made of independent runs (one per divergence, say), each trained in
  ``workdir/<name>``.
``decode(config, tokens) -> list[str]``
  Experiments whose samples are token sequences (``(N, L)`` ints): each
  row as a line of text, which ``--sample`` prints and writes to a ``.txt``
  (without it the rows are written as token ids).
"""

from __future__ import annotations

import importlib
import os
import types
from typing import Any, Callable, Mapping, Protocol

import ml_collections

REQUIRED = ("validate", "create_state", "make_train_step", "make_sampler",
            "train_and_evaluate", "evaluate", "generator_spec")
OPTIONAL = ("FIGURES", "translators", "interpolate", "subruns", "decode")


class Experiment(Protocol):
  """The required part of the contract (see the module docstring)."""

  def validate(self, config: ml_collections.ConfigDict) -> None: ...

  def create_state(self, config: ml_collections.ConfigDict) -> Any: ...

  def make_train_step(self, config: ml_collections.ConfigDict, *args: Any
                      ) -> Callable: ...

  def make_sampler(self, config: ml_collections.ConfigDict, num: int) -> Callable: ...

  def train_and_evaluate(self, config: ml_collections.ConfigDict, workdir: str
                         ) -> Mapping[str, Any]: ...

  def evaluate(self, config: ml_collections.ConfigDict, state: Any, workdir: str, *,
               step: int | None = None) -> Mapping[str, Any]: ...

  def generator_spec(self, config: ml_collections.ConfigDict, state: Any = None
                     ) -> dict: ...


class ContractError(TypeError):
  """A module does not meet the experiment contract."""


def missing(module: types.ModuleType) -> list[str]:
  """The required names ``module`` lacks, or defines as something not callable."""
  return [name for name in REQUIRED if not callable(getattr(module, name, None))]


def check(module: types.ModuleType) -> Experiment:
  """``module``, once it meets the contract.

  Raises:
    ContractError: naming what it lacks.
  """
  lacking = missing(module)
  if lacking:
    raise ContractError(f"{module.__name__} is not an experiment: it lacks "
                        f"{', '.join(lacking)} (see gans_jax.train.experiment)")
  figures = getattr(module, "FIGURES", {})
  if not isinstance(figures, Mapping) or not all(callable(f) for f in figures.values()):
    raise ContractError(f"{module.__name__}.FIGURES must map names to draw functions")
  return module


def config_file(path: str) -> str:
  """``experiments/configs/<paper>.py`` of ``experiments/<paper>.py``."""
  path = os.path.abspath(path)
  return os.path.join(os.path.dirname(path), "configs", os.path.basename(path))


def module_name(path: str) -> str:
  """``'experiments.dcgan'`` for the file experiments/dcgan.py."""
  path = os.path.abspath(path)
  package = os.path.basename(os.path.dirname(path))
  return f"{package}.{os.path.splitext(os.path.basename(path))[0]}"


def config_module(experiment: types.ModuleType) -> types.ModuleType:
  """``experiments.configs.<paper>`` of the module ``experiments.<paper>``."""
  package, _, paper = experiment.__name__.rpartition(".")
  return importlib.import_module(f"{package}.configs.{paper}")


def validate(experiment: types.ModuleType, config: ml_collections.ConfigDict, *,
             preset: str | None = None) -> None:
  """What the command line checks before training: each field's own check,
  as declared in the experiment's config module (``get_config(preset)``),
  then the experiment's ``validate``.

  Raises:
    ConfigError: naming the first bad field.
  """
  from gans_jax.train import config as config_lib
  get_config = config_module(experiment).get_config
  _, checks = config_lib.declared_checks(
      lambda: get_config(preset) if preset else get_config())
  config_lib.check_fields(config, checks)
  experiment.validate(config)
