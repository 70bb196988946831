"""Tests of experiments/fgan.py: the single-step method, the quadrature best
fit, the critic re-training estimate, the smoke runs and the command line."""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gans_jax as gj
from experiments import fgan
from experiments.configs import fgan as fgan_config
from gans_jax import divergences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _shared_classifier_cache(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


def _gaussian_log_pdf(x, mean, std):
  return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


# ------------------------------------------------ divergence_integrand --

def test_divergence_integrand_integrates_to_gaussian_closed_forms():
  # P = N(0, 1), Q = N(1, 2^2): KL(P||Q) = log 2 + (1 + 1)/8 - 1/2,
  # reverse KL(Q||P) = -log 2 + (4 + 1)/2 - 1/2,
  # Pearson int p^2/q - 1 = s_q^2 / sqrt(2 s_q^2 - 1) * exp(mu^2 / (2 s_q^2 - 1)) - 1.
  x = np.linspace(-30.0, 30.0, 60001)
  dx = x[1] - x[0]
  log_p, log_q = _gaussian_log_pdf(x, 0.0, 1.0), _gaussian_log_pdf(x, 1.0, 2.0)
  expected = {
      "kl": math.log(2.0) + 2.0 / 8.0 - 0.5,
      "reverse_kl": -math.log(2.0) + 2.5 - 0.5,
      "pearson": 4.0 / math.sqrt(7.0) * math.exp(1.0 / 7.0) - 1.0,
  }
  integrand = jax.jit(divergences.divergence_integrand, static_argnums=0)
  with jax.enable_x64(True):
    for name, value in expected.items():
      got = float(jnp.sum(integrand(name, log_p, log_q)) * dx)
      assert got == pytest.approx(value, rel=1e-9), name


def test_divergence_integrand_is_finite_where_the_ratio_overflows():
  # log p - log q = +-300 overflows exp in float32; the integrand must stay
  # finite and equal its exact value p f(u)/u (KL: p log u) or q f(u).
  log_p = jnp.array([-1.0, -301.0, -2.0], jnp.float32)
  log_q = jnp.array([-301.0, -1.0, -2.0], jnp.float32)
  got = np.asarray(divergences.divergence_integrand("kl", log_p, log_q))
  assert np.all(np.isfinite(got))
  bound = 0.5 * math.log(np.finfo(np.float32).max) - 1.0  # log u is clipped there
  np.testing.assert_allclose(got, [math.exp(-1.0) * bound, 0.0, 0.0], rtol=1e-6,
                             atol=1e-12)
  pearson = np.asarray(divergences.divergence_integrand("pearson", log_p, log_q))
  assert np.all(np.isfinite(pearson))
  hellinger = np.asarray(divergences.divergence_integrand(
      "squared_hellinger", log_p, log_q))
  np.testing.assert_allclose(hellinger, [math.exp(-1.0), math.exp(-1.0), 0.0],
                             rtol=1e-6)


# ------------------------------------------------- the quadrature fit --

def test_true_divergence_matches_the_gaussian_kl_closed_form():
  data = gj.data.fgan_mixture(weights=(1.0,), means=(0.5,), stds=(0.8,))
  got = fgan.true_divergence("kl", data, 1.5, 1.6, num_points=4001)
  # KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2)/(2 s2^2) - 1/2.
  expected = math.log(2.0) + (0.64 + 1.0) / (2 * 2.56) - 0.5
  assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "jensen_shannon"])
def test_best_fit_recovers_a_single_gaussian_target(name):
  data = gj.data.fgan_mixture(weights=(1.0,), means=(0.7,), stds=(1.3,))
  mean, std, value = fgan.best_fit(name, data, [(0.0, 1.0)], num_points=1001)
  assert mean == pytest.approx(0.7, abs=1e-4)
  assert std == pytest.approx(1.3, abs=1e-4)
  assert value == pytest.approx(0.0, abs=1e-8)


def test_best_fit_for_kl_is_moment_matching_on_the_mixture():
  # argmin_theta KL(P || N(mu, sigma^2)) matches P's mean and variance.
  config = fgan_config.get_config()
  data = fgan.mixture_distribution(config)
  w, m, s = (np.asarray(v) for v in (config.data.weights, config.data.means,
                                     config.data.stds))
  mean = float(w @ m)
  std = math.sqrt(float(w @ (s**2 + (m - mean) ** 2)))
  got_mean, got_std, _ = fgan.best_fit("kl", data, [(0.0, 1.0)], num_points=2001)
  assert got_mean == pytest.approx(mean, abs=1e-4)
  assert got_std == pytest.approx(std, abs=1e-4)


# -------------------------------------------------- the train step --

def _one_step(scheme, divergence="kl", penalty=0.0):
  config = fgan_config.get_config("smoke")
  config.fgan.scheme = scheme
  config.fgan.output_penalty[divergence] = penalty
  config.optim.update(name="sgd", learning_rate=0.01)  # Algorithm 1's plain steps
  state = fgan.create_state(config)
  batch = {"x": jnp.linspace(-2.0, 3.0, 16)[:, None]}
  key = jax.random.key(3)
  new_state, metrics = jax.jit(fgan.make_train_step(config, divergence))(
      state, batch, key)
  return config, state, batch, key, new_state, metrics


def _objective(state, d_params, g_params, real, z, divergence="kl"):
  fake, _ = state.generator.apply(z, params=g_params)
  v_real, _ = state.discriminator.apply(real, params=d_params)
  v_fake, _ = state.discriminator.apply(fake, params=d_params)
  return divergences.variational_objective(divergence, v_real, v_fake)


def test_single_step_updates_both_players_from_the_same_point():
  # Algorithm 1: omega += eta dF/domega, theta -= eta dF/dtheta, both at
  # (omega_t, theta_t) and on the same minibatch and noise.
  config, state, batch, key, new_state, metrics = _one_step("single_step")
  eta = config.optim.learning_rate
  z = jax.random.normal(jax.random.split(key)[0], (16, 1))
  d0, g0 = state.discriminator.params, state.generator.params
  grad_d, grad_g = jax.grad(_objective, argnums=(1, 2))(state, d0, g0, batch["x"], z)
  expected_d = jax.tree.map(lambda p, g: p + eta * g, d0, grad_d)
  expected_g = jax.tree.map(lambda p, g: p - eta * g, g0, grad_g)
  for got, want in ((new_state.discriminator.params, expected_d),
                    (new_state.generator.params, expected_g)):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert float(metrics["objective"]) == pytest.approx(
      float(_objective(state, d0, g0, batch["x"], z)), rel=1e-5)
  assert int(new_state.step) == 1


def test_alternating_scheme_moves_the_generator_against_the_updated_critic():
  config, state, batch, key, new_state, _ = _one_step("alternating")
  eta = config.optim.learning_rate
  key_z, key_z_generator = jax.random.split(key)
  z = jax.random.normal(key_z, (16, 1))
  d0, g0 = state.discriminator.params, state.generator.params
  grad_d = jax.grad(_objective, argnums=1)(state, d0, g0, batch["x"], z)
  d1 = jax.tree.map(lambda p, g: p + eta * g, d0, grad_d)
  z2 = jax.random.normal(key_z_generator, (16, 1))
  grad_g = jax.grad(_objective, argnums=2)(state, d1, g0, batch["x"], z2)
  expected_g = jax.tree.map(lambda p, g: p - eta * g, g0, grad_g)
  for a, b in zip(jax.tree.leaves(new_state.generator.params),
                  jax.tree.leaves(expected_g)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_output_penalty_adds_its_gradient_to_the_critic_only():
  # Critic loss -F + (lambda/2)(E_P[V^2] + E_Q[V^2]); the generator's step and
  # the logged objective F are those of the unpenalised game.
  lam = 0.5
  config, state, batch, key, new_state, metrics = _one_step(
      "single_step", "total_variation", penalty=lam)
  eta = config.optim.learning_rate
  z = jax.random.normal(jax.random.split(key)[0], (16, 1))
  d0, g0 = state.discriminator.params, state.generator.params

  def critic_loss(d_params):
    fake, _ = state.generator.apply(z)
    v_real, _ = state.discriminator.apply(batch["x"], params=d_params)
    v_fake, _ = state.discriminator.apply(fake, params=d_params)
    return (-divergences.variational_objective("total_variation", v_real, v_fake)
            + lam / 2 * (jnp.mean(v_real**2) + jnp.mean(v_fake**2)))

  grad_d = jax.grad(critic_loss)(d0)
  grad_g = jax.grad(_objective, argnums=2)(state, d0, g0, batch["x"], z,
                                           "total_variation")
  expected_d = jax.tree.map(lambda p, g: p - eta * g, d0, grad_d)
  expected_g = jax.tree.map(lambda p, g: p - eta * g, g0, grad_g)
  for got, want in ((new_state.discriminator.params, expected_d),
                    (new_state.generator.params, expected_g)):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert float(metrics["objective"]) == pytest.approx(float(_objective(
      state, d0, g0, batch["x"], z, "total_variation")), rel=1e-5)
  # The penalty changes the critic's step (else this test could not fail).
  _, _, _, _, unpenalised, _ = _one_step("single_step", "total_variation")
  assert not all(np.allclose(a, b) for a, b in zip(
      jax.tree.leaves(unpenalised.discriminator.params),
      jax.tree.leaves(new_state.discriminator.params)))


@pytest.mark.slow
def test_total_variation_fit_lands_near_its_best_fit(tmp_path):
  # TV's bounded activation saturates without the output penalty; with it a
  # short run of the default mixture lands close to theta*.
  config = fgan_config.get_config("mixture")
  config.fgan.divergences = ("total_variation",)
  config.train.update(num_steps=8000, steps_per_call=500, log_every=8000,
                      checkpoint_every=8000)
  data = fgan.mixture_distribution(config)
  batches = gj.data.ToyBatches(data, batch_size=config.train.batch_size, seed=0)
  state = gj.train.fit(fgan.make_train_step(config, "total_variation"),
                       fgan.create_state(config), batches, config, str(tmp_path),
                       progress=False)
  mean, std, _ = fgan.best_fit("total_variation", data, [(0.0, 1.0), (1.3, 1.9)],
                               num_points=2001)
  params = state.generator.params
  assert abs(float(params["mean"][...]) - mean) < 0.1
  assert abs(abs(float(params["std"][...])) - std) < 0.1


def test_output_penalty_defaults_to_total_variation_only():
  for preset in ("mixture", "total_variation", "kl"):
    penalties = fgan_config.get_config(preset).fgan.output_penalty
    assert set(penalties) == set(fgan_config.DIVERGENCES)
    assert {n for n in penalties if penalties[n]} == {"total_variation"}


def test_critic_retraining_estimates_a_known_kl():
  # P = N(0, 1), Q = N(1, 1): KL = 1/2; the optimal critic T = 1 + log p/q is
  # linear, so a short re-training gets close, and stays a lower bound.
  config = fgan_config.get_config()
  config.data.update(weights=(1.0,), means=(0.0,), stds=(1.0,))
  config.model.critic_hidden = (16,)
  config.eval.update(test_divergences=("kl",), critic_steps=300,
                     critic_batch_size=512, num_estimate_samples=65536)
  data = fgan.mixture_distribution(config)
  table = fgan.train_test_table(config, data, np.array([[1.0, 1.0], [0.0, 1.0]]))
  assert table["kl"][0] == pytest.approx(0.5, abs=0.03)
  assert table["kl"][1] == pytest.approx(0.0, abs=0.01)


def test_column_minimum_ignores_divergences_with_the_same_best_fit():
  names = ["kl", "jensen_shannon", "gan"]
  table = {"jensen_shannon": np.array([0.20, 0.12, 0.11]),
           "kl": np.array([0.28, 0.29, 0.27])}
  minima = fgan._column_minima(names, ["jensen_shannon", "kl"], table)
  assert minima == {"jensen_shannon": True, "kl": False}


# ------------------------------------------------------- smoke runs --

@pytest.mark.slow
def test_mixture_smoke_two_steps_end_to_end_and_resume(tmp_path):
  config = fgan_config.get_config("smoke")
  fgan.validate(config)
  results = fgan.train_and_evaluate(config, str(tmp_path))
  assert results["eval/columns"] == 2
  report = json.load(open(tmp_path / "mixture.json"))
  # The summary counts the fits within eval.theta_tolerance of theta*.
  errors = [report["fits"][n]["theta_error"] for n in ("kl", "reverse_kl")]
  assert results["eval/fits_within_tolerance"] == sum(
      e <= config.eval.theta_tolerance for e in errors)
  assert results["eval/max_theta_error"] == max(errors)
  for name in ("kl", "reverse_kl"):
    assert os.listdir(tmp_path / name / "checkpoints") == ["2"]
    fit = report["fits"][name]
    assert fit["theta_error"] == pytest.approx(max(
        abs(fit["mu_hat"] - fit["mu_star"]), abs(fit["sigma_hat"] - fit["sigma_star"])))
  assert set(report["train_test_estimates"]) == {"kl", "reverse_kl"}
  assert "| train \\ test | kl | reverse_kl |" in open(tmp_path / "mixture.md").read()
  # A second run finds both fits finished and does not train again.
  before = open(tmp_path / "kl" / "metrics.jsonl").read()
  again = fgan.train_and_evaluate(config, str(tmp_path))
  assert open(tmp_path / "kl" / "metrics.jsonl").read() == before
  assert again["kl/mu_hat"] == results["kl/mu_hat"]


@pytest.mark.slow
def test_image_smoke_two_steps_end_to_end(tmp_path):
  config = fgan_config.get_config("smoke_images")
  fgan.validate(config)
  results = fgan.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(results["eval/parzen_log_likelihood"])
  records = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert {"objective", "g_loss"} <= set(records[0])
  samples = np.load(tmp_path / "samples.npz")["samples"]
  assert samples.shape == (64, 16, 16, 1)


# ----------------------------------------------------------- config --

@pytest.mark.parametrize("preset", fgan_config.PRESETS)
def test_every_preset_validates(preset):
  config = fgan_config.get_config(preset)
  fgan.validate(config)
  if preset in fgan_config.DIVERGENCES:
    assert config.fgan.divergence == preset
  if preset == "hellinger":
    assert config.fgan.divergence == "squared_hellinger"


@pytest.mark.parametrize("preset,field,value", [
    ("mixture", "data.weights", (0.5, 0.6)),
    ("mixture", "data.means", (0.0,)),
    ("mixture", "data.stds", (0.2, -1.0)),
    ("mixture", "fgan.divergences", ("kl", "chi")),
    ("mixture", "eval.test_divergences", ()),
    ("mixture", "fgan.scheme", "simultaneous"),
    ("kl", "fgan.divergence", "wasserstein"),
    ("kl", "model.critic_hidden", (0,)),
    ("mixture", "fgan.output_penalty.total_variation", -1e-3),
    ("kl", "fgan.output_penalty.kl", float("nan")),
])
def test_bad_field_raises_config_error_naming_it(preset, field, value):
  config = fgan_config.get_config(preset)
  *sections, name = field.split(".")
  node = config
  for section in sections:
    node = node[section]
  node[name] = value
  with pytest.raises(gj.train.ConfigError, match=field.replace(".", r"\.")):
    gj.train.experiment.validate(fgan, config, preset=preset)


def test_output_penalty_for_an_unknown_divergence_is_a_config_error():
  config = fgan_config.get_config("mixture")
  config.fgan.output_penalty.wasserstein = 0.1
  with pytest.raises(gj.train.ConfigError, match=r"fgan\.output_penalty\.wasserstein"):
    fgan.validate(config)


def _run(*flags):
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0")
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "fgan.py"),
                         *flags], capture_output=True, text=True, env=env,
                        timeout=300, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("flags,field", [
    (["--config.fgan.divergences=('kl','chi2')"], "fgan.divergences"),
    (["--config=experiments/configs/fgan.py:kl", "--config.fgan.divergence=chi2"],
     "fgan.divergence"),
    (["--config=experiments/configs/fgan.py:wgan"], "wgan"),
])
def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, flags, field):
  run = _run(*flags, f"--workdir={tmp_path}")
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr[-2000:]
  assert field in lines[0]
  assert not os.listdir(tmp_path)
