r"""SeqGAN's Monte-Carlo rollout rewards and the pieces around them.

These are pure functions of a generator's sampler and a discriminator, not
losses (they run networks) and not engine code (the engine knows no paper),
so they sit at the top level beside :mod:`gans_jax.losses` and
:mod:`gans_jax.penalties`, where any custom step can use them:

- :func:`rollout_rewards`: the intermediate rewards
  :math:`Q(Y_{1:t-1}, y_t)` of SeqGAN's equation 4, by re-sampling the
  suffix after every prefix (``lax.scan`` over prefix lengths);
- :func:`delayed_update`: the rollout network's parameters following the
  generator's with a delay;
- :func:`annealed_temperature`: the exponentially annealed temperature of a
  Gumbel-softmax GAN.

The REINFORCE loss itself is :func:`gans_jax.losses.reinforce_loss` and
the Gumbel-softmax sampler :func:`gans_jax.losses.gumbel_softmax`.

References:
  Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), official code
  LantaoYu/SeqGAN (``rollout.py``); Jang, Gu & Poole, 2017
  (arXiv 1611.01144).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array

# ``sample_fn(key, prefix, prefix_length) -> tokens``: completes each row of
# ``prefix`` (N, L) after its first ``prefix_length`` tokens (a traced int).
SampleFn = Callable[[Array, Array, Array], Array]
# ``discriminator_fn(tokens) -> rewards``: (N, L) int → (N,), e.g. D's
# probability of "real".
DiscriminatorFn = Callable[[Array], Array]

__all__ = ["annealed_temperature", "delayed_update", "rollout_rewards"]


def rollout_rewards(
    generator_sample_fn: SampleFn,
    discriminator_fn: DiscriminatorFn,
    tokens: Array,
    key: Array,
    *,
    num_rollouts: int,
) -> Array:
  r"""SeqGAN's action values by Monte-Carlo search with a rollout policy.

  .. math::
    Q(Y_{1:t-1}, y_t) =
    \begin{cases}
      \frac{1}{N} \sum_{n=1}^{N} D(Y^n_{1:T}),\;
        Y^n_{1:T} \in \mathrm{MC}^{G_\beta}(Y_{1:t}; N) & t < T \\
      D(Y_{1:T}) & t = T
    \end{cases}

  For every prefix length :math:`t = 1 .. T-1` (a ``lax.scan``), the first
  :math:`t` tokens of each sequence are kept and the rest is re-sampled
  ``num_rollouts`` times from the rollout policy; the reward of token
  :math:`t` is the discriminator's mean over those completions. The last
  token's reward is the discriminator's value of the sequence itself, as in
  the official ``rollout.py``. Every prefix length and every rollout draws
  its own key.

  Args:
    generator_sample_fn: ``(key, prefix (N, T), prefix_length) -> (N, T)``
      tokens keeping the first ``prefix_length`` of ``prefix`` and sampling
      the rest, e.g. ``lambda k, p, t: rollout.sample(k, p.shape[0], T,
      prefix=p, prefix_length=t)`` for a :class:`gans_jax.nn.LSTMGenerator`.
      It is called with ``N = num_rollouts * B`` (the batch tiled).
    discriminator_fn: ``(N, T)`` tokens to ``(N,)`` rewards, e.g.
      ``lambda y: jax.nn.sigmoid(discriminator(y))`` with the discriminator
      in eval mode (the official code scores without dropout).
    tokens: the generated sequences ``(B, T)`` int being rewarded.
    key: PRNG key of the rollouts.
    num_rollouts: :math:`N` completions per prefix (16 in SeqGAN).

  Returns:
    Rewards ``(B, T)`` float32, constants for
    :func:`gans_jax.losses.reinforce_loss` (no gradient flows through).

  References:
    Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), equation 4.
  """
  if tokens.ndim != 2:
    raise ValueError(f"tokens must have shape (B, T), got {tokens.shape}")
  if num_rollouts < 1:
    raise ValueError(f"num_rollouts must be >= 1, got {num_rollouts}")
  tokens = jax.lax.stop_gradient(tokens)
  batch, length = tokens.shape
  tiled = jnp.tile(tokens, (num_rollouts, 1))

  def reward_of_prefix(_, t):
    completed = generator_sample_fn(jax.random.fold_in(key, t), tiled, t)
    rewards = jnp.asarray(discriminator_fn(completed), jnp.float32)
    return None, rewards.reshape(num_rollouts, batch).mean(axis=0)

  _, intermediate = jax.lax.scan(reward_of_prefix, None,
                                 jnp.arange(1, length))
  final = jnp.asarray(discriminator_fn(tokens), jnp.float32)[None]
  rewards = jnp.concatenate([intermediate, final], axis=0)
  return jax.lax.stop_gradient(rewards.T)


def delayed_update(rollout_params: Any, params: Any, *,
                   update_rate: float = 0.8) -> Any:
  r"""The rollout network's delayed copy of the generator's parameters.

  .. math::
    \beta \leftarrow r\, \beta + (1 - r)\, \theta

  with :math:`r` = ``update_rate`` weighting the *old rollout* parameters
  (``rollout.py``: ``update_rate * self.W + (1 - update_rate) * lstm.W``,
  r = 0.8). Applied to every leaf of the pytrees. Two departures of the
  official code, stated here so a user can reproduce either: it copies the
  embedding table without delay; and its mixed weights are graph
  expressions of the live generator variables (``tf.identity``), so in
  effect its rollouts use the current generator, which ``update_rate=0``
  reproduces.

  Args:
    rollout_params: :math:`\beta`, a pytree (e.g. ``nnx.state`` of the
      rollout copy).
    params: :math:`\theta`, the generator's pytree of the same structure.
    update_rate: :math:`r \in [0, 1]`.

  Returns:
    The new :math:`\beta`.

  References:
    Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), Algorithm 1 and the
    official ``rollout.py`` / ``sequence_gan.py`` (``ROLLOUT(generator,
    0.8)``).
  """
  if not 0.0 <= update_rate <= 1.0:
    raise ValueError(f"update_rate must lie in [0, 1], got {update_rate}")
  return jax.tree.map(lambda b, p: update_rate * b + (1.0 - update_rate) * p,
                      rollout_params, params)


def annealed_temperature(step: int | Array, *, initial: float = 1.0,
                         minimum: float = 0.5, rate: float = 1e-4) -> Array:
  r"""Gumbel-softmax temperature annealed exponentially to a floor.

  .. math::
    \tau(s) = \max\big(\tau_{\min},\; \tau_0\, e^{-r s}\big)

  Jang et al. anneal :math:`\tau = \max(0.5, \exp(-r t))` with r in
  {1e-5, 1e-4}; the defaults are that schedule.

  Args:
    step: training step s (may be traced).
    initial: :math:`\tau_0`.
    minimum: :math:`\tau_{\min} > 0`.
    rate: :math:`r \ge 0`.

  Returns:
    A float32 scalar.

  References:
    Jang, Gu & Poole, 2017 (arXiv 1611.01144), Section 4.
  """
  if not minimum > 0 or rate < 0:
    raise ValueError(
        f"minimum must be positive and rate non-negative, got {minimum}, "
        f"{rate}")
  step = jnp.asarray(step, jnp.float32)
  return jnp.maximum(minimum, initial * jnp.exp(-rate * step))
