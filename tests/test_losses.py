"""Tests for gans_jax.losses against hand-computed values and finite differences."""

import functools
import math

import jax
import jax.numpy as jnp
from jax.test_util import check_grads
import numpy as np
import pytest

from gans_jax import losses

REAL = np.array([-2.0, 0.0, 1.5, 4.0], dtype=np.float32)
FAKE = np.array([0.5, -1.0, 3.0, -0.25], dtype=np.float32)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# ---------------------------------------------------------------------------
# Values computed by hand from the formulas.
# ---------------------------------------------------------------------------


def test_discriminator_minimax_loss_matches_hand_computation():
  expected = -np.log(_sigmoid(REAL)) - np.log(1.0 - _sigmoid(FAKE))
  np.testing.assert_allclose(losses.discriminator_minimax_loss(REAL, FAKE),
                             expected, rtol=1e-6)
  # D = 1/2 on both sides: the loss is log 4.
  assert float(losses.discriminator_minimax_loss(0.0, 0.0)) == pytest.approx(
      math.log(4.0), rel=1e-6)


def test_discriminator_minimax_loss_with_label_smoothing():
  s = 0.1
  expected = (-(1 - s) * np.log(_sigmoid(REAL)) - s * np.log(1 - _sigmoid(REAL))
              - np.log(1.0 - _sigmoid(FAKE)))
  got = losses.discriminator_minimax_loss(REAL, FAKE, label_smoothing=s)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  with pytest.raises(ValueError, match="label_smoothing"):
    losses.discriminator_minimax_loss(REAL, FAKE, label_smoothing=1.0)


def test_generator_minimax_and_nonsaturating_losses_match_hand_computation():
  np.testing.assert_allclose(losses.generator_minimax_loss(FAKE),
                             np.log(1.0 - _sigmoid(FAKE)), rtol=1e-6)
  np.testing.assert_allclose(losses.generator_nonsaturating_loss(FAKE),
                             -np.log(_sigmoid(FAKE)), rtol=1e-6)


def test_least_squares_losses_match_hand_computation():
  expected_d = 0.5 * (REAL - 1.0)**2 + 0.5 * FAKE**2
  np.testing.assert_allclose(
      losses.discriminator_least_squares_loss(REAL, FAKE), expected_d,
      rtol=1e-6)
  np.testing.assert_allclose(losses.generator_least_squares_loss(FAKE),
                             0.5 * (FAKE - 1.0)**2, rtol=1e-6)
  # The paper's other coding, a = -1, b = 1, c = 0 (Section 3.2.2).
  expected_d = 0.5 * (REAL - 1.0)**2 + 0.5 * (FAKE + 1.0)**2
  np.testing.assert_allclose(
      losses.discriminator_least_squares_loss(REAL, FAKE, a=-1.0, b=1.0),
      expected_d, rtol=1e-6)
  np.testing.assert_allclose(losses.generator_least_squares_loss(FAKE, c=0.0),
                             0.5 * FAKE**2, rtol=1e-6)


def test_hinge_losses_match_hand_computation():
  # real: max(0, 1 - [-2, 0, 1.5, 4]) = [3, 1, 0, 0];
  # fake: max(0, 1 + [0.5, -1, 3, -0.25]) = [1.5, 0, 4, 0.75].
  np.testing.assert_allclose(losses.discriminator_hinge_loss(REAL, FAKE),
                             [4.5, 1.0, 4.0, 0.75], rtol=1e-6)
  np.testing.assert_allclose(losses.generator_hinge_loss(FAKE), -FAKE)


def test_wasserstein_losses_match_hand_computation():
  np.testing.assert_allclose(losses.critic_wasserstein_loss(REAL, FAKE),
                             [2.5, -1.0, 1.5, -4.25], rtol=1e-6)
  np.testing.assert_allclose(losses.generator_wasserstein_loss(FAKE), -FAKE)
  # Batches of different sizes: mean([1, 2, 3]) - mean([-1, 0.5]) = 2.25.
  estimate = losses.wasserstein_estimate(jnp.array([1.0, 2.0, 3.0]),
                                         jnp.array([-1.0, 0.5]))
  assert estimate.shape == ()
  assert float(estimate) == pytest.approx(2.25)
  np.testing.assert_allclose(
      jnp.mean(losses.critic_wasserstein_loss(REAL, FAKE)),
      -losses.wasserstein_estimate(REAL, FAKE), rtol=1e-6)


def test_losses_keep_the_shape_of_patch_outputs():
  key_r, key_f = jax.random.split(jax.random.key(0))
  real = jax.random.normal(key_r, (2, 3, 3, 1))
  fake = jax.random.normal(key_f, (2, 3, 3, 1))
  for loss in (losses.discriminator_minimax_loss,
               losses.discriminator_least_squares_loss,
               losses.discriminator_hinge_loss,
               losses.critic_wasserstein_loss):
    assert loss(real, fake).shape == (2, 3, 3, 1)


def test_discriminator_losses_reject_mismatched_shapes():
  for loss in (losses.discriminator_minimax_loss,
               losses.discriminator_least_squares_loss,
               losses.discriminator_hinge_loss,
               losses.critic_wasserstein_loss):
    with pytest.raises(ValueError, match="same shape"):
      loss(jnp.zeros((4, 1)), jnp.zeros((4,)))


# ---------------------------------------------------------------------------
# Numerical stability at extreme logits.
# ---------------------------------------------------------------------------


def test_minimax_losses_take_the_right_limits_at_extreme_logits():
  big = jnp.float32(100.0)
  # A confident, correct discriminator: loss -> 0; a confident, wrong one:
  # -log(sigmoid(-100)) - log(1 - sigmoid(100)) = 100 + 100.
  assert float(losses.discriminator_minimax_loss(big, -big)) == pytest.approx(
      0.0, abs=1e-30)
  assert float(losses.discriminator_minimax_loss(-big, big)) == pytest.approx(
      200.0, rel=1e-6)
  assert float(losses.generator_minimax_loss(big)) == pytest.approx(
      -100.0, rel=1e-6)
  assert float(losses.generator_minimax_loss(-big)) == pytest.approx(
      0.0, abs=1e-30)
  assert float(losses.generator_nonsaturating_loss(-big)) == pytest.approx(
      100.0, rel=1e-6)
  assert float(losses.generator_nonsaturating_loss(big)) == pytest.approx(
      0.0, abs=1e-30)
  smoothed = losses.discriminator_minimax_loss(big, -big, label_smoothing=0.1)
  assert float(smoothed) == pytest.approx(0.1 * 100.0, rel=1e-5)


def test_minimax_gradients_are_finite_and_saturate_correctly_at_extremes():
  x = jnp.array([-100.0, 100.0], dtype=jnp.float32)
  grad_ns = jax.vmap(jax.grad(losses.generator_nonsaturating_loss))(x)
  grad_mm = jax.vmap(jax.grad(losses.generator_minimax_loss))(x)
  # d/dl softplus(-l) = -sigmoid(-l); d/dl -softplus(l) = -sigmoid(l).
  np.testing.assert_allclose(grad_ns, [-1.0, 0.0], atol=1e-30)
  np.testing.assert_allclose(grad_mm, [0.0, -1.0], atol=1e-30)
  grad_d = jax.grad(
      lambda r, f: jnp.sum(losses.discriminator_minimax_loss(r, f)),
      argnums=(0, 1))(x, x)
  for g in grad_d:
    assert bool(jnp.all(jnp.isfinite(g)))


# ---------------------------------------------------------------------------
# Gradients against finite differences, and jit.
# ---------------------------------------------------------------------------

_SMOOTH_PAIR_LOSSES = [
    losses.discriminator_minimax_loss,
    functools.partial(losses.discriminator_minimax_loss, label_smoothing=0.2),
    losses.discriminator_least_squares_loss,
    functools.partial(losses.discriminator_least_squares_loss, a=-1.0, b=1.0),
    losses.critic_wasserstein_loss,
    losses.wasserstein_estimate,
]
_SMOOTH_SINGLE_LOSSES = [
    losses.generator_minimax_loss,
    losses.generator_nonsaturating_loss,
    losses.generator_least_squares_loss,
    functools.partial(losses.generator_least_squares_loss, c=0.0),
    losses.generator_hinge_loss,
    losses.generator_wasserstein_loss,
]


@pytest.mark.parametrize("loss", _SMOOTH_PAIR_LOSSES)
@pytest.mark.slow
def test_pair_loss_gradients_match_finite_differences(loss):
  with jax.enable_x64(True):
    check_grads(loss, (jnp.asarray(REAL, jnp.float64),
                       jnp.asarray(FAKE, jnp.float64)),
                order=2, modes=["fwd", "rev"])


@pytest.mark.parametrize("loss", _SMOOTH_SINGLE_LOSSES)
def test_generator_loss_gradients_match_finite_differences(loss):
  with jax.enable_x64(True):
    check_grads(loss, (jnp.asarray(FAKE, jnp.float64),), order=2,
                modes=["fwd", "rev"])


def test_hinge_loss_gradient_matches_finite_differences_away_from_kinks():
  # Real outputs on both sides of 1, fake ones on both sides of -1, none at
  # the kinks.
  with jax.enable_x64(True):
    check_grads(losses.discriminator_hinge_loss,
                (jnp.array([-2.0, 0.3, 1.5, 4.0]),
                 jnp.array([0.5, -1.7, 3.0, -0.25])),
                order=1, modes=["fwd", "rev"], eps=1e-4)


@pytest.mark.parametrize("loss", _SMOOTH_PAIR_LOSSES
                         + [losses.discriminator_hinge_loss])
def test_pair_losses_are_the_same_under_jit(loss):
  np.testing.assert_allclose(jax.jit(loss)(REAL, FAKE), loss(REAL, FAKE),
                             rtol=1e-6)


@pytest.mark.parametrize("loss", _SMOOTH_SINGLE_LOSSES)
def test_generator_losses_are_the_same_under_jit(loss):
  np.testing.assert_allclose(jax.jit(loss)(FAKE), loss(FAKE), rtol=1e-6)


# ------------------------------------------------------------ by name --

# name -> (discriminator loss, generator loss) it must stand for
NAMED = {
    "minimax": (losses.discriminator_minimax_loss, losses.generator_minimax_loss),
    "non_saturating": (losses.discriminator_minimax_loss,
                       losses.generator_nonsaturating_loss),
    "least_squares": (losses.discriminator_least_squares_loss,
                      losses.generator_least_squares_loss),
    "hinge": (losses.discriminator_hinge_loss, losses.generator_hinge_loss),
    "wasserstein": (losses.critic_wasserstein_loss, losses.generator_wasserstein_loss),
}


def test_every_registered_name_is_tested():
  assert set(losses.REGISTRY) == set(NAMED)


@pytest.mark.parametrize("name", sorted(NAMED))
def test_get_gives_the_losses_of_the_named_game(name):
  real = jnp.array([-2.0, -0.3, 0.0, 0.7, 3.0])
  fake = jnp.array([1.5, -1.0, 0.2, -2.5, 0.4])
  d_loss, g_loss = losses.get(name)
  want_d, want_g = NAMED[name]
  np.testing.assert_array_equal(d_loss(real, fake), want_d(real, fake))
  np.testing.assert_array_equal(g_loss(fake), want_g(fake))
  # The pair is a game: the losses differ from every other name's.
  for other in set(NAMED) - {name}:
    other_d, other_g = NAMED[other]
    assert not (np.array_equal(d_loss(real, fake), other_d(real, fake))
                and np.array_equal(g_loss(fake), other_g(fake))), other


def test_an_unknown_loss_name_lists_the_valid_ones():
  with pytest.raises(ValueError, match="least_squares") as error:
    losses.get("lsgan")
  assert "'lsgan'" in str(error.value)
  for name in NAMED:
    assert name in str(error.value)
