"""A run's pictures in files: sample grids and plots, and HTML galleries.

Everything here writes files for people to look at; the numbers come from the
metrics modules. One gallery page (:func:`write_gallery`) serves every table
of images: the translated folder of ``--translate``
(:func:`translate_folder`) and the test results of pix2pix and CycleGAN.
"""

from __future__ import annotations

import html
import os
import pathlib
from typing import Any, Callable, Mapping, Sequence
import urllib.parse

import numpy as np

# The most images a sample grid shows (the .npz keeps them all).
SAMPLE_GRID_LIMIT = 256


def write_gallery(directory: str, *, title: str, columns: Sequence[str],
                  rows: Sequence[tuple[str, Sequence[str]]]) -> str:
  """Writes ``directory/index.html``: a table of images, one row per item.

  Args:
    directory: where the page goes; the images' paths are relative to it.
    title: the page's title.
    columns: the header of every column, the label's first.
    rows: ``(label, image paths)`` per row, one path per image column.

  Returns:
    The page's path.
  """
  lines = []
  for label, images in rows:
    cells = "".join(
        f"<td><img src=\"{html.escape(urllib.parse.quote(image), quote=True)}\"></td>"
        for image in images)
    lines.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
  header = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
  path = os.path.join(directory, "index.html")
  with open(path, "w", encoding="utf-8") as f:
    f.write("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head><body>\n<table>\n"
            f"<tr>{header}</tr>\n" + "\n".join(lines)
            + "\n</table>\n</body></html>\n")
  return path


def write_samples(samples: np.ndarray | Mapping[str, np.ndarray], out: str,
                  stem: str, title: str, *,
                  decode: Callable[[np.ndarray], list[str]] | None = None
                  ) -> list[str]:
  """Writes samples as ``OUT/STEM.npz`` and a picture or text of each set.

  Images (``[N, H, W, C]``) become a grid of the first
  :data:`SAMPLE_GRID_LIMIT`; token sequences (``[N, L]`` integers) a text
  file, one sequence a line, as ``decode`` writes them (token ids by
  default); points (``[N, D]`` floats) a scatter plot.

  Args:
    samples: an array, or name -> array (one picture each, ``STEM_NAME.png``).
    out: the folder to write in.
    stem: the files' name without extension.
    title: the plots' title (each set's name is appended).
    decode: token sequences ``(N, L)`` to lines of text.

  Returns:
    The ``.npz`` and then the pictures (or ``.txt`` files).
  """
  from gans_jax.eval import images as image_eval
  from gans_jax.eval import plots

  named = samples if isinstance(samples, dict) else {"": samples}
  paths = [os.path.join(out, f"{stem}.npz")]
  np.savez_compressed(paths[0], **{name or "samples": s for name, s in named.items()})
  for name, s in named.items():
    base = os.path.join(out, f"{stem}_{name}" if name else stem)
    if s.ndim == 2 and np.issubdtype(s.dtype, np.integer):
      lines = (decode(s) if decode is not None
               else [" ".join(map(str, row)) for row in s])
      with open(f"{base}.txt", "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))
      paths.append(f"{base}.txt")
      continue
    if s.ndim == 4:
      image_eval.save_image_grid(f"{base}.png", s[:SAMPLE_GRID_LIMIT])
    else:
      plots.plot_points(f"{base}.png", s, title=f"{title} {name}".strip())
    paths.append(f"{base}.png")
  return paths


def translate_folder(translate: Callable[[Any, Any, Any], Any], state: Any,
                     in_dir: str, out_dir: str, *, image_size: int,
                     channels: int, key) -> list[str]:
  """Translates every image under ``in_dir`` into ``out_dir``.

  The images are read as :func:`gans_jax.data.folder_source` reads a folder
  (recursively, sorted by relative path; ``.png``, ``.jpg``, ``.jpeg``,
  ``.bmp``, ``.webp``, other files ignored), resized and
  converted to ``image_size`` and ``channels`` as the test split is
  (:func:`gans_jax.data.ordered_batches`), and translated one by one, as the
  official test script does: image ``i`` alone, as
  ``translate(state, x_i[None], fold_in(key, i))``. The output of
  ``IN/sub/name.jpg`` is ``OUT/sub/name.png``; the input as translated is
  ``OUT/inputs/sub/name.png``, and ``OUT/index.html`` (:func:`write_gallery`)
  shows each input beside its output.

  Args:
    translate: ``translate(state, images, key)`` (an experiment's
      ``translators(config)[direction]``).
    state: the run's state.
    in_dir: the folder of images.
    out_dir: where to write; created when missing.
    image_size: side of the images the network sees.
    channels: 1 or 3.
    key: the PRNG key of the whole folder.

  Returns:
    The output files, in order.

  Raises:
    gans_jax.data.DataError: ``in_dir`` is missing, holds no image, or a file
      cannot be read (the message names it).
    gans_jax.train.RunError: two inputs would be written to the same file.
  """
  import jax
  from gans_jax import data as gdata
  from gans_jax.eval import images as image_eval
  from gans_jax.train.runs import RunError

  source = gdata.folder_source(in_dir, with_labels=False)
  names = [pathlib.Path(path).relative_to(source.root).with_suffix(".png")
           for path in source.files]
  written = [n.as_posix() for n in names] + [f"inputs/{n.as_posix()}" for n in names]
  clash = next((n for n in written if written.count(n) > 1), None)
  if clash is not None:
    raise RunError(f"two images of {in_dir} would both be written to "
                     f"{os.path.join(out_dir, clash)}; rename one")
  os.makedirs(out_dir, exist_ok=True)
  rows, outputs = [], []
  batches = gdata.ordered_batches(source, batch_size=1, image_size=image_size,
                                  channels=channels)
  for i, (name, batch) in enumerate(zip(names, batches)):
    image = batch["image"]
    translated = np.asarray(translate(state, image, jax.random.fold_in(key, i)))
    output = os.path.join(out_dir, name)
    image_eval.save_image_grid(output, translated, padding=0)
    image_eval.save_image_grid(os.path.join(out_dir, "inputs", name), image,
                               padding=0)
    outputs.append(output)
    rows.append((name.as_posix(), [f"inputs/{name.as_posix()}", name.as_posix()]))
  write_gallery(out_dir, title=str(in_dir), columns=("image", "input", "output"),
                rows=rows)
  return outputs


# ----------------------------------------------------------- interpolation --

INTERPOLATIONS = ("lerp", "slerp")


def interpolate_generator(generator, key, *, pairs: int, steps: int,
                          method: str = "lerp"):
  """Frames of a generator along paths between ``pairs`` random pairs of
  latents: ``--interpolate`` for any generator whose spec's ``inputs`` name a
  ``latent_dim`` (:class:`gans_jax.nn.Generator`).

  The endpoints are drawn as the generator was trained
  (:meth:`gans_jax.nn.Generator.latent`), the path is
  :func:`gans_jax.eval.interpolation.lerp` or ``slerp`` (``method``), and a
  class-conditional generator (``inputs['num_classes']``) keeps one class
  along each path, pair ``i`` a random class.

  Args:
    generator: a :class:`gans_jax.nn.Generator`.
    key: the PRNG key of the endpoints (and classes, and a train-mode
      generator's dropout).
    pairs: number of paths.
    steps: frames per path, both endpoints included.
    method: ``'lerp'`` or ``'slerp'``.

  Returns:
    ``(codes, labels, frames)``: latents ``(steps, pairs, D)``, the class of
    each pair ``(pairs,)`` or None, and outputs ``(steps, pairs, ...)``;
    frame 0 is the generator's output at the first endpoint, the last at the
    second.

  Raises:
    ValueError: the generator takes no latent codes, or ``method`` is unknown.
  """
  import jax
  from gans_jax.eval import interpolation

  if method not in INTERPOLATIONS:
    raise ValueError(f"--interpolation must be one of {INTERPOLATIONS}, got {method!r}")
  key_ends, key_labels, key_call = jax.random.split(key, 3)
  ends = generator.latent(key_ends, 2 * pairs)
  path = {"lerp": interpolation.lerp, "slerp": interpolation.slerp}[method]
  codes = path(ends[:pairs], ends[pairs:], steps)
  num_classes = generator.spec["inputs"].get("num_classes")
  labels = (None if not num_classes else
            jax.random.randint(key_labels, (pairs,), 0, num_classes))
  inputs = [codes.reshape(steps * pairs, -1)]
  if labels is not None:
    inputs.append(np.tile(np.asarray(labels), steps))
  call_key = key_call if generator.spec["mode"] == "train" else None
  frames = np.asarray(generator(*inputs, key=call_key))
  return codes, labels, frames.reshape(steps, pairs, *frames.shape[1:])


def write_interpolation(frames: np.ndarray, out: str, stem: str,
                        **arrays) -> list[str]:
  """Writes frames ``(steps, pairs, ...)`` as ``OUT/STEM.npz`` (``frames``
  and ``arrays``, e.g. the latents) and a picture: for images, ``STEM.png``,
  a row per pair and a column per frame, and ``STEM.gif``, one grid of all
  pairs per frame; for 2-D points, ``STEM.png``, the paths' points.

  Returns:
    The files written.
  """
  from gans_jax.eval import images as image_eval
  from gans_jax.eval import interpolation
  from gans_jax.eval import plots

  frames = np.asarray(frames)
  steps, pairs = frames.shape[:2]
  os.makedirs(out, exist_ok=True)
  paths = [os.path.join(out, f"{stem}.npz"), os.path.join(out, f"{stem}.png")]
  np.savez_compressed(paths[0], frames=frames,
                      **{k: np.asarray(v) for k, v in arrays.items() if v is not None})
  if frames.ndim == 5:
    rows = np.swapaxes(frames, 0, 1).reshape(pairs * steps, *frames.shape[2:])
    image_eval.save_image_grid(paths[1], rows, nrow=steps)
    grids = [image_eval.image_grid(frame, nrow=int(np.ceil(np.sqrt(pairs))))
             for frame in frames]
    paths.append(interpolation.save_gif(np.stack(grids), os.path.join(out, f"{stem}.gif"),
                                        value_range=(0, 255)))
  else:
    plots.plot_points(paths[1], frames.reshape(steps * pairs, -1), title=stem)
  return paths
