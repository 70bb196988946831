"""The unrolled GAN's generator gradient goes through K optimizer steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans_jax.train import unrolled

K = 3
N = 6


def _players(seed=0):
  """A linear generator 2 -> 2 and a 2-4-1 tanh discriminator (float64)."""
  rng = np.random.default_rng(seed)
  g_params = {"w": rng.normal(size=(2, 2)), "b": rng.normal(size=(2,))}
  d_params = {"w1": rng.normal(size=(2, 4)), "b1": 0.1 * rng.normal(size=(4,)),
              "w2": rng.normal(size=(4, 1)), "b2": np.zeros(1)}
  return (jax.tree.map(jnp.asarray, g_params),
          jax.tree.map(jnp.asarray, d_params))


def _generate(g_params, z):
  return z @ g_params["w"] + g_params["b"]


def _discriminate(d_params, x):
  h = jnp.tanh(x @ d_params["w1"] + d_params["b1"])
  return (h @ d_params["w2"] + d_params["b2"])[:, 0]


def d_loss_fn(d_params, g_params, batch):
  real, z = batch
  fake = _generate(g_params, z)
  return jnp.mean(jax.nn.softplus(-_discriminate(d_params, real))
                  + jax.nn.softplus(_discriminate(d_params, fake)))


def _g_loss_fn(z):
  def g_loss_fn(g_params, d_params):
    return jnp.mean(jax.nn.softplus(-_discriminate(d_params, _generate(g_params, z))))
  return g_loss_fn


def _batches(seed, steps=K):
  rng = np.random.default_rng(seed)
  return (jnp.asarray(rng.normal(size=(steps, N, 2)) + 2.0),
          jnp.asarray(rng.normal(size=(steps, N, 2))))


def _warm_adam(optimizer, d_params, g_params):
  """Adam's state after two ordinary steps, so that the moments are not zero."""
  state = optimizer.init(d_params)
  real, z = _batches(7, steps=2)
  for k in range(2):
    grads = jax.grad(d_loss_fn)(d_params, g_params, (real[k], z[k]))
    updates, state = optimizer.update(grads, state, d_params)
    d_params = optax.apply_updates(d_params, updates)
  return d_params, state


def _setup():
  g_params, d_params = _players()
  optimizer = optax.adam(0.1, b1=0.5, eps=1e-2)
  d_params, d_state = _warm_adam(optimizer, d_params, g_params)
  z = jnp.asarray(np.random.default_rng(3).normal(size=(N, 2)))
  return g_params, d_params, d_state, optimizer, _g_loss_fn(z)


def _python_unroll(d_params, d_state, optimizer, g_params, batches, *,
                   reset_state=False):
  for k in range(K):
    if reset_state:
      d_state = optimizer.init(d_params)
    batch = jax.tree.map(lambda x: x[k], batches)
    grads = jax.grad(d_loss_fn)(d_params, g_params, batch)
    updates, d_state = optimizer.update(grads, d_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
  return d_params, d_state


def _tree_close(a, b, **kw):
  return all(np.allclose(x, y, **kw) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.slow
def test_unroll_is_the_optimizer_loop_with_its_state_carried_and_fresh_batches():
  with jax.enable_x64(True):
    g_params, d_params, d_state, optimizer, _ = _setup()
    batches = _batches(1)
    got_params, got_state = jax.jit(
        lambda d, s, g, b: unrolled.unroll(d, s, optimizer, d_loss_fn, g,
                                           steps=K, batches=b))(
                                               d_params, d_state, g_params, batches)
    want_params, want_state = _python_unroll(d_params, d_state, optimizer,
                                             g_params, batches)
    assert _tree_close(got_params, want_params, rtol=1e-10, atol=1e-12)
    assert _tree_close(got_state, want_state, rtol=1e-10, atol=1e-12)
    assert int(got_state[0].count) == int(d_state[0].count) + K
    # Resetting Adam's state at each step, or replaying the first batch,
    # gives other parameters.
    reset, _ = _python_unroll(d_params, d_state, optimizer, g_params, batches,
                              reset_state=True)
    assert not _tree_close(got_params, reset, rtol=1e-6, atol=1e-8)
    replayed, _ = unrolled.unroll(
        d_params, d_state, optimizer, d_loss_fn, g_params, steps=K,
        batches=unrolled.repeat_batch(jax.tree.map(lambda x: x[0], batches), K))
    assert not _tree_close(got_params, replayed, rtol=1e-6, atol=1e-8)


def test_unrolled_gradient_matches_finite_differences_and_has_the_second_order_term():
  with jax.enable_x64(True):
    g_params, d_params, d_state, optimizer, g_loss_fn = _setup()
    batches = _batches(2)

    def loss(g, stop_gradient=False):
      return unrolled.unrolled_generator_loss(
          g_loss_fn, g, d_params, d_state, optimizer, d_loss_fn, steps=K,
          batches=batches, stop_gradient=stop_gradient)

    grads = jax.jit(jax.grad(loss))(g_params)
    first_order = jax.grad(lambda g: loss(g, stop_gradient=True))(g_params)
    rng = np.random.default_rng(5)
    eps = 1e-5
    for _ in range(3):
      direction = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape)),
                               g_params)
      shifted = lambda s: jax.tree.map(lambda p, v: p + s * eps * v, g_params,
                                       direction)
      numeric = (loss(shifted(1.0)) - loss(shifted(-1.0))) / (2 * eps)
      analytic = sum(jnp.vdot(a, v) for a, v in zip(jax.tree.leaves(grads),
                                                    jax.tree.leaves(direction)))
      cut = sum(jnp.vdot(a, v) for a, v in zip(jax.tree.leaves(first_order),
                                               jax.tree.leaves(direction)))
      np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
      # The term through the unroll is far above the tolerance: a cut
      # unroll would fail the check above.
      assert abs(cut - numeric) > 1e3 * (1e-6 * abs(numeric) + 1e-9)


def test_first_order_variant_is_the_plain_gradient_at_the_unrolled_discriminator():
  with jax.enable_x64(True):
    g_params, d_params, d_state, optimizer, g_loss_fn = _setup()
    batches = _batches(3)
    got = jax.grad(lambda g: unrolled.unrolled_generator_loss(
        g_loss_fn, g, d_params, d_state, optimizer, d_loss_fn, steps=K,
        batches=batches, stop_gradient=True))(g_params)
    d_hat, _ = _python_unroll(d_params, d_state, optimizer, g_params, batches)
    want = jax.grad(g_loss_fn)(g_params, d_hat)
    assert _tree_close(got, want, rtol=1e-9, atol=1e-12)


def test_zero_unroll_steps_give_the_ordinary_gan_gradient():
  with jax.enable_x64(True):
    g_params, d_params, d_state, optimizer, g_loss_fn = _setup()
    got = jax.grad(lambda g: unrolled.unrolled_generator_loss(
        g_loss_fn, g, d_params, d_state, optimizer, d_loss_fn, steps=0,
        batches=None))(g_params)
    assert _tree_close(got, jax.grad(g_loss_fn)(g_params, d_params),
                       rtol=1e-12, atol=0)


def test_the_discriminator_takes_one_ordinary_step_not_the_unrolled_ones():
  with jax.enable_x64(True):
    g_params, d_params, d_state, optimizer, g_loss_fn = _setup()
    g_optimizer = optax.sgd(0.5)
    batches = _batches(4)
    out = unrolled.unrolled_gan_update(
        g_params, g_optimizer.init(g_params), g_optimizer, d_params, d_state,
        optimizer, g_loss_fn, d_loss_fn, steps=K, batches=batches)
    one_step, one_state = unrolled.unroll(
        d_params, d_state, optimizer, d_loss_fn, g_params, steps=1,
        batches=jax.tree.map(lambda x: x[:1], batches))
    k_steps, _ = unrolled.unroll(d_params, d_state, optimizer, d_loss_fn,
                                 g_params, steps=K, batches=batches)
    assert _tree_close(out.d_params, one_step, rtol=1e-12, atol=1e-14)
    assert _tree_close(out.d_opt_state, one_state, rtol=1e-12, atol=1e-14)
    assert not _tree_close(out.d_params, k_steps, rtol=1e-6, atol=1e-8)
    # The generator steps along the unrolled gradient, taken at the old
    # discriminator.
    g_grads = jax.grad(lambda g: unrolled.unrolled_generator_loss(
        g_loss_fn, g, d_params, d_state, optimizer, d_loss_fn, steps=K,
        batches=batches))(g_params)
    want = jax.tree.map(lambda p, g: p - 0.5 * g, g_params, g_grads)
    assert _tree_close(out.g_params, want, rtol=1e-12, atol=1e-14)


def test_batches_must_hold_one_batch_per_step():
  g_params, d_params = _players()
  optimizer = optax.adam(1e-3)
  with pytest.raises(ValueError, match="leading axis of length steps=3"):
    unrolled.unroll(d_params, optimizer.init(d_params), optimizer, d_loss_fn,
                    g_params, steps=3, batches=_batches(0, steps=2))
