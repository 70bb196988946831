"""Where a run's numbers and pictures go: metrics.jsonl and TensorBoard.

Only process 0 writes; other hosts get a writer that does nothing, so callers
never test the process index themselves.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

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


class MetricWriter:
  """Appends metrics to ``workdir/metrics.jsonl`` and TensorBoard events."""

  def __init__(self, workdir: str, *, tensorboard: bool = True):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      self._file = open(self.path, "a", encoding="utf-8")
      if tensorboard:
        from tensorboardX import SummaryWriter
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

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


def read_metrics(workdir_or_path: str) -> list[dict[str, Any]]:
  """Reads every record of a run's metrics.jsonl."""
  path = workdir_or_path
  if os.path.isdir(path):
    path = os.path.join(path, "metrics.jsonl")
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]
