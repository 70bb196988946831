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
  """Turns on JAX's persistent compilation cache, so a second run of the same
  config skips compilation. It lives in ``$GANS_JAX_CACHE_DIR/xla`` (default
  ``~/.cache/gans_jax/xla``); ``GANS_JAX_COMPILATION_CACHE=0`` turns it off."""
  import jax

  if os.environ.get("GANS_JAX_COMPILATION_CACHE", "1") == "0":
    return
  if directory is None:
    root = os.environ.get("GANS_JAX_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "gans_jax")
    directory = os.path.join(root, "xla")
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
  print(f"error: {message}", file=sys.stderr)
  return code


def _one_line(error: BaseException) -> str:
  text = str(error).replace("\\n", " ").replace("\\'", "'")
  return " ".join(text.split()).strip("'\" ")


def _load_config(spec: str) -> ml_collections.ConfigDict:
  """Imports a config file ``path[:preset]`` and calls its get_config."""
  import importlib.util

  path, _, preset = spec.partition(":")
  if not os.path.isfile(path):
    raise config_lib.ConfigError("--config", f"no config file {path!r}")
  module_spec = importlib.util.spec_from_file_location("_gans_jax_config", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
    return module.get_config(preset or None) if preset else module.get_config()
  except Exception as e:  # the config file's own error, e.g. an unknown preset
    raise config_lib.ConfigError(f"--config={spec}", _one_line(e)) from None


def _check_overrides(config: ml_collections.ConfigDict, argv: Sequence[str]) -> None:
  """Names the first ``--config.a.b=value`` whose field or value is wrong."""
  import difflib

  for arg in argv:
    if not arg.startswith("--config."):
      continue
    field, _, value = arg[len("--config."):].partition("=")
    node = config
    parts = field.split(".")
    for i, part in enumerate(parts):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        keys = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        close = difflib.get_close_matches(part, keys, n=1)
        hint = f"; did you mean {'.'.join(parts[:i] + close)}?" if close else ""
        raise config_lib.ConfigError(f"config.{field}", f"no such config field{hint}")
      node = node[part]
    expected = type(node)
    if expected in (int, float):
      try:
        expected(value)
      except ValueError:
        raise config_lib.ConfigError(
            f"config.{field}",
            f"{value!r} is not a valid {expected.__name__}") from None


def parse(argv: Sequence[str], *, default_config: str):
  """Parses ``argv`` into (config, workdir, distributed options).

  Raises:
    config_lib.ConfigError: a flag, the config file or an override is wrong.
  """
  from absl import flags
  from ml_collections import config_flags

  argv = list(argv)
  spec = default_config
  for arg in argv[1:]:
    if arg.startswith("--config="):
      spec = arg[len("--config="):]
  base = _load_config(spec)
  _check_overrides(base, argv[1:])

  flag_values = flags.FlagValues()
  try:
    # The config flag reads its --config.* overrides from argv when defined.
    config_flags.DEFINE_config_file(
        "config", default_config, "config file, optionally with :preset",
        flag_values=flag_values, lock_config=True, sys_argv=argv)
    flags.DEFINE_string("workdir", None, "output directory; default runs/<config.name>",
                        flag_values=flag_values)
    flags.DEFINE_string("coordinator_address", None,
                        "host:port of process 0 for a multi-host run",
                        flag_values=flag_values)
    flags.DEFINE_integer("num_processes", None, "processes in a multi-host run",
                         flag_values=flag_values)
    flags.DEFINE_integer("process_id", None, "this process's index",
                         flag_values=flag_values)
    extra = flag_values(argv)
    config = flag_values.config
  except Exception as e:  # absl and ml_collections raise many kinds
    raise config_lib.ConfigError("flags", _one_line(e)) from None
  if len(extra) > 1:
    raise config_lib.ConfigError("flags", f"unexpected arguments {extra[1:]}")
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
  from absl import logging as absl_logging
  # Libraries (TFDS, Orbax) log routine notes through absl; keep errors only.
  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    config, workdir, dist = parse(argv, default_config=default_config)
  except config_lib.ConfigError as e:
    return _fail(str(e))

  from gans_jax.train import distributed
  from gans_jax.train import loop

  enable_compilation_cache()
  distributed.initialize(**dist)
  try:
    validate(config)
  except config_lib.ConfigError as e:
    return _fail(f"config field {e}")

  from gans_jax.data import DataError
  from gans_jax.train import preemption
  from gans_jax.train.checkpoint import CheckpointError
  try:
    with preemption.guard():  # SIGTERM: exit 0 within its grace period
      train_and_evaluate(config, workdir)
  except (DataError, CheckpointError) as e:
    return _fail(str(e))
  except config_lib.ConfigError as e:
    return _fail(f"config field {e}")
  except loop.NonFiniteError as e:
    return _fail(str(e), code=1)
  except loop.Interrupted as e:
    print(str(e), file=sys.stderr)
    return 0
  except loop.HostLost as e:
    _fail(str(e), code=1)
    # JAX's shutdown would wait for the lost process, then abort.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)  # pylint: disable=protected-access
  return 0
