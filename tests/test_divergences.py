"""Tests for gans_jax.divergences: conjugates, activations, f-GAN objective."""

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.test_util import check_grads
import numpy as np
import pytest
from scipy import integrate, special, stats

from gans_jax import divergences
from gans_jax import losses



def _jitted(d):
  """The divergence with every function under jax.jit (one compile each)."""
  names = ("f", "f_prime", "conjugate", "activation", "conjugate_of_activation")
  return dataclasses.replace(d, **{k: jax.jit(getattr(d, k)) for k in names})


FIXED_NAMES = [n for n in divergences.REGISTRY if n != "jensen_shannon_weighted"]
ALL = [_jitted(divergences.get(n)) for n in FIXED_NAMES] + [
    _jitted(divergences.jensen_shannon_weighted(0.5)),
    _jitted(divergences.jensen_shannon_weighted(0.3)),
]
IDS = FIXED_NAMES + ["jensen_shannon_weighted_0.5", "jensen_shannon_weighted_0.3"]

# P = N(0, 1) and Q = N(0.5, 1.2^2): every divergence in the registry is finite
# (Neyman needs var_Q < 2 var_P, Pearson var_P < 2 var_Q).
MU_P, SIGMA_P, MU_Q, SIGMA_Q = 0.0, 1.0, 0.5, 1.2
X_GRID = np.linspace(-16.0, 16.0, 64001)


def _np(x):
  return np.asarray(x, dtype=np.float64)


def _grid_argmax(objective, lo, hi, *, n=4001, rounds=5):
  """Max of a 1-D function by a grid search zoomed around the best point."""
  best = -np.inf
  for _ in range(rounds):
    x = np.linspace(lo, hi, n)
    values = objective(x)
    i = int(np.nanargmax(values))
    best = max(best, values[i])
    step = x[1] - x[0]
    lo, hi = x[i] - 2 * step, x[i] + 2 * step
  return best


def _log_densities(x):
  return (stats.norm.logpdf(x, MU_P, SIGMA_P),
          stats.norm.logpdf(x, MU_Q, SIGMA_Q))


# ---------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------


def test_get_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match="valid names.*jensen_shannon.*pearson"):
    divergences.get("chi_squared")


def test_get_rejects_parameters_of_a_fixed_divergence():
  with pytest.raises(ValueError, match="'kl'"):
    divergences.get("kl", pi=0.3)


def test_get_builds_weighted_jensen_shannon_and_checks_pi():
  d = divergences.get("jensen_shannon_weighted", pi=0.3)
  assert d.conjugate_domain.high == pytest.approx(-0.3 * math.log(0.3))
  with pytest.raises(ValueError, match="pi must lie in"):
    divergences.get("jensen_shannon_weighted", pi=1.0)


def test_registry_names_the_divergences_of_the_paper():
  assert set(divergences.REGISTRY) == {
      "total_variation", "kl", "reverse_kl", "pearson", "neyman",
      "squared_hellinger", "jeffrey", "jensen_shannon",
      "jensen_shannon_weighted", "gan"}
  for name in FIXED_NAMES:
    assert divergences.get(name).name == name


# ---------------------------------------------------------------------------
# f, f' and the conjugate.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_f_at_one_and_f_prime_matches_autodiff(d):
  with jax.enable_x64(True):
    # The GAN "divergence" is 2 JSD - log 4, so its f is not normalised.
    f_at_one = -math.log(4.0) if d.name == "gan" else 0.0
    assert float(d.f(1.0)) == pytest.approx(f_at_one, abs=1e-15)
    u = np.array([0.05, 0.3, 0.7, 1.5, 4.0, 20.0])
    grads = jax.vmap(jax.grad(d.f))(u)
    np.testing.assert_allclose(_np(d.f_prime(u)), _np(grads), rtol=1e-12)


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_conjugate_matches_numerical_supremum(d):
  with jax.enable_x64(True):
    if d.name == "total_variation":
      ts = np.linspace(-0.5, 0.5, 11)
    else:
      # t = f'(u) puts the maximiser at u, inside the search range below.
      ts = _np(d.f_prime(np.geomspace(1e-3, 1e3, 13)))
      if d.f_domain.low == -math.inf:
        ts = np.concatenate([ts, _np(d.f_prime(np.array([-3.0, -0.5])))])
    assert bool(jnp.all(d.conjugate_domain.contains(ts)))
    conj = _np(d.conjugate(ts))
    for t, expected in zip(ts, conj):
      if d.f_domain.low == -math.inf:
        numeric = _grid_argmax(lambda u: u * t - _np(d.f(u)), -5e3, 5e3)
      else:
        numeric = _grid_argmax(
            lambda r: np.exp(r) * t - _np(d.f(np.exp(r))), -25.0, 25.0)
        if d.f_domain.low_closed:
          numeric = max(numeric, -float(d.f(0.0)))
      np.testing.assert_allclose(expected, numeric, rtol=1e-7, atol=1e-8,
                                 err_msg=f"t={t}")


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_biconjugate_recovers_f(d):
  domain = d.conjugate_domain
  with jax.enable_x64(True):
    us = np.array([0.05, 0.3, 1.0, 2.5, 8.0])
    if d.f_domain.low == -math.inf:
      us = np.concatenate([us, [-1.5]])
    for u in us:
      if math.isinf(domain.low) and math.isinf(domain.high):
        numeric = _grid_argmax(lambda t: u * t - _np(d.conjugate(t)),
                               -60.0, 60.0)
      elif math.isinf(domain.low):
        # t = high - e^r covers (high - e^10, high) densely near the end.
        numeric = _grid_argmax(
            lambda r: u * (domain.high - np.exp(r))
            - _np(d.conjugate(domain.high - np.exp(r))), -30.0, 10.0)
        if domain.high_closed:
          numeric = max(numeric,
                        u * domain.high - float(d.conjugate(domain.high)))
      else:
        numeric = _grid_argmax(lambda t: u * t - _np(d.conjugate(t)),
                               domain.low, domain.high)
      np.testing.assert_allclose(numeric, float(d.f(u)), rtol=1e-7, atol=1e-8,
                                 err_msg=f"u={u}")


_BOUNDED_ABOVE = [(n, d) for n, d in zip(IDS, ALL)
                  if not math.isinf(d.conjugate_domain.high)]


@pytest.mark.parametrize("d", [d for _, d in _BOUNDED_ABOVE],
                         ids=[n for n, _ in _BOUNDED_ABOVE])
def test_conjugate_is_infinite_outside_its_domain_with_finite_gradient(d):
  domain = d.conjugate_domain
  t = jnp.float32(domain.high + 0.25)
  assert float(d.conjugate(t)) == math.inf
  assert float(jax.grad(d.conjugate)(t)) == 0.0


# ---------------------------------------------------------------------------
# The activation and the stable composite f*(g_f(v)).
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_activation_lies_in_conjugate_domain(d):
  # In float64, 1 - e^{-v} is representable below 1 up to v ~ 36.
  with jax.enable_x64(True):
    v = np.linspace(-50.0, 30.0, 2001)
    assert bool(jnp.all(d.conjugate_domain.contains(d.activation(v))))
  # In float32 at v = +-50 the value may round onto the boundary as float32
  # rounds it (e.g. 1 - e^{-50} == 1), but never beyond it.
  v32 = jnp.linspace(-50.0, 50.0, 2001, dtype=jnp.float32)
  t32 = np.asarray(d.activation(v32))
  dom = d.conjugate_domain
  assert t32.dtype == np.float32
  assert np.all((t32 >= np.float32(dom.low)) & (t32 <= np.float32(dom.high)))


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_conjugate_of_activation_equals_composition(d):
  with jax.enable_x64(True):
    # |v| <= 15 keeps g_f(v) far enough from the boundary that the naive
    # composition loses at most e^15 ulps.
    v = np.linspace(-15.0, 15.0, 301)
    composite = _np(d.conjugate_of_activation(v))
    naive = _np(d.conjugate(d.activation(v)))
    both = np.isfinite(composite) & np.isfinite(naive)
    assert both.mean() > 0.99
    np.testing.assert_allclose(composite[both], naive[both], rtol=1e-8,
                               atol=1e-8)


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_conjugate_of_activation_finite_with_finite_gradients_in_float32(d):
  v = jnp.linspace(-80.0, 80.0, 1601, dtype=jnp.float32)
  fn = jax.jit(jax.vmap(jax.value_and_grad(d.conjugate_of_activation)))
  values, grads = fn(v)
  assert values.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(values)))
  assert bool(jnp.all(jnp.isfinite(grads)))
  act_values, act_grads = jax.vmap(jax.value_and_grad(d.activation))(v)
  assert bool(jnp.all(jnp.isfinite(act_values)))
  assert bool(jnp.all(jnp.isfinite(act_grads)))


@pytest.mark.parametrize("d", ALL, ids=IDS)
@pytest.mark.slow
def test_conjugate_of_activation_gradient_matches_finite_differences(d):
  with jax.enable_x64(True):
    v = jnp.array([-6.0, -1.3, 0.2, 2.0, 7.5])
    check_grads(d.conjugate_of_activation, (v,), order=1, modes=["fwd", "rev"])
    check_grads(d.activation, (v,), order=1, modes=["rev"])


# ---------------------------------------------------------------------------
# Divergences between two Gaussians, by quadrature.
# ---------------------------------------------------------------------------


def _divergence_by_quadrature(d):
  log_p, log_q = _log_densities(X_GRID)
  with jax.enable_x64(True):
    u = np.exp(log_p - log_q)
    return integrate.simpson(np.exp(log_q) * _np(d.f(u)), x=X_GRID)


def test_divergence_values_match_their_definitions():
  p, q = np.exp(_log_densities(X_GRID)[0]), np.exp(_log_densities(X_GRID)[1])
  quad = lambda y: integrate.simpson(y, x=X_GRID)  # pylint: disable=unnecessary-lambda-assignment
  var_p, var_q, dmu2 = SIGMA_P**2, SIGMA_Q**2, (MU_P - MU_Q)**2
  kl = math.log(SIGMA_Q / SIGMA_P) + (var_p + dmu2) / (2 * var_q) - 0.5
  reverse_kl = math.log(SIGMA_P / SIGMA_Q) + (var_q + dmu2) / (2 * var_p) - 0.5
  bhattacharyya = math.sqrt(2 * SIGMA_P * SIGMA_Q / (var_p + var_q)) * math.exp(
      -dmu2 / (4 * (var_p + var_q)))
  m = 0.5 * (p + q)
  textbook_js = 0.5 * quad(p * np.log(p / m)) + 0.5 * quad(q * np.log(q / m))
  m3 = 0.3 * p + 0.7 * q
  js_03 = 0.3 * quad(p * np.log(p / m3)) + 0.7 * quad(q * np.log(q / m3))
  expected = {
      "total_variation": 0.5 * quad(np.abs(p - q)),
      "kl": kl,
      "reverse_kl": reverse_kl,
      "pearson": quad((p - q)**2 / q),
      "neyman": quad((p - q)**2 / p),
      "squared_hellinger": 2.0 * (1.0 - bhattacharyya),
      "jeffrey": kl + reverse_kl,
      "jensen_shannon": 2.0 * textbook_js,
      "jensen_shannon_weighted_0.5": textbook_js,
      "jensen_shannon_weighted_0.3": js_03,
      "gan": 2.0 * textbook_js - math.log(4.0),
  }
  for name, d in zip(IDS, ALL):
    np.testing.assert_allclose(_divergence_by_quadrature(d), expected[name],
                               rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("d", ALL, ids=IDS)
def test_optimal_critic_attains_the_divergence(d):
  log_p, log_q = _log_densities(X_GRID)
  p, q = np.exp(log_p), np.exp(log_q)
  with jax.enable_x64(True):
    t_star = _np(d.f_prime(np.exp(log_p - log_q)))
    bound = (integrate.simpson(p * t_star, x=X_GRID)
             - integrate.simpson(q * _np(d.conjugate(t_star)), x=X_GRID))
    # A worse critic gives a strictly smaller bound.
    t_worse = t_star + 0.1 * np.sin(X_GRID)
    t_worse = np.clip(t_worse, -0.5, 0.5) if d.name == "total_variation" else (
        np.minimum(t_worse, d.conjugate_domain.high - 1e-3))
    worse = (integrate.simpson(p * t_worse, x=X_GRID)
             - integrate.simpson(q * _np(d.conjugate(t_worse)), x=X_GRID))
  true = _divergence_by_quadrature(d)
  # TV's optimal critic jumps where p = q, so the quadrature is O(h) there.
  atol = 1e-4 if d.name == "total_variation" else 1e-8
  np.testing.assert_allclose(bound, true, rtol=1e-6, atol=atol)
  assert worse < true - 1e-4


# Raw outputs V* with g_f(V*) = f'(p/q), written from the Table 2 activations.
_OPTIMAL_RAW_OUTPUT = {
    "total_variation": lambda lu: 40.0 * np.sign(lu),
    "kl": lambda lu: 1.0 + lu,
    "reverse_kl": lambda lu: lu,
    "pearson": lambda lu: 2.0 * np.expm1(lu),
    "neyman": lambda lu: 2.0 * lu,
    "squared_hellinger": lambda lu: 0.5 * lu,
    "jeffrey": lambda lu: lu + 1.0 - np.exp(-lu),
    "jensen_shannon": lambda lu: lu,
    "jensen_shannon_weighted_0.5": lambda lu: lu,
    "jensen_shannon_weighted_0.3": lambda lu: lu,
    "gan": lambda lu: lu,
}


# Quantile points are deterministic "samples" whose mean is a quadrature.
# Neyman is left out: its E_P[(q/p)^2] has a tail beyond the extreme quantile
# points of 20k samples (its bound is checked by quadrature above).
_LIGHT_TAILED = [(n, d) for n, d in zip(IDS, ALL) if n != "neyman"]


@pytest.mark.parametrize("name,d", _LIGHT_TAILED,
                         ids=[n for n, _ in _LIGHT_TAILED])
def test_variational_objective_at_optimal_raw_outputs_matches_divergence(
    name, d):
  n = 20000
  levels = (np.arange(n) + 0.5) / n
  x_p = stats.norm.ppf(levels, MU_P, SIGMA_P)
  x_q = stats.norm.ppf(levels, MU_Q, SIGMA_Q)
  log_ratio = lambda x: np.subtract(*_log_densities(x))  # pylint: disable=unnecessary-lambda-assignment
  v_p = _OPTIMAL_RAW_OUTPUT[name](log_ratio(x_p))
  v_q = _OPTIMAL_RAW_OUTPUT[name](log_ratio(x_q))
  with jax.enable_x64(True):
    estimate = float(jax.jit(
        lambda a, b: divergences.variational_objective(d, a, b))(v_p, v_q))
  np.testing.assert_allclose(estimate, _divergence_by_quadrature(d),
                             rtol=5e-3, atol=5e-4)


# ---------------------------------------------------------------------------
# The objective and the losses built on it.
# ---------------------------------------------------------------------------


def test_variational_objective_matches_hand_computation_for_kl():
  real = np.array([0.0, 1.0, 2.0])
  fake = np.array([-1.0, 0.5])
  # g_f(v) = v, f*(g_f(v)) = e^{v - 1}.
  expected = np.mean(real) - np.mean(np.exp(fake - 1.0))
  got = divergences.variational_objective("kl", real, fake)
  np.testing.assert_allclose(float(got), expected, rtol=1e-6)


def test_gan_divergence_losses_are_the_minimax_gan_losses():
  real = jnp.array([-3.0, -0.2, 0.0, 1.7, 40.0])
  fake = jnp.array([2.5, -1.0, 0.3, -40.0, 9.0])
  np.testing.assert_allclose(
      divergences.critic_loss("gan", real, fake),
      losses.discriminator_minimax_loss(real, fake), rtol=1e-6)
  np.testing.assert_allclose(
      divergences.generator_loss("gan", fake),
      losses.generator_minimax_loss(fake), rtol=1e-6)
  np.testing.assert_allclose(
      divergences.generator_loss("gan", fake, trick=True),
      losses.generator_nonsaturating_loss(fake), rtol=1e-6)
  np.testing.assert_allclose(
      jnp.mean(divergences.critic_loss("gan", real, fake)),
      -divergences.variational_objective("gan", real, fake), rtol=1e-6)


def test_critic_loss_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="same shape"):
    divergences.critic_loss("kl", jnp.zeros((4, 1)), jnp.zeros((4,)))


def test_weighted_jensen_shannon_at_one_half_is_half_the_paper_js():
  half = _jitted(divergences.jensen_shannon_weighted(0.5))
  js = _jitted(divergences.JENSEN_SHANNON)
  v = jnp.linspace(-20.0, 20.0, 41)
  u = jnp.geomspace(1e-3, 1e3, 41)
  t = jnp.linspace(-10.0, 0.3, 41)
  for a, b in [(half.f(u), js.f(u)), (half.f_prime(u), js.f_prime(u)),
               (half.activation(v), js.activation(v)),
               (half.conjugate_of_activation(v), js.conjugate_of_activation(v)),
               (half.conjugate(t), js.conjugate(2.0 * t))]:
    np.testing.assert_allclose(a, 0.5 * b, rtol=2e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# Lambert W.
# ---------------------------------------------------------------------------


def test_lambertw_matches_scipy_over_many_decades_in_float32():
  x = np.concatenate([
      -math.exp(-1) + np.geomspace(1e-4, math.exp(-1), 300),
      [0.0],
      np.geomspace(1e-30, 1e30, 1201),
  ]).astype(np.float32)
  got = _np(jax.jit(divergences.lambertw)(x))
  expected = np.real(special.lambertw(x.astype(np.float64)))
  # Near the branch point W amplifies rounding by 1/(1 + W) (W'(x) blows up
  # there), so allow a few float32 ulps times that condition number.
  tolerance = 4 * np.finfo(np.float32).eps * (np.abs(expected)
                                              + 1.0 / (1.0 + expected))
  assert np.all(np.abs(got - expected) <= tolerance)
  far = x > 1e-3
  np.testing.assert_allclose(got[far], expected[far], rtol=1e-6)


def test_lambertw_matches_scipy_in_float64():
  with jax.enable_x64(True):
    x = np.concatenate([
        -math.exp(-1) + np.geomspace(1e-6, math.exp(-1), 300),
        np.geomspace(1e-300, 1e300, 1201)])
    got = _np(jax.jit(divergences.lambertw)(x))
  expected = np.real(special.lambertw(x))
  np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_lambertw_branch_point_and_outside_domain():
  assert float(divergences.lambertw(jnp.float32(-math.exp(-1)))) == (
      pytest.approx(-1.0, abs=1e-3))
  assert math.isnan(float(divergences.lambertw(-0.5)))


def test_lambertw_of_exp_matches_scipy_and_solves_its_equation():
  with jax.enable_x64(True):
    s = np.linspace(-60.0, 700.0, 3041)
    np.testing.assert_allclose(
        _np(jax.jit(divergences.lambertw_of_exp)(s)),
        np.real(special.lambertw(np.exp(s))), rtol=1e-14)
  # Beyond exp's range: w + log w = s to float32 precision.
  s32 = np.geomspace(1.0, 1e30, 301).astype(np.float32)
  w = _np(jax.jit(divergences.lambertw_of_exp)(s32))
  np.testing.assert_allclose(w + np.log(w), s32.astype(np.float64), rtol=3e-7)
  tiny = _np(divergences.lambertw_of_exp(np.float32(-80.0)))
  np.testing.assert_allclose(tiny, math.exp(-80.0), rtol=1e-6)


def test_lambertw_gradients_match_finite_differences():
  with jax.enable_x64(True):
    check_grads(divergences.lambertw,
                (jnp.array([-0.3, -0.1, 0.0, 0.5, 3.0, 1e3]),),
                order=2, modes=["fwd", "rev"])
    check_grads(divergences.lambertw_of_exp,
                (jnp.array([-50.0, -5.0, 0.0, 1.0, 5.0, 50.0]),),
                order=2, modes=["fwd", "rev"])


def test_jeffrey_conjugate_stable_for_very_negative_arguments():
  # f*(t) -> -log(1 - t) - 1 + o(1) as t -> -inf; the naive
  # W + 1/W + t - 2 cancels catastrophically there.
  t = jnp.array([-1e6, -1e12, -1e30], dtype=jnp.float32)
  got = _np(jax.jit(divergences.JEFFREY.conjugate)(t))
  s = 1.0 - _np(t)
  # W(e^s) = s - log s + log(s)/s + O((log(s)/s)^2).
  w_exact = s - np.log(s) + np.log(s) / s
  expected = 1.0 / w_exact - np.log(w_exact) - 1.0
  np.testing.assert_allclose(got, expected, rtol=1e-6)
