"""Orbax checkpoints of the training state, keyed by the loop's step.

Each checkpoint holds the state pytree and a small JSON record (the step and
the phase it belongs to). Writes are asynchronous, and a checkpoint is
*verified* before any older one is pruned, so a fault while saving never
leaves a run without a readable checkpoint: once Orbax has committed it, the
size and CRC-32 of each of its files go to ``files.json`` beside them, and
its metadata is read back. A write that fails is a :class:`CheckpointError`
naming the step; the older checkpoints stay.

Restoring takes the newest checkpoint that can be read: one whose files no
longer match ``files.json`` (truncated, missing, overwritten) or that Orbax
cannot read is reported in one line and moved aside to
``checkpoints_damaged/`` (never deleted). A checkpoint whose arrays do not
match the state being restored (another architecture or width) is an error
that names the differing arrays.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zlib
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """No checkpoint can be restored, or one could not be written; the message
  says which and why."""


MANIFEST = "files.json"


def _crc32(path: str) -> int:
  crc = 0
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      crc = zlib.crc32(chunk, crc)
  return crc


def file_digests(directory: str) -> dict[str, list[int]]:
  """``{relative path: [size, crc32]}`` of every file under ``directory``
  except the manifest itself."""
  digests = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      relative = os.path.relpath(path, directory)
      if relative not in (MANIFEST, MANIFEST + ".tmp"):
        digests[relative] = [os.path.getsize(path), _crc32(path)]
  return digests


def write_manifest(directory: str) -> None:
  """Records the size and CRC-32 of the files of a committed checkpoint."""
  digests = file_digests(directory)
  path = os.path.join(directory, MANIFEST)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(digests, f, sort_keys=True)
  os.replace(path + ".tmp", path)


def check_manifest(directory: str) -> None:
  """Raises ValueError naming the first file that differs from the record
  (a checkpoint written without one passes: Orbax's reading checks it)."""
  path = os.path.join(directory, MANIFEST)
  if not os.path.exists(path):
    return
  try:
    with open(path, encoding="utf-8") as f:
      recorded = json.load(f)
  except ValueError:
    raise ValueError(f"its list of files, {MANIFEST}, is damaged") from None
  for relative, (size, crc) in sorted(recorded.items()):
    file = os.path.join(directory, relative)
    if not os.path.isfile(file):
      raise ValueError(f"{relative} is missing")
    if os.path.getsize(file) != size:
      raise ValueError(f"{relative} has {os.path.getsize(file)} bytes, "
                       f"{size} were written")
    if _crc32(file) != crc:
      raise ValueError(f"{relative} changed since it was written (CRC-32)")


class _OrbaxQuiet(logging.Filter):
  """Drops Orbax's log records (it logs every file it fails to parse and
  every failed write, with tracebacks, through absl): the checkpointer
  reports a damaged checkpoint or a failed write itself, in one line."""

  marker = os.sep + "orbax" + os.sep

  def __init__(self):
    super().__init__()
    self.users = 0

  def filter(self, record: logging.LogRecord) -> bool:
    return self.marker not in record.pathname or record.levelno >= logging.CRITICAL


_ORBAX_QUIET = _OrbaxQuiet()


def _quiet_orbax(on: bool) -> None:
  """Installs the filter while any checkpointer is open."""
  logger = logging.getLogger("absl")
  _ORBAX_QUIET.users += 1 if on else -1
  if _ORBAX_QUIET.users > 0:
    logger.addFilter(_ORBAX_QUIET)
  else:
    logger.removeFilter(_ORBAX_QUIET)


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
    _quiet_orbax(True)
    self._manager = _Manager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=None, create=True),
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "meta": ocp.JsonCheckpointHandler()})
    self._unverified: int | None = None
    self._closed = False

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
    and older ones pruned).

    Raises:
      CheckpointError: this or the previous write failed.
    """
    self._finalize()
    meta = dict(meta or {}, step=int(step))
    self._unverified = step
    try:
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                         force=True)
    except Exception as e:  # pylint: disable=broad-except
      self._unverified = None
      raise self._write_error(step, e) from None

  def _write_error(self, step: int, error: BaseException) -> CheckpointError:
    older = [s for s in self.all_steps() if s < step]
    kept = (f"the newest earlier checkpoint, step {older[-1]}, is kept"
            if older else "no earlier checkpoint exists")
    return CheckpointError(
        f"writing checkpoint {step} in {self.directory} failed "
        f"({_one_line(error)}); {kept}")

  def _finalize(self) -> None:
    """Waits for the pending write, records and reads it back, then prunes."""
    step, self._unverified = self._unverified, None
    try:
      self._manager.wait_until_finished()
      if step is None:
        return
      if jax.process_index() == 0:
        write_manifest(os.path.join(self.directory, str(step)))
      if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(f"gans_jax_manifest_{step}")
      self._read_metadata(step)  # raises if the write did not land whole
    except Exception as e:  # pylint: disable=broad-except
      if step is None:
        raise
      raise self._write_error(step, e) from None
    steps = self.all_steps()
    for old in steps[:-self.keep] if len(steps) > self.keep else []:
      if old < step:
        self._manager.delete(old)

  def wait(self) -> None:
    self._finalize()

  def close(self) -> None:
    if self._closed:
      return
    self._closed = True
    try:
      self._finalize()
    finally:
      self._manager.close()
      _quiet_orbax(False)

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
    # A name not taken by an earlier damaged copy of the same step.
    target, n = os.path.join(self.damaged_directory, str(step)), 1
    while os.path.exists(target):
      target, n = os.path.join(self.damaged_directory, f"{step}.{n}"), n + 1
    if jax.process_index() == 0:
      os.makedirs(self.damaged_directory, exist_ok=True)
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
        check_manifest(name)
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
