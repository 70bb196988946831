"""The command line every experiment shares.

``python experiments/<paper>.py [--config=experiments/configs/<paper>.py[:preset]]
[--config.a.b=value ...] [--workdir=DIR]``

Flags are parsed, the config validated, and only then is anything compiled.
A bad flag or config field exits with code 2 and one line naming it; a missing
dataset likewise; a NaN/Inf exits with code 1 after keeping the last good
checkpoint; SIGTERM saves a checkpoint and exits with code 0.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Sequence

import ml_collections

from gans_jax.train import config as config_lib

TrainFn = Callable[[ml_collections.ConfigDict, str], Any]
ValidateFn = Callable[[ml_collections.ConfigDict], None]

EXIT_BAD_INPUT = 2


def enable_compilation_cache(directory: str | None = None) -> None:
  """Turns on JAX's persistent compilation cache (a second run of the same
  config skips compilation). ``GANS_JAX_CACHE_DIR`` overrides the location;
  setting it to an empty string turns the cache off."""
  import jax

  directory = os.environ.get("GANS_JAX_CACHE_DIR", directory)
  if directory is None:
    directory = os.path.join(os.path.expanduser("~"), ".cache", "gans_jax", "xla")
  if not directory:
    return
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
  print(f"error: {message}", file=sys.stderr)
  return code


def parse(argv: Sequence[str], *, default_config: str):
  """Parses ``argv`` into (config, workdir, distributed options).

  Raises:
    config_lib.ConfigError: a flag or config override is malformed.
  """
  from absl import flags
  from ml_collections import config_flags

  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file(
      "config", default_config, "config file, optionally with :preset",
      flag_values=flag_values, lock_config=True)
  flags.DEFINE_string("workdir", None, "output directory; default runs/<config.name>",
                      flag_values=flag_values)
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0 for a multi-host run",
                      flag_values=flag_values)
  flags.DEFINE_integer("num_processes", None, "processes in a multi-host run",
                       flag_values=flag_values)
  flags.DEFINE_integer("process_id", None, "this process's index",
                       flag_values=flag_values)
  try:
    extra = flag_values(list(argv))
  except flags.Error as e:
    raise config_lib.ConfigError("flags", str(e).splitlines()[0]) from None
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    raise config_lib.ConfigError("--config", str(e).strip("'\"")) from None
  if len(extra) > 1:
    raise config_lib.ConfigError("flags", f"unexpected arguments {extra[1:]}")
  config = flag_values.config
  workdir = flag_values.workdir or os.path.join(
      "runs", str(config.get("name", "run")).replace("/", "_"))
  dist = dict(coordinator_address=flag_values.coordinator_address,
              num_processes=flag_values.num_processes,
              process_id=flag_values.process_id)
  return config, workdir, dist


def main(train_and_evaluate: TrainFn, *, default_config: str,
         validate: ValidateFn, argv: Sequence[str] | None = None) -> int:
  """Runs an experiment from the command line; returns the exit code."""
  argv = sys.argv if argv is None else argv
  try:
    config, workdir, dist = parse(argv, default_config=default_config)
  except config_lib.ConfigError as e:
    return _fail(f"bad flag: {e}")

  from gans_jax.train import distributed
  from gans_jax.train import loop

  enable_compilation_cache()
  distributed.initialize(**dist)
  try:
    validate(config)
  except config_lib.ConfigError as e:
    return _fail(f"config field {e}")

  from gans_jax.data import DatasetNotFoundError
  try:
    train_and_evaluate(config, workdir)
  except DatasetNotFoundError as e:
    return _fail(str(e))
  except config_lib.ConfigError as e:
    return _fail(f"config field {e}")
  except loop.NonFiniteError as e:
    return _fail(str(e), code=1)
  except loop.Interrupted as e:
    print(str(e), file=sys.stderr)
    return 0
  return 0
