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
