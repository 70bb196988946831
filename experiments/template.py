"""A template to copy when starting a paper: a GAN on a 2-D toy distribution.

Copy this file to ``experiments/<paper>.py`` and ``configs/template.py`` to
``experiments/configs/<paper>.py``, add ``"<paper>"`` to
``experiments.EXPERIMENTS``, then replace what the paper changes. Every
function below is part of the contract (:mod:`gans_jax.train.experiment`);
the command line, checkpoints, resuming, ``--sample``, ``--evaluate`` and
``--export`` come with it. State the paper here: its equation, its algorithm
box and every departure from its official code.

As written it is Goodfellow et al. 2014's Algorithm 1 with the game named by
``gan.loss`` (:func:`gans_jax.losses.get`): ``gan.n_critic`` discriminator
updates, each on a fresh real minibatch, then one generator update.

    python experiments/template.py [--config=experiments/configs/template.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import jax
import ml_collections
import optax

import gans_jax as gj
from experiments import common


def validate(config: ml_collections.ConfigDict) -> None:
  """The paper's rules that tie fields together; each field's own type and
  range are declared beside its default in the config."""
  gj.train.validate_train(config)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The generator, as ``create_state`` builds it and ``--export`` rebuilds it."""
  del state
  m = config.model
  return dict(player="generator", module="gans_jax.nn.MLPGenerator", mode="eval",
              kwargs=dict(latent_dim=m.latent_dim, output_shape=2,
                          hidden=(m.width,) * m.depth, output_activation=None),
              inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """The players and their optimisers, initialised from ``train.seed``."""
  m, o = config.model, config.optim
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = gj.nn.MLPDiscriminator(
      2, hidden=(m.width,) * m.depth, maxout_pieces=None, dropout=0.0,
      input_dropout=0.0, rngs=rngs)
  adam = lambda: optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  return gj.train.GANState.create(generator=generator, discriminator=discriminator,
                                  g_optimizer=adam(), d_optimizer=adam())


def make_train_step(config: ml_collections.ConfigDict):
  """The paper's algorithm box: ``step(state, batch, key) -> (state, metrics)``."""
  n_critic, latent_dim = config.gan.n_critic, config.model.latent_dim
  discriminator_loss, generator_loss = gj.losses.get(config.gan.loss)

  def train_step(state: gj.train.GANState, batch, key):
    reals = batch["x"] if n_critic > 1 else batch["x"][None]
    m = reals.shape[1]
    for i in range(n_critic):
      key_z = jax.random.fold_in(key, i)
      fake, _ = state.generator.apply(jax.random.normal(key_z, (m, latent_dim)))
      fake = jax.lax.stop_gradient(fake)

      def d_loss_fn(params, real=reals[i], fake=fake):
        real_logits, _ = state.discriminator.apply(real, params=params)
        fake_logits, _ = state.discriminator.apply(fake, params=params)
        return discriminator_loss(real_logits, fake_logits).mean()

      state, d_loss = gj.train.update(state, "discriminator", d_loss_fn)

    z = jax.random.normal(jax.random.fold_in(key, n_critic), (m, latent_dim))

    def g_loss_fn(params):
      fake, generator = state.generator.apply(z, params=params)
      logits, _ = state.discriminator.apply(fake)
      return generator_loss(logits).mean(), generator

    state, g_loss = gj.train.update(state, "generator", g_loss_fn,
                                    returns_networks=True)
    return state, {"d_loss": d_loss, "g_loss": g_loss}

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` points of the generator, z ~ N(0, I)."""
  return common.normal_latent_sampler(config.model.latent_dim, num)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  n_critic = config.gan.n_critic
  data = gj.data.ToyBatches(config.data.dataset, batch_size=config.train.batch_size,
                            seed=config.train.seed, num_microbatches=n_critic)
  state = gj.train.fit(make_train_step(config), create_state(config), data, config,
                       workdir, batch_axis=1 if n_critic > 1 else 0)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """The paper's evaluation of ``state``, written to ``workdir`` and recorded
  at ``step``: here modes covered and the share of high-quality samples."""
  sample = make_sampler(config, config.eval.num_samples)
  return common.evaluate_toy_samples(config, sample, state, workdir, step=step)
