"""LSGAN's codings and EBGAN's losses against hand-computed values and gradients."""

import jax
import jax.numpy as jnp
from jax.test_util import check_grads
import numpy as np
import pytest

from gans_jax import losses

REAL = np.array([-2.0, 0.0, 1.5, 4.0], dtype=np.float32)
FAKE = np.array([0.5, -1.0, 3.0, -0.25], dtype=np.float32)


# ----------------------------------------------------------------- LSGAN ----


def test_lsgan_codings_are_the_papers_a_b_c():
  assert losses.LEAST_SQUARES_CODINGS["0-1-1"] == (0.0, 1.0, 1.0)
  assert losses.LEAST_SQUARES_CODINGS["-1-1-0"] == (-1.0, 1.0, 0.0)
  # Equation 8's conditions for the Pearson chi^2 coding: b - c = 1, b - a = 2;
  # equation 9's: c = b.
  a, b, c = losses.LEAST_SQUARES_CODINGS["-1-1-0"]
  assert (b - c, b - a) == (1.0, 2.0)
  a, b, c = losses.LEAST_SQUARES_CODINGS["0-1-1"]
  assert c == b
  # The defaults of the two losses are the 0-1-1 coding.
  coding = losses.LEAST_SQUARES_CODINGS["0-1-1"]
  np.testing.assert_array_equal(
      losses.discriminator_least_squares_loss(REAL, FAKE),
      losses.discriminator_least_squares_loss(REAL, FAKE, a=coding.a,
                                              b=coding.b))
  np.testing.assert_array_equal(
      losses.generator_least_squares_loss(FAKE),
      losses.generator_least_squares_loss(FAKE, c=coding.c))


@pytest.mark.parametrize("name", ["0-1-1", "-1-1-0"])
def test_lsgan_losses_vanish_at_each_codings_targets_under_jit(name):
  coding = losses.LEAST_SQUARES_CODINGS[name]
  d_loss = jax.jit(lambda r, f: losses.discriminator_least_squares_loss(
      r, f, a=coding.a, b=coding.b))
  g_loss = jax.jit(lambda f: losses.generator_least_squares_loss(f, c=coding.c))
  # D outputs b on reals and a on fakes: no loss; swapped targets cost
  # 1/2 (a - b)^2 twice.
  assert float(d_loss(coding.b, coding.a)) == 0.0
  assert float(d_loss(coding.a, coding.b)) == pytest.approx(
      (coding.a - coding.b) ** 2)
  assert float(g_loss(coding.c)) == 0.0
  # Hand-computed values on the shared test outputs.
  np.testing.assert_allclose(
      d_loss(REAL, FAKE),
      0.5 * (REAL - coding.b) ** 2 + 0.5 * (FAKE - coding.a) ** 2, rtol=1e-6)
  np.testing.assert_allclose(g_loss(FAKE), 0.5 * (FAKE - coding.c) ** 2,
                             rtol=1e-6)
  # dL_D/dD(x) = D(x) - b, dL_D/dD(G(z)) = D(G(z)) - a; dL_G/dD = D - c.
  grad_real, grad_fake = jax.jit(jax.grad(
      lambda r, f: jnp.sum(d_loss(r, f)), argnums=(0, 1)))(REAL, FAKE)
  np.testing.assert_allclose(grad_real, REAL - coding.b, rtol=1e-6)
  np.testing.assert_allclose(grad_fake, FAKE - coding.a, rtol=1e-6)
  np.testing.assert_allclose(
      jax.jit(jax.grad(lambda f: jnp.sum(g_loss(f))))(FAKE), FAKE - coding.c,
      rtol=1e-6)


# ----------------------------------------------------------------- EBGAN ----


def test_reconstruction_energy_is_the_per_example_mean_squared_error():
  x = np.zeros((2, 2, 2, 1), np.float32)
  reconstruction = x.copy()
  reconstruction[0, 0, 0, 0] = 2.0  # one entry of four off by 2: 4 / 4
  reconstruction[1] = -1.0  # every entry off by 1
  energy = jax.jit(losses.reconstruction_energy)(x, reconstruction)
  np.testing.assert_allclose(energy, [1.0, 1.0])
  reconstruction[1, 1, 1, 0] = 3.0  # (1 + 1 + 1 + 9) / 4
  np.testing.assert_allclose(
      losses.reconstruction_energy(x, reconstruction), [1.0, 3.0])
  with pytest.raises(ValueError, match="share one"):
    losses.reconstruction_energy(x, x[:, :, :1])


def test_energy_losses_match_hand_computation_under_jit():
  real = np.array([0.5, 2.0, 0.0], np.float32)
  fake = np.array([1.0, 12.0, 10.0], np.float32)
  d_loss = jax.jit(lambda r, f: losses.discriminator_energy_loss(
      r, f, margin=10.0))
  # real + max(0, 10 - fake) = [0.5 + 9, 2 + 0, 0 + 0].
  np.testing.assert_allclose(d_loss(real, fake), [9.5, 2.0, 0.0])
  np.testing.assert_allclose(losses.generator_energy_loss(fake), fake)
  # The hinge stops pushing fakes above the margin: d/dfake = -1 below it,
  # 0 above; every real energy is pushed down with slope 1.
  grad_real, grad_fake = jax.grad(
      lambda r, f: jnp.sum(d_loss(r, f)), argnums=(0, 1))(real[:2], fake[:2])
  np.testing.assert_allclose(grad_real, [1.0, 1.0])
  np.testing.assert_allclose(grad_fake, [-1.0, 0.0])
  with pytest.raises(ValueError, match="margin"):
    losses.discriminator_energy_loss(real, fake, margin=0.0)
  with pytest.raises(ValueError, match="same shape"):
    losses.discriminator_energy_loss(real, fake[:2], margin=1.0)


def test_pulling_away_term_leaves_out_each_code_with_itself():
  # Orthogonal codes: every cross cosine is 0; with the diagonal the term
  # would be N / (N (N - 1)) = 1 / 3.
  assert float(jax.jit(losses.pulling_away_term)(jnp.eye(4))) == pytest.approx(
      0.0, abs=1e-7)
  # Parallel codes, whatever their lengths and signs: every cosine^2 is 1.
  parallel = jnp.array([[1.0, 2.0], [-2.0, -4.0], [0.5, 1.0]])
  assert float(losses.pulling_away_term(parallel)) == pytest.approx(1.0)


def test_pulling_away_term_matches_the_double_sum():
  codes = np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 1.0], [3.0, 1.0, 0.0]],
                   np.float64)
  n = len(codes)
  total = 0.0
  for i in range(n):
    for j in range(n):
      if i != j:
        cosine = codes[i] @ codes[j] / (
            np.linalg.norm(codes[i]) * np.linalg.norm(codes[j]))
        total += cosine ** 2
  expected = total / (n * (n - 1))
  # Image-shaped codes are flattened per example.
  got = losses.pulling_away_term(codes.reshape(n, 3, 1).astype(np.float32))
  assert float(got) == pytest.approx(expected, rel=1e-6)
  # Scaling one code changes no cosine.
  scaled = codes * np.array([[3.0], [1.0], [0.1]])
  assert float(losses.pulling_away_term(scaled)) == pytest.approx(
      expected, rel=1e-5)
  with pytest.raises(ValueError, match="N >= 2"):
    losses.pulling_away_term(codes[:1])


@pytest.mark.slow
def test_ebgan_gradients_match_finite_differences():
  with jax.enable_x64(True):
    codes = jax.random.normal(jax.random.key(0), (5, 4), jnp.float64)
    check_grads(losses.pulling_away_term, (codes,), order=2,
                modes=["fwd", "rev"])
    x = jax.random.normal(jax.random.key(1), (3, 2, 2, 1), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (3, 2, 2, 1), jnp.float64)
    check_grads(losses.reconstruction_energy, (x, y), order=2,
                modes=["fwd", "rev"])
    # Away from the hinge's kink.
    check_grads(lambda r, f: losses.discriminator_energy_loss(r, f, margin=2.0),
                (jnp.asarray(REAL, jnp.float64),
                 jnp.asarray(FAKE, jnp.float64)), order=1,
                modes=["fwd", "rev"])


def test_pulling_away_term_has_finite_gradients_for_a_zero_code():
  codes = jnp.array([[0.0, 0.0], [1.0, 2.0], [2.0, -1.0]])
  grad = jax.grad(losses.pulling_away_term)(codes)
  assert bool(jnp.all(jnp.isfinite(grad)))


def test_ebgan_pulling_away_weight_is_the_papers():
  assert losses.EBGAN_PULLING_AWAY_WEIGHT == 0.1
