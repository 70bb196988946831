"""The training state: named players, their optimizers, EMAs and extra state.

A *player* is one network of the game, held as a :class:`Network`: a Flax NNX
module split once into a static ``graphdef`` and two pytrees of arrays, the
trainable ``params`` and the ``rest`` (BatchNorm statistics). Inside a jitted
step a network is merged back with ``copy=True`` so that BatchNorm may update
its statistics under ``jax.grad`` (merging Variables created outside the trace
would raise ``TraceContextError``), and the updated statistics come back as a
new pytree.

An algorithm's state is a subclass of :class:`TrainState` whose fields are its
players, so that the whole state reads as one definition::

  class CycleGANState(gj.train.TrainState):
    g_ab: gj.train.Network   # G: A -> B
    g_ba: gj.train.Network   # F: B -> A
    d_a: gj.train.Network    # tells real A from F(b)
    d_b: gj.train.Network    # tells real B from G(a)
    extra: ImagePools        # what the algorithm keeps besides the players

  state = CycleGANState.create(
      g_ab=..., g_ba=..., d_a=..., d_b=...,     # NNX modules
      optimizers={("g_ab", "g_ba"): adam, "d_a": adam, "d_b": adam},
      extra=ImagePools(...))

The base class adds what every algorithm needs: the optimizer states, one
per *optimizer group* (a player, or several players sharing one optimizer,
as CycleGAN's two generators share one Adam), an update counter per group,
exponential moving averages of chosen players (parameters *and* BatchNorm
statistics), and ``extra``, a pytree for the algorithm's own state (image
pools, counters, a phase). :class:`GANState` is the two-player case with the
names ``generator`` and ``discriminator``.

A step updates a player with :func:`update`, the gradient of a loss and one
optimizer step (its EMA and counter included)::

  state, d_loss = gj.train.update(state, "discriminator", critic_loss, real, fake)

and :meth:`TrainState.apply_gradients` is the same update from gradients
computed otherwise (a saved ``jax.vjp``, or two players' gradients taken at
the same point before either moves).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Sequence, TypeVar

import chex
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from flax import struct

from gans_jax.train import updates as updates_lib

PyTree = Any
State = TypeVar("State", bound="TrainState")
Projection = Callable[[nnx.State], nnx.State]

MODES = ("eval", "train")


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
    module = self.module(train=True, params=params)
    output = module(*args, **kwargs)
    return output, self.replace(rest=nnx.state(module, nnx.Not(nnx.Param)))

  def module(self, *, train: bool = False,
             params: nnx.State | None = None) -> nnx.Module:
    """A fresh module with these variables.

    Args:
      train: training mode (BatchNorm on batch statistics, dropout on) when
        True; evaluation mode (running statistics, no dropout) otherwise.
      params: parameters to use instead of ``self.params``.

    Create it inside the traced function that calls it (a module created
    outside ``jit`` and called in train mode inside it would update
    Variables of another trace).
    """
    module = nnx.merge(self.graphdef, self.params if params is None else params,
                       self.rest, copy=True)
    if train:
      module.train()
    else:
      module.eval()
    return module


def count_params(network: Network) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(network.params))


def ema_network(ema: Network, network: Network, *, decay) -> Network:
  """One EMA step of a network: parameters and BatchNorm statistics.

  .. math::
    \\bar\\theta \\leftarrow \\beta \\bar\\theta + (1 - \\beta)\\theta

  for every floating variable, the running statistics included, so that the
  averaged network is normalised with statistics that moved with it;
  integer variables take the current value.
  """
  return ema.replace(
      params=updates_lib.ema_update(ema.params, network.params, decay=decay),
      rest=updates_lib.ema_update(ema.rest, network.rest, decay=decay))


class OptimizerGroup(NamedTuple):
  """Players updated by one optax transformation (static part of the state).

  The transformation sees the players' parameters as one pytree
  ``{player: params}``, as the official CycleGAN code chains its two
  generators' parameters into one Adam.
  """

  name: str
  players: tuple[str, ...]
  tx: optax.GradientTransformation


def _group_name(key: str | Sequence[str]) -> tuple[str, tuple[str, ...]]:
  if isinstance(key, str):
    return key, (key,)
  players = tuple(key)
  if not players or not all(isinstance(p, str) for p in players):
    raise ValueError(f"an optimizer key must be a player name or a tuple of "
                     f"player names, got {key!r}")
  return "+".join(players), players


class TrainState(struct.PyTreeNode, kw_only=True):
  """Named players (the :class:`Network` fields of a subclass), their
  optimizers and EMAs, and the algorithm's ``extra`` state.

  Attributes:
    opt_states: the optax state of each optimizer group, by group name (a
      player's name, or the names of players sharing an optimizer joined by
      ``+``).
    updates: how many updates each optimizer group has made (int32).
    ema: exponential moving averages of some players, by player name.
    extra: the algorithm's own pytree (``None`` when it keeps nothing).
    optimizers: the optimizer groups (static).
    ema_decays: ``(player, decay)`` pairs (static).
  """

  opt_states: dict[str, optax.OptState]
  updates: dict[str, jax.Array]
  ema: dict[str, Network]
  extra: PyTree = None
  optimizers: tuple[OptimizerGroup, ...] = struct.field(pytree_node=False,
                                                        default=())
  ema_decays: tuple[tuple[str, float], ...] = struct.field(pytree_node=False,
                                                           default=())

  # ------------------------------------------------------------- creation --

  @classmethod
  def create(cls, *, optimizers: Mapping[str | tuple[str, ...],
                                         optax.GradientTransformation],
             ema_decay: Mapping[str, float | None] | None = None,
             extra: PyTree = None, **players_and_fields):
    """Builds the state from NNX modules (or Networks) and optimizers.

    Args:
      optimizers: an optax transformation per player, or per tuple of players
        that share it.
      ema_decay: ``{player: decay}`` for the players to keep an EMA of
        (``None`` values are skipped).
      extra: the algorithm's own state.
      **players_and_fields: the subclass's fields: NNX modules become
        :class:`Network` players; anything else is stored as given.

    Raises:
      ValueError: an optimizer or EMA names no player, or a player is in two
        optimizer groups.
    """
    fields = {}
    for name, value in players_and_fields.items():
      fields[name] = Network.create(value) if isinstance(value, nnx.Module) else value
    players = {n for n, v in fields.items() if isinstance(v, Network)}
    groups, owner = [], {}
    for key, tx in optimizers.items():
      name, members = _group_name(key)
      for player in members:
        if player not in players:
          raise ValueError(f"optimizer {name!r} names {player!r}, which is not "
                           f"a player; players: {sorted(players)}")
        if player in owner:
          raise ValueError(f"player {player!r} is in two optimizer groups, "
                           f"{owner[player]!r} and {name!r}")
        owner[player] = name
      groups.append(OptimizerGroup(name, members, tx))
    decays = tuple((p, float(d)) for p, d in (ema_decay or {}).items()
                   if d is not None)
    for player, decay in decays:
      if player not in players:
        raise ValueError(f"ema_decay names {player!r}, which is not a player; "
                         f"players: {sorted(players)}")
      if not 0.0 <= decay <= 1.0:
        raise ValueError(f"ema_decay[{player!r}] must be in [0, 1], got {decay}")
    return cls(
        opt_states={g.name: g.tx.init({p: fields[p].params for p in g.players})
                    for g in groups},
        updates={g.name: jnp.zeros((), jnp.int32) for g in groups},
        ema={p: jax.tree.map(jnp.copy, fields[p]) for p, _ in decays},
        extra=extra, optimizers=tuple(groups), ema_decays=decays, **fields)

  # -------------------------------------------------------------- players --

  @property
  def player_names(self) -> tuple[str, ...]:
    """The names of the :class:`Network` fields, in definition order."""
    return tuple(f.name for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), Network))

  def player(self, name: str) -> Network:
    value = getattr(self, name, None)
    if not isinstance(value, Network):
      raise KeyError(f"{name!r} is not a player; players: {self.player_names}")
    return value

  def group(self, name: str) -> OptimizerGroup:
    """The optimizer group called ``name`` (or the one a player is in)."""
    for g in self.optimizers:
      if g.name == name or name in g.players:
        return g
    raise KeyError(f"no optimizer group {name!r}; groups: "
                   f"{[g.name for g in self.optimizers]}")

  # -------------------------------------------------------------- updates --

  def apply_gradients(self, grads: Mapping[str, nnx.State], *,
                      projection: Projection | Mapping[str, Projection] | None = None):
    """One optimizer update of every group the gradients are given for.

    Each group's transformation updates ``{player: params}`` of its players;
    then ``projection`` (e.g. WGAN's weight clipping) is applied to each
    updated player's parameters, each player with an EMA has it updated,
    and the group's update counter goes up by one.

    Args:
      grads: ``{player: gradient of its params}``. Players that share an
        optimizer must all be given.
      projection: a function of a player's updated parameters, or
        ``{player: function}``.

    Returns:
      The updated state.

    Raises:
      KeyError: a name is not a player with an optimizer, or a shared
        optimizer's players are given only in part.
      AssertionError: a player's gradients do not match its parameters'
        structure and shapes.
    """
    grads = dict(grads)
    opt_states, counts = dict(self.opt_states), dict(self.updates)
    new: dict[str, Network] = {}
    for g in self.optimizers:
      given = [p for p in g.players if p in grads]
      if not given:
        continue
      if len(given) != len(g.players):
        raise KeyError(f"players {g.players} share optimizer {g.name!r}: give "
                       f"gradients for all of them, not only {given}")
      params = {p: self.player(p).params for p in g.players}
      for p in g.players:
        # Gradients of the wrong player otherwise fail deep inside optax.
        chex.assert_trees_all_equal_shapes(
            grads[p], params[p],
            custom_message=f"the gradients given for player {p!r} do not have "
                           "the structure and shapes of its parameters")
      updates, opt_states[g.name] = g.tx.update(
          {p: grads.pop(p) for p in g.players}, opt_states[g.name], params)
      params = optax.apply_updates(params, updates)
      for p in g.players:
        fn = projection.get(p) if isinstance(projection, Mapping) else projection
        new[p] = self.player(p).replace(
            params=params[p] if fn is None else fn(params[p]))
      counts[g.name] = counts[g.name] + 1
    if grads:
      raise KeyError(f"no optimizer updates {sorted(grads)}; optimizer groups: "
                     f"{[g.players for g in self.optimizers]}")
    ema = dict(self.ema)
    for p, decay in self.ema_decays:
      if p in new:
        ema[p] = ema_network(ema[p], new[p], decay=decay)
    return self.replace(opt_states=opt_states, updates=counts, ema=ema, **new)

  def reset_optimizers(self, *names: str):
    """Fresh optimizer states (and zero counters) for the named groups, or all
    of them (ProGAN resets Adam when a new resolution starts)."""
    groups = [self.group(n) for n in names] if names else list(self.optimizers)
    opt_states, counts = dict(self.opt_states), dict(self.updates)
    for g in groups:
      opt_states[g.name] = g.tx.init({p: self.player(p).params for p in g.players})
      counts[g.name] = jnp.zeros((), jnp.int32)
    return self.replace(opt_states=opt_states, updates=counts)

  def with_optimizer(self, name: str, tx: optax.GradientTransformation):
    """The state with group ``name``'s transformation replaced and its
    optimizer state re-initialised."""
    old = self.group(name)
    groups = tuple(OptimizerGroup(g.name, g.players, tx) if g == old else g
                   for g in self.optimizers)
    return self.replace(optimizers=groups).reset_optimizers(old.name)

  # ------------------------------------------------------------- sampling --

  def sampling_network(self, name: str, *, ema: bool = True) -> Network:
    """Player ``name``'s EMA when it keeps one (and ``ema``), else the player."""
    if ema and name in self.ema:
      return self.ema[name]
    return self.player(name)

  def sampling_module(self, name: str, *, mode: str = "eval",
                      ema: bool = True) -> nnx.Module:
    """A module to sample from: the EMA weights and statistics where kept.

    Args:
      name: the player.
      mode: ``'eval'``: running BatchNorm statistics, no dropout;
        ``'train'``: batch statistics and dropout on (pass the dropout key
        as the call's ``rngs``), pix2pix's test-time behaviour.
      ema: use the EMA when the player keeps one.

    Create and call it inside the same traced function.
    """
    if mode not in MODES:
      raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return self.sampling_network(name, ema=ema).module(train=mode == "train")


class GANState(TrainState):
  """A generator and a discriminator, each with its optimizer: the
  two-player :class:`TrainState`.

  Attributes:
    generator, discriminator: the two players.
    step: generator updates done so far (the paper's iteration counter; the
      training loop keeps its own count of calls to the step).
    ema_params: the generator EMA's parameters, or ``None``.
  """

  generator: Network
  discriminator: Network

  @classmethod
  def create(cls, *, generator: nnx.Module, discriminator: nnx.Module,
             g_optimizer: optax.GradientTransformation,
             d_optimizer: optax.GradientTransformation,
             ema_decay: float | None = None, extra: PyTree = None) -> "GANState":
    return super().create(
        generator=generator, discriminator=discriminator,
        optimizers={"generator": g_optimizer, "discriminator": d_optimizer},
        ema_decay={"generator": ema_decay}, extra=extra)

  @property
  def step(self) -> jax.Array:
    return self.updates["generator"]

  @property
  def ema_params(self) -> nnx.State | None:
    ema = self.ema.get("generator")
    return None if ema is None else ema.params

  def sampling_generator(self, mode: str = "eval") -> nnx.Module:
    """The generator to sample from: EMA weights and statistics when kept,
    in eval mode (or ``mode='train'``: batch statistics, dropout on)."""
    return self.sampling_module("generator", mode=mode)


def update(state: State, player: str | Sequence[str], loss_fn: Callable, *args,
           has_aux: bool = False, returns_networks: bool = False,
           projection: Projection | Mapping[str, Projection] | None = None,
           **kwargs) -> tuple[State, Any]:
  """One gradient step of a player on a loss: differentiate, then update.

  .. math::
    g = \\nabla_\\theta L(\\theta, \\ldots), \\qquad
    \\theta \\leftarrow \\theta + \\operatorname{opt}(g)

  ``jax.value_and_grad`` of ``loss_fn`` with respect to the player's
  parameters, then :meth:`TrainState.apply_gradients` (the optimizer step,
  ``projection``, the player's EMA and its update counter), so that a step
  reads as the paper's alternation::

    state, d_loss = gj.train.update(state, "discriminator", critic_loss, real, fake)
    state, g_loss = gj.train.update(state, "generator", generator_loss, z)

  Args:
    state: the training state.
    player: a player's name, or a tuple of players updated on one loss
      (players that share an optimizer must be named together, as
      CycleGAN's two generators; players with optimizers of their own may
      be, as its two discriminators on the sum of their losses).
    loss_fn: ``loss_fn(params, *args, **kwargs)``, where ``params`` are the
      player's parameters (for a tuple of players ``{player: params}``),
      returning the scalar loss, or ``(loss, aux)`` with ``has_aux``.
    *args: further positional inputs of ``loss_fn``.
    has_aux: ``loss_fn`` returns ``(loss, aux)``.
    returns_networks: the forward passes inside ``loss_fn`` updated
      non-parameter state (BatchNorm statistics) that the step keeps:
      ``loss_fn`` returns ``(loss, networks)``, or ``(loss, (networks, aux))``
      with ``has_aux``, where ``networks`` is ``{player: Network}`` as
      returned by :meth:`Network.apply` (for one player, its Network).
      They replace the state's players before the optimizer step, which
      then updates their parameters.
    projection: applied to the updated parameters, as in
      :meth:`TrainState.apply_gradients` (WGAN's weight clipping).
    **kwargs: further keyword inputs of ``loss_fn``.

  Returns:
    ``(state, loss)``, or ``(state, (loss, aux))`` with ``has_aux``.

  Raises:
    KeyError: a name is not a player with an optimizer, or a shared
      optimizer's players are named only in part.
  """
  single = isinstance(player, str)
  names = (player,) if single else tuple(player)
  params = {p: state.player(p).params for p in names}
  paired = has_aux or returns_networks

  def objective(params):
    output = loss_fn(params[player] if single else params, *args, **kwargs)
    return output if paired else (output, None)

  (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(params)
  if returns_networks:
    networks, aux = aux if has_aux else (aux, None)
    state = state.replace(**({player: networks} if isinstance(networks, Network)
                             else networks))
  state = state.apply_gradients(grads, projection=projection)
  return state, ((loss, aux) if has_aux else loss)

