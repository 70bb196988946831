"""PacGAN's packing: which samples share a pack, and the wrapped discriminators."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans_jax.nn import DCGANDiscriminator, MLPDiscriminator
from gans_jax.nn import packing as packing_lib
from gans_jax.nn.packing import Packed, pack, unpack


def _labelled_images(n, height=2, width=3, channels=3):
  # Every entry of sample i encodes i, so a pack's channels name its samples.
  ids = np.arange(n, dtype=np.float32)
  offsets = np.arange(height * width * channels, dtype=np.float32) / 1000
  return ids[:, None] + offsets[None, :], ids


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_each_pack_holds_m_distinct_consecutive_samples(m):
  flat, ids = _labelled_images(4 * m)
  images = flat.reshape(4 * m, 2, 3, 3)
  packed = np.asarray(pack(images, m))
  assert packed.shape == (4, 2, 3, 3 * m)
  seen = []
  for k in range(4):
    members = [packed[k, 0, 0, 3 * j] for j in range(m)]
    # Channels j*C .. j*C + C - 1 are sample k*m + j, whole and in order.
    assert members == [k * m + j for j in range(m)]
    for j in range(m):
      np.testing.assert_array_equal(packed[k, ..., 3 * j:3 * j + 3],
                                    images[k * m + j])
    seen += members
  # No sample paired with itself, none left out, none used twice.
  assert sorted(seen) == list(ids)


@pytest.mark.parametrize("m", [2, 3])
def test_concatenated_real_and_fake_batches_never_share_a_pack(m):
  batch = 5 * m
  real = np.zeros((batch, 4), np.float32)
  fake = np.ones((batch, 4), np.float32)
  packed = np.asarray(pack(np.concatenate([real, fake]), m))
  assert packed.shape == (10, 4 * m)
  np.testing.assert_array_equal(packed[:5], 0.0)
  np.testing.assert_array_equal(packed[5:], 1.0)


def test_vectors_pack_to_m_times_their_width_and_unpack_back():
  x = jax.random.normal(jax.random.key(0), (12, 2))
  packed = pack(x, 3)
  assert packed.shape == (4, 6)
  np.testing.assert_array_equal(packed[1], np.concatenate(x[3:6]))
  np.testing.assert_array_equal(unpack(packed, 3), x)
  images = jax.random.normal(jax.random.key(1), (8, 4, 4, 3))
  np.testing.assert_array_equal(unpack(pack(images, 4), 4), images)


def test_packing_refuses_a_batch_it_cannot_split():
  with pytest.raises(ValueError, match="multiple of the packing"):
    pack(jnp.zeros((5, 2)), 2)
  with pytest.raises(ValueError, match="packing must be"):
    pack(jnp.zeros((4, 2)), 0)
  with pytest.raises(ValueError, match="multiple of the packing"):
    unpack(jnp.zeros((4, 5)), 2)


@pytest.mark.slow
def test_packed_dcgan_discriminator_scores_packs_of_stacked_digits():
  m = 2
  inner = DCGANDiscriminator(image_size=32, channels=3 * m, features=8,
                             norm=None, rngs=nnx.Rngs(0))
  discriminator = Packed(inner, packing=m)
  real = jax.random.uniform(jax.random.key(1), (4 * m, 32, 32, 3),
                            minval=-1, maxval=1)
  fake = jax.random.uniform(jax.random.key(2), (4 * m, 32, 32, 3),
                            minval=-1, maxval=1)
  real_scores = discriminator(real)
  assert real_scores.shape == (4,)
  np.testing.assert_allclose(real_scores, inner(pack(real, m)), rtol=1e-6)
  # One call on the concatenation scores the same packs as two calls.
  both = discriminator(jnp.concatenate([real, fake]))
  np.testing.assert_allclose(
      both, jnp.concatenate([real_scores, discriminator(fake)]), rtol=1e-5,
      atol=1e-6)
  # Gradients reach every sample of a pack.
  grad = jax.grad(lambda x: jnp.sum(discriminator(x)))(real)
  assert bool(jnp.all(jnp.any(grad != 0, axis=(1, 2, 3))))


def test_packed_mlp_discriminator_for_2d_toys_and_train_eval_reach_it():
  inner = MLPDiscriminator(2 * 4, hidden=(16,), maxout_pieces=None,
                           dropout=0.5, input_dropout=0.0, rngs=nnx.Rngs(0))
  discriminator = Packed(inner, packing=4)
  x = jax.random.normal(jax.random.key(3), (12, 2))
  discriminator.eval()
  assert inner.dropouts[0].deterministic
  scores = discriminator(x)
  assert scores.shape == (3,)
  discriminator.train()
  assert not inner.dropouts[0].deterministic
  # rngs reach the wrapped module's dropout.
  assert discriminator(x, rngs=jax.random.key(4)).shape == (3,)


def test_packed_with_m_1_is_the_discriminator_itself():
  inner = MLPDiscriminator(2, hidden=(8,), maxout_pieces=None, dropout=0.0,
                           input_dropout=0.0, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(5), (6, 2))
  np.testing.assert_array_equal(Packed(inner, packing=1)(x), inner(x))


def test_packed_refuses_labels():
  inner = MLPDiscriminator(4, hidden=(8,), maxout_pieces=None, dropout=0.0,
                           input_dropout=0.0, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="unconditional"):
    Packed(inner, packing=2)(jnp.zeros((4, 2)), jnp.zeros((4,), jnp.int32))


@pytest.mark.slow
def test_pacgan_discriminator_step_with_instance_noise_runs_under_jit():
  # The pieces as a PacGAN step uses them: stacked digits, a packed DCGAN
  # discriminator with BatchNorm scoring reals and fakes in one call, and
  # annealed instance noise, differentiated under jit.
  from gans_jax import losses, noise
  from gans_jax.data import StackedDigitsBatches
  m, packs = 2, 4
  discriminator = Packed(
      DCGANDiscriminator(image_size=32, channels=3 * m, features=8,
                         rngs=nnx.Rngs(0)), packing=m)
  graphdef, state = nnx.split(discriminator)
  real = StackedDigitsBatches(batch_size=packs * m, seed=0).get_batch(0)["image"]
  fake = jax.random.uniform(jax.random.key(1), real.shape, minval=-1, maxval=1)

  @jax.jit
  def loss_and_grad(state, step):
    def loss_fn(state):
      std = noise.instance_noise_std(step, initial=0.1, anneal_steps=10)
      noisy_real, noisy_fake = noise.add_instance_noise_to_pair(
          real, fake, jax.random.fold_in(jax.random.key(2), step), std)
      model = nnx.merge(graphdef, state, copy=True)
      scores = model(jnp.concatenate([noisy_real, noisy_fake]))
      return jnp.mean(losses.discriminator_minimax_loss(scores[:packs],
                                                        scores[packs:]))
    return jax.value_and_grad(loss_fn)(state)

  for step in (0, 10):
    loss, grads = loss_and_grad(state, jnp.int32(step))
    assert np.isfinite(float(loss))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
