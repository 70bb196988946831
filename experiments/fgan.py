"""Nowozin, Cseke & Tomioka 2016, "f-GAN: Training Generative Neural Samplers
using Variational Divergence Minimization" (arXiv 1606.00709).

Any f-divergence D_f(P || Q) = int q f(p/q) dx is bounded below by a critic
V_omega through the convex conjugate f* and an output activation g_f (Eq. 6):

    F(theta, omega) = E_P[g_f(V(x))] - E_{Q_theta}[f*(g_f(V(x)))] <= D_f(P || Q),

and the generator Q_theta is trained by the saddle point min_theta max_omega F.
Algorithm 1, the single-step gradient method: each step draws one minibatch of
data and one of noise, computes the gradients of F for both players from it,
and applies them at once, ascending in omega and descending in theta (the
classic alternating scheme, critic first and then the generator on fresh
noise, is an option). Section 3.2's alternative generator objective maximises
E_Q[g_f(V(G(z)))] instead.

Section 4 fits a single Gaussian Q_theta = N(mu, sigma^2), written as the
sampler mu + sigma z, to a 1-D mixture of Gaussians with each divergence, and
compares the learned theta_hat with the best fit theta* found by minimising
the true divergence by quadrature; its train \\ test table re-trains a critic
for every (trained model, test divergence) pair with the model fixed. Section
5 trains MLP samplers on MNIST and scores them by a Parzen-window
log-likelihood of the test set.

    python experiments/fgan.py [--config=experiments/configs/fgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import os

import json
import math
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from scipy import optimize, stats

import gans_jax as gj
from experiments import common
from experiments import gan
from experiments.configs import fgan as fgan_config
from gans_jax.nn import layers
from gans_jax.train import config as config_lib

MIXTURE = "fgan_mixture"


def is_mixture(config: ml_collections.ConfigDict) -> bool:
  return config_lib.get(config, "data.dataset") == MIXTURE


# ------------------------------------------------------------- config --

def _validate_mixture(config: ml_collections.ConfigDict) -> None:
  d = config.data
  size = len(d.weights) if isinstance(config_lib.get(config, "data.weights"), tuple) else 0
  for field in ("data.weights", "data.means", "data.stds"):
    value = config_lib.get(config, field)
    config_lib.check(isinstance(value, tuple) and size > 0 and len(value) == size
                     and all(isinstance(v, (int, float)) and math.isfinite(v)
                             for v in value), field,
                     f"must be a non-empty tuple of {size or 'k'} numbers, got {value!r}")
  config_lib.check(all(w > 0 for w in d.weights)
                   and math.isclose(sum(d.weights), 1.0, rel_tol=1e-6),
                   "data.weights", f"must be positive and sum to 1, got {d.weights}")
  config_lib.check(all(s > 0 for s in d.stds), "data.stds",
                   f"must be positive, got {d.stds}")
  points = config.eval.quadrature_points
  config_lib.check(points >= 101, "eval.quadrature_points", f"must be >= 101, got {points}")


def _validate_images(config: ml_collections.ConfigDict) -> None:
  common.validate_image_data(config)
  common.validate_split(config, "eval.validation_split")
  config_lib.check(config_lib.get(config, "model.conditional") is False,
                   "model.conditional", "f-GAN's samplers are unconditional")


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/fgan.py)."""
  if is_mixture(config):
    _validate_mixture(config)
  else:
    _validate_images(config)
  config_lib.check_choice(config, "model.critic_activation",
                          set(layers.ACTIVATIONS))
  penalties = config_lib.get(config, "fgan.output_penalty")
  config_lib.check(isinstance(penalties, ml_collections.ConfigDict),
                   "fgan.output_penalty",
                   f"must map divergence names to weights, got {penalties!r}")
  for name in penalties:
    field = f"fgan.output_penalty.{name}"
    config_lib.check(name in fgan_config.DIVERGENCES, field,
                     f"unknown divergence; valid: {sorted(fgan_config.DIVERGENCES)}")
    value = penalties[name]
    config_lib.check(isinstance(value, (int, float)) and not isinstance(value, bool)
                     and math.isfinite(value) and value >= 0, field,
                     f"must be a non-negative number, got {value!r}")
  config_lib.validate_train(config)


# ------------------------------------------------------------- models --

def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  o = config.optim
  learning_rate = o.learning_rate
  if o.schedule == "cosine":
    learning_rate = optax.cosine_decay_schedule(o.learning_rate, config.train.num_steps)
  if o.name == "adam":
    return optax.adam(learning_rate, b1=o.b1, b2=o.b2)
  return optax.sgd(learning_rate)  # Algorithm 1: plain gradient steps


def create_critic(config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> nnx.Module:
  """The variational function V_omega: an MLP returning raw scores."""
  m, d = config.model, config.data
  shape = 1 if is_mixture(config) else (d.image_size, d.image_size, d.channels)
  return gj.nn.MLPDiscriminator(
      shape, hidden=tuple(m.critic_hidden), maxout_pieces=None,
      activation=m.critic_activation, dropout=0.0, input_dropout=0.0,
      dtype=common.compute_dtype(config), rngs=rngs)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """Section 4's Gaussian sampler mu + sigma z, or Section 5's MLP."""
  del state
  m, d = config.model, config.data
  if is_mixture(config):
    return dict(player="generator", module="gans_jax.nn.GaussianSampler",
                mode="eval", kwargs=dict(mean=m.init_mean, std=m.init_std),
                inputs=dict(latent_dim=1, noise="normal"))
  return dict(
      player="generator", module="gans_jax.nn.MLPGenerator", mode="eval",
      kwargs=dict(latent_dim=m.latent_dim,
                  output_shape=(d.image_size, d.image_size, d.channels),
                  hidden=tuple(m.g_hidden), activation="relu",
                  output_activation="tanh", dtype=common.dtype_name(config)),
      inputs=dict(latent_dim=m.latent_dim, noise=m.noise))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  return gj.train.GANState.create(
      generator=generator, discriminator=create_critic(config, rngs),
      g_optimizer=optimizer(config), d_optimizer=optimizer(config))


def subruns(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
  """Section 4 trains one model per divergence: ``{name: its config}``, each
  run in the sub-workdir ``name`` with ``fgan.divergences = (name,)``. A
  mixture config with one divergence, or an image config, is one run: ``{}``."""
  if not is_mixture(config) or len(config.fgan.divergences) == 1:
    return {}
  runs = {}
  for name in config.fgan.divergences:
    runs[name] = ml_collections.ConfigDict(config.to_dict())
    runs[name].fgan.divergences = (name,)
  return runs


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` points of Q (the mixture) or images."""
  if not is_mixture(config):
    return gan.make_sampler(config, num)

  @jax.jit
  def sample(state: gj.train.GANState, key):
    return state.sampling_generator()(noise(config, key, num))

  return sample


def noise(config: ml_collections.ConfigDict, key: jax.Array, batch: int) -> jax.Array:
  if is_mixture(config):
    return jax.random.normal(key, (batch, 1))
  return common.latent(key, batch, config.model.latent_dim, config.model.noise)


# ------------------------------------------------------------ training --

def make_train_step(config: ml_collections.ConfigDict, divergence: str):
  """Algorithm 1 for one divergence: both players' gradients of F (Eq. 6)
  from the same minibatch, applied together (or critic first, 'alternating')."""
  div = gj.divergences.get(divergence)
  penalty = float(config.fgan.output_penalty.get(divergence, 0.0))
  alternating = config.fgan.scheme == "alternating"
  trick = config.fgan.generator_trick
  field = "x" if is_mixture(config) else "image"

  def train_step(state: gj.train.GANState, batch, key):
    real = batch[field]
    key_z, key_z_generator = jax.random.split(key)
    z = noise(config, key_z, real.shape[0])

    def critic_loss(d_params):
      fake, _ = state.generator.apply(z)
      v_real, _ = state.discriminator.apply(real, params=d_params)
      v_fake, _ = state.discriminator.apply(fake, params=d_params)
      objective = gj.divergences.variational_objective(div, v_real, v_fake)
      loss = -objective
      if penalty:  # keeps a bounded g_f out of its flat tails (see the config)
        loss += 0.5 * penalty * (jnp.mean(v_real**2) + jnp.mean(v_fake**2))
      return loss, objective

    def generator_loss(g_params, critic, z):
      fake, _ = state.generator.apply(z, params=g_params)
      v_fake, _ = critic.apply(fake)
      # Without the trick: -E_Q[f*(g_f(V))], whose gradient is that of F.
      return gj.divergences.generator_loss(div, v_fake, trick=trick).mean()

    if alternating:
      state, (_, objective) = gj.train.update(
          state, "discriminator", critic_loss, has_aux=True)
      z = noise(config, key_z_generator, real.shape[0])
      state, g_loss = gj.train.update(state, "generator", generator_loss,
                                      state.discriminator, z)
    else:
      # Simultaneous: both gradients at the same point (theta, omega).
      (_, objective), d_grads = jax.value_and_grad(critic_loss, has_aux=True)(
          state.discriminator.params)
      g_loss, g_grads = jax.value_and_grad(generator_loss)(
          state.generator.params, state.discriminator, z)
      state = state.apply_gradients({"discriminator": d_grads,
                                     "generator": g_grads})
    metrics = {"objective": objective, "g_loss": g_loss}
    if is_mixture(config):
      metrics.update(mean=state.generator.params["mean"][...],
                     std=jnp.abs(state.generator.params["std"][...]))
    return state, metrics

  return train_step


# ------------------------------------------------- Section 4: the mixture --

def mixture_distribution(config: ml_collections.ConfigDict) -> gj.data.ToyDistribution:
  d = config.data
  return gj.data.fgan_mixture(weights=tuple(d.weights), means=tuple(d.means),
                              stds=tuple(d.stds))


def true_divergence(divergence: str, data: gj.data.ToyDistribution, mean: float,
                    std: float, *, num_points: int) -> float:
  """D_f(P || N(mean, std^2)) by the trapezoid rule in float64, on a grid
  covering both densities to 12 standard deviations."""
  low, high = data.bounds(num_std=12.0)
  low, high = min(low[0], mean - 12 * std), max(high[0], mean + 12 * std)
  x, weights = gj.data.quadrature_grid(low, high, num_points=num_points)
  log_q = stats.norm.logpdf(x[:, 0], mean, std)
  with jax.enable_x64(True):
    integrand = gj.divergences.divergence_integrand(
        divergence, data.log_density(x), log_q)
    return float(np.sum(weights * np.asarray(integrand)))


def best_fit(divergence: str, data: gj.data.ToyDistribution, starts,
             *, num_points: int) -> tuple[float, float, float]:
  """theta* = argmin_theta D_f(P || Q_theta) by Nelder-Mead on (mu, log sigma)
  from several starts; returns (mu*, sigma*, D_f at theta*)."""
  def objective(t):
    value = true_divergence(divergence, data, t[0], math.exp(t[1]),
                            num_points=num_points)
    return value if math.isfinite(value) else 1e30

  best = None
  for mean, std in starts:
    result = optimize.minimize(objective, (mean, math.log(std)), method="Nelder-Mead",
                               options=dict(xatol=1e-6, fatol=1e-12, maxiter=2000))
    if best is None or result.fun < best.fun:
      best = result
  return float(best.x[0]), math.exp(best.x[1]), float(best.fun)


def make_divergence_estimator(config: ml_collections.ConfigDict, divergence: str):
  """``estimate(thetas, real, real_eval, key) -> (R, C)`` variational estimates
  of D_f(P || Q_theta) for R fixed models and C freshly initialised critics,
  each critic re-trained by Adam on ``real`` (S, B, 1) with Q fixed, then F
  (Eq. 6) evaluated on ``real_eval`` and as many fresh model samples. Every
  model sees the same critic initialisations, data and noise (common random
  numbers), so that differences between models are estimated sharply."""
  e = config.eval
  div = gj.divergences.get(divergence)
  rngs = nnx.Rngs(gj.train.make_key(config.train.seed, "critic_estimates"))
  critics = [gj.train.Network.create(create_critic(config, rngs))
             for _ in range(e.num_critics)]
  template = critics[0]
  initial = jax.tree.map(lambda *p: jnp.stack(p), *[c.params for c in critics])
  tx = optax.adam(optax.cosine_decay_schedule(e.critic_learning_rate, e.critic_steps))
  chunk = min(e.num_estimate_samples, 16384)

  def objective(params, theta, x, z):
    v_real, _ = template.apply(x, params=params)
    v_fake, _ = template.apply(theta[0] + theta[1] * z, params=params)
    return gj.divergences.variational_objective(div, v_real, v_fake)

  def retrain_and_estimate(theta, params, real, x_eval, z_eval, key):
    def step(carry, inputs):
      params, opt_state = carry
      x, i = inputs
      z = jax.random.normal(jax.random.fold_in(key, i), x.shape)
      grads = jax.grad(lambda p: -objective(p, theta, x, z))(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)),
                                  (real, jnp.arange(real.shape[0])))
    # Chunks of equal size: the mean of chunk means is the overall mean.
    return jnp.mean(jax.lax.map(lambda xz: objective(params, theta, *xz),
                                (x_eval, z_eval)))

  @jax.jit
  def estimate(thetas, real, real_eval, key):
    key_train, key_eval = jax.random.split(key)
    x_eval = real_eval.reshape(-1, chunk, 1)
    z_eval = jax.random.normal(key_eval, x_eval.shape)
    per_critic = jax.vmap(retrain_and_estimate, (None, 0, None, None, None, None))
    return jax.vmap(per_critic, (0, None, None, None, None, None))(
        thetas, initial, real, x_eval, z_eval, key_train)

  return estimate


def train_test_table(config: ml_collections.ConfigDict, data, thetas: np.ndarray):
  """The paper's train \\ test table: rows the trained models, columns the
  test divergences, entries the variational estimates after re-training.

  Returns:
    ``{test divergence: (R, C) estimates}``, one per model and critic.
  """
  e = config.eval
  seed = config.train.seed + 7  # the data seed of the critics' samples
  batches = gj.data.ToyBatches(data, batch_size=e.critic_batch_size, seed=seed)
  real = np.stack([batches.minibatch(i) for i in range(e.critic_steps)])
  n = -(-e.num_estimate_samples // 16384) * min(e.num_estimate_samples, 16384)
  real_eval = data.sample(np.random.default_rng([seed, 1]), n)
  # Models trained to identical parameters (gan and jensen_shannon follow the
  # same gradients) are estimated once.
  unique, index = np.unique(np.asarray(thetas, np.float32), axis=0,
                            return_inverse=True)
  table = {}
  for j, name in enumerate(e.test_divergences):
    estimate = make_divergence_estimator(config, name)
    key = jax.random.fold_in(gj.train.make_key(config.train.seed, "critic_estimates"), j)
    values = estimate(jnp.asarray(unique), real, real_eval, key)
    table[name] = np.asarray(values, np.float64)[index.reshape(-1)]
  return table


# D_gan = D_jensen_shannon - log 4: the same best fit, so neither row can be
# expected below the other in the other's column.
SAME_MINIMISER = {frozenset(("gan", "jensen_shannon"))}


def _column_minima(names, tests, table, rows=None) -> dict[str, bool]:
  """For each test divergence that was also trained: is its own row the lowest
  among ``rows`` (default all) trained with a divergence of another minimiser?"""
  rows = names if rows is None else rows
  minima = {}
  for t in tests:
    if t in names and t in rows:
      others = [table[t][names.index(n)] for n in rows
                if n != t and frozenset((n, t)) not in SAME_MINIMISER]
      minima[t] = bool(table[t][names.index(t)] <= min(others, default=np.inf))
  return minima


def _verdict(marks: dict[str, bool]) -> str:
  missed = [t for t, good in marks.items() if not good]
  return (f"{len(marks) - len(missed)} of {len(marks)} columns"
          + (f" (not: {', '.join(missed)})" if missed else ""))


def _markdown(config, step, fits, tables, checks, timings) -> str:
  """The mixture report: the fits, then each train \\ test table."""
  names, tests = list(fits), list(config.eval.test_divergences)
  d, o = config.data, config.optim
  mixture = " + ".join(f"{w:g} N({m:g}, {s:g}^2)"
                       for w, m, s in zip(d.weights, d.means, d.stds))
  lines = [f"P = {mixture}; Q_theta = N(mu, sigma^2) from (mu, sigma) = "
           f"({config.model.init_mean:g}, {config.model.init_std:g}); "
           f"{step} steps of the "
           f"{config.fgan.scheme.replace('_', '-')} method ({o.name} {o.learning_rate:g}, "
           f"{o.schedule}; batch {config.train.batch_size}). Wall time: "
           + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ".", "",
           "| divergence | mu_hat | sigma_hat | mu* | sigma* | max abs error "
           "| D_f(P‖Q_theta_hat) | D_f(P‖Q_theta*) | F of the trained pair |",
           "|---|---|---|---|---|---|---|---|---|"]
  for name in names:
    f = fits[name]
    lines.append(f"| {name} | {f['mu_hat']:.4f} | {f['sigma_hat']:.4f} | "
                 f"{f['mu_star']:.4f} | {f['sigma_star']:.4f} | "
                 f"{f['theta_error']:.4f} | {f['divergence_at_theta_hat']:.4f} | "
                 f"{f['divergence_at_theta_star']:.4f} | {f['final_objective']:.4f} |")
  titles = {
      "estimates": "Train \\ test, variational estimates (a critic re-trained "
                   "for each entry with Q fixed; bold: the trained divergence)",
      "exact": "Train \\ test, true divergences D_f(P‖Q_theta_hat) by quadrature",
  }
  for kind, title in titles.items():
    lines += ["", f"{title}:", "", "| train \\ test | " + " | ".join(tests) + " |",
              "|---" * (len(tests) + 1) + "|"]
    for i, name in enumerate(names):
      cells = [f"{tables[kind][t][i]:.4f}" for t in tests]
      cells = [f"**{c}**" if t == name else c for c, t in zip(cells, tests)]
      lines.append(f"| {name} | " + " | ".join(cells) + " |")
    paper, every = checks[kind]
    lines += ["", f"Diagonal is the column minimum among the rows of the paper's "
              f"table in {_verdict(paper)}; among all rows in {_verdict(every)}."]
  lines.append("(gan and jensen_shannon share their minimiser, D_gan = D_JS - "
               "log 4, and are not compared with each other.)")
  return "\n".join(lines) + "\n"


def trained_objective(config: ml_collections.ConfigDict, divergence: str,
                      state: gj.train.GANState, *, num: int = 65536) -> float:
  """F (Eq. 6) of a trained critic and generator, on ``num`` fresh samples of
  P and of Q (drawn with the run's evaluation key)."""
  div = gj.divergences.get(divergence)
  real = mixture_distribution(config).sample(
      np.random.default_rng([config.train.seed, 3]), num).astype(np.float32)
  z = noise(config, gj.train.make_key(config.train.seed, "eval"), num)

  @jax.jit
  def objective(state, real, z):
    critic = state.discriminator.module()
    fake = state.sampling_generator()(z)
    return gj.divergences.variational_objective(div, critic(real), critic(fake))

  return float(objective(state, real, z))


def evaluate_mixture(config: ml_collections.ConfigDict, states: dict, workdir: str,
                     *, step: int | None = None) -> dict:
  """Section 4's evaluation of the models trained for each divergence
  (``states``, by name): theta* by quadrature, each fit's error, and the
  train \\ test tables; ``mixture.json``, ``mixture.md`` and the results."""
  clock = time.perf_counter()
  timings = {}
  data = mixture_distribution(config)
  names = [n for n in config.fgan.divergences if n in states]

  # theta*: the true divergence minimised by quadrature, from the start, the
  # moment-matched Gaussian and each component.
  points = config.eval.quadrature_points
  p_mean = float(data.weights @ data.centers[:, 0])
  stds = np.broadcast_to(data.std, data.weights.shape)
  p_std = math.sqrt(float(data.weights @ (stds**2 + (data.centers[:, 0] - p_mean) ** 2)))
  starts = [(config.model.init_mean, config.model.init_std), (p_mean, p_std),
            *zip(data.centers[:, 0], stds)]
  thetas, fits = [], {}
  for name in names:
    params = states[name].generator.params
    theta = (float(params["mean"][...]), abs(float(params["std"][...])))
    mu_star, sigma_star, d_star = best_fit(name, data, starts, num_points=points)
    fits[name] = dict(
        mu_hat=theta[0], sigma_hat=theta[1], mu_star=mu_star, sigma_star=sigma_star,
        theta_error=max(abs(theta[0] - mu_star), abs(theta[1] - sigma_star)),
        divergence_at_theta_hat=true_divergence(name, data, *theta, num_points=points),
        divergence_at_theta_star=d_star,
        final_objective=trained_objective(config, name, states[name]))
    thetas.append(theta)
  tests = list(config.eval.test_divergences)
  exact = {t: np.array([true_divergence(t, data, *theta, num_points=points)
                        for theta in thetas]) for t in tests}
  timings["best fits"], clock = time.perf_counter() - clock, time.perf_counter()

  per_critic = train_test_table(config, data, np.asarray(thetas))
  timings["train \\ test table"] = time.perf_counter() - clock
  tables = dict(estimates={t: v.mean(axis=1) for t, v in per_critic.items()},
                exact=exact)
  paper_rows = [n for n in names if n in fgan_config.PAPER_TABLE]
  checks = {kind: (_column_minima(names, tests, table, paper_rows),
                   _column_minima(names, tests, table))
            for kind, table in tables.items()}

  as_dict = lambda table: {t: dict(zip(names, np.asarray(v).tolist()))
                           for t, v in table.items()}
  report = dict(
      mixture=dict(weights=list(config.data.weights), means=list(config.data.means),
                   stds=list(config.data.stds)),
      fits=fits, seconds=timings,
      train_test_estimates=as_dict(tables["estimates"]),
      train_test_estimates_per_critic=as_dict(per_critic),
      train_test_exact=as_dict(exact),
      diagonal_is_column_minimum={
          kind: dict(paper_rows=paper, all_rows=every)
          for kind, (paper, every) in checks.items()})
  with open(os.path.join(workdir, "mixture.json"), "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
  markdown = _markdown(config, common.evaluation_step(config, step), fits, tables,
                       checks, timings)
  with open(os.path.join(workdir, "mixture.md"), "w", encoding="utf-8") as f:
    f.write(markdown)
  print(markdown)

  paper_check, all_check = checks["estimates"]
  results = {"eval/max_theta_error": max(f["theta_error"] for f in fits.values()),
             "eval/fits_within_tolerance": sum(
                 f["theta_error"] <= config.eval.theta_tolerance for f in fits.values()),
             "eval/diagonal_minimum_columns_paper_rows": sum(paper_check.values()),
             "eval/diagonal_minimum_columns_all_rows": sum(all_check.values()),
             "eval/columns": len(all_check),
             "eval/seconds": sum(timings.values())}
  for name, f in fits.items():
    for key in ("mu_hat", "sigma_hat", "mu_star", "sigma_star"):
      results[f"{name}/{key}"] = f[key]
  common.write_results(workdir, common.evaluation_step(config, step), results)
  return results


# ----------------------------------------------------------------- runs --

def train(config: ml_collections.ConfigDict, workdir: str) -> gj.train.GANState:
  """One f-GAN: Section 4's sampler on the mixture (one divergence), or
  Section 5's MLPs on images."""
  if is_mixture(config):
    (divergence,) = config.fgan.divergences
    batches = gj.data.ToyBatches(mixture_distribution(config),
                                 batch_size=config.train.batch_size,
                                 seed=config.train.seed)
    return gj.train.fit(make_train_step(config, divergence), create_state(config),
                        batches, config, workdir)
  hooks = common.sample_grid_hook(config, make_sampler(config, 100), workdir,
                                 nrow=10)
  return gj.train.fit(make_train_step(config, config.fgan.divergence),
                      create_state(config), common.image_batches(config), config,
                      workdir, hooks=hooks)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  runs = subruns(config)
  if not runs:
    return evaluate(config, train(config, workdir), workdir)
  common.write_config(workdir, config)
  states = {name: train(c, os.path.join(workdir, name)) for name, c in runs.items()}
  return evaluate(config, states, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Section 4's fits and tables for the mixture (``state``: one model, or
  ``{divergence: state}`` for a config of several), or Section 5's
  Parzen-window log-likelihood of the test images."""
  if not is_mixture(config):
    return gan.evaluate(config, state, workdir, step=step)
  if not isinstance(state, dict):
    state = {config.fgan.divergences[0]: state}
  return evaluate_mixture(config, state, workdir, step=step)
