"""Tests for gans_jax.penalties: input-gradient penalties on a critic."""

import functools

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

from gans_jax import penalties

MODES = ("per_example", "batch")
SHAPES = ((6, 3), (4, 3, 3, 2))  # points and NHWC images


def _mlp_params(shape, *, seed=0, hidden=5):
  rng = np.random.default_rng(seed)
  d = int(np.prod(shape[1:]))
  return {
      "w": rng.normal(size=(d, hidden)) / np.sqrt(d),
      "b": rng.normal(size=(hidden,)) * 0.1,
      "v": rng.normal(size=(hidden,)),
  }


def _mlp_critic(params, x, xp=jnp):
  """An example-independent critic; ``xp=np`` gives its float64 twin."""
  h = xp.tanh(x.reshape(x.shape[0], -1) @ params["w"] + params["b"])
  return h @ params["v"]


def _jax_critic(params):
  p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
  return functools.partial(_mlp_critic, p32)


def _fd_gradients(params, x, h=1e-5):
  """Per-example input gradients by central differences, in float64 numpy."""
  x = np.asarray(x, np.float64)
  grads = np.zeros_like(x)
  for i in range(x.shape[0]):
    xi = x[i:i + 1]
    for idx in np.ndindex(xi.shape[1:]):
      step = np.zeros_like(xi)
      step[(0,) + idx] = h
      up = _mlp_critic(params, xi + step, xp=np)[0]
      down = _mlp_critic(params, xi - step, xp=np)[0]
      grads[(i,) + idx] = (up - down) / (2 * h)
  return grads


def _fd_norms(params, x):
  g = _fd_gradients(params, x)
  return np.sqrt(np.sum(g.reshape(g.shape[0], -1) ** 2, axis=1))


def _batch(shape, seed):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.slow
def test_gradient_norms_match_finite_differences(shape, mode):
  params = _mlp_params(shape)
  x = _batch(shape, 1)
  norms = penalties.gradient_norms(_jax_critic(params), x, mode=mode)
  assert norms.shape == (shape[0],)
  np.testing.assert_allclose(norms, _fd_norms(params, x), rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_r1_and_r2_match_finite_differences(shape, mode):
  params = _mlp_params(shape)
  critic = _jax_critic(params)
  real, fake = _batch(shape, 1), _batch(shape, 2)
  np.testing.assert_allclose(
      penalties.r1_penalty(critic, real, mode=mode),
      _fd_norms(params, real) ** 2, rtol=1e-5)
  np.testing.assert_allclose(
      penalties.r2_penalty(critic, fake, mode=mode),
      _fd_norms(params, fake) ** 2, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_penalty_matches_finite_differences_when_real_equals_fake(
    shape, mode):
  # With real == fake every interpolate is that point, whatever epsilon is.
  params = _mlp_params(shape)
  x = _batch(shape, 1)
  fd = _fd_norms(params, x)
  gp = penalties.gradient_penalty(
      _jax_critic(params), x, x, jax.random.key(0), mode=mode, target=0.7)
  np.testing.assert_allclose(gp, (fd - 0.7) ** 2, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dragan_penalty_matches_finite_differences_without_perturbation(
    shape, mode):
  params = _mlp_params(shape)
  x = _batch(shape, 1)
  fd = _fd_norms(params, x)
  dp = penalties.dragan_penalty(
      _jax_critic(params), x, jax.random.key(0), mode=mode, scale=0.0)
  np.testing.assert_allclose(dp, (fd - 1.0) ** 2, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_per_example_mode_matches_python_loop_over_examples(shape):
  params = _mlp_params(shape)
  critic = _jax_critic(params)
  x = _batch(shape, 3)
  single_gradient = jax.jit(jax.grad(lambda xi: critic(xi[None])[0]))
  loop_sq = []
  for i in range(shape[0]):
    loop_sq.append(float(jnp.sum(single_gradient(x[i]) ** 2)))
  loop_sq = np.array(loop_sq)
  key = jax.random.key(1)
  np.testing.assert_allclose(
      penalties.r1_penalty(critic, x, mode="per_example"), loop_sq, rtol=1e-6)
  np.testing.assert_allclose(
      penalties.r2_penalty(critic, x, mode="per_example"), loop_sq, rtol=1e-6)
  np.testing.assert_allclose(
      penalties.gradient_penalty(critic, x, x, key, mode="per_example"),
      (np.sqrt(loop_sq) - 1.0) ** 2, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(
      penalties.dragan_penalty(critic, x, key, mode="per_example", scale=0.0),
      (np.sqrt(loop_sq) - 1.0) ** 2, rtol=1e-5, atol=1e-7)


def test_gradient_penalty_interpolates_with_one_epsilon_per_example():
  shape = (64, 4, 4, 3)
  n = 4 * 4 * 3
  real, fake = jnp.ones(shape), jnp.zeros(shape)
  key = jax.random.key(3)
  # With target 0 the penalty is the squared norm of the input gradient.
  # D = |x|^2 / 2 has gradient x_hat, so p1 = |x_hat|^2; D = (sum x)^2 / 2 has
  # gradient (sum x_hat) * 1, so p2 = (sum x_hat)^2 * n. For x_hat = eps * 1
  # (one epsilon per example), p2 = n^2 p1 exactly; for elementwise epsilons
  # Cauchy-Schwarz makes p2 strictly smaller.
  def square_norm(x):
    return 0.5 * jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)

  def square_sum(x):
    return 0.5 * jnp.sum(x.reshape(x.shape[0], -1), axis=1) ** 2

  p1 = penalties.gradient_penalty(square_norm, real, fake, key,
                                  mode="per_example", target=0.0)
  p2 = penalties.gradient_penalty(square_sum, real, fake, key,
                                  mode="per_example", target=0.0)
  np.testing.assert_allclose(p2, n ** 2 * p1, rtol=1e-5)
  eps = np.sqrt(np.asarray(p1) / n)
  assert np.all((eps >= 0) & (eps <= 1))
  assert len(np.unique(eps)) == shape[0]


def test_gradient_penalty_epsilon_is_uniform_and_key_determined():
  real, fake = jnp.ones((4096, 1)), jnp.zeros((4096, 1))

  def half_square(x):
    return 0.5 * x[:, 0] ** 2

  def eps(key):
    return np.sqrt(np.asarray(penalties.gradient_penalty(
        half_square, real, fake, key, mode="batch", target=0.0)))

  e = eps(jax.random.key(0))
  assert abs(e.mean() - 0.5) < 0.02  # standard error 0.0045
  assert abs(e.var() - 1 / 12) < 0.01
  np.testing.assert_array_equal(e, eps(jax.random.key(0)))
  assert not np.allclose(e, eps(jax.random.key(1)))


def _dragan_probes(x, step):
  """Critics whose penalties (target 0) reveal DRAGAN's x_hat - x = delta.

  Each critic row depends only on its own row of x_hat (the data x is a
  constant), so "batch" mode gives per-example gradients.
  """
  # D = |relu(x_hat - x)|^2 / 2 has penalty |relu(delta)|^2.
  def positive_part(x_hat):
    return 0.5 * jnp.sum(jax.nn.relu(x_hat - x) ** 2, axis=1)

  # Gradient entries are indicators of delta < 0 or delta > step (with margin
  # for the rounding of x + delta), so the penalty counts entries outside.
  def outside_step(x_hat):
    delta = x_hat - x
    return jnp.sum(jax.nn.relu(-delta) + jax.nn.relu(delta - 1.01 * step),
                   axis=1)

  return positive_part, outside_step


def test_dragan_perturbation_without_interpolation_is_uniform_times_scale_times_std():
  b, d, scale = 8, 2000, 0.5
  x = _batch((b, d), 4) * 3.0 + 1.0
  step = scale * float(jnp.std(x))
  key = jax.random.key(5)
  positive_part, outside_step = _dragan_probes(x, step)
  second_moment = penalties.dragan_penalty(
      positive_part, x, key, mode="batch", scale=scale, target=0.0,
      interpolate=False)
  # E[u^2] = 1/3 for U[0, 1] (1/6 for U[-1, 1], 1 for N(0, 1)).
  assert abs(float(jnp.mean(second_moment)) / (step ** 2 * d) - 1 / 3) < 0.02
  outside = penalties.dragan_penalty(
      outside_step, x, key, mode="batch", scale=scale, target=0.0,
      interpolate=False)
  np.testing.assert_array_equal(outside, np.zeros(b))


def test_dragan_interpolates_with_one_alpha_per_example():
  # The reference code: x_hat = x + alpha (x_p - x), x_p = x + s std(x) u,
  # alpha ~ U[0, 1] per example. Per row the penalty of positive_part is
  # alpha_i^2 step^2 sum_j u_ij^2 ~= alpha_i^2 step^2 d / 3.
  b, d, scale = 256, 400, 0.5
  x = _batch((b, d), 6)
  step = scale * float(jnp.std(x))
  key = jax.random.key(9)
  positive_part, outside_step = _dragan_probes(x, step)
  moment = np.asarray(penalties.dragan_penalty(
      positive_part, x, key, mode="batch", scale=scale, target=0.0))
  alpha = np.sqrt(3 * moment / (step ** 2 * d))
  # Uniform alphas: mean 1/2, std 0.289. One alpha per element instead would
  # make every row's moment the same (std ~0); none would leave alpha = 1.
  assert abs(alpha.mean() - 0.5) < 0.06
  assert 0.2 < alpha.std() < 0.36
  assert alpha.min() < 0.1 and alpha.max() > 0.9
  outside = penalties.dragan_penalty(outside_step, x, key, mode="batch",
                                     scale=scale, target=0.0)
  np.testing.assert_array_equal(outside, np.zeros(b))
  # Different keys, different perturbations; the same key, the same.
  again = penalties.dragan_penalty(positive_part, x, key, mode="batch",
                                   scale=scale, target=0.0)
  np.testing.assert_array_equal(again, moment)
  other = penalties.dragan_penalty(positive_part, x, jax.random.key(10),
                                   mode="batch", scale=scale, target=0.0)
  assert not np.allclose(other, moment)


def _coupled_critic(params):
  """Scores that depend on the batch mean, as BatchNorm in train mode does."""
  w, w2, v = params

  def critic(x):
    centred = x - jnp.mean(x, axis=0, keepdims=True)
    return jnp.tanh(centred @ w + x @ w2) @ v

  return critic


def test_per_example_mode_gives_single_example_answer_for_coupled_critic():
  rng = np.random.default_rng(6)
  params = tuple(jnp.asarray(rng.normal(size=s), jnp.float32)
                 for s in ((3, 4), (3, 4), (4,)))
  critic = _coupled_critic(params)
  x = _batch((5, 3), 7)
  single_gradient = jax.jit(jax.grad(lambda xi: critic(xi[None])[0]))
  single = np.array([float(jnp.sum(single_gradient(x[i]) ** 2))
                     for i in range(5)])
  per_example = penalties.r1_penalty(critic, x, mode="per_example")
  batch = penalties.r1_penalty(critic, x, mode="batch")
  np.testing.assert_allclose(per_example, single, rtol=1e-5)
  assert np.max(np.abs(np.asarray(batch) - single)) > 0.1
  # "batch" is the gradient of the summed scores: column sums of the Jacobian.
  jac = jax.jacrev(critic)(x)  # jac[i, j, :] = d score_i / d x_j
  expected = np.sum(np.sum(np.asarray(jac), axis=0) ** 2, axis=1)
  np.testing.assert_allclose(batch, expected, rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_mode_equals_per_example_mode_for_independent_critic(shape):
  critic = _jax_critic(_mlp_params(shape, seed=8))
  real, fake = _batch(shape, 9), _batch(shape, 10)
  key = jax.random.key(2)
  for fn in (
      lambda m: penalties.r1_penalty(critic, real, mode=m),
      lambda m: penalties.r2_penalty(critic, fake, mode=m),
      lambda m: penalties.gradient_penalty(critic, real, fake, key, mode=m),
      lambda m: penalties.dragan_penalty(critic, real, key, mode=m),
  ):
    np.testing.assert_allclose(fn("batch"), fn("per_example"), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("input_dtype", (jnp.float32, jnp.bfloat16))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_bfloat16_critic_gives_float32_penalties(mode, input_dtype):
  shape = (4, 3, 3, 2)
  params = _mlp_params(shape, seed=11)
  p16 = jax.tree.map(lambda a: jnp.asarray(a, jnp.bfloat16), params)

  def critic16(x):
    return _mlp_critic(p16, x.astype(jnp.bfloat16))

  critic32 = _jax_critic(params)
  real, fake = _batch(shape, 12), _batch(shape, 13)
  real16, fake16 = real.astype(input_dtype), fake.astype(input_dtype)
  key = jax.random.key(4)
  pairs = (
      (penalties.r1_penalty(critic16, real16, mode=mode),
       penalties.r1_penalty(critic32, real, mode=mode)),
      (penalties.r2_penalty(critic16, fake16, mode=mode),
       penalties.r2_penalty(critic32, fake, mode=mode)),
      (penalties.gradient_penalty(critic16, real16, real16, key, mode=mode),
       penalties.gradient_penalty(critic32, real, real, key, mode=mode)),
      (penalties.dragan_penalty(critic16, real16, key, mode=mode, scale=0.0),
       penalties.dragan_penalty(critic32, real, key, mode=mode, scale=0.0)),
      (penalties.gradient_norms(critic16, real16, mode=mode),
       penalties.gradient_norms(critic32, real, mode=mode)),
      (penalties.drift_penalty(critic16(real16)),
       penalties.drift_penalty(critic32(real))),
  )
  for low, full in pairs:
    assert low.dtype == jnp.float32
    assert low.shape == (shape[0],)
    np.testing.assert_allclose(low, full, rtol=0.1, atol=0.02)


def test_one_sided_gradient_penalty_is_zero_below_target():
  real = _batch((5, 2), 14)
  fake = _batch((5, 2), 15)
  key = jax.random.key(0)
  for slope, two_sided, one_sided in ((0.5, 0.25, 0.0), (2.0, 1.0, 1.0)):
    critic = lambda x, a=slope: a * x[:, 0]
    np.testing.assert_allclose(
        penalties.gradient_penalty(critic, real, fake, key, mode="batch"),
        np.full(5, two_sided), rtol=1e-6)
    np.testing.assert_allclose(
        penalties.gradient_penalty(critic, real, fake, key, mode="batch",
                                   one_sided=True),
        np.full(5, one_sided), rtol=1e-6)


def test_critic_scores_of_shape_b_by_1_are_accepted():
  shape = (6, 3)
  critic = _jax_critic(_mlp_params(shape))
  x = _batch(shape, 16)
  column = lambda z: critic(z)[:, None]
  for mode in MODES:
    np.testing.assert_allclose(penalties.r1_penalty(column, x, mode=mode),
                               penalties.r1_penalty(critic, x, mode=mode))
  scores = critic(x)
  np.testing.assert_allclose(penalties.drift_penalty(scores[:, None]),
                             penalties.drift_penalty(scores))


def test_drift_penalty_squares_scores():
  scores = jnp.array([-2.0, 0.0, 0.5, 3.0])
  np.testing.assert_allclose(penalties.drift_penalty(scores),
                             [4.0, 0.0, 0.25, 9.0])


def test_invalid_mode_and_score_shape_raise():
  x = jnp.ones((3, 2))
  with pytest.raises(ValueError, match="mode"):
    penalties.r1_penalty(lambda z: z[:, 0], x, mode="per-example")
  with pytest.raises(ValueError, match="scores of shape"):
    penalties.r1_penalty(lambda z: z, x, mode="batch")
  with pytest.raises(ValueError, match="scores of shape"):
    penalties.r1_penalty(lambda z: z, x, mode="per_example")
  with pytest.raises(ValueError, match="same shape"):
    penalties.gradient_penalty(lambda z: z[:, 0], x, jnp.ones((2, 2)),
                               jax.random.key(0), mode="batch")


@pytest.mark.parametrize("mode", MODES)
def test_penalties_are_jit_compatible(mode):
  shape = (4, 3, 3, 2)
  critic = _jax_critic(_mlp_params(shape, seed=17))
  real, fake = _batch(shape, 18), _batch(shape, 19)
  key = jax.random.key(7)

  def all_penalties(real, fake, key):
    k1, k2 = jax.random.split(key)
    return (
        penalties.gradient_penalty(critic, real, fake, k1, mode=mode),
        penalties.gradient_penalty(critic, real, fake, k1, mode=mode,
                                   one_sided=True),
        penalties.r1_penalty(critic, real, mode=mode),
        penalties.r2_penalty(critic, fake, mode=mode),
        penalties.dragan_penalty(critic, real, k2, mode=mode),
        penalties.drift_penalty(critic(real)),
    )

  for eager, jitted in zip(all_penalties(real, fake, key),
                           jax.jit(all_penalties)(real, fake, key)):
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "name", ("gradient_penalty", "one_sided", "r1", "r2", "dragan", "drift"))
@pytest.mark.slow
def test_penalties_are_differentiable_in_critic_parameters(name, mode):
  shape = (3, 2, 2, 1)
  with jax.enable_x64(True):
    params = jax.tree.map(jnp.asarray, _mlp_params(shape, seed=20))
    rng = np.random.default_rng(21)
    real = jnp.asarray(rng.normal(size=shape))
    fake = jnp.asarray(rng.normal(size=shape))
    key = jax.random.key(8)

    def loss(params):
      critic = functools.partial(_mlp_critic, params)
      if name == "gradient_penalty":
        p = penalties.gradient_penalty(critic, real, fake, key, mode=mode)
      elif name == "one_sided":
        p = penalties.gradient_penalty(critic, real, fake, key, mode=mode,
                                       target=0.3, one_sided=True)
      elif name == "r1":
        p = penalties.r1_penalty(critic, real, mode=mode)
      elif name == "r2":
        p = penalties.r2_penalty(critic, fake, mode=mode)
      elif name == "dragan":
        p = penalties.dragan_penalty(critic, real, key, mode=mode)
      else:
        p = penalties.drift_penalty(critic(real))
      return jnp.mean(p)

    assert loss(params).dtype == jnp.float64
    loss = jax.jit(loss)
    jax.test_util.check_grads(loss, (params,), order=1, modes=("rev",),
                              atol=1e-6, rtol=1e-6)
    # The parameter gradient must be non-trivial for the check to mean much.
    grads = jax.tree.leaves(jax.grad(loss)(params))
    assert max(float(jnp.max(jnp.abs(g))) for g in grads) > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_gradient_penalty_has_finite_parameter_gradient_at_zero_input_gradient(
    mode):
  # All ReLU units are dead on these inputs, so the input gradient is exactly
  # zero; sqrt'(0) = inf would turn the parameter gradient into NaN.
  x = jnp.ones((4, 2))

  def loss(w):
    critic = lambda z: jax.nn.relu(z @ w - 10.0) @ jnp.ones(3)
    return jnp.mean(penalties.gradient_penalty(
        critic, x, -x, jax.random.key(0), mode=mode))

  w = jnp.full((2, 3), 0.1)
  assert float(loss(w)) == 1.0
  assert np.all(np.isfinite(jax.grad(loss)(w)))
