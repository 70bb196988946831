"""Image grids: tile a batch of generated images into one picture."""

import math
import os

import numpy as np


def image_grid(images, nrow: int | None = None, *, padding: int = 2,
               pad_value: float = 1.0) -> np.ndarray:
  """Tiles float images in ``[-1, 1]`` into one ``uint8`` grid.

  Pixel values map as :math:`u = \\mathrm{round}(255 \\cdot (\\mathrm{clip}(x,
  -1, 1) + 1) / 2)`. Images fill the grid row by row; the last row may be
  short, its empty cells painted with ``pad_value``.

  Args:
    images: ``[N, H, W, C]`` with ``C`` 1 or 3, floats in ``[-1, 1]``
      (values outside are clipped). A numpy or JAX array.
    nrow: images per row; by default ``ceil(sqrt(N))``, a near-square grid.
    padding: pixels of ``pad_value`` between images and around the border.
    pad_value: colour of the padding, in ``[-1, 1]`` (1 is white).

  Returns:
    ``uint8`` array ``[rows * (H + padding) + padding, nrow * (W + padding) +
    padding, C]``, ready for PIL or TensorBoard (``dataformats='HWC'``).
  """
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] == 0:
    raise ValueError(
        "images must be [N, H, W, C] with N > 0 and C in (1, 3), got shape "
        f"{images.shape}.")
  if not np.issubdtype(images.dtype, np.floating):
    raise ValueError(
        f"images must be floats in [-1, 1], got dtype {images.dtype} "
        f"(shape {images.shape}).")
  if not np.all(np.isfinite(images)):
    raise ValueError(f"images of shape {images.shape} contain non-finite values.")
  n, h, w, c = images.shape
  nrow = math.ceil(math.sqrt(n)) if nrow is None else int(nrow)
  if nrow < 1 or padding < 0:
    raise ValueError(f"nrow must be >= 1 and padding >= 0, got nrow={nrow}, "
                     f"padding={padding}.")
  nrow = min(nrow, n)
  rows = math.ceil(n / nrow)
  grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, c),
                 pad_value, dtype=np.float32)
  for i, image in enumerate(images):
    top = padding + (i // nrow) * (h + padding)
    left = padding + (i % nrow) * (w + padding)
    grid[top:top + h, left:left + w] = image
  return np.round((np.clip(grid, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def save_image_grid(path: str | os.PathLike, images, *, nrow: int | None = None,
                    padding: int = 2, pad_value: float = 1.0) -> None:
  """Writes :func:`image_grid` of ``images`` as a PNG file.

  Grayscale batches (``C = 1``) are written as 8-bit grayscale PNGs, colour
  batches as RGB. The parent directory is created when missing.

  Args:
    path: the output file, normally ending in ``.png``.
    images: ``[N, H, W, C]`` floats in ``[-1, 1]``, ``C`` 1 or 3.
    nrow: images per row; by default a near-square grid.
    padding: pixels between images.
    pad_value: colour of the padding, in ``[-1, 1]``.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top

  grid = image_grid(images, nrow, padding=padding, pad_value=pad_value)
  # A 2-D uint8 array becomes mode "L", an [H, W, 3] one mode "RGB".
  picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  directory = os.path.dirname(os.fspath(path))
  if directory:
    os.makedirs(directory, exist_ok=True)
  picture.save(path, format="PNG")
