"""WGAN-GP's character-level language model (experiments/text_gan.py).

Presets (``--config=experiments/configs/text_gan.py:PRESET``):
  wgan_gp   the official toy-language model scaled to a 2-core CPU: lines
            of 32 characters of the Python Language Reference (shipped with
            Python), 1-D ResNets of 5 blocks at width 32 (official 512),
            5 critic steps (official 10), lambda 10, Adam 1e-4 (0.5, 0.9)
            (default)
  mle       the baseline: a character LSTM trained by maximum likelihood,
            with about the ResNet generator's parameter count, for as many
            generator updates
  paper     the official settings: width 512, 10 critic steps, 200,000
            generator iterations (for an accelerator)
  smoke     two steps of a tiny model, for tests
Each field declares its check beside its default (``field(default,
check)``); ``validate`` in the experiment holds only the rules across fields.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (field, fraction, non_negative, one_of, positive,
                                   positive_int)

PRESETS = ("wgan_gp", "mle", "paper", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "wgan_gp", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"text_gan_{preset}"
  c.data = config_lib.section(
      length=field(32, positive_int),             # characters per line (official 32)
      held_out=field(0.1, fraction),              # share of lines kept for the scores
  )
  c.model = config_lib.section(
      # wgan_gp: 1-D ResNets; mle: a character LSTM
      kind=field("resnet", one_of("resnet", "lstm")),
      latent_dim=field(128, positive_int),        # z (official 128)
      features=field(32, positive_int),           # width of every block (official 512)
      num_blocks=field(5, positive_int),          # residual blocks (official 5)
      embedding_dim=field(32, positive_int),      # lstm: character embedding
      hidden_dim=field(192, positive_int),        # lstm: about the ResNet's parameters
  )
  c.gan = config_lib.section(
      n_critic=field(5, positive_int),            # critic steps per G step (official 10)
      gp_weight=field(10.0, non_negative),        # lambda (official 10)
  )
  c.optim = config_lib.section(
      learning_rate=field(1e-4, positive),        # Adam (official 1e-4)
      b1=field(0.5, fraction), b2=field(0.9, fraction),  # official (0.5, 0.9)
  )
  c.train = config_lib.train_defaults(
      num_steps=500, batch_size=64, log_every=50, checkpoint_every=250,
      sample_every=0, steps_per_call=1)
  c.eval = config_lib.section(
      num_samples=field(1000, positive_int),      # generated lines scored
  )
  if preset == "mle":
    c.model.kind = "lstm"
    c.optim.update(learning_rate=2e-3, b1=0.9, b2=0.999)
    c.train.steps_per_call = 10
  if preset == "paper":
    c.model.features = 512
    c.gan.n_critic = 10
    c.train.update(num_steps=200_000, log_every=100, checkpoint_every=5000)
  if preset == "smoke":
    c.data.length = 8
    c.model.update(latent_dim=4, features=4, num_blocks=1)
    c.gan.n_critic = 2
    c.optim.learning_rate = 0.03  # so that one step changes the samples
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2)
    c.eval.num_samples = 32
  return c
