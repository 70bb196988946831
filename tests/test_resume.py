"""Exact resumption of real training states: a GAN with BatchNorm, an EMA and
the grain image pipeline, and a four-player state on 1 and 8 devices."""

import json
import os
import signal
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from experiments import common
from experiments import wgan_gp
from experiments.configs import wgan_gp as wgan_gp_config
import gans_jax as gj

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _arrays(state):
  """``{path: array}``: states built by separate calls hold different optax
  closures (static), so runs are compared array by array."""
  return {jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]}


def _config():
  """WGAN-GP's DCGAN-style nets on the built-in digits: BatchNorm in the
  generator, LayerNorm in the critic, a generator EMA, 2 steps per call."""
  c = wgan_gp_config.get_config("digits")
  c.model.update(features=4, latent_dim=8)
  c.gan.n_critic = 2
  c.optim.ema_decay = 0.9
  c.train.update(num_steps=8, batch_size=8, log_every=2, checkpoint_every=4,
                 sample_every=0, steps_per_call=2)
  return c


class _Terminate:
  every = 2

  def __init__(self, at):
    self.at = at

  def __call__(self, step, state, writer):
    if step == self.at:
      os.kill(os.getpid(), signal.SIGTERM)


def _fit(config, workdir, hooks=()):
  return gj.train.fit(wgan_gp.make_train_step(config), wgan_gp.create_state(config),
                      wgan_gp.training_data(config), config, str(workdir),
                      hooks=hooks, batch_axis=1, progress=False)


@pytest.mark.slow
def test_a_gan_with_batchnorm_ema_and_image_batches_resumes_bit_for_bit(tmp_path):
  config = _config()
  assert isinstance(wgan_gp.training_data(config), gj.data.ImageBatches)
  full = _fit(config, tmp_path / "full")
  with pytest.raises(gj.train.Interrupted) as stop:
    _fit(config, tmp_path / "stopped", hooks=[_Terminate(6)])
  assert stop.value.step == 6  # between periodic checkpoints (4, 8)
  resumed = _fit(config, tmp_path / "stopped")
  chex.assert_trees_all_equal(_arrays(resumed), _arrays(full))
  # The parts that make this case hard moved during training.
  stats = resumed.generator.rest
  assert not np.allclose(jax.tree.leaves(stats)[0], jax.tree.leaves(
      wgan_gp.create_state(config).generator.rest)[0])
  assert not np.array_equal(jax.tree.leaves(resumed.ema["generator"].params)[0],
                            jax.tree.leaves(resumed.generator.params)[0])
  losses = lambda d: [r["critic_loss"] for r in gj.train.read_metrics(str(d))]
  assert losses(tmp_path / "stopped") == losses(tmp_path / "full")


@pytest.mark.slow
def test_four_players_train_alike_on_1_and_8_devices_and_resume_bit_for_bit(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  run = subprocess.run([sys.executable, os.path.join(HERE, "four_player_worker.py"),
                        str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.loads(run.stdout.strip().splitlines()[-1])
  assert result["devices"] == [8]
  assert result["one_vs_eight"] < 1e-5, result
  assert result["resumed_bitwise"], result
  # One shared update of both generators per step, one of each critic.
  assert result["updates"] == {"g_ab+g_ba": 12, "d_a": 12, "d_b": 12}
  assert result["pool_count"] == 8 and result["pool_moved"] > 0
