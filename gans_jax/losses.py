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
from collections.abc import Callable, Mapping
from typing import NamedTuple

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


class LeastSquaresCoding(NamedTuple):
  """LSGAN's targets: ``a`` for fakes and ``b`` for reals in the
  discriminator loss, ``c`` for fakes in the generator loss."""

  a: float
  b: float
  c: float


LEAST_SQUARES_CODINGS: dict[str, LeastSquaresCoding] = {
    # Equation 9, c = b: the coding of the paper's experiments and code.
    "0-1-1": LeastSquaresCoding(a=0.0, b=1.0, c=1.0),
    # Equation 8, b - c = 1 and b - a = 2: minimising the Pearson chi^2
    # divergence between p_data + p_g and 2 p_g (Section 3.2.2).
    "-1-1-0": LeastSquaresCoding(a=-1.0, b=1.0, c=0.0),
}
"""The two a-b-c codings of the LSGAN paper, by name."""


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

  where :math:`D` is the raw (linear) discriminator output. The defaults are
  the 0-1-1 coding; the paper's other coding, -1-1-0, is
  ``a=-1, b=1`` (with ``c=0`` in the generator loss). Both are in
  ``LEAST_SQUARES_CODINGS``: ``coding = LEAST_SQUARES_CODINGS['-1-1-0']``,
  then ``a=coding.a, b=coding.b`` here and ``c=coding.c`` in
  :func:`generator_least_squares_loss`.

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

  The default ``c = 1`` is the 0-1-1 coding; the -1-1-0 coding has ``c = 0``
  (``LEAST_SQUARES_CODINGS``).

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


# ---------------------------------------------------------------------------
# Improved Techniques for Training GANs (Salimans et al. 2016): feature
# matching and the K+1 semi-supervised discriminator.
# ---------------------------------------------------------------------------

_FEATURE_DISTANCES = ("squared", "absolute")


def feature_matching_loss(
    real_features: ArrayLike,
    fake_features: ArrayLike,
    *,
    distance: str = "squared",
) -> Array:
  r"""Feature matching generator loss, one value per feature.

  .. math::
    L_G = \big\lVert \mathbb{E}_{x} f(x) - \mathbb{E}_{z} f(G(z))
          \big\rVert_2^2

  with :math:`f` an intermediate layer of the discriminator and both
  expectations the means over the batch. Element ``k`` of the result is
  :math:`(\bar f_k(x) - \bar f_k(G(z)))^2`; ``jnp.sum`` of it is the paper's
  squared norm, ``jnp.mean`` the official MNIST code's loss (there ``f`` is
  the last hidden layer, of 250 units). ``distance='absolute'`` gives
  :math:`|\bar f_k(x) - \bar f_k(G(z))|` instead, whose mean is the official
  CIFAR-10 and SVHN code's loss (``f`` the global-pool features).

  The real moment is a target, not something to move: it passes through
  ``jax.lax.stop_gradient``, so the loss sends gradient only through the
  generated features (in the official code the loss updates only the
  generator, which the real features do not depend on). The two batches may
  differ in size.

  Args:
    real_features: ``f(x)`` of real data, shape ``(B, ...)``.
    fake_features: ``f(G(z))`` of generated data, shape ``(B', ...)`` with
      the same feature shape.
    distance: ``'squared'`` (the paper) or ``'absolute'``.

  Returns:
    Per-feature values of shape ``real_features.shape[1:]``.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 3.1.
  """
  real_features = jnp.asarray(real_features)
  fake_features = jnp.asarray(fake_features)
  if distance not in _FEATURE_DISTANCES:
    raise ValueError(
        f"distance must be one of {_FEATURE_DISTANCES}, got {distance!r}.")
  if (real_features.ndim < 1
      or real_features.shape[1:] != fake_features.shape[1:]):
    raise ValueError(
        "feature_matching_loss: real and fake features must be (B, ...) with"
        f" the same feature shape, got {real_features.shape} and"
        f" {fake_features.shape}.")
  real_moment = jax.lax.stop_gradient(jnp.mean(real_features, axis=0))
  difference = real_moment - jnp.mean(fake_features, axis=0)
  if distance == "squared":
    return jnp.square(difference)
  return jnp.abs(difference)


def k_plus_one_logit(class_logits: ArrayLike) -> Array:
  r"""The real-versus-fake logit of a K-class semi-supervised discriminator.

  .. math::
    D(x) = \frac{Z(x)}{Z(x) + 1}, \quad Z(x) = \sum_{k=1}^{K} e^{l_k(x)},
    \qquad\text{so}\qquad D(x) = \sigma\Big(\log \sum_k e^{l_k(x)}\Big).

  The discriminator is a K-class classifier whose (K+1)-th, "generated",
  logit is fixed at 0; the returned logit ``logsumexp(l)`` plays the part of
  an ordinary discriminator logit, so every loss of this module applies to
  it (``generator_minimax_loss(k_plus_one_logit(l))`` is the official
  minibatch-discrimination code's generator loss).

  Args:
    class_logits: the K class logits, shape ``(..., K)``.

  Returns:
    Logits of shape ``class_logits.shape[:-1]``, with
    ``sigmoid(logit) = Z / (Z + 1)``.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 5.
  """
  return jax.nn.logsumexp(jnp.asarray(class_logits), axis=-1)


def semi_supervised_labelled_loss(
    class_logits: ArrayLike,
    labels: ArrayLike,
) -> Array:
  r"""Supervised part of the K+1 semi-supervised loss: cross-entropy.

  .. math::
    L_{\mathrm{supervised}} = -\log p_{\mathrm{model}}(y \mid x, y < K + 1)
      = -l_y(x) + \log \sum_{k=1}^{K} e^{l_k(x)}

  Args:
    class_logits: the K class logits of labelled examples, shape ``(B, K)``.
    labels: their integer classes in ``[0, K)``, shape ``(B,)``.

  Returns:
    Per-example losses of shape ``(B,)``.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 5.
  """
  class_logits = jnp.asarray(class_logits)
  labels = jnp.asarray(labels)
  if class_logits.ndim != 2 or labels.shape != class_logits.shape[:1]:
    raise ValueError(
        "semi_supervised_labelled_loss: class_logits must be (B, K) and labels"
        f" (B,), got {class_logits.shape} and {labels.shape}.")
  picked = jnp.take_along_axis(class_logits, labels[:, None], axis=-1)[:, 0]
  return k_plus_one_logit(class_logits) - picked


def semi_supervised_unlabelled_loss(
    real_class_logits: ArrayLike,
    fake_class_logits: ArrayLike,
) -> Array:
  r"""Unsupervised part of the K+1 semi-supervised loss: the GAN loss.

  .. math::
    L_{\mathrm{unsupervised}} = -\log D(x) - \log(1 - D(G(z)))
      = \mathrm{softplus}(-\ell(x)) + \mathrm{softplus}(\ell(G(z))),

  with :math:`D = Z/(Z+1)` and :math:`\ell = \log Z` the
  :func:`k_plus_one_logit`: the minimax discriminator loss on that logit.
  The official code weights this term by 1/2.

  Args:
    real_class_logits: class logits of unlabelled real data, ``(B, K)``.
    fake_class_logits: class logits of generated data, same shape.

  Returns:
    Per-pair losses of shape ``(B,)``.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 5.
  """
  return discriminator_minimax_loss(k_plus_one_logit(real_class_logits),
                                    k_plus_one_logit(fake_class_logits))


def semi_supervised_discriminator_loss(
    labelled_logits: ArrayLike,
    labels: ArrayLike,
    unlabelled_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    unlabelled_weight: float,
) -> Array:
  r"""The K+1 discriminator's loss: supervised plus weighted unsupervised.

  .. math::
    L = \mathbb{E}_{(x, y)}\big[-l_y(x) + \log Z(x)\big]
      + w\,\Big(\mathbb{E}_x \mathrm{softplus}(-\log Z(x))
              + \mathbb{E}_z \mathrm{softplus}(\log Z(G(z)))\Big)

  the batch means of :func:`semi_supervised_labelled_loss` and
  :func:`semi_supervised_unlabelled_loss` (each term averaged over its own
  batch, so the three batches may differ in size). ``w`` is a required
  keyword because the paper and its code differ: the paper's sum is
  ``w = 1``; the official code's ``loss_lab + unlabeled_weight * loss_unl``
  with its ½-weighted ``loss_unl`` is ``w = 0.5`` at its default
  ``--unlabeled_weight=1``.

  Args:
    labelled_logits: class logits of the labelled examples, ``(B_l, K)``.
    labels: their classes, ``(B_l,)``.
    unlabelled_logits: class logits of unlabelled real data, ``(B_u, K)``.
    fake_logits: class logits of generated data, ``(B_g, K)``.
    unlabelled_weight: ``w >= 0``.

  Returns:
    A scalar.

  References:
    Salimans et al., Improved Techniques for Training GANs, 2016
    (arXiv 1606.03498), Section 5; openai/improved-gan,
    train_mnist_feature_matching.py.
  """
  if isinstance(unlabelled_weight, (int, float)) and unlabelled_weight < 0:
    raise ValueError(
        f"unlabelled_weight must be >= 0, got {unlabelled_weight}.")
  supervised = jnp.mean(semi_supervised_labelled_loss(labelled_logits, labels))
  # -log D(x) and -log(1 - D(G(z))), each averaged over its own batch.
  real_term = jnp.mean(jax.nn.softplus(-k_plus_one_logit(unlabelled_logits)))
  fake_term = jnp.mean(jax.nn.softplus(k_plus_one_logit(fake_logits)))
  return supervised + unlabelled_weight * (real_term + fake_term)
# Energy-based GAN (EBGAN): an autoencoder discriminator whose energy is its
# reconstruction error, a margin loss for it, and the pulling-away term.
# ---------------------------------------------------------------------------

EBGAN_PULLING_AWAY_WEIGHT = 0.1
"""The weight :math:`\\lambda_{PT}` of the pulling-away term in EBGAN-PT."""


def reconstruction_energy(inputs: ArrayLike, reconstructions: ArrayLike) -> Array:
  r"""EBGAN's energy: the mean squared reconstruction error of each example.

  .. math::
    D(x) = \frac{1}{d} \lVert \mathrm{Dec}(\mathrm{Enc}(x)) - x \rVert_2^2

  over the :math:`d` entries of one example. The paper writes the norm
  :math:`\lVert \mathrm{Dec}(\mathrm{Enc}(x)) - x \rVert`; the mean of squares
  is the usual choice in practice and does not grow with the image size, so
  the margin of :func:`discriminator_energy_loss` is set on this per-entry
  scale (an autoencoder that outputs zeros gives data in ``[-1, 1]`` an
  energy of at most 1).

  Args:
    inputs: the discriminator's inputs ``(B, ...)``.
    reconstructions: the autoencoder's outputs, same shape.

  Returns:
    Energies of shape ``(B,)``, each >= 0.

  References:
    Zhao, Mathieu & LeCun, Energy-based Generative Adversarial Network, 2017
    (arXiv 1609.03126), Section 2.3.
  """
  inputs = jnp.asarray(inputs)
  reconstructions = jnp.asarray(reconstructions)
  if inputs.shape != reconstructions.shape or inputs.ndim < 2:
    raise ValueError(
        "reconstruction_energy: inputs and reconstructions must share one "
        f"(B, ...) shape, got {inputs.shape} and {reconstructions.shape}")
  squared = jnp.square(reconstructions - inputs)
  return jnp.mean(squared.reshape(squared.shape[0], -1), axis=1)


def discriminator_energy_loss(
    real_energy: ArrayLike,
    fake_energy: ArrayLike,
    *,
    margin: float,
) -> Array:
  r"""EBGAN discriminator loss: low energy on data, at least ``margin`` on fakes.

  .. math::
    L_D = D(x) + [m - D(G(z))]^+

  with :math:`[\cdot]^+ = \max(0, \cdot)`. Fakes whose energy exceeds the
  margin :math:`m` no longer push the discriminator.

  Args:
    real_energy: energies of real data (e.g. :func:`reconstruction_energy`).
    fake_energy: energies of generated data, same shape.
    margin: :math:`m > 0`, on the scale of the energies; no default, since
      it depends on the energy's definition and the data.

  Returns:
    Per-pair losses with the shape of the inputs.

  References:
    Zhao, Mathieu & LeCun, Energy-based Generative Adversarial Network, 2017
    (arXiv 1609.03126), equation 1.
  """
  real_energy = jnp.asarray(real_energy)
  fake_energy = jnp.asarray(fake_energy)
  _check_same_shape(real_energy, fake_energy, "discriminator_energy_loss")
  if isinstance(margin, (int, float)) and not margin > 0:
    raise ValueError(f"margin must be positive, got {margin}.")
  return real_energy + jax.nn.relu(margin - fake_energy)


def generator_energy_loss(fake_energy: ArrayLike) -> Array:
  r"""EBGAN generator loss: the energy of its samples.

  .. math::
    L_G = D(G(z))

  EBGAN-PT adds ``EBGAN_PULLING_AWAY_WEIGHT * pulling_away_term(codes)`` on
  the discriminator's codes of the same generated batch.

  Args:
    fake_energy: energies of generated data.

  Returns:
    Per-example losses with the shape of ``fake_energy``.

  References:
    Zhao, Mathieu & LeCun, Energy-based Generative Adversarial Network, 2017
    (arXiv 1609.03126), equation 2.
  """
  return jnp.asarray(fake_energy)


def pulling_away_term(codes: ArrayLike, *, epsilon: float = 1e-12) -> Array:
  r"""EBGAN's pulling-away term: mean squared cosine between distinct codes.

  .. math::
    f_{PT}(S) = \frac{1}{N(N-1)} \sum_i \sum_{j \ne i}
      \left(\frac{S_i^\top S_j}{\lVert S_i \rVert \lVert S_j \rVert}\right)^2

  over the :math:`N` encoder codes :math:`S_i` of one generated batch. It is
  0 for mutually orthogonal codes and 1 for parallel ones; the diagonal
  (each code with itself, always 1) is left out. Added to the generator's
  loss, it pushes a batch's samples apart in the code space against mode
  collapse.

  Args:
    codes: ``(N, ...)`` codes, flattened per example; ``N >= 2``.
    epsilon: added to each squared norm, so a zero code gives finite
      gradients.

  Returns:
    A scalar: the batch statistic itself (nothing to reduce).

  References:
    Zhao, Mathieu & LeCun, Energy-based Generative Adversarial Network, 2017
    (arXiv 1609.03126), Section 2.4.
  """
  codes = jnp.asarray(codes)
  if codes.ndim < 2 or codes.shape[0] < 2:
    raise ValueError(
        "pulling_away_term needs codes of shape (N, ...) with N >= 2, got "
        f"{codes.shape}")
  n = codes.shape[0]
  flat = codes.reshape(n, -1)
  unit = flat * jax.lax.rsqrt(jnp.sum(jnp.square(flat), axis=1, keepdims=True)
                              + epsilon)
  cosine_squared = jnp.square(unit @ unit.T)
  off_diagonal = jnp.where(jnp.eye(n, dtype=bool), 0.0, cosine_squared)
  return jnp.sum(off_diagonal) / (n * (n - 1))


# ---------------------------------------------------------------------------
# Variational autoencoder (Kingma & Welling 2014) and the importance-weighted
# bound (Burda, Grosse & Salakhutdinov 2016). Every function returns one value
# per example, reduced over all of an example's entries (the axes after the
# first); the caller averages over the batch.
# ---------------------------------------------------------------------------

_LOG_2PI = 1.8378770664093453  # log(2 pi)


def _sum_per_example(values: Array) -> Array:
  """Sums ``(B, ...)`` over every axis but the first, giving ``(B,)``."""
  if values.ndim < 1:
    raise ValueError(
        f"expected a batch of shape (B, ...), got the shape {values.shape}")
  return jnp.sum(values.reshape(values.shape[0], -1), axis=1)


def reparameterize(key: Array, mean: ArrayLike, log_var: ArrayLike, *,
                   num_samples: int | None = None) -> Array:
  r"""Draws :math:`z \sim \mathcal{N}(\mu, \sigma^2)`, differentiable in both.

  .. math::
    z = \mu + \sigma \odot \epsilon, \qquad
    \sigma = \exp(\tfrac{1}{2} \log \sigma^2), \qquad
    \epsilon \sim \mathcal{N}(0, I)

  The reparametrisation trick: the randomness is in :math:`\epsilon` alone,
  so gradients flow to :math:`\mu` and :math:`\log \sigma^2`. Every entry
  gets its own :math:`\epsilon`, drawn from ``key``: the same key gives the
  same ``z``, so a training step must pass a fresh key each step (e.g.
  ``jax.random.fold_in(train_key, step)``).

  Args:
    key: a PRNG key.
    mean: :math:`\mu`, e.g. ``(B, D)``.
    log_var: :math:`\log \sigma^2`, same shape.
    num_samples: if given, ``K`` independent draws stacked first.

  Returns:
    ``z`` of shape ``mean.shape``, or ``(num_samples, *mean.shape)``.

  References:
    Kingma & Welling, Auto-Encoding Variational Bayes, 2014
    (arXiv 1312.6114), Section 2.4.
  """
  mean = jnp.asarray(mean)
  log_var = jnp.asarray(log_var)
  if mean.shape != log_var.shape:
    raise ValueError(
        f"reparameterize: mean and log_var must have the same shape, got "
        f"{mean.shape} and {log_var.shape}")
  shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
  dtype = jnp.result_type(mean.dtype, log_var.dtype)
  if not jnp.issubdtype(dtype, jnp.floating):
    dtype = jnp.float32
  epsilon = jax.random.normal(key, shape, dtype)
  return mean + jnp.exp(0.5 * log_var) * epsilon


def gaussian_kl(mean: ArrayLike, log_var: ArrayLike) -> Array:
  r"""KL divergence of a diagonal Gaussian from N(0, I), per example.

  .. math::
    \mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, I)\big)
      = \frac{1}{2} \sum_j \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big)
      \;\ge 0

  summed over the latent dimensions :math:`j` (all axes after the first).

  Args:
    mean: :math:`\mu` of :math:`q(z \mid x)`, ``(B, ...)``.
    log_var: :math:`\log \sigma^2`, same shape.

  Returns:
    ``(B,)``: one divergence per example, not averaged over the batch.

  References:
    Kingma & Welling, Auto-Encoding Variational Bayes, 2014
    (arXiv 1312.6114), Appendix B.
  """
  mean = jnp.asarray(mean)
  log_var = jnp.asarray(log_var)
  if mean.shape != log_var.shape:
    raise ValueError(
        f"gaussian_kl: mean and log_var must have the same shape, got "
        f"{mean.shape} and {log_var.shape}")
  return 0.5 * _sum_per_example(
      jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var)


def bernoulli_log_likelihood(logits: ArrayLike, x: ArrayLike) -> Array:
  r"""Log-likelihood of data under independent Bernoulli pixels, per example.

  .. math::
    \log p(x \mid z) = \sum_i x_i \log \sigma(\ell_i)
        + (1 - x_i) \log(1 - \sigma(\ell_i))
      = \sum_i x_i \ell_i - \mathrm{softplus}(\ell_i)

  over the entries :math:`i` of one example, with decoder logits
  :math:`\ell`. For grey values :math:`x_i \in [0, 1]` this is the negative
  binary cross-entropy, as in the paper's MNIST experiments; it is a
  normalised log-probability only for binary data.

  Args:
    logits: decoder logits :math:`\ell`, ``(B, ...)``.
    x: data in ``[0, 1]``, same shape.

  Returns:
    ``(B,)`` log-likelihoods (each <= 0 for binary data).

  References:
    Kingma & Welling, Auto-Encoding Variational Bayes, 2014
    (arXiv 1312.6114), Appendix C.1.
  """
  logits = jnp.asarray(logits)
  x = jnp.asarray(x)
  if logits.shape != x.shape:
    raise ValueError(
        f"bernoulli_log_likelihood: logits and x must have the same shape, got "
        f"{logits.shape} and {x.shape}")
  return _sum_per_example(x * logits - jax.nn.softplus(logits))


def gaussian_log_likelihood(mean: ArrayLike, x: ArrayLike, *,
                            log_var: ArrayLike) -> Array:
  r"""Log-density of data under a diagonal Gaussian, per example.

  .. math::
    \log \mathcal{N}(x; \mu, \sigma^2) = -\frac{1}{2} \sum_i \Big(
      \log 2\pi + \log \sigma_i^2 + \frac{(x_i - \mu_i)^2}{\sigma_i^2} \Big)

  over the entries :math:`i` of one example. It is also the density of a
  latent under :math:`q(z \mid x)` (``mean``, ``log_var`` from the encoder)
  or under the prior (``mean=0``, ``log_var=0``).

  Args:
    mean: :math:`\mu`, ``(B, ...)`` or broadcastable to ``x``.
    x: the data, ``(B, ...)``.
    log_var: :math:`\log \sigma^2`, broadcastable to ``x`` (a scalar for a
      fixed, shared variance). Required: the variance sets the scale of the
      reconstruction term against the KL term.

  Returns:
    ``(B,)`` log-densities.

  References:
    Kingma & Welling, Auto-Encoding Variational Bayes, 2014
    (arXiv 1312.6114), Appendix C.2.
  """
  x = jnp.asarray(x)
  mean = jnp.asarray(mean)
  log_var = jnp.asarray(log_var)
  shape = jnp.broadcast_shapes(mean.shape, x.shape, log_var.shape)
  if shape != x.shape:
    raise ValueError(
        f"gaussian_log_likelihood: mean {mean.shape} and log_var "
        f"{log_var.shape} must broadcast to the shape of x {x.shape}")
  log_density = -0.5 * (_LOG_2PI + log_var
                        + jnp.square(x - mean) * jnp.exp(-log_var))
  return _sum_per_example(jnp.broadcast_to(log_density, shape))


def elbo(log_likelihood: ArrayLike, mean: ArrayLike,
         log_var: ArrayLike) -> Array:
  r"""The evidence lower bound of a Gaussian-encoder VAE, per example.

  .. math::
    \mathcal{L}(x) = \log p(x \mid z) - \mathrm{KL}\big(q(z \mid x)
      \,\|\, \mathcal{N}(0, I)\big) \;\le\; \log p(x),
    \qquad z \sim q(z \mid x)

  the paper's estimator :math:`\tilde{\mathcal{L}}^B` with one sample
  :math:`z`: the reconstruction term is a Monte-Carlo estimate, the KL term
  (:func:`gaussian_kl`) is exact. Training maximises it, i.e. minimises
  ``-jnp.mean(elbo(...))``.

  Args:
    log_likelihood: :math:`\log p(x \mid z)` of each example at its sampled
      ``z``, ``(B,)`` (:func:`bernoulli_log_likelihood` or
      :func:`gaussian_log_likelihood`).
    mean: the encoder's :math:`\mu`, ``(B, D)``.
    log_var: the encoder's :math:`\log \sigma^2`, ``(B, D)``.

  Returns:
    ``(B,)``: the bound of each example, not averaged over the batch.

  References:
    Kingma & Welling, Auto-Encoding Variational Bayes, 2014
    (arXiv 1312.6114), Sections 2.3 and 3.
  """
  log_likelihood = jnp.asarray(log_likelihood)
  kl = gaussian_kl(mean, log_var)
  if log_likelihood.shape != kl.shape:
    raise ValueError(
        f"elbo: log_likelihood must have one value per example, shape "
        f"{kl.shape}, got {log_likelihood.shape}")
  return log_likelihood - kl


def importance_log_weights(log_likelihood: ArrayLike, z: ArrayLike,
                           mean: ArrayLike, log_var: ArrayLike) -> Array:
  r"""Log importance weights of latent samples from a Gaussian encoder.

  .. math::
    \log w = \log p(x \mid z) + \log \mathcal{N}(z; 0, I)
      - \log \mathcal{N}(z; \mu, \sigma^2)

  One weight per sample; with ``K`` samples per example stacked first,
  ``z`` is ``(K, B, D)``, ``log_likelihood`` ``(K, B)`` and ``mean``,
  ``log_var`` ``(B, D)`` (broadcast over the samples).

  Args:
    log_likelihood: :math:`\log p(x \mid z)` at each sample, ``(..., B)``.
    z: the samples, ``(..., B, D)``.
    mean: the encoder's :math:`\mu`, ``(B, D)``.
    log_var: the encoder's :math:`\log \sigma^2`, ``(B, D)``.

  Returns:
    :math:`\log w` with the shape of ``log_likelihood``.

  References:
    Burda, Grosse & Salakhutdinov, Importance Weighted Autoencoders, 2016
    (arXiv 1509.00519), Section 3.
  """
  z = jnp.asarray(z)
  log_likelihood = jnp.asarray(log_likelihood)
  if z.ndim < 2 or log_likelihood.shape != z.shape[:-1]:
    raise ValueError(
        f"importance_log_weights: z {z.shape} must be log_likelihood's shape "
        f"{log_likelihood.shape} plus one latent axis")
  mean = jnp.broadcast_to(jnp.asarray(mean), z.shape)
  log_var = jnp.broadcast_to(jnp.asarray(log_var), z.shape)
  flat = lambda a: a.reshape(-1, z.shape[-1])
  log_prior = gaussian_log_likelihood(0.0, flat(z), log_var=0.0)
  log_posterior = gaussian_log_likelihood(flat(mean), flat(z),
                                          log_var=flat(log_var))
  log_ratio = (log_prior - log_posterior).reshape(log_likelihood.shape)
  return log_likelihood + log_ratio


def iwae_bound(log_weights: ArrayLike, *, axis: int = 0) -> Array:
  r"""The importance-weighted bound on :math:`\log p(x)`, per example.

  .. math::
    \mathcal{L}_K(x) = \log \frac{1}{K} \sum_{k=1}^{K} w_k
      = \operatorname{logsumexp}_k(\log w_k) - \log K,
    \qquad w_k = \frac{p(x, z_k)}{q(z_k \mid x)}, \; z_k \sim q(z \mid x)

  With ``K = 1`` it is the single-sample ELBO with a Monte-Carlo KL term;
  in expectation :math:`\mathcal{L}_1 \le \mathcal{L}_K \le \log p(x)`, and
  :math:`\mathcal{L}_K \to \log p(x)` as :math:`K \to \infty`, which is why a
  large ``K`` (5,000 in the IWAE paper) is the standard estimate of the
  test log-likelihood.

  Args:
    log_weights: :math:`\log w_k` (:func:`importance_log_weights`), e.g.
      ``(K, B)``.
    axis: the sample axis ``k`` (the first by default).

  Returns:
    The bound of each example: ``log_weights`` without ``axis``.

  References:
    Burda, Grosse & Salakhutdinov, Importance Weighted Autoencoders, 2016
    (arXiv 1509.00519), Section 3.
  """
  log_weights = jnp.asarray(log_weights)
  num_samples = log_weights.shape[axis]
  return (jax.scipy.special.logsumexp(log_weights, axis=axis)
          - jnp.log(float(num_samples)))
# ---------------------------------------------- perceptual (content) loss --

def perceptual_loss(feature_fn: Callable[[Array], Array], fake: ArrayLike,
                    real: ArrayLike) -> Array:
  r"""SRGAN's content loss: squared distance in a fixed network's features.

  .. math::
    l_{\phi} = \frac{1}{W H C} \sum_{x, y, c}
      \big(\phi(I^{HR})_{x, y, c} - \phi(G(I^{LR}))_{x, y, c}\big)^2

  per example, :math:`\phi` one layer's feature map of a fixed network (VGG19
  in the paper; any trained network here, made a function of images by
  :func:`gans_jax.nn.srgan.feature_extractor`, which holds its parameters
  as constants behind ``stop_gradient``). The real features are a target:
  they pass through ``jax.lax.stop_gradient``, so the loss sends gradient
  only through the generated images. The generator's perceptual loss is
  the mean of this plus :math:`10^{-3}` times the adversarial loss
  (``generator_nonsaturating_loss``). With :math:`\phi` the identity it is
  the pixel MSE of SRResNet.

  Args:
    feature_fn: ``phi(images) -> (B, ...)`` feature maps; a closure over
      constants (its parameters get no gradient).
    fake: generated images ``(B, H, W, C)``.
    real: the matching real images, same shape.

  Returns:
    ``(B,)``: each example's mean squared feature difference.

  References:
    Ledig et al., Photo-Realistic Single Image Super-Resolution Using a
    Generative Adversarial Network, 2017 (arXiv 1609.04802), equations
    (3)-(5); Johnson, Alahi & Fei-Fei, 2016 (arXiv 1603.08155).
  """
  fake = jnp.asarray(fake)
  real = jnp.asarray(real)
  if fake.shape != real.shape:
    raise ValueError(f"perceptual_loss: fake and real must have the same "
                     f"shape, got {fake.shape} and {real.shape}")
  fake_features = feature_fn(fake)
  real_features = jax.lax.stop_gradient(feature_fn(real))
  squared = jnp.square(real_features - fake_features)
  return jnp.mean(squared.reshape(squared.shape[0], -1), axis=1)
# Discrete sequences: Gumbel-softmax relaxation and REINFORCE (SeqGAN).
# ---------------------------------------------------------------------------


def gumbel_softmax(
    key: Array,
    logits: ArrayLike,
    *,
    temperature: float | Array,
    hard: bool = False,
) -> Array:
  r"""A Gumbel-softmax (Concrete) sample, optionally straight-through.

  .. math::
    y = \mathrm{softmax}\big((\ell + g) / \tau\big), \qquad
    g_i = -\log(-\log u_i), \; u_i \sim U(0, 1)

  with independent noise for every entry of ``logits`` (every example and
  position draws its own). As :math:`\tau \to 0` the sample tends to the
  one-hot of :math:`\arg\max_i (\ell_i + g_i)`, which is an exact sample of
  :math:`\mathrm{softmax}(\ell)` (the Gumbel-max trick).

  ``hard=True`` is the straight-through estimator: the forward value is
  that one-hot vector, the gradient is the soft sample's,

  .. math::
    y_{\mathrm{hard}} = \mathrm{onehot}(\arg\max y) - \mathrm{sg}(y) + y.

  Args:
    key: PRNG key.
    logits: unnormalised log-probabilities ``(..., V)``.
    temperature: :math:`\tau > 0` (annealed towards 0 during training).
    hard: return the straight-through one-hot sample.

  Returns:
    Samples with the shape of ``logits``, rows on the simplex.

  References:
    Jang, Gu & Poole, Categorical Reparameterization with Gumbel-Softmax,
    2017 (arXiv 1611.01144); Maddison, Mnih & Teh, The Concrete
    Distribution, 2017 (arXiv 1611.00712); Kusner & Hernández-Lobato, GANS
    for Sequences of Discrete Elements with the Gumbel-softmax Distribution,
    2016 (arXiv 1611.04051).
  """
  logits = jnp.asarray(logits)
  if isinstance(temperature, (int, float)) and not temperature > 0:
    raise ValueError(f"temperature must be positive, got {temperature}.")
  gumbel = jax.random.gumbel(key, logits.shape, logits.dtype)
  soft = jax.nn.softmax((logits + gumbel) / temperature, axis=-1)
  if not hard:
    return soft
  one_hot = jax.nn.one_hot(jnp.argmax(soft, axis=-1), logits.shape[-1],
                           dtype=soft.dtype)
  return one_hot - jax.lax.stop_gradient(soft) + soft


def reinforce_loss(log_probs: ArrayLike, rewards: ArrayLike) -> Array:
  r"""REINFORCE surrogate loss: minimise :math:`-R \log p`.

  .. math::
    L = -\,\mathrm{sg}(Q_t)\, \log G_\theta(y_t \mid Y_{1:t-1}), \qquad
    \nabla_\theta \mathbb{E}[L] = -\mathbb{E}\big[Q_t\, \nabla_\theta
      \log G_\theta(y_t \mid Y_{1:t-1})\big]

  so a gradient *descent* step on the loss raises the log-probability of
  the tokens with high reward (SeqGAN's equation 6 ascends
  :math:`\mathbb{E}[Q \nabla \log G]`). The rewards are constants: no
  gradient flows into them (SeqGAN's Monte-Carlo rewards come from the
  discriminator, which the generator's step must not train).

  Args:
    log_probs: :math:`\log G_\theta(y_t \mid Y_{1:t-1})` of the sampled
      tokens, e.g. ``(B, L)`` from ``LSTMGenerator.token_log_probs``.
    rewards: :math:`Q_t` of the same shape (e.g. from
      :func:`gans_jax.sequence.rollout_rewards`), baseline already subtracted
      if one is used.

  Returns:
    Per-element losses with the shape of the inputs; SeqGAN's official code
    sums them over tokens and the batch.

  References:
    Williams, 1992, Machine Learning 8; Yu et al., SeqGAN, AAAI 2017
    (arXiv 1609.05473), equations 4-6.
  """
  log_probs = jnp.asarray(log_probs)
  rewards = jnp.asarray(rewards)
  if log_probs.shape != rewards.shape:
    raise ValueError(
        "reinforce_loss: log_probs and rewards must have the same shape, got "
        f"{log_probs.shape} and {rewards.shape}")
  return -jax.lax.stop_gradient(rewards) * log_probs
