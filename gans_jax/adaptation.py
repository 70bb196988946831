"""Adversarial domain adaptation: gradient reversal (DANN) and ADDA's step.

Both methods make features of a labelled *source* domain and an unlabelled
*target* domain indistinguishable to a domain classifier (the adversary).

- DANN trains one feature extractor on both domains; a
  :func:`gradient_reversal` layer between the features and the domain
  classifier turns the classifier's gradient into the extractor's
  confusion gradient, so one ordinary minimisation trains both. Its scale
  follows :func:`dann_lambda`, the learning rate :func:`dann_learning_rate`.
- ADDA keeps the source encoder trained on the labelled source data fixed
  and trains a separate target encoder, initialised from it, against the
  adversary with inverted labels; :func:`adda_adaptation_step` is that
  update, the source encoder a constant in it.

DANN's step, for a source batch with labels and an unlabelled target batch
and ``p`` the training progress in ``[0, 1]``::

  features = extractor(jnp.concatenate([x_source, x_target]))
  class_loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      classifier(features[:n_source]), y_source))
  domain_logits = domain_classifier(
      gradient_reversal(features, dann_lambda(p)))       # source = 1
  domain_loss = jnp.mean(losses.discriminator_minimax_loss(
      domain_logits[:n_source], domain_logits[n_source:]))
  loss = class_loss + domain_loss    # minimised over all three networks

(equal source and target batches; for unequal ones, average the two terms
of the domain loss separately).

In both, the domain classifier's loss is the GAN discriminator's with
source = real and target = fake,
:func:`gans_jax.losses.discriminator_minimax_loss`, and ADDA's
inverted-label mapping loss is the non-saturating generator loss
:func:`gans_jax.losses.generator_nonsaturating_loss` on the target logits.

This module sits beside :mod:`gans_jax.losses`: pure functions of arrays,
callables and optax transformations, no Flax and no state of its own.
Gradient reversal is not a loss but a differentiation rule, and the ADDA
step applies optimizer updates, which no loss does.

References:
  Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016
  (arXiv 1505.07818); Tzeng et al., Adversarial Discriminative Domain
  Adaptation, CVPR 2017 (arXiv 1702.05464).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gans_jax import losses

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
PyTree = Any

__all__ = ["ADDAParams", "ADDAOptimizerStates", "adda_adaptation_step",
           "dann_lambda", "dann_learning_rate", "gradient_reversal"]


@jax.custom_vjp
def gradient_reversal(x: PyTree, scale: ArrayLike) -> PyTree:
  r"""Identity forward; multiplies the gradient by :math:`-\lambda` backward.

  .. math::
    R_\lambda(x) = x, \qquad \frac{\partial R_\lambda}{\partial x} = -\lambda I

  DANN's gradient reversal layer: placed between the feature extractor
  :math:`G_f` and the domain classifier :math:`G_d`, minimising the domain
  loss :math:`L_d(G_d(R_\lambda(G_f(x))))` descends :math:`L_d` in the
  classifier's parameters and ascends :math:`\lambda L_d` in the
  extractor's, the saddle point of DANN's objective in one gradient step. No
  gradient flows to ``scale``. Reverse mode only (``jax.grad``,
  ``jax.vjp``); ``jax.jvp`` is not defined for it.

  Args:
    x: features, an array or a pytree of arrays.
    scale: :math:`\lambda \ge 0`, a Python or traced scalar (e.g.
      :func:`dann_lambda` of the training progress).

  Returns:
    ``x`` unchanged.

  References:
    Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016
    (arXiv 1505.07818), Section 4.2.
  """
  del scale
  return x


def _gradient_reversal_forward(x: PyTree, scale: ArrayLike):
  return x, scale


def _gradient_reversal_backward(scale: ArrayLike, cotangent: PyTree):
  reversed_cotangent = jax.tree.map(
      lambda g: (-scale * g).astype(g.dtype), cotangent)
  return reversed_cotangent, jnp.zeros_like(scale)


gradient_reversal.defvjp(_gradient_reversal_forward,
                         _gradient_reversal_backward)


def dann_lambda(progress: ArrayLike, *, gamma: float = 10.0) -> Array:
  r"""DANN's schedule of the gradient-reversal scale, from 0 up to 1.

  .. math::
    \lambda_p = \frac{2}{1 + \exp(-\gamma p)} - 1

  with :math:`p \in [0, 1]` the training progress (steps done over steps in
  all). :math:`\lambda_0 = 0`, so the domain classifier's noisy early
  gradients do not reach the features, and :math:`\lambda_p` rises to
  :math:`\approx 0.9999` at :math:`p = 1` for :math:`\gamma = 10`.

  Args:
    progress: :math:`p`, a scalar or array in ``[0, 1]`` (traced is fine).
    gamma: :math:`\gamma` (10 in the paper).

  Returns:
    :math:`\lambda_p` with the shape of ``progress``.

  References:
    Ganin et al., JMLR 2016 (arXiv 1505.07818), Section 5.2.
  """
  progress = jnp.asarray(progress, dtype=jnp.result_type(progress, jnp.float32))
  return 2.0 * jax.nn.sigmoid(gamma * progress) - 1.0


def dann_learning_rate(progress: ArrayLike, *, initial: float = 0.01,
                       alpha: float = 10.0, beta: float = 0.75) -> Array:
  r"""DANN's annealed learning rate.

  .. math::
    \mu_p = \frac{\mu_0}{(1 + \alpha p)^\beta}

  with :math:`p \in [0, 1]` the training progress. As an optax schedule of
  ``num_steps`` steps: ``lambda step: dann_learning_rate(step / num_steps)``.

  Args:
    progress: :math:`p`, a scalar or array in ``[0, 1]``.
    initial: :math:`\mu_0` (0.01 in the paper).
    alpha: :math:`\alpha` (10 in the paper).
    beta: :math:`\beta` (0.75 in the paper).

  Returns:
    :math:`\mu_p` with the shape of ``progress``.

  References:
    Ganin et al., JMLR 2016 (arXiv 1505.07818), Section 5.2.
  """
  progress = jnp.asarray(progress, dtype=jnp.result_type(progress, jnp.float32))
  return initial / (1.0 + alpha * progress) ** beta


class ADDAParams(NamedTuple):
  """ADDA's three networks: the fixed source encoder :math:`M_s`, the target
  encoder :math:`M_t` (same architecture) and the adversary :math:`D`."""

  source_encoder: PyTree
  target_encoder: PyTree
  adversary: PyTree


class ADDAOptimizerStates(NamedTuple):
  """One optimizer state per trained network; the source encoder has none."""

  target_encoder: PyTree
  adversary: PyTree


def adda_adaptation_step(
    params: ADDAParams,
    opt_states: ADDAOptimizerStates,
    source_images: ArrayLike,
    target_images: ArrayLike,
    *,
    encode: Callable[[PyTree, Array], Array],
    discriminate: Callable[[PyTree, Array], Array],
    target_optimizer: optax.GradientTransformation,
    adversary_optimizer: optax.GradientTransformation,
) -> tuple[ADDAParams, ADDAOptimizerStates, dict[str, Array]]:
  r"""One step of ADDA's adaptation: the adversary and the target mapping.

  With the adversary's logit :math:`D` (source = 1, target = 0), the fixed
  source encoder :math:`M_s` and the target encoder :math:`M_t`:

  .. math::
    L_{adv}(D) &= -\log D(M_s(x_s)) - \log(1 - D(M_t(x_t))) \\
    L_{M}(M_t) &= -\log D(M_t(x_t))

  (:math:`L_M` is the GAN's inverted-label loss,
  :func:`gans_jax.losses.generator_nonsaturating_loss`). Both gradients are
  taken at the current parameters and both optimizers step, as the authors'
  code runs the two updates together.

  The source encoder is a constant here: its features are computed under
  ``stop_gradient``, no gradient is taken with respect to it, it has no
  optimizer state, and ``params.source_encoder`` is returned as it came in.
  No target labels are taken: the target domain is unlabelled.

  Args:
    params: the three networks' parameters (initialise the target encoder
      as a copy of the trained source encoder: equal, not shared).
    opt_states: the target encoder's and the adversary's optimizer states.
    source_images: a source batch :math:`x_s` (its labels are not needed).
    target_images: a target batch :math:`x_t`.
    encode: ``encode(encoder_params, images) -> features (B, F)``, the
      encoder architecture shared by :math:`M_s` and :math:`M_t`.
    discriminate: ``discriminate(adversary_params, features) -> logits (B,)``.
    target_optimizer: the target encoder's optax optimizer.
    adversary_optimizer: the adversary's optax optimizer.

  Returns:
    ``(params, opt_states, metrics)`` after the step; ``metrics`` holds the
    scalars ``adversary_loss``, ``mapping_loss`` and ``adversary_accuracy``
    (the adversary's accuracy on both batches, before the step).

  References:
    Tzeng et al., Adversarial Discriminative Domain Adaptation, CVPR 2017
    (arXiv 1702.05464), Sections 3.2 and 4.
  """
  source_features = jax.lax.stop_gradient(
      encode(params.source_encoder, jnp.asarray(source_images)))

  def adversary_loss(adversary_params, target_features):
    source_logits = discriminate(adversary_params, source_features)
    target_logits = discriminate(adversary_params, target_features)
    loss = jnp.mean(losses.discriminator_minimax_loss(source_logits,
                                                      target_logits))
    accuracy = 0.5 * (jnp.mean(source_logits > 0) + jnp.mean(target_logits < 0))
    return loss, accuracy

  def mapping_loss(target_params):
    target_features = encode(target_params, jnp.asarray(target_images))
    target_logits = discriminate(params.adversary, target_features)
    return (jnp.mean(losses.generator_nonsaturating_loss(target_logits)),
            target_features)

  (mapping_value, target_features), target_grads = jax.value_and_grad(
      mapping_loss, has_aux=True)(params.target_encoder)
  (adversary_value, accuracy), adversary_grads = jax.value_and_grad(
      adversary_loss, has_aux=True)(params.adversary,
                                    jax.lax.stop_gradient(target_features))
  target_updates, target_state = target_optimizer.update(
      target_grads, opt_states.target_encoder, params.target_encoder)
  adversary_updates, adversary_state = adversary_optimizer.update(
      adversary_grads, opt_states.adversary, params.adversary)
  new_params = ADDAParams(
      source_encoder=params.source_encoder,
      target_encoder=optax.apply_updates(params.target_encoder, target_updates),
      adversary=optax.apply_updates(params.adversary, adversary_updates))
  metrics = {"adversary_loss": adversary_value, "mapping_loss": mapping_value,
             "adversary_accuracy": accuracy}
  return new_params, ADDAOptimizerStates(target_state, adversary_state), metrics
