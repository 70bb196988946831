"""The training engine: state pytrees, the generic loop, devices, checkpoints.

The loop (:func:`fit`, or :func:`fit_phases` for a run made of phases) jits
any pure ``step(state, batch, key) -> (state, metrics)`` and knows nothing
about any paper; experiments write the step from a :class:`TrainState` of
named players (:class:`GANState` for a generator and a discriminator),
:class:`Network` and the pure losses and penalties. Random keys come from one
seed, tagged by purpose (:mod:`gans_jax.train.keys`). A trained run's
workdir is read back by :func:`load_run` and :func:`load_generator`.

Names load on first use, so that the command line answers ``--help``
without importing JAX.
"""

import importlib

# name -> the submodule that defines it
_EXPORTS = {
    "CheckpointError": "checkpoint",
    "ConfigError": "config", "train_defaults": "config", "validate_train": "config",
    "data_mesh": "distributed", "global_batch": "distributed",
    "initialize": "distributed",
    "ImagePool": "image_pool",
    "init_rngs": "keys", "make_key": "keys", "step_key": "keys",
    "BatchSource": "loop", "Hook": "loop", "HostLost": "loop", "Interrupted": "loop",
    "NonFiniteError": "loop", "Phase": "loop", "fit": "loop", "fit_phases": "loop",
    "RunError": "runs", "load_experiment": "runs", "load_generator": "runs",
    "load_run": "runs", "saved_config": "runs",
    "GANState": "state", "Network": "state", "OptimizerGroup": "state",
    "TrainState": "state", "count_params": "state", "ema_network": "state",
    "update": "state",
    "clip_weights": "updates", "ema_update": "updates",
    "MetricWriter": "writer", "read_metrics": "writer",
}
_SUBMODULES = ("checkpoint", "cli", "config", "distributed", "image_pool", "keys",
               "loop", "preemption", "rerun", "runs", "state", "updates", "writer")

__all__ = sorted(_EXPORTS) + ["keys"]


def __getattr__(name):
  if name in _EXPORTS:
    value = getattr(importlib.import_module(f"gans_jax.train.{_EXPORTS[name]}"), name)
  elif name in _SUBMODULES:
    value = importlib.import_module(f"gans_jax.train.{name}")
  else:
    raise AttributeError(f"module 'gans_jax.train' has no attribute {name!r}")
  globals()[name] = value
  return value


def __dir__():
  return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))
