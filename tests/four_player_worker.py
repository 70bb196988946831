"""A four-player toy trained on 1 and on 8 devices, and resumed, in one
process, for tests/test_resume.py.

Two generators G: A -> B and F: B -> A share one Adam (as CycleGAN's official
code chains their parameters), two least-squares critics have an Adam each,
and a pool of earlier fakes for the B critic lives in the state's ``extra``.

usage: python four_player_worker.py WORKDIR     (prints one JSON line)
"""

import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import chex

chex.set_n_cpu_devices(8)

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj

POOL = 8


class FourPlayers(gj.train.TrainState):
  g_ab: gj.train.Network  # G: A -> B
  g_ba: gj.train.Network  # F: B -> A
  d_a: gj.train.Network
  d_b: gj.train.Network


class Domains:
  """Unpaired points: A from 8 Gaussians, B from 25 Gaussians."""

  def __init__(self, batch_size):
    self.a = gj.data.ToyBatches("8gaussians", batch_size=batch_size, seed=1)
    self.b = gj.data.ToyBatches("25gaussians", batch_size=batch_size, seed=2)

  def get_batch(self, step):
    return {"a": self.a.get_batch(step)["x"], "b": self.b.get_batch(step)["x"]}


def create_state():
  rngs = gj.train.init_rngs(0)
  mlp = lambda: gj.nn.MLPGenerator(2, 2, hidden=(16,), output_activation=None,
                                   rngs=rngs)
  critic = lambda: gj.nn.MLPDiscriminator(2, hidden=(16,), maxout_pieces=None,
                                          dropout=0.0, input_dropout=0.0, rngs=rngs)
  adam = lambda: optax.adam(1e-2, b1=0.5)
  return FourPlayers.create(
      g_ab=mlp(), g_ba=mlp(), d_a=critic(), d_b=critic(),
      optimizers={("g_ab", "g_ba"): adam(), "d_a": adam(), "d_b": adam()},
      ema_decay={"g_ab": 0.9},
      extra={"pool": jnp.zeros((POOL, 2)), "count": jnp.zeros((), jnp.int32)})


def query_pool(extra, fakes, key):
  """Stores each fake; once the pool is full, returns a stored one half of the
  time (replacing it), as CycleGAN's image pool does."""
  def one(carry, inputs):
    pool, count = carry
    fake, k = inputs
    k_swap, k_slot = jax.random.split(k)
    full = count >= POOL
    swap = full & jax.random.bernoulli(k_swap)
    slot = jnp.where(full, jax.random.randint(k_slot, (), 0, POOL), count)
    out = jnp.where(swap, pool[slot], fake)
    store = ~full | swap
    pool = pool.at[slot].set(jnp.where(store, fake, pool[slot]))
    return (pool, jnp.minimum(count + 1, POOL)), out

  keys = jax.random.split(key, fakes.shape[0])
  (pool, count), out = jax.lax.scan(one, (extra["pool"], extra["count"]),
                                    (fakes, keys))
  return {"pool": pool, "count": count}, out


def step(state, batch, key):
  a, b = batch["a"], batch["b"]

  def generator_loss(params):
    fake_b, _ = state.g_ab.apply(a, params=params["g_ab"])
    fake_a, _ = state.g_ba.apply(b, params=params["g_ba"])
    cycle = (jnp.mean(jnp.abs(state.g_ba.apply(fake_b, params=params["g_ba"])[0] - a))
             + jnp.mean(jnp.abs(state.g_ab.apply(fake_a, params=params["g_ab"])[0] - b)))
    adversarial = (jnp.mean((state.d_b.apply(fake_b)[0] - 1) ** 2)
                   + jnp.mean((state.d_a.apply(fake_a)[0] - 1) ** 2))
    return adversarial + 10 * cycle, (fake_a, fake_b)

  params = {"g_ab": state.g_ab.params, "g_ba": state.g_ba.params}
  (g_loss, (fake_a, fake_b)), grads = jax.value_and_grad(
      generator_loss, has_aux=True)(params)
  state = state.apply_gradients(grads)
  extra, pooled_b = query_pool(state.extra, jax.lax.stop_gradient(fake_b), key)

  def critic_loss(params, critic, real, fake):
    real_s, _ = critic.apply(real, params=params)
    fake_s, _ = critic.apply(fake, params=params)
    return 0.5 * (jnp.mean((real_s - 1) ** 2) + jnp.mean(fake_s ** 2))

  d_a_grads = jax.grad(critic_loss)(state.d_a.params, state.d_a, a,
                                    jax.lax.stop_gradient(fake_a))
  d_b_grads = jax.grad(critic_loss)(state.d_b.params, state.d_b, b, pooled_b)
  state = state.apply_gradients({"d_a": d_a_grads, "d_b": d_b_grads})
  return state.replace(extra=extra), {"g_loss": g_loss}


def train(workdir, mesh, num_steps):
  config = ml_collections.ConfigDict()
  config.train = gj.train.train_defaults(
      num_steps=num_steps, batch_size=16, log_every=2, checkpoint_every=4,
      sample_every=0, steps_per_call=2)
  return gj.train.fit(step, create_state(), Domains(16), config, workdir,
                      mesh=mesh, progress=False)


def arrays(state):
  """``{path: array}`` of every leaf of a state."""
  return {jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]}


def max_difference(a, b):
  return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main():
  workdir = sys.argv[1]
  assert jax.device_count() == 8, jax.devices()
  one_mesh = gj.train.data_mesh(jax.devices()[:1])
  one = train(os.path.join(workdir, "one"), one_mesh, 12)
  eight = train(os.path.join(workdir, "eight"), gj.train.data_mesh(), 12)
  # Stopped after 6 steps (the 8-device run), then run on to 12.
  train(os.path.join(workdir, "resumed"), gj.train.data_mesh(), 6)
  resumed = train(os.path.join(workdir, "resumed"), gj.train.data_mesh(), 12)
  # The states' static parts (optax closures made by each create_state) differ
  # as objects, so the arrays are compared path by path.
  bitwise = True
  try:
    chex.assert_trees_all_equal(arrays(resumed), arrays(eight))
  except AssertionError:
    bitwise = False
  print(json.dumps({
      "one_vs_eight": max_difference(one, eight),
      "resumed_bitwise": bitwise,
      "pool_count": int(eight.extra["count"]),
      "pool_moved": float(np.abs(np.asarray(eight.extra["pool"])).sum()),
      "updates": {k: int(v) for k, v in eight.updates.items()},
      "devices": sorted({len(x.sharding.device_set) for x in jax.tree.leaves(eight)}),
  }))


if __name__ == "__main__":
  main()
