"""The template experiment (experiments/template.py): a GAN on a 2-D toy.

Presets (``--config=experiments/configs/template.py:PRESET``):
  8gaussians   the ring of 8 Gaussians, the non-saturating game (default)
  lsgan        the same ring with the least-squares game (LSGAN, Mao et al.
               2017, arXiv 1611.04076)
  smoke        two steps of a tiny model, for tests
Each field declares its check beside its default (``field(default,
check)``); ``validate`` in the experiment holds only the rules across fields.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import field, fraction, one_of, positive, positive_int

PRESETS = ("8gaussians", "lsgan", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "8gaussians", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"template_{preset}"
  c.data = config_lib.section(
      # a toy of gans_jax.data.get_toy
      dataset=field("8gaussians", one_of("8gaussians", "25gaussians")),
  )
  c.model = config_lib.section(
      latent_dim=field(2, positive_int),    # z dimension
      width=field(128, positive_int),       # units of each hidden layer
      depth=field(3, positive_int),         # hidden layers of both networks
  )
  c.gan = config_lib.section(
      n_critic=field(1, positive_int),      # discriminator steps per generator step
      # the game (gj.losses.get)
      loss=field("non_saturating", one_of("minimax", "non_saturating",
                                          "least_squares", "hinge")),
  )
  c.optim = config_lib.section(
      learning_rate=field(1e-4, positive),  # Adam
      b1=field(0.5, fraction), b2=field(0.9, fraction),
  )
  c.train = config_lib.train_defaults(
      num_steps=5000, batch_size=256, log_every=500, checkpoint_every=2500,
      sample_every=0, steps_per_call=50)
  c.eval = config_lib.section(
      num_samples=field(2500, positive_int),  # generated points scored
  )
  if preset == "lsgan":
    c.gan.loss = "least_squares"
  if preset == "smoke":
    c.model.update(width=8, depth=1)
    c.train.update(num_steps=2, batch_size=16, log_every=1, checkpoint_every=2,
                   steps_per_call=1)
    c.eval.num_samples = 64
  return c
