"""Config validation: every field is checked before anything compiles.

A check that fails raises :class:`ConfigError`, which names the field and
says what is wrong in one line; the command-line entry point turns it into
exit code 2.
"""

from __future__ import annotations

import math
from typing import Any, Collection

import ml_collections

# The largest integer a field may hold: the loop counts steps, and JAX
# computes, in 32-bit integers.
MAX_INT = 2**31 - 1


class ConfigError(ValueError):
  """A config field has a wrong name, type or value."""

  def __init__(self, field: str, message: str):
    self.field = field
    super().__init__(f"{field}: {message}")


def get(config: ml_collections.ConfigDict, field: str) -> Any:
  """Reads a dotted field, raising ConfigError when it does not exist."""
  node = config
  for part in field.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(field, "missing from the config")
    node = node[part]
  return node


def check(condition: bool, field: str, message: str) -> None:
  if not condition:
    raise ConfigError(field, message)


def _is_number(value) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def check_positive_int(config, field: str, *, allow_zero: bool = False) -> int:
  value = get(config, field)
  ok = isinstance(value, int) and not isinstance(value, bool)
  ok = ok and (value >= 0 if allow_zero else value > 0)
  bound = "a non-negative" if allow_zero else "a positive"
  check(ok, field, f"must be {bound} integer, got {value!r}")
  check(value <= MAX_INT, field, f"must be at most 2**31 - 1, got {value!r}")
  return value


def check_positive_ints(config, field: str) -> tuple[int, ...]:
  """A non-empty tuple of positive integers (layer widths)."""
  value = get(config, field)
  check(isinstance(value, tuple) and len(value) > 0 and all(
      isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INT
      for v in value), field,
        f"must be a non-empty tuple of positive integers, got {value!r}")
  return value


def check_number(config, field: str) -> float:
  """Any finite number."""
  value = get(config, field)
  check(_is_number(value), field, f"must be a finite number, got {value!r}")
  return float(value)


def check_positive_float(config, field: str, *, allow_zero: bool = False) -> float:
  value = get(config, field)
  ok = _is_number(value) and (value >= 0 if allow_zero else value > 0)
  bound = "non-negative" if allow_zero else "positive"
  check(ok, field, f"must be a finite {bound} number, got {value!r}")
  return float(value)


def check_fraction(config, field: str) -> float:
  value = get(config, field)
  check(_is_number(value) and 0.0 <= value < 1.0, field,
        f"must be in [0, 1), got {value!r}")
  return float(value)


def check_choice(config, field: str, choices: Collection[Any]) -> Any:
  value = get(config, field)
  check(value in choices, field,
        f"must be one of {sorted(choices, key=str)}, got {value!r}")
  return value


def validate_train(config: ml_collections.ConfigDict, *,
                   device_count: int | None = None) -> None:
  """Checks the ``train`` section that :func:`gans_jax.train.fit` reads."""
  import jax

  for field in ("train.num_steps", "train.log_every", "train.checkpoint_every",
                "train.keep_checkpoints", "train.steps_per_call",
                "train.batch_size"):
    check_positive_int(config, field)
  check_positive_int(config, "train.seed", allow_zero=True)
  check_positive_int(config, "train.sample_every", allow_zero=True)
  k = config.train.steps_per_call
  for field in ("train.log_every", "train.checkpoint_every"):
    check(get(config, field) % k == 0, field,
          f"must be a multiple of train.steps_per_call={k}")
  if config.train.sample_every:
    check(config.train.sample_every % k == 0, "train.sample_every",
          f"must be a multiple of train.steps_per_call={k}")
  devices = jax.device_count() if device_count is None else device_count
  check(config.train.batch_size % devices == 0, "train.batch_size",
        f"{config.train.batch_size} is not divisible by the {devices} devices "
        "it is sharded over")
  processes = jax.process_count()
  check(config.train.batch_size % processes == 0, "train.batch_size",
        f"{config.train.batch_size} is not divisible by the {processes} hosts")


def train_defaults(**overrides) -> ml_collections.ConfigDict:
  """The ``train`` section with its defaults; experiments override fields.

  ``steps_per_call`` is an upper bound, not a promise. One compiled call
  runs up to ``k = steps_per_call`` steps (a loop over ``k`` stacked
  batches; fewer dispatches for small, fast steps). The loop times one step
  (the second call of each phase; the first compiles) and then runs calls
  of ``L`` steps, ``L`` the largest divisor of ``k`` whose call takes at most
  2 s (``gans_jax.train.loop.CALL_SECONDS``), so that SIGTERM, read between
  calls, is answered within seconds whatever ``k`` says. Which ``L`` is
  chosen depends on the machine, yet:

  * the numbers do not: every call runs the same program (the loop for ``k``
    steps, stopped after ``L``), so a run and its restarts give the same
    state bit for bit;
  * logs, checkpoints and sample grids do not: calls end on multiples of
    ``L``, hence on every multiple of ``k``, which is why ``log_every``,
    ``checkpoint_every`` and ``sample_every`` must be multiples of
    ``steps_per_call``.

  When even one step takes longer than 2 s, the state is copied to the host
  before each call, and SIGTERM during a call checkpoints that copy (the
  step the call started from) without waiting for the call. Whatever
  happens, the process exits with code 0 within ``$GANS_JAX_SIGTERM_SECONDS``
  (default 25) of SIGTERM under the command line
  (:mod:`gans_jax.train.preemption`). With ``k > 1`` the step runs inside a
  loop, where XLA on a CPU runs convolution gradients many times slower
  (jax-ml/jax#12868): convolutional presets keep 1.
  """
  train = ml_collections.ConfigDict(dict(
      num_steps=1000,          # calls of the step function (generator updates)
      batch_size=64,           # global batch, split over all devices and hosts
      seed=0,                  # the one seed: init, data order and noise
      log_every=50,            # steps between metrics.jsonl lines
      checkpoint_every=500,    # steps between Orbax checkpoints
      keep_checkpoints=3,      # the newest N checkpoints are kept
      sample_every=500,        # steps between sample grids (0: only at the end)
      steps_per_call=1,        # at most this many steps in one compiled call
  ))
  train.update(overrides)
  return train
