"""Kingma & Welling 2014, "Auto-Encoding Variational Bayes" (arXiv 1312.6114):
the variational autoencoder, the baseline the lecture notes contrast GANs
with, and the plain and denoising autoencoders made of the same networks.

The model: a prior p(z) = N(0, I), a decoder p(x | z) (Bernoulli pixels, or
a Gaussian of fixed standard deviation ``model.decoder_std``) and a Gaussian
encoder q(z | x) = N(mu(x), diag sigma^2(x)), MLPs of ``model.hidden`` tanh
units (``gans_jax.nn.GaussianEncoder``, ``VAEDecoder``; the paper's
Appendix C). Training ascends the ELBO (Eq. 10, the estimator L~^B with one
sample per example, L = 1), averaged over the minibatch of M examples:

    L(x) = log p(x | z) - KL(q(z | x) || N(0, I)),
    z = mu(x) + sigma(x) * eps,  eps ~ N(0, I)   (the reparametrisation, Sec. 2.4)

with the KL term in closed form (Appendix B): ``gj.losses.elbo``,
``gaussian_kl``, ``reparameterize``. Each step's noise comes from its own
key (``fold_in(train_key, step)``), never reused.

``vae.objective`` trains the same networks as autoencoders instead (the
notes' two examples): ``'autoencoder'`` minimises -log p(x | mu(x)), the
reconstruction term at the encoder's mean (the code; sigma is unused), and
``'denoising'`` the same for a corrupted input,
-log p(x | mu(x~)), x~ = clip(x + N(0, s^2), 0, 1) with s = ``vae.noise_std``:
the loss scores the clean image (Vincent et al. 2008).

The evaluation, on the test split: the ELBO and the importance-weighted
bound L_K with K = ``eval.iwae_samples`` (5,000, Burda et al. 2016) as the
log-likelihood; the reconstruction error at the code; PSNR of the noisy
inputs and of their reconstructions against the clean images at
``eval.noise_levels``; and, on N(0, I) samples decoded to their expected
image, the GAN experiment's Parzen-window log-likelihood, the classifier
metrics and the sharpness (mean gradient magnitude), so that the notes'
claim, VAE samples blurrier but likelihood better, is measured beside the
GAN's numbers. Figures: samples, original / reconstructed, original / noisy /
denoised, and the interpolation between the encoder means of two test
images, mu_c = (1 - w) mu_a + w mu_b, w = k / (n - 1) (PNG and GIF).

Departures from the paper: pixels are grey values in [0, 1], not binarised
(its Bernoulli term is then the cross-entropy, as in its MNIST code); the
digits presets use a Gaussian decoder with a fixed standard deviation 0.1
(the paper's Frey Face model learns it), so that log p(x) is a density on
[0, 1]^D comparable with the Parzen estimate, and Adam (lr 1e-3) instead of
Adagrad; no weight-decay prior on the parameters. Samples shown and scored
are the decoder's mean at z ~ N(0, I), without the pixel noise.

    python experiments/vae.py [--config=experiments/configs/vae.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__,
           figures=("interpolation", "reconstruction", "denoising"))

import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from gans_jax import losses
from gans_jax.eval import fidelity
from gans_jax.eval import images as image_eval
from gans_jax.eval import interpolation as interpolation_lib
from gans_jax.eval import likelihood
from gans_jax.eval import parzen
from gans_jax.eval import sharpness
from gans_jax.train import config as config_lib

PLAYERS = ("encoder", "decoder")  # one optimizer on both, as the paper


class VAEState(gj.train.TrainState):
  """The encoder q(z | x) and the decoder p(x | z), one optimizer for both
  (the group ``'encoder+decoder'``). No discriminator: the engine trains any
  set of named players."""

  encoder: gj.train.Network
  decoder: gj.train.Network

  @property
  def step(self) -> jax.Array:
    return self.updates["+".join(PLAYERS)]

  def sampling_generator(self, mode: str = "eval"):
    """The decoder, the VAE's generator."""
    return self.sampling_module("decoder", mode=mode)


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/vae.py)."""
  common.validate_image_data(config)
  common.validate_split(config, "eval.validation_split")
  e = config.eval
  config_lib.check(e.iwae_samples % e.iwae_chunk == 0, "eval.iwae_chunk",
                   f"must divide eval.iwae_samples ({e.iwae_samples}), "
                   f"got {e.iwae_chunk}")
  config_lib.check(e.interpolation_steps >= 2, "eval.interpolation_steps",
                   f"an interpolation needs both ends, >= 2, got "
                   f"{e.interpolation_steps}")
  config_lib.validate_train(config)


def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  d = config.data
  return (d.image_size, d.image_size, d.channels)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The decoder, called for images in [-1, 1] (its expected image)."""
  del state
  m = config.model
  return dict(
      player="decoder", module="gans_jax.nn.VAEDecoder", mode="eval",
      kwargs=dict(latent_dim=m.latent_dim, output_shape=list(image_shape(config)),
                  hidden=list(m.hidden), activation=m.activation,
                  likelihood=m.likelihood, dtype=common.dtype_name(config)),
      call=dict(images=True),
      inputs=dict(latent_dim=m.latent_dim, noise="normal"))


def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  o = config.optim
  if o.name == "adagrad":
    return optax.adagrad(o.learning_rate)
  return optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)


def create_state(config: ml_collections.ConfigDict) -> VAEState:
  m = config.model
  rngs = gj.train.init_rngs(config.train.seed)
  encoder = gj.nn.GaussianEncoder(
      image_shape(config), m.latent_dim, hidden=tuple(m.hidden),
      activation=m.activation, dtype=common.compute_dtype(config), rngs=rngs)
  decoder = gj.nn.build_module(generator_spec(config), rngs=rngs)
  return VAEState.create(encoder=encoder, decoder=decoder,
                         optimizers={PLAYERS: optimizer(config)})


# ------------------------------------------------------------ the model --

def to_unit(images):
  """Images in [-1, 1] (the data pipeline's) to the model's [0, 1]."""
  return (jnp.asarray(images, jnp.float32) + 1.0) / 2.0


def corrupt(key: jax.Array, x: jax.Array, std: float) -> jax.Array:
  """x~ = clip(x + N(0, std^2), 0, 1): the denoising autoencoder's input."""
  return jnp.clip(x + std * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)


def log_likelihood_fn(config: ml_collections.ConfigDict):
  """``log p(x | z)`` from the decoder's output, per example: Bernoulli
  logits or a Gaussian mean of standard deviation ``model.decoder_std``."""
  if config.model.likelihood == "bernoulli":
    return losses.bernoulli_log_likelihood
  log_var = 2.0 * math.log(config.model.decoder_std)
  return lambda mean, x: losses.gaussian_log_likelihood(mean, x, log_var=log_var)


def make_train_step(config: ml_collections.ConfigDict):
  """One minibatch of Algorithm 1 (AEVB): ascend the minibatch-averaged ELBO
  (or, for the autoencoders, descend the reconstruction loss)."""
  objective, noise_std = config.vae.objective, config.vae.noise_std
  log_px = log_likelihood_fn(config)

  def train_step(state: VAEState, batch, key):
    x = to_unit(batch["image"])
    key_noise, key_z = jax.random.split(key)
    inputs = corrupt(key_noise, x, noise_std) if objective == "denoising" else x

    def loss_fn(params):
      (mean, log_var), _ = state.encoder.apply(inputs, params=params["encoder"])
      if objective == "elbo":
        z = losses.reparameterize(key_z, mean, log_var)
      else:
        z = mean  # the code of a deterministic autoencoder
      decoded, _ = state.decoder.apply(z, params=params["decoder"])
      reconstruction = log_px(decoded, x)                # scores the clean x
      if objective == "elbo":
        bound = losses.elbo(reconstruction, mean, log_var)  # (M,)
        kl = losses.gaussian_kl(mean, log_var).mean()
      else:
        bound, kl = reconstruction, jnp.zeros(())
      # Averaged over the minibatch (the paper's estimator, Eq. 8, / M).
      return -jnp.mean(bound), (jnp.mean(reconstruction), kl)

    state, (loss, (reconstruction, kl)) = gj.train.update(
        state, PLAYERS, loss_fn, has_aux=True)
    return state, {"loss": loss, "log_px_z": reconstruction, "kl": kl}

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` decoded z ~ N(0, I), the expected images
  in [-1, 1] (the generator spec's call)."""
  latent_dim = config.model.latent_dim

  @jax.jit
  def sample(state, key):
    z = jax.random.normal(key, (num, latent_dim))
    return state.sampling_generator()(z, images=True)

  return sample


def _networks(state: VAEState):
  """The encoder and the decoder as modules (call inside a traced function)."""
  return state.sampling_module("encoder"), state.sampling_module("decoder")


@jax.jit
def encode(state: VAEState, x01: jax.Array):
  """``(mean, log_var)`` of q(z | x) for images in [0, 1]."""
  encoder, _ = _networks(state)
  return encoder(x01)


@jax.jit
def decode(state: VAEState, z: jax.Array) -> jax.Array:
  """The expected images of codes z, in [-1, 1]."""
  _, decoder = _networks(state)
  return decoder(z, images=True)


def reconstruct(state: VAEState, x01: jax.Array) -> jax.Array:
  """The decoded encoder mean of images in [0, 1], itself in [0, 1]."""
  return (decode(state, encode(state, x01)[0]) + 1.0) / 2.0


# ------------------------------------------------------- interpolation --

def interpolate(config: ml_collections.ConfigDict, state: VAEState, key: jax.Array,
                *, pairs: int, steps: int, method: str = "lerp"):
  """The notes' interpolation between two real images: the encoder means
  mu_a, mu_b of ``pairs`` random pairs of test images, decoded along
  mu_c = (1 - w) mu_a + w mu_b, w = k / (steps - 1) (or the great circle,
  ``method='slerp'``). The hook ``--interpolate`` calls.

  Returns:
    ``(codes, frames)``: ``(steps, pairs, D)`` codes and ``(steps, pairs, H,
    W, C)`` images in [-1, 1]; frame 0 is the decoded mu_a, the last the
    decoded mu_b.
  """
  test = common.held_out_images(config, "test")
  chosen = np.asarray(jax.random.choice(key, len(test), (2, pairs),
                                        replace=len(test) < 2 * pairs))
  mean = encode(state, to_unit(test[chosen.reshape(-1)]))[0].reshape(2, pairs, -1)
  path = {"lerp": interpolation_lib.lerp, "slerp": interpolation_lib.slerp}[method]
  codes = path(mean[0], mean[1], steps)
  frames = decode(state, codes.reshape(steps * pairs, -1))
  return codes, frames.reshape(steps, pairs, *frames.shape[1:])


def draw_interpolation(config: ml_collections.ConfigDict, state, directory: str,
                       *, key: jax.Array) -> str:
  """``interpolation.png`` (a row per pair of test images, a column per
  frame) and ``interpolation.gif``."""
  e = config.eval
  codes, frames = interpolate(config, state, key, pairs=e.interpolations,
                              steps=e.interpolation_steps)
  del codes
  path = os.path.join(directory, "interpolation.png")
  if jax.process_index() == 0:
    from gans_jax.eval import report
    report.write_interpolation(np.asarray(frames), directory, "interpolation")
  return path


def draw_reconstruction(config: ml_collections.ConfigDict, state, directory: str,
                        *, key: jax.Array) -> str:
  """``reconstruction.png``: rows of 10 test images, each above its
  reconstruction from the code."""
  test = to_unit(_test_sample(config, key, 30))
  rows = []
  for i in range(0, len(test), 10):
    rows += [test[i:i + 10], reconstruct(state, test[i:i + 10])]
  path = os.path.join(directory, "reconstruction.png")
  if jax.process_index() == 0:
    image_eval.save_image_grid(path, 2.0 * np.concatenate(rows) - 1.0, nrow=10)
  return path


def draw_denoising(config: ml_collections.ConfigDict, state, directory: str,
                   *, key: jax.Array) -> str:
  """``denoising.png``: for each of ``eval.noise_levels``, a row of test
  images, the row corrupted, and the row reconstructed from the noise."""
  clean = to_unit(_test_sample(config, key, 10))
  rows = []
  for i, std in enumerate(config.eval.noise_levels):
    noisy = corrupt(jax.random.fold_in(key, i), clean, std)
    rows += [clean, noisy, reconstruct(state, noisy)]
  path = os.path.join(directory, "denoising.png")
  if jax.process_index() == 0:
    image_eval.save_image_grid(path, 2.0 * np.concatenate(rows) - 1.0, nrow=10)
  return path


def _test_sample(config, key, num):
  test = common.held_out_images(config, "test", config.eval.num_test)
  return test[np.asarray(jax.random.permutation(key, len(test)))[:num]]


# Figures that `--draw=NAME` draws again from a trained run.
FIGURES = {"interpolation": draw_interpolation,
           "reconstruction": draw_reconstruction,
           "denoising": draw_denoising}


# ------------------------------------------------------------ the run --

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  data = common.image_batches(config)
  hooks = common.sample_grid_hook(config, make_sampler(config, 100), workdir, nrow=10)
  state = gj.train.fit(make_train_step(config), create_state(config), data, config,
                       workdir, hooks=hooks)
  return evaluate(config, state, workdir)


def test_scores(config: ml_collections.ConfigDict, state: VAEState,
                x01: jax.Array, key: jax.Array) -> dict[str, float]:
  """The test split's ELBO and log-likelihood (the IWAE bound with
  ``eval.iwae_samples``), the reconstruction error at the code and the
  denoising PSNRs, all against the clean images ``x01`` in [0, 1]."""
  e, log_px = config.eval, log_likelihood_fn(config)
  key_elbo, key_iwae, key_noise = jax.random.split(key, 3)
  mean, log_var = encode(state, x01)

  @jax.jit
  def expected_log_px_z(state, key, x01, mean, log_var):
    # The ELBO's reconstruction term, averaged over 100 draws of z.
    z = losses.reparameterize(key, mean, log_var, num_samples=100)
    decoder = _networks(state)[1]
    return jax.vmap(lambda zk: log_px(decoder(zk), x01))(z).mean(0)

  elbo = losses.elbo(expected_log_px_z(state, key_elbo, x01, mean, log_var),
                     mean, log_var)
  results = {"eval/elbo": float(elbo.mean()),
             "eval/kl": float(losses.gaussian_kl(mean, log_var).mean())}
  if config.vae.objective == "elbo":
    @jax.jit
    def log_likelihood(state, key, x):
      decoder = _networks(state)[1]
      return likelihood.importance_weighted_log_likelihood(
          key, x, encode=lambda x: encode(state, x),
          log_likelihood=lambda z, x: log_px(decoder(z), x),
          num_samples=e.iwae_samples, chunk_size=e.iwae_chunk)

    values = np.concatenate([
        np.asarray(log_likelihood(state, jax.random.fold_in(key_iwae, i),
                                  x01[i:i + 100]))
        for i in range(0, len(x01), 100)])
    results["eval/log_likelihood"] = float(values.mean())
    results["eval/log_likelihood_stderr"] = float(values.std() / np.sqrt(len(values)))
  reconstruction = reconstruct(state, x01)
  results["eval/reconstruction_mse"] = float(jnp.mean(jnp.square(reconstruction - x01)))
  results["eval/reconstruction_psnr"] = float(
      jnp.mean(fidelity.psnr(reconstruction, x01, data_range=1.0)))
  for i, std in enumerate(e.noise_levels):
    noisy = corrupt(jax.random.fold_in(key_noise, i), x01, std)
    scores = fidelity.denoising_scores(x01, noisy, reconstruct(state, noisy),
                                       data_range=1.0)
    for name, value in scores.items():
      results[f"eval/{name}@{std:g}"] = float(value)
  return results


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """The test scores (:func:`test_scores`), then N(0, I) samples scored as
  the GAN experiment scores its own (Parzen, classifier metrics) plus their
  sharpness, and the figures."""
  e = config.eval
  key = gj.train.make_key(config.train.seed, "eval")
  test = common.held_out_images(config, "test", e.num_test)
  results = test_scores(config, state, to_unit(test), key)
  samples = common.final_samples(config, make_sampler(config, 500), state)
  validation = common.held_out_images(config, e.validation_split, e.num_validation)
  unit = lambda x: np.asarray(to_unit(x))
  window = parzen.parzen_evaluate(unit(samples), unit(validation), unit(test))
  results["eval/parzen_log_likelihood"] = window["log_likelihood_mean"]
  results["eval/parzen_stderr"] = window["log_likelihood_stderr"]
  results["eval/parzen_sigma"] = window["sigma"]
  results["eval/sharpness"] = sharpness.mean_gradient_magnitude(samples)
  results["eval/sharpness_test_images"] = sharpness.mean_gradient_magnitude(test)
  results.update(common.digits_evaluation(config, samples))
  if jax.process_index() == 0:
    image_eval.save_image_grid(os.path.join(workdir, "samples.png"), samples[:100],
                               nrow=10)
  for name, draw in FIGURES.items():
    draw(config, state, workdir, key=gj.train.make_key(config.train.seed, name))
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples[:1000])
  return results
