"""Unrolled GAN: the generator's loss through K steps of the discriminator.

The generator minimises the surrogate

.. math::
  f_K(\\theta_G, \\theta_D) = f\\big(\\theta_G, \\theta_D^K(\\theta_G, \\theta_D)\\big),
  \\qquad
  \\theta_D^{k+1} = \\theta_D^k + \\eta^k\\big(
    \\nabla_{\\theta_D} \\mathcal{L}_D(\\theta_D^k, \\theta_G), s^k\\big),
  \\quad \\theta_D^0 = \\theta_D,

where :math:`\\eta^k` is the discriminator's own optimizer with its state
:math:`s^k` (Adam's moments and step count), started from the current
:math:`s^0` and carried from step to step. Its gradient

.. math::
  \\frac{d f_K}{d\\theta_G} = \\frac{\\partial f}{\\partial\\theta_G}
  + \\frac{\\partial f}{\\partial\\theta_D^K}
    \\frac{d\\theta_D^K}{d\\theta_G}

has the second term through the K updates: here ``jax.grad`` through a
``lax.scan`` of optax updates. ``stop_gradient=True`` drops that term (the
first-order variant, the generator's ordinary gradient evaluated at the
look-ahead :math:`\\theta_D^K`). The discriminator itself still takes one
ordinary step: the unrolled parameters serve only the generator's loss and
are thrown away.

The losses are functions of parameter pytrees, so any pair of players fits:
``d_loss_fn(d_params, g_params, batch)`` is the discriminator's loss on one
batch (it calls the generator, so the unrolled parameters depend on
``g_params``), ``g_loss_fn(g_params, d_params)`` the generator's.

Data per unroll step: ``batches`` holds one batch per step stacked along a
leading axis of length ``steps`` (fresh real data and noise at each step).
The official demo (github.com/poolio/unrolled_gan) instead replays the one
batch of the current iteration, the same real samples and the same noise,
at every unroll step; :func:`repeat_batch` builds that.

This lives in :mod:`gans_jax.train` beside the other update helpers: it
owns an optimizer and its state, which the pure losses of
:mod:`gans_jax.losses` never do.

References:
  Metz, Poole, Pfau & Sohl-Dickstein, Unrolled Generative Adversarial
  Networks, 2017 (arXiv 1611.02163), Section 2 and equations (4)-(7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

PyTree = Any
DiscriminatorLoss = Callable[[PyTree, PyTree, PyTree], jax.Array]
GeneratorLoss = Callable[[PyTree, PyTree], jax.Array]

__all__ = ["UnrolledUpdate", "repeat_batch", "unroll", "unrolled_gan_update",
           "unrolled_generator_loss"]


def repeat_batch(batch: PyTree, steps: int) -> PyTree:
  """The same ``batch`` for each of ``steps`` unroll steps (the official demo).

  Args:
    batch: any pytree of arrays.
    steps: the number of unroll steps K.

  Returns:
    ``batch`` with every leaf broadcast to a leading axis of length ``steps``.
  """
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (steps,) + jnp.shape(x)),
                      batch)


def _check_batches(batches: PyTree, steps: int) -> None:
  leaves = jax.tree.leaves(batches)
  if not leaves:
    raise ValueError("batches must hold one batch per unroll step, got an "
                     "empty pytree")
  lengths = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
  if lengths != {steps}:
    raise ValueError(
        f"every leaf of batches must have a leading axis of length steps="
        f"{steps} (one batch per unroll step; repeat_batch replays one), got "
        f"leading sizes {sorted(lengths, key=str)}")


def unroll(d_params: PyTree, d_opt_state: optax.OptState,
           optimizer: optax.GradientTransformation,
           d_loss_fn: DiscriminatorLoss, g_params: PyTree, *, steps: int,
           batches: PyTree | None,
           stop_gradient: bool = False) -> tuple[PyTree, optax.OptState]:
  """K steps of the discriminator's optimizer, differentiable in ``g_params``.

  .. math::
    g^k = \\nabla_{\\theta_D} \\mathcal{L}_D(\\theta_D^k, \\theta_G, b_k),
    \\quad (u^k, s^{k+1}) = \\mathrm{update}(g^k, s^k, \\theta_D^k),
    \\quad \\theta_D^{k+1} = \\theta_D^k + u^k

  for :math:`k = 0 \\ldots K-1` from :math:`(\\theta_D, s)` =
  ``(d_params, d_opt_state)``, as one ``lax.scan``.

  Args:
    d_params: the discriminator's current parameters :math:`\\theta_D`.
    d_opt_state: its optimizer's current state (carried through the K steps,
      never reset).
    optimizer: the discriminator's optax optimizer.
    d_loss_fn: ``(d_params, g_params, batch) -> scalar`` loss it minimises.
    g_params: the generator's parameters :math:`\\theta_G`.
    steps: K >= 0; 0 returns the inputs unchanged.
    batches: one batch per step, stacked along a leading axis of length
      ``steps`` (:func:`repeat_batch` replays one); may be ``None`` for
      ``steps=0``.
    stop_gradient: if True, the result is a constant for ``jax.grad`` (no
      gradient flows back through the steps into ``g_params`` or
      ``d_params``).

  Returns:
    ``(d_params_K, d_opt_state_K)``.
  """
  if steps < 0:
    raise ValueError(f"steps must be >= 0, got {steps}")
  if steps == 0:
    return d_params, d_opt_state
  _check_batches(batches, steps)
  if stop_gradient:
    # Nothing downstream may differentiate through the steps, so none of
    # their inputs needs a tangent.
    d_params, d_opt_state, g_params = jax.lax.stop_gradient(
        (d_params, d_opt_state, g_params))

  def step(carry, batch):
    params, opt_state = carry
    grads = jax.grad(d_loss_fn)(params, g_params, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (d_params, d_opt_state), _ = jax.lax.scan(step, (d_params, d_opt_state),
                                            batches, length=steps)
  if stop_gradient:
    d_params, d_opt_state = jax.lax.stop_gradient((d_params, d_opt_state))
  return d_params, d_opt_state


def unrolled_generator_loss(g_loss_fn: GeneratorLoss, g_params: PyTree,
                            d_params: PyTree, d_opt_state: optax.OptState,
                            optimizer: optax.GradientTransformation,
                            d_loss_fn: DiscriminatorLoss, *, steps: int,
                            batches: PyTree | None,
                            stop_gradient: bool = False) -> jax.Array:
  """The generator's surrogate loss :math:`f(\\theta_G, \\theta_D^K)`.

  ``jax.grad`` of it with respect to ``g_params`` (its second argument) is
  the unrolled GAN's generator gradient: through the K updates of
  :func:`unroll` unless ``stop_gradient`` (then only
  :math:`\\partial f / \\partial \\theta_G` at :math:`\\theta_D^K`). With
  ``steps=0`` it is ``g_loss_fn(g_params, d_params)``, the ordinary GAN.

  Args:
    g_loss_fn: ``(g_params, d_params) -> scalar`` generator loss :math:`f`.
    g_params: the generator's parameters, what the gradient is taken for.
    d_params: the discriminator's parameters; ``d_opt_state``,
      ``optimizer``, ``d_loss_fn``, ``steps``, ``batches`` and
      ``stop_gradient`` are as for :func:`unroll`.

  Returns:
    The scalar loss.
  """
  unrolled, _ = unroll(d_params, d_opt_state, optimizer, d_loss_fn, g_params,
                       steps=steps, batches=batches,
                       stop_gradient=stop_gradient)
  return g_loss_fn(g_params, unrolled)


class UnrolledUpdate(NamedTuple):
  """One simultaneous step of both players (:func:`unrolled_gan_update`)."""
  g_params: PyTree
  g_opt_state: optax.OptState
  d_params: PyTree
  d_opt_state: optax.OptState
  g_loss: jax.Array
  d_loss: jax.Array


def unrolled_gan_update(g_params: PyTree, g_opt_state: optax.OptState,
                        g_optimizer: optax.GradientTransformation,
                        d_params: PyTree, d_opt_state: optax.OptState,
                        d_optimizer: optax.GradientTransformation,
                        g_loss_fn: GeneratorLoss, d_loss_fn: DiscriminatorLoss,
                        *, steps: int, batches: PyTree,
                        stop_gradient: bool = False) -> UnrolledUpdate:
  """One unrolled-GAN iteration: G on the unrolled loss, D one plain step.

  Both gradients are taken at the current :math:`(\\theta_G, \\theta_D)`
  (simultaneous updates, as the official demo runs its two train ops in one
  ``session.run``). The generator steps along
  :math:`\\nabla_{\\theta_G} f(\\theta_G, \\theta_D^K)`; the discriminator takes
  one step of its optimizer on ``batches``' first batch, which is the first
  unroll step itself, not the K-th: :math:`\\theta_D^K` is discarded.

  Args:
    g_params, g_opt_state, g_optimizer: the generator and its optimizer.
    d_params, d_opt_state, d_optimizer: the discriminator and its optimizer.
    g_loss_fn: ``(g_params, d_params) -> scalar``.
    d_loss_fn: ``(d_params, g_params, batch) -> scalar``.
    steps: K >= 1 unroll steps (K = 0 gives the ordinary GAN step).
    batches: one batch per unroll step, leading axis ``max(steps, 1)``.
    stop_gradient: the first-order variant (see :func:`unroll`).

  Returns:
    The new parameters and optimizer states of both players, the
    generator's unrolled loss and the discriminator's loss, both before
    the step.
  """
  g_loss, g_grads = jax.value_and_grad(unrolled_generator_loss, argnums=1)(
      g_loss_fn, g_params, d_params, d_opt_state, d_optimizer, d_loss_fn,
      steps=steps, batches=batches, stop_gradient=stop_gradient)
  first_batch = jax.tree.map(lambda x: x[0], batches)
  d_loss, d_grads = jax.value_and_grad(d_loss_fn)(d_params, g_params,
                                                  first_batch)
  g_updates, g_opt_state = g_optimizer.update(g_grads, g_opt_state, g_params)
  d_updates, d_opt_state = d_optimizer.update(d_grads, d_opt_state, d_params)
  return UnrolledUpdate(optax.apply_updates(g_params, g_updates), g_opt_state,
                        optax.apply_updates(d_params, d_updates), d_opt_state,
                        g_loss, d_loss)
