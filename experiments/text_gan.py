r"""Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved Training
of Wasserstein GANs" (arXiv 1704.00028), Section 5.4: the character-level
language model, with a maximum-likelihood character LSTM beside it.

A generator that emits discrete characters cannot pass gradients through
its sampling; WGAN-GP sidesteps it: the generator (a 1-D ResNet, z of 128
→ a linear map → residual blocks → a width-1 convolution to the
vocabulary, ``gans_jax.nn.ResNetTextGenerator``) outputs a softmax vector
per position, :math:`G(z) \in \Delta_V^L`, and the critic (the mirror
ResNet, ``gans_jax.nn.ResNetTextCritic``) scores real lines as one-hot
vectors and generated ones as those softmax vectors, with no sampling in
between. The game is WGAN-GP's (Algorithm 1):

.. math::
  L_D = \mathbb{E}_z[D(G(z))] - \mathbb{E}_x[D(\mathrm{onehot}(x))]
        + \lambda\, \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} D(\hat x)
        \rVert_2 - 1)^2\big], \qquad
  \hat x = \epsilon\, \mathrm{onehot}(x) + (1 - \epsilon)\, G(z)

(the interpolates lie on the product of simplices: one-hot reals and
softmax fakes, never integer character ids), ``gan.n_critic`` critic steps
per generator step on :math:`L_G = -\mathbb{E}_z[D(G(z))]`. Samples are read
off by argmax at every position.

The ``mle`` preset is the baseline: a character LSTM
(``gans_jax.nn.LSTMGenerator``, teacher forcing) with about the ResNet
generator's parameter count, trained for as many generator updates and
sampled ancestrally.

The corpus ships with Python: the prose of the Python Language Reference in
the standard library's ``pydoc_data.topics`` (``help()``'s text; about
6,800 lines of 32 characters, 94 characters;
``gans_jax.data.load_character_corpus``). A fixed tenth of the lines
(``data.held_out``, drawn with a seed of its own so every run scores on the
same text) is held out. The scores, on ``eval.num_samples`` generated
lines: the fraction of generated words (complete runs of letters) that are
words of the corpus, and the Jensen-Shannon divergence of character
1- to 4-gram frequencies against the held-out lines (the official
``language_helpers.py`` monitors the same), with the same divergences of
as many *training* lines as the floor a perfect model would reach.

Departures from the official ``gan_language.py`` (the Billion Word
benchmark, 200,000 iterations of width 512 and 10 critic steps), all for a
2-core CPU: this corpus instead of the Billion Word benchmark (no
download); width 32, 5 critic steps per generator step and 500 generator
steps; the ``paper`` preset restores width 512, 10 critic steps and
200,000 iterations. The LSTM baseline is not in the paper.

    python experiments/text_gan.py [--config=experiments/configs/text_gan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from gans_jax.data import sequences as sequence_data
from gans_jax.eval import text as text_eval
from gans_jax.train import config as config_lib

MAX_LENGTH = 256       # longer lines would hold whole paragraphs, mostly padding
HELD_OUT_SEED = 20170531  # the held-out lines are the same for every run


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/text_gan.py)."""
  config_lib.validate_train(config)
  config_lib.check(config.data.length <= MAX_LENGTH, "data.length",
                   f"must be at most {MAX_LENGTH}, got {config.data.length}")
  config_lib.check(config.data.held_out > 0, "data.held_out",
                   "must be positive: the scores compare with held-out lines")


# ------------------------------------------------------------------ data --

def corpus(config: ml_collections.ConfigDict) -> sequence_data.CharacterCorpus:
  """The character lines of ``data.length`` with their vocabulary."""
  return sequence_data.load_character_corpus(length=config.data.length)


@functools.lru_cache(maxsize=4)
def _split(length: int, held_out: float) -> tuple[np.ndarray, np.ndarray]:
  lines = sequence_data.load_character_corpus(length=length).lines
  order = np.random.default_rng(HELD_OUT_SEED).permutation(len(lines))
  n = max(1, int(round(held_out * len(lines))))
  return lines[np.sort(order[n:])], lines[np.sort(order[:n])]


def split(config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
  """``(training lines, held-out lines)``, the held-out ones a fixed random
  ``data.held_out`` of the corpus."""
  return _split(config.data.length, config.data.held_out)


# ---------------------------------------------------------------- models --

class LanguageModelState(gj.train.TrainState):
  """One player, the generator, for the maximum-likelihood baseline."""

  generator: gj.train.Network

  @property
  def step(self) -> jax.Array:
    return self.updates["generator"]

  def sampling_generator(self, mode: str = "eval"):
    return self.sampling_module("generator", mode=mode)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The ResNet generator (z ~ N(0, I) → softmax vectors), or the LSTM
  (its sampling noise z ~ U[-1, 1]^(B, L) → characters)."""
  del state
  m, vocab = config.model, len(corpus(config).vocabulary)
  if m.kind == "lstm":
    return dict(player="generator", module="gans_jax.nn.LSTMGenerator", mode="eval",
                kwargs=dict(vocab_size=vocab, embedding_dim=m.embedding_dim,
                            hidden_dim=m.hidden_dim, init_stddev=0.1),
                inputs=dict(latent_dim=config.data.length, noise="uniform"))
  return dict(player="generator", module="gans_jax.nn.ResNetTextGenerator",
              mode="eval",
              kwargs=dict(vocab_size=vocab, length=config.data.length,
                          latent_dim=m.latent_dim, features=m.features,
                          num_blocks=m.num_blocks),
              inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def create_state(config: ml_collections.ConfigDict):
  m, o = config.model, config.optim
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  adam = lambda: optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  if m.kind == "lstm":
    return LanguageModelState.create(generator=generator,
                                     optimizers={"generator": adam()})
  critic = gj.nn.ResNetTextCritic(len(corpus(config).vocabulary),
                                  length=config.data.length, features=m.features,
                                  num_blocks=m.num_blocks, rngs=rngs)
  return gj.train.GANState.create(generator=generator, discriminator=critic,
                                  g_optimizer=adam(), d_optimizer=adam())


# ------------------------------------------------------------- the steps --

def critic_objective(critic, real_tokens, fake, key, *, gp_weight: float):
  """WGAN-GP's critic loss on real lines (int characters, one-hot encoded
  here) and generated softmax vectors, with the gradient penalty at
  interpolates of the one-hot reals and the fakes; returns ``(loss,
  metrics)``."""
  real = jax.nn.one_hot(real_tokens, fake.shape[-1], dtype=fake.dtype)
  real_scores, fake_scores = critic(real), critic(fake)
  penalty = gj.penalties.gradient_penalty(critic, real, fake, key,
                                          mode="batch").mean()
  loss = (gj.losses.critic_wasserstein_loss(real_scores, fake_scores).mean()
          + gp_weight * penalty)
  return loss, dict(critic_loss=loss, gradient_penalty=penalty,
                    w_estimate=gj.losses.wasserstein_estimate(real_scores, fake_scores))


def make_train_step(config: ml_collections.ConfigDict):
  """WGAN-GP's Algorithm 1 on characters, or the LSTM's teacher forcing."""
  m, g = config.model, config.gan
  n_critic, latent_dim = g.n_critic, m.latent_dim

  def mle_step(state, batch, key):
    del key
    tokens = batch["tokens"]

    def loss(params):
      return -state.generator.module(params=params).token_log_probs(tokens).mean()

    state, nll = gj.train.update(state, "generator", loss)
    return state, {"mle_loss": nll}

  def critic_update(state, real_tokens, key):
    key_z, key_eps = jax.random.split(key)
    fake = jax.lax.stop_gradient(state.generator.apply(
        jax.random.normal(key_z, (real_tokens.shape[0], latent_dim)))[0])

    def loss(params):
      critic = lambda x: state.discriminator.apply(x, params=params)[0]
      return critic_objective(critic, real_tokens, fake, key_eps,
                              gp_weight=g.gp_weight)

    state, (_, metrics) = gj.train.update(state, "discriminator", loss, has_aux=True)
    return state, metrics

  def wgan_gp_step(state, batch, key):
    reals = batch["tokens"] if n_critic > 1 else batch["tokens"][None]
    # Unrolled: XLA on a CPU runs convolution gradients slower inside loops.
    for i in range(n_critic):
      state, metrics = critic_update(state, reals[i], jax.random.fold_in(key, i))
    z = jax.random.normal(jax.random.fold_in(key, n_critic),
                          (reals.shape[1], latent_dim))

    def generator_loss(params):
      fake, _ = state.generator.apply(z, params=params)
      scores, _ = state.discriminator.apply(fake)
      return gj.losses.generator_wasserstein_loss(scores).mean()

    state, g_loss = gj.train.update(state, "generator", generator_loss)
    return state, dict(metrics, g_loss=g_loss)

  return mle_step if m.kind == "lstm" else wgan_gp_step


# -------------------------------------------------------------- sampling --

def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` lines as (num, L) int characters: the
  argmax of the ResNet's softmax at z ~ N(0, I), or the LSTM's samples."""
  m, length = config.model, config.data.length

  @jax.jit
  def sample(state, key):
    generator = state.sampling_generator()
    if m.kind == "lstm":
      return generator.sample(key, num, length)
    probabilities = generator(jax.random.normal(key, (num, m.latent_dim)))
    return jnp.argmax(probabilities, axis=-1).astype(jnp.int32)

  return sample


def decode(config: ml_collections.ConfigDict, tokens: np.ndarray) -> list[str]:
  """Character ids as text, padding (a backquote) stripped from the end."""
  return corpus(config).decode(tokens)


def scores(config: ml_collections.ConfigDict, lines: list[str]) -> dict[str, float]:
  """The fraction of generated words found in the corpus and the character
  1- to 4-gram JS divergences of ``lines`` against the held-out lines."""
  held_out = decode(config, split(config)[1])
  results = {"eval/word_fraction": text_eval.word_fraction_in_vocabulary(
      lines, corpus(config).words)}
  for name, value in text_eval.ngram_js_divergences(lines, held_out).items():
    results[f"eval/{name}"] = value
  return results


def reference_scores(config: ml_collections.ConfigDict) -> dict[str, float]:
  """:func:`scores` of as many training lines as are scored (a perfect
  model's values, limited by the sample sizes)."""
  train = split(config)[0]
  rows = np.random.default_rng(HELD_OUT_SEED).choice(
      len(train), min(config.eval.num_samples, len(train)), replace=False)
  return {f"{k}_real": v for k, v in scores(config, decode(config, train[rows])).items()}


# ------------------------------------------------------------- the run --

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  t = config.train
  n = config.gan.n_critic if config.model.kind == "resnet" else 1
  batches = sequence_data.SequenceBatches(split(config)[0], batch_size=t.batch_size,
                                          seed=t.seed, num_microbatches=n)
  state = gj.train.fit(make_train_step(config), create_state(config), batches, config,
                       workdir, batch_axis=1 if n > 1 else 0)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """The scores of ``eval.num_samples`` generated lines, beside those of real
  training lines; the lines in ``samples.txt``."""
  samples = common.final_samples(config, make_sampler(config, 500), state)
  lines = decode(config, samples)
  results = {**scores(config, lines), **reference_scores(config)}
  if jax.process_index() == 0:
    import os
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "samples.txt"), "w", encoding="utf-8") as f:
      f.write("".join(f"{line}\n" for line in lines[:200]))
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples)
  return results
