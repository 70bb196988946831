"""PacGAN on stacked digits: the smoke run counts modes through the command
line; the discriminator judges packs of real or of generated samples; the
instance-noise switch anneals from the state (so a restarted run continues
the schedule), never reaches the samples, and leaves the GAN step exactly as
it was when off."""

import json

import jax
import numpy as np
import pytest
from flax import nnx

from experiment_runs import run_experiment
from experiments import gan
from experiments import pacgan
from experiments import stacked
from experiments.configs import gan as gan_config
from experiments.configs import pacgan as pacgan_config
from gans_jax.train import experiment as experiment_lib


@pytest.mark.slow
def test_smoke_run_counts_the_modes_of_its_stacked_samples(tmp_path):
  experiment_lib.check(pacgan)
  code = run_experiment("pacgan", "--config=experiments/configs/pacgan.py:smoke",
                        f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["step"] == 2 and results["eval/num_samples"] == 64
  assert 1 <= results["eval/modes_covered"] <= 64
  assert 0.0 <= results["eval/kl_to_uniform"] <= np.log(1000) + 1e-6
  saved = np.load(tmp_path / "samples.npz")
  assert saved["samples"].shape == (64, 8, 8, 3)
  assert np.all(np.abs(saved["samples"]) <= 1.0)
  histogram = saved["mode_histogram"]
  assert histogram.shape == (1000,) and histogram.sum() == 64
  assert np.count_nonzero(histogram) == results["eval/modes_covered"]


def test_bad_packing_exits_2_with_one_line(tmp_path, capsys):
  code = run_experiment("pacgan", "--config=experiments/configs/pacgan.py:smoke",
                        "--config.pacgan.packing=0", f"--workdir={tmp_path}")
  assert code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "pacgan.packing" in err[0]


def _smoke(packing=1, **noise):
  config = pacgan_config.get_config("smoke")
  config.pacgan.packing = packing
  config.instance_noise.update(**noise)
  return config


def test_the_packed_discriminator_scores_batch_size_real_and_fake_packs():
  config = _smoke(packing=2)
  state = pacgan.create_state(config)
  module = state.discriminator.module()
  assert module.packing == 2 and module.discriminator.channels == 6
  batch = stacked.batches(config, samples_per_pack=2).get_batch(0)
  assert batch["image"].shape == (2 * config.train.batch_size, 8, 8, 3)
  seen = []

  def discriminator_loss(real, fake):
    seen.append((real.shape, fake.shape))
    return (real - fake).mean()

  game = stacked.Game(discriminator_loss, lambda fake: fake.mean())
  step = stacked.make_train_step(config, game)
  jax.eval_shape(step, state, batch, jax.random.key(0))
  # One call each on the real and on the generated packs, batch_size apiece.
  assert seen == [((config.train.batch_size,), (config.train.batch_size,))]


@pytest.mark.slow
def test_instance_noise_anneals_from_the_state_across_a_restart():
  config = _smoke(std=0.5, anneal_steps=2)
  state = pacgan.create_state(config)
  data = stacked.batches(config)
  key = jax.random.key(0)
  state, first = jax.jit(pacgan.make_train_step(config))(state, data.get_batch(0), key)
  # A new step function, as a run restarted from a checkpoint builds.
  restarted = jax.jit(pacgan.make_train_step(config))
  stds = [float(first["instance_noise_std"])]
  for step in (1, 2):
    state, metrics = restarted(state, data.get_batch(step), key)
    stds.append(float(metrics["instance_noise_std"]))
  assert stds == [0.5, 0.25, 0.0]


def test_samples_and_evaluation_carry_no_instance_noise():
  noisy, clean = _smoke(std=1.0, schedule="constant"), _smoke()
  state = pacgan.create_state(clean)
  key = jax.random.key(1)
  np.testing.assert_array_equal(pacgan.make_sampler(noisy, 16)(state, key),
                                pacgan.make_sampler(clean, 16)(state, key))


def _gan_step(config):
  from experiments import common
  state = gan.create_state(config)
  batch = common.image_batches(config).get_batch(0)
  _, metrics = jax.jit(gan.make_train_step(config))(state, batch, jax.random.key(2))
  return {k: float(v) for k, v in metrics.items()}


@pytest.mark.slow
def test_gan_step_is_unchanged_with_instance_noise_off_and_noisy_with_it_on():
  without = gan_config.get_config("smoke")
  with without.unlocked():
    del without["instance_noise"]
  off = gan_config.get_config("smoke")
  on = gan_config.get_config("smoke")
  on.instance_noise.update(std=0.3, anneal_steps=10)
  reference = _gan_step(without)
  assert _gan_step(off) == reference
  noisy = _gan_step(on)
  assert noisy["instance_noise_std"] == pytest.approx(0.3)
  assert noisy["d_real"] != reference["d_real"]
