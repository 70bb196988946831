"""Orbax checkpoints of the training state, keyed by the loop's step.

Each checkpoint holds the state pytree and a small JSON record (the step and
the phase it belongs to). Writes are asynchronous, and a checkpoint is
*verified* (its metadata read back) before any older one is pruned, so a
fault while saving never leaves a run without a readable checkpoint.
Restoring takes the newest checkpoint that can be read: a damaged one is
reported in one line and moved aside to ``checkpoints_damaged/`` (never
deleted); a checkpoint whose arrays do not match the state being restored
(another architecture or width) is an error that names the differing arrays.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """No checkpoint can be restored; the message says which and why."""


def _path_name(path) -> str:
  return "/".join(str(getattr(p, "key", getattr(p, "name", getattr(p, "idx", p))))
                  for p in path)


def _shapes(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
  """``{path: (shape, dtype)}`` of every array leaf."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  out = {}
  for path, leaf in leaves:
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
      out[_path_name(path)] = (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
  return out


def _is_leaf_metadata(x) -> bool:
  return hasattr(x, "shape") and hasattr(x, "dtype")


def structure_differences(saved: dict[str, tuple], current: dict[str, tuple],
                          limit: int = 3) -> list[str]:
  """Human-readable differences between two ``{path: (shape, dtype)}`` maps."""
  lines = []
  for path in sorted(set(saved) | set(current)):
    a, b = saved.get(path), current.get(path)
    if a == b:
      continue
    if a is None:
      lines.append(f"{path}: not in the checkpoint")
    elif b is None:
      lines.append(f"{path}: only in the checkpoint")
    else:
      lines.append(f"{path}: saved {a[0]} {a[1]}, now {b[0]} {b[1]}")
  if len(lines) > limit:
    lines = lines[:limit] + [f"and {len(lines) - limit} more"]
  return lines


class _Manager(ocp.CheckpointManager):
  """Orbax's manager without its own preemption checks: it would report
  checkpoint steps to JAX's preemption service, whose sync point the loop
  computes from its own count of calls."""

  def reached_preemption(self, step: int) -> bool:
    del step
    return False


class Checkpointer:
  """Saves and restores the state pytree under ``workdir/checkpoints``.

  The newest ``keep`` verified checkpoints are kept. Arrays are copied off
  the devices before :meth:`save` returns, so the next step may donate them;
  the files are written in the background.

  Args:
    workdir: the run's directory.
    keep: how many checkpoints to keep.
    report: where one-line notes go (damaged checkpoints skipped).
  """

  def __init__(self, workdir: str, *, keep: int,
               report: Callable[[str], None] = print):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self.damaged_directory = os.path.join(os.path.abspath(workdir),
                                          "checkpoints_damaged")
    self.keep = keep
    self._report = report
    self._manager = _Manager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=None, create=True),
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "meta": ocp.JsonCheckpointHandler()})
    self._unverified: int | None = None

  # ---------------------------------------------------------------- steps --

  def all_steps(self) -> list[int]:
    self._manager.reload()
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  # ----------------------------------------------------------------- save --

  def save(self, step: int, state: Any, meta: dict[str, Any] | None = None) -> None:
    """Starts writing checkpoint ``step`` (after the previous one is verified
    and older ones pruned)."""
    self._finalize()
    meta = dict(meta or {}, step=int(step))
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                       force=True)
    self._unverified = step

  def _finalize(self) -> None:
    """Waits for the pending write, reads it back, then prunes."""
    self._manager.wait_until_finished()
    if self._unverified is None:
      return
    step, self._unverified = self._unverified, None
    self._read_metadata(step)  # raises if the write did not land whole
    steps = self.all_steps()
    for old in steps[:-self.keep] if len(steps) > self.keep else []:
      if old < step:
        self._manager.delete(old)

  def wait(self) -> None:
    self._finalize()

  def close(self) -> None:
    try:
      self._finalize()
    finally:
      self._manager.close()

  # -------------------------------------------------------------- restore --

  def _read_metadata(self, step: int) -> tuple[dict[str, tuple], dict]:
    """The saved arrays' ``{path: (shape, dtype)}`` and the JSON record."""
    metadata = self._manager.item_metadata(step)
    tree = metadata["state"]
    tree = getattr(tree, "tree", tree)
    if tree is None:
      raise ValueError("no array metadata")
    shapes = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(
        tree, is_leaf=_is_leaf_metadata)[0]:
      if _is_leaf_metadata(leaf):
        shapes[_path_name(path)] = (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
    record = self._manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    if not isinstance(record, dict) or record.get("step") != step:
      raise ValueError(f"its record is {record!r}")
    return shapes, record

  def _move_aside(self, step: int) -> str:
    target = os.path.join(self.damaged_directory, str(step))
    if jax.process_index() == 0:
      os.makedirs(self.damaged_directory, exist_ok=True)
      if os.path.exists(target):
        shutil.rmtree(target)
      shutil.move(os.path.join(self.directory, str(step)), target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"gans_jax_move_aside_{step}")
    self._manager.reload()
    return target

  def restore(self, step: int, like: Any) -> tuple[Any, dict]:
    """Restores checkpoint ``step`` into the structure of ``like``, changing
    nothing on disk (another process may be training in the workdir).

    Returns:
      ``(state, record)``.

    Raises:
      CheckpointError: there is no checkpoint ``step``, it does not match
        ``like``, or it cannot be read.
    """
    steps = self.all_steps()
    name = os.path.join(self.directory, str(step))
    if step not in steps:
      raise CheckpointError(
          f"no checkpoint {step} in {self.directory} (steps: "
          f"{', '.join(map(str, steps)) or 'none'})")
    try:
      saved, record = self._read_metadata(step)
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(f"checkpoint {name} cannot be read "
                            f"({_one_line(e)})") from None
    differences = structure_differences(saved, _shapes(like))
    if differences:
      raise CheckpointError(f"checkpoint {name} does not fit the state of its "
                            f"config ({'; '.join(differences)})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    try:
      state = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract)))["state"]
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(f"checkpoint {name} cannot be read "
                            f"({_one_line(e)})") from None
    return state, record

  def restore_latest(self, like: Any) -> tuple[int, Any, dict] | None:
    """Restores the newest readable checkpoint into the structure of ``like``.

    Returns:
      ``(step, state, record)``, or ``None`` when there is no checkpoint.

    Raises:
      CheckpointError: the checkpoints do not match ``like`` (another
        architecture, width or dtype), or none of them can be read.
    """
    steps = self.all_steps()
    if not steps:
      return None
    current = _shapes(like)
    damaged = []
    for step in reversed(steps):
      name = os.path.join(self.directory, str(step))
      try:
        saved, record = self._read_metadata(step)
      except Exception as e:  # pylint: disable=broad-except
        damaged.append((step, e))
        continue
      differences = structure_differences(saved, current)
      if differences:
        raise CheckpointError(
            f"checkpoint {name} does not fit the state being trained "
            f"({'; '.join(differences)}): the config changed the model; use a "
            "new --workdir, or start over in this one")
      abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
      try:
        state = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))["state"]
      except Exception as e:  # pylint: disable=broad-except
        damaged.append((step, e))
        continue
      for bad, error in damaged:
        target = self._move_aside(bad)
        self._report(f"checkpoint {bad} cannot be read "
                     f"({_one_line(error)}); moved to {target}; resuming from "
                     f"step {step}")
      return step, state, record
    names = ", ".join(str(s) for s, _ in damaged)
    raise CheckpointError(
        f"no checkpoint in {self.directory} can be read (steps {names}; "
        f"newest: {_one_line(damaged[0][1])}); move the folder aside to start "
        "over, or restore it from a copy")


def _one_line(error: BaseException, limit: int = 160) -> str:
  text = " ".join(f"{type(error).__name__}: {error}".split())
  return text if len(text) <= limit else text[:limit - 3] + "..."
