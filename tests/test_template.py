"""The template a paper starts from: it meets the contract, and its smoke
preset trains, checkpoints and evaluates through the command line."""

import json

import numpy as np

from experiment_runs import run_experiment
from experiments import template
from gans_jax.train import experiment as experiment_lib


def test_the_template_meets_the_contract_and_its_smoke_preset_trains(tmp_path):
  experiment_lib.check(template)
  code = run_experiment("template", "--config=experiments/configs/template.py:smoke",
                        f"--workdir={tmp_path}")
  assert code == 0
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["step"] == 2
  assert 0.0 <= results["eval/high_quality_fraction"] <= 1.0
  samples = np.load(tmp_path / "samples.npz")
  generated = samples[samples.files[0]]
  assert generated.ndim == 2 and generated.shape[1] == 2
  assert np.all(np.isfinite(generated))
  # Two distinct latents give two distinct points: the sampler draws per example.
  assert len(np.unique(generated.round(6), axis=0)) > 1
