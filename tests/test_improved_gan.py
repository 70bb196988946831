"""Improved Techniques for Training GANs (experiments/improved_gan.py): the
smoke preset through the command line, and the experiment's own pieces: the
feature-matching layer, the K+1 discriminator's losses, the labelled subset
and batches a resumed run draws, and bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiment_runs import run_experiment
from experiments import improved_gan
from experiments.configs import improved_gan as improved_gan_config
from gans_jax import data as gdata
from gans_jax.train import experiment as experiment_lib
from gans_jax.train.config import ConfigError


def smoke(**overrides):
  config = improved_gan_config.get_config("smoke")
  for field, value in overrides.items():
    section, name = field.split(".")
    config[section][name] = value
  return config


@pytest.mark.slow
def test_smoke_preset_trains_and_reports_both_test_errors(tmp_path):
  experiment_lib.check(improved_gan)
  code = run_experiment("improved_gan",
                        "--config=experiments/configs/improved_gan.py:smoke",
                        f"--workdir={tmp_path}")
  assert code == 0
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["step"] == 2
  assert results["eval/labelled_examples"] == 20
  for name in ("eval/test_error", "eval/supervised_test_error"):
    assert 0.0 <= results[name] <= 1.0
  assert results["eval/error_ratio"] == pytest.approx(
      results["eval/test_error"] / results["eval/supervised_test_error"])
  assert 1.0 <= results["eval/digit_inception_score"] <= 10.0
  assert 1 <= results["eval/classes_covered"] <= 10
  stored = np.load(tmp_path / "samples.npz")
  samples = stored["samples"]
  assert samples.shape == (20, 8, 8, 1)
  assert np.all(np.isfinite(samples)) and np.abs(samples).max() <= 1.0
  assert len(np.unique(samples.round(5), axis=0)) > 1
  # The labelled subset: 2 distinct training digits of each class.
  _, labels = gdata.load_digits_split("train", image_size=8)
  indices = stored["labelled_indices"]
  assert len(set(indices.tolist())) == 20
  assert np.bincount(labels[indices], minlength=10).tolist() == [2] * 10


def _batch(config, n=8):
  images, labels = gdata.load_digits_split("train", image_size=8)
  return {"image": jnp.asarray(images[:n]), "image_g": jnp.asarray(images[n:2 * n]),
          "labelled_image": jnp.asarray(images[2 * n:3 * n]),
          "label": jnp.asarray(labels[2 * n:3 * n])}


@pytest.mark.parametrize("layer", ["last_hidden", "hidden0"])
def test_generator_matches_the_batch_means_of_the_configured_layer(layer):
  config = smoke(**{"gan.feature_layer": layer})
  state = improved_gan.create_state(config)
  batch, key = _batch(config), jax.random.key(3)
  z = jax.random.uniform(jax.random.key(4), (8, config.model.latent_dim), minval=-1)
  loss, _ = improved_gan.generator_loss(config, state, state.generator.params,
                                        batch["image_g"], z, key)
  fake = improved_gan.generate(config, state.generator, z)[0]
  discriminator = state.discriminator.module(train=True)
  k_fake, k_real = jax.random.split(key)
  _, fake_features = discriminator(fake, rngs=k_fake, features=True)
  _, real_features = discriminator(batch["image_g"], rngs=k_real, features=True)
  # last_hidden is the last hidden layer's activation (before its noise).
  np.testing.assert_array_equal(fake_features["last_hidden"], fake_features["hidden1"])
  for name in ("hidden0", "last_hidden"):
    expected = np.mean((np.mean(real_features[name], 0)
                        - np.mean(fake_features[name], 0)) ** 2)
    if name == layer:
      np.testing.assert_allclose(loss, expected, rtol=1e-5)
    else:
      assert abs(float(loss) - expected) > 1e-6


def test_discriminator_loss_is_cross_entropy_plus_the_gan_loss_of_z_over_z_plus_one():
  config = smoke()
  state = improved_gan.create_state(config)
  batch, key = _batch(config), jax.random.key(5)
  fake = jax.random.uniform(jax.random.key(6), (8, 8, 8, 1), minval=-1)
  loss, aux = improved_gan.discriminator_loss(
      config, state, state.discriminator.params, batch, fake, key)
  keys = jax.random.split(key, 3)
  d = state.discriminator.module(train=True)
  logits = [np.asarray(d(x, rngs=k), np.float64) for x, k in
            zip((batch["labelled_image"], batch["image"], fake), keys)]
  labelled, real, generated = logits
  softmax = np.exp(labelled) / np.exp(labelled).sum(-1, keepdims=True)
  supervised = -np.mean(np.log(softmax[np.arange(8), np.asarray(batch["label"])]))
  z_real, z_fake = np.exp(real).sum(-1), np.exp(generated).sum(-1)
  d_real, d_fake = z_real / (z_real + 1), z_fake / (z_fake + 1)
  unsupervised = -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake))
  np.testing.assert_allclose(aux["supervised_loss"], supervised, rtol=1e-5)
  np.testing.assert_allclose(aux["unsupervised_loss"], unsupervised, rtol=1e-5)
  np.testing.assert_allclose(loss, supervised + 0.5 * unsupervised, rtol=1e-5)


def test_a_resumed_run_draws_the_same_labelled_subset_and_batches():
  config = smoke(**{"data.labelled_per_class": 5})
  first = improved_gan.SemiSupervisedBatches(config)
  uninterrupted = [first.get_batch(s) for s in range(40)]
  np.random.seed(12345)  # whatever global state the resumed process has
  np.random.rand(7)
  resumed = improved_gan.SemiSupervisedBatches(config)  # a new process, at step 30
  np.testing.assert_array_equal(first.labelled, resumed.labelled)
  for step in range(30, 40):
    for name, value in resumed.get_batch(step).items():
      np.testing.assert_array_equal(value, uninterrupted[step][name])
  assert np.bincount(first.labels[first.labelled], minlength=10).tolist() == [5] * 10
  # The labelled batches come from the subset only; the seed changes it.
  assert set(np.concatenate([first.labelled_indices(s) for s in range(40)])) <= set(
      first.labelled.tolist())
  other = improved_gan.SemiSupervisedBatches(smoke(**{"data.labelled_per_class": 5,
                                                      "train.seed": 1}))
  assert set(other.labelled.tolist()) != set(first.labelled.tolist())


@pytest.mark.parametrize("flag,field", [
    ("--config.data.labelled_per_class=500", "data.labelled_per_class"),
    ("--config.gan.feature_layer=hidden7", "gan.feature_layer"),
    ("--config.gan.feature_layer=minibatch", "gan.feature_layer"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flag, field):
  code = run_experiment("improved_gan",
                        "--config=experiments/configs/improved_gan.py:smoke",
                        f"--workdir={tmp_path}", flag)
  assert code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and field in lines[0]


@pytest.mark.parametrize("preset", improved_gan_config.PRESETS)
def test_every_preset_validates(preset):
  config = improved_gan_config.get_config(preset)
  improved_gan.validate(config)
  if preset in ("minibatch_discrimination", "feature_matching_minibatch"):
    assert config.model.minibatch_kernels == 8 and config.model.minibatch_kernel_dim == 3


@pytest.mark.slow
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
  """Historical averages, VBN statistics, minibatch discrimination and the
  labelled batches all resume: 2 + 2 steps give the 4-step run's samples."""
  flags = ["--config=experiments/configs/improved_gan.py:smoke",
           "--config.gan.historical_averaging=0.01",
           "--config.model.generator_norm=virtual_batch",
           "--config.model.minibatch_kernels=3"]
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  assert run_experiment("improved_gan", *flags, "--config.train.num_steps=4",
                        f"--workdir={straight}") == 0
  assert run_experiment("improved_gan", *flags, "--config.train.num_steps=2",
                        f"--workdir={resumed}") == 0
  assert run_experiment("improved_gan", *flags, "--config.train.num_steps=4",
                        f"--workdir={resumed}") == 0
  a, b = np.load(straight / "samples.npz"), np.load(resumed / "samples.npz")
  np.testing.assert_array_equal(a["samples"], b["samples"])
  np.testing.assert_array_equal(a["labelled_indices"], b["labelled_indices"])
  ra = json.loads((straight / "results.json").read_text())
  rb = json.loads((resumed / "results.json").read_text())
  assert ra == rb


def _conv_smoke(**overrides):
  """The smoke preset with the convolutional (official CIFAR-10) networks at
  small width on 16x16x3 images; no data set is read."""
  return smoke(**{"model.architecture": "conv", "data.dataset": "cifar10",
                  "data.image_size": 16, "data.channels": 3,
                  "model.conv_discriminator_channels": (4, 6),
                  "model.conv_generator_channels": (8, 4, 4), **overrides})


@pytest.mark.slow
def test_conv_networks_train_one_step_on_random_images():
  config = _conv_smoke(**{"data.image_size": 32})
  improved_gan.validate(config)
  state = improved_gan.create_state(config)
  images = jax.random.uniform(jax.random.key(0), (24, 32, 32, 3), minval=-1)
  batch = {"image": images[:8], "image_g": images[8:16],
           "labelled_image": images[16:], "label": jnp.arange(8) % 10}
  step = jax.jit(improved_gan.make_train_step(config))
  new, metrics = step(state, batch, jax.random.key(1))
  for name in ("d_loss", "g_loss", "supervised_loss", "unsupervised_loss"):
    assert np.isfinite(metrics[name]), name
  for player in ("generator", "discriminator"):
    before = jax.tree.leaves(state.player(player).params)
    after = jax.tree.leaves(new.player(player).params)
    assert all(np.all(np.isfinite(a)) for a in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before)), player
  samples = improved_gan.make_sampler(config, 5)(new, jax.random.key(2))
  assert samples.shape == (5, 32, 32, 3) and np.abs(samples).max() <= 1.0
  logits, features = new.discriminator.module(train=False)(images[:4], features=True)
  assert logits.shape == (4, 10)
  assert features["last_hidden"].shape == (4, 6)
  np.testing.assert_allclose(features["last_hidden"],
                             features["hidden8"].mean(axis=(1, 2)), rtol=1e-5)
  assert "minibatch" not in features


def test_conv_networks_need_an_image_size_they_can_build():
  with pytest.raises(ConfigError, match="model.architecture"):
    improved_gan.validate(_conv_smoke(**{"data.image_size": 8}))


def test_cifar10_preset_is_the_official_convolutional_setting():
  config = improved_gan_config.get_config("cifar10")
  m = config.model
  assert m.architecture == "conv" and m.weight_norm
  assert tuple(m.conv_discriminator_channels) == (96, 192)
  assert tuple(m.conv_generator_channels) == (512, 256, 128)
  assert (m.conv_input_dropout, m.conv_dropout, m.latent_dim) == (0.2, 0.5, 100)
  assert config.data.labelled_per_class * 10 == 4000
  assert (config.train.batch_size, config.optim.learning_rate, config.optim.b1) == (
      100, 3e-4, 0.5)
  assert config.train.num_steps == 1200 * 50000 // 100
  assert improved_gan_config.get_config("mnist").model.architecture == "mlp"
  assert improved_gan_config.get_config().model.architecture == "mlp"
