"""Goodfellow et al. 2014, "Generative Adversarial Networks" (arXiv 1406.2661).

Presets (``--config=experiments/configs/gan.py:PRESET``):
  digits       the built-in digits at 16x16, no download (default)
  mnist        MNIST 28x28 from TFDS, the paper's setup
  conditional  Mirza & Osindero's conditional GAN on the built-in digits
  conditional_mnist  the same on MNIST
  lsgan        Mao et al. 2017's least-squares game (LSGAN, arXiv 1611.04076)
               on the built-in digits: gan.loss='least_squares', a = 0, b = c = 1
  lsgan_ring   the same game on the ring of 8 Gaussians, as the paper's
               mixture test: two hidden layers of 128 in each network, batch
               512, Adam lr 1e-4; departures: this experiment's ReLU G and
               maxout D (the paper: tanh), one learning rate for both (the
               paper: G 1e-3), the built-in ring's spread (the paper: 0.01)
  smoke        two steps of a tiny model, for tests
Settings follow the paper's MNIST model (goodfeli/adversarial, mnist.yaml):
maxout discriminator 240x5 / 240x5 with dropout, ReLU generator 1200/1200,
uniform noise of dimension 100, SGD with momentum, k = 1, batch 100.
The digits presets train with Adam (lr 2e-4, beta1 0.5) instead of the
paper's SGD (lr 0.1, momentum 0.5 -> 0.7): on the 16x16 digits that SGD
setting diverged to NaN within 600 steps.
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative, one_of,
                                   positive, positive_int, positive_ints)

# The games gan.loss may name (gj.losses.get); the Wasserstein loss needs a
# Lipschitz critic, which Algorithm 1 does not keep.
LOSSES = ("minimax", "non_saturating", "least_squares", "hinge")
PRESETS = ("digits", "mnist", "conditional", "conditional_mnist", "lsgan",
           "lsgan_ring", "smoke")
TOY_DATASETS = sections.TOY_DATASETS


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"gan_{preset}"
  c.data = sections.data_defaults(dataset="digits", image_size=16, channels=1)

  c.model = config_lib.section(
      latent_dim=field(100, positive_int),      # z dimension
      # the paper's code draws z ~ U[-1, 1]
      noise=field("uniform", one_of("uniform", "normal")),
      g_hidden=field((1200, 1200), positive_ints),  # ReLU layers of the generator
      d_hidden=field((240, 240), positive_ints),    # maxout layers of the discriminator
      maxout_pieces=field(5, positive_int),     # pieces per maxout unit
      d_dropout=field(0.5, fraction),           # dropout on D's hidden layers
      d_input_dropout=field(0.2, fraction),     # and on its input
      conditional=field(False, boolean),        # Mirza & Osindero 2014: on the label
      dtype=sections.dtype(),                   # compute dtype: 'float32' or 'bfloat16'
  )
  c.gan = config_lib.section(
      # discriminator steps per generator step (k, Alg. 1)
      n_critic=field(1, positive_int),
      # the game (gj.losses.get): 'non_saturating' (G ascends log D(G(z))),
      # 'minimax' (G descends log(1 - D(G(z))), Eq. 1), 'least_squares'
      # (LSGAN) or 'hinge'
      loss=field("non_saturating", one_of(*LOSSES)),
      reuse_fake=field(False, boolean),         # G's step draws fresh noise (Alg. 1)
  )
  # Gaussian noise on D's inputs, annealed (gans_jax.noise); std 0: off
  c.instance_noise = sections.instance_noise_defaults()
  # Adam's and SGD's fields alike are checked, whichever optim.name picks.
  c.optim = config_lib.section(
      # 'sgd' (the paper; the mnist presets) or 'adam'
      name=field("adam", one_of("sgd", "adam")),
      # Adam: 2e-4 (DCGAN's); SGD: 0.1 (mnist.yaml)
      learning_rate=field(2e-4, positive),
      b1=field(0.5, fraction), b2=field(0.999, fraction),  # Adam's betas
      lr_decay=field(1.000004, positive),       # SGD: lr divided by this every step ...
      min_learning_rate=field(1e-6, non_negative),  # ... down to this
      momentum=field(0.5, fraction),            # SGD: initial momentum ...
      final_momentum=field(0.7, fraction),      # ... rising linearly to this ...
      momentum_steps=field(5000, positive_int),  # ... over this many steps
  )
  c.train = config_lib.train_defaults(
      num_steps=6000, batch_size=100, log_every=100, checkpoint_every=2000,
      sample_every=2000)
  c.eval = config_lib.section(
      # generated samples for the Parzen estimate
      num_samples=field(10000, positive_int),
      num_validation=field(1000, positive_int),  # validation examples that choose sigma
      validation_split="validation",  # where they come from
      # test examples scored (capped by the split)
      num_test=field(10000, positive_int),
  )

  if preset in ("mnist", "conditional_mnist"):
    c.data.update(dataset="mnist", image_size=28)
    c.train.update(num_steps=100000, checkpoint_every=5000, sample_every=5000)
    c.optim.update(name="sgd", learning_rate=0.1)
    c.optim.momentum_steps = 250 * 500  # 250 epochs of 500 batches (mnist.yaml)
    c.eval.validation_split = "train[50000:60000]"  # as the paper's parzen_ll.py
  if preset.startswith("conditional"):
    c.model.conditional = True
  if preset in ("lsgan", "lsgan_ring"):
    c.gan.loss = "least_squares"
  if preset == "lsgan_ring":
    c.data.dataset = "8gaussians"
    c.model.update(latent_dim=2, noise="normal", g_hidden=(128, 128),
                   d_hidden=(128, 128), maxout_pieces=2, d_dropout=0.0,
                   d_input_dropout=0.0)
    c.optim.learning_rate = 1e-4
    c.train.update(num_steps=5000, batch_size=512, log_every=500,
                   checkpoint_every=2500, sample_every=0, steps_per_call=50)
    c.eval.num_samples = 2500
  if preset == "smoke":
    c.model.update(latent_dim=8, g_hidden=(16,), d_hidden=(16,), maxout_pieces=2)
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   sample_every=0)
    c.eval.update(num_samples=64, num_validation=32, num_test=32)
  return c
