"""Kingma & Welling 2014, the variational autoencoder (arXiv 1312.6114), and
the plain and denoising autoencoders built from the same networks.

Presets (``--config=experiments/configs/vae.py:PRESET``):
  digits       the VAE on the built-in digits at 16x16 (the GAN experiment's
               resolution), no download (default): Gaussian decoder of fixed
               standard deviation 0.1 on pixels in [0, 1], so that its
               log-likelihood is a density in the space of the GAN's Parzen
               estimate
  bernoulli    the same with the paper's MNIST decoder: Bernoulli pixels
  autoencoder  a deterministic (compression) autoencoder: code = the
               encoder's mean, loss = the reconstruction term alone; sweep
               model.latent_dim (2 .. 64) for error against code size
  denoising    a denoising autoencoder: the encoder sees x + N(0, 0.3^2)
               noise (clipped to [0, 1]), the loss scores the clean x
  mnist        the paper's MNIST setting from TFDS: 28x28, Bernoulli decoder,
               500 tanh hidden units each side, latent 20, Adagrad (lr 0.02),
               minibatch 100, one sample of z per example
  smoke        two steps of a tiny model, for tests
The digits presets train with Adam (lr 1e-3) instead of the paper's Adagrad,
for 4,000 minibatches of 100 (about 300 epochs of the 1,297 training digits).
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (field, fraction, one_of, positive,
                                   positive_int, positive_ints, tuple_of,
                                   unit_interval)

PRESETS = ("digits", "bernoulli", "autoencoder", "denoising", "mnist", "smoke")
# What is trained: the VAE's ELBO, or an autoencoder's reconstruction loss of
# its clean input ('autoencoder') or of a noisy copy ('denoising').
OBJECTIVES = ("elbo", "autoencoder", "denoising")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"vae_{preset}"
  c.data = sections.data_defaults(dataset="digits", image_size=16, channels=1)
  c.model = config_lib.section(
      latent_dim=field(20, positive_int),       # z dimension (the paper: 2 .. 200)
      hidden=field((500,), positive_ints),      # hidden layers of each MLP (paper: 500)
      activation=field("tanh", one_of("tanh", "relu", "softplus")),  # paper: tanh
      # p(x | z): 'bernoulli' logits (the paper's MNIST) or a 'gaussian' mean
      likelihood=field("gaussian", one_of("bernoulli", "gaussian")),
      # the Gaussian decoder's fixed standard deviation, pixels in [0, 1]
      decoder_std=field(0.1, positive),
      dtype=sections.dtype(),                   # compute dtype
  )
  c.vae = config_lib.section(
      objective=field("elbo", one_of(*OBJECTIVES)),
      # denoising: std of the Gaussian noise added to the input, pixels in [0, 1]
      noise_std=field(0.3, unit_interval),
  )
  c.optim = config_lib.section(
      name=field("adam", one_of("adam", "adagrad")),
      learning_rate=field(1e-3, positive),      # Adam 1e-3; the paper: Adagrad 0.01-0.1
      b1=field(0.9, fraction), b2=field(0.999, fraction),  # Adam's betas
  )
  c.train = config_lib.train_defaults(
      num_steps=4000, batch_size=100, log_every=500, checkpoint_every=2000,
      sample_every=0, steps_per_call=50)
  c.eval = config_lib.section(
      # samples of the prior decoded for the Parzen estimate and the
      # classifier and sharpness metrics (the GAN experiment's 10,000)
      num_samples=field(10000, positive_int),
      num_validation=field(200, positive_int),  # validation images that choose Parzen's sigma
      validation_split="validation",
      num_test=field(10000, positive_int),      # test images scored (capped by the split)
      # importance samples per test image of the log-likelihood (IWAE: 5,000)
      iwae_samples=field(5000, positive_int),
      iwae_chunk=field(500, positive_int),      # of them per decoder pass; divides iwae_samples
      # noise levels (std, pixels in [0, 1]) of the denoising scores
      noise_levels=field((0.1, 0.2, 0.3, 0.5), tuple_of(unit_interval, min_size=1)),
      interpolations=field(8, positive_int),    # rows of the interpolation figure
      interpolation_steps=field(10, positive_int),  # frames of each row
  )
  if preset == "bernoulli":
    c.model.likelihood = "bernoulli"
  if preset == "autoencoder":
    c.vae.objective = "autoencoder"
  if preset == "denoising":
    c.vae.objective = "denoising"
  if preset == "mnist":
    c.data.update(dataset="mnist", image_size=28)
    c.model.likelihood = "bernoulli"
    c.optim.update(name="adagrad", learning_rate=0.02)
    c.train.update(num_steps=500000, checkpoint_every=10000, log_every=1000)
    c.eval.update(validation_split="train[50000:60000]", num_validation=1000)
  if preset == "smoke":
    c.model.update(latent_dim=2, hidden=(8,))
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   steps_per_call=1)
    c.eval.update(num_samples=64, num_validation=16, num_test=8, iwae_samples=20,
                  iwae_chunk=10, noise_levels=(0.2,), interpolations=2,
                  interpolation_steps=4)
  return c
