"""Smoke tests of experiments/gan.py and experiments/dcgan.py (two training
steps end to end, evaluation included) and the command line's errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import dcgan
from experiments import gan
from experiments.configs import dcgan as dcgan_config
from experiments.configs import gan as gan_config
from gans_jax.train import config as config_lib
from gans_jax.train import experiment as experiment_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _shared_classifier_cache(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


@pytest.mark.parametrize("conditional", [False, True])
def test_gan_smoke_two_steps_end_to_end(tmp_path, conditional):
  config = gan_config.get_config("smoke")
  config.model.conditional = conditional
  gan.validate(config)
  results = gan.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(results["eval/parzen_log_likelihood"])
  # The window width is chosen from the paper's grid, logspace(-1, 0, 10).
  assert np.isclose(np.logspace(-1, 0, 10), results["eval/parzen_sigma"]).any()
  # The class spread is that of the saved samples' predicted classes.
  from gans_jax.eval import classifier as classifier_lib
  classifier = classifier_lib.load_or_train_digit_classifier(
      os.path.join(os.environ["GANS_JAX_CACHE_DIR"], "digit_classifier.npz"))
  samples = np.load(tmp_path / "samples.npz")["samples"]
  assert len(samples) == min(config.eval.num_samples, 1000)
  if len(samples) == config.eval.num_samples:
    spread = classifier_lib.class_spread(classifier, samples)
    assert results["eval/classes_covered"] == spread["classes_covered"]
  records = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(records[0])
  assert os.path.exists(tmp_path / "samples.npz")
  assert os.listdir(tmp_path / "checkpoints") == ["2"]


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.slow
def test_dcgan_generator_step_reuses_the_discriminator_steps_fake(conditional):
  # pytorch/examples' DCGAN step: G's update back-propagates D_new(G(z)) for
  # the z (and labels) of the discriminator's update, through one G forward.
  import jax
  import jax.numpy as jnp
  import optax
  import gans_jax as gj
  from experiments import common

  config = dcgan_config.get_config("smoke")
  config.model.conditional = conditional
  assert config.gan.reuse_fake
  state = dcgan.create_state(config)
  # Plain gradient steps for G, so that its update is its gradient.
  state = state.with_optimizer("generator", optax.sgd(1.0))
  m, size = config.train.batch_size, config.data.image_size
  batch = {"image": jax.random.uniform(jax.random.key(1), (m, size, size, 1),
                                       minval=-1, maxval=1),
           "label": jnp.arange(m) % 10}
  key = jax.random.key(2)
  new_state, _ = jax.jit(gan.make_train_step(config))(state, batch, key)

  key_z, _, _ = jax.random.split(jax.random.fold_in(key, 0), 3)
  z = common.latent(key_z, m, config.model.latent_dim, config.model.noise)
  labels = batch["label"] if conditional else None
  key_d = jax.random.split(jax.random.fold_in(key, 1), 3)[1]

  def g_loss(params):
    fake, _ = state.generator.apply(z, labels, params=params)
    logits, _ = new_state.discriminator.apply(fake, labels, rngs=key_d)
    return gj.losses.generator_nonsaturating_loss(logits).mean()

  grads = jax.grad(g_loss)(state.generator.params)
  expected = jax.tree.map(lambda p, g: p - g, state.generator.params, grads)
  for a, b in zip(jax.tree.leaves(new_state.generator.params),
                  jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # With fresh noise (Algorithm 1) the update differs.
  config.gan.reuse_fake = False
  fresh, _ = jax.jit(gan.make_train_step(config))(state, batch, key)
  assert not all(np.allclose(a, b) for a, b in zip(
      jax.tree.leaves(fresh.generator.params), jax.tree.leaves(expected)))
  # The discriminator's update does not depend on the choice.
  for a, b in zip(jax.tree.leaves(fresh.discriminator.params),
                  jax.tree.leaves(new_state.discriminator.params)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss", ["least_squares", "hinge", "non_saturating"])
def test_the_discriminator_plays_the_game_gan_loss_names(loss):
  # The discriminator's loss on the step's logits is gan.loss's (LSGAN's
  # least squares for the lsgan presets), not always the minimax one.
  import jax
  import gans_jax as gj
  from experiments import common

  config = dcgan_config.get_config("smoke")
  config.gan.loss = loss
  state = dcgan.create_state(config)
  m, size = config.train.batch_size, config.data.image_size
  batch = {"image": jax.random.uniform(jax.random.key(1), (m, size, size, 1),
                                       minval=-1, maxval=1)}
  key = jax.random.key(2)
  _, metrics = jax.jit(dcgan.make_train_step(config))(state, batch, key)

  key_z, key_real, key_fake = jax.random.split(jax.random.fold_in(key, 0), 3)
  z = common.latent(key_z, m, config.model.latent_dim, config.model.noise)
  fake, _ = state.generator.apply(z, None)
  real_logits, d = state.discriminator.apply(batch["image"], None, rngs=key_real)
  fake_logits, _ = d.apply(fake, None, rngs=key_fake)
  d_loss, _ = gj.losses.get(loss)
  np.testing.assert_allclose(metrics["d_loss"],
                             d_loss(real_logits, fake_logits).mean(), rtol=1e-5)


@pytest.mark.slow
def test_gan_trains_on_the_ring_of_8_gaussians_and_counts_its_modes(tmp_path):
  config = gan_config.get_config("lsgan_ring")
  config.train.update(num_steps=2, batch_size=16, log_every=1, checkpoint_every=2,
                      steps_per_call=1)
  config.eval.num_samples = 64
  experiment_lib.validate(gan, config, preset="lsgan_ring")
  results = gan.train_and_evaluate(config, str(tmp_path))
  assert 0 <= results["eval/modes_covered"] <= 8
  samples = np.load(tmp_path / "samples.npz")["samples"]
  assert samples.shape == (64, 2)  # points, not images
  assert os.path.exists(tmp_path / "toy.png")


@pytest.mark.parametrize("config_module", [gan_config, dcgan_config])
def test_the_lsgan_preset_is_the_digits_preset_with_the_least_squares_game(
    config_module):
  lsgan, digits = config_module.get_config("lsgan"), config_module.get_config()
  assert lsgan.gan.loss == "least_squares" and digits.gan.loss == "non_saturating"
  differing = {field for field, _, _ in config_lib.differences(digits, lsgan)}
  assert differing == {"name", "gan.loss"}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["smoke", "conditional"])
def test_dcgan_smoke_two_steps_end_to_end(tmp_path, preset):
  config = dcgan_config.get_config(preset)
  if preset != "smoke":
    smoke = dcgan_config.get_config("smoke")
    config.update(model=dict(smoke.model, conditional=True), train=smoke.train,
                  eval=smoke.eval)
  dcgan.validate(config)
  results = dcgan.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(results["eval/classifier_fd"])
  for name in ("interpolation.png", "samples.png", "samples.npz", "results.json"):
    assert os.path.getsize(tmp_path / name) > 0
  assert os.listdir(tmp_path / "samples") == ["step_0000002.png"]
  samples = np.load(tmp_path / "samples.npz")["samples"]
  assert samples.shape == (16, 32, 32, 1)
  assert samples.min() >= -1 and samples.max() <= 1


@pytest.mark.parametrize("preset", gan_config.PRESETS)
def test_every_gan_preset_validates(preset):
  gan.validate(gan_config.get_config(preset))


@pytest.mark.parametrize("preset", dcgan_config.PRESETS)
def test_every_dcgan_preset_validates(preset):
  dcgan.validate(dcgan_config.get_config(preset))


def _run(script, *flags, devices=1):
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script),
                         *flags], capture_output=True, text=True, env=env,
                        timeout=300, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("flags,field", [
    (["--config.train.num_stepz=5"], "num_stepz"),
    (["--config.train.num_steps=abc"], "num_steps"),
    (["--config.data.image_size=48"], "data.image_size"),
    (["--config.model.noise=gaussian"], "model.noise"),
    (["--config=experiments/configs/dcgan.py:imagenet"], "imagenet"),
    (["--config.data.dataset=svhn"], "data.dataset"),
])
def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, flags, field):
  run = _run("dcgan.py", *flags, f"--workdir={tmp_path}")
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr[-2000:]
  assert field in lines[0]
  assert not os.path.exists(tmp_path / "checkpoints")


def test_batch_not_divisible_by_devices_exits_2(tmp_path):
  run = _run("gan.py", "--config=experiments/configs/gan.py:smoke",
             "--config.train.batch_size=12", f"--workdir={tmp_path}", devices=8)
  assert run.returncode == 2, run.stderr[-2000:]
  assert "train.batch_size" in run.stderr and "8 devices" in run.stderr


def test_missing_dataset_exits_2_and_says_how_to_prepare_it(tmp_path):
  run = _run("dcgan.py", "--config=experiments/configs/dcgan.py:mnist",
             f"--config.data.data_dir={tmp_path / 'tfds'}", f"--workdir={tmp_path / 'w'}")
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1, run.stderr[-2000:]
  assert "mnist" in lines[0] and "download_and_prepare" in lines[0]


class _TinyInception:
  """Stands in for the FID Inception network: 3 pool features (per-channel
  mean, spread and the mean of squares) and 4 logits per image."""

  identity = "tiny"
  image_size = 32

  def __call__(self, images, *, outputs=("pool",)):
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    pool = np.stack([x.mean(1), x.std(1), (x ** 2).mean(1)], axis=1)
    logits = np.stack([pool[:, 0], -pool[:, 0], pool[:, 1], pool[:, 2]], axis=1)
    out = {"pool": pool, "logits": logits, "logits_unbiased": logits}
    return {name: out[name] for name in outputs}


@pytest.mark.slow
def test_image_experiments_report_inception_metrics_when_the_network_is_there(
    tmp_path, monkeypatch, capsys):
  from gans_jax.eval import inception
  from gans_jax.eval import metrics
  config = dcgan_config.get_config("smoke")
  config.eval.update(inception_metrics=("fid", "is"), inception_reference="train",
                     inception_num_real=64)
  dcgan.validate(config)
  # Without the weights: one line says so, and no number is made up.
  monkeypatch.delenv("GANS_JAX_INCEPTION_WEIGHTS", raising=False)
  results = dcgan.train_and_evaluate(config, str(tmp_path / "none"))
  assert "eval/fid" not in results and "eval/is" not in results
  assert "fid, is not computed" in capsys.readouterr().out
  # With a network: FID of the saved samples against the train split's
  # first 64 images, and IS of the samples, both through that network.
  monkeypatch.setattr(inception, "InceptionFeatures", lambda *a, **k: _TinyInception())
  results = dcgan.train_and_evaluate(config, str(tmp_path / "tiny"))
  samples = np.load(tmp_path / "tiny" / "samples.npz")["samples"]
  from experiments import common
  real = common.held_out_images(config, "train", 64)
  net = _TinyInception()
  mu_s, sigma_s = metrics.gaussian_statistics(net(samples)["pool"])
  mu_r, sigma_r = metrics.gaussian_statistics(net(real)["pool"])
  assert results["eval/fid"] == pytest.approx(
      metrics.frechet_distance(mu_s, sigma_s, mu_r, sigma_r), rel=1e-6)
  assert results["eval/is"] == pytest.approx(
      metrics.inception_score(net(samples, outputs=("logits_unbiased",))["logits_unbiased"],
                              splits=10)[0], rel=1e-6)
  assert "eval/kid" not in results


def test_inception_metric_names_are_checked():
  config = dcgan_config.get_config("cifar10")
  assert config.eval.inception_metrics == ("fid",)
  config.eval.inception_metrics = ("fid", "fjd")
  with pytest.raises(config_lib.ConfigError, match="eval.inception_metrics"):
    experiment_lib.validate(dcgan, config, preset="cifar10")
