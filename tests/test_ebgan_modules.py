"""EBGAN's autoencoder discriminators: energies, codes, and the EBGAN-PT step."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans_jax import losses
from gans_jax.nn import EBGANDiscriminator, EBGANMLPDiscriminator, Packed


@pytest.mark.parametrize("batch_norm", [True, False])
def test_image_energy_is_the_mean_squared_error_of_the_reconstruction(
    batch_norm):
  model = EBGANDiscriminator(image_size=32, channels=3, features=8,
                             batch_norm=batch_norm, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(1), (4, 32, 32, 3), minval=-1,
                         maxval=1)
  model.eval()
  energy, code = model(x)
  reconstruction, same_code = model.reconstruct(x)
  assert energy.shape == (4,) and energy.dtype == jnp.float32
  assert reconstruction.shape == x.shape
  # The code is the flattened bottleneck: (32 / 8)^2 x 4F.
  assert code.shape == (4, 4 * 4 * 32)
  np.testing.assert_array_equal(code, same_code)
  np.testing.assert_allclose(
      energy, np.mean(np.square(np.asarray(reconstruction - x)), axis=(1, 2, 3)),
      rtol=1e-5)
  # Each example's energy is its own: changing one input changes one energy.
  changed = x.at[2].set(0.5 * x[2])
  energy_changed, _ = model(changed)
  np.testing.assert_allclose(energy_changed[:2], energy[:2], rtol=1e-5)
  assert float(energy_changed[2]) != pytest.approx(float(energy[2]))


def test_mlp_energy_and_code_for_2d_points():
  model = EBGANMLPDiscriminator(2, code_dim=3, hidden=(16, 8),
                                rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(2), (5, 2))
  energy, code = model(x)
  reconstruction, _ = model.reconstruct(x)
  assert energy.shape == (5,) and code.shape == (5, 3)
  np.testing.assert_allclose(
      energy, np.mean(np.square(np.asarray(reconstruction - x)), axis=1),
      rtol=1e-5)
  images = EBGANMLPDiscriminator((8, 8, 1), code_dim=4, hidden=(32,),
                                 rngs=nnx.Rngs(1))
  energy, code = images(jnp.zeros((3, 8, 8, 1)))
  assert energy.shape == (3,) and code.shape == (3, 4)


def test_ebgan_discriminators_check_their_inputs():
  model = EBGANDiscriminator(image_size=32, channels=1, features=4,
                             rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="expects images"):
    model(jnp.zeros((2, 32, 32, 3)))
  with pytest.raises(ValueError, match="unconditional"):
    model(jnp.zeros((2, 32, 32, 1)), jnp.zeros((2,), jnp.int32))
  with pytest.raises(ValueError, match="multiple of 8"):
    EBGANDiscriminator(image_size=28, channels=1, rngs=nnx.Rngs(0))


def test_ebgan_pt_step_trains_both_players_from_one_forward_pass():
  # The paper's losses from (energy, code): D's margin loss pulls real
  # energies down and fake ones up to the margin; G's loss with the
  # pulling-away term on the same pass's codes.
  discriminator = EBGANMLPDiscriminator(2, code_dim=4, hidden=(16,),
                                        rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(discriminator)
  real = jax.random.normal(jax.random.key(3), (16, 2))
  fake = jax.random.normal(jax.random.key(4), (16, 2)) + 3.0

  def d_loss(params):
    model = nnx.merge(graphdef, params)
    real_energy, _ = model(real)
    fake_energy, _ = model(fake)
    return jnp.mean(losses.discriminator_energy_loss(real_energy, fake_energy,
                                                     margin=1.0))

  def g_loss(fake):
    energy, code = nnx.merge(graphdef, params)(fake)
    return (jnp.mean(losses.generator_energy_loss(energy))
            + losses.EBGAN_PULLING_AWAY_WEIGHT
            * losses.pulling_away_term(code))

  d_grads = jax.jit(jax.grad(d_loss))(params)
  g_grad = jax.jit(jax.grad(g_loss))(fake)
  leaves = jax.tree.leaves(d_grads)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert any(bool(jnp.any(g != 0)) for g in leaves)
  assert g_grad.shape == fake.shape and bool(jnp.all(jnp.isfinite(g_grad)))
  # A few plain gradient steps on D lower its loss.
  step = jax.jit(lambda p: jax.tree.map(lambda a, g: a - 0.05 * g, p,
                                        jax.grad(d_loss)(p)))
  trained = params
  for _ in range(20):
    trained = step(trained)
  assert float(d_loss(trained)) < float(d_loss(params))


def test_packed_ebgan_discriminator_returns_energy_and_code_per_pack():
  inner = EBGANDiscriminator(image_size=32, channels=2 * 3, features=4,
                             batch_norm=False, rngs=nnx.Rngs(0))
  energy, code = Packed(inner, packing=2)(jnp.zeros((6, 32, 32, 3)))
  assert energy.shape == (3,) and code.shape[0] == 3
