"""f-GAN's Section 4 sampler: a Gaussian written as a generator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class GaussianSampler(nnx.Module):
  """:math:`G_\\theta(z) = \\mu + \\sigma z`, z ~ N(0, 1), so that
  :math:`Q_\\theta = N(\\mu, \\sigma^2)` with :math:`\\theta = (\\mu, \\sigma)`
  (the sign of sigma is immaterial).

  Args:
    mean: mu at the start.
    std: sigma at the start.
    rngs: unused (the start is given); accepted as every model's constructor.

  References:
    Nowozin, Cseke & Tomioka, f-GAN: Training Generative Neural Samplers using
    Variational Divergence Minimization, 2016 (arXiv 1606.00709), Section 4.
  """

  def __init__(self, *, mean: float, std: float, rngs: nnx.Rngs | None = None):
    del rngs
    self.mean = nnx.Param(jnp.asarray(mean, jnp.float32))
    self.std = nnx.Param(jnp.asarray(std, jnp.float32))

  def __call__(self, z: jax.Array, labels=None, *, rngs=None) -> jax.Array:
    del labels, rngs
    return self.mean[...] + self.std[...] * z
