"""experiments/wgan_gp.py: the step's arithmetic against hand-computed values,
two training steps of every preset end to end, the quick start's command line
and its errors."""

import contextlib
import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gans_jax as gj
from experiments import wgan_gp
from experiments.configs import wgan_gp as wgan_gp_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _shared_classifier_cache(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


def _linear_state(w, b, *, n_critic, fake_point=(0.0, 0.0)):
  """A toy state: critic f(x) = w.x + b, generator G(z) = A z + fake_point
  with A = 0 at the start, so every first fake point is ``fake_point``."""
  rngs = nnx.Rngs(0)
  generator = gj.nn.MLPGenerator(2, 2, hidden=(), output_activation=None, rngs=rngs)
  generator.output.kernel.value = jnp.zeros((2, 2))
  generator.output.bias.value = jnp.asarray(fake_point, jnp.float32)
  critic = gj.nn.MLPDiscriminator(2, hidden=(), maxout_pieces=None, dropout=0.0,
                                  input_dropout=0.0, rngs=rngs)
  critic.output.kernel.value = jnp.asarray(w, jnp.float32).reshape(2, 1)
  critic.output.bias.value = jnp.asarray([b], jnp.float32)
  config = wgan_gp_config.get_config("smoke")
  config.gan.update(n_critic=n_critic, gp_weight=10.0)
  config.train.batch_size = 4
  state = gj.train.GANState.create(
      generator=generator, discriminator=critic,
      g_optimizer=optax.adam(1e-3), d_optimizer=optax.adam(1e-3))
  return config, state


def test_linear_critic_losses_match_hand_computed_values():
  # f(x) = w.x + b has gradient w everywhere, so the penalty is exactly
  # (|w| - 1)^2 = (5 - 1)^2 = 16 for w = (3, 4). With G(z) = (2, -1) for every
  # z (A = 0), f(fake) = 6 - 4 + 0.5 = 2.5; f(real) = 7.5, 4.5, 7.5, 5.5 gives
  # W = 6.25 - 2.5 and the critic loss -W + 10 * 16.
  config, state = _linear_state([3.0, 4.0], 0.5, n_critic=1, fake_point=(2.0, -1.0))
  real = np.array([[1, 1], [0, 1], [1, 1], [-1, 2]], np.float32)
  new_state, metrics = jax.jit(wgan_gp.make_train_step(config))(
      state, {"x": real}, jax.random.key(3))
  np.testing.assert_allclose(metrics["gradient_penalty"], 16.0, rtol=1e-6)
  np.testing.assert_allclose(metrics["w_estimate"], 6.25 - 2.5, rtol=1e-6)
  np.testing.assert_allclose(metrics["critic_loss"], -3.75 + 160.0, rtol=1e-6)
  # The generator's loss is -f(G(z)) after the critic's update, near -2.5.
  assert abs(float(metrics["g_loss"]) + 2.5) < 0.1
  assert int(new_state.step) == 1


def test_penalty_is_taken_at_per_example_interpolates_of_real_and_fake():
  # A tanh critic has an input gradient that varies with x, so the penalty
  # depends on where it is taken: at eps_i x_i + (1 - eps_i) G(z_i) with one
  # eps_i ~ U[0, 1] per example, drawn from the critic update's key. The
  # reference below recomputes it in float64 numpy with central differences.
  rngs = nnx.Rngs(0)
  generator = gj.nn.MLPGenerator(2, 2, hidden=(), output_activation=None, rngs=rngs)
  generator.output.kernel.value = jnp.zeros((2, 2))
  generator.output.bias.value = jnp.asarray([0.5, -1.5], jnp.float32)
  critic = gj.nn.MLPDiscriminator(2, hidden=(3,), maxout_pieces=None, dropout=0.0,
                                  input_dropout=0.0, activation="tanh", rngs=rngs)
  config = wgan_gp_config.get_config("smoke")
  config.gan.update(n_critic=1, gp_weight=10.0)
  state = gj.train.GANState.create(
      generator=generator, discriminator=critic,
      g_optimizer=optax.adam(1e-3), d_optimizer=optax.adam(1e-3))
  real = np.array([[1.0, 2.0], [-2.0, 0.5], [0.3, -0.7], [2.5, 1.0]], np.float32)
  key = jax.random.key(11)
  _, metrics = jax.jit(wgan_gp.make_train_step(config))(state, {"x": real}, key)

  params = jax.tree.map(lambda v: np.asarray(v, np.float64),
                        nnx.to_pure_dict(state.discriminator.params))
  def f(x):
    h = np.tanh(x @ params["hidden"][0]["kernel"] + params["hidden"][0]["bias"])
    return (h @ params["output"]["kernel"] + params["output"]["bias"])[:, 0]
  # The critic update's key is fold_in(key, 0), split into (z, eps) keys.
  _, key_eps = jax.random.split(jax.random.fold_in(key, 0))
  eps = np.asarray(jax.random.uniform(key_eps, (4, 1)), np.float64)
  x_hat = eps * real + (1 - eps) * np.array([0.5, -1.5])
  h = 1e-6
  grads = np.stack([(f(x_hat + h * e) - f(x_hat - h * e)) / (2 * h)
                    for e in np.eye(2)], axis=1)
  expected = np.mean((np.linalg.norm(grads, axis=1) - 1.0) ** 2)
  np.testing.assert_allclose(metrics["gradient_penalty"], expected, rtol=1e-4)
  # At the real points or at the fake point the penalty would differ.
  for at in (real, np.tile([0.5, -1.5], (4, 1))):
    g = np.stack([(f(at + h * e) - f(at - h * e)) / (2 * h) for e in np.eye(2)], 1)
    assert abs(np.mean((np.linalg.norm(g, axis=1) - 1) ** 2) - expected) > 1e-3


def test_one_step_makes_n_critic_critic_updates_each_on_its_own_minibatch():
  config, state = _linear_state([0.3, -0.2], 0.0, n_critic=3)
  rng = np.random.default_rng(0)
  batch = {"x": rng.normal(size=(3, 4, 2)).astype(np.float32)}
  step = jax.jit(wgan_gp.make_train_step(config))
  new_state, _ = step(state, batch, jax.random.key(0))
  assert int(new_state.opt_states["discriminator"][0].count) == 3
  assert int(new_state.opt_states["generator"][0].count) == 1
  # Swapping two of the minibatches changes the result: each one is used.
  swapped, _ = step(state, {"x": batch["x"][[1, 0, 2]]}, jax.random.key(0))
  kernel = lambda s: np.asarray(s.discriminator.params["output"]["kernel"].value)
  assert not np.allclose(kernel(swapped), kernel(new_state))


def test_linear_decay_reaches_zero_at_the_last_critic_update():
  config = wgan_gp_config.get_config("cifar10")
  config.train.num_steps = 2
  tx = wgan_gp.adam(config, config.gan.n_critic)  # 2 x 5 critic updates
  params = {"w": jnp.ones(())}
  state = tx.init(params)
  steps = []
  for _ in range(11):
    # A constant gradient makes Adam's normalised step exactly 1 (beta1 = 0).
    updates, state = tx.update({"w": jnp.ones(())}, state, params)
    steps.append(-float(updates["w"]))
  expected = [2e-4 * (1 - t / 10) for t in range(11)]
  np.testing.assert_allclose(steps, expected, rtol=1e-4, atol=1e-12)


def test_exact_wasserstein_is_the_optimal_matching_cost():
  a = np.array([[0.0, 0.0], [1.0, 0.0]])
  b = np.array([[1.0, 0.5], [0.0, 0.5]])  # each point moved up by 0.5
  assert wgan_gp.exact_wasserstein(a, b) == pytest.approx(0.5)
  c = np.array([[3.0, 4.0], [0.0, 0.0]])  # one point stays, one moves by 5
  assert wgan_gp.exact_wasserstein(np.zeros((2, 2)), c) == pytest.approx(2.5)


def test_toy_presets_are_the_official_toy_settings():
  for preset in ("8gaussians", "25gaussians", "swissroll"):
    c = wgan_gp_config.get_config(preset)
    assert c.data.dataset == preset
    assert (c.model.width, c.model.depth, c.model.latent_dim) == (512, 3, 2)
    assert (c.gan.n_critic, c.gan.gp_weight, c.train.batch_size) == (5, 0.1, 256)
    assert (c.optim.learning_rate, c.optim.b1, c.optim.b2) == (1e-4, 0.5, 0.9)
    assert c.train.num_steps == 100000 and c.optim.ema_decay == 0.0
  c = wgan_gp_config.get_config("cifar10")
  assert (c.model.architecture, c.optim.learning_rate, c.optim.b1,
          c.optim.decay, c.gan.gp_weight) == ("resnet", 2e-4, 0.0, "linear", 10.0)


def _two_step_config(preset):
  """The preset with its architecture, data and evaluation kept and
  everything else made tiny, one critic update per step to keep this fast
  (the quick-start test and the step tests cover n_critic > 1)."""
  c = wgan_gp_config.get_config(preset)
  c.gan.n_critic = 1
  c.model.update(width=8, depth=2, features=4)
  c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                 steps_per_call=1, sample_every=2 if c.train.sample_every else 0)
  c.eval.num_samples = 64
  return c


@pytest.mark.slow
@pytest.mark.parametrize("preset", [
    "smoke", "quickstart", "8gaussians", "25gaussians", "swissroll"])
def test_toy_preset_smoke_two_steps_end_to_end(tmp_path, preset):
  config = _two_step_config(preset)
  wgan_gp.validate(config)
  results = wgan_gp.train_and_evaluate(config, str(tmp_path))
  records = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert {"critic_loss", "gradient_penalty", "w_estimate", "g_loss"} <= set(records[0])
  assert np.isfinite(results["eval/w_estimate"])
  assert results["eval/wasserstein_exact"] > 0
  if preset == "swissroll":
    assert "eval/modes_covered" not in results
  else:
    assert (0 <= results["eval/modes_covered"] <= results["eval/modes_with_a_sample"]
            <= results["eval/num_modes"])
    assert 0.0 <= results["eval/high_quality_fraction"] <= 1.0
  for name in ("toy.png", "w_estimate.png", "samples.npz", "results.json"):
    assert os.path.getsize(tmp_path / name) > 0
  assert os.listdir(tmp_path / "checkpoints") == ["2"]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["digits", "mnist", "cifar10"])
def test_image_preset_smoke_two_steps_end_to_end(tmp_path, preset):
  config = _two_step_config(preset)
  wgan_gp.validate(config)
  mock = contextlib.nullcontext()
  if preset != "digits":
    import tensorflow_datasets as tfds
    mock = tfds.testing.mock_data(num_examples=16)
  with mock:
    results = wgan_gp.train_and_evaluate(config, str(tmp_path))
  if preset == "digits":
    assert np.isfinite(results["eval/classifier_fd"])
  samples = np.load(tmp_path / "samples.npz")["samples"]
  assert samples.shape == (64, 32, 32, config.data.channels)
  for name in ("samples.png", "w_estimate.png", "samples/step_0000002.png"):
    assert os.path.getsize(tmp_path / name) > 0


@pytest.mark.parametrize("preset", wgan_gp_config.PRESETS)
def test_every_preset_validates(preset):
  wgan_gp.validate(wgan_gp_config.get_config(preset))


def _run(*flags):
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0")
  script = os.path.join(ROOT, "experiments", "wgan_gp.py")
  return subprocess.run([sys.executable, script, *flags], capture_output=True,
                        text=True, env=env, timeout=300, cwd=ROOT)


@pytest.mark.slow
def test_quick_start_prints_modes_and_writes_the_pictures(tmp_path):
  run = _run("--config.train.num_steps=100", "--config.train.checkpoint_every=100",
             f"--workdir={tmp_path}")
  assert run.returncode == 0, run.stderr[-2000:]
  assert "eval/modes_covered" in run.stdout
  assert "eval/high_quality_fraction" in run.stdout
  assert "eval/w_estimate" in run.stdout
  for name in ("toy.png", "w_estimate.png"):
    assert os.path.getsize(tmp_path / name) > 0
  config = json.load(open(tmp_path / "config.json"))
  assert config["data"]["dataset"] == "8gaussians"


@pytest.mark.parametrize("field,value", [
    ("gan.gp_weight", -1.0), ("data.dataset", "digits"), ("optim.decay", "cosine"),
    ("optim.ema_decay", 1.0), ("eval.min_share", 1.5)])
def test_validate_names_the_bad_field(field, value):
  config = wgan_gp_config.get_config()
  group, name = field.split(".")
  config[group][name] = value
  with pytest.raises(gj.train.ConfigError, match=field):
    gj.train.experiment.validate(wgan_gp, config)


@pytest.mark.slow
@pytest.mark.parametrize("flags,field", [
    (["--config.model.critic_norm=batch"], "model.critic_norm"),
    (["--config.model.architecture=vgg"], "model.architecture"),
    (["--config=experiments/configs/wgan_gp.py:cifar10",
      "--config.data.image_size=64"], "data.image_size"),
])
def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, flags, field):
  run = _run(*flags, f"--workdir={tmp_path}")
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr[-2000:]
  assert field in lines[0]
  assert not os.path.exists(tmp_path / "checkpoints")


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["8gaussians", "digits", "cifar10"])
def test_batch_penalty_is_the_per_example_penalty_for_every_critic(preset):
  # The step takes the penalty's input gradients in "batch" mode, which is
  # exact only for critics that score each example on its own.
  config = wgan_gp_config.get_config(preset)
  config.model.update(width=16, features=8)
  _, critic = wgan_gp.create_models(config, nnx.Rngs(0))
  critic = gj.train.Network.create(critic)
  score = lambda x: critic.apply(x)[0]
  shape = (6, 2) if preset == "8gaussians" else (6, 32, 32, config.data.channels)
  real, fake = jax.random.normal(jax.random.key(1), (2, *shape))
  key = jax.random.key(2)
  batch = gj.penalties.gradient_penalty(score, real, fake, key, mode="batch")
  single = gj.penalties.gradient_penalty(score, real, fake, key, mode="per_example")
  np.testing.assert_allclose(batch, single, rtol=1e-4, atol=1e-6)
  assert np.ptp(np.asarray(single)) > 0  # examples differ: the check has teeth


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["digits", "cifar10"])
def test_a_bfloat16_step_keeps_float32_state_and_tracks_the_float32_step(preset):
  # Mixed precision: the networks compute in bfloat16, the parameters,
  # optimizer state and BatchNorm statistics stay float32, and the losses and
  # the penalty's gradient norms are reduced in float32.
  config = wgan_gp_config.get_config(preset)
  config.model.update(features=8, latent_dim=16)
  config.gan.n_critic = 1
  config.train.batch_size = 8
  images = jax.random.uniform(jax.random.key(0), (8, 32, 32, config.data.channels),
                              minval=-1, maxval=1)
  runs = {}
  for dtype in ("float32", "bfloat16"):
    config.model.dtype = dtype
    state = wgan_gp.create_state(config)
    new, metrics = jax.jit(wgan_gp.make_train_step(config))(
        state, {"image": images}, jax.random.key(1))
    runs[dtype] = (state, new, metrics)
  # The initial parameters do not depend on the compute dtype.
  chex.assert_trees_all_equal(runs["float32"][0].generator.params,
                              runs["bfloat16"][0].generator.params)
  _, new, metrics = runs["bfloat16"]
  for leaf in jax.tree.leaves((new.generator, new.discriminator, new.opt_states,
                               new.ema)):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert leaf.dtype == jnp.float32
  for name, value in metrics.items():
    assert value.dtype == jnp.float32 and np.isfinite(value), name
  reference = runs["float32"][2]
  # bfloat16 keeps 8 bits of mantissa: the penalty (|grad| - 1)^2 agrees to a
  # few percent of its size; the losses to a few hundredths.
  np.testing.assert_allclose(metrics["gradient_penalty"],
                             reference["gradient_penalty"], rtol=0.05, atol=0.02)
  np.testing.assert_allclose(metrics["w_estimate"], reference["w_estimate"],
                             atol=0.05)
  np.testing.assert_allclose(metrics["g_loss"], reference["g_loss"], atol=0.05)
  # And bfloat16 is really used: the two runs are not bit-identical.
  assert float(metrics["gradient_penalty"]) != float(reference["gradient_penalty"])
