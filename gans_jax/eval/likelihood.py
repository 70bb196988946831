"""The importance-weighted estimate of a VAE's test log-likelihood.

The standard number for a VAE (and what the IWAE paper reports) is the
bound :math:`\\mathcal{L}_K(x)` of :func:`gans_jax.losses.iwae_bound` with
:math:`K = 5000` samples of the encoder's :math:`q(z \\mid x)`, averaged over
the test set: a lower bound on :math:`\\log p(x)` that is tight as
:math:`K \\to \\infty`. :func:`importance_weighted_log_likelihood` draws the
samples in chunks, so that :math:`K` decoder passes never sit in memory at
once, and combines the chunks with a running log-sum-exp.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gans_jax import losses

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = ["IWAE_NUM_SAMPLES", "importance_weighted_log_likelihood"]

IWAE_NUM_SAMPLES = 5000
"""Samples per example of the IWAE paper's log-likelihood estimate."""


def importance_weighted_log_likelihood(
    key: Array,
    x: ArrayLike,
    *,
    encode: Callable[[Array], tuple[Array, Array]],
    log_likelihood: Callable[[Array, Array], Array],
    num_samples: int = IWAE_NUM_SAMPLES,
    chunk_size: int = 500,
) -> Array:
  r"""Estimates :math:`\log p(x)` of each example by importance sampling.

  .. math::
    \log p(x) \gtrsim \mathcal{L}_K(x) = \log \frac{1}{K} \sum_{k=1}^{K}
      \frac{p(x \mid z_k)\, \mathcal{N}(z_k; 0, I)}{q(z_k \mid x)},
    \qquad z_k \sim q(z \mid x)

  Chunk :math:`c` of ``chunk_size`` samples draws its noise with
  ``jax.random.fold_in(key, c)``, so every sample is a fresh draw; the
  same ``key`` and ``chunk_size`` give the same estimate.

  Args:
    key: a PRNG key for the samples (an evaluation key, not a training one).
    x: a batch of examples ``(B, ...)``.
    encode: ``encode(x) -> (mean, log_var)``, each ``(B, D)``.
    log_likelihood: ``log_likelihood(z, x) -> (B,)``, :math:`\log p(x
      \mid z)` for one latent per example ``z`` ``(B, D)`` (e.g.
      ``bernoulli_log_likelihood(decoder(z), x)``).
    num_samples: :math:`K` (5,000 as in the IWAE paper).
    chunk_size: samples per decoder pass; must divide ``num_samples``.

  Returns:
    ``(B,)`` estimates; average them for the test log-likelihood.

  References:
    Burda, Grosse & Salakhutdinov, Importance Weighted Autoencoders, 2016
    (arXiv 1509.00519), Section 5.
  """
  if chunk_size < 1 or num_samples < 1 or num_samples % chunk_size:
    raise ValueError(f"chunk_size ({chunk_size}) must divide num_samples "
                     f"({num_samples}), both positive")
  x = jnp.asarray(x)
  mean, log_var = encode(x)

  def chunk_log_weights(chunk):
    z = losses.reparameterize(jax.random.fold_in(key, chunk), mean, log_var,
                              num_samples=chunk_size)
    log_px_z = jax.vmap(lambda zk: log_likelihood(zk, x))(z)
    return losses.importance_log_weights(log_px_z, z, mean, log_var)

  def accumulate(running, chunk):
    # running: log of the sum of the weights seen so far, per example.
    log_weights = chunk_log_weights(chunk)
    both = jnp.concatenate([running[None], log_weights], axis=0)
    return jax.scipy.special.logsumexp(both, axis=0), None

  start = jnp.full(mean.shape[:1], -jnp.inf, dtype=jnp.float32)
  log_sum, _ = jax.lax.scan(accumulate, start,
                            jnp.arange(num_samples // chunk_size))
  return log_sum - jnp.log(float(num_samples))
