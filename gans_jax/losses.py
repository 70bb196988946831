"""Adversarial losses for discriminators, critics and generators.

Every loss is a pure function of the discriminator's outputs that returns one
value per element; the caller reduces (usually with ``jnp.mean``). Outputs are
raw logits or scores, never probabilities: the log-probabilities are formed
with ``jax.nn.softplus`` and ``jax.nn.log_sigmoid`` so that a logit of +-100 or
more gives the correct finite limit instead of ``log(0)``.

Shape convention for the discriminator losses, which see a real and a fake
batch: ``real_*`` and ``fake_*`` must have the same shape, and the result has
that shape too, element ``i`` being the real term of example ``i`` plus the fake
term of example ``i``. Its mean is the usual loss
``mean(real term) + mean(fake term)``. For real and fake batches of different
sizes, add the means of the two terms instead; each term is one of the
generator losses below applied to the right logits (documented per function).
Outputs of shape ``(B,)``, ``(B, 1)`` or a PatchGAN's ``(B, H, W, 1)`` are all
treated element-wise.
"""

from __future__ import annotations

import types
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _check_same_shape(real: Array, fake: Array, loss_name: str) -> None:
  # Broadcasting (B, 1) against (B,) would silently build a (B, B) matrix.
  if real.shape != fake.shape:
    raise ValueError(
        f"{loss_name}: real and fake outputs must have the same shape to be"
        f" paired element-wise, got {real.shape} and {fake.shape}; for batches"
        " of different sizes reduce the real and fake terms separately."
    )


def discriminator_minimax_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    label_smoothing: float = 0.0,
) -> Array:
  r"""Discriminator loss of the minimax GAN, the negated value function.

  With :math:`D = \sigma(\ell)` and the real label smoothed to
  :math:`1 - s` (one-sided label smoothing; :math:`s = 0` is the paper):

  .. math::
    L_D = -(1 - s) \log D(x) - s \log(1 - D(x)) - \log(1 - D(G(z)))
        = (1 - s)\,\mathrm{softplus}(-\ell_r) + s\,\mathrm{softplus}(\ell_r)
          + \mathrm{softplus}(\ell_f).

  The real term alone is ``generator_nonsaturating_loss(real_logits)`` and the
  fake term alone is ``-generator_minimax_loss(fake_logits)``.

  Args:
    real_logits: discriminator logits on real data.
    fake_logits: discriminator logits on generated data, same shape.
    label_smoothing: ``s`` in ``[0, 1)``, moving the real target from 1 to
      ``1 - s``; fake targets stay at 0.

  Returns:
    Per-pair losses with the shape of the inputs.

  References:
    Goodfellow et al., Generative Adversarial Nets, 2014 (arXiv 1406.2661);
    one-sided label smoothing from Salimans et al., Improved Techniques for
    Training GANs, 2016 (arXiv 1606.03498).
  """
  real_logits = jnp.asarray(real_logits)
  fake_logits = jnp.asarray(fake_logits)
  _check_same_shape(real_logits, fake_logits, "discriminator_minimax_loss")
  if isinstance(label_smoothing, (int, float)) and not 0 <= label_smoothing < 1:
    raise ValueError(
        f"label_smoothing must lie in [0, 1), got {label_smoothing}.")
  real_term = ((1.0 - label_smoothing) * jax.nn.softplus(-real_logits)
               + label_smoothing * jax.nn.softplus(real_logits))
  return real_term + jax.nn.softplus(fake_logits)


def generator_minimax_loss(fake_logits: ArrayLike) -> Array:
  r"""Saturating generator loss of the minimax GAN, to be minimised.

  .. math::
    L_G = \log(1 - D(G(z))) = -\mathrm{softplus}(\ell_f).

  Its gradient vanishes when the discriminator confidently rejects the fakes,
  which is why the non-saturating loss is used in practice.

  Args:
    fake_logits: discriminator logits on generated data.

  Returns:
    Per-example losses with the shape of ``fake_logits`` (always <= 0).

  References:
    Goodfellow et al., Generative Adversarial Nets, 2014 (arXiv 1406.2661).
  """
  return -jax.nn.softplus(jnp.asarray(fake_logits))


def generator_nonsaturating_loss(fake_logits: ArrayLike) -> Array:
  r"""Non-saturating generator loss, the practical choice of the GAN paper.

  .. math::
    L_G = -\log D(G(z)) = \mathrm{softplus}(-\ell_f).

  Args:
    fake_logits: discriminator logits on generated data.

  Returns:
    Per-example losses with the shape of ``fake_logits`` (always >= 0).

  References:
    Goodfellow et al., Generative Adversarial Nets, 2014 (arXiv 1406.2661),
    Section 3.
  """
  return jax.nn.softplus(-jnp.asarray(fake_logits))


def discriminator_least_squares_loss(
    real_outputs: ArrayLike,
    fake_outputs: ArrayLike,
    *,
    a: float = 0.0,
    b: float = 1.0,
) -> Array:
  r"""Least-squares GAN discriminator loss (LSGAN, equation 2).

  .. math::
    L_D = \tfrac12 (D(x) - b)^2 + \tfrac12 (D(G(z)) - a)^2

  where :math:`D` is the raw (linear) discriminator output.

  Args:
    real_outputs: discriminator outputs on real data.
    fake_outputs: discriminator outputs on generated data, same shape.
    a: target for fake data.
    b: target for real data.

  Returns:
    Per-pair losses with the shape of the inputs.

  References:
    Mao et al., Least Squares Generative Adversarial Networks, 2017
    (arXiv 1611.04076).
  """
  real_outputs = jnp.asarray(real_outputs)
  fake_outputs = jnp.asarray(fake_outputs)
  _check_same_shape(real_outputs, fake_outputs,
                    "discriminator_least_squares_loss")
  return 0.5 * jnp.square(real_outputs - b) + 0.5 * jnp.square(fake_outputs - a)


def generator_least_squares_loss(
    fake_outputs: ArrayLike,
    *,
    c: float = 1.0,
) -> Array:
  r"""Least-squares GAN generator loss (LSGAN, equation 2).

  .. math::
    L_G = \tfrac12 (D(G(z)) - c)^2

  Args:
    fake_outputs: discriminator outputs on generated data.
    c: the value the generator wants the discriminator to output for fakes.

  Returns:
    Per-example losses with the shape of ``fake_outputs``.

  References:
    Mao et al., Least Squares Generative Adversarial Networks, 2017
    (arXiv 1611.04076).
  """
  return 0.5 * jnp.square(jnp.asarray(fake_outputs) - c)


def discriminator_hinge_loss(
    real_outputs: ArrayLike,
    fake_outputs: ArrayLike,
) -> Array:
  r"""Hinge discriminator loss (geometric GAN; SN-GAN).

  .. math::
    L_D = \max(0, 1 - D(x)) + \max(0, 1 + D(G(z)))

  Args:
    real_outputs: discriminator outputs on real data.
    fake_outputs: discriminator outputs on generated data, same shape.

  Returns:
    Per-pair losses with the shape of the inputs.

  References:
    Lim & Ye, Geometric GAN, 2017 (arXiv 1705.02894); Miyato et al., Spectral
    Normalization for Generative Adversarial Networks, 2018 (arXiv 1802.05957).
  """
  real_outputs = jnp.asarray(real_outputs)
  fake_outputs = jnp.asarray(fake_outputs)
  _check_same_shape(real_outputs, fake_outputs, "discriminator_hinge_loss")
  return jax.nn.relu(1.0 - real_outputs) + jax.nn.relu(1.0 + fake_outputs)


def generator_hinge_loss(fake_outputs: ArrayLike) -> Array:
  r"""Generator loss paired with the hinge discriminator loss.

  .. math::
    L_G = -D(G(z))

  Args:
    fake_outputs: discriminator outputs on generated data.

  Returns:
    Per-example losses with the shape of ``fake_outputs``.

  References:
    Lim & Ye, Geometric GAN, 2017 (arXiv 1705.02894); Miyato et al., Spectral
    Normalization for Generative Adversarial Networks, 2018 (arXiv 1802.05957).
  """
  return -jnp.asarray(fake_outputs)


def critic_wasserstein_loss(
    real_scores: ArrayLike,
    fake_scores: ArrayLike,
) -> Array:
  r"""Wasserstein critic loss, the negated Kantorovich-Rubinstein objective.

  .. math::
    L_C = f(G(z)) - f(x)

  The critic must be kept (approximately) 1-Lipschitz by the caller: weight
  clipping (WGAN) or a gradient penalty (WGAN-GP, ``gans_jax.penalties``).

  Args:
    real_scores: critic scores on real data.
    fake_scores: critic scores on generated data, same shape.

  Returns:
    Per-pair losses with the shape of the inputs.

  References:
    Arjovsky, Chintala & Bottou, Wasserstein GAN, 2017 (arXiv 1701.07875),
    Algorithm 1.
  """
  real_scores = jnp.asarray(real_scores)
  fake_scores = jnp.asarray(fake_scores)
  _check_same_shape(real_scores, fake_scores, "critic_wasserstein_loss")
  return fake_scores - real_scores


def generator_wasserstein_loss(fake_scores: ArrayLike) -> Array:
  r"""Wasserstein generator loss.

  .. math::
    L_G = -f(G(z))

  Args:
    fake_scores: critic scores on generated data.

  Returns:
    Per-example losses with the shape of ``fake_scores``.

  References:
    Arjovsky, Chintala & Bottou, Wasserstein GAN, 2017 (arXiv 1701.07875),
    Algorithm 1.
  """
  return -jnp.asarray(fake_scores)



class LossPair(NamedTuple):
  """A discriminator (or critic) loss and the generator loss it is played with."""

  discriminator: Callable[..., Array]
  generator: Callable[..., Array]


REGISTRY: Mapping[str, LossPair] = types.MappingProxyType({
    # Goodfellow et al. 2014, Eq. 1: the generator descends log(1 - D(G(z))).
    "minimax": LossPair(discriminator_minimax_loss, generator_minimax_loss),
    # The same game, the generator ascending log D(G(z)) (Section 3).
    "non_saturating": LossPair(discriminator_minimax_loss,
                               generator_nonsaturating_loss),
    # Mao et al. 2017 (LSGAN), Eq. 2 with a = 0, b = c = 1.
    "least_squares": LossPair(discriminator_least_squares_loss,
                              generator_least_squares_loss),
    # Lim & Ye 2017; Miyato et al. 2018.
    "hinge": LossPair(discriminator_hinge_loss, generator_hinge_loss),
    # Arjovsky et al. 2017; the critic must be kept Lipschitz by the caller.
    "wasserstein": LossPair(critic_wasserstein_loss, generator_wasserstein_loss),
})
"""Loss name -> ``(discriminator_loss, generator_loss)``."""


def get(name: str) -> LossPair:
  """Looks up the two losses of an adversarial game by name.

  ``discriminator_loss(real_outputs, fake_outputs)`` and
  ``generator_loss(fake_outputs)`` return per-element values, as every loss
  here; ``d_loss, g_loss = gj.losses.get("least_squares")``.

  Args:
    name: a key of ``REGISTRY``.

  Returns:
    ``(discriminator_loss, generator_loss)``.

  Raises:
    ValueError: for an unknown name, listing the valid ones.
  """
  if name not in REGISTRY:
    raise ValueError(f"Unknown GAN loss {name!r}; valid names are: "
                     f"{', '.join(sorted(REGISTRY))}.")
  return REGISTRY[name]


def wasserstein_estimate(
    real_scores: ArrayLike,
    fake_scores: ArrayLike,
) -> Array:
  r"""The critic's estimate of the Wasserstein-1 distance, a scalar.

  .. math::
    \hat W = \mathbb{E}_{x \sim P_r}[f(x)] - \mathbb{E}_{z}[f(G(z))]

  A lower bound on :math:`W(P_r, P_g)` (up to the critic's Lipschitz constant)
  that tracks sample quality during training. The two batches may differ in
  size.

  Args:
    real_scores: critic scores on real data.
    fake_scores: critic scores on generated data.

  Returns:
    A scalar.

  References:
    Arjovsky, Chintala & Bottou, Wasserstein GAN, 2017 (arXiv 1701.07875),
    equation 3 and Figure 3.
  """
  return jnp.mean(jnp.asarray(real_scores)) - jnp.mean(jnp.asarray(fake_scores))
