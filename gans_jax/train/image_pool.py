"""CycleGAN's image pool (history buffer) as a pure JAX pytree.

The discriminators of CycleGAN are updated with a mix of the newest generated
images and older ones drawn from a buffer of 50 (Shrivastava et al.'s history
buffer), which damps oscillation. :class:`ImagePool` holds that buffer in the
training state, and :meth:`ImagePool.query` is a pure function usable inside
``jax.jit``: it returns a new pool instead of mutating one, and all its
randomness comes from the key it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array

__all__ = ["ImagePool"]


class ImagePool(struct.PyTreeNode):
  """A buffer of up to ``size`` generated images.

  Query rule (the official ``ImagePool.query``), applied to the images of a
  batch one after another: while fewer than ``size`` images are stored, the
  image is stored in the next free slot and returned; once the pool is full,
  with probability 1/2 a uniformly chosen slot's image is returned and the new
  image takes its place, otherwise the new image is returned and the pool is
  unchanged. ``size = 0`` returns the images unchanged.

  Randomness: image ``i`` of a batch uses ``k_i = jax.random.split(key,
  B)[i]``, split again into ``(k_coin, k_slot)``; the swap happens when
  ``jax.random.uniform(k_coin) > 0.5`` (the official ``p > 0.5``) and the slot
  is ``jax.random.randint(k_slot, (), 0, size)``. The draws are made in every
  case, so the same key always gives the same decisions.

  The pool holds values, not gradients: stored and returned images pass
  through ``jax.lax.stop_gradient`` (the official code stores ``.data``).

  Attributes:
    images: the slots, (size, H, W, C); slots ``>= count`` are unused.
    count: number of filled slots, int32 scalar.

  References:
    Zhu et al., 2017, arXiv 1703.10593 (Section 4, "Training details");
    Shrivastava et al., 2017, arXiv 1612.07828 (Section 2.3).
  """

  images: Array
  count: Array

  @classmethod
  def create(cls, size: int, image_shape: Sequence[int],
             dtype: Any = jnp.float32) -> "ImagePool":
    """An empty pool.

    Args:
      size: number of slots (50 in CycleGAN; 0 disables the pool).
      image_shape: shape of one image, (H, W, C).
      dtype: dtype of the stored images.

    Returns:
      The pool, with zero-filled slots and ``count = 0``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
      raise ValueError(f"size must be an int >= 0, got {size!r}")
    return cls(images=jnp.zeros((size, *image_shape), dtype),
               count=jnp.zeros((), jnp.int32))

  @property
  def size(self) -> int:
    """Number of slots (static)."""
    return self.images.shape[0]

  def query(self, images: Array, key: Array) -> tuple["ImagePool", Array]:
    """Exchanges a batch of new images against the pool's history.

    Args:
      images: newly generated images (B, H, W, C).
      key: PRNG key for this query.

    Returns:
      ``(new_pool, returned)``: the updated pool, and the images to show the
      discriminator (B, H, W, C), in the pool's dtype (the input's when
      ``size = 0``).
    """
    if images.shape[1:] != self.images.shape[1:]:
      raise ValueError(f"images of shape {images.shape} do not fit a pool of "
                       f"shape {self.images.shape}")
    if self.size == 0:
      return self, images
    size = self.size
    images = jax.lax.stop_gradient(images).astype(self.images.dtype)

    def one_image(carry, inputs):
      slots, count = carry
      image, image_key = inputs
      coin_key, slot_key = jax.random.split(image_key)
      coin = jax.random.uniform(coin_key)
      slot = jax.random.randint(slot_key, (), 0, size)
      filling = count < size
      swap = jnp.logical_and(jnp.logical_not(filling), coin > 0.5)
      target = jnp.where(filling, count, slot)
      old = slots[target]
      stored = jnp.where(jnp.logical_or(filling, swap), image, old)
      slots = slots.at[target].set(stored)
      returned = jnp.where(swap, old, image)
      return (slots, count + filling.astype(jnp.int32)), returned

    keys = jax.random.split(key, images.shape[0])
    (slots, count), returned = jax.lax.scan(
        one_image, (jax.lax.stop_gradient(self.images), self.count),
        (images, keys))
    return self.replace(images=slots, count=count), returned
