r"""Yu, Zhang, Wang & Yu 2017, "SeqGAN: Sequence Generative Adversarial Nets
with Policy Gradient" (AAAI 2017, arXiv 1609.05473): the synthetic oracle
experiment of Section 4, with the MLE baseline and a Gumbel-softmax GAN
(Jang, Gu & Poole 2017, arXiv 1611.01144; Kusner & Hernandez-Lobato 2016,
arXiv 1611.04051) beside it.

The data: an LSTM with every weight drawn from N(0, 1) (the *oracle*,
``gans_jax.nn.oracle_lstm``) is the true distribution; a training set is
drawn from it. A generator :math:`G_\theta` (an LSTM of the same sizes,
weights N(0, 0.1^2)) is scored by

.. math::
  \mathrm{NLL}_{\mathrm{oracle}} = -\mathbb{E}_{Y_{1:T} \sim G_\theta}
    \Big[\tfrac1T \textstyle\sum_t \log G_{\mathrm{oracle}}(y_t \mid Y_{1:t-1})\Big]

(equation 8; the generator's samples, the oracle's likelihood).

The algorithm (Algorithm 1), one phase of the run each:

1. pre-train :math:`G_\theta` by maximum likelihood (teacher forcing)
   for ``gan.pretrain_steps`` steps of ``gan.mle_updates`` minibatches each
   (one generator update per minibatch);
2. pre-train the CNN discriminator :math:`D_\phi` (the official filter widths
   1..10, 15, 20, a highway layer, dropout) on real minibatches against
   fresh samples of :math:`G_\theta` for ``gan.d_pretrain_steps`` minibatches
   (cross-entropy plus 0.2 times the L2 norm of its output layer);
3. the game, one generator update per step: sample
   :math:`Y_{1:T} \sim G_\theta`; reward each token by Monte-Carlo search
   with the rollout policy :math:`G_\beta` (equation 4,
   ``gans_jax.sequence.rollout_rewards``: for every prefix :math:`Y_{1:t}`,
   ``gan.num_rollouts`` completions re-sampled from :math:`G_\beta`, the mean
   of :math:`D_\phi` over them; :math:`D_\phi(Y_{1:T})` for the last token);
   descend the REINFORCE loss
   :math:`-\sum_t Q(Y_{1:t-1}, y_t) \log G_\theta(y_t \mid Y_{1:t-1})`
   (equation 6, ``gans_jax.losses.reinforce_loss``; summed over tokens and
   the batch as the official code does); move the rollout network
   :math:`\beta \leftarrow 0.8 \beta + 0.2 \theta`
   (``gans_jax.sequence.delayed_update``); then ``gan.d_steps`` updates of
   :math:`D_\phi` (equation 5), each on a fresh real minibatch against fresh
   samples.

``gan.method='gumbel'`` replaces step 3's REINFORCE by the
reparameterised gradient: :math:`G_\theta` emits Gumbel-softmax vectors
:math:`y_t = \mathrm{softmax}((\ell_t + g_t)/\tau)` and feeds each back
(``LSTMGenerator.relaxed_sample``), :math:`D_\phi` scores them (real text
one-hot), and the generator descends the non-saturating loss
:math:`-\log D_\phi(y)` straight through the samples; ``gan.straight_through``
feeds and scores the one-hot :math:`\mathrm{onehot}(\arg\max y)` with the soft
sample's gradient. :math:`\tau = \max(\tau_{\min}, \tau_0 e^{-r s})` over the
game's steps ``s`` (Jang et al.'s schedule). ``gan.method='mle'`` is the
baseline: teacher forcing for every step (``gan.mle_updates`` generator
updates each), as many generator updates as the GAN methods make
(pre-training plus the game).

Departures from the paper and the official code (LantaoYu/SeqGAN), all for a
2-core CPU except where said:

- The oracle is a fresh N(0, 1) draw from ``data.oracle_seed``, not the
  official ``target_params.pkl``; the default vocabulary is 500, not 5,000
  (length 20, hidden and embedding 32 and 10,000 training sequences are the
  paper's); the ``paper`` preset restores 5,000. NLL values are therefore of
  the paper's kind, not comparable number for number.
- Pre-training is 1,500 minibatches of 64 (about 10 epochs; paper 120
  epochs), run as 150 steps of 10 updates; the discriminator's is 100
  minibatches (paper 50 rounds of 3 epochs over 10,000 + 10,000
  sequences), and the game 100 generator updates (paper 200) with 3
  discriminator minibatches each (paper 5 rounds of 3 epochs, about 4,700
  minibatches); every discriminator minibatch draws its own negatives,
  where the official code draws 10,000 per round.
- 4 Monte-Carlo rollouts per prefix (paper 16); the discriminator has the
  paper's filter widths with an eighth of its filters (at least 10 per
  width) and a 32-wide embedding (paper 64).
- The rollout network really lags: :math:`\beta` is updated as written
  above. In the official code its weights are graph expressions of the live
  generator (``tf.identity``), so in effect its rollouts use the current
  generator (``gan.rollout_update_rate=0`` reproduces that), and the
  embedding is copied without delay.
- The generator's Adam state is reset when the game starts (the official
  code has two Adam optimisers, one for pre-training and one for the game);
  both use lr 0.01 and gradient clipping at global norm 5, as there.
- The Gumbel-softmax GAN pre-trains as SeqGAN does and anneals
  :math:`\tau` from 1 at rate 0.01 per step to 0.5 (the paper's rates,
  1e-5 or 1e-4, are for runs of 10^4-10^5 steps); Kusner & Hernandez-Lobato
  trained on a context-free grammar, not this oracle.

Besides NLL_oracle the evaluation reports NLL_test, the generator's own
NLL of held-out oracle sequences (what a generator that drops modes does
badly), the random generator's NLL_oracle (the initial state) and the
oracle's entropy rate (NLL_oracle of its own samples, the floor of an
unbiased generator). A learning curve of NLL_oracle is logged every
``eval.curve_every`` steps (``eval/curve_nll_oracle`` against
``generator_updates`` in metrics.jsonl) and drawn in ``learning_curve.png``.

    python experiments/seqgan.py [--config=experiments/configs/seqgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__, figures=("learning_curve",))

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from gans_jax import sequence
from gans_jax.data import sequences as sequence_data
from gans_jax.eval import text as text_eval
from gans_jax.train import config as config_lib

TEST_SEED_OFFSET = 1_000_003  # the held-out set's sampling seed, after the data's
UNROLLED_D_STEPS = 16  # discriminator updates per step written out, not looped


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/seqgan.py)."""
  config_lib.validate_train(config)
  m, g, d = config.model, config.gan, config.data
  config_lib.check(len(m.d_num_filters) == len(m.d_filter_sizes), "model.d_num_filters",
                   f"needs one count per filter width ({len(m.d_filter_sizes)}), got "
                   f"{len(m.d_num_filters)}")
  config_lib.check(max(m.d_filter_sizes) <= d.length, "model.d_filter_sizes",
                   f"the widest filter ({max(m.d_filter_sizes)}) exceeds "
                   f"data.length={d.length}")
  config_lib.check(g.min_temperature <= g.temperature, "gan.min_temperature",
                   f"must not exceed gan.temperature={g.temperature}")
  config_lib.check(d.vocab_size >= 2, "data.vocab_size", "must be at least 2")
  if g.method != "mle":
    pretraining = g.pretrain_steps + g.d_pretrain_steps
    config_lib.check(pretraining <= config.train.num_steps, "train.num_steps",
                     f"must cover gan.pretrain_steps + gan.d_pretrain_steps = "
                     f"{pretraining} (the game is the steps after them)")


# ---------------------------------------------------------------- models --

@functools.lru_cache(maxsize=4)
def _oracle(vocab_size: int, embedding_dim: int, hidden_dim: int, seed: int):
  return gj.nn.oracle_lstm(vocab_size=vocab_size, embedding_dim=embedding_dim,
                           hidden_dim=hidden_dim, seed=seed)


def oracle(config: ml_collections.ConfigDict):
  """The oracle LSTM of ``config`` (every weight N(0, 1), from ``data.oracle_seed``)."""
  m, d = config.model, config.data
  return _oracle(d.vocab_size, m.embedding_dim, m.hidden_dim, d.oracle_seed)


@functools.lru_cache(maxsize=8)
def _sequences(vocab_size, embedding_dim, hidden_dim, oracle_seed, num, length, seed):
  data = sequence_data.oracle_sequences(
      _oracle(vocab_size, embedding_dim, hidden_dim, oracle_seed),
      num_sequences=num, length=length, seed=seed)
  data.setflags(write=False)
  return data


def training_sequences(config: ml_collections.ConfigDict) -> np.ndarray:
  """The training set: ``data.num_sequences`` sequences of the oracle."""
  m, d = config.model, config.data
  return _sequences(d.vocab_size, m.embedding_dim, m.hidden_dim, d.oracle_seed,
                    d.num_sequences, d.length, d.oracle_seed)


def test_sequences(config: ml_collections.ConfigDict) -> np.ndarray:
  """``data.num_test`` held-out sequences of the oracle (another sampling seed)."""
  m, d = config.model, config.data
  return _sequences(d.vocab_size, m.embedding_dim, m.hidden_dim, d.oracle_seed,
                    d.num_test, d.length, d.oracle_seed + TEST_SEED_OFFSET)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The LSTM generator; its input is its sampling noise z ~ U[-1, 1]^(B, T)
  (``LSTMGenerator.__call__``: token t is the inverse CDF at (z_t + 1)/2)."""
  del state
  m, d = config.model, config.data
  return dict(player="generator", module="gans_jax.nn.LSTMGenerator", mode="eval",
              kwargs=dict(vocab_size=d.vocab_size, embedding_dim=m.embedding_dim,
                          hidden_dim=m.hidden_dim, init_stddev=0.1),
              inputs=dict(latent_dim=d.length, noise="uniform"))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """G (and its rollout copy, in ``extra``) and D, with the official Adams."""
  m, o = config.model, config.optim
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = gj.nn.CNNTextDiscriminator(
      config.data.vocab_size, embedding_dim=m.d_embedding_dim,
      filter_sizes=m.d_filter_sizes, num_filters=m.d_num_filters,
      dropout=m.d_dropout, rngs=rngs)
  state = gj.train.GANState.create(
      generator=generator, discriminator=discriminator,
      g_optimizer=optax.chain(optax.clip_by_global_norm(o.g_grad_clip),
                              optax.adam(o.g_learning_rate)),
      d_optimizer=optax.adam(o.d_learning_rate))
  # The rollout policy G_beta starts as a copy of G_theta.
  return state.replace(extra={"rollout": jax.tree.map(jnp.copy, state.generator.params)})


# ------------------------------------------------------------ the losses --

def mle_loss(generator, tokens):
  """Teacher forcing: the mean per-token NLL of real sequences."""
  return -generator.token_log_probs(tokens).mean()


def discriminator_loss(state, params, real, fake, key, l2):
  """Cross-entropy of D on real (label 1) and generated (label 0) sequences,
  plus ``l2`` times the L2 penalty of its output layer (official
  ``discriminator.py``); dropout on."""
  real_logits, _ = state.discriminator.apply(real, params=params,
                                             rngs=jax.random.fold_in(key, 0))
  fake_logits, network = state.discriminator.apply(fake, params=params,
                                                   rngs=jax.random.fold_in(key, 1))
  loss = gj.losses.get("minimax")[0](real_logits, fake_logits).mean()
  return loss + l2 * network.module(params=params).l2_penalty()


def seqgan_rewards(config, state, tokens, key):
  """Equation 4: each token's reward, D's mean over ``gan.num_rollouts``
  completions of its prefix re-sampled from the rollout policy G_beta (D's
  value of the whole sequence for the last token); D without dropout."""
  length = config.data.length
  rollout = state.generator.replace(params=state.extra["rollout"]).module()
  discriminator = state.discriminator.module()

  def complete(k, prefix, t):
    return rollout.sample(k, prefix.shape[0], length, prefix=prefix, prefix_length=t)

  return sequence.rollout_rewards(complete,
                                  lambda y: jax.nn.sigmoid(discriminator(y)),
                                  tokens, key, num_rollouts=config.gan.num_rollouts)


def reinforce_objective(params, state, tokens, rewards):
  """Equation 6 as a loss: -sum_t Q_t log G_theta(y_t | Y_1:t-1), summed over
  tokens and the batch (official ``generator.py``)."""
  generator = state.generator.module(params=params)
  return gj.losses.reinforce_loss(generator.token_log_probs(tokens), rewards).sum()


def temperature(config, game_step):
  g = config.gan
  return sequence.annealed_temperature(game_step, initial=g.temperature,
                                       minimum=g.min_temperature,
                                       rate=g.temperature_rate)


def relaxed_samples(config, state, key, tau, params=None):
  """(B, T, V) Gumbel-softmax samples of G (one-hot forward with
  ``gan.straight_through``), the noise drawn for every row and step."""
  generator = state.generator.module(params=params)
  return generator.relaxed_sample(key, config.train.batch_size, config.data.length,
                                  temperature=tau, hard=config.gan.straight_through)


def gumbel_objective(params, config, state, key, tau):
  """The non-saturating generator loss -log D(y) through relaxed samples y."""
  fake = relaxed_samples(config, state, key, tau, params=params)
  logits = state.discriminator.module()(fake)
  return gj.losses.get("non_saturating")[1](logits).mean()


# ------------------------------------------------------------- the steps --

def _generate(config, state, key):
  """(B, T) tokens of G_theta."""
  return state.generator.module().sample(key, config.train.batch_size,
                                         config.data.length)


def _discriminator_updates(config, state, reals, key, fakes_fn):
  """``len(reals)`` updates of D, update i on ``reals[i]`` against
  ``fakes_fn(state, key_i)``; returns the state and the mean loss. Up to
  :data:`UNROLLED_D_STEPS` are unrolled (XLA on a CPU runs convolution
  gradients many times slower inside a loop); more run in a ``lax.scan``."""
  l2 = config.optim.d_l2

  def one(state, inputs):
    real, i = inputs
    k = jax.random.fold_in(key, i)
    fake = jax.lax.stop_gradient(fakes_fn(state, jax.random.fold_in(k, 0)))
    state, loss = gj.train.update(
        state, "discriminator",
        lambda p: discriminator_loss(state, p, real, fake, jax.random.fold_in(k, 1), l2))
    return state, loss

  if reals.shape[0] > UNROLLED_D_STEPS:
    state, losses = jax.lax.scan(one, state, (reals, jnp.arange(reals.shape[0])))
    return state, losses.mean()
  losses = []
  for i in range(reals.shape[0]):
    state, loss = one(state, (reals[i], i))
    losses.append(loss)
  return state, jnp.mean(jnp.stack(losses))


def make_train_step(config: ml_collections.ConfigDict, phase: str = "adversarial"):
  """The step of one phase: ``'pretrain_generator'`` (MLE, also every step of
  ``gan.method='mle'``), ``'pretrain_discriminator'`` or ``'adversarial'``."""
  g = config.gan

  def pretrain_generator_step(state, batch, key):
    del key

    def one(state, tokens):
      return gj.train.update(
          state, "generator", lambda p: mle_loss(state.generator.module(params=p),
                                                 tokens))

    # gan.mle_updates minibatches, one generator update each (a lax.scan:
    # an LSTM's gradients run fast in a loop, unlike D's convolutions).
    state, losses = jax.lax.scan(one, state, _microbatches(batch))
    return state, {"mle_loss": losses.mean(), "generator_updates": state.step}

  def pretrain_discriminator_step(state, batch, key):
    state, d_loss = _discriminator_updates(
        config, state, batch["tokens"][None], key,
        lambda s, k: _generate(config, s, k))
    return state, {"d_loss": d_loss, "generator_updates": state.step}

  def seqgan_step(state, batch, key):
    tokens = _generate(config, state, jax.random.fold_in(key, 0))
    rewards = seqgan_rewards(config, state, tokens, jax.random.fold_in(key, 1))
    state, g_loss = gj.train.update(state, "generator", reinforce_objective,
                                    state, tokens, rewards)
    state = state.replace(extra={"rollout": sequence.delayed_update(
        state.extra["rollout"], state.generator.params,
        update_rate=g.rollout_update_rate)})
    state, d_loss = _discriminator_updates(
        config, state, _microbatches(batch), jax.random.fold_in(key, 2),
        lambda s, k: _generate(config, s, k))
    return state, {"g_loss": g_loss, "d_loss": d_loss, "mean_reward": rewards.mean(),
                   "generator_updates": state.step}

  def gumbel_step(state, batch, key):
    tau = temperature(config, state.step - g.pretrain_steps)
    state, g_loss = gj.train.update(state, "generator", gumbel_objective, config,
                                    state, jax.random.fold_in(key, 0), tau)
    vocab = config.data.vocab_size
    reals = jax.nn.one_hot(_microbatches(batch), vocab)
    state, d_loss = _discriminator_updates(
        config, state, reals, jax.random.fold_in(key, 2),
        lambda s, k: relaxed_samples(config, s, k, tau))
    return state, {"g_loss": g_loss, "d_loss": d_loss, "temperature": tau,
                   "generator_updates": state.step}

  if phase == "pretrain_generator" or g.method == "mle":
    return pretrain_generator_step
  if phase == "pretrain_discriminator":
    return pretrain_discriminator_step
  return seqgan_step if g.method == "seqgan" else gumbel_step


def _microbatches(batch):
  """A step's real minibatches as (k, B, T) (k = gan.d_steps or gan.mle_updates)."""
  tokens = batch["tokens"]
  return tokens if tokens.ndim == 3 else tokens[None]


def enter_game(state):
  """The game's own Adam for G (the official code's second optimiser; the
  count of generator updates goes on) and a rollout policy equal to the
  pre-trained G."""
  updates = state.updates
  state = state.reset_optimizers("generator").replace(updates=updates)
  return state.replace(extra={"rollout": jax.tree.map(jnp.copy, state.generator.params)})


def make_phases(config: ml_collections.ConfigDict) -> list:
  """The run's phases, those of no steps left out."""
  g, t = config.gan, config.train
  data = training_sequences(config)
  batches = sequence_data.SequenceBatches(data, batch_size=t.batch_size, seed=t.seed)
  mle = sequence_data.SequenceBatches(data, batch_size=t.batch_size, seed=t.seed,
                                      num_microbatches=g.mle_updates)
  mle_axis = 1 if g.mle_updates > 1 else 0
  if g.method == "mle":
    return [gj.train.Phase("mle", t.num_steps, make_train_step(config, "mle"), mle,
                           batch_axis=mle_axis)]
  game = sequence_data.SequenceBatches(data, batch_size=t.batch_size, seed=t.seed,
                                       num_microbatches=g.d_steps)
  phases = [
      gj.train.Phase("pretrain_generator", g.pretrain_steps,
                     make_train_step(config, "pretrain_generator"), mle,
                     batch_axis=mle_axis),
      gj.train.Phase("pretrain_discriminator", g.d_pretrain_steps,
                     make_train_step(config, "pretrain_discriminator"), batches),
      gj.train.Phase("adversarial", t.num_steps - g.pretrain_steps - g.d_pretrain_steps,
                     make_train_step(config, "adversarial"), game,
                     batch_axis=1 if g.d_steps > 1 else 0, enter=enter_game)]
  return [p for p in phases if p.num_steps > 0]


# -------------------------------------------------------------- sampling --

def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` (num, T) int token sequences of G."""
  length = config.data.length

  @jax.jit
  def sample(state, key):
    return state.sampling_generator().sample(key, num, length)

  return sample


def decode(config: ml_collections.ConfigDict, tokens: np.ndarray) -> list[str]:
  """Token sequences as lines of token ids (the oracle's tokens mean nothing)."""
  del config
  return [" ".join(map(str, row)) for row in np.asarray(tokens)]


class OracleCurve:
  """Logs NLL_oracle of ``eval.curve_samples`` fresh samples (always the same
  key) every ``eval.curve_every`` steps, with the generator updates made."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.every = config.eval.curve_every
    self.sample = make_sampler(config, config.eval.curve_samples)
    self.key = gj.train.make_key(config.train.seed, "curve")

  def __call__(self, step: int, state, writer) -> None:
    samples = np.asarray(self.sample(state, self.key))
    writer.write_scalars(step, {
        "eval/curve_nll_oracle": text_eval.oracle_nll(oracle(self.config), samples),
        "generator_updates": int(state.step)})


def draw_learning_curve(config: ml_collections.ConfigDict, state, directory: str,
                        *, key: jax.Array) -> str:
  """``learning_curve.png``: NLL_oracle against generator updates, read from
  the run's metrics.jsonl (in ``directory`` or the run's workdir above it)."""
  del state, key
  path = os.path.join(directory, "learning_curve.png")
  metrics = os.path.join(directory, "metrics.jsonl")
  if not os.path.exists(metrics):
    metrics = os.path.join(os.path.dirname(os.path.abspath(directory)), "metrics.jsonl")
  if jax.process_index() == 0 and os.path.exists(metrics):
    plot_learning_curves(path, {config.gan.method: metrics},
                         pretrain_updates=config.gan.pretrain_steps,
                         batches_per_epoch=config.data.num_sequences
                         / config.train.batch_size)
  return path


FIGURES = {"learning_curve": draw_learning_curve}


def learning_curve(metrics_path: str) -> tuple[np.ndarray, np.ndarray]:
  """``(generator updates, NLL_oracle)`` of a run's logged curve."""
  from gans_jax.train import writer as writer_lib
  rows = [r for r in writer_lib.read_metrics(metrics_path)
          if "eval/curve_nll_oracle" in r]
  return (np.array([r["generator_updates"] for r in rows], float),
          np.array([r["eval/curve_nll_oracle"] for r in rows], float))


def plot_learning_curves(path: str, runs: dict, *, pretrain_updates: int,
                         batches_per_epoch: float, title: str = "") -> None:
  """NLL_oracle against epochs (generator updates / batches per epoch) of
  each run ``{label: metrics.jsonl}``; a line where pre-training ends."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5.5, 3.5))
  for label, metrics in runs.items():
    updates, nll = learning_curve(metrics)
    ax.plot(updates / batches_per_epoch, nll, label=label)
  ax.axvline(pretrain_updates / batches_per_epoch, color="grey", ls=":",
             label="pre-training ends")
  ax.set_xlabel("epochs (generator updates x batch / training sequences)")
  ax.set_ylabel("NLL_oracle (nats per token)")
  if title:
    ax.set_title(title)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


# ------------------------------------------------------------- the run --

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  hooks = [OracleCurve(config)] if config.eval.curve_every else []
  state = gj.train.fit_phases(make_phases(config), create_state(config), config,
                              workdir, hooks=hooks)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """NLL_oracle of ``eval.num_samples`` samples (equation 8), NLL_test of the
  held-out oracle data, the random generator's NLL_oracle and the oracle's
  entropy rate; the samples as token ids in ``samples.txt``."""
  true = oracle(config)
  samples = common.final_samples(config, make_sampler(config, 500), state)
  test = test_sequences(config)
  generator = state.sampling_generator()
  random_generator = create_state(config).sampling_generator()
  key = gj.train.make_key(config.train.seed, "eval")
  results = {
      "eval/nll_oracle": text_eval.oracle_nll(true, samples),
      "eval/nll_test": text_eval.oracle_nll(generator, test),
      "eval/nll_oracle_random": text_eval.oracle_nll(
          true, np.asarray(random_generator.sample(key, len(samples),
                                                   config.data.length))),
      "eval/oracle_entropy": text_eval.oracle_nll(
          true, np.asarray(true.sample(key, len(samples), config.data.length))),
  }
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "samples.txt"), "w", encoding="utf-8") as f:
      f.write("\n".join(decode(config, samples[:100])) + "\n")
    if config.eval.curve_every:
      draw_learning_curve(config, state, workdir, key=key)
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples[:1000])
  return results
