"""The VAE's pure pieces (ELBO, IWAE), its networks, the IWAE log-likelihood
estimate, PSNR and latent interpolation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.scipy.stats import norm
from jax.test_util import check_grads

from gans_jax import losses
from gans_jax.eval import fidelity, interpolation, likelihood
from gans_jax.nn import vae


# ------------------------------------------------------------- the ELBO --

def test_gaussian_kl_matches_a_hand_computed_value_per_example():
  mean = jnp.array([[1.0, 2.0], [0.0, 0.0]])
  log_var = jnp.array([[0.0, math.log(4.0)], [0.0, 0.0]])
  kl = losses.gaussian_kl(mean, log_var)
  # 0.5 * [(1 + 1 - 1 - 0) + (4 + 4 - 1 - log 4)] for the first example; the
  # standard normal itself has KL 0. One value per example, not a batch sum.
  assert kl.shape == (2,)
  np.testing.assert_allclose(kl, [0.5 * (8.0 - math.log(4.0)), 0.0], rtol=1e-6)


def test_gaussian_kl_is_the_expected_log_ratio_of_posterior_to_prior():
  mean = jnp.array([[0.5, -1.0, 0.3]])
  log_var = jnp.array([[-0.5, 0.4, 0.0]])
  z = losses.reparameterize(jax.random.key(0), mean, log_var,
                            num_samples=20000)[:, 0]
  log_q = losses.gaussian_log_likelihood(jnp.broadcast_to(mean, z.shape), z,
                                         log_var=jnp.broadcast_to(log_var, z.shape))
  log_p = losses.gaussian_log_likelihood(0.0, z, log_var=0.0)
  np.testing.assert_allclose(jnp.mean(log_q - log_p),
                             losses.gaussian_kl(mean, log_var)[0], atol=0.02)


def test_bernoulli_log_likelihood_matches_hand_values_and_stays_finite():
  logits = jnp.array([[2.0, -1.0, 0.0, 0.0]])
  x = jnp.array([[1.0, 0.0, 1.0, 0.0]])
  expected = (math.log(1 / (1 + math.exp(-2.0))) + math.log(1 / (1 + math.exp(-1.0)))
              + 2 * math.log(0.5))
  np.testing.assert_allclose(losses.bernoulli_log_likelihood(logits, x),
                             [expected], rtol=1e-6)
  extreme = losses.bernoulli_log_likelihood(jnp.array([[200.0, -200.0]]),
                                            jnp.array([[0.0, 1.0]]))
  np.testing.assert_allclose(extreme, [-400.0], rtol=1e-6)


def test_gaussian_log_likelihood_sums_the_normal_log_density_per_example():
  key_m, key_x, key_v = jax.random.split(jax.random.key(1), 3)
  mean = jax.random.normal(key_m, (3, 2, 2))
  x = jax.random.normal(key_x, (3, 2, 2))
  log_var = jax.random.normal(key_v, (3, 2, 2))
  expected = jnp.sum(norm.logpdf(x, mean, jnp.exp(0.5 * log_var)), axis=(1, 2))
  np.testing.assert_allclose(
      losses.gaussian_log_likelihood(mean, x, log_var=log_var), expected,
      rtol=1e-5)
  shared = losses.gaussian_log_likelihood(mean, x, log_var=math.log(0.25))
  np.testing.assert_allclose(
      shared, jnp.sum(norm.logpdf(x, mean, 0.5), axis=(1, 2)), rtol=1e-5)


def test_elbo_is_reconstruction_minus_kl_per_example():
  log_px_z = jnp.array([-3.0, -5.0])
  mean = jnp.array([[1.0, 0.0], [0.0, 0.0]])
  log_var = jnp.zeros((2, 2))
  np.testing.assert_allclose(losses.elbo(log_px_z, mean, log_var),
                             [-3.5, -5.0], rtol=1e-6)


def test_the_losses_have_correct_gradients_under_jit():
  key = jax.random.key(2)
  mean, log_var, logits, x = jax.random.normal(key, (4, 3, 5))
  bits = (x > 0).astype(jnp.float32)
  check_grads(jax.jit(losses.gaussian_kl), (mean, log_var), order=1,
              modes=["rev"])
  check_grads(jax.jit(lambda l: losses.bernoulli_log_likelihood(l, bits)),
              (logits,), order=1, modes=["rev"])
  check_grads(jax.jit(lambda m, v: losses.gaussian_log_likelihood(m, x, log_var=v)),
              (mean, log_var), order=1, modes=["rev"])
  check_grads(jax.jit(losses.iwae_bound), (logits,), order=1, modes=["rev"])


# ------------------------------------------------------------- the IWAE --

def test_iwae_bound_is_logmeanexp_over_the_sample_axis():
  log_weights = jnp.log(jnp.array([[1.0, 2.0], [3.0, 6.0]]))   # (K=2, B=2)
  np.testing.assert_allclose(losses.iwae_bound(log_weights),
                             [math.log(2.0), math.log(4.0)], rtol=1e-6)
  np.testing.assert_allclose(losses.iwae_bound(log_weights.T, axis=1),
                             [math.log(2.0), math.log(4.0)], rtol=1e-6)


def test_iwae_with_one_sample_is_the_single_sample_elbo():
  mean = jnp.array([[0.3, -0.2]])
  log_var = jnp.array([[-1.0, 0.5]])
  z = losses.reparameterize(jax.random.key(3), mean, log_var, num_samples=1)
  log_px_z = jnp.array([[-2.5]])
  log_w = losses.importance_log_weights(log_px_z, z, mean, log_var)
  expected = (-2.5 + jnp.sum(norm.logpdf(z[0, 0]))
              - jnp.sum(norm.logpdf(z[0, 0], mean[0], jnp.exp(0.5 * log_var[0]))))
  np.testing.assert_allclose(losses.iwae_bound(log_w), [expected], rtol=1e-5)


def _linear_gaussian_model(noise_std=0.5):
  """p(z) = N(0, I), p(x | z) = N(z, s^2 I): log p(x) = log N(x; 0, 1 + s^2)."""
  log_var = 2 * math.log(noise_std)

  def log_likelihood(z, x):
    return losses.gaussian_log_likelihood(z, x, log_var=log_var)

  def log_evidence(x):
    return jnp.sum(norm.logpdf(x, 0.0, math.sqrt(1 + noise_std ** 2)), axis=-1)

  def encode(x):
    # A deliberately poor q(z | x): the exact posterior mean is x / (1 + s^2)
    # and its variance s^2 / (1 + s^2) = 0.2.
    return 0.5 * x, jnp.zeros_like(x)

  return log_likelihood, log_evidence, encode


@pytest.mark.slow
def test_iwae_bound_grows_with_k_towards_the_log_likelihood():
  log_likelihood, log_evidence, encode = _linear_gaussian_model()
  x = jax.random.normal(jax.random.key(4), (200, 2)) * math.sqrt(1.25)
  mean, log_var = encode(x)
  z = losses.reparameterize(jax.random.key(5), mean, log_var, num_samples=64)
  log_px_z = jax.vmap(lambda zk: log_likelihood(zk, x))(z)
  log_w = losses.importance_log_weights(log_px_z, z, mean, log_var)
  elbo = jnp.mean(losses.elbo(log_likelihood(z[0], x), mean, log_var))
  bounds = [jnp.mean(losses.iwae_bound(log_w[:k])) for k in (1, 8, 64)]
  truth = jnp.mean(log_evidence(x))
  assert bounds[0] < bounds[1] < bounds[2] < truth
  assert truth - elbo > 0.3  # the poor encoder leaves a real gap to close
  assert truth - bounds[2] < 0.25 * (truth - elbo)


def test_importance_weighted_log_likelihood_draws_fresh_samples_per_chunk():
  log_likelihood, log_evidence, encode = _linear_gaussian_model()
  x = jax.random.normal(jax.random.key(6), (100, 2)) * math.sqrt(1.25)
  truth = jnp.mean(log_evidence(x))
  # With chunks of one sample, a key that did not advance would repeat one
  # draw 256 times, and the estimate would be this single-sample bound.
  single = jnp.mean(likelihood.importance_weighted_log_likelihood(
      jax.random.key(7), x, encode=encode, log_likelihood=log_likelihood,
      num_samples=1, chunk_size=1))
  estimate = likelihood.importance_weighted_log_likelihood(
      jax.random.key(7), x, encode=encode, log_likelihood=log_likelihood,
      num_samples=256, chunk_size=1)
  assert estimate.shape == (100,)
  assert abs(jnp.mean(estimate) - truth) < 0.03, (jnp.mean(estimate), truth)
  assert truth - single > 0.3
  chunked = likelihood.importance_weighted_log_likelihood(
      jax.random.key(7), x, encode=encode, log_likelihood=log_likelihood,
      num_samples=256, chunk_size=64)
  assert abs(jnp.mean(chunked) - truth) < 0.03
  with pytest.raises(ValueError, match="divide"):
    likelihood.importance_weighted_log_likelihood(
        jax.random.key(7), x, encode=encode, log_likelihood=log_likelihood,
        num_samples=100, chunk_size=64)


# --------------------------------------------------- reparametrisation --

def test_reparameterize_draws_with_the_key_and_independently_per_entry():
  mean = jnp.full((4, 3), 2.0)
  log_var = jnp.full((4, 3), math.log(9.0))
  z = losses.reparameterize(jax.random.key(0), mean, log_var)
  np.testing.assert_array_equal(
      z, losses.reparameterize(jax.random.key(0), mean, log_var))
  assert not np.allclose(z, losses.reparameterize(jax.random.key(1), mean, log_var))
  # Every example and dimension has its own noise.
  assert len(np.unique(np.asarray(z))) == z.size
  samples = losses.reparameterize(jax.random.key(2), mean[:1], log_var[:1],
                                  num_samples=20000)
  assert samples.shape == (20000, 1, 3)
  np.testing.assert_allclose(jnp.mean(samples, axis=0), mean[:1], atol=0.1)
  np.testing.assert_allclose(jnp.std(samples, axis=0), 3.0, rtol=0.03)


def test_reparameterize_passes_gradients_to_mean_and_log_var():
  key = jax.random.key(3)
  mean = jnp.array([[0.5, -1.0]])
  log_var = jnp.array([[0.2, -0.4]])
  epsilon = (losses.reparameterize(key, mean, log_var) - mean) / jnp.exp(0.5 * log_var)
  d_mean, d_log_var = jax.grad(
      lambda m, v: jnp.sum(losses.reparameterize(key, m, v)), argnums=(0, 1))(
          mean, log_var)
  np.testing.assert_allclose(d_mean, jnp.ones_like(mean))
  np.testing.assert_allclose(d_log_var, 0.5 * jnp.exp(0.5 * log_var) * epsilon,
                             rtol=1e-5)


# ------------------------------------------------------------ networks --

def test_vae_networks_map_images_to_codes_and_back():
  encoder = vae.GaussianEncoder((8, 8, 1), 3, hidden=(16,), rngs=nnx.Rngs(0))
  decoder = vae.VAEDecoder(3, (8, 8, 1), hidden=(16,), rngs=nnx.Rngs(1))
  x = jax.random.uniform(jax.random.key(0), (5, 8, 8, 1))
  mean, log_var = encoder(x)
  assert mean.shape == log_var.shape == (5, 3)
  logits = decoder(mean)
  assert logits.shape == (5, 8, 8, 1)
  np.testing.assert_allclose(decoder.images(mean), jax.nn.sigmoid(logits))
  gaussian = vae.VAEDecoder(3, 64, likelihood="gaussian", rngs=nnx.Rngs(1))
  np.testing.assert_array_equal(gaussian.images(mean), gaussian(mean))
  with pytest.raises(ValueError, match="unconditional"):
    encoder(x, jnp.zeros((5,), jnp.int32))
  with pytest.raises(ValueError, match="likelihood"):
    vae.VAEDecoder(3, 64, likelihood="poisson", rngs=nnx.Rngs(1))


@pytest.mark.slow
def test_a_vae_step_written_from_the_pieces_raises_the_elbo():
  x = (jax.random.uniform(jax.random.key(1), (64, 16)) > 0.7).astype(jnp.float32)
  x = x.at[:32, :8].set(1.0)  # two kinds of example
  encoder = vae.GaussianEncoder(16, 2, hidden=(32,), rngs=nnx.Rngs(0))
  decoder = vae.VAEDecoder(2, 16, hidden=(32,), rngs=nnx.Rngs(1))
  graphdef, params = nnx.split((encoder, decoder))
  tx = optax.adam(1e-2)

  def negative_elbo(params, key):
    encoder, decoder = nnx.merge(graphdef, params)
    mean, log_var = encoder(x)
    z = losses.reparameterize(key, mean, log_var)
    return -jnp.mean(losses.elbo(
        losses.bernoulli_log_likelihood(decoder(z), x), mean, log_var))

  @jax.jit
  def step(params, opt_state, key):
    loss, grads = jax.value_and_grad(negative_elbo)(params, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  opt_state = tx.init(params)
  first = negative_elbo(params, jax.random.key(99))
  for i in range(100):
    params, opt_state, _ = step(params, opt_state,
                                jax.random.fold_in(jax.random.key(2), i))
  assert negative_elbo(params, jax.random.key(99)) < first - 1.0


# ---------------------------------------------------------------- PSNR --

def test_psnr_matches_hand_values_on_the_documented_range():
  clean = jnp.zeros((2, 4, 4, 1))
  x = clean.at[0].set(0.1).at[1].set(0.01)
  np.testing.assert_allclose(fidelity.psnr(x, clean, data_range=1.0),
                             [20.0, 40.0], rtol=1e-5)
  np.testing.assert_allclose(fidelity.psnr(x, clean, data_range=2.0),
                             [20.0 + 20 * math.log10(2.0), 40.0 + 20 * math.log10(2.0)],
                             rtol=1e-5)
  assert np.isposinf(fidelity.psnr(clean, clean, data_range=1.0)).all()


def test_denoising_scores_compare_both_images_with_the_clean_ones():
  clean = jax.random.uniform(jax.random.key(0), (3, 8, 8, 1))
  noisy = clean + 0.1 * jax.random.normal(jax.random.key(1), clean.shape)
  # An autoencoder that returns its noisy input has gained nothing; scored
  # against that input instead of the clean image it would look perfect.
  same = fidelity.denoising_scores(clean, noisy, noisy, data_range=1.0)
  np.testing.assert_allclose(same["psnr_denoised"], same["psnr_noisy"])
  assert np.isfinite(same["psnr_denoised"]) and same["psnr_gain"] == 0
  better = fidelity.denoising_scores(
      clean, noisy, clean + 0.5 * (noisy - clean), data_range=1.0)
  np.testing.assert_allclose(better["psnr_gain"], 20 * math.log10(2.0), rtol=1e-4)


# ------------------------------------------------------- interpolation --

def test_interpolations_start_and_end_exactly_on_the_endpoints():
  a, b = jax.random.normal(jax.random.key(0), (2, 3, 7))
  for path in (interpolation.lerp, interpolation.slerp):
    frames = path(a, b, 6)
    assert frames.shape == (6, 3, 7)
    np.testing.assert_array_equal(frames[0], a)
    np.testing.assert_array_equal(frames[-1], b)
  with pytest.raises(ValueError, match="num >= 2"):
    interpolation.lerp(a, b, 1)


def test_lerp_frames_are_the_weighted_means_of_the_encoder_means():
  mu_a = jnp.array([0.0, 2.0])
  mu_b = jnp.array([4.0, -2.0])
  frames = interpolation.lerp(mu_a, mu_b, 5)   # w = k / 4
  np.testing.assert_allclose(frames[1], 0.75 * mu_a + 0.25 * mu_b)
  np.testing.assert_allclose(frames[2], [2.0, 0.0])


def test_slerp_stays_on_the_sphere_between_equal_norm_endpoints():
  a, b = jax.random.normal(jax.random.key(1), (2, 5, 16))
  a = 3.0 * a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b = 3.0 * b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  frames = interpolation.slerp(a, b, 9)
  np.testing.assert_allclose(jnp.linalg.norm(frames, axis=-1), 3.0, rtol=1e-5)
  # Halfway along the arc between orthogonal unit vectors.
  half = interpolation.slerp(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), 3)[1]
  np.testing.assert_allclose(half, [math.sqrt(0.5), math.sqrt(0.5)], rtol=1e-6)
  parallel = interpolation.slerp(jnp.array([1.0, 1.0]), jnp.array([2.0, 2.0]), 3)
  np.testing.assert_allclose(parallel[1], [1.5, 1.5], rtol=1e-6)


def test_save_gif_writes_one_frame_per_image(tmp_path):
  from PIL import Image
  frames = np.linspace(-1.0, 1.0, 4)[:, None, None, None] * np.ones((4, 6, 5, 1))
  path = interpolation.save_gif(frames, str(tmp_path / "walk.gif"))
  with Image.open(path) as gif:
    assert gif.n_frames == 4 and gif.size == (5, 6)
    gif.seek(3)
    assert np.asarray(gif.convert("L")).min() == 255
