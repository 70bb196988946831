"""The small evaluation networks that gans_jax trains itself: initial weights and ``.npz`` files.

A file holds the network's parameters under ``params/<path>`` and the facts
that must match for the weights to be reused (format, data version, sizes,
...) under ``meta/<name>``, as numpy scalars or arrays.
"""

from __future__ import annotations

import math
import os
from typing import Any

from flax import nnx
import jax.numpy as jnp
import numpy as np


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(_flatten(value, name + "/"))
    else:
      flat[name] = value
  return flat


def _unflatten_like(tree: dict, flat: dict[str, np.ndarray], prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      out[key] = _unflatten_like(value, flat, name + "/")
    else:
      out[key] = jnp.asarray(flat[name])
  return out


def he_normal_state(model: nnx.Module, seed: int) -> nnx.State:
  """Fresh parameters for ``model``'s architecture: kernels :math:`N(0, 2 / \text{fan-in})`,
  biases zero.

  Drawn with numpy's ``default_rng(seed)``, parameter by parameter in sorted
  path order, so they are the same on every backend; and no initialiser is
  compiled, which on a CPU takes seconds per parameter shape.

  Args:
    model: a module (abstract, from ``nnx.eval_shape``, is enough) whose
      parameters are named ``kernel`` (fan-in: all axes but the last) or ``bias``.
    seed: the seed.

  Returns:
    The module's state with the new values.

  References:
    He et al., "Delving Deep into Rectifiers", arXiv 1502.01852.
  """
  state = nnx.state(model)
  template = nnx.to_pure_dict(state)
  rng = np.random.default_rng(seed)
  values = {}
  for name, leaf in sorted(_flatten(template).items()):
    shape = tuple(leaf.shape)
    if name.endswith("kernel"):
      std = math.sqrt(2.0 / math.prod(shape[:-1]))
      values[name] = (std * rng.standard_normal(shape)).astype(np.float32)
    elif name.endswith("bias"):
      values[name] = np.zeros(shape, np.float32)
    else:
      raise ValueError(f"cannot initialise parameter {name!r}: neither a kernel nor a bias")
  nnx.replace_by_pure_dict(state, _unflatten_like(template, values))
  return state


def save_network(path: str | os.PathLike, model: nnx.Module,
                 metadata: dict[str, Any]) -> None:
  """Writes ``model``'s state and ``metadata`` to a ``.npz`` file, atomically.

  Args:
    path: the file; its directory is created when missing.
    model: a Flax NNX module.
    metadata: names to numbers, strings or arrays, stored as ``meta/<name>``.
  """
  arrays = {f"params/{k}": np.asarray(v)
            for k, v in _flatten(nnx.to_pure_dict(nnx.state(model))).items()}
  arrays.update({f"meta/{k}": np.asarray(v) for k, v in metadata.items()})
  path = os.fspath(path)
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    np.savez(f, **arrays)
  os.replace(tmp, path)


def read_metadata(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The ``meta/<name>`` entries of a file written by :func:`save_network`."""
  with np.load(path) as f:
    return {k[len("meta/"):]: f[k] for k in f.files if k.startswith("meta/")}


def load_network(path: str | os.PathLike, model: nnx.Module, *,
                 expected: dict[str, Any], what: str) -> dict[str, np.ndarray]:
  """Loads weights written by :func:`save_network` into ``model``, in place.

  Args:
    path: the file.
    model: a module of the architecture the weights belong to (e.g. from
      ``nnx.eval_shape``); its state is replaced.
    expected: metadata that must equal the stored values for the weights to fit.
    what: the network's name, for error messages.

  Returns:
    All stored metadata.

  Raises:
    ValueError: the metadata in ``expected`` or the parameter shapes differ;
      the message names them and says to delete the file to retrain.
  """
  with np.load(path) as f:
    stored = {k: f[k] for k in f.files}
  metadata = {k[len("meta/"):]: v for k, v in stored.items() if k.startswith("meta/")}
  for name, want in expected.items():
    have = metadata.get(name)
    if have is None or not np.array_equal(have, np.asarray(want)):
      raise ValueError(
          f"{path} holds {what} weights with {name}={None if have is None else have.tolist()!r};"
          f" this version expects {name}={np.asarray(want).tolist()!r}. Delete it to retrain.")
  state = nnx.state(model)
  template = nnx.to_pure_dict(state)
  want_shapes = {k: tuple(v.shape) for k, v in _flatten(template).items()}
  params = {k[len("params/"):]: v for k, v in stored.items() if k.startswith("params/")}
  have_shapes = {k: v.shape for k, v in params.items()}
  if want_shapes != have_shapes:
    raise ValueError(
        f"{path} does not match the {what} architecture: expected {want_shapes}, "
        f"found {have_shapes}. Delete it to retrain.")
  nnx.replace_by_pure_dict(state, _unflatten_like(template, params))
  nnx.update(model, state)
  return metadata
