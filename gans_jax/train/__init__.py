"""The training engine: state pytrees, the generic loop, devices, checkpoints.

The loop (:func:`fit`, or :func:`fit_phases` for a run made of phases) jits
any pure ``step(state, batch, key) -> (state, metrics)`` and knows nothing
about any paper; experiments write the step from a :class:`TrainState` of
named players (:class:`GANState` for a generator and a discriminator),
:class:`Network` and the pure losses and penalties. Random keys come from one
seed, tagged by purpose (:mod:`gans_jax.train.keys`). A trained run's
workdir is read back by :func:`load_run` and :func:`load_generator`; a
:class:`Study` of many runs (presets x seeds) runs and is summarised by
:mod:`gans_jax.train.study`.

Names load on first use, so that the command line answers ``--help``
without importing JAX.
"""

import importlib

# name -> the submodule that defines it (or a module of gans_jax by its full name)
_EXPORTS = {
    "CheckpointError": "checkpoint",
    "ConfigError": "config", "train_defaults": "config", "validate_train": "config",
    "data_mesh": "distributed", "global_batch": "distributed",
    "finish": "distributed", "initialize": "distributed",
    "ImagePool": "image_pool",
    "init_rngs": "keys", "make_key": "keys", "step_key": "keys",
    "BatchSource": "gans_jax.contracts", "Hook": "gans_jax.contracts",
    "HostLost": "loop", "Interrupted": "loop",
    "NonFiniteError": "loop", "Phase": "loop", "fit": "loop", "fit_phases": "loop",
    "RunError": "runs", "load_experiment": "runs", "load_generator": "runs",
    "load_run": "runs", "saved_config": "runs",
    "GANState": "state", "Network": "state", "OptimizerGroup": "state",
    "TrainState": "state", "count_params": "state", "ema_network": "state",
    "update": "state",
    "clip_weights": "updates", "ema_update": "updates",
    "HistoricalAverage": "averaging", "historical_average_init": "averaging",
    "historical_average_update": "averaging",
    "historical_averaging_penalty": "averaging",
    "MetricWriter": "writer", "read_metrics": "writer",
}
_EXPORTS.update({"UnrolledUpdate": "unrolled", "repeat_batch": "unrolled",
                 "unroll": "unrolled", "unrolled_gan_update": "unrolled",
                 "unrolled_generator_loss": "unrolled"})
_EXPORTS.update({"Cell": "study", "Study": "study", "StudyError": "study",
                 "seeds_grid": "study"})
_SUBMODULES = ("averaging", "calls", "checkpoint", "config", "distributed",
               "experiment", "image_pool", "keys", "loop", "preemption", "rerun",
               "runs", "state", "study", "unrolled", "updates", "writer")

__all__ = sorted(_EXPORTS) + ["keys"]


def __getattr__(name):
  if name in _EXPORTS:
    module = _EXPORTS[name]
    if not module.startswith("gans_jax."):
      module = f"gans_jax.train.{module}"
    value = getattr(importlib.import_module(module), name)
  elif name in _SUBMODULES:
    value = importlib.import_module(f"gans_jax.train.{name}")
  else:
    raise AttributeError(f"module 'gans_jax.train' has no attribute {name!r}")
  globals()[name] = value
  return value


def __dir__():
  return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))
