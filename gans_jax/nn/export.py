"""A trained generator as a plain function, and the file that carries it.

A *generator spec* says how to rebuild a generator: the dotted name of its
class, the keyword arguments of its constructor, the mode it samples in at
test time and the keyword arguments of its call::

  {"module": "gans_jax.nn.DCGANGenerator",
   "kwargs": {"latent_dim": 100, "image_size": 32, "channels": 1, ...},
   "mode": "eval",                       # or "train" (pix2pix: dropout on)
   "call": {},                           # ProGAN: {"level": 3, "alpha": 1.0}
   "inputs": {"latent_dim": 100, "noise": "normal", "num_classes": None}}

Constructor arguments are JSON values: sequences are given as lists and
passed as tuples, and dtypes by name (``"bfloat16"``; ``None`` for float32).
Each experiment's ``generator_spec(config)`` writes one, and its
``create_state`` builds the generator from it, so a spec always rebuilds the
network that was trained.

:class:`Generator` wraps the module, jitted, as ``generator(*inputs,
key=None)``; :meth:`Generator.save` writes an ``.npz`` holding the spec as
JSON (``spec``) and one array per variable (``variables/<path>``: the
parameters and, for BatchNorm, the running statistics), which
:meth:`Generator.load` reads back with NumPy and Flax alone.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

FORMAT = "gans_jax.generator/1"
MODES = ("eval", "train")
NOISES = ("normal", "uniform")


def _as_tuples(value: Any) -> Any:
  if isinstance(value, (list, tuple)):
    return tuple(_as_tuples(v) for v in value)
  return value


def module_class(name: str) -> type:
  """The class a dotted name such as ``'gans_jax.nn.DCGANGenerator'`` names.

  Raises:
    ValueError: the name does not lead to a class.
  """
  module_name, _, attribute = name.rpartition(".")
  try:
    cls = getattr(importlib.import_module(module_name), attribute)
  except (ImportError, AttributeError, ValueError) as e:
    raise ValueError(f"module {name!r} of the generator spec cannot be "
                     f"imported: {e}") from None
  if not isinstance(cls, type):
    raise ValueError(f"module {name!r} of the generator spec is not a class")
  return cls


def build_module(spec: Mapping[str, Any], *, rngs: nnx.Rngs) -> nnx.Module:
  """``spec['module'](**spec['kwargs'], rngs=rngs)``: lists become tuples,
  dtype names (``dtype``, ``*_dtype``) become dtypes."""
  kwargs = {}
  for name, value in dict(spec.get("kwargs") or {}).items():
    if (name == "dtype" or name.endswith("_dtype")) and isinstance(value, str):
      value = jnp.dtype(value)
    kwargs[name] = _as_tuples(value)
  return module_class(spec["module"])(**kwargs, rngs=rngs)


def _path_name(path: Sequence[Any]) -> str:
  parts = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))
           for k in path]
  if parts and parts[-1] == "value":
    parts = parts[:-1]
  return "/".join(parts)


def _check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
  spec = json.loads(json.dumps(dict(spec)))  # a JSON copy; fails early if not
  if not isinstance(spec.get("module"), str):
    raise ValueError(f"a generator spec needs 'module', got {spec!r}")
  if spec.setdefault("mode", "eval") not in MODES:
    raise ValueError(f"spec['mode'] must be one of {MODES}, got {spec['mode']!r}")
  spec.setdefault("kwargs", {})
  spec.setdefault("call", {})
  spec.setdefault("inputs", {})
  return spec


class Generator:
  """A generator as a function: ``generator(*inputs, key=None)``.

  ``inputs`` are what the module's call takes (latent codes z, and class
  labels for a conditional generator; images for a translator); ``key`` is
  the dropout key of a generator that samples in training mode. The call
  is jitted; the module's variables are not changed by it.

  Args:
    module: the generator, with its trained variables.
    spec: how to rebuild it (see the module docstring).
  """

  def __init__(self, module: nnx.Module, spec: Mapping[str, Any]):
    self.spec = _check_spec(spec)
    if self.spec["mode"] == "train":
      module.train()
    else:
      module.eval()
    self._graphdef, self._state = nnx.split(module)
    graphdef, call = self._graphdef, _as_tuples_in(self.spec["call"])

    def run(state, inputs, key):
      generator = nnx.merge(graphdef, state, copy=True)
      extra = dict(call) if key is None else dict(call, rngs=key)
      return generator(*inputs, **extra)

    self._run = jax.jit(run)

  def __call__(self, *inputs, key: jax.Array | None = None) -> jax.Array:
    return self._run(self._state, inputs, key)

  @property
  def variables(self) -> dict[str, np.ndarray]:
    """``{path: array}`` of every variable (parameters and statistics)."""
    leaves = jax.tree_util.tree_flatten_with_path(self._state)[0]
    return {_path_name(p): np.asarray(leaf) for p, leaf in leaves}

  def module(self) -> nnx.Module:
    """A fresh NNX module with these variables, in the spec's mode."""
    return nnx.merge(self._graphdef, self._state, copy=True)

  def latent(self, key: jax.Array, num: int) -> jax.Array:
    """``num`` latent codes z as the generator was trained on: N(0, I), or
    U[-1, 1] for ``inputs['noise'] == 'uniform'``.

    Raises:
      ValueError: the generator takes no latent codes (a translator).
    """
    inputs = self.spec["inputs"]
    if "latent_dim" not in inputs:
      raise ValueError(f"{self.spec['module']} takes no latent codes; its "
                       f"inputs are {inputs}")
    shape = (num, inputs["latent_dim"])
    if inputs.get("noise", "normal") == "uniform":
      return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    return jax.random.normal(key, shape)

  def save(self, path: str | os.PathLike) -> None:
    """Writes the spec and the variables to one ``.npz`` file."""
    arrays = {f"variables/{name}": value for name, value in self.variables.items()}
    spec = dict(self.spec, format=FORMAT)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
      np.savez(f, spec=np.array(json.dumps(spec, indent=1)), **arrays)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "Generator":
    """Reads a file written by :meth:`save`: the class named in its spec is
    built abstractly (no initialisation runs) and given the saved arrays.

    Raises:
      ValueError: the file is not a generator file, or its arrays do not fit
        the spec's module (naming the first that does not).
    """
    with np.load(path, allow_pickle=False) as f:
      if "spec" not in f.files:
        raise ValueError(f"{path} is not a gans_jax generator file (no 'spec')")
      spec = json.loads(str(f["spec"]))
      if spec.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {spec.get('format')!r}; "
                         f"expected {FORMAT!r}")
      arrays = {name[len("variables/"):]: f[name] for name in f.files
                if name.startswith("variables/")}
    abstract = nnx.eval_shape(lambda: build_module(spec, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    values = []
    for p, leaf in leaves:
      name = _path_name(p)
      if name not in arrays:
        raise ValueError(f"{path}: no array for variable {name!r} of "
                         f"{spec['module']}")
      value = arrays.pop(name)
      if value.shape != tuple(leaf.shape) or value.dtype != leaf.dtype:
        raise ValueError(f"{path}: variable {name!r} is {value.shape} "
                         f"{value.dtype}, {spec['module']} expects "
                         f"{tuple(leaf.shape)} {leaf.dtype}")
      values.append(jnp.asarray(value))
    if arrays:
      raise ValueError(f"{path}: arrays {sorted(arrays)} are not variables of "
                       f"{spec['module']}")
    state = jax.tree_util.tree_unflatten(treedef, values)
    spec = {k: v for k, v in spec.items() if k != "format"}
    return cls(nnx.merge(graphdef, state), spec)


def _as_tuples_in(mapping: Mapping[str, Any]) -> dict[str, Any]:
  return {k: _as_tuples(v) for k, v in mapping.items()}
