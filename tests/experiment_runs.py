"""Helpers for tests that run experiments through the command line in-process."""

import contextlib
import importlib
import os

from gans_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_experiment(name: str, *flags: str, train=None) -> int:
  """``python experiments/<name>.py FLAGS``, in this process; the exit code
  (``train`` in place of the experiment's ``train_and_evaluate``)."""
  module = importlib.import_module(f"experiments.{name}")
  return cli.main(module, [os.path.join(ROOT, "experiments", f"{name}.py"), *flags],
                  train=train)


@contextlib.contextmanager
def environment(**values: str):
  """Sets environment variables, and restores their earlier values (or
  absence) on leaving."""
  saved = {key: os.environ.get(key) for key in values}
  os.environ.update(values)
  try:
    yield
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
