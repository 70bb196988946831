"""Per-image preprocessing shared by every image dataset.

An image becomes float32 ``(H, W, C)`` in ``[-1, 1]``: integer pixels are
scaled by their dtype's maximum, floats are taken to be in ``[-1, 1]``
already; a non-square image is centre-cropped to a square (for CelebA's
218x178 this is the usual central 178x178 crop), resized with PIL's bilinear
filter (antialiased when shrinking) and converted to 1 or 3 channels.
"""

from __future__ import annotations

import numpy as np

CHANNELS = (1, 3)
# ITU-R BT.601 luma, the weights PIL uses for RGB -> L.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_image_size(image_size: int, allowed=None) -> int:
  """Validates ``image_size``: a positive int, one of ``allowed`` if given."""
  if (isinstance(image_size, bool)
      or not isinstance(image_size, (int, np.integer)) or image_size < 1):
    raise ValueError(f"image_size must be a positive int, got {image_size!r}")
  if allowed is not None and image_size not in allowed:
    raise ValueError(
        f"image_size must be one of {tuple(allowed)}, got {image_size!r}")
  return int(image_size)


def check_channels(channels: int) -> int:
  """Validates ``channels``: 1 (grey) or 3 (RGB)."""
  if channels not in CHANNELS:
    raise ValueError(f"channels must be 1 or 3, got {channels!r}")
  return int(channels)


def to_float(image: np.ndarray) -> np.ndarray:
  """Pixels to float32 in ``[-1, 1]``; adds a channel axis to ``(H, W)``."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3:
    raise ValueError(f"an image must be (H, W) or (H, W, C), got {image.shape}")
  if np.issubdtype(image.dtype, np.integer):
    top = float(np.iinfo(image.dtype).max)
    return image.astype(np.float32) * (2.0 / top) - 1.0
  return image.astype(np.float32)


def center_crop_square(image: np.ndarray) -> np.ndarray:
  """The central ``min(H, W)`` square of an ``(H, W, C)`` image."""
  height, width = image.shape[:2]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  return image[top:top + side, left:left + side]


def resize(image: np.ndarray, image_size: int) -> np.ndarray:
  """Bilinear resize of an ``(H, W, C)`` image to ``image_size`` square.

  uint8 images with 1 or 3 channels are resized in one call in PIL's native
  8-bit modes (fast); anything else channel by channel in float32.
  """
  if image.shape[0] == image.shape[1] == image_size:
    return image
  from PIL import Image  # pylint: disable=g-import-not-at-top
  size = (image_size, image_size)
  if image.dtype == np.uint8 and image.shape[-1] in (1, 3):
    planes = image[..., 0] if image.shape[-1] == 1 else image
    out = np.asarray(Image.fromarray(np.ascontiguousarray(planes))
                     .resize(size, Image.BILINEAR))
    return out.reshape(image_size, image_size, image.shape[-1])
  channels = [
      np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c],
                                                      dtype=np.float32))
                 .resize(size, Image.BILINEAR))
      for c in range(image.shape[-1])]
  return np.stack(channels, axis=-1)


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """Grey <-> RGB conversion of a float ``(H, W, C)`` image; drops alpha."""
  have = image.shape[-1]
  if have in (2, 4):  # grey + alpha, RGB + alpha
    image, have = image[..., :have - 1], have - 1
  if have == channels:
    return image
  if have == 1 and channels == 3:
    return np.repeat(image, 3, axis=-1)
  if have == 3 and channels == 1:
    return (image @ _LUMA)[..., None].astype(np.float32)
  raise ValueError(f"cannot convert {have} channels to {channels}")


def preprocess_image(
    image: np.ndarray, *, image_size: int, channels: int) -> np.ndarray:
  """One image to float32 ``(image_size, image_size, channels)`` in [-1, 1].

  Args:
    image: ``(H, W)`` or ``(H, W, C)``, integer pixels or floats in [-1, 1].
    image_size: output height and width.
    channels: 1 (grey) or 3 (RGB).

  Returns:
    The preprocessed image.
  """
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  image = center_crop_square(image)
  if image.dtype == np.uint8 and image.shape[-1] in (1, 3):
    image = resize(image, image_size)  # the fast 8-bit path
  image = to_float(image)
  # Reduce channels before resizing and add them after: fewer planes to resize.
  if channels == 1:
    image = convert_channels(image, 1)
  image = convert_channels(resize(image, image_size), channels)
  return np.clip(image, -1.0, 1.0).astype(np.float32, copy=False)
