"""Goodfellow et al. 2014, "Generative Adversarial Networks" (arXiv 1406.2661).

Presets (``--config=experiments/configs/gan.py:PRESET``):
  digits       the built-in digits at 16x16, no download (default)
  mnist        MNIST 28x28 from TFDS, the paper's setup
  conditional  Mirza & Osindero's conditional GAN on the built-in digits
  conditional_mnist  the same on MNIST
  smoke        two steps of a tiny model, for tests
Settings follow the paper's MNIST model (goodfeli/adversarial, mnist.yaml):
maxout discriminator 240x5 / 240x5 with dropout, ReLU generator 1200/1200,
uniform noise of dimension 100, SGD with momentum, k = 1, batch 100.
The digits presets train with Adam (lr 2e-4, beta1 0.5) instead of the
paper's SGD (lr 0.1, momentum 0.5 -> 0.7): on the 16x16 digits that SGD
setting diverged to NaN within 600 steps.
"""

import ml_collections

from experiments import common
from gans_jax.train import config as config_lib

PRESETS = ("digits", "mnist", "conditional", "conditional_mnist", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = common.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"gan_{preset}"
  c.data = common.data_defaults(dataset="digits", image_size=16, channels=1)

  c.model = ml_collections.ConfigDict(dict(
      latent_dim=100,                 # z dimension
      noise="uniform",                # the paper's code draws z ~ U[-1, 1]
      g_hidden=(1200, 1200),          # ReLU layers of the generator
      d_hidden=(240, 240),            # maxout layers of the discriminator
      maxout_pieces=5,                # pieces per maxout unit
      d_dropout=0.5,                  # dropout on the discriminator's hidden layers
      d_input_dropout=0.2,            # and on its input
      conditional=False,              # Mirza & Osindero 2014: condition on the label
      dtype="float32",                # compute dtype: 'float32' or 'bfloat16'
  ))
  c.gan = ml_collections.ConfigDict(dict(
      k=1,                            # discriminator steps per generator step (Alg. 1)
      generator_loss="non_saturating",  # or 'minimax' (log(1 - D(G(z))), Eq. 1)
      reuse_fake=False,               # G's step draws fresh noise (Alg. 1)
  ))
  c.optim = ml_collections.ConfigDict(dict(
      name="adam",                    # 'sgd' (the paper; the mnist presets) or 'adam'
      learning_rate=2e-4,             # Adam: 2e-4 (DCGAN's); SGD: 0.1 (mnist.yaml)
      b1=0.5, b2=0.999,               # Adam's betas
      lr_decay=1.000004,              # SGD: lr divided by this every step ...
      min_learning_rate=1e-6,         # ... down to this
      momentum=0.5,                   # SGD: initial momentum ...
      final_momentum=0.7,             # ... rising linearly to this ...
      momentum_steps=5000,            # ... over this many steps
  ))
  c.train = config_lib.train_defaults(
      num_steps=6000, batch_size=100, log_every=100, checkpoint_every=2000,
      sample_every=2000)
  c.eval = ml_collections.ConfigDict(dict(
      num_samples=10000,              # generated samples for the Parzen estimate
      num_validation=1000,            # validation examples that choose sigma
      validation_split="validation",  # where they come from
      num_test=10000,                 # test examples scored (capped by the split)
  ))

  if preset in ("mnist", "conditional_mnist"):
    c.data.update(dataset="mnist", image_size=28)
    c.train.update(num_steps=100000, checkpoint_every=5000, sample_every=5000)
    c.optim.update(name="sgd", learning_rate=0.1)
    c.optim.momentum_steps = 250 * 500  # 250 epochs of 500 batches (mnist.yaml)
    c.eval.validation_split = "train[50000:60000]"  # as the paper's parzen_ll.py
  if preset.startswith("conditional"):
    c.model.conditional = True
  if preset == "smoke":
    c.model.update(latent_dim=8, g_hidden=(16,), d_hidden=(16,), maxout_pieces=2)
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   sample_every=0)
    c.eval.update(num_samples=64, num_validation=32, num_test=32)
  return c
