"""LSGAN: the smoke run through the command line, and each a-b-c coding's
targets in the experiment's game (swapped codings fail)."""

import json

import jax.numpy as jnp
import pytest

from experiment_runs import run_experiment
from experiments import lsgan
from experiments.configs import lsgan as lsgan_config
from gans_jax.train import experiment as experiment_lib


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
