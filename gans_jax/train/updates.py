"""Parameter updates around the optimizer: weight clipping, EMA, norms.

Weight clipping (WGAN) has one exact API, the projection
:func:`clip_weights`, applied to the parameters *after* the optimizer step::

  tx = optax.rmsprop(5e-5)
  updates, opt_state = tx.update(grads, opt_state, params)
  params = clip_weights(optax.apply_updates(params, updates), clip=0.01)

which puts every weight in ``[-c, c]`` exactly, after every step. With a
:class:`gans_jax.train.TrainState` it is the ``projection`` argument:
``gj.train.update(state, "discriminator", critic_loss,
projection=functools.partial(clip_weights, clip=0.01))``.

:func:`weight_clipping` is the same rule as an optax transformation, for
code that can only be handed a ``GradientTransformation``
(``optax.chain(optax.rmsprop(5e-5), weight_clipping(0.01))``). It rewrites
the update ``u`` to ``clip(p + u) - p``, but optax applies an update by a
further floating-point addition, ``p + (clip(p + u) - p)``, whose two
roundings can land outside the box by a few float32 ulps of ``|p| + c``
(observed: 6e-9 beyond c = 0.01 after a step from ``|p| = 1``). So it is exact
only up to rounding; follow it with :func:`clip_weights` where exactness
matters (the projection then moves no weight by more than that rounding,
and applying it again changes nothing).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

PyTree = Any
Mask = PyTree | Callable[[PyTree], PyTree] | None


def _is_float(x: jax.Array) -> bool:
  return jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)


def _masked_map(fn, mask: Mask, params: PyTree, *trees: PyTree) -> PyTree:
  """``fn(leaf, *other_leaves, selected)`` over ``params`` and ``trees``."""
  if mask is None:
    return jax.tree.map(lambda *leaves: fn(*leaves, True), params, *trees)
  if callable(mask):
    mask = mask(params)
  return jax.tree.map(fn, params, *trees, mask)


def clip_weights(params: PyTree, clip: float, *, mask: Mask = None) -> PyTree:
  r"""Projects parameters onto the box :math:`[-c, c]`, leaf by leaf.

  .. math::
    w \leftarrow \operatorname{clip}(w, -c, c)

  The WGAN critic's Lipschitz constraint: applied to every critic parameter
  after every optimizer step, as in Algorithm 1 and the official code. The
  bound is ``c`` rounded to each leaf's dtype. Non-floating leaves are
  returned unchanged.

  Args:
    params: a pytree of arrays (a dict, an ``nnx.State``, ...).
    clip: the bound ``c > 0`` (0.01 in the paper).
    mask: which leaves to clip: ``None`` for all of them, a pytree of bools
      with the structure of ``params``, or a function of ``params``
      returning one (the optax masking convention).

  Returns:
    The clipped parameters, same structure and dtypes.

  References:
    Arjovsky, Chintala & Bottou, Wasserstein GAN, 2017 (arXiv 1701.07875).
  """
  if clip <= 0:
    raise ValueError(f"clip must be positive; got {clip}.")

  def project(p, clip_this):
    if clip_this and _is_float(p):
      return jnp.clip(p, -clip, clip)
    return p

  return _masked_map(project, mask, params)


class WeightClippingState(NamedTuple):
  """:func:`weight_clipping` keeps no state."""


def weight_clipping(
    clip: float, *, mask: Mask = None
) -> optax.GradientTransformation:
  r"""WGAN weight clipping as the last link of an optax chain.

  Rewrites each update :math:`u` of a parameter :math:`w` so that applying
  it lands on the clipped point:

  .. math::
    u \leftarrow \operatorname{clip}(w + u, -c, c) - w

  Exact only up to rounding: ``optax.apply_updates`` computes
  ``w + (clip(w + u) - w)``, which can exceed ``c`` by a few ulps of
  ``|w| + c``. The projection :func:`clip_weights` applied after
  ``apply_updates`` is the exact form. Put it last in a chain, e.g.
  ``optax.chain(optax.rmsprop(5e-5), weight_clipping(0.01))``, since the
  ``update`` it sees must be the final one.

  Args:
    clip: the bound ``c > 0`` (0.01 in the paper).
    mask: which leaves to clip, as in :func:`clip_weights`.

  Returns:
    An ``optax.GradientTransformation`` whose ``update`` requires ``params``.

  References:
    Arjovsky, Chintala & Bottou, Wasserstein GAN, 2017 (arXiv 1701.07875).
  """
  if clip <= 0:
    raise ValueError(f"clip must be positive; got {clip}.")

  def init_fn(params):
    del params
    return WeightClippingState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
          "weight_clipping needs params: call update(updates, state, params).")

    def rewrite(p, u, clip_this):
      if clip_this and _is_float(p):
        return (jnp.clip(p + u, -clip, clip) - p).astype(u.dtype)
      return u

    return _masked_map(rewrite, mask, params, updates), state

  return optax.GradientTransformation(init_fn, update_fn)


def ema_update(ema_params: PyTree, params: PyTree, *, decay: float) -> PyTree:
  r"""One step of an exponential moving average of parameters.

  .. math::
    \bar w \leftarrow \beta \bar w + (1 - \beta) w

  The bias-free form: the average starts as a copy of the parameters, so it
  needs no debiasing (unlike Adam's moments, which start at zero). Floating
  leaves are averaged in at least float32 and stored in the average's dtype;
  other leaves (integer counters, keys) take the current value from
  ``params``.

  Args:
    ema_params: the current average; same structure as ``params``.
    params: the parameters after this step's update.
    decay: :math:`\beta \in [0, 1]` (0.999 for ProGAN's generator); may be a
      traced scalar.

  Returns:
    The new average, same structure and dtypes as ``ema_params``.

  References:
    Karras et al., Progressive Growing of GANs, 2018 (arXiv 1710.10196);
    Yazici et al., The Unusual Effectiveness of Averaging in GAN Training,
    2019 (arXiv 1806.04498).
  """

  def average(ema, p):
    if not _is_float(ema):
      return p
    dtype = jnp.promote_types(ema.dtype, jnp.float32)
    new = decay * ema.astype(dtype) + (1.0 - decay) * p.astype(dtype)
    return new.astype(ema.dtype)

  return jax.tree.map(average, ema_params, params)


def global_norm(tree: PyTree) -> jax.Array:
  r"""L2 norm of all entries of a pytree, accumulated in float32.

  .. math::
    \lVert \theta \rVert = \sqrt{\textstyle\sum_\ell \sum_j \theta_{\ell j}^2}

  For logging gradient and parameter norms. Unlike ``optax.tree.norm``,
  which squares and sums in each leaf's dtype, bfloat16 leaves are cast to
  float32 first so the log is not limited by bfloat16's 8-bit mantissa.

  Args:
    tree: a pytree of arrays.

  Returns:
    A scalar in at least float32 (0 for an empty tree).
  """
  total = jnp.zeros((), jnp.float32)
  for leaf in jax.tree.leaves(tree):
    leaf = jnp.asarray(leaf)
    leaf = leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32))
    total = total + jnp.sum(jnp.square(leaf))
  return jnp.sqrt(total)
