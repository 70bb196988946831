"""Metz, Poole, Pfau & Sohl-Dickstein 2016, "Unrolled Generative Adversarial
Networks" (arXiv 1611.02163): the ring of Gaussians of figure 1.

The discriminator D (parameters theta_D) minimises the GAN's cross-entropy

    L_D(theta_D, theta_G) = -E_x[log D(x)] - E_z[log(1 - D(G(z)))],

and takes one ordinary Adam step on it. The generator plays the saddle
objective f = -L_D (the demo's ``gen_loss = -unrolled_loss``, the minimax
game) against the discriminator K steps ahead (equations 4-7):

    theta_D^0 = theta_D,  theta_D^{k+1} = theta_D^k + Adam(grad L_D(theta_D^k, theta_G), s^k),
    G minimises f_K(theta_G) = -L_D(theta_D^K(theta_G, theta_D), theta_G),

differentiating through the K updates, Adam's moments and step count
included (:func:`gans_jax.train.unrolled_generator_loss`, a ``jax.grad``
through a ``lax.scan`` of the discriminator's own optax optimizer, started
from its current state). theta_D^K is then thrown away: both players step
from the same (theta_G, theta_D), as the demo runs its two train ops in one
``session.run``. ``unrolled.first_order`` cuts the gradient through the
unroll (G's plain gradient at theta_D^K); K = 0 is the regular GAN.

Every iteration draws one batch of 512 real points and 512 z ~ N(0, I_256);
the unroll replays that batch at each of its K steps (the demo's
``graph_replace``), and D's own step uses it too.

The figure: samples at six points of training, evenly from step 0 to the end
(``eval.num_snapshots``), each scored by the project's toy metrics (modes
covered: a mode with at least one generated point within 3 standard
deviations of its centre; the high-quality fraction: the share of points
within 3 standard deviations of their nearest centre). ``results.json``
holds ``eval/snapshot{i}/modes``, ``eval/snapshot{i}/high_quality_fraction``
``eval/snapshot{i}/near_fraction`` (the share within 10 standard deviations,
0.1, of a centre: a generator on the ring scores tens of percent there while
its 3-std share stays near 1 %) and ``eval/snapshot{i}/step`` for each, and
the mode hopping in numbers:
``eval/modes_visited`` (distinct modes covered at some snapshot),
``eval/max_modes_at_once`` and ``eval/min_modes_after_first`` (the fewest any
snapshot after step 0 covers).

Departures from the official demo (github.com/poolio/unrolled_gan):

* the ring has 8 distinct modes; the demo's ``linspace(0, 2 pi, 8)`` puts its
  first and last centres on the same point, so it has 7 (one of double weight);
* 5,000 iterations by default instead of 25,000 (snapshots every 1,000
  instead of every 5,000): on the shared 2-core CPU of the measurements one
  K = 10 step took 0.1 s idle and up to 1 s loaded; ``:paper`` runs 25,000;
* the default and the figure use K = 10 (the paper's figure 1) where the
  demo's notebook sets K = 5 (``:k5``, ``:paper``);
* biases start at zero and weights orthogonal with gain 1.4, drawn as the
  demo's ``tf.orthogonal_initializer`` drew them under TensorFlow 1.0: the
  singular vectors of a *uniform* [0, 1) matrix
  (:func:`gans_jax.nn.mlp.tf1_orthogonal`; ``model.orthogonal_draw='haar'``
  gives a uniformly random orthogonal matrix instead). This matters: that
  draw is not Haar (a layer's leading singular vector is nearly constant, so
  D's output weights start all of one sign); measured over 3 seeds, both
  draws put the K = 0 generator on the ring by step 5,000 (see the docs
  page). Signs of singular vectors follow LAPACK, not necessarily
  TensorFlow. Adam's beta2 is 0.999 (the TF/Keras default the demo keeps).

    python experiments/unrolled_gan.py [--config=experiments/configs/unrolled_gan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import glob
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from gans_jax.eval import toy as toy_eval
from gans_jax.nn import mlp
from gans_jax.train import config as config_lib

SNAPSHOT_DIR = "snapshots"


def validate(config: ml_collections.ConfigDict) -> None:
  """Snapshots fall on call boundaries, evenly from step 0 to the end."""
  gj.train.validate_train(config)
  n, t = config.eval.num_snapshots, config.train
  config_lib.check(n >= 2, "eval.num_snapshots",
                   f"must be at least 2 (step 0 and the end), got {n}")
  config_lib.check(
      t.num_steps % (n - 1) == 0 and (t.num_steps // (n - 1)) % t.steps_per_call == 0,
      "eval.num_snapshots",
      f"{n} snapshots need train.num_steps ({t.num_steps}) to split into {n - 1} "
      f"intervals, each a multiple of train.steps_per_call ({t.steps_per_call})")


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The tanh MLP generator, as ``create_state`` builds it and ``--export``
  rebuilds it."""
  del state
  m = config.model
  return dict(player="generator", module="gans_jax.nn.MLPGenerator", mode="eval",
              kwargs=dict(latent_dim=m.latent_dim, output_shape=2,
                          hidden=(m.width,) * m.depth, activation=m.activation,
                          output_activation=None),
              inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def orthogonal_init(config: ml_collections.ConfigDict, state: gj.train.GANState,
                    ) -> gj.train.GANState:
  """Every weight matrix of both players redrawn orthogonal with
  ``model.orthogonal_gain`` by ``model.orthogonal_draw`` (the demo's
  TensorFlow 1.0 initializer by default, :func:`gans_jax.nn.mlp.tf1_orthogonal`);
  biases stay zero. Gain 0 keeps the library's Glorot uniform. Adam's
  moments are zeros of the same shapes: no re-initialisation needed."""
  m = config.model
  if not m.orthogonal_gain:
    return state
  key = gj.train.make_key(config.train.seed, "orthogonal_init")
  g, d = state.generator, state.discriminator
  redraw = lambda params, i: mlp.orthogonal_kernels(
      params, jax.random.fold_in(key, i), gain=m.orthogonal_gain, draw=m.orthogonal_draw)
  return state.replace(generator=g.replace(params=redraw(g.params, 0)),
                       discriminator=d.replace(params=redraw(d.params, 1)))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """2 x 128 tanh MLPs, Adam D 1e-4 / G 1e-3 with beta1 0.5 (the demo)."""
  m, o = config.model, config.optim
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = gj.nn.MLPDiscriminator(
      2, hidden=(m.width,) * m.depth, maxout_pieces=None, activation=m.activation,
      dropout=0.0, input_dropout=0.0, rngs=rngs)
  adam = lambda lr: optax.adam(lr, b1=o.b1, b2=o.b2, eps=o.eps)
  state = gj.train.GANState.create(generator=generator, discriminator=discriminator,
                                   g_optimizer=adam(o.g_learning_rate),
                                   d_optimizer=adam(o.d_learning_rate))
  return orthogonal_init(config, state)


def make_train_step(config: ml_collections.ConfigDict):
  """One iteration: G on the K-step unrolled loss, D one plain step, both
  from the same point."""
  steps, first_order = config.unrolled.steps, config.unrolled.first_order
  latent_dim = config.model.latent_dim
  discriminator_loss, _ = gj.losses.get("minimax")

  def train_step(state: gj.train.GANState, batch, key):
    real = batch["x"]
    z = jax.random.normal(key, (real.shape[0], latent_dim))
    d_network = state.discriminator
    d_optimizer = state.group("discriminator").tx

    # L_D as a function of D's parameters (as its optimizer sees them,
    # {"discriminator": params}) and of the generated points.
    def d_loss_fn(d_params, fake, real):
      real_logits, _ = d_network.apply(real, params=d_params["discriminator"])
      fake_logits, _ = d_network.apply(fake, params=d_params["discriminator"])
      return discriminator_loss(real_logits, fake_logits).mean()

    d_params = {"discriminator": d_network.params}

    def g_loss_fn(g_params):
      fake, _ = state.generator.apply(z, params=g_params)
      # f_K = -L_D(theta_D^K, G): the generated points carry theta_G into
      # every unroll step (G is fixed during the unroll, so G(z) once).
      return gj.train.unrolled_generator_loss(
          lambda fake, d: -d_loss_fn(d, fake, real), fake, d_params,
          state.opt_states["discriminator"], d_optimizer, d_loss_fn, steps=steps,
          batches=gj.train.repeat_batch(real, steps) if steps else None,
          stop_gradient=first_order)

    g_loss, g_grads = jax.value_and_grad(g_loss_fn)(state.generator.params)
    fake, _ = state.generator.apply(z)
    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(
        d_params, jax.lax.stop_gradient(fake), real)
    state = state.apply_gradients({"generator": g_grads,
                                   "discriminator": d_grads["discriminator"]})
    return state, {"d_loss": d_loss, "g_loss": g_loss}

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` points of the generator, z ~ N(0, I)."""
  return common.normal_latent_sampler(config.model.latent_dim, num)


# -------------------------------------------------------------- snapshots --

def snapshot_steps(config: ml_collections.ConfigDict) -> list[int]:
  """The steps of figure 1's columns: evenly from 0 to ``train.num_steps``."""
  n, total = config.eval.num_snapshots, config.train.num_steps
  return [i * total // (n - 1) for i in range(n)]


def snapshot_path(workdir: str, step: int) -> str:
  return os.path.join(workdir, SNAPSHOT_DIR, f"step_{step:07d}.npz")


def take_snapshot(config: ml_collections.ConfigDict, state, workdir: str,
                  step: int, sample=None) -> dict:
  """The generator's points at ``step`` (fixed evaluation noise) and their
  toy metrics, written to ``workdir/snapshots/step_<step>.npz``."""
  sample = sample or make_sampler(config, config.eval.num_samples)
  points = np.asarray(sample(state, gj.train.make_key(config.train.seed, "eval")))
  toy = gj.data.get_toy(config.data.dataset)
  modes = toy_eval.mode_metrics(points, toy.centers, toy.std)
  if jax.process_index() == 0:
    os.makedirs(os.path.join(workdir, SNAPSHOT_DIR), exist_ok=True)
    np.savez_compressed(snapshot_path(workdir, step), points=points,
                        counts=modes["counts"], step=step)
  return modes


class Snapshots:
  """A :class:`gans_jax.contracts.Hook`: a snapshot every ``every`` steps
  (and at the end)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.config, self.workdir = config, workdir
    self.every = config.train.num_steps // (config.eval.num_snapshots - 1)
    self.sample = make_sampler(config, config.eval.num_samples)

  def __call__(self, step: int, state, writer) -> None:
    modes = take_snapshot(self.config, state, self.workdir, step, self.sample)
    writer.write_scalars(step, {"snapshot/modes": modes["modes_covered"],
                                "snapshot/high_quality_fraction":
                                    modes["high_quality_fraction"]})


def read_snapshots(config: ml_collections.ConfigDict, workdir: str) -> list[dict | None]:
  """The run's snapshots in step order, ``{step, points, counts}``, None
  for those ``workdir`` lacks."""
  found = []
  for step in snapshot_steps(config):
    path = snapshot_path(workdir, step)
    if os.path.isfile(path):
      with np.load(path) as f:
        found.append({"step": step, "points": f["points"], "counts": f["counts"]})
    else:
      found.append(None)
  return found


def snapshot_results(snapshots: list[dict], num_snapshots: int, *,
                     toy=None, near_std: float = 10.0) -> dict:
  """Figure 1 in numbers: modes covered and high-quality fraction at each
  of the ``num_snapshots`` snapshots, and the mode hopping (modes visited
  over the snapshots against the most covered at once, and the fewest
  covered after step 0). With ``toy`` (the run's
  :class:`gans_jax.data.ToyDistribution`), also ``near_fraction``: the
  share of points within ``near_std`` standard deviations of their nearest
  centre (0.1 on the ring), which tells a generator that has found the
  ring (a band some 0.1 wide) from a diffuse cloud, where the 3-std
  high-quality fraction stays near zero for both. The keys are always all
  there; a snapshot the workdir lacks (an evaluation written elsewhere)
  reads None, and so do the hopping numbers unless every snapshot is
  there."""
  results = {}
  covered = []
  for i in range(num_snapshots):
    s = snapshots[i] if i < len(snapshots) else None
    counts = None if s is None else np.asarray(s["counts"])
    if counts is not None:
      covered.append(counts > 0)
    results[f"eval/snapshot{i}/step"] = None if s is None else int(s["step"])
    results[f"eval/snapshot{i}/modes"] = None if s is None else int(np.sum(counts > 0))
    results[f"eval/snapshot{i}/high_quality_fraction"] = (
        None if s is None else float(counts.sum() / len(s["points"])))
    if toy is not None:
      results[f"eval/snapshot{i}/near_fraction"] = None if s is None else (
          toy_eval.mode_metrics(s["points"], toy.centers, toy.std,
                                threshold=near_std)["high_quality_fraction"])
  complete = len(covered) == num_snapshots
  results["eval/modes_visited"] = (int(np.any(covered, axis=0).sum())
                                   if complete else None)
  results["eval/max_modes_at_once"] = (int(max(c.sum() for c in covered))
                                       if complete else None)
  results["eval/min_modes_after_first"] = (int(min(c.sum() for c in covered[1:]))
                                           if complete and num_snapshots > 1 else None)
  return results


def draw_snapshots(rows: dict[str, list[dict]], out_png: str, *, dataset: str = "ring",
                   title: str | None = None) -> str:
  """Figure 1's layout: one row of snapshots per run (``{label: snapshots}``),
  each panel the generated points over the ring's centres."""
  from matplotlib.figure import Figure
  toy = gj.data.get_toy(dataset)
  columns = max(len(s) for s in rows.values())
  fig = Figure(figsize=(1.6 * columns, 1.7 * len(rows)), layout="constrained")
  axes = fig.subplots(len(rows), columns, squeeze=False)
  lim = 1.3 * np.abs(toy.centers).max()
  for r, (label, snapshots) in enumerate(rows.items()):
    for c in range(columns):
      ax = axes[r][c]
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_xlim(-lim, lim)
      ax.set_ylim(-lim, lim)
      ax.set_aspect("equal")
      if c >= len(snapshots):
        continue
      s = snapshots[c]
      ax.scatter(toy.centers[:, 0], toy.centers[:, 1], s=12, c="tab:red", marker="x",
                 linewidths=0.8)
      p = s["points"][:512]
      ax.scatter(p[:, 0], p[:, 1], s=1, c="tab:blue", alpha=0.4)
      ax.set_title(f"step {s['step']}: {int(np.sum(np.asarray(s['counts']) > 0))} modes",
                   fontsize=7)
      if c == 0:
        ax.set_ylabel(label, fontsize=8)
  if title:
    fig.suptitle(title, fontsize=9)
  os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
  fig.savefig(out_png, dpi=80)
  return out_png


# ------------------------------------------------------------------- run --

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  if not os.path.isfile(snapshot_path(workdir, 0)):
    take_snapshot(config, create_state(config), workdir, 0)
  data = gj.data.ToyBatches(config.data.dataset, batch_size=config.train.batch_size,
                            seed=config.train.seed)
  state = gj.train.fit(make_train_step(config), create_state(config), data, config,
                       workdir, hooks=[Snapshots(config, workdir)])
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Modes covered and the high-quality fraction of ``state`` (``toy.png``),
  and of each snapshot in ``workdir`` (``snapshots.png``), recorded at
  ``step`` (default ``train.num_steps``)."""
  sample = make_sampler(config, config.eval.num_samples)
  snapshots = read_snapshots(config, workdir)
  if any(snapshots) and jax.process_index() == 0:
    draw_snapshots({f"K={config.unrolled.steps}": [x for x in snapshots if x]},
                   os.path.join(workdir, "snapshots.png"), dataset=config.data.dataset,
                   title=config.name)
  return common.evaluate_toy_samples(config, sample, state, workdir, step=step,
                                    extra=snapshot_results(
                                        snapshots, config.eval.num_snapshots,
                                        toy=gj.data.get_toy(config.data.dataset)))
