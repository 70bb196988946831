"""experiments/wgan.py: the official critic schedule inside one compiled step,
exact weight clipping, PyTorch's RMSprop, two training steps of every preset
and the command line's errors."""

import contextlib
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gans_jax as gj
from experiments import wgan
from experiments.configs import wgan as wgan_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _shared_classifier_cache(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


def test_critic_iterations_follow_the_official_schedule():
  gan = wgan_config.get_config("digits").gan
  steps = [0, 1, 24, 25, 26, 499, 500, 501, 1000, 1500, 1501]
  expected = [100, 100, 100, 5, 5, 5, 100, 5, 100, 100, 5]
  assert [wgan_config.critic_iterations(gan, s) for s in steps] == expected
  traced = jax.jit(lambda s: wgan_config.critic_iterations(gan, s))(jnp.array(steps))
  np.testing.assert_array_equal(traced, expected)
  # 25 warm-up iterations of 20 rounds, then one of 1 round.
  assert wgan_config.critic_rounds(gan, 26) == 25 * 20 + 1
  # 2,000 iterations: 28 of them (0-24, 500, 1000, 1500) take 20 rounds.
  assert wgan_config.get_config("digits").train.num_steps == 2000 + 28 * 19


def _tiny_state(config):
  """An MLP generator and critic on 4x4 images, Adam for the critic so that
  its step counter counts the critic updates."""
  rngs = nnx.Rngs(0)
  generator = gj.nn.MLPGenerator(3, (4, 4, 1), hidden=(8,), output_activation="tanh",
                                 rngs=rngs)
  critic = gj.nn.MLPDiscriminator((4, 4, 1), hidden=(8,), maxout_pieces=None,
                                  dropout=0.0, input_dropout=0.0, rngs=rngs)
  return gj.train.GANState.create(generator=generator, discriminator=critic,
                                  g_optimizer=wgan.rmsprop(config),
                                  d_optimizer=optax.adam(1e-3),
                                  extra={"critic_rounds": jnp.zeros((), jnp.int32)})


def test_generator_updates_after_the_scheduled_number_of_clipped_critic_updates():
  config = wgan_config.get_config("smoke")
  config.model.latent_dim = 3
  config.gan.update(n_critic=2, n_critic_warmup=4, warmup_iterations=1,
                    warmup_every=4, clip=0.05)
  step = jax.jit(wgan.make_train_step(config))
  rng = np.random.default_rng(0)
  state = _tiny_state(config)
  iterations, generator_moved = [], []
  for i in range(8):
    batch = {"image": rng.uniform(-1, 1, (2, 6, 4, 4, 1)).astype(np.float32)}
    new, metrics = step(state, batch, jax.random.key(i))
    assert int(new.opt_states["discriminator"][0].count) == 2 * (i + 1)
    assert int(new.updates["discriminator"]) == 2 * (i + 1)
    for leaf in jax.tree.leaves(new.discriminator.params):
      assert jnp.max(jnp.abs(leaf)) <= np.float32(0.05)
    old_kernel = state.generator.params["output"]["kernel"].value
    new_kernel = new.generator.params["output"]["kernel"].value
    generator_moved.append(not np.array_equal(old_kernel, new_kernel))
    iterations.append(int(new.step))
    assert metrics["generator_iterations"] == new.step
    state = new
  # Iterations 0 and 4 are warm-up ones (4 critic updates = 2 rounds); the
  # others take one round of 2. The generator moves only when one ends.
  assert iterations == [0, 1, 2, 3, 4, 4, 5, 6]
  assert generator_moved == [False, True, True, True, True, False, True, True]
  # The clip binds: Flax's initial weights exceed 0.05 and sit on the bound.
  kernel = np.asarray(state.discriminator.params["hidden"][0]["kernel"].value)
  assert np.isclose(np.abs(kernel).max(), 0.05)


def test_rmsprop_is_pytorchs_with_eps_outside_the_root():
  config = wgan_config.get_config("digits")
  tx = wgan.rmsprop(config)
  params = {"w": jnp.zeros(3)}
  state = tx.init(params)
  g = jnp.array([1e-4, -2.0, 0.0])
  updates, state = tx.update({"w": g}, state, params)
  v = 0.01 * np.asarray(g) ** 2  # (1 - alpha) g^2 with alpha = 0.99
  expected = -5e-5 * np.asarray(g) / (np.sqrt(v) + 1e-8)
  np.testing.assert_allclose(updates["w"], expected, rtol=1e-5)
  # Second step: v = 0.99 v + 0.01 g^2.
  updates, _ = tx.update({"w": g}, state, params)
  v = 0.99 * v + 0.01 * np.asarray(g) ** 2
  np.testing.assert_allclose(updates["w"], -5e-5 * np.asarray(g) / (np.sqrt(v) + 1e-8),
                             rtol=1e-5)


def _two_step_config(preset):
  """The preset's architecture and data, made tiny: two rounds of one critic
  update that make one warm-up generator iteration. The periodic hooks only
  for the default preset, to keep the file fast."""
  c = wgan_config.get_config(preset)
  c.model.update(features=4, latent_dim=8, mlp_width=16, mlp_depth=2)
  c.gan.update(n_critic=1, n_critic_warmup=2)
  hooks = preset == "digits"
  c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                 sample_every=2 if hooks else 0)
  c.eval.update(num_samples=16, quality_every=1 if hooks else 0, quality_samples=16)
  return c


@pytest.mark.slow
@pytest.mark.parametrize("preset", wgan_config.PRESETS)
def test_preset_smoke_two_steps_end_to_end(tmp_path, preset):
  config = _two_step_config(preset)
  wgan.validate(config)
  mock = contextlib.nullcontext()
  if config.data.dataset != "digits":
    import tensorflow_datasets as tfds
    mock = tfds.testing.mock_data(num_examples=16)
  with mock:
    results = wgan.train_and_evaluate(config, str(tmp_path))
  records = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [r["step"] for r in records if "w_estimate" in r] == [1, 2]
  assert [r["generator_iterations"] for r in records if "w_estimate" in r] == [0, 1]
  if config.data.dataset == "digits":
    assert np.isfinite(results["eval/classifier_fd"])
  if preset == "digits":
    assert [r["step"] for r in records if "quality/classifier_fd" in r] == [1, 2]
    assert os.path.getsize(tmp_path / "samples" / "step_0000002.png") > 0
  size, channels = config.data.image_size, config.data.channels
  samples = np.load(tmp_path / "samples.npz")["samples"]
  assert samples.shape == (16, size, size, channels)
  for name in ("samples.png", "w_estimate.png"):
    assert os.path.getsize(tmp_path / name) > 0


@pytest.mark.parametrize("preset", wgan_config.PRESETS)
def test_every_preset_validates(preset):
  wgan.validate(wgan_config.get_config(preset))


def _run(*flags):
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0")
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "wgan.py"),
                         *flags], capture_output=True, text=True, env=env,
                        timeout=300, cwd=ROOT)


@pytest.mark.parametrize("field,value", [
    ("optim.decay", 1.5), ("model.critic_norm", "group"), ("gan.warmup_every", 0),
    ("data.image_size", 28)])
def test_validate_names_the_bad_field(field, value):
  config = wgan_config.get_config()
  group, name = field.split(".")
  config[group][name] = value
  with pytest.raises(gj.train.ConfigError, match=field):
    gj.train.experiment.validate(wgan, config)


@pytest.mark.slow
@pytest.mark.parametrize("flags,field", [
    (["--config.gan.clip=0.0"], "gan.clip"),
    (["--config.model.generator=resnet"], "model.generator"),
    (["--config.gan.n_critic_warmup=12"], "gan.n_critic_warmup"),
])
def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, flags, field):
  run = _run(*flags, f"--workdir={tmp_path}")
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr[-2000:]
  assert field in lines[0]
  assert not os.path.exists(tmp_path / "checkpoints")
