"""CycleGAN's image pool: the official query rule, traced step by step
against a plain-Python pool that consumes the same random draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans_jax.train.image_pool import ImagePool

_query = jax.jit(lambda pool, images, key: pool.query(images, key))


class _ListPool:
  """The official loop over a Python list, with draws from the documented
  keys: image i uses split(key, B)[i] = (coin key, slot key)."""

  def __init__(self, size):
    self.size, self.images = size, []

  def query(self, images, key):
    returned = []
    for image, image_key in zip(images, jax.random.split(key, len(images))):
      coin_key, slot_key = jax.random.split(image_key)
      if len(self.images) < self.size:
        self.images.append(image)
        returned.append(image)
      elif float(jax.random.uniform(coin_key)) > 0.5:
        slot = int(jax.random.randint(slot_key, (), 0, self.size))
        returned.append(self.images[slot])
        self.images[slot] = image
      else:
        returned.append(image)
    return np.stack(returned)


def _numbered_images(first, count):
  """Images (count, 2, 2, 1) whose pixels all equal their number."""
  ids = np.arange(first, first + count, dtype=np.float32)
  return np.broadcast_to(ids[:, None, None, None], (count, 2, 2, 1)).copy()


def _ids(images):
  return np.asarray(images)[:, 0, 0, 0].astype(int).tolist()


@pytest.mark.parametrize("size,batch", [(5, 1), (50, 1), (7, 3), (50, 3)])
@pytest.mark.slow
def test_pool_matches_the_official_loop_query_by_query(size, batch):
  pool, reference = ImagePool.create(size, (2, 2, 1)), _ListPool(size)
  key = jax.random.key(size * 10 + batch)
  swaps = passes = 0
  for step in range(120):
    images = _numbered_images(step * batch, batch)
    step_key = jax.random.fold_in(key, step)
    pool, returned = _query(pool, jnp.asarray(images), step_key)
    expected = reference.query(images, step_key)
    assert _ids(returned) == _ids(expected), f"query {step}"
    assert int(pool.count) == len(reference.images)
    assert _ids(pool.images[:int(pool.count)]) == _ids(reference.images), (
        f"slots after query {step}")
    if len(reference.images) == size:
      new = set(_ids(images))
      swaps += sum(i not in new for i in _ids(returned))
      passes += sum(i in new for i in _ids(returned))
  # Both branches of the full pool were taken, about equally often.
  assert 0.3 < swaps / (swaps + passes) < 0.7


def test_filling_pool_returns_its_inputs_and_stores_them_in_order():
  pool = ImagePool.create(10, (2, 2, 1))
  key = jax.random.key(0)
  for step in range(2):
    images = _numbered_images(4 * step, 4)
    pool, returned = _query(pool, jnp.asarray(images), key)
    np.testing.assert_array_equal(returned, images)
  assert int(pool.count) == 8
  assert _ids(pool.images[:8]) == list(range(8))
  # Two more fill the pool exactly; they too come back unchanged.
  pool, returned = pool.query(jnp.asarray(_numbered_images(8, 2)), key)
  assert int(pool.count) == 10 and _ids(returned) == [8, 9]
  assert _ids(pool.images) == list(range(10))


def test_size_zero_pool_returns_images_unchanged():
  pool = ImagePool.create(0, (2, 2, 1))
  images = jnp.asarray(_numbered_images(0, 3))
  new_pool, returned = pool.query(images, jax.random.key(0))
  assert returned is images
  assert new_pool.images.shape == (0, 2, 2, 1) and int(new_pool.count) == 0


def test_pool_holds_values_not_gradients_and_checks_shapes():
  pool = ImagePool.create(2, (2, 2, 1))
  images = jnp.asarray(_numbered_images(0, 3))
  grad = jax.grad(
      lambda x: jnp.sum(pool.query(x, jax.random.key(0))[1]))(images)
  np.testing.assert_array_equal(grad, np.zeros_like(images))
  with pytest.raises(ValueError, match="do not fit"):
    pool.query(jnp.zeros((1, 3, 2, 1)), jax.random.key(0))
  with pytest.raises(ValueError, match="size"):
    ImagePool.create(-1, (2, 2, 1))
  # A pytree: it passes through jit and tree maps as arrays.
  assert len(jax.tree.leaves(pool)) == 2
