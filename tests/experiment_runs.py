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


def assert_orthogonal_kernels_and_zero_biases(networks, gain: float) -> None:
  """Every kernel of ``networks`` has orthogonal rows or columns of norm
  ``gain`` (the smaller Gram matrix is ``gain**2 I``), every bias is zero:
  the toy demos' orthogonal initialisation."""
  import jax
  import numpy as np
  for network in networks:
    for path, x in jax.tree_util.tree_flatten_with_path(network.params)[0]:
      x = np.asarray(x)
      if "kernel" in jax.tree_util.keystr(path):
        gram = x.T @ x if x.shape[0] > x.shape[1] else x @ x.T
        np.testing.assert_allclose(gram, gain**2 * np.eye(min(x.shape)), atol=1e-3)
      else:
        np.testing.assert_array_equal(x, 0.0)
