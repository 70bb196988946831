"""Gaussian Parzen-window log-likelihood, the evaluation of the original GAN.

Goodfellow et al. (2014) report, in their Table 1, the log-likelihood of the
test set under an isotropic Gaussian kernel density estimate (a Parzen window)
centred on samples from the generator. The official protocol (the
``parzen_ll.py`` script of the paper's code) is:

1. draw 10,000 samples from the generator and flatten them;
2. choose the bandwidth :math:`\\sigma` among the ten values
   ``numpy.logspace(-1, 0, 10)`` by the mean log-likelihood of a validation set
   (for MNIST the first 1,000 images of ``train[50000:60000]``);
3. report the mean log-likelihood of the test examples and its standard error
   (the population standard deviation over :math:`\\sqrt{n}`).

**Data scale.** The density is over the raw pixel vector, so its value
depends on the pixel scale: the paper's MNIST figure (225 ± 2 nats) is for
pixels in ``[0, 1]``. Pass samples, validation and test data all in
``[0, 1]`` (for this library's ``[-1, 1]`` images: ``(x + 1) / 2``) to compare
with the paper; rescaling by a factor ``a`` shifts every log-likelihood by
``-d log a`` for ``d`` dimensions.

The estimate is known to be a poor one in high dimension (Theis et al.,
"A note on the evaluation of generative models", arXiv 1511.01844); it is
provided to reproduce the paper's table, not as a recommended metric.
"""

from collections.abc import Sequence
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_SIGMAS = np.logspace(-1.0, 0.0, 10)


def _flatten(x, name: str) -> np.ndarray:
  x = np.asarray(x, dtype=np.float32)
  if x.ndim < 1 or x.shape[0] == 0:
    raise ValueError(
        f"{name} must be a non-empty array of examples, got shape {x.shape}.")
  x = x.reshape(x.shape[0], -1)
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains non-finite values.")
  return x


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
  pad = (-x.shape[0]) % multiple
  return np.pad(x, ((0, pad), (0, 0))) if pad else x


@functools.partial(jax.jit, static_argnames=("sample_batch_size",))
def _log_likelihood_chunks(data_chunks, samples, num_samples, sigma,
                           *, sample_batch_size):
  """Per-example KDE log-density; data_chunks is [C, B, D], samples [M, D]."""
  dim = samples.shape[1]
  sample_chunks = samples.reshape(-1, sample_batch_size, dim)
  index = jnp.arange(samples.shape[0]).reshape(-1, sample_batch_size)
  # Centring both sets on the sample mean keeps the norms small, so the
  # expansion |x - m|^2 = |x|^2 + |m|^2 - 2 x.m loses little to cancellation.
  centre = jnp.sum(samples, axis=0) / num_samples
  inv_two_var = 0.5 / jnp.square(sigma)

  def one_data_chunk(x):
    x = x - centre
    x_sq = jnp.sum(jnp.square(x), axis=1)

    def add_sample_chunk(acc, chunk):
      mu, idx = chunk
      mu = mu - centre
      cross = jnp.matmul(x, mu.T, precision=jax.lax.Precision.HIGHEST)
      sq_dist = x_sq[:, None] + jnp.sum(jnp.square(mu), axis=1)[None] - 2 * cross
      log_kernel = -jnp.maximum(sq_dist, 0.0) * inv_two_var
      # Padding rows of the sample set contribute exp(-inf) = 0.
      log_kernel = jnp.where(idx[None] < num_samples, log_kernel, -jnp.inf)
      return jnp.logaddexp(acc, jax.nn.logsumexp(log_kernel, axis=1)), None

    init = jnp.full((x.shape[0],), -jnp.inf, dtype=x.dtype)
    log_sum, _ = jax.lax.scan(add_sample_chunk, init, (sample_chunks, index))
    return log_sum

  log_sum = jax.lax.map(one_data_chunk, data_chunks)
  log_norm = jnp.log(num_samples) + dim * jnp.log(sigma * math.sqrt(2 * math.pi))
  return log_sum.reshape(-1) - log_norm


def parzen_log_likelihood(samples, data, *, sigma: float,
                          batch_size: int = 100,
                          sample_batch_size: int = 1000) -> jax.Array:
  """Log-density of each data row under a Gaussian Parzen window on samples.

  .. math::
    \\log p(x) = \\log \\frac{1}{M} \\sum_{j=1}^{M}
      \\exp\\Big(-\\frac{\\lVert x - \\mu_j \\rVert^2}{2\\sigma^2}\\Big)
      - d \\log\\big(\\sigma \\sqrt{2\\pi}\\big)

  for :math:`M` samples :math:`\\mu_j` in :math:`d` dimensions. Computed in
  float32 with a running log-sum-exp, ``batch_size`` data rows times
  ``sample_batch_size`` samples at a time, so 10,000 samples against 1,000
  MNIST images needs a few megabytes.

  Args:
    samples: generated examples, ``[M, ...]``, flattened to ``[M, d]``.
    data: examples to evaluate, ``[n, ...]`` with the same ``d`` once
      flattened; same pixel scale as ``samples`` (``[0, 1]`` for the paper).
    sigma: kernel bandwidth, in pixel units.
    batch_size: data rows per chunk.
    sample_batch_size: samples per chunk.

  Returns:
    ``[n]`` log-likelihoods in nats.

  References:
    Goodfellow et al., "Generative Adversarial Networks", arXiv 1406.2661
    (Section 5, Table 1); Parzen, "On Estimation of a Probability Density
    Function and Mode", 1962.
  """
  samples = _flatten(samples, "samples")
  data = _flatten(data, "data")
  if samples.shape[1] != data.shape[1]:
    raise ValueError(
        f"samples have {samples.shape[1]} dimensions per example but data "
        f"have {data.shape[1]}.")
  if not sigma > 0:
    raise ValueError(f"sigma must be positive, got {sigma}.")
  if batch_size < 1 or sample_batch_size < 1:
    raise ValueError(
        f"batch sizes must be positive, got batch_size={batch_size}, "
        f"sample_batch_size={sample_batch_size}.")
  n, dim = data.shape
  batch_size = min(batch_size, n)
  sample_batch_size = min(sample_batch_size, samples.shape[0])
  data_chunks = _pad_rows(data, batch_size).reshape(-1, batch_size, dim)
  log_p = _log_likelihood_chunks(
      jnp.asarray(data_chunks), jnp.asarray(_pad_rows(samples, sample_batch_size)),
      jnp.float32(samples.shape[0]), jnp.float32(sigma),
      sample_batch_size=sample_batch_size)
  return log_p[:n]


def select_sigma(samples, validation, *,
                 sigmas: Sequence[float] = DEFAULT_SIGMAS,
                 batch_size: int = 100,
                 sample_batch_size: int = 1000) -> float:
  """The bandwidth with the highest mean validation log-likelihood.

  .. math::
    \\hat\\sigma = \\arg\\max_{\\sigma \\in S} \\frac{1}{n} \\sum_{i=1}^{n}
      \\log p_\\sigma(x_i^{\\text{valid}})

  Args:
    samples: generated examples, ``[M, ...]``.
    validation: held-out examples, ``[n, ...]``, same scale as ``samples``.
    sigmas: the candidate bandwidths; the paper's grid is
      ``numpy.logspace(-1, 0, 10)`` (for pixels in ``[0, 1]``).
    batch_size: data rows per chunk.
    sample_batch_size: samples per chunk.

  Returns:
    The chosen :math:`\\sigma` (ties go to the first in ``sigmas``).

  References:
    Goodfellow et al., "Generative Adversarial Networks", arXiv 1406.2661.
  """
  sigmas = [float(s) for s in np.ravel(np.asarray(sigmas, dtype=np.float64))]
  if not sigmas:
    raise ValueError("sigmas must contain at least one bandwidth.")
  scores = [
      float(jnp.mean(parzen_log_likelihood(
          samples, validation, sigma=s, batch_size=batch_size,
          sample_batch_size=sample_batch_size)))
      for s in sigmas
  ]
  return sigmas[int(np.argmax(scores))]


def parzen_evaluate(samples, validation, test, *,
                    sigmas: Sequence[float] = DEFAULT_SIGMAS,
                    batch_size: int = 100,
                    sample_batch_size: int = 1000) -> dict[str, float]:
  """The paper's protocol: choose sigma on validation, report on test.

  .. math::
    \\bar\\ell = \\frac{1}{n} \\sum_{i=1}^{n} \\log p_{\\hat\\sigma}(x_i),
    \\qquad \\mathrm{se} = \\frac{\\operatorname{std}_i \\log p_{\\hat\\sigma}(x_i)}
      {\\sqrt{n}}

  with the population standard deviation, as in the official script.

  Args:
    samples: generated examples, ``[M, ...]`` (10,000 in the paper).
    validation: held-out examples for choosing sigma (1,000 in the paper).
    test: test examples, ``[n, ...]``. All three in the same pixel scale,
      ``[0, 1]`` to compare with the paper's numbers.
    sigmas: candidate bandwidths.
    batch_size: data rows per chunk.
    sample_batch_size: samples per chunk.

  Returns:
    ``{'log_likelihood_mean', 'log_likelihood_stderr', 'sigma'}`` as floats.

  References:
    Goodfellow et al., "Generative Adversarial Networks", arXiv 1406.2661
    (Table 1).
  """
  sigma = select_sigma(samples, validation, sigmas=sigmas, batch_size=batch_size,
                       sample_batch_size=sample_batch_size)
  log_p = np.asarray(parzen_log_likelihood(
      samples, test, sigma=sigma, batch_size=batch_size,
      sample_batch_size=sample_batch_size), dtype=np.float64)
  return {
      "log_likelihood_mean": float(log_p.mean()),
      "log_likelihood_stderr": float(log_p.std() / math.sqrt(log_p.shape[0])),
      "sigma": sigma,
  }
