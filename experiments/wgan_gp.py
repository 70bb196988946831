"""Gulrajani et al. 2017, "Improved Training of Wasserstein GANs" (arXiv 1704.00028).

Algorithm 1 in code. Each generator iteration first runs n_critic critic
updates, each on a fresh real minibatch x, fresh noise z and fresh
interpolation coefficients eps ~ U[0, 1], minimising (Eq. 3)

    L = D(G(z)) - D(x) + lambda (||grad_xh D(xh)||_2 - 1)^2,
    xh = eps x + (1 - eps) G(z),

averaged over the minibatch, with Adam; then one generator update on fresh
noise minimising -D(G(z)). The penalty replaces WGAN's weight clipping as the
way to keep the critic 1-Lipschitz; since it is a per-example gradient norm,
the critic has no BatchNorm (Section 4 recommends LayerNorm instead).

The n_critic real minibatches of an iteration arrive together, stacked on a
leading axis, and the critic updates are written out one after the other (no
loop: XLA:CPU runs convolution gradients inside loop bodies about 100 times
slower, jax-ml/jax#12868), so one compiled step is one whole iteration of
Algorithm 1.

Evaluation: on the toys (Section 5.1: 8 Gaussians, 25 Gaussians, swiss roll)
the picture of real points, generated points and the critic's contours, mode
coverage and the share of high-quality samples (within 3 standard deviations
of a mode centre; VEEGAN, PacGAN), and the exact Wasserstein-1 distance
between generated and real samples next to the critic's estimate; on images,
sample grids and, for the built-in digits, the classifier metrics. Every run
logs the critic's Wasserstein estimate E[D(x)] - E[D(G(z))] and plots it over
training (``w_estimate.png``).

    python experiments/wgan_gp.py [--config=experiments/configs/wgan_gp.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import gans_jax as gj
from experiments import common
from experiments.configs import wgan_gp as wgan_gp_config
from gans_jax.eval import plots
from gans_jax.eval import toy as toy_eval
from gans_jax.train import config as config_lib

TOY_DATASETS = wgan_gp_config.TOY_DATASETS


def is_toy(config: ml_collections.ConfigDict) -> bool:
  return config.data.dataset in TOY_DATASETS


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/wgan_gp.py)."""
  architecture = config.model.architecture
  if architecture == "mlp":
    config_lib.check_choice(config, "data.dataset", TOY_DATASETS)
    # The image fields are unused here, and checked all the same.
    config_lib.check_choice(config, "data.image_size", (32, 64))
  else:
    config_lib.check(not is_toy(config), "data.dataset",
                     f"{config.data.dataset!r} is a toy; use model.architecture='mlp'")
    common.validate_image_data(
        config, image_sizes=(32,) if architecture == "resnet" else (32, 64))
  common.validate_inception(config)
  config_lib.validate_train(config)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The generator named by ``model.architecture`` (sampled from its EMA
  where ``optim.ema_decay`` keeps one)."""
  del state
  m, d = config.model, config.data
  if m.architecture == "mlp":
    module = "gans_jax.nn.MLPGenerator"
    kwargs = dict(latent_dim=m.latent_dim, output_shape=2,
                  hidden=(m.width,) * m.depth, output_activation=None)
  elif m.architecture == "dcgan":
    module = "gans_jax.nn.DCGANGenerator"
    kwargs = dict(latent_dim=m.latent_dim, image_size=d.image_size,
                  channels=d.channels, features=m.features,
                  batch_norm=m.generator_batch_norm)
  else:
    module = "gans_jax.nn.ResNetGenerator32"
    kwargs = dict(latent_dim=m.latent_dim, channels=d.channels,
                  features=m.features)
  return dict(player="generator", module=module, mode="eval",
              kwargs=dict(kwargs, dtype=common.dtype_name(config)),
              inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def create_models(config: ml_collections.ConfigDict, rngs: nnx.Rngs):
  """The generator and the critic named by ``model.architecture``."""
  m, d = config.model, config.data
  norm = None if m.critic_norm == "none" else m.critic_norm
  dtype = common.compute_dtype(config)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  if m.architecture == "mlp":
    critic = gj.nn.MLPDiscriminator(2, hidden=(m.width,) * m.depth,
                                    maxout_pieces=None, dropout=0.0,
                                    input_dropout=0.0, layer_norm=norm == "layer",
                                    dtype=dtype, rngs=rngs)
  elif m.architecture == "dcgan":
    critic = gj.nn.DCGANDiscriminator(image_size=d.image_size, channels=d.channels,
                                      features=m.features, norm=norm, dtype=dtype,
                                      rngs=rngs)
  else:
    critic = gj.nn.ResNetCritic32(channels=d.channels, features=m.features,
                                  norm=norm, dtype=dtype, rngs=rngs)
  return generator, critic


def adam(config: ml_collections.ConfigDict, updates_per_iteration: int):
  """Adam, optionally decayed linearly to 0 over the run (gan_cifar_resnet.py)."""
  o = config.optim
  lr = o.learning_rate
  if o.decay == "linear":
    lr = optax.linear_schedule(lr, 0.0, config.train.num_steps * updates_per_iteration)
  return optax.adam(lr, b1=o.b1, b2=o.b2)


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  generator, critic = create_models(config, gj.train.init_rngs(config.train.seed))
  return gj.train.GANState.create(
      generator=generator, discriminator=critic,
      g_optimizer=adam(config, 1), d_optimizer=adam(config, config.gan.n_critic),
      ema_decay=config.optim.ema_decay or None)


def make_train_step(config: ml_collections.ConfigDict):
  """One iteration of Algorithm 1: n_critic critic updates, one generator update."""
  latent_dim, gp_weight = config.model.latent_dim, config.gan.gp_weight
  n_critic = config.gan.n_critic
  g_batch = config.gan.generator_batch_multiple * config.train.batch_size

  def critic_update(state: gj.train.GANState, real, key):
    key_z, key_eps = jax.random.split(key)
    fake, generator = state.generator.apply(
        jax.random.normal(key_z, (real.shape[0], latent_dim)))
    fake = jax.lax.stop_gradient(fake)

    def critic_loss(params):
      critic = lambda x: state.discriminator.apply(x, params=params)[0]
      real_scores, fake_scores = critic(real), critic(fake)
      # Eq. 3: the Wasserstein critic loss plus lambda times the penalty at
      # random interpolates. These critics score each example on its own (no
      # BatchNorm; LayerNorm is per example), so the gradient of the summed
      # scores is every example's own gradient: one backward pass ("batch")
      # gives the per-example penalty, 1.7x faster than vmapping per example
      # for the convolutional critics on a CPU.
      penalty = gj.penalties.gradient_penalty(
          critic, real, fake, key_eps, mode="batch").mean()
      loss = (gj.losses.critic_wasserstein_loss(real_scores, fake_scores).mean()
              + gp_weight * penalty)
      return loss, dict(
          critic_loss=loss, gradient_penalty=penalty,
          w_estimate=gj.losses.wasserstein_estimate(real_scores, fake_scores))

    state, (_, metrics) = gj.train.update(
        state.replace(generator=generator), "discriminator", critic_loss,
        has_aux=True)
    return state, metrics

  def train_step(state: gj.train.GANState, batch, key):
    real = batch["x"] if "x" in batch else batch["image"]
    real = real if n_critic > 1 else real[None]  # (n_critic, B, ...)
    for i in range(n_critic):
      state, metrics = critic_update(state, real[i], jax.random.fold_in(key, i))
    z = jax.random.normal(jax.random.fold_in(key, n_critic), (g_batch, latent_dim))

    def generator_loss(params):
      fake, generator = state.generator.apply(z, params=params)
      scores, _ = state.discriminator.apply(fake)
      return gj.losses.generator_wasserstein_loss(scores).mean(), generator

    state, g_loss = gj.train.update(state, "generator", generator_loss,
                                    returns_networks=True)
    # The last critic update's numbers, as the official code logs them.
    return state, dict(metrics, g_loss=g_loss)

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` samples from the (EMA) generator, z ~ N(0, I)."""
  return common.normal_latent_sampler(config.model.latent_dim, num)


def training_data(config: ml_collections.ConfigDict):
  """n_critic fresh real minibatches per step, stacked: (n_critic, B, ...)."""
  k = config.gan.n_critic
  if is_toy(config):
    return gj.data.ToyBatches(config.data.dataset, batch_size=config.train.batch_size,
                              seed=config.train.seed, num_microbatches=k)
  return common.image_batches(config, num_microbatches=k)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  state = create_state(config)
  hooks = ([] if is_toy(config) else
           common.sample_grid_hook(config, make_sampler(config, 64), workdir))
  data = training_data(config)
  state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                       hooks=hooks, batch_axis=1 if config.gan.n_critic > 1 else 0)
  if jax.process_index() == 0:
    plots.plot_metrics(os.path.join(workdir, "metrics.jsonl"), ["w_estimate"],
                       os.path.join(workdir, "w_estimate.png"),
                       title="critic's Wasserstein estimate")
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """The toy evaluation (Section 5.1) or, on images, samples and the digit
  metrics, recorded at ``step`` (default ``train.num_steps``)."""
  if is_toy(config):
    return evaluate_toy(config, state, workdir, step=step)
  return common.evaluate_image_samples(config, make_sampler(config, 500), state,
                                       workdir, step=step)


def exact_wasserstein(a: np.ndarray, b: np.ndarray) -> float:
  """W1 between two equal-size empirical distributions (optimal matching)."""
  from scipy import optimize
  cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
  rows, cols = optimize.linear_sum_assignment(cost)
  return float(cost[rows, cols].mean())


def evaluate_toy(config: ml_collections.ConfigDict, state, workdir: str, *,
                 step: int | None = None) -> dict:
  """Section 5.1's picture; mode coverage and high-quality share; W1."""
  e, n = config.eval, config.eval.num_samples
  step = common.evaluation_step(config, step)
  distribution = gj.data.get_toy(config.data.dataset)
  rng = np.random.default_rng([config.train.seed, 2**31 - 1])
  real = distribution.sample(rng, n)
  generated = np.asarray(make_sampler(config, n)(
      state, gj.train.make_key(config.train.seed, "eval")))
  critic = jax.jit(lambda s, x: s.discriminator.module()(x))
  scores = lambda x: np.asarray(critic(state, jnp.asarray(x)))
  results = {"eval/w_estimate": float(scores(real).mean() - scores(generated).mean())}
  finite = bool(np.all(np.isfinite(generated)))
  results["eval/wasserstein_exact"] = (
      exact_wasserstein(generated, real) if finite else float("inf"))
  # The same distance between two real samples: the floor of finite samples.
  results["eval/wasserstein_exact_real"] = exact_wasserstein(
      distribution.sample(rng, n), real)
  if distribution.centers is not None:
    modes = toy_eval.mode_metrics(generated, distribution.centers, distribution.std,
                                  min_share=e.min_share)
    results["eval/modes_covered"] = modes["modes_covered"]
    results["eval/num_modes"] = modes["num_modes"]
    results["eval/high_quality_fraction"] = modes["high_quality_fraction"]
    # VEEGAN's looser rule: a mode with a single high-quality sample counts.
    results["eval/modes_with_a_sample"] = int(np.sum(modes["counts"] > 0))
  if jax.process_index() == 0:
    r = e.plot_range
    plots.plot_toy_2d(os.path.join(workdir, "toy.png"), real[:1000], generated[:1000],
                      critic_fn=scores, extent=(-r, r, -r, r),
                      title=f"WGAN-GP, {config.data.dataset}, {step} iterations")
  common.write_results(workdir, step, results, generated)
  return results
