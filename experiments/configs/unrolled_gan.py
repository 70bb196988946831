"""The unrolled GAN (Metz et al. 2016, arXiv 1611.02163) on the ring of 8 Gaussians.

Presets (``--config=experiments/configs/unrolled_gan.py:PRESET``):
  default      K = 10 (the paper's figure 1), the demo's networks,
               initialisation and optimisers, 5,000 steps instead of 25,000
               (snapshots every 1,000; about 8 min idle on 2 CPU cores)
  k0           the same with K = 0: the regular GAN of the figure's top row
  k5           the same with K = 5 (the demo's own setting)
  k10          the same with K = 10 (= default)
  first_order  K = 10 with the gradient through the unroll cut (the cheaper
               first-order variant, for comparison)
  paper        the demo as written: K = 5, 25,000 steps, snapshots every 5,000
  smoke        two steps of a tiny model, for tests
The other settings are the official demo's (github.com/poolio/unrolled_gan):
2x128 tanh MLPs with TensorFlow 1.0's orthogonal init (gain 1.4), z ~ N(0, I) of 256, batch
512, Adam D 1e-4 / G 1e-3, beta1 0.5, eps 1e-8, the unroll replaying the
iteration's one batch, on a ring of radius 1 and std 0.01 (with 8 distinct
modes; the demo's ``linspace`` gives 7).
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative,
                                   non_negative_int, one_of, positive,
                                   positive_int)

PRESETS = ("default", "k0", "k5", "k10", "first_order", "paper", "smoke")
# The 2-D toys with modes (gans_jax.data.get_toy): the demo's ring and the
# WGAN-GP code's two mixtures.
DATASETS = ("ring", "8gaussians", "25gaussians")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "default", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"unrolled_gan_{preset}"
  c.data = config_lib.section(
      dataset=field("ring", one_of(*DATASETS)),  # the demo's ring of Gaussians
  )
  c.model = config_lib.section(
      latent_dim=field(256, positive_int),  # z ~ N(0, I) (demo z_dim)
      width=field(128, positive_int),       # units per hidden layer (demo n_hidden)
      depth=field(2, positive_int),         # hidden layers of G and D (demo n_layer)
      activation=field("tanh", one_of("tanh", "relu", "leaky_relu")),  # demo: tanh
      # orthogonal init of every weight matrix with this gain (demo 1.4);
      # 0 keeps the library's Glorot uniform
      orthogonal_gain=field(1.4, non_negative),
      # how the orthogonal matrices are drawn: 'tf1_uniform_svd' is the
      # demo's TensorFlow 1.0 tf.orthogonal_initializer (singular vectors of
      # a uniform [0, 1) matrix), 'haar' a uniformly random orthogonal matrix
      orthogonal_draw=field("tf1_uniform_svd", one_of("tf1_uniform_svd", "haar")),
  )
  c.unrolled = config_lib.section(
      steps=field(10, non_negative_int),    # K: unroll steps (figure 1: 10; demo: 5)
      first_order=field(False, boolean),    # cut the gradient through the unroll
  )
  c.optim = config_lib.section(
      d_learning_rate=field(1e-4, positive),  # demo disc_learning_rate
      g_learning_rate=field(1e-3, positive),  # demo gen_learning_rate
      b1=field(0.5, fraction),                # demo beta1
      b2=field(0.999, fraction),              # Adam's default (Keras and TF)
      eps=field(1e-8, positive),              # demo epsilon
  )
  c.train = config_lib.train_defaults(
      num_steps=5000, batch_size=512, log_every=500, checkpoint_every=5000,
      sample_every=0, steps_per_call=50)
  c.eval = config_lib.section(
      # generated points scored at each snapshot and at the end
      num_samples=field(2500, positive_int),
      # snapshots evenly from step 0 to the end (figure 1: 6, every 5,000 of 25,000)
      num_snapshots=field(6, positive_int),
  )
  if preset in ("k0", "k5", "k10", "first_order"):
    c.unrolled.steps = {"k0": 0, "k5": 5}.get(preset, 10)
  if preset == "first_order":
    c.unrolled.first_order = True
  if preset == "paper":
    c.unrolled.steps = 5
    c.train.update(num_steps=25000, checkpoint_every=5000)
  if preset == "smoke":
    c.model.update(latent_dim=4, width=8)
    c.unrolled.steps = 2
    c.train.update(num_steps=2, batch_size=16, log_every=1, checkpoint_every=2,
                   steps_per_call=1)
    c.eval.update(num_samples=64, num_snapshots=3)
  return c
