"""One process of a multi-host training run, for tests/test_distributed.py.

usage: python multihost_worker.py PROCESS_ID NUM_PROCESSES PORT WORKDIR NUM_STEPS [wait]

With NUM_PROCESSES = 1 it runs alone. With ``wait`` every call sleeps a
little and process 1 writes WORKDIR/ready after 20 steps, so that a test can
send it SIGTERM mid-run; an interrupted process prints ``interrupted N``. Each process loads its share of every
global batch (ToyBatches splits by process index) and the loop assembles the
global arrays with ``jax.make_array_from_process_local_data``.
"""

import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gans_jax import data as gdata
from gans_jax import train as gtrain

_TX = optax.sgd(0.1)


def step(state, batch, key):
  def loss_fn(mu):
    noise = 0.01 * jax.random.normal(key, batch["x"].shape)
    return jnp.mean(jnp.sum((batch["x"] + noise - mu) ** 2, axis=-1))
  loss, grad = jax.value_and_grad(loss_fn)(state["mu"])
  updates, opt = _TX.update(grad, state["opt"])
  return {"mu": optax.apply_updates(state["mu"], updates), "opt": opt}, {"loss": loss}


class _Slow:
  every = 2

  def __init__(self, workdir):
    self.workdir = workdir

  def __call__(self, step, state, writer):
    time.sleep(0.05)
    if step == 20 and jax.process_index() == 1:
      open(os.path.join(self.workdir, "ready"), "w").close()


def main():
  process_id, num_processes, port, workdir, num_steps = sys.argv[1:6]
  wait = sys.argv[6:] == ["wait"]
  if int(num_processes) > 1:
    gtrain.initialize(coordinator_address=f"127.0.0.1:{port}",
                      num_processes=int(num_processes), process_id=int(process_id))
  assert jax.process_count() == int(num_processes)
  config = ml_collections.ConfigDict()
  config.train = gtrain.train_defaults(
      num_steps=int(num_steps), batch_size=16, log_every=10 if wait else 5,
      checkpoint_every=1000 if wait else 5, sample_every=0,
      steps_per_call=2 if wait else 1)
  mu = jnp.array([1.0, -1.0])
  state = {"mu": mu, "opt": _TX.init(mu)}
  data = gdata.ToyBatches("25gaussians", batch_size=16, seed=3)
  try:
    state = gtrain.fit(step, state, data, config, workdir, progress=False,
                       hooks=[_Slow(workdir)] if wait else ())
  except gtrain.Interrupted as stop:
    print(f"interrupted {stop.step}", flush=True)
    gtrain.finish()
    return
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "final.json"), "w") as f:
      json.dump({"mu": np.asarray(jax.device_get(state["mu"])).tolist(),
                 "processes": jax.process_count()}, f)
  gtrain.finish()


if __name__ == "__main__":
  main()
