"""The unrolled generator loss in the stacked-digits step
(``gan.unrolled_steps``, experiments/stacked.py; PacGAN's ``unrolled``
preset): K = 0 is the plain step bit for bit; with K > 0 the discriminator
takes its plain single step while the generator steps along the gradient of
its objective at the discriminator K Adam steps ahead, written out again
here as a Python loop of optax updates; bad K exits 2 naming the field."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiment_runs import run_experiment
from experiments import common
from experiments import pacgan
from experiments import stacked
from experiments.configs import pacgan as pacgan_config

K = 3


def _config(steps=K, objective="saddle", packing=1):
  config = pacgan_config.get_config("smoke")
  config.pacgan.packing = packing
  config.gan.update(g_steps=1, unrolled_steps=steps, unrolled_objective=objective)
  # A discriminator that moves far in K steps, so that the unroll and its
  # optimizer state visibly shape the generator's gradient.
  config.optim.learning_rate = 0.05
  return config


def _step(config, state, step=0, key=5):
  batch = stacked.batches(config, samples_per_pack=config.pacgan.packing).get_batch(step)
  return jax.jit(pacgan.make_train_step(config))(state, batch, jax.random.key(key))


def test_preset_is_dcgan_m1_with_five_unroll_steps_on_the_saddle():
  config = pacgan_config.get_config("unrolled")
  m1 = pacgan_config.get_config("m1")
  assert config.pacgan.packing == 1 and config.gan.unrolled_steps == 5
  assert config.gan.unrolled_objective == "saddle"
  # Everything else is the m = 1 row's.
  for section in ("model", "optim", "train", "eval", "data", "instance_noise"):
    assert config[section].to_dict() == m1[section].to_dict(), section
  assert config.gan.g_steps == m1.gan.g_steps
  assert m1.gan.unrolled_steps == 0


def test_k_zero_is_the_plain_step_bit_for_bit():
  plain = pacgan_config.get_config("smoke")
  with plain.gan.unlocked():
    del plain.gan["unrolled_steps"]
    del plain.gan["unrolled_objective"]
  zero = pacgan_config.get_config("smoke")
  zero.gan.update(unrolled_steps=0, unrolled_objective="saddle")
  state = pacgan.create_state(plain)
  # The saddle objective is ignored at K = 0: the game's own loss, as before.
  chex.assert_trees_all_equal(_step(zero, state), _step(plain, state))


@pytest.mark.parametrize("value", ["-1", "2.5"])
def test_bad_unroll_steps_exit_2_naming_the_field(tmp_path, capsys, value):
  code = run_experiment("pacgan", "--config=experiments/configs/pacgan.py:smoke",
                        f"--config.gan.unrolled_steps={value}", f"--workdir={tmp_path}")
  assert code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "gan.unrolled_steps" in err[0]


def test_unknown_objective_exits_2_naming_the_field(tmp_path, capsys):
  code = run_experiment("pacgan", "--config=experiments/configs/pacgan.py:smoke",
                        "--config.gan.unrolled_objective=minimax",
                        f"--workdir={tmp_path}")
  assert code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "gan.unrolled_objective" in err[0]


def test_packed_discriminator_unrolls_on_packs():
  config = _config(steps=2, packing=2)
  state = pacgan.create_state(config)
  new, metrics = jax.eval_shape(lambda s: _step(config, s), state)
  chex.assert_trees_all_equal_shapes(new, state)
  assert metrics["g_loss"].shape == ()


# ------------------------------------------------- the step against a loop --

@pytest.fixture(scope="module")
def warm():
  """A state after two plain steps (D's Adam moments and count are not their
  initial values), and the state one plain step and one K-step later."""
  plain = _config(steps=0)
  state = pacgan.create_state(plain)
  for i in range(2):
    state, _ = _step(plain, state, step=100 + i, key=i)
  after_plain, _ = _step(plain, state)
  return state, after_plain


def _bce(state, d_params, fake, real):
  """L_D = E softplus(-D(x)) + E softplus(D(G(z))), D in training mode."""
  d = lambda x: state.discriminator.apply(x, params=d_params["discriminator"])[0]
  return jnp.mean(jax.nn.softplus(-d(real))) + jnp.mean(jax.nn.softplus(d(fake)))


def _python_unroll(state, d_params, opt_state, tx, fake, real, steps):
  for _ in range(steps):
    grads = jax.grad(lambda p: _bce(state, p, fake, real))(d_params)
    updates, opt_state = tx.update(grads, opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
  return d_params


def _generator_gradient(config, state, new):
  """The gradient G's Adam step used, read back from its first moment:
  mu' = b1 mu + (1 - b1) g."""
  b1 = config.optim.b1
  mu = state.opt_states["generator"][0].mu["generator"]
  mu_new = new.opt_states["generator"][0].mu["generator"]
  return jax.tree.map(lambda a, b: (b - b1 * a) / (1 - b1), mu, mu_new)


def _expected_gradient(config, state, after_d, objective, opt_state=None):
  """G's gradient of its objective at D unrolled K steps from ``after_d``'s
  discriminator (the state after D's own update), as a Python loop."""
  m = config.model
  real = stacked.batches(config).get_batch(0)["image"]
  z = common.latent(jax.random.fold_in(jax.random.key(5), 1), real.shape[0],
                    m.latent_dim, m.noise)
  fake = lambda g: state.generator.apply(z, params=g)[0]
  tx = after_d.group("discriminator").tx
  d0 = {"discriminator": after_d.discriminator.params}
  if opt_state is None:
    opt_state = after_d.opt_states["discriminator"]

  def loss(g):
    d_k = _python_unroll(after_d, d0, opt_state, tx, fake(g), real, K)
    if objective == "saddle":
      return -_bce(after_d, d_k, fake(g), real)
    out = after_d.discriminator.apply(fake(g), params=d_k["discriminator"])[0]
    return jnp.mean(jax.nn.softplus(-out))

  return jax.grad(loss)(state.generator.params)


def _close(a, b, **kw):
  return all(np.allclose(x, y, **kw) for x, y in zip(jax.tree.leaves(a),
                                                      jax.tree.leaves(b)))


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["saddle", "game"])
def test_d_takes_its_plain_step_and_g_the_unrolled_gradient(warm, objective):
  state, after_plain = warm
  config = _config(objective=objective)
  new, metrics = _step(config, state)
  # D: exactly the plain single step (parameters, BatchNorm statistics,
  # Adam state, counter), not the unrolled parameters.
  chex.assert_trees_all_equal(new.discriminator, after_plain.discriminator)
  chex.assert_trees_all_equal(new.opt_states["discriminator"],
                              after_plain.opt_states["discriminator"])
  assert int(new.updates["discriminator"]) == int(state.updates["discriminator"]) + 1
  tx = state.group("discriminator").tx
  real = stacked.batches(config).get_batch(0)["image"]
  one = _python_unroll(state, {"discriminator": state.discriminator.params},
                       state.opt_states["discriminator"], tx,
                       jax.lax.stop_gradient(
                           state.generator.apply(common.latent(
                               jax.random.fold_in(jax.random.key(5), 0), real.shape[0],
                               config.model.latent_dim, config.model.noise))[0]),
                       real, 1)
  assert _close(new.discriminator.params, one["discriminator"], rtol=1e-5, atol=1e-6)

  # G: through K Adam steps of D, its state carried from the current one.
  got = _generator_gradient(config, state, new)
  assert _close(got, _expected_gradient(config, state, after_plain, objective),
                rtol=2e-3, atol=1e-6)
  fresh = after_plain.group("discriminator").tx.init(
      {"discriminator": after_plain.discriminator.params})
  assert not _close(got, _expected_gradient(config, state, after_plain, objective,
                                            opt_state=fresh), rtol=1e-2, atol=1e-4)
  # ... which is not the plain gradient of the game's loss (K = 0).
  plain_grad = _generator_gradient(config, state, after_plain)
  assert not _close(got, plain_grad, rtol=1e-2, atol=1e-4)
  if objective == "saddle":
    # The logged loss is f_K = -L_D at the unrolled discriminator.
    assert float(metrics["g_loss"]) < 0


@pytest.mark.slow
def test_smoke_run_of_the_unrolled_preset(tmp_path):
  code = run_experiment(
      "pacgan", "--config=experiments/configs/pacgan.py:unrolled",
      "--config.model.latent_dim=8", "--config.model.g_features=4",
      "--config.model.d_features=4", "--config.train.num_steps=2",
      "--config.train.batch_size=8", "--config.train.log_every=1",
      "--config.train.checkpoint_every=2", "--config.train.steps_per_call=1",
      "--config.eval.num_samples=64", f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["step"] == 2 and 1 <= results["eval/modes_covered"] <= 64
  with open(tmp_path / "config.json", encoding="utf-8") as f:
    assert json.load(f)["gan"]["unrolled_steps"] == 5
