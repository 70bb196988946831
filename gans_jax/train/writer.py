"""Where a run's numbers and pictures go: metrics.jsonl and TensorBoard.

Only process 0 writes; other hosts get a writer that does nothing, so callers
never test the process index themselves.

A resumed run continues the same files without duplicates: records past the
step it resumes from (written by the interrupted run after its last
checkpoint) are dropped from ``metrics.jsonl``, and TensorBoard is told to
purge its events past that step.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any, Callable, Mapping

import jax
import numpy as np


def _to_python(value: Any) -> Any:
  value = np.asarray(value)
  if value.ndim == 0:
    value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
      return str(value)
    return value
  return value.tolist()


def _parse(line: str) -> dict[str, Any] | None:
  """A record, or None for a blank or partly written line."""
  try:
    record = json.loads(line)
  except ValueError:
    return None
  return record if isinstance(record, dict) and "step" in record else None


def rewrite_metrics(path: str, keep: Callable[[dict[str, Any]], bool]) -> None:
  """Keeps the records of ``path`` for which ``keep`` is true.

  Lines that do not parse (a record cut short when a run was killed) are
  dropped. The file is replaced atomically, so a crash here loses nothing.
  """
  if not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    lines = [line if line.endswith("\n") else line + "\n" for line in f
             if (record := _parse(line)) is not None and keep(record)]
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".metrics.", dir=directory)
  with os.fdopen(fd, "w", encoding="utf-8") as f:
    f.writelines(lines)
  os.replace(tmp, path)


class MetricWriter:
  """Appends metrics to ``workdir/metrics.jsonl`` and TensorBoard events.

  Args:
    workdir: the run's directory.
    tensorboard: also write TensorBoard events.
    resume_step: the step training resumes from: records after it are
      dropped and TensorBoard purges its events after it. ``None`` leaves
      the files as they are (appending).
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True,
               resume_step: int | None = None):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      if resume_step is not None:
        rewrite_metrics(self.path, lambda r: r["step"] <= resume_step)
      self._file = open(self.path, "a", encoding="utf-8")
      if tensorboard:
        from tensorboardX import SummaryWriter
        purge = None if resume_step is None else resume_step + 1
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                                 purge_step=purge)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    record = {"step": int(step)}
    record.update({k: _to_python(v) for k, v in scalars.items()})
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()
    if self._tb is not None:
      for name, value in scalars.items():
        value = np.asarray(value)
        if value.ndim == 0:
          self._tb.add_scalar(name, float(value), int(step))

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """Images as uint8 (H, W, C) arrays."""
    if self.enabled and self._tb is not None:
      for name, image in images.items():
        self._tb.add_image(name, np.asarray(image), int(step), dataformats="HWC")

  def close(self) -> None:
    if self.enabled:
      self._file.close()
      if self._tb is not None:
        self._tb.close()


def replace_results(workdir: str, step: int, results: Mapping[str, Any]) -> None:
  """Writes a run's final numbers as the one record of their kind at ``step``.

  An earlier record at the same step holding only these names (the same
  evaluation, run again after a restart) is replaced, not repeated.
  """
  if jax.process_index() != 0:
    return
  path = os.path.join(workdir, "metrics.jsonl")
  names = set(results) | {"step"}
  rewrite_metrics(path, lambda r: not (r["step"] == step and set(r) <= names))
  writer = MetricWriter(workdir, tensorboard=False)
  writer.write_scalars(step, results)
  writer.close()


def read_metrics(workdir_or_path: str) -> list[dict[str, Any]]:
  """Reads every record of a run's metrics.jsonl (skipping a line that a
  killed run left unfinished)."""
  path = workdir_or_path
  if os.path.isdir(path):
    path = os.path.join(path, "metrics.jsonl")
  with open(path, encoding="utf-8") as f:
    return [r for line in f if (r := _parse(line)) is not None]
