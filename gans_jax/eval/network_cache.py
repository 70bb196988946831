"""The small evaluation networks that gans_jax trains itself: initial weights and ``.npz`` files.

A file holds the network's parameters under ``params/<path>`` and the facts
that must match for the weights to be reused (format, data version, sizes,
...) under ``meta/<name>``, as numpy scalars or arrays.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax


def flatten_dict(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """``{'a': {'b': x}}`` as ``{'a/b': x}``: a nested dict's leaves by path."""
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping):
      flat.update(flatten_dict(value, name + "/"))
    else:
      flat[name] = value
  return flat


def unflatten_like(tree: Mapping[str, Any], flat: Mapping[str, Any],
                   prefix: str = "") -> dict:
  """The nested dict of ``tree``'s structure with the leaves of ``flat`` (by path)."""
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping):
      out[key] = unflatten_like(value, flat, name + "/")
    else:
      out[key] = jnp.asarray(flat[name])
  return out


def train_classifier(graphdef: nnx.GraphDef, params: nnx.State,
                     optimizer: optax.GradientTransformation,
                     inputs: jax.Array, labels: jax.Array, *, order_key: jax.Array,
                     batch_size: int, num_steps: int) -> nnx.State:
  """Trains a classifier by minibatch cross-entropy; returns its parameters.

  Step ``s`` draws ``batch_size`` examples uniformly with replacement, with the
  key ``fold_in(order_key, s)``, so the run is a pure function of its arguments.

  Args:
    graphdef: the network's graph (``nnx.split``); it maps ``inputs[i]`` to logits.
    params: its initial state.
    optimizer: the optax transformation.
    inputs: ``[N, ...]`` training inputs.
    labels: ``[N, ...]`` integer classes (per example, or per pixel for a
      segmenter), matching the logits without their last axis.
    order_key: the key the minibatches are drawn with.
    batch_size: examples per step.
    num_steps: steps.
  """

  @jax.jit
  def step(params, opt_state, inputs, labels, s):
    index = jax.random.randint(jax.random.fold_in(order_key, s), (batch_size,),
                               0, inputs.shape[0])

    def loss(params):
      logits = nnx.merge(graphdef, params)(inputs[index])
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels[index]).mean()

    grads = jax.grad(loss)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  opt_state = optimizer.init(params)
  for s in range(num_steps):
    params, opt_state = step(params, opt_state, inputs, labels, s)
  return params


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
  for name, leaf in sorted(flatten_dict(template).items()):
    shape = tuple(leaf.shape)
    if name.endswith("kernel"):
      std = math.sqrt(2.0 / math.prod(shape[:-1]))
      values[name] = (std * rng.standard_normal(shape)).astype(np.float32)
    elif name.endswith("bias"):
      values[name] = np.zeros(shape, np.float32)
    else:
      raise ValueError(f"cannot initialise parameter {name!r}: neither a kernel nor a bias")
  nnx.replace_by_pure_dict(state, unflatten_like(template, values))
  return state


def save_npz(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
  """Writes ``arrays`` to the ``.npz`` file ``path`` whole or not at all: into
  a temporary file beside it, then renamed over it (its folder is created)."""
  path = os.fspath(path)
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    np.savez(f, **arrays)
  os.replace(tmp, path)


def save_network(path: str | os.PathLike, model: nnx.Module,
                 metadata: dict[str, Any]) -> None:
  """Writes ``model``'s state and ``metadata`` to a ``.npz`` file, atomically.

  Args:
    path: the file; its directory is created when missing.
    model: a Flax NNX module.
    metadata: names to numbers, strings or arrays, stored as ``meta/<name>``.
  """
  arrays = {f"params/{k}": np.asarray(v)
            for k, v in flatten_dict(nnx.to_pure_dict(nnx.state(model))).items()}
  arrays.update({f"meta/{k}": np.asarray(v) for k, v in metadata.items()})
  save_npz(path, arrays)


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
  want_shapes = {k: tuple(v.shape) for k, v in flatten_dict(template).items()}
  params = {k[len("params/"):]: v for k, v in stored.items() if k.startswith("params/")}
  have_shapes = {k: v.shape for k, v in params.items()}
  if want_shapes != have_shapes:
    raise ValueError(
        f"{path} does not match the {what} architecture: expected {want_shapes}, "
        f"found {have_shapes}. Delete it to retrain.")
  nnx.replace_by_pure_dict(state, unflatten_like(template, params))
  nnx.update(model, state)
  return metadata
