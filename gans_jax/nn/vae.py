"""The variational autoencoder's networks, also a plain autoencoder.

- :class:`GaussianEncoder`: :math:`q(z \\mid x) = \\mathcal{N}(\\mu(x),
  \\mathrm{diag}\\,\\sigma^2(x))`, an MLP on flattened images returning
  ``(mean, log_var)``.
- :class:`VAEDecoder`: :math:`p(x \\mid z)`, an MLP returning Bernoulli
  logits or the mean of a Gaussian, reshaped to images; a generator in the
  common call signature.

The VAE's step composes them with the pure pieces of
:mod:`gans_jax.losses`::

  mean, log_var = encoder(x)
  z = losses.reparameterize(key, mean, log_var)
  bound = losses.elbo(losses.bernoulli_log_likelihood(decoder(z), x),
                      mean, log_var)                      # (B,)
  loss = -jnp.mean(bound)

As a deterministic autoencoder (compression or denoising) the code is the
encoder's mean and ``log_var`` is ignored:
``decoder.images(encoder(x)[0])``. The defaults are the paper's MNIST
networks: one hidden layer of 500 tanh units on each side.

References:
  Kingma & Welling, Auto-Encoding Variational Bayes, 2014 (arXiv 1312.6114),
  Appendix C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.nn.layers import fan_avg_uniform, get_activation

Array = jax.Array

__all__ = ["DECODER_LIKELIHOODS", "GaussianEncoder", "VAEDecoder"]

DECODER_LIKELIHOODS = ("bernoulli", "gaussian")
"""What :class:`VAEDecoder` outputs: Bernoulli logits or a Gaussian mean."""

_glorot_uniform = fan_avg_uniform(1.0)


def _as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
  if isinstance(shape, int):
    return (int(shape),)
  return tuple(int(s) for s in shape)


def _check_unconditional(labels: Array | None, model: str) -> None:
  if labels is not None:
    raise ValueError(f"{model} is unconditional: labels must be None")


class GaussianEncoder(nnx.Module):
  """An MLP mapping images to the mean and log-variance of :math:`q(z \\mid x)`.

  .. math::
    h = \\phi(W_h x + b_h), \\qquad \\mu = W_\\mu h + b_\\mu, \\qquad
    \\log \\sigma^2 = W_\\sigma h + b_\\sigma

  on the flattened input, with hidden activation :math:`\\phi` (several
  hidden layers are applied in turn).

  References:
    Kingma & Welling, 2014 (arXiv 1312.6114), Appendix C.2.
  """

  def __init__(self, input_shape: int | Sequence[int], latent_dim: int, *,
               hidden: Sequence[int] = (500,), activation: str = "tanh",
               dtype: Any = None, rngs: nnx.Rngs):
    """Builds the encoder.

    Args:
      input_shape: shape of one example, e.g. ``(8, 8, 1)`` or ``784``.
      latent_dim: size of z.
      hidden: hidden layer widths (500 in the paper's MNIST model).
      activation: hidden activation name (``'tanh'`` in the paper).
      dtype: computation dtype (``None``: float32); outputs are float32.
      rngs: parameter initialisation keys.
    """
    self.input_shape = _as_shape(input_shape)
    self.latent_dim = latent_dim
    self.activation = get_activation(activation)
    widths = [math.prod(self.input_shape), *hidden]
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
        for i, o in zip(widths[:-1], widths[1:])])
    self.mean = nnx.Linear(widths[-1], latent_dim, kernel_init=_glorot_uniform,
                           dtype=dtype, rngs=rngs)
    self.log_var = nnx.Linear(widths[-1], latent_dim,
                              kernel_init=_glorot_uniform, dtype=dtype,
                              rngs=rngs)

  def __call__(self, x: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None) -> tuple[Array, Array]:
    """Maps images (B, *input_shape) to ``(mean, log_var)``, each (B, D).

    Args:
      x: inputs.
      labels: must be None (the encoder is unconditional).
      rngs: unused (no dropout); accepted for the common call signature.

    Returns:
      The mean and log-variance of :math:`q(z \\mid x)`, float32.
    """
    del rngs
    _check_unconditional(labels, "GaussianEncoder")
    if math.prod(x.shape[1:]) != math.prod(self.input_shape):
      raise ValueError(f"GaussianEncoder expects inputs of shape "
                       f"(B, *{self.input_shape}), got {x.shape}")
    h = x.reshape(x.shape[0], -1)
    for layer in self.hidden:
      h = self.activation(layer(h))
    return (self.mean(h).astype(jnp.float32),
            self.log_var(h).astype(jnp.float32))


class VAEDecoder(nnx.Module):
  """An MLP mapping latents to the parameters of :math:`p(x \\mid z)`.

  .. math::
    h = \\phi(W_h z + b_h), \\qquad \\ell = W_o h + b_o

  reshaped to ``output_shape``. :math:`\\ell` is returned raw: the logits
  of independent Bernoulli pixels (``likelihood='bernoulli'``, data in
  ``[0, 1]``; :func:`gans_jax.losses.bernoulli_log_likelihood`) or the mean
  of a Gaussian (``likelihood='gaussian'``;
  :func:`gans_jax.losses.gaussian_log_likelihood` with a ``log_var`` the
  caller chooses). :meth:`images` gives the expected image,
  :math:`\\sigma(\\ell)` or the mean.

  References:
    Kingma & Welling, 2014 (arXiv 1312.6114), Appendix C.
  """

  def __init__(self, latent_dim: int, output_shape: int | Sequence[int], *,
               hidden: Sequence[int] = (500,), activation: str = "tanh",
               likelihood: str = "bernoulli", dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the decoder.

    Args:
      latent_dim: size of z.
      output_shape: shape of one example, e.g. ``(8, 8, 1)``.
      hidden: hidden layer widths (500 in the paper's MNIST model).
      activation: hidden activation name (``'tanh'`` in the paper).
      likelihood: ``'bernoulli'`` or ``'gaussian'`` (see
        ``DECODER_LIKELIHOODS``).
      dtype: computation dtype (``None``: float32); outputs are float32.
      rngs: parameter initialisation keys.
    """
    if likelihood not in DECODER_LIKELIHOODS:
      raise ValueError(f"likelihood must be one of {DECODER_LIKELIHOODS}, "
                       f"got {likelihood!r}")
    self.latent_dim = latent_dim
    self.output_shape = _as_shape(output_shape)
    self.likelihood = likelihood
    self.activation = get_activation(activation)
    widths = [latent_dim, *hidden]
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
        for i, o in zip(widths[:-1], widths[1:])])
    self.output = nnx.Linear(widths[-1], math.prod(self.output_shape),
                             kernel_init=_glorot_uniform, dtype=dtype,
                             rngs=rngs)

  def __call__(self, z: Array, labels: Array | None = None, *,
               rngs: Array | nnx.Rngs | None = None,
               images: bool = False) -> Array:
    """Maps z (B, latent_dim) to Bernoulli logits or Gaussian means.

    Args:
      z: latent codes.
      labels: must be None (the decoder is unconditional).
      rngs: unused (no dropout); accepted for the common call signature.
      images: return :meth:`images` mapped from ``[0, 1]`` to ``[-1, 1]``
        (clipped), the range of the other generators' tanh outputs, instead
        of the raw logits or means: how a trained VAE is sampled and
        exported (a generator spec's ``call``).

    Returns:
      (B, *output_shape) float32: logits or means, by ``likelihood``; or
      images in ``[-1, 1]``.
    """
    del rngs
    _check_unconditional(labels, "VAEDecoder")
    h = z
    for layer in self.hidden:
      h = self.activation(layer(h))
    out = self.output(h).astype(jnp.float32)
    out = out.reshape(z.shape[0], *self.output_shape)
    if images:
      expected = (jax.nn.sigmoid(out) if self.likelihood == "bernoulli"
                  else out)
      return jnp.clip(2.0 * expected - 1.0, -1.0, 1.0)
    return out

  def images(self, z: Array) -> Array:
    """The expected image under :math:`p(x \\mid z)`: ``sigmoid(logits)`` for
    Bernoulli pixels (in ``[0, 1]``), the mean for a Gaussian."""
    out = self(z)
    return jax.nn.sigmoid(out) if self.likelihood == "bernoulli" else out
