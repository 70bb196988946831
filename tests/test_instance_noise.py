"""Instance noise: the annealing schedule and the draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gans_jax as gj
from gans_jax import noise


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_std_starts_at_initial_and_reaches_exactly_zero_at_anneal_steps(schedule):
  std = lambda s: float(noise.instance_noise_std(
      s, initial=0.5, anneal_steps=100, schedule=schedule))
  assert std(0) == pytest.approx(0.5)
  assert std(50) == pytest.approx(0.25)  # both schedules are half way at T/2
  for step in (100, 101, 10_000):
    assert std(step) == 0.0
  values = [std(s) for s in range(0, 120, 5)]
  assert all(a >= b for a, b in zip(values, values[1:]))
  assert std(25) == pytest.approx(
      0.375 if schedule == "linear" else 0.25 * (1 + np.cos(np.pi / 4)),
      rel=1e-6)


def test_constant_schedule_never_anneals():
  for step in (0, 99, 100, 10_000):
    assert float(noise.instance_noise_std(
        step, initial=0.3, anneal_steps=100, schedule="constant")) == (
            pytest.approx(0.3))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_std_is_a_pure_function_of_a_traced_step(schedule):
  # Inside a jitted step the step counter is traced; a run resumed at step s
  # must see the std an uninterrupted run saw at s.
  kwargs = dict(initial=0.7, anneal_steps=37, schedule=schedule)
  traced = jax.jit(lambda s: noise.instance_noise_std(s, **kwargs))
  for step in (0, 1, 18, 36, 37, 38, 500):
    assert float(traced(jnp.int32(step))) == float(
        noise.instance_noise_std(step, **kwargs))


def test_resumed_run_sees_the_same_noisy_inputs():
  x = jnp.ones((4, 2))
  train_key = jax.random.key(3)

  @jax.jit
  def noisy(step):
    std = noise.instance_noise_std(step, initial=1.0, anneal_steps=6)
    return noise.add_instance_noise(x, jax.random.fold_in(train_key, step), std)

  uninterrupted = [noisy(jnp.int32(s)) for s in range(8)]
  resumed = [noisy(jnp.int32(s)) for s in range(4, 8)]
  for a, b in zip(uninterrupted[4:], resumed):
    np.testing.assert_array_equal(a, b)
  # Annealed: from step 6 on the discriminator sees the inputs exactly.
  np.testing.assert_array_equal(uninterrupted[6], x)
  np.testing.assert_array_equal(uninterrupted[7], x)
  assert not np.array_equal(uninterrupted[5], x)


def test_noise_has_the_requested_std_and_is_off_at_evaluation():
  x = jnp.full((200, 8, 8, 1), 0.25)
  key = jax.random.key(0)
  noisy = jax.jit(noise.add_instance_noise)(x, key, 0.5)
  assert noisy.shape == x.shape and noisy.dtype == x.dtype
  residual = np.asarray(noisy - x)
  assert residual.mean() == pytest.approx(0.0, abs=0.01)
  assert residual.std() == pytest.approx(0.5, rel=0.02)
  np.testing.assert_array_equal(
      noise.add_instance_noise(x, key, 0.5, deterministic=True), x)
  np.testing.assert_array_equal(noise.add_instance_noise(x, key, 0.0), x)
  with pytest.raises(ValueError, match="scalar"):
    noise.add_instance_noise(x, key, jnp.ones(3))


def test_real_and_fake_get_independent_noise():
  # The same inputs on both sides: the noises must still differ and be
  # uncorrelated, or real and fake examples would share their noise.
  x = jnp.zeros((4000,))
  real, fake = noise.add_instance_noise_to_pair(x, x, jax.random.key(1), 1.0)
  assert np.corrcoef(np.asarray(real), np.asarray(fake))[0, 1] == (
      pytest.approx(0.0, abs=0.06))
  clean = noise.add_instance_noise_to_pair(x, x[:10], jax.random.key(1), 1.0,
                                           deterministic=True)
  np.testing.assert_array_equal(clean[0], x)
  np.testing.assert_array_equal(clean[1], x[:10])


def test_schedule_arguments_are_checked():
  with pytest.raises(ValueError, match="schedule"):
    noise.instance_noise_std(0, initial=0.1, anneal_steps=10,
                             schedule="exponential")
  with pytest.raises(ValueError, match="anneal_steps"):
    noise.instance_noise_std(0, initial=0.1, anneal_steps=0)
  with pytest.raises(ValueError, match="initial"):
    noise.instance_noise_std(0, initial=-0.1, anneal_steps=10)


def test_noise_module_is_a_gans_jax_submodule():
  assert gj.noise is noise
