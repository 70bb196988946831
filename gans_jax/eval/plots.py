"""Figures: training curves from ``metrics.jsonl``, the 2-D toy picture and
samples of low-dimensional distributions.

Matplotlib is imported inside each function, with the non-interactive Agg
backend, so importing this module costs nothing and works without a display.
"""

from collections.abc import Callable, Sequence
import json
import math
import os

import numpy as np


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, out_png: str | os.PathLike) -> None:
  """Lays ``fig`` out, writes it as a PNG (making its folder) and closes it."""
  fig.tight_layout()
  directory = os.path.dirname(os.fspath(out_png))
  if directory:
    os.makedirs(directory, exist_ok=True)
  fig.savefig(out_png, format="png", dpi=100)
  _pyplot().close(fig)


def _read_metrics(path: str | os.PathLike, keys: Sequence[str]):
  """Returns {key: (steps, values)} for the records that carry each key."""
  series = {key: ([], []) for key in keys}
  available = set()
  with open(path) as f:
    for line_number, line in enumerate(f, start=1):
      line = line.strip()
      if not line:
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{line_number} is not valid JSON: {e}") from e
      if not isinstance(record, dict) or "step" not in record:
        raise ValueError(f"{path}:{line_number} is not a JSON object with a 'step'.")
      available.update(record)
      for key in keys:
        if key in record and record[key] is not None:
          series[key][0].append(float(record["step"]))
          series[key][1].append(float(record[key]))
  missing = [key for key in keys if not series[key][0]]
  if missing:
    raise ValueError(
        f"metrics {missing} do not appear in {path}; available: "
        f"{sorted(available - {'step'})}.")
  return series


def plot_metrics(metrics_jsonl_path: str | os.PathLike, keys: Sequence[str],
                 out_png: str | os.PathLike, *, title: str | None = None) -> None:
  """Plots chosen metrics against the training step, one panel per metric.

  Reads a ``metrics.jsonl`` file (one JSON object per line, each with a
  ``'step'`` and any metrics logged at that step) and draws each metric of
  ``keys`` in its own panel over a shared step axis, e.g. the WGAN critic's
  Wasserstein estimate over training (Arjovsky et al., Fig. 3).

  Args:
    metrics_jsonl_path: the ``metrics.jsonl`` file.
    keys: names of the metrics to draw, at least one; each must appear in
      at least one record.
    out_png: the output PNG path; its directory is created when missing.
    title: optional figure title.
  """
  if isinstance(keys, str):
    keys = [keys]
  keys = list(keys)
  if not keys:
    raise ValueError("keys must name at least one metric.")
  series = _read_metrics(metrics_jsonl_path, keys)
  plt = _pyplot()
  fig, axes = plt.subplots(len(keys), 1, sharex=True, squeeze=False,
                           figsize=(6.4, 1.2 + 2.0 * len(keys)))
  for ax, key in zip(axes[:, 0], keys):
    steps, values = series[key]
    ax.plot(steps, values, linewidth=1.0)
    ax.set_ylabel(key)
    ax.grid(True, alpha=0.3)
  axes[-1, 0].set_xlabel("step")
  if title:
    fig.suptitle(title)
  _save(fig, out_png)


def _as_points(x, name: str) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] == 0:
    raise ValueError(f"{name} must be [N, 2] with N > 0, got shape {x.shape}.")
  return x


def plot_toy_2d(out_png: str | os.PathLike, real, generated, *,
                critic_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                extent: Sequence[float] | None = None,
                title: str | None = None, grid_size: int = 128) -> None:
  """The WGAN-GP toy figure: real and generated points over critic contours.

  Args:
    out_png: the output PNG path; its directory is created when missing.
    real: data points, ``[N, 2]``.
    generated: generator samples, ``[M, 2]``.
    critic_fn: optional function mapping ``[P, 2]`` points to ``[P]`` (or
      ``[P, 1]``) critic scores; its level sets are drawn over ``extent``.
    extent: ``(xmin, xmax, ymin, ymax)``; by default the finite points'
      bounding box with a 10% margin.
    title: optional axes title.
    grid_size: critic evaluations per axis.

  References:
    Gulrajani et al., "Improved Training of Wasserstein GANs",
    arXiv 1704.00028 (Figure 1 and the toy experiments).
  """
  real = _as_points(real, "real")
  generated = _as_points(generated, "generated")
  if extent is None:
    points = np.concatenate([real, generated])
    points = points[np.all(np.isfinite(points), axis=1)]
    if points.shape[0] == 0:
      raise ValueError("no finite points to set the extent from; pass extent.")
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.1 * np.maximum(high - low, 1e-3)
    extent = (low[0] - margin[0], high[0] + margin[0],
              low[1] - margin[1], high[1] + margin[1])
  extent = tuple(float(e) for e in extent)
  if (len(extent) != 4 or not all(math.isfinite(e) for e in extent)
      or extent[0] >= extent[1] or extent[2] >= extent[3]):
    raise ValueError(
        f"extent must be finite (xmin, xmax, ymin, ymax) with xmin < xmax and "
        f"ymin < ymax, got {extent}.")
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6.0, 6.0))
  if critic_fn is not None:
    xs = np.linspace(extent[0], extent[1], grid_size)
    ys = np.linspace(extent[2], extent[3], grid_size)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    scores = np.asarray(critic_fn(grid), dtype=np.float64)
    if scores.size != grid.shape[0]:
      plt.close(fig)
      raise ValueError(
          f"critic_fn must map [P, 2] points to P scores; for P={grid.shape[0]} "
          f"it returned shape {scores.shape}.")
    contours = ax.contour(grid_x, grid_y, scores.reshape(grid_x.shape),
                          levels=12, cmap="viridis", linewidths=0.8)
    fig.colorbar(contours, ax=ax, shrink=0.8, label="critic")
  ax.scatter(real[:, 0], real[:, 1], s=6, c="tab:orange", marker="+",
             label="real", alpha=0.8)
  ax.scatter(generated[:, 0], generated[:, 1], s=6, c="tab:green", marker="+",
             label="generated", alpha=0.8)
  ax.set_xlim(extent[0], extent[1])
  ax.set_ylim(extent[2], extent[3])
  ax.set_aspect("equal")
  ax.legend(loc="upper right", markerscale=3)
  if title:
    ax.set_title(title)
  _save(fig, out_png)


def plot_points(out_png: str | os.PathLike, points, *, title: str | None = None,
                bins: int = 100) -> None:
  """Samples of a low-dimensional distribution: a histogram of ``[N, 1]``
  points (density-normalised), a scatter plot of ``[N, 2]`` points.

  Raises:
    ValueError: ``points`` is not ``[N, 1]`` or ``[N, 2]`` with N > 0.
  """
  points = np.asarray(points, dtype=np.float64)
  if points.ndim != 2 or points.shape[1] not in (1, 2) or points.shape[0] == 0:
    raise ValueError(f"points must be [N, 1] or [N, 2] with N > 0, got shape "
                     f"{points.shape}.")
  points = points[np.all(np.isfinite(points), axis=1)]
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6.0, 4.5 if points.shape[1] == 1 else 6.0))
  if points.shape[1] == 1:
    ax.hist(points[:, 0], bins=bins, density=True, color="tab:green", alpha=0.8)
    ax.set_ylabel("density")
  else:
    ax.scatter(points[:, 0], points[:, 1], s=6, c="tab:green", marker="+")
    ax.set_aspect("equal")
  if title:
    ax.set_title(title)
  _save(fig, out_png)
