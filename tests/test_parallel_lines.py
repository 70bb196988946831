"""WGAN's Example 1, the parallel lines, as an end-to-end check of a critic.

Z ~ U[0, 1], P_0 is the law of (0, Z) and P_theta the law of (theta, Z);
W(P_0, P_theta) = |theta| (Arjovsky, Chintala & Bottou 2017, arXiv
1701.07875, Example 1). A small critic is trained with the Wasserstein critic
loss of ``gans_jax.losses`` for a fixed theta, once kept 1-Lipschitz by the
WGAN-GP gradient penalty and once by weight clipping, and its estimate
mean D(real) - mean D(fake) is compared with |theta|. The critic is a
pure-JAX MLP so the test depends only on the pure functions under test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans_jax import losses
from gans_jax import penalties
from gans_jax.train import updates

THETAS = (0.0, 0.25, 0.5, 1.0, -0.5)
BATCH = 256
EVAL_BATCH = 65536  # fresh samples; the estimate's noise is ~1e-3 or less


def _init_mlp(key, sizes=(2, 64, 64, 1)):
  params = []
  for k, (fan_in, fan_out) in zip(jax.random.split(key, len(sizes) - 1),
                                  zip(sizes[:-1], sizes[1:])):
    w = jax.random.normal(k, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in)
    params.append({"w": w, "b": jnp.zeros((fan_out,))})
  return params


def _critic(params, x):
  for layer in params[:-1]:
    x = jax.nn.relu(x @ layer["w"] + layer["b"])
  return (x @ params[-1]["w"] + params[-1]["b"])[:, 0]


def _lines(key, theta, n):
  """n samples of (0, Z) and n of (theta, Z), Z ~ U[0, 1]."""
  k_real, k_fake = jax.random.split(key)
  z_real = jax.random.uniform(k_real, (n, 1))
  z_fake = jax.random.uniform(k_fake, (n, 1))
  real = jnp.concatenate([jnp.zeros_like(z_real), z_real], axis=1)
  fake = jnp.concatenate([jnp.full_like(z_fake, theta), z_fake], axis=1)
  return real, fake


def _estimate(params, theta, key):
  real, fake = _lines(key, theta, EVAL_BATCH)
  return losses.wasserstein_estimate(_critic(params, real),
                                     _critic(params, fake))


def _train_critic(theta, key, *, optimizer, steps, gp_weight=None, clip=None):
  """Trains a critic on the two lines; returns (params, estimate)."""
  k_init, k_train, k_eval = jax.random.split(key, 3)
  params = _init_mlp(k_init)
  if clip is not None:
    params = updates.clip_weights(params, clip)
  opt_state = optimizer.init(params)

  def loss_fn(params, key):
    k_data, k_gp = jax.random.split(key)
    real, fake = _lines(k_data, theta, BATCH)
    critic = lambda x: _critic(params, x)
    loss = jnp.mean(losses.critic_wasserstein_loss(critic(real), critic(fake)))
    if gp_weight is not None:
      loss += gp_weight * jnp.mean(penalties.gradient_penalty(
          critic, real, fake, k_gp, mode="per_example"))
    return loss

  def step(carry, key):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params, key)
    new_updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, new_updates)
    if clip is not None:
      params = updates.clip_weights(params, clip)
    return (params, opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, opt_state),
                                jax.random.split(k_train, steps))
  return params, _estimate(params, theta, k_eval)


def _train_all(**kwargs):
  keys = jax.random.split(jax.random.key(0), len(THETAS))
  run = jax.jit(jax.vmap(lambda t, k: _train_critic(t, k, **kwargs)))
  params, estimates = run(jnp.asarray(THETAS), keys)
  return params, dict(zip(THETAS, np.asarray(estimates).tolist()))


def _assert_monotone_in_abs_theta(estimates, margin):
  ordered = [estimates[t] for t in (0.0, 0.25, 0.5, 1.0)]
  assert all(b - a > margin for a, b in zip(ordered, ordered[1:])), estimates


@pytest.mark.slow
def test_gradient_penalty_critic_estimates_wasserstein_distance_abs_theta():
  _, estimates = _train_all(
      optimizer=optax.adam(1e-3, b1=0.5, b2=0.9), steps=1000, gp_weight=10.0)
  _assert_monotone_in_abs_theta(estimates, margin=0.1)
  # Tolerance 0.1: along the x axis the penalised objective
  # s |theta| - lambda (s - 1)^2 peaks at slope s = 1 + |theta| / (2 lambda), so
  # even the exact maximiser overshoots by theta^2 / (2 lambda) = 0.05 at
  # |theta| = 1 with lambda = 10 (observed: 1.02 to 1.05 over seeds); the
  # rest is optimisation error and the evaluation noise (about 1e-3).
  for theta, estimate in estimates.items():
    assert abs(estimate - abs(theta)) < 0.1, estimates


@pytest.mark.slow
def test_weight_clipped_critic_estimate_is_monotone_in_abs_theta():
  clip = 0.01
  params, estimates = _train_all(
      optimizer=optax.rmsprop(5e-4), steps=800, clip=clip)
  for leaf in jax.tree.leaves(params):
    assert np.all(np.abs(np.asarray(leaf)) <= np.float32(clip))
  # Clipping bounds the critic's Lipschitz constant by some K << 1 set by c
  # and the architecture, so the estimate is a scaled-down distance (about
  # 2e-3 at |theta| = 1 here). The box of weights is not the set of K-Lipschitz
  # functions, so the estimate need not be exactly K |theta|; check its order.
  scale = estimates[1.0]
  assert scale > 0
  _assert_monotone_in_abs_theta(estimates, margin=0.1 * scale)
  assert abs(estimates[0.0]) < 0.05 * scale
  assert estimates[0.25] < estimates[-0.5] < estimates[1.0], estimates
