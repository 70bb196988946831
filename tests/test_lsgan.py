"""LSGAN: the smoke run through the command line, and each a-b-c coding's
targets in the experiment's game (swapped codings fail)."""

import json

import jax.numpy as jnp
import pytest

from experiment_runs import assert_orthogonal_kernels_and_zero_biases, run_experiment
from experiments import lsgan
from experiments.configs import lsgan as lsgan_config
from gans_jax.train import experiment as experiment_lib


@pytest.mark.slow
def test_smoke_run_trains_and_counts_modes(tmp_path):
  experiment_lib.check(lsgan)
  code = run_experiment("lsgan", "--config=experiments/configs/lsgan.py:smoke",
                        f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["step"] == 2 and 1 <= results["eval/modes_covered"] <= 64


@pytest.mark.parametrize("preset, a, b, c", [("digits", 0.0, 1.0, 1.0),
                                             ("pearson", -1.0, 1.0, 0.0)])
def test_each_preset_plays_its_codings_targets(preset, a, b, c):
  config = lsgan_config.get_config(preset)
  game = lsgan.game(config)
  ones = jnp.ones(4)
  # D is at its optimum with reals at b and fakes at a; G wants c.
  assert float(game.discriminator_loss(b * ones, a * ones)) == 0.0
  assert float(game.discriminator_loss(a * ones, b * ones)) == pytest.approx(
      (a - b) ** 2)
  assert float(game.generator_loss(c * ones)) == 0.0
  assert float(game.generator_loss((c + 1.0) * ones)) == pytest.approx(0.5)


def test_the_mixture_comparison_differs_only_by_the_game():
  ls, regular = (lsgan_config.get_config(p) for p in ("mixture", "mixture_gan"))
  assert ls.lsgan.game == "least_squares" and regular.lsgan.game == "non_saturating"
  with regular.unlocked():
    regular.lsgan.game = "least_squares"
    regular.name = ls.name
  assert regular.to_dict() == ls.to_dict()


@pytest.mark.slow
def test_the_mixture_is_the_codes_ring_networks_and_initialisation():
  """stability_comparison/mixture_gaussian: the ring of radius 1 and std
  0.01, z ~ N(0, I) of 256, 2 x 128 tanh MLPs whose weights start as
  TensorFlow 1.0's orthogonal initializer with gain 1.4 (D's output layer:
  every weight of one sign), biases zero."""
  import numpy as np
  config = lsgan_config.get_config("mixture")
  assert (config.data.dataset, config.model.latent_dim, config.train.batch_size,
          config.lsgan.orthogonal_gain, config.lsgan.orthogonal_draw) == (
              "ring", 256, 512, 1.4, "tf1_uniform_svd")
  state = lsgan.create_state(config)
  out = np.asarray(state.discriminator.params["output"]["kernel"].value)[:, 0]
  assert out.shape == (128,) and (np.all(out > 0) or np.all(out < 0))
  assert_orthogonal_kernels_and_zero_biases((state.generator, state.discriminator), 1.4)


def test_orthogonal_init_on_stacked_digits_exits_2_naming_the_field(tmp_path, capsys):
  code = run_experiment("lsgan", "--config=experiments/configs/lsgan.py:smoke",
                        "--config.lsgan.orthogonal_gain=1.4", f"--workdir={tmp_path}")
  assert code == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "lsgan.orthogonal_gain" in err


@pytest.mark.slow
def test_mixture_run_records_the_share_near_a_centre(tmp_path):
  """Smoke run of the mixture (2 steps, tiny nets): eval/near_fraction is the
  share of its evaluation samples within 10 std of a centre."""
  import numpy as np
  from gans_jax import data as gdata
  from gans_jax.eval import toy as toy_eval
  code = run_experiment(
      "lsgan", "--config=experiments/configs/lsgan.py:mixture",
      "--config.train.num_steps=2", "--config.train.steps_per_call=1",
      "--config.train.batch_size=16", "--config.train.checkpoint_every=2",
      "--config.model.latent_dim=4", "--config.model.g_hidden=8,8",
      "--config.model.d_hidden=8,8", "--config.eval.num_samples=64",
      f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  points = np.load(tmp_path / "samples.npz")["samples"]
  ring = gdata.get_toy("ring")
  want = toy_eval.mode_metrics(points, ring.centers, 0.01, threshold=10.0)
  assert results["eval/near_fraction"] == pytest.approx(want["high_quality_fraction"])
  assert results["eval/near_fraction"] >= results["eval/high_quality_fraction"]
