"""EBGAN: the smoke run through the command line; the margin hinge and the
pulling-away term (each code with the others, never with itself) in the
experiment's game."""

import json

import jax.numpy as jnp
import pytest

from experiment_runs import run_experiment
from experiments import ebgan
from experiments.configs import ebgan as ebgan_config
from gans_jax.train import experiment as experiment_lib


def test_smoke_run_trains_and_counts_modes(tmp_path):
  experiment_lib.check(ebgan)
  code = run_experiment("ebgan", "--config=experiments/configs/ebgan.py:smoke",
                        f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["step"] == 2 and 1 <= results["eval/modes_covered"] <= 64


def test_generator_loss_adds_the_pulling_away_term_without_the_diagonal():
  config = ebgan_config.get_config("digits")
  assert config.ebgan.pulling_away_weight == 0.1
  game = ebgan.game(config)
  energy = jnp.array([0.2, 0.4, 0.6])
  orthogonal = jnp.eye(3)
  parallel = jnp.ones((3, 5))
  # Orthogonal codes: no term at all (the diagonal would add 0.1 / 2).
  assert float(game.generator_loss((energy, orthogonal))) == pytest.approx(0.4)
  assert float(game.generator_loss((energy, parallel))) == pytest.approx(0.5)
  no_pt = ebgan.game(ebgan_config.get_config("no_pt"))
  assert float(no_pt.generator_loss((energy, parallel))) == pytest.approx(0.4)


def test_discriminator_hinge_stops_at_the_margin():
  config = ebgan_config.get_config("digits")
  game = ebgan.game(config)
  m = config.ebgan.margin
  codes = jnp.eye(2)
  real = (jnp.array([0.1, 0.3]), codes)
  assert float(game.discriminator_loss(real, (jnp.array([m, 2 * m]), codes))) == (
      pytest.approx(0.2))
  assert float(game.discriminator_loss(real, (jnp.array([0.0, 0.0]), codes))) == (
      pytest.approx(0.2 + m))


def test_bad_margin_exits_2(tmp_path, capsys):
  code = run_experiment("ebgan", "--config=experiments/configs/ebgan.py:smoke",
                        "--config.ebgan.margin=-1", f"--workdir={tmp_path}")
  assert code == 2
  assert "ebgan.margin" in capsys.readouterr().err
