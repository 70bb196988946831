"""Trains DCGAN's step on a 1-device and an 8-device mesh in one process and
prints the largest parameter difference, for tests/test_distributed.py.

Needs XLA_FLAGS=--xla_force_host_platform_device_count=8.
usage: python multidevice_worker.py WORKDIR
"""

import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import numpy as np

from experiments import common
from experiments import dcgan
from experiments import gan
from experiments.configs import dcgan as dcgan_config
import gans_jax as gj


def train(mesh, workdir):
  config = dcgan_config.get_config("smoke")
  config.train.update(batch_size=16, num_steps=2, sample_every=0)
  state = dcgan.create_state(config)
  return gj.train.fit(gan.make_train_step(config), state,
                      common.image_batches(config), config, workdir,
                      mesh=mesh, progress=False)


def main():
  workdir = sys.argv[1]
  assert jax.device_count() == 8, jax.devices()
  one = train(gj.train.data_mesh(jax.devices()[:1]), os.path.join(workdir, "one"))
  eight = train(gj.train.data_mesh(), os.path.join(workdir, "eight"))
  diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
                       (one.generator, one.discriminator),
                       (eight.generator, eight.discriminator))
  leaves = jax.tree.leaves(diffs)
  replicated = all(x.sharding.is_fully_replicated for x in jax.tree.leaves(eight))
  devices = {len(x.sharding.device_set) for x in jax.tree.leaves(eight)}
  print(json.dumps({"max_diff": max(leaves), "num_leaves": len(leaves),
                    "replicated": replicated, "devices": sorted(devices)}))


if __name__ == "__main__":
  main()
