"""The benchmark cases: experiment configs measured against PyTorch references.

A :class:`Case` names an experiment's config (usually its default preset), the
overrides the benchmark applies, and the gans_jax rows (:class:`Variant`) it
times. The functions below turn a case into what the runner times: its config,
one step's batch, the experiment's own train step and initial state, and the
eager PyTorch reference built from the same config.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any


@dataclasses.dataclass(frozen=True)
class Variant:
  """One gans_jax configuration of a case (a row of its table)."""

  label: str
  overrides: tuple[tuple[str, Any], ...] = ()
  conv_transpose: str | None = None  # 'phase' / 'direct' for DCGAN generators


@dataclasses.dataclass(frozen=True)
class Case:
  """An experiment config measured against its PyTorch reference.

  Attributes:
    name: the case's name (``--only``).
    experiment: module under ``experiments/``.
    preset: the config preset (None: the experiment's default).
    title: one line saying what is measured.
    overrides: dotted config fields changed for the benchmark.
    quick: further overrides for ``--quick`` (tiny sizes).
    block_steps: steps per timed block (about a second of work).
    rounds: timed blocks per implementation.
    variants: the gans_jax rows.
    default: the experiment's default preset (in the startup table).
    target: the throughput ratio gans_jax / PyTorch the issue asks for.
  """

  name: str
  experiment: str
  preset: str | None
  title: str
  overrides: tuple[tuple[str, Any], ...] = ()
  quick: tuple[tuple[str, Any], ...] = ()
  block_steps: int = 1
  rounds: int = 6
  variants: tuple[Variant, ...] = (Variant("gans_jax"),)
  default: bool = False
  target: float | None = None


_TINY_IMAGES = (("model.features", 4), ("train.batch_size", 8))
_TINY_TOY = (("model.width", 16), ("train.batch_size", 16),
             ("train.steps_per_call", 2))
# The official WGAN schedule runs 100 critic updates in the first 25 and every
# 500th generator iteration (iteration 0 included); the benchmark measures the
# ordinary iteration, n_critic = 5, from the first step on.
_WGAN_STEADY = (("gan.n_critic_warmup", 5),)

CASES: dict[str, Case] = {c.name: c for c in (
    Case("gan_digits", "gan", None,
         "GAN (Goodfellow et al.), default preset: MLP generator 1200-1200, "
         "maxout discriminator 240x5 with dropout, 16x16 digits, batch 100, "
         "Adam",
         quick=(("model.g_hidden", (32,)), ("model.d_hidden", (16,)),
                ("model.maxout_pieces", 2), ("train.batch_size", 16)),
         block_steps=20, rounds=10, default=True),
    Case("dcgan_digits", "dcgan", None,
         "DCGAN, default preset: 32x32x1, features 32, batch 64, Adam",
         quick=_TINY_IMAGES, block_steps=2, rounds=8, default=True),
    Case("dcgan64", "dcgan", "celeb_a",
         "DCGAN 64x64x3 (celeb_a preset's nets, features 64) at batch 64, as "
         "pytorch/examples; both forms of the stride-2 transposed convolution",
         overrides=(("train.batch_size", 64),), quick=_TINY_IMAGES,
         block_steps=1, rounds=6, target=1.3,
         variants=(Variant("gans_jax, phase form", conv_transpose="phase"),
                   Variant("gans_jax, direct form", conv_transpose="direct"))),
    Case("wgan_digits", "wgan", None,
         "WGAN, default preset: DCGAN nets 32x32x1, features 32, batch 64, "
         "5 clipped RMSProp critic updates per generator update",
         overrides=_WGAN_STEADY,
         quick=_TINY_IMAGES + (("gan.n_critic", 2), ("gan.n_critic_warmup", 2)),
         block_steps=1, rounds=6, default=True),
    Case("wgan_gp_quickstart", "wgan_gp", None,
         "WGAN-GP, default preset (quickstart): 8 Gaussians, MLPs 3x128, "
         "batch 256, 5 critic updates with penalty, generator EMA, lr decay",
         quick=_TINY_TOY, block_steps=50, rounds=6, default=True),
    Case("wgan_gp_8gaussians", "wgan_gp", "8gaussians",
         "WGAN-GP, 8gaussians preset (gan_toy.py): MLPs 3x512, batch 256, "
         "5 critic updates with penalty per generator update",
         quick=_TINY_TOY, block_steps=10, rounds=5, target=1.5,
         variants=(Variant("gans_jax, 50 steps per call"),
                   Variant("gans_jax, 1 step per call",
                           overrides=(("train.steps_per_call", 1),)))),
    Case("fgan_mixture", "fgan", None,
         "f-GAN, default preset (Section 4): N(mu, sigma) fitted to a 1-D "
         "mixture, critic 2x64 tanh, batch 1024, the first divergence of the "
         "config (KL), single-step method",
         quick=(("train.batch_size", 64), ("train.steps_per_call", 4),
                ("model.critic_hidden", (8,))),
         block_steps=1000, rounds=6, default=True),
)}


def _set(config, field: str, value: Any) -> None:
  node = config
  *parents, leaf = field.split(".")
  for part in parents:
    node = node[part]
  if leaf not in node:
    raise KeyError(f"benchmark override of unknown config field {field!r}")
  node[leaf] = value


def build_config(case: Case, variant: Variant | None = None, *,
                 quick: bool = False):
  """The experiment's config with the case's (and variant's) overrides."""
  module = importlib.import_module(f"experiments.configs.{case.experiment}")
  config = module.get_config(case.preset) if case.preset else module.get_config()
  changes = list(case.overrides) + list(case.quick if quick else ())
  changes += list(variant.overrides if variant else ())
  for field, value in changes:
    _set(config, field, value)
  return config


def microbatches(case: Case, config) -> int:
  """Real minibatches one step consumes (stacked on a leading axis if > 1)."""
  if case.experiment in ("gan", "dcgan", "wgan", "wgan_gp"):
    return config.gan.n_critic
  return 1


def items_per_step(config) -> int:
  """Images or points per step: the generator's batch."""
  return config.train.batch_size


def unit(case: Case, config) -> str:
  """What one generated item is: 'points' for the toys, else 'images'."""
  if case.experiment == "fgan" or (case.experiment == "wgan_gp"
                                   and config.model.architecture == "mlp"):
    return "points"
  return "images"


def step_batch(case: Case, config) -> dict[str, Any]:
  """One step's batch, as the experiment's BatchSource shapes it.

  Toy data comes from the library's own samplers; images are synthetic
  (uniform in [-1, 1], random labels) so that no dataset is needed.
  """
  import numpy as np

  import gans_jax as gj

  micro = microbatches(case, config)
  b = config.train.batch_size
  if case.experiment == "fgan":
    module = importlib.import_module("experiments.fgan")
    if not module.is_mixture(config):
      raise ValueError("only the f-GAN mixture preset is benchmarked")
    return gj.data.ToyBatches(module.mixture_distribution(config), batch_size=b,
                              seed=config.train.seed).get_batch(0)
  if case.experiment == "wgan_gp" and config.model.architecture == "mlp":
    return gj.data.ToyBatches(config.data.dataset, batch_size=b,
                              seed=config.train.seed,
                              num_microbatches=micro).get_batch(0)
  d = config.data
  lead = (micro, b) if micro > 1 else (b,)
  rng = np.random.default_rng(0)
  return {
      "image": rng.uniform(-1, 1, lead + (d.image_size, d.image_size,
                                          d.channels)).astype(np.float32),
      "label": rng.integers(0, 10, lead).astype(np.int32),
  }


# Experiments whose step function lives in another experiment's module.
_STEP_MODULES = {"dcgan": "gan"}


def make_step_fn(case: Case, config):
  """The experiment's own train step for ``config``."""
  module = importlib.import_module(
      f"experiments.{_STEP_MODULES.get(case.experiment, case.experiment)}")
  if case.experiment == "fgan":
    return module.make_train_step(config, config.fgan.divergences[0])
  return module.make_train_step(config)


def with_conv_transpose(state, implementation: str):
  """``state`` with every ConvTranspose2x of the generator set to
  ``implementation`` (same parameters; only the computation changes)."""
  from flax import nnx

  import gans_jax as gj

  module = state.generator.module(train=True)
  layers = [m for _, m in nnx.iter_graph(module)
            if isinstance(m, gj.nn.ConvTranspose2x)]
  if not layers:
    raise ValueError("the generator has no ConvTranspose2x layer")
  for layer in layers:
    layer.implementation = implementation
  return state.replace(generator=gj.train.Network.create(module))


def create_state(case: Case, variant: Variant, config):
  module = importlib.import_module(f"experiments.{case.experiment}")
  state = module.create_state(config)
  if variant.conv_transpose is not None:
    state = with_conv_transpose(state, variant.conv_transpose)
  return state


def _require(condition: bool, what: str) -> None:
  if not condition:
    raise ValueError(f"the PyTorch reference does not implement {what}")


def torch_reference(case: Case, config):
  """The PyTorch reference for ``case``, built from the same config."""
  import torch

  m, o, t = config.model, config.optim, config.train
  if case.experiment in ("gan", "dcgan", "wgan"):
    _require(not m.get("conditional", False), "conditional models")
  if case.experiment in ("gan", "dcgan"):
    _require(config.gan.n_critic == 1 and config.gan.loss == "non_saturating"
             and o.name == "adam", "this GAN setting")
  if case.experiment == "gan":
    from benchmarks.torch_reference import gan
    _require(m.noise == "uniform", "normal noise for the MLP GAN")
    return gan.Reference(
        image_size=config.data.image_size, channels=config.data.channels,
        latent_dim=m.latent_dim, g_hidden=tuple(m.g_hidden),
        d_hidden=tuple(m.d_hidden), maxout_pieces=m.maxout_pieces,
        dropout=m.d_dropout, input_dropout=m.d_input_dropout,
        batch_size=t.batch_size, learning_rate=o.learning_rate, b1=o.b1,
        b2=o.b2)
  if case.experiment == "dcgan":
    from benchmarks.torch_reference import dcgan
    _require(m.noise == "normal", "uniform noise for DCGAN")
    return dcgan.Reference(
        image_size=config.data.image_size, channels=config.data.channels,
        features=m.features, latent_dim=m.latent_dim, batch_size=t.batch_size,
        learning_rate=o.learning_rate, b1=o.b1, b2=o.b2)
  if case.experiment == "wgan":
    from benchmarks.torch_reference import wgan
    _require(m.generator == "dcgan" and m.critic_norm == "batch",
             "this WGAN architecture")
    return wgan.Reference(
        image_size=config.data.image_size, channels=config.data.channels,
        features=m.features, latent_dim=m.latent_dim, batch_size=t.batch_size,
        n_critic=config.gan.n_critic, clip=config.gan.clip,
        learning_rate=o.learning_rate, alpha=o.decay, eps=o.eps,
        generator_batch_norm=m.generator_batch_norm)
  if case.experiment == "wgan_gp":
    from benchmarks.torch_reference import wgan_gp
    _require(m.architecture == "mlp" and m.critic_norm == "none"
             and config.gan.generator_batch_multiple == 1, "this WGAN-GP setting")
    n = config.gan.n_critic
    real = torch.from_numpy(step_batch(case, config)["x"]).reshape(
        n, t.batch_size, -1)
    return wgan_gp.Reference(
        real=real, latent_dim=m.latent_dim, width=m.width, depth=m.depth,
        gp_weight=config.gan.gp_weight, learning_rate=o.learning_rate,
        b1=o.b1, b2=o.b2,
        linear_decay_steps=t.num_steps if o.decay == "linear" else 0,
        ema_decay=o.ema_decay)
  if case.experiment == "fgan":
    from benchmarks.torch_reference import fgan
    _require(config.fgan.scheme == "single_step"
             and m.critic_activation == "tanh", "this f-GAN setting")
    return fgan.Reference(
        real=torch.from_numpy(step_batch(case, config)["x"]),
        divergence=config.fgan.divergences[0], hidden=tuple(m.critic_hidden),
        optimizer=o.name, learning_rate=o.learning_rate, b1=o.b1, b2=o.b2,
        init_mean=m.init_mean, init_std=m.init_std)
  raise ValueError(f"no PyTorch reference for {case.experiment!r}")
