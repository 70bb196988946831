"""Discriminator features as a representation (DCGAN, Section 5.1): 4x4 max
pooling of every layer, one labelled subset shared by every feature set, and
the linear probe; the DCGAN run's ``--draw=features``."""

import json

import numpy as np
import pytest

from experiment_runs import run_experiment
from gans_jax.eval import features


def test_each_cell_of_the_grid_takes_the_maximum_of_its_window():
  maps = np.zeros((1, 8, 8, 2), np.float32)
  maps[0, 1, 0, 0] = 5.0   # window (0, 0)
  maps[0, 0, 1, 0] = -1.0  # a smaller value in the same window
  maps[0, 7, 6, 1] = 3.0   # window (3, 3), channel 1
  pooled = features.max_pool_to_grid(maps)
  assert pooled.shape == (1, 4, 4, 2)
  assert pooled[0, 0, 0, 0] == 5.0          # the maximum, not the mean (1.0)
  assert pooled[0, 3, 3, 1] == 3.0
  assert pooled[0, 3, 3, 0] == 0.0 and pooled.sum() == 8.0
  # A 4x4 map is already on the grid; other sizes must divide.
  np.testing.assert_array_equal(features.max_pool_to_grid(pooled), pooled)
  with pytest.raises(ValueError, match="6x6"):
    features.max_pool_to_grid(np.zeros((1, 6, 6, 1)))


def test_pooled_features_concatenate_the_named_layers_in_order():
  rng = np.random.default_rng(0)
  maps = {"block0": rng.normal(size=(3, 16, 16, 2)), "block1": rng.normal(size=(3, 8, 8, 5)),
          "block2": rng.normal(size=(3, 4, 4, 7))}
  out = features.pooled_features(maps, ["block0", "block1", "block2"])
  assert out.shape == (3, 16 * (2 + 5 + 7))
  np.testing.assert_array_equal(out[:, :32],
                                features.max_pool_to_grid(maps["block0"]).reshape(3, -1))
  np.testing.assert_array_equal(out[:, -112:], maps["block2"].reshape(3, -1))
  with pytest.raises(KeyError, match="block3"):
    features.pooled_features(maps, ["block3"])


def test_every_feature_set_is_scored_on_the_same_labelled_subset():
  labels = np.repeat(np.arange(10), 20)
  ids = np.arange(len(labels), dtype=np.float64)[:, None]
  # Two feature sets that carry each example's index, so the probe sees which
  # examples each one was given.
  train = {"a": ids, "b": ids + 1000}
  seen = []

  def probe(x, y, test_x, test_y, *, c):
    del test_x, test_y, c
    seen.append((x[:, 0] % 1000).astype(int).tolist())
    np.testing.assert_array_equal(labels[(x[:, 0] % 1000).astype(int)], y)
    return 0.5

  errors = features.probe_errors(train, labels, train, labels, per_class=(3, None),
                                 seeds=(0, 1), probe=probe)
  assert errors == {"a": {"3": [0.5, 0.5], "all": [0.5]},
                    "b": {"3": [0.5, 0.5], "all": [0.5]}}
  # Per seed, a then b on one subset; the two seeds draw different subsets;
  # "all" is every example, once.
  seed0_a, seed0_b, seed1_a, seed1_b, all_a, all_b = seen
  assert seed0_a == seed0_b and seed1_a == seed1_b and seed0_a != seed1_a
  assert len(seed0_a) == 30 and np.all(np.bincount(labels[seed0_a]) == 3)
  assert all_a == all_b == list(range(len(labels)))


def test_the_linear_probe_separates_separable_classes_and_not_noise():
  rng = np.random.default_rng(1)
  y = np.repeat(np.arange(3), 40)
  x = rng.normal(size=(120, 5)) + 6.0 * np.eye(3, 5)[y]
  assert features.linear_probe_error(x[::2], y[::2], x[1::2], y[1::2]) == 0.0
  noise = rng.normal(size=(120, 5))
  assert features.linear_probe_error(noise[::2], y[::2], noise[1::2], y[1::2]) > 0.3


@pytest.mark.slow
def test_a_trained_dcgan_run_draws_its_features_table(tmp_path, monkeypatch):
  from experiments import dcgan
  # Fewer probes than the run's (10, 50, 100, all labels; 3 draws): the same path.
  monkeypatch.setattr(dcgan, "FEATURE_LABELS", (10, None))
  monkeypatch.setattr(dcgan, "FEATURE_SEEDS", (0, 1))
  workdir = tmp_path / "run"
  assert run_experiment("dcgan", "--config=experiments/configs/dcgan.py:smoke",
                        f"--workdir={workdir}") == 0
  assert run_experiment("dcgan", f"--workdir={workdir}", "--draw=features") == 0
  # --draw writes beside the checkpoint it draws from.
  record = json.loads((workdir / "step_2" / "features.json").read_text())
  assert record["labels_per_class"] == [10, "all"]
  assert set(record["errors"]) == {"trained discriminator", "untrained discriminator",
                                   "raw pixels"}
  for by_count in record["errors"].values():
    assert len(by_count["10"]["errors"]) == 2 and len(by_count["all"]["errors"]) == 1
    assert all(0.0 <= e <= 1.0 for c in by_count.values() for e in c["errors"])
  # Raw pixels of the digits are far from chance with every label.
  assert record["errors"]["raw pixels"]["all"]["mean"] < 0.2
  assert (workdir / "step_2" / "features.png").stat().st_size > 0
