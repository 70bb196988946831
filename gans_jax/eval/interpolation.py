"""Latent interpolation: linear and spherical paths, and an animated GIF.

A generator's latent space is shown by decoding the frames of a path
between two latents: :func:`lerp`, the straight line, or :func:`slerp`, the
great circle, which for Gaussian latents in high dimension keeps the frames
at the norm typical of the prior (a straight line between two such points
passes through lower-norm codes the generator rarely saw). For a VAE the
endpoints are the encoder means of two real images,
:math:`\\mu_c = (1 - w)\\mu_a + w \\mu_b`, :math:`w = k / (n - 1)`.

Every path has ``num`` frames stacked first, the first exactly ``a`` and
the last exactly ``b``; a batch of pairs ``(B, D)`` gives ``(num, B, D)``.

References:
  White, Sampling Generative Networks, 2016 (arXiv 1609.04468); Shoemake,
  Animating rotation with quaternion curves, SIGGRAPH 1985.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = ["interpolation_weights", "lerp", "save_gif", "slerp"]


def interpolation_weights(num: int) -> Array:
  """The weights :math:`w_k = k / (n - 1)`, ``k = 0 .. num - 1``: 0 and 1
  included."""
  if isinstance(num, bool) or not isinstance(num, int) or num < 2:
    raise ValueError(f"an interpolation needs num >= 2 frames, got {num!r}")
  return jnp.arange(num, dtype=jnp.float32) / (num - 1)


def _endpoints(a: ArrayLike, b: ArrayLike, name: str) -> tuple[Array, Array]:
  a = jnp.asarray(a)
  b = jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"{name}: both endpoints must have the same shape, got "
                     f"{a.shape} and {b.shape}")
  dtype = jnp.result_type(a.dtype, b.dtype, jnp.float32)
  return a.astype(dtype), b.astype(dtype)


def _pin_endpoints(frames: Array, a: Array, b: Array) -> Array:
  # Rounding in the formulas can move the ends by an ulp; the path must
  # start and end on the given latents exactly.
  return frames.at[0].set(a).at[-1].set(b)


def lerp(a: ArrayLike, b: ArrayLike, num: int) -> Array:
  r"""Linear interpolation from ``a`` to ``b`` in ``num`` frames.

  .. math::
    x_k = (1 - w_k)\, a + w_k\, b, \qquad w_k = \frac{k}{n - 1}

  Args:
    a: the first endpoint, any shape (e.g. ``(D,)`` or a batch ``(B, D)``).
    b: the last endpoint, same shape.
    num: number of frames ``n >= 2``, both endpoints included.

  Returns:
    ``(num, *a.shape)`` frames; frame 0 is ``a`` and frame ``num - 1`` is
    ``b``, exactly.
  """
  a, b = _endpoints(a, b, "lerp")
  w = interpolation_weights(num).astype(a.dtype).reshape((num,) + (1,) * a.ndim)
  return _pin_endpoints((1.0 - w) * a + w * b, a, b)


def slerp(a: ArrayLike, b: ArrayLike, num: int, *,
          epsilon: float = 1e-7) -> Array:
  r"""Spherical interpolation from ``a`` to ``b`` in ``num`` frames.

  .. math::
    x_k = \frac{\sin((1 - w_k)\,\Omega)}{\sin \Omega}\, a
        + \frac{\sin(w_k\, \Omega)}{\sin \Omega}\, b, \qquad
    \cos \Omega = \frac{a^\top b}{\lVert a \rVert \lVert b \rVert}

  along the last axis, each pair separately. For endpoints of equal norm
  every frame has that norm (the path is an arc of a great circle); for
  unequal norms the norm moves smoothly between them. Nearly parallel
  endpoints (:math:`\sin \Omega < \epsilon`) fall back to :func:`lerp`;
  opposite endpoints have no unique great circle and are not supported.

  Args:
    a: the first endpoint, ``(D,)`` or a batch ``(..., D)``.
    b: the last endpoint, same shape.
    num: number of frames ``n >= 2``, both endpoints included.
    epsilon: the threshold on :math:`\sin \Omega` for the linear fallback.

  Returns:
    ``(num, *a.shape)`` frames; frame 0 is ``a`` and frame ``num - 1`` is
    ``b``, exactly.

  References:
    White, Sampling Generative Networks, 2016 (arXiv 1609.04468).
  """
  a, b = _endpoints(a, b, "slerp")
  if a.ndim < 1:
    raise ValueError("slerp needs vectors (..., D), got scalars")
  w = interpolation_weights(num).astype(a.dtype).reshape((num,) + (1,) * a.ndim)
  norms = jnp.linalg.norm(a, axis=-1, keepdims=True) * jnp.linalg.norm(
      b, axis=-1, keepdims=True)
  cosine = jnp.sum(a * b, axis=-1, keepdims=True) / jnp.maximum(norms, 1e-30)
  omega = jnp.arccos(jnp.clip(cosine, -1.0, 1.0))
  sine = jnp.sin(omega)
  parallel = sine < epsilon
  safe_sine = jnp.where(parallel, 1.0, sine)
  spherical = (jnp.sin((1.0 - w) * omega) * a
               + jnp.sin(w * omega) * b) / safe_sine
  linear = (1.0 - w) * a + w * b
  return _pin_endpoints(jnp.where(parallel, linear, spherical), a, b)


def save_gif(frames: ArrayLike | Sequence[ArrayLike], path: str, *,
             value_range: tuple[float, float] = (-1.0, 1.0),
             frame_ms: int = 100, loop: bool = True) -> str:
  """Writes images as an animated GIF, one image per frame.

  Args:
    frames: ``(T, H, W)``, ``(T, H, W, 1)`` or ``(T, H, W, 3)`` images, e.g.
      one interpolation decoded, or one image grid
      (:func:`gans_jax.eval.images.image_grid`) per step.
    path: the ``.gif`` file to write.
    value_range: the pixel values shown as black and white (clipped to it):
      ``(-1, 1)`` for generators with a tanh output, ``(0, 1)`` for
      sigmoid ones.
    frame_ms: how long each frame is shown, in milliseconds.
    loop: repeat forever (else play once).

  Returns:
    ``path``.
  """
  from PIL import Image  # pylint: disable=import-outside-toplevel

  frames = np.asarray(frames, dtype=np.float32)
  if frames.ndim == 4 and frames.shape[-1] == 1:
    frames = frames[..., 0]
  if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
    raise ValueError(f"save_gif expects (T, H, W[, 1 or 3]) frames, got "
                     f"{frames.shape}")
  low, high = value_range
  if not high > low:
    raise ValueError(f"value_range must be (low, high) with high > low, got "
                     f"{value_range}")
  pixels = np.round(255.0 * np.clip((frames - low) / (high - low), 0.0, 1.0))
  images = [Image.fromarray(p.astype(np.uint8)) for p in pixels]
  options = {"loop": 0} if loop else {}
  images[0].save(path, save_all=True, append_images=images[1:],
                 duration=frame_ms, **options)
  return path
