"""SeqGAN's synthetic oracle experiment (experiments/seqgan.py).

Presets (``--config=experiments/configs/seqgan.py:PRESET``):
  seqgan       MLE pre-training, then REINFORCE with Monte-Carlo rollouts
               against a CNN discriminator, on a scaled-down oracle
               (vocabulary 500, length 20, hidden 32, 10,000 sequences)
               (default)
  mle          the MLE baseline: teacher forcing for as many generator
               updates as ``seqgan`` makes (pre-training + adversarial)
  gumbel       the same pre-training, then a GAN through the
               straight-through Gumbel-softmax (one-hot forward, relaxed
               gradient), temperature annealed
  gumbel_soft  the same with the soft relaxed vectors fed to the
               discriminator and back into the LSTM
  paper        the paper's sizes: vocabulary 5,000, 10,000 sequences,
               120 pre-training epochs, the full discriminator, 16 rollouts,
               200 adversarial batches (for an accelerator)
  smoke        two steps of a tiny model, for tests
Each field declares its check beside its default (``field(default,
check)``); ``validate`` in the experiment holds only the rules across fields.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, non_negative_int, one_of, positive,
                                   positive_int, positive_ints, unit_interval)

PRESETS = ("seqgan", "mle", "gumbel", "gumbel_soft", "paper", "smoke")

# The official discriminator (LantaoYu/SeqGAN sequence_gan.py).
PAPER_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)

# Scaled-down run lengths of the CPU presets (steps of the loop).
MLE_UPDATES = 10           # G's MLE updates (minibatches of 64) in one step
PRETRAIN_STEPS = 150       # G's MLE steps: 1,500 updates (~10 epochs; paper 120)
D_PRETRAIN_STEPS = 100     # D's steps on real vs generated before the game
ADVERSARIAL_STEPS = 100    # generator updates of the game (paper 200)


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "seqgan", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"seqgan_{preset}"
  c.data = config_lib.section(
      vocab_size=field(500, positive_int),        # oracle tokens (paper 5,000)
      length=field(20, positive_int),             # tokens per sequence (paper 20)
      num_sequences=field(10_000, positive_int),  # training set drawn from the
                                                  # oracle (paper 10,000)
      oracle_seed=field(0, non_negative_int),     # the oracle's weights, N(0, 1)
      num_test=field(2000, positive_int),         # held-out oracle sequences (NLL_test)
  )
  c.model = config_lib.section(
      embedding_dim=field(32, positive_int),      # G's and the oracle's (paper 32)
      hidden_dim=field(32, positive_int),         # G's and the oracle's LSTM (paper 32)
      d_embedding_dim=field(32, positive_int),    # D's embedding (paper 64)
      d_filter_sizes=field(PAPER_FILTER_SIZES, positive_ints),  # D's widths (paper's)
      # filters per width: the paper's divided by 8 (paper 100-200 each)
      d_num_filters=field(tuple(max(10, n // 8) for n in PAPER_NUM_FILTERS),
                          positive_ints),
      d_dropout=field(0.25, unit_interval),       # official keep probability 0.75
  )
  c.gan = config_lib.section(
      # mle: teacher forcing throughout; seqgan: REINFORCE with rollouts;
      # gumbel: a GAN through Gumbel-softmax samples
      method=field("seqgan", one_of("mle", "seqgan", "gumbel")),
      pretrain_steps=field(PRETRAIN_STEPS, non_negative_int),      # G's MLE steps
      mle_updates=field(MLE_UPDATES, positive_int),  # G updates in one MLE step
      d_pretrain_steps=field(D_PRETRAIN_STEPS, non_negative_int),  # D's, before the game
      d_steps=field(3, positive_int),             # D updates per generator update
                                                  # (official: 5 x 3 epochs)
      num_rollouts=field(4, positive_int),        # Monte-Carlo rollouts (paper 16)
      rollout_update_rate=field(0.8, unit_interval),  # beta <- r beta + (1-r) theta
      straight_through=field(True, boolean),      # gumbel: one-hot forward
      temperature=field(1.0, positive),           # gumbel: initial tau
      min_temperature=field(0.5, positive),       # gumbel: floor of tau (Jang: 0.5)
      temperature_rate=field(1e-2, positive),     # gumbel: tau = max(min, tau0 e^(-r t))
  )
  c.optim = config_lib.section(
      g_learning_rate=field(0.01, positive),      # Adam, official generator.py
      g_grad_clip=field(5.0, positive),           # global norm, official
      d_learning_rate=field(1e-4, positive),      # Adam, official discriminator.py
      d_l2=field(0.2, positive),                  # L2 on D's output layer, official
  )
  c.train = config_lib.train_defaults(
      num_steps=PRETRAIN_STEPS + D_PRETRAIN_STEPS + ADVERSARIAL_STEPS,
      batch_size=64, log_every=50, checkpoint_every=300, sample_every=0,
      steps_per_call=1)
  c.eval = config_lib.section(
      num_samples=field(10_000, positive_int),    # sequences scored (paper 10,000)
      curve_every=field(10, non_negative_int),    # steps between NLL_oracle points (0: none)
      curve_samples=field(1000, positive_int),    # sequences per curve point
  )
  if preset == "mle":
    c.gan.method = "mle"
    # as many generator updates as seqgan's 1,500 + 150
    c.train.num_steps = PRETRAIN_STEPS + ADVERSARIAL_STEPS // MLE_UPDATES
  if preset in ("gumbel", "gumbel_soft"):
    c.gan.method = "gumbel"
    c.gan.straight_through = preset == "gumbel"
  if preset == "paper":
    c.data.vocab_size = 5000
    c.model.update(d_embedding_dim=64, d_num_filters=PAPER_NUM_FILTERS)
    c.gan.update(pretrain_steps=120 * 157, mle_updates=1, d_pretrain_steps=50 * 3 * 313,
                 d_steps=5 * 3 * 313, num_rollouts=16)
    c.train.update(num_steps=120 * 157 + 50 * 3 * 313 + 200, log_every=10,
                   checkpoint_every=1000, steps_per_call=1)
    c.eval.curve_every = 10
  if preset == "smoke":
    c.data.update(vocab_size=30, length=6, num_sequences=64, num_test=32)
    c.model.update(embedding_dim=4, hidden_dim=4, d_embedding_dim=4,
                   d_filter_sizes=(1, 2, 6), d_num_filters=(2, 2, 2))
    c.gan.update(pretrain_steps=1, mle_updates=2, d_pretrain_steps=0, d_steps=1,
                 num_rollouts=2)
    c.optim.g_learning_rate = 0.3  # so that one step changes the samples
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   steps_per_call=1)
    c.eval.update(num_samples=64, curve_every=1, curve_samples=16)
  return c
