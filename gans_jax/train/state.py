"""The training state: Flax NNX models held as pure pytrees.

A model is split once, at the step boundary, into a static ``graphdef`` and two
pytrees of arrays: the trainable ``params`` and the ``rest`` (BatchNorm
statistics). Inside a jitted step the model is merged back with
``copy=True`` so that BatchNorm may update its statistics under ``jax.grad``
(merging Variables created outside the trace would raise
``TraceContextError``), and the updated statistics come back as a new pytree.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from flax import struct

from gans_jax.train import updates as updates_lib

PyTree = Any


class Network(struct.PyTreeNode):
  """A Flax NNX module as a pure pytree: static graph, params, other state.

  Attributes:
    graphdef: the module's structure (static; part of the jit cache key).
    params: the ``nnx.Param`` variables, the ones gradients are taken for.
    rest: every other variable (BatchNorm running statistics, ...).
  """

  graphdef: nnx.GraphDef = struct.field(pytree_node=False)
  params: nnx.State
  rest: nnx.State

  @classmethod
  def create(cls, module: nnx.Module) -> "Network":
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    return cls(graphdef=graphdef, params=params, rest=rest)

  def apply(self, *args, params: nnx.State | None = None, **kwargs):
    """Calls the module in training mode as a pure function.

    Args:
      *args: positional inputs of the module's ``__call__``.
      params: parameters to use instead of ``self.params`` (pass the ones
        being differentiated).
      **kwargs: keyword inputs of the module's ``__call__`` (``labels``,
        ``rngs``).

    Returns:
      ``(output, network)``: the network carries the updated ``rest``
      (BatchNorm statistics after this batch).
    """
    module = nnx.merge(self.graphdef, self.params if params is None else params,
                       self.rest, copy=True)
    output = module(*args, **kwargs)
    return output, self.replace(rest=nnx.state(module, nnx.Not(nnx.Param)))

  def module(self, *, train: bool = False,
             params: nnx.State | None = None) -> nnx.Module:
    """A fresh module with these variables, in eval mode unless ``train``."""
    module = nnx.merge(self.graphdef, self.params if params is None else params,
                       self.rest, copy=True)
    if not train:
      module.eval()
    return module


def count_params(network: Network) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(network.params))


class GANState(struct.PyTreeNode):
  """State of a generator/discriminator pair and their optimizers.

  Attributes:
    step: generator updates done so far (the paper's iteration counter; the
      training loop keeps its own count of calls to the step).
    generator, discriminator: the two networks.
    g_opt_state, d_opt_state: their optax states.
    ema_params: an exponential moving average of the generator's params, or
      ``None`` when ``ema_decay`` is ``None``.
    g_optimizer, d_optimizer: the optax transformations (static).
    ema_decay: the EMA decay (static), or ``None``.
  """

  step: jax.Array
  generator: Network
  discriminator: Network
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  ema_params: nnx.State | None
  g_optimizer: optax.GradientTransformation = struct.field(pytree_node=False)
  d_optimizer: optax.GradientTransformation = struct.field(pytree_node=False)
  ema_decay: float | None = struct.field(pytree_node=False, default=None)

  @classmethod
  def create(cls, *, generator: nnx.Module, discriminator: nnx.Module,
             g_optimizer: optax.GradientTransformation,
             d_optimizer: optax.GradientTransformation,
             ema_decay: float | None = None) -> "GANState":
    g, d = Network.create(generator), Network.create(discriminator)
    return cls(
        step=jnp.zeros((), jnp.int32),
        generator=g,
        discriminator=d,
        g_opt_state=g_optimizer.init(g.params),
        d_opt_state=d_optimizer.init(d.params),
        ema_params=None if ema_decay is None else jax.tree.map(jnp.copy, g.params),
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        ema_decay=ema_decay,
    )

  def apply_discriminator_gradients(
      self, grads: nnx.State, *,
      projection: Callable[[nnx.State], nnx.State] | None = None) -> "GANState":
    """One optimizer update of the discriminator; ``projection`` (e.g. WGAN's
    weight clipping) is applied to the updated parameters."""
    updates, opt_state = self.d_optimizer.update(
        grads, self.d_opt_state, self.discriminator.params)
    params = optax.apply_updates(self.discriminator.params, updates)
    if projection is not None:
      params = projection(params)
    return self.replace(discriminator=self.discriminator.replace(params=params),
                        d_opt_state=opt_state)

  def apply_generator_gradients(self, grads: nnx.State) -> "GANState":
    """One optimizer update of the generator, its EMA, and ``step + 1``."""
    updates, opt_state = self.g_optimizer.update(
        grads, self.g_opt_state, self.generator.params)
    params = optax.apply_updates(self.generator.params, updates)
    ema = self.ema_params
    if ema is not None:
      ema = updates_lib.ema_update(ema, params, decay=self.ema_decay)
    return self.replace(generator=self.generator.replace(params=params),
                        g_opt_state=opt_state, ema_params=ema, step=self.step + 1)

  def sampling_generator(self) -> nnx.Module:
    """The generator to sample from: EMA weights when kept, in eval mode."""
    return self.generator.module(params=self.ema_params)
