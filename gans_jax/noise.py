"""Instance noise: Gaussian noise on every input of the discriminator.

Adding :math:`\\epsilon \\sim \\mathcal{N}(0, \\sigma^2 I)` to real and
generated samples alike makes the two distributions overlap (their supports,
lower-dimensional manifolds that are almost surely disjoint, become full
space), so the optimal discriminator stays smooth and the generator's gradient
does not vanish; annealing :math:`\\sigma` to 0 removes the bias the noise
adds to the objective.

This is neither a loss nor a penalty (no term is added to an objective: the
discriminator's inputs are transformed), so it has its own module, a pure
function of the step for the schedule and of a key for the draw. A resumed
run therefore sees the same :math:`\\sigma` and the same noise at every step
as an uninterrupted one, given the step's key ``fold_in(train_key, step)``.
Evaluation (the discriminator's scores on clean data, samples, metrics) uses
no instance noise: pass ``deterministic=True``, or simply do not call it.

References:
  Arjovsky & Bottou, Towards Principled Methods for Training Generative
  Adversarial Networks, 2017 (arXiv 1701.04862); Sønderby et al.,
  Amortised MAP Inference for Image Super-resolution, 2017
  (arXiv 1610.04490) (instance noise annealed linearly).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

INSTANCE_NOISE_SCHEDULES = ("linear", "cosine", "constant")


def instance_noise_std(
    step: ArrayLike,
    *,
    initial: float,
    anneal_steps: int,
    schedule: str = "linear",
) -> Array:
  r"""The instance-noise standard deviation at training step ``step``.

  With :math:`t = \min(\max(s / T, 0), 1)` for step :math:`s` and
  ``anneal_steps`` :math:`T`:

  .. math::
    \sigma_{\mathrm{linear}}(s) = \sigma_0 (1 - t), \qquad
    \sigma_{\mathrm{cosine}}(s) = \sigma_0 \tfrac12 (1 + \cos \pi t),

  both exactly 0 from step :math:`T` on; ``'constant'`` keeps
  :math:`\sigma_0` throughout (no annealing, for ablations). A pure function
  of the step, so a run resumed at any step continues the schedule exactly.

  Args:
    step: the training step, a Python int or an integer array (may be traced
      under ``jax.jit``).
    initial: :math:`\sigma_0 \ge 0`, in the units of the data (e.g. pixels in
      ``[-1, 1]``).
    anneal_steps: :math:`T \ge 1`, the step at which the noise reaches 0.
    schedule: ``'linear'``, ``'cosine'`` or ``'constant'``.

  Returns:
    A float32 scalar.

  References:
    Arjovsky & Bottou, 2017 (arXiv 1701.04862); Sønderby et al.,
    2017 (arXiv 1610.04490).
  """
  if schedule not in INSTANCE_NOISE_SCHEDULES:
    raise ValueError(
        f"schedule must be one of {', '.join(INSTANCE_NOISE_SCHEDULES)}, got "
        f"{schedule!r}")
  if not (isinstance(initial, (int, float)) and initial >= 0):
    raise ValueError(f"initial must be a number >= 0, got {initial!r}")
  if (isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int)
      or anneal_steps < 1):
    raise ValueError(f"anneal_steps must be an int >= 1, got {anneal_steps!r}")
  initial = jnp.float32(initial)
  if schedule == "constant":
    return initial
  t = jnp.clip(jnp.asarray(step, jnp.float32) / anneal_steps, 0.0, 1.0)
  if schedule == "linear":
    fraction = 1.0 - t
  else:
    fraction = 0.5 * (1.0 + jnp.cos(math.pi * t))
  return jnp.where(t >= 1.0, jnp.float32(0.0), initial * fraction)


def add_instance_noise(
    x: ArrayLike,
    key: Array,
    std: ArrayLike,
    *,
    deterministic: bool = False,
) -> Array:
  r"""Adds instance noise to a batch of discriminator inputs.

  .. math::
    \tilde x = x + \sigma \epsilon, \qquad \epsilon \sim \mathcal{N}(0, I)

  drawn independently for every entry of ``x``. Give the real and the fake
  batch different keys (:func:`add_instance_noise_to_pair` does), or call
  once on their concatenation: the same key for both would give a real
  example and a fake the same noise.

  Args:
    x: inputs of any shape.
    key: a PRNG key, used only for this draw.
    std: :math:`\sigma`, a scalar (e.g. :func:`instance_noise_std`).
    deterministic: ``True`` at evaluation: returns ``x`` unchanged.

  Returns:
    The noisy inputs, with the shape and dtype of ``x``; ``x`` itself,
    bit for bit, when ``std`` is 0.

  References:
    Arjovsky & Bottou, 2017 (arXiv 1701.04862).
  """
  x = jnp.asarray(x)
  if deterministic:
    return x
  std = jnp.asarray(std, x.dtype)
  if std.ndim:
    raise ValueError(f"std must be a scalar, got shape {std.shape}")
  noise = jax.random.normal(key, x.shape, x.dtype)
  # A select, not x + 0 * noise, so an annealed run sees its inputs exactly.
  return jnp.where(std == 0, x, x + std * noise)


def add_instance_noise_to_pair(
    real: ArrayLike,
    fake: ArrayLike,
    key: Array,
    std: ArrayLike,
    *,
    deterministic: bool = False,
) -> tuple[Array, Array]:
  r"""Instance noise on a real and a fake batch, drawn independently.

  .. math::
    \tilde x = x + \sigma \epsilon_r, \qquad
    \widetilde{G(z)} = G(z) + \sigma \epsilon_f, \qquad
    \epsilon_r \perp \epsilon_f

  Args:
    real: real inputs of the discriminator.
    fake: generated inputs (any batch size).
    key: a PRNG key, split into one key per batch.
    std: :math:`\sigma`, a scalar.
    deterministic: ``True`` at evaluation: returns both unchanged.

  Returns:
    ``(noisy_real, noisy_fake)``.

  References:
    Arjovsky & Bottou, 2017 (arXiv 1701.04862).
  """
  real_key, fake_key = jax.random.split(key)
  return (add_instance_noise(real, real_key, std, deterministic=deterministic),
          add_instance_noise(fake, fake_key, std, deterministic=deterministic))
