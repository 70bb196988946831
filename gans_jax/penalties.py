r"""Gradient penalties on a critic's input gradient.

Every penalty here takes the critic as a plain function
``critic(x) -> scores`` of a batch ``x`` of shape ``(B, ...)`` (points
``(B, 2)``, images ``(B, H, W, C)``, any rank) returning scores of shape
``(B,)`` or ``(B, 1)``, and returns *per-example* penalty values of shape
``(B,)``; the caller takes the mean and multiplies by its weight (λ, γ/2, ε).
Gradient norms are computed in at least float32, even when the critic runs
in bfloat16: the gradient is cast to float32 (float64 stays float64) before
it is squared and summed, so a bfloat16 critic still gets float32 norms.

How the input gradient is taken is an explicit, required keyword-only
argument ``mode``, because neither choice is right for every critic and a
silent default would be wrong for one family:

* ``mode="per_example"``:
  ``jax.vmap(jax.grad(lambda xi: critic(xi[None])[0]))``. Each example's
  gradient is that of *its own* score computed on a batch of one, so it is
  correct by construction; it requires a critic that does not couple
  examples (no BatchNorm in train mode, no minibatch standard deviation),
  since such a critic would see batches of one.
* ``mode="batch"``: ``jax.grad(lambda x: sum(critic(x)))`` on the whole batch.
  Example ``i`` gets :math:`\nabla_{x_i} \sum_j D(x)_j`, which equals its
  own gradient only when examples do not interact. For critics that couple
  examples (BatchNorm in train mode, minibatch standard deviation) it is
  the standard practice (ProGAN's official code does this) and the only
  form that runs the critic as it is trained. It is also one backward pass
  instead of ``B`` vmapped ones.

Making ``mode`` required puts the choice, and the reason for it, at the call
site: a WGAN-GP critic (no BatchNorm, as Gulrajani et al. recommend) uses
``"per_example"``; a ProGAN critic with minibatch-stddev uses ``"batch"``.

Both modes go through one private helper, :func:`_squared_gradient_norms`,
so there is one way to compute the input-gradient norm.
"""

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

Critic = Callable[[jax.Array], jax.Array]
Mode = Literal["per_example", "batch"]

_MODES = ("per_example", "batch")


def _at_least_float32(x: jax.Array) -> jax.Array:
  """Casts bfloat16/float16 (and integers) up to float32; float64 stays."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _as_scores(scores: jax.Array, batch_size: int) -> jax.Array:
  """Returns scores with shape ``(B,)``; accepts ``(B,)`` or ``(B, 1)``."""
  scores = jnp.asarray(scores)
  if scores.shape == (batch_size, 1):
    scores = scores[:, 0]
  if scores.shape != (batch_size,):
    raise ValueError(
        f"critic must return scores of shape ({batch_size},) or "
        f"({batch_size}, 1) for a batch of {batch_size}; got {scores.shape}."
    )
  return scores


def _input_gradients(critic: Critic, x: jax.Array, *, mode: Mode) -> jax.Array:
  """Gradient of each example's score with respect to that example's input."""
  if mode not in _MODES:
    raise ValueError(f"mode must be one of {_MODES}; got {mode!r}.")
  if x.ndim < 1:
    raise ValueError(f"x must have a leading batch axis; got shape {x.shape}.")
  if mode == "per_example":

    def single_score(xi):
      return _as_scores(critic(xi[None]), 1)[0]

    return jax.vmap(jax.grad(single_score))(x)

  def summed_scores(xb):
    return jnp.sum(_as_scores(critic(xb), xb.shape[0]))

  return jax.grad(summed_scores)(x)


def _squared_gradient_norms(
    critic: Critic, x: jax.Array, *, mode: Mode
) -> jax.Array:
  """Per-example squared L2 norm of the input gradient, in at least float32."""
  grads = _at_least_float32(_input_gradients(critic, x, mode=mode))
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def _safe_norm(squared_norms: jax.Array) -> jax.Array:
  """Square root that is exact for every input and has gradient 0 at 0.

  ``sqrt`` has an infinite derivative at 0, which turns into NaN when the
  penalty is differentiated with respect to the critic's parameters at a
  point where the input gradient vanishes (a dead-ReLU critic, a flat
  region). Instead of adding an epsilon inside the square root, which would
  bias every norm, the double ``where`` evaluates ``sqrt`` only on positive
  values and uses the subgradient 0 at 0.
  """
  positive = squared_norms > 0
  safe = jnp.where(positive, squared_norms, 1.0)
  return jnp.where(positive, jnp.sqrt(safe), 0.0)


def gradient_norms(critic: Critic, x: jax.Array, *, mode: Mode) -> jax.Array:
  r"""Per-example L2 norm of the critic's input gradient.

  .. math::
    n_i = \lVert \nabla_{x_i} D(x_i) \rVert_2

  (in ``"batch"`` mode, the gradient of :math:`\sum_j D(x)_j`). Useful for
  logging how far a critic is from 1-Lipschitz.

  Args:
    critic: function from a batch ``(B, ...)`` to scores ``(B,)`` or
      ``(B, 1)``.
    x: inputs of shape ``(B, ...)``.
    mode: ``"per_example"`` or ``"batch"``; see the module docstring.

  Returns:
    Norms of shape ``(B,)``, float32 (float64 for float64 inputs).
  """
  return _safe_norm(_squared_gradient_norms(critic, x, mode=mode))


def gradient_penalty(
    critic: Critic,
    real: jax.Array,
    fake: jax.Array,
    key: jax.Array,
    *,
    mode: Mode,
    target: float = 1.0,
    one_sided: bool = False,
) -> jax.Array:
  r"""WGAN-GP gradient penalty at random interpolates of real and fake data.

  .. math::
    \hat x_i = \epsilon_i x_i + (1 - \epsilon_i) \tilde x_i,
    \quad \epsilon_i \sim U[0, 1], \qquad
    p_i = \left(\lVert \nabla_{\hat x_i} D(\hat x_i) \rVert_2 - t\right)^2

  with one :math:`\epsilon_i` per example broadcast over its dimensions. The
  one-sided form is :math:`\max(0, \lVert \nabla D(\hat x_i) \rVert_2 - t)^2`,
  which only penalises slopes above the target.

  Args:
    critic: function from a batch ``(B, ...)`` to scores ``(B,)`` or
      ``(B, 1)``.
    real: real examples, shape ``(B, ...)``.
    fake: generated examples, same shape as ``real``.
    key: PRNG key for the interpolation coefficients.
    mode: ``"per_example"`` or ``"batch"``; see the module docstring.
    target: the gradient norm the penalty pulls towards (1 for WGAN-GP).
    one_sided: penalise only norms above ``target``.

  Returns:
    Per-example penalties of shape ``(B,)``, in at least float32. Multiply
    the mean by λ (10 in the paper).

  References:
    Gulrajani et al., Improved Training of Wasserstein GANs, 2017
    (arXiv 1704.00028).
  """
  if real.shape != fake.shape:
    raise ValueError(
        f"real and fake must have the same shape; got {real.shape} and "
        f"{fake.shape}."
    )
  eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  eps = jax.random.uniform(key, eps_shape, dtype=jnp.float32)
  dtype = jnp.result_type(real, fake)
  x_hat = (eps * real + (1.0 - eps) * fake).astype(dtype)
  excess = gradient_norms(critic, x_hat, mode=mode) - target
  if one_sided:
    excess = jnp.maximum(excess, 0.0)
  return jnp.square(excess)


def r1_penalty(critic: Critic, real: jax.Array, *, mode: Mode) -> jax.Array:
  r"""R1 regulariser: squared input-gradient norm at real data.

  .. math::
    p_i = \lVert \nabla_{x_i} D(x_i) \rVert_2^2, \quad x_i \sim P_{data}

  Args:
    critic: function from a batch ``(B, ...)`` to scores ``(B,)`` or
      ``(B, 1)``.
    real: real examples, shape ``(B, ...)``.
    mode: ``"per_example"`` or ``"batch"``; see the module docstring.

  Returns:
    Per-example penalties of shape ``(B,)``, in at least float32. The
    paper's weight γ/2 is the caller's.

  References:
    Mescheder, Geiger & Nowozin, Which Training Methods for GANs do actually
    Converge?, 2018 (arXiv 1801.04406).
  """
  return _squared_gradient_norms(critic, real, mode=mode)


def r2_penalty(critic: Critic, fake: jax.Array, *, mode: Mode) -> jax.Array:
  r"""R2 regulariser: :func:`r1_penalty` at generated data,
  :math:`p_i = \lVert \nabla_{\tilde x_i} D(\tilde x_i) \rVert_2^2`,
  :math:`\tilde x_i \sim P_\theta`; the same arguments (``fake`` for
  ``real``), the same per-example result and the same reference.
  """
  return _squared_gradient_norms(critic, fake, mode=mode)


def dragan_penalty(
    critic: Critic,
    real: jax.Array,
    key: jax.Array,
    *,
    mode: Mode,
    scale: float = 0.5,
    target: float = 1.0,
    interpolate: bool = True,
) -> jax.Array:
  r"""DRAGAN gradient penalty around noisy perturbations of real data.

  .. math::
    x^p_i = x_i + s \cdot \sigma(x) \cdot u_i,
    \quad u_i \sim U[0, 1)^{\dim x}, \qquad
    \hat x_i = x_i + \alpha_i (x^p_i - x_i), \quad \alpha_i \sim U[0, 1],

  .. math::
    p_i = \left(\lVert \nabla_{\hat x_i} D(\hat x_i) \rVert_2 - t\right)^2

  where :math:`\sigma(x)` is the standard deviation of all entries of the
  real batch, :math:`u_i` is drawn elementwise and :math:`\alpha_i` once per
  example. This is the authors' reference code (``X_p = X + 0.5 * X.std() *
  U[0, 1)``, then the gradient at ``X + alpha * (X_p - X)``); the paper's
  text describes Gaussian noise :math:`\delta \sim N(0, cI)` instead.
  ``interpolate=False`` penalises at :math:`x^p_i` itself (:math:`\alpha = 1`).

  Args:
    critic: function from a batch ``(B, ...)`` to scores ``(B,)`` or
      ``(B, 1)``.
    real: real examples, shape ``(B, ...)``.
    key: PRNG key for the perturbation and the interpolation.
    mode: ``"per_example"`` or ``"batch"``; see the module docstring.
    scale: the factor :math:`s` on the batch standard deviation.
    target: the gradient norm the penalty pulls towards.
    interpolate: take the gradient between :math:`x` and :math:`x^p` (the
      reference code) rather than at :math:`x^p`.

  Returns:
    Per-example penalties of shape ``(B,)``, in at least float32. Multiply
    the mean by λ (10 in the paper).

  References:
    Kodali et al., On Convergence and Stability of GANs, 2017
    (arXiv 1705.07215); the reference code, kodalinaveen3/DRAGAN.
  """
  key_noise, key_alpha = jax.random.split(key)
  x = _at_least_float32(real)
  u = jax.random.uniform(key_noise, real.shape, dtype=x.dtype)
  difference = scale * jnp.std(x) * u
  if interpolate:
    alpha_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    difference = jax.random.uniform(key_alpha, alpha_shape, dtype=x.dtype) * difference
  x_hat = (x + difference).astype(real.dtype)
  excess = gradient_norms(critic, x_hat, mode=mode) - target
  return jnp.square(excess)


def drift_penalty(real_scores: jax.Array) -> jax.Array:
  r"""ProGAN drift penalty: squared critic score on real data.

  .. math::
    p_i = D(x_i)^2

  Keeps the critic's output from drifting far from zero, which the
  Wasserstein loss alone leaves unconstrained.

  Args:
    real_scores: critic scores on real data, shape ``(B,)`` or ``(B, 1)``.

  Returns:
    Per-example penalties of shape ``(B,)``, in at least float32. The
    paper's weight ε = 0.001 is the caller's.

  References:
    Karras et al., Progressive Growing of GANs for Improved Quality,
    Stability, and Variation, 2018 (arXiv 1710.10196).
  """
  real_scores = jnp.asarray(real_scores)
  scores = _as_scores(real_scores, real_scores.shape[0])
  return jnp.square(_at_least_float32(scores))
