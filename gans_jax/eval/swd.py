"""Sliced Wasserstein distance between image sets on Laplacian-pyramid patches.

The statistical similarity measure of ProGAN (Table 1 of arXiv 1710.10196),
computed as the official ``metrics/sliced_wasserstein.py`` does:

1. each image set is brought to pixel values in [0, 255] (clipped and
   rounded, as the official evaluation stores images as uint8);
2. a Laplacian pyramid is built from the image size down to 16x16 (a
   5x5 binomial filter with mirrored borders, as ``cv2.pyrDown`` /
   ``cv2.pyrUp``); the last level is the low-pass 16x16 image;
3. from every image and level, 128 random 7x7 neighbourhoods are taken
   (all channels);
4. each set's descriptors are normalised per channel by the mean and
   standard deviation over that set (so a per-channel affine change of a
   whole set is invisible to the metric);
5. the sliced Wasserstein distance between the two descriptor sets is
   averaged over 4 repeats of 128 random unit directions, and reported
   ×10³ per pyramid level.

The paper uses 16,384 images per set. Both sets must have the same number
of images, as in the official code.

References:
  Karras, Aila, Laine & Lehtinen, Progressive Growing of GANs for Improved
  Quality, Stability, and Variation, 2018 (arXiv 1710.10196, Section 5.1);
  Rabin, Peyré, Delon & Bernot, Wasserstein Barycenter and its Application
  to Texture Mixing, 2011; Burt & Adelson, The Laplacian Pyramid as a
  Compact Image Code, 1983.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = [
    "laplacian_pyramid",
    "normalize_descriptors",
    "patch_descriptors",
    "pixel_values",
    "pyramid_down",
    "pyramid_up",
    "sliced_wasserstein",
    "sliced_wasserstein_distance",
    "swd_resolutions",
]

# The 5-tap binomial filter of cv2.pyrDown; the 5x5 kernel is its outer
# product with itself.
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0


def pixel_values(images: Array, *, quantize: bool = True) -> Array:
  """Maps images in [-1, 1] to float32 pixel values in [0, 255].

  .. math::
    u = \\mathrm{round}(127.5\\, (\\mathrm{clip}(x, -1, 1) + 1))

  (without rounding and clipping when ``quantize`` is false). With
  ``quantize`` this is the uint8 conversion the official evaluation applies
  to generated images before measuring them.

  Args:
    images: images in [-1, 1], any shape.
    quantize: clip and round to the 256 uint8 levels.

  Returns:
    Float32 pixel values, same shape.
  """
  x = jnp.asarray(images, jnp.float32)
  if quantize:
    return jnp.round((jnp.clip(x, -1.0, 1.0) + 1.0) * 127.5)
  return (x + 1.0) * 127.5


def _filter_axis(x: Array, taps: np.ndarray, axis: int) -> Array:
  """Same-size filtering along ``axis`` with mirrored borders (d c b|a b c)."""
  radius = len(taps) // 2
  pad = [(0, 0)] * x.ndim
  pad[axis] = (radius, radius)
  padded = jnp.pad(x, pad, mode="reflect")
  n = x.shape[axis]
  return sum(float(w) * jax.lax.slice_in_dim(padded, k, k + n, axis=axis)
             for k, w in enumerate(taps))


def pyramid_down(images: Array) -> Array:
  """Gaussian-pyramid reduction of (N, H, W, C) to (N, H/2, W/2, C).

  The 5x5 binomial filter (1, 4, 6, 4, 1)ᵀ(1, 4, 6, 4, 1)/256 with mirrored
  borders, then every second pixel: ``cv2.pyrDown``.
  """
  x = _filter_axis(_filter_axis(images, _BINOMIAL, 1), _BINOMIAL, 2)
  return x[:, ::2, ::2, :]


def pyramid_up(images: Array) -> Array:
  """Gaussian-pyramid expansion of (N, H, W, C) to (N, 2H, 2W, C).

  Zeros are inserted between pixels, then the binomial filter ×4 is applied
  with mirrored borders: ``cv2.pyrUp``.
  """
  n, h, w, c = images.shape
  x = jnp.zeros((n, 2 * h, 2 * w, c), images.dtype)
  x = x.at[:, ::2, ::2, :].set(images)
  return _filter_axis(_filter_axis(x, 2 * _BINOMIAL, 1), 2 * _BINOMIAL, 2)


def laplacian_pyramid(images: Array, num_levels: int) -> list[Array]:
  """Laplacian pyramid of (N, H, W, C) images, finest level first.

  .. math::
    g_0 = x,\\ g_{l+1} = \\mathrm{down}(g_l), \\qquad
    L_l = g_l - \\mathrm{up}(g_{l+1})\\ (l < n - 1), \\quad
    L_{n-1} = g_{n-1}

  Args:
    images: float images (N, H, W, C), H and W divisible by
      :math:`2^{n-1}`.
    num_levels: :math:`n`.

  Returns:
    ``num_levels`` arrays, level ``l`` of shape (N, H/2^l, W/2^l, C).
  """
  if num_levels < 1:
    raise ValueError(f"num_levels must be >= 1, got {num_levels}")
  gaussian = [jnp.asarray(images, jnp.float32)]
  for _ in range(num_levels - 1):
    gaussian.append(pyramid_down(gaussian[-1]))
  return [g - pyramid_up(coarser) for g, coarser in
          zip(gaussian[:-1], gaussian[1:])] + [gaussian[-1]]


def swd_resolutions(image_size: int, *,
                    min_resolution: int = 16) -> tuple[int, ...]:
  """Pyramid level sizes: ``image_size``, halved while >= ``min_resolution``.

  Args:
    image_size: the images' height and width.
    min_resolution: smallest level (16 in the paper).

  Returns:
    The sizes, finest first (e.g. ``(64, 32, 16)`` for 64x64 images).
  """
  sizes = []
  size = image_size
  while size >= min_resolution:
    sizes.append(size)
    if size % 2:
      break
    size //= 2
  if not sizes:
    raise ValueError(f"image_size={image_size} is below min_resolution="
                     f"{min_resolution}")
  return tuple(sizes)


def patch_descriptors(images: Array, centres: Array, *,
                      patch_size: int = 7) -> Array:
  """Cuts square neighbourhoods around given centres.

  Args:
    images: (N, H, W, C).
    centres: integer (N, P, 2) row and column of each neighbourhood's
      centre, at least ``patch_size // 2`` pixels from every border.
    patch_size: odd side of the neighbourhood.

  Returns:
    Descriptors (N * P, patch_size, patch_size, C), image by image.
  """
  radius = patch_size // 2
  c = images.shape[-1]

  def cut(image, centre):
    start = (centre[0] - radius, centre[1] - radius, 0)
    return jax.lax.dynamic_slice(image, start, (patch_size, patch_size, c))

  per_image = jax.vmap(jax.vmap(cut, in_axes=(None, 0)))(images, centres)
  return per_image.reshape(-1, patch_size, patch_size, c)


def normalize_descriptors(descriptors: Array) -> Array:
  """Standardises each channel over a descriptor set and flattens.

  .. math::
    \\hat d_{n,i,j,c} = (d_{n,i,j,c} - \\mu_c) / \\sigma_c

  with :math:`\\mu_c, \\sigma_c` the mean and (population) standard
  deviation over all descriptors and positions of channel :math:`c`.

  Args:
    descriptors: (M, k, k, C).

  Returns:
    (M, k * k * C) float32.
  """
  d = jnp.asarray(descriptors, jnp.float32)
  mean = jnp.mean(d, axis=(0, 1, 2), keepdims=True)
  std = jnp.std(d, axis=(0, 1, 2), keepdims=True)
  return ((d - mean) / std).reshape(d.shape[0], -1)


def _unit_directions(key: Array, dim: int, count: int) -> Array:
  # Drawn flat: XLA:CPU compiles the 1-D sampler much faster.
  d = jax.random.normal(key, (dim * count,), jnp.float32).reshape(dim, count)
  return d / jnp.sqrt(jnp.sum(jnp.square(d), axis=0, keepdims=True))


@functools.partial(jax.jit,
                   static_argnames=("num_repeats", "directions_per_repeat"))
def sliced_wasserstein(a: Array, b: Array, key: Array, *,
                       num_repeats: int = 4,
                       directions_per_repeat: int = 128) -> Array:
  """Sliced Wasserstein-1 distance between two equal-size point sets.

  .. math::
    \\mathrm{SW}(A, B) = \\frac{1}{K} \\sum_{k=1}^{K} \\frac{1}{M}
      \\sum_{m=1}^{M} \\big| (A\\theta_k)_{(m)} - (B\\theta_k)_{(m)} \\big|

  with :math:`\\theta_k` random unit directions and :math:`(\\cdot)_{(m)}`
  the m-th smallest projection; :math:`K` = ``num_repeats`` ×
  ``directions_per_repeat``, drawn and evaluated one repeat at a time.

  Args:
    a: points (M, D).
    b: points (M, D).
    key: PRNG key for the directions.
    num_repeats: number of batches of directions (4 in the paper).
    directions_per_repeat: directions per batch (128 in the paper).

  Returns:
    A float32 scalar.

  References:
    Rabin et al., 2011; Karras et al., 2018, arXiv 1710.10196 (Section 5.1).
  """
  if a.ndim != 2 or a.shape != b.shape:
    raise ValueError(f"a and b must be point sets of the same shape (M, D), "
                     f"got {a.shape} and {b.shape}")
  a = a.astype(jnp.float32)
  b = b.astype(jnp.float32)

  def one_repeat(repeat_key):
    directions = _unit_directions(repeat_key, a.shape[1],
                                  directions_per_repeat)
    projected_a = jnp.sort(a @ directions, axis=0)
    projected_b = jnp.sort(b @ directions, axis=0)
    return jnp.mean(jnp.abs(projected_a - projected_b))

  return jnp.mean(jax.lax.map(one_repeat, jax.random.split(key, num_repeats)))


@functools.partial(jax.jit,
                   static_argnames=("num_levels", "patch_size", "quantize"))
def _chunk_descriptors(images, centres, *, num_levels, patch_size, quantize):
  pyramid = laplacian_pyramid(pixel_values(images, quantize=quantize),
                              num_levels)
  return [patch_descriptors(level, c, patch_size=patch_size)
          for level, c in zip(pyramid, centres)]


def _random_centres(key: Array, num_images: int, patches_per_image: int,
                    size: int, patch_size: int) -> Array:
  # Uniform over the centres whose neighbourhood lies inside the image.
  radius = patch_size // 2
  flat = jax.random.randint(key, (num_images * patches_per_image * 2,),
                            radius, size - radius)
  return flat.reshape(num_images, patches_per_image, 2)


def _set_descriptors(images, key, sizes, *, patches_per_image, patch_size,
                     quantize, batch_size):
  n = images.shape[0]
  centres = [_random_centres(jax.random.fold_in(key, i), n, patches_per_image,
                             size, patch_size)
             for i, size in enumerate(sizes)]
  chunks = []
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    chunks.append(_chunk_descriptors(
        jnp.asarray(images[start:stop]), [c[start:stop] for c in centres],
        num_levels=len(sizes), patch_size=patch_size, quantize=quantize))
  return [normalize_descriptors(jnp.concatenate(level, axis=0))
          for level in zip(*chunks)]


def sliced_wasserstein_distance(
    images_a: Array, images_b: Array, key: Array, *,
    patches_per_image: int = 128, patch_size: int = 7, num_repeats: int = 4,
    directions_per_repeat: int = 128, min_resolution: int = 16,
    batch_size: int = 256, quantize: bool = True) -> Array:
  """ProGAN's sliced Wasserstein distance (×10³) per Laplacian-pyramid level.

  .. math::
    \\mathrm{SWD}_l = 10^3 \\cdot \\mathrm{SW}(\\hat D^A_l, \\hat D^B_l)

  where :math:`\\hat D^X_l` are the per-channel normalised 7x7
  neighbourhoods of level :math:`l` of the Laplacian pyramids of set
  :math:`X` (see the module docstring). Lower is closer; the paper reports
  each level and their average.

  Args:
    images_a: images (N, S, S, C) in [-1, 1] (e.g. real).
    images_b: images of the same shape (e.g. generated).
    key: PRNG key; the neighbourhoods of each set and level and the
      directions of each level use keys folded from it, so the result does
      not depend on ``batch_size``.
    patches_per_image: neighbourhoods per image and level (128).
    patch_size: neighbourhood side (7).
    num_repeats: batches of random directions (4).
    directions_per_repeat: directions per batch (128).
    min_resolution: the coarsest pyramid level (16).
    batch_size: images per compiled pyramid call (memory only).
    quantize: clip and round to uint8 levels first, as the official
      evaluation does.

  Returns:
    Float32 array (num_levels,), finest level first; the level sizes are
    :func:`swd_resolutions` of S.

  Raises:
    ValueError: mismatched or non-square sets, or images smaller than
      ``min_resolution`` or ``patch_size``.

  References:
    Karras et al., 2018, arXiv 1710.10196 (Section 5.1, Table 1); the
    official ``metrics/sliced_wasserstein.py``.
  """
  if images_a.ndim != 4 or images_a.shape != images_b.shape:
    raise ValueError(
        f"images_a and images_b must be (N, S, S, C) sets of the same shape, "
        f"got {images_a.shape} and {images_b.shape}")
  if images_a.shape[1] != images_a.shape[2]:
    raise ValueError(f"images must be square, got {images_a.shape}")
  if patch_size < 1 or patch_size % 2 == 0:
    raise ValueError(f"patch_size must be odd, got {patch_size}")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  sizes = swd_resolutions(images_a.shape[1], min_resolution=min_resolution)
  if sizes[-1] < patch_size or images_a.shape[1] % 2 ** (len(sizes) - 1):
    raise ValueError(
        f"images of size {images_a.shape[1]} cannot give a pyramid down to "
        f"{min_resolution} with {patch_size}x{patch_size} neighbourhoods")
  key_a, key_b, key_directions = jax.random.split(key, 3)
  options = dict(patches_per_image=patches_per_image, patch_size=patch_size,
                 quantize=quantize, batch_size=batch_size)
  descriptors_a = _set_descriptors(images_a, key_a, sizes, **options)
  descriptors_b = _set_descriptors(images_b, key_b, sizes, **options)
  distances = [
      sliced_wasserstein(a, b, jax.random.fold_in(key_directions, i),
                         num_repeats=num_repeats,
                         directions_per_repeat=directions_per_repeat)
      for i, (a, b) in enumerate(zip(descriptors_a, descriptors_b))]
  return 1e3 * jnp.stack(distances)
