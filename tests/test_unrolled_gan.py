"""The unrolled GAN experiment: its smoke run through the command line, and
its step: the generator steps along the gradient through K steps of the
discriminator's own Adam (state carried), the discriminator takes one plain
step."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiment_runs import assert_orthogonal_kernels_and_zero_biases, run_experiment
from experiments import unrolled_gan
from experiments.configs import unrolled_gan as unrolled_config
from gans_jax import data as gdata
from gans_jax.train import experiment as experiment_lib
from gans_jax.train import unrolled

K = 3


def test_smoke_run_writes_a_snapshot_per_point_and_their_scores(tmp_path):
  experiment_lib.check(unrolled_gan)
  code = run_experiment("unrolled_gan",
                        "--config=experiments/configs/unrolled_gan.py:smoke",
                        f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["step"] == 2
  # smoke: 3 snapshots, at steps 0, 1 and 2
  assert [results[f"eval/snapshot{i}/step"] for i in range(3)] == [0, 1, 2]
  for i in range(3):
    assert 0 <= results[f"eval/snapshot{i}/modes"] <= 8
    assert 0.0 <= results[f"eval/snapshot{i}/high_quality_fraction"] <= 1.0
    with np.load(tmp_path / "snapshots" / f"step_{i:07d}.npz") as f:
      points = f["points"]
    assert points.shape == (64, 2) and np.all(np.isfinite(points))
    assert len(np.unique(points.round(6), axis=0)) > 1
  assert results["eval/modes_visited"] >= results["eval/max_modes_at_once"]
  assert os.path.isfile(tmp_path / "snapshots.png")


def test_snapshot_numbers_count_mode_hopping():
  snapshots = [{"step": s, "points": np.zeros((10, 2)), "counts": np.array(c)}
               for s, c in [(0, [0, 0, 0, 0]), (1, [5, 0, 0, 0]),
                            (2, [0, 4, 1, 0]), (3, [0, 0, 0, 7])]]
  r = unrolled_gan.snapshot_results(snapshots, 4)
  assert [r[f"eval/snapshot{i}/modes"] for i in range(4)] == [0, 1, 2, 1]
  assert r["eval/snapshot2/high_quality_fraction"] == pytest.approx(0.5)
  assert r["eval/modes_visited"] == 4
  assert r["eval/max_modes_at_once"] == 2
  assert r["eval/min_modes_after_first"] == 1
  # An evaluation in a directory without the snapshots keeps every key.
  missing = unrolled_gan.snapshot_results([None] * 4, 4)
  assert set(missing) == set(r) and all(v is None for v in missing.values())


def test_near_fraction_counts_points_within_ten_stds_of_a_centre():
  """On the ring (std 0.01): a point 0.05 from a centre is near (not high
  quality), one 0.2 away is neither, the origin is neither."""
  ring = gdata.get_toy("ring")
  c = ring.centers
  points = np.stack([c[0], c[1] + [0.05, 0.0], c[2] + [0.0, 0.2], [0.0, 0.0]])
  counts = np.array([1, 0, 0, 0, 0, 0, 0, 0])
  r = unrolled_gan.snapshot_results([{"step": 0, "points": points, "counts": counts}],
                                    1, toy=ring)
  assert r["eval/snapshot0/near_fraction"] == pytest.approx(0.5)
  assert r["eval/snapshot0/high_quality_fraction"] == pytest.approx(0.25)
  r = unrolled_gan.snapshot_results([{"step": 0, "points": points, "counts": counts}],
                                    1, toy=ring, near_std=3.0)
  assert r["eval/snapshot0/near_fraction"] == pytest.approx(0.25)
  assert unrolled_gan.snapshot_results([None], 1, toy=ring)[
      "eval/snapshot0/near_fraction"] is None


def test_the_ring_has_eight_distinct_modes_of_radius_one():
  ring = gdata.get_toy("ring")
  assert ring.centers.shape == (8, 2) and ring.std == pytest.approx(0.01)
  np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 1.0)
  gaps = np.linalg.norm(ring.centers[:, None] - ring.centers[None], axis=-1)
  assert gaps[~np.eye(8, dtype=bool)].min() > 0.7


def test_uneven_snapshots_exit_2_naming_the_field(tmp_path, capsys):
  code = run_experiment("unrolled_gan",
                        "--config=experiments/configs/unrolled_gan.py:smoke",
                        "--config.eval.num_snapshots=4", f"--workdir={tmp_path}")
  assert code == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "eval.num_snapshots" in err


# ---------------------------------------------------------------- the step --

def _tiny(first_order=False):
  config = unrolled_config.get_config("smoke")
  config.unrolled.update(steps=K, first_order=first_order)
  config.model.orthogonal_gain = 1.4
  # A discriminator that moves far in K steps, so that the unroll and its
  # optimizer state visibly shape the generator's gradient.
  config.optim.d_learning_rate = 0.05
  return config


@pytest.fixture(scope="module")
def warm():
  """A state after two iterations (so that D's Adam moments and count are
  not their initial values), a batch, a key, and the state one step later."""
  config = _tiny()
  state = unrolled_gan.create_state(config)
  step = jax.jit(unrolled_gan.make_train_step(config))
  data = gdata.ToyBatches("ring", batch_size=16, seed=0)
  for i in range(2):
    state, _ = step(state, data.get_batch(100 + i), jax.random.key(i))
  batch, key = data.get_batch(7), jax.random.key(11)
  new, _ = step(state, batch, key)
  return config, state, batch, key, new


def _losses(config, state, batch, key):
  """L_D(d_params, fake, real) and the generated points, written out again."""
  z = jax.random.normal(key, (batch["x"].shape[0], config.model.latent_dim))

  def d_loss(d_params, fake, real):
    logit = lambda x: state.discriminator.apply(x, params=d_params["discriminator"])[0]
    return jnp.mean(jax.nn.softplus(-logit(real)) + jax.nn.softplus(logit(fake)))

  fake = lambda g: state.generator.apply(z, params=g)[0]
  return d_loss, fake


def _python_unroll(d_loss, d_params, opt_state, tx, fake, real, steps):
  for _ in range(steps):
    grads = jax.grad(d_loss)(d_params, fake, real)
    updates, opt_state = tx.update(grads, opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
  return d_params


def _close(a, b, **kw):
  return all(np.allclose(x, y, **kw) for x, y in zip(jax.tree.leaves(a),
                                                      jax.tree.leaves(b)))


@pytest.mark.slow
def test_step_moves_d_one_plain_step_and_g_along_the_unrolled_gradient(warm):
  config, state, batch, key, new = warm
  d_loss, fake = _losses(config, state, batch, key)
  tx = state.group("discriminator").tx
  d_params = {"discriminator": state.discriminator.params}
  opt_state = state.opt_states["discriminator"]
  real = batch["x"]
  g0 = state.generator.params

  # D: one Adam step from its current state, at the current G.
  one = _python_unroll(d_loss, d_params, opt_state, tx, fake(g0), real, 1)
  k_steps = _python_unroll(d_loss, d_params, opt_state, tx, fake(g0), real, K)
  assert _close(new.discriminator.params, one["discriminator"], rtol=1e-5, atol=1e-6)
  assert not _close(new.discriminator.params, k_steps["discriminator"],
                    rtol=1e-3, atol=1e-4)
  assert int(new.opt_states["discriminator"][0].count) == int(opt_state[0].count) + 1

  # G: the gradient of -L_D at D unrolled K steps with its Adam state
  # carried from the current one (not a fresh one).
  def g_grad(opt_state):
    return jax.grad(lambda g: -d_loss(
        _python_unroll(d_loss, d_params, opt_state, tx, fake(g), real, K),
        fake(g), real))(g0)

  got = _generator_gradient(config, state, new)
  assert _close(got, g_grad(opt_state), rtol=1e-3, atol=1e-6)
  assert not _close(got, g_grad(tx.init(d_params)), rtol=1e-2, atol=1e-4)


def _generator_gradient(config, state, new):
  """The gradient G's Adam step used, read back from its first moment:
  mu' = b1 mu + (1 - b1) g."""
  b1 = config.optim.b1
  mu = state.opt_states["generator"][0].mu["generator"]
  mu_new = new.opt_states["generator"][0].mu["generator"]
  return jax.tree.map(lambda a, b: (b - b1 * a) / (1 - b1), mu, mu_new)


@pytest.mark.slow
def test_first_order_switch_cuts_the_gradient_through_the_unroll(warm):
  full, state, batch, key, new = warm
  cut = _tiny(first_order=True)
  d_loss, fake = _losses(full, state, batch, key)
  tx = state.group("discriminator").tx
  d_params = {"discriminator": state.discriminator.params}
  opt_state, real = state.opt_states["discriminator"], batch["x"]
  g0 = state.generator.params
  d_hat = _python_unroll(d_loss, d_params, opt_state, tx, fake(g0), real, K)
  plain_at_d_hat = jax.grad(lambda g: -d_loss(d_hat, fake(g), real))(g0)

  new_cut, _ = jax.jit(unrolled_gan.make_train_step(cut))(state, batch, key)
  assert _close(_generator_gradient(cut, state, new_cut), plain_at_d_hat,
                rtol=1e-3, atol=1e-6)
  assert not _close(_generator_gradient(full, state, new), plain_at_d_hat,
                    rtol=1e-2, atol=1e-4)


def test_k_zero_is_the_regular_gan_step():
  config = _tiny()
  config.unrolled.steps = 0
  state = unrolled_gan.create_state(config)
  batch = gdata.ToyBatches("ring", batch_size=16, seed=0).get_batch(0)
  key = jax.random.key(3)
  _, metrics = jax.jit(unrolled_gan.make_train_step(config))(state, batch, key)
  d_loss, fake = _losses(config, state, batch, key)
  d_params = {"discriminator": state.discriminator.params}
  assert float(metrics["g_loss"]) == pytest.approx(
      -float(d_loss(d_params, fake(state.generator.params), batch["x"])), rel=1e-5)
  # the library's K = 0 path is the plain loss
  got = unrolled.unrolled_generator_loss(
      lambda f, d: -d_loss(d, f, batch["x"]), fake(state.generator.params), d_params,
      state.opt_states["discriminator"], state.group("discriminator").tx, d_loss,
      steps=0, batches=None)
  assert float(got) == pytest.approx(float(metrics["g_loss"]), rel=1e-6)


# ------------------------------------------------------- the demo's init --

def test_demo_presets_draw_the_weights_as_tensorflow_1_did():
  """The demo's ``tf.orthogonal_initializer(gain=1.4)`` under TensorFlow 1.0
  (singular vectors of a uniform matrix): D's output layer starts with every
  weight of one sign, which a Haar-random orthogonal draw never gives."""
  for preset in ("default", "k0", "k5", "paper"):
    config = unrolled_config.get_config(preset)
    assert (config.model.orthogonal_gain, config.model.orthogonal_draw) == (
        1.4, "tf1_uniform_svd")
  config = unrolled_config.get_config("k0")
  state = unrolled_gan.create_state(config)
  out = np.asarray(state.discriminator.params["output"]["kernel"].value)[:, 0]
  assert np.all(out > 0) or np.all(out < 0)
  assert_orthogonal_kernels_and_zero_biases((state.generator, state.discriminator), 1.4)
  with config.unlocked():
    config.model.orthogonal_draw = "haar"
  out = np.asarray(unrolled_gan.create_state(config).discriminator.params[
      "output"]["kernel"].value)[:, 0]
  assert 0 < np.sum(out > 0) < out.size


@pytest.mark.slow
def test_k_zero_learns_the_ring_in_5000_steps():
  """End to end, the demo's regular GAN (K = 0) learns: within 5,000 steps
  its points lie on the ring (median radius near 1, radial spread under
  0.25; at step 0 the cloud's spread is about 0.5). A step that does not
  train (swapped learning rates, a flipped sign, D's update dropped) leaves
  the cloud diffuse. Measured: spread 0.12 at seed 0, and 0.10 to 0.14 with
  either orthogonal draw over seeds 0 to 2."""
  config = unrolled_config.get_config("k0")
  state = unrolled_gan.create_state(config)
  step = jax.jit(unrolled_gan.make_train_step(config))
  data = gdata.ToyBatches("ring", batch_size=512, seed=0)
  for i in range(5000):
    state, _ = step(state, data.get_batch(i), jax.random.fold_in(jax.random.key(0), i))
  points = np.asarray(unrolled_gan.make_sampler(config, 2500)(state, jax.random.key(9)))
  radius = np.linalg.norm(points, axis=1)
  assert abs(np.median(radius) - 1.0) < 0.15 and np.std(radius) < 0.25, (
      np.median(radius), np.std(radius))
