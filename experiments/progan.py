"""Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation" (arXiv 1710.10196).

The generator and the critic grow together from 4x4 to the data's size
(``gans_jax.nn.ProGANGenerator`` / ``ProGANCritic``; every level's layers
exist from the start). Training, as the official code's train.py runs it::

    n = 0                                 # real images shown
    for each minibatch of the level's size B:
      level, alpha = schedule(n)          # Section 3: stabilise a level for
                                          # T images, fade the next in for F
      x = fade(mirror(reals at 4 * 2^level), alpha)
      critic step on  D(G(z)) - D(x) + lambda / gamma^2 (|grad D(x^)| - gamma)^2
                      + eps_drift D(x)^2                  (Section A.1)
      generator step on  -D(G(z'))
      G_ema <- 0.999 G_ema + 0.001 G;  n <- n + B
    Adam (alpha 1e-3, betas (0, 0.99), eps 1e-8) restarts whenever the level
    of detail changes: at the start and at the end of every fade.

``x^`` interpolates real and fake images with one random weight per image;
the minibatch standard deviation layer couples the critic's examples, so the
penalty differentiates the summed scores of the whole batch, as the official
code does (``mode="batch"``). Real images fade in as fake ones do: during a
fade they are blended with their 2x down-then-up-sampled version
(``gans_jax.nn.fade_reals``, the official ``process_reals``), and each level
sees the data box-filtered down to its size, as the official dataset tool
prepares it.

The run is a sequence of phases, one per level and stage (stabilise or fade
in), each with its own compiled step (the level is static; alpha is traced)
and minibatch size (``experiments/configs/progan.py: plan_phases``). Alpha is
a function of the images shown, which the state keeps
(``state.extra['images_shown']``), so a run stopped anywhere, in the middle
of a fade included, resumes with its level, alpha, optimizer states and EMA
and ends bit for bit where an uninterrupted run ends.

Evaluation: samples of the EMA generator, a figure of samples at the end of
every level (``growth.png``), the sliced Wasserstein distance per Laplacian
pyramid level against training images and the average MS-SSIM of pairs of
generated images (Section 5, Table 1), each next to the same measure between
two sets of real images; on the built-in digits the classifier metrics.

    python experiments/progan.py [--config=experiments/configs/progan.py:PRESET]
"""

import functools
import glob
from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from experiments.configs import progan as progan_config
from gans_jax import data as gdata
from gans_jax import nn as gnn
from gans_jax.eval import images as image_eval
from gans_jax.eval import ms_ssim as ms_ssim_lib
from gans_jax.eval import swd as swd_lib
from gans_jax.train import config as config_lib

PRESETS = progan_config.PRESETS
RESOLUTIONS = progan_config.RESOLUTIONS
LevelPhase = progan_config.LevelPhase
config_phases = progan_config.config_phases
plan_phases = progan_config.plan_phases


# ------------------------------------------------------------------ config --

def validate(config: ml_collections.ConfigDict) -> None:
  digits = config_lib.get(config, "data.dataset") == "digits"
  common.validate_image_data(
      config, image_sizes=(8, 16, 32, 64) if digits else RESOLUTIONS)
  config_lib.check_positive_int(config, "data.crop", allow_zero=True)
  config_lib.check_choice(config, "data.mirror_augment", (False, True))
  for field in ("model.fmap_base", "model.fmap_max"):
    config_lib.check_positive_int(config, field)
  config_lib.check_positive_float(config, "model.fmap_decay", allow_zero=True)
  levels = progan_config.num_levels(config)
  m = config.model
  for stage in range(levels + 1):
    try:
      gnn.progan_features(stage, fmap_base=m.fmap_base,
                          fmap_decay=m.fmap_decay, fmap_max=m.fmap_max)
    except ValueError as error:
      raise config_lib.ConfigError("model.fmap_base", str(error)) from None
  config_lib.check_positive_float(config, "gan.gradient_target")
  _check_per_resolution(config, "optim.learning_rates", (int, float))
  config_lib.check_fraction(config, "optim.b1")
  config_lib.check_fraction(config, "optim.b2")
  config_lib.check_positive_float(config, "optim.eps")
  initial = config.schedule.initial_resolution
  config_lib.check(initial <= config.data.image_size,
                   "schedule.initial_resolution",
                   f"{initial} exceeds data.image_size="
                   f"{config.data.image_size}")
  config_lib.check_positive_int(config, "schedule.stabilize_images", allow_zero=True)
  _check_per_resolution(config, "schedule.batch_sizes", (int,))
  config_lib.validate_train(config)
  devices, processes = jax.device_count(), jax.process_count()
  group = m.mbstd_group_size
  batches = progan_config.level_values(config, "schedule.batch_sizes",
                                       "train.batch_size")
  for level, batch in enumerate(batches):
    resolution = RESOLUTIONS[level]
    config_lib.check(
        batch % devices == 0 and batch % processes == 0,
        "schedule.batch_sizes", f"the batch of {batch} at {resolution}x"
        f"{resolution} is not divisible by the {devices} devices and "
        f"{processes} hosts it is split over")
    config_lib.check(
        group < 2 or batch % min(group, batch) == 0, "schedule.batch_sizes",
        f"the batch of {batch} at {resolution}x{resolution} is not a "
        f"multiple of model.mbstd_group_size={group}")
  common.validate_inception(config)


def _check_per_resolution(config, field: str, types) -> None:
  values = config_lib.get(config, field)
  config_lib.check(
      isinstance(values, tuple) and len(values) == len(RESOLUTIONS)
      and all(isinstance(v, types) and not isinstance(v, bool) and v >= 0
              for v in values), field,
      f"must be a tuple of {len(RESOLUTIONS)} non-negative numbers, one per "
      f"resolution {RESOLUTIONS} (0: the default), got {values!r}")


def schedule(config: ml_collections.ConfigDict):
  """``images_shown -> (level, alpha)``: the official TrainingSchedule."""
  s = config.schedule
  return functools.partial(
      gnn.progan_schedule, final_resolution=config.data.image_size,
      stabilize_images=s.stabilize_images, fade_images=s.fade_images,
      initial_resolution=s.initial_resolution)


# ------------------------------------------------------------------- state --

def adam(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with its learning rate in its state, so each level can set it."""
  o = config.optim
  return optax.inject_hyperparams(optax.adam)(
      learning_rate=o.learning_rate, b1=o.b1, b2=o.b2, eps=o.eps)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The ProGAN generator, as ``create_state`` builds it, called at the level
  and alpha of the images ``state`` has shown (without a state: the final
  level, alpha 1, where a full run ends)."""
  m, d = config.model, config.data
  if state is None:
    level, alpha = progan_config.num_levels(config) - 1, 1.0
  else:
    level, alpha = jax.device_get(schedule(config)(
        state.extra["images_shown"]))
  return dict(
      player="generator", module="gans_jax.nn.ProGANGenerator", mode="eval",
      kwargs=dict(latent_dim=m.latent_dim, resolution=d.image_size,
                  channels=d.channels, fmap_base=m.fmap_base,
                  fmap_decay=m.fmap_decay, fmap_max=m.fmap_max,
                  normalize_latents=m.normalize_latents,
                  dtype=common.dtype_name(config) or "float32"),
      inputs=dict(latent_dim=m.latent_dim, noise="normal", num_classes=None),
      call=dict(level=int(level), alpha=float(alpha)))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  m, d = config.model, config.data
  rngs = gj.train.init_rngs(config.train.seed)
  dtype = common.compute_dtype(config) or jnp.float32
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  critic = gnn.ProGANCritic(
      resolution=d.image_size, channels=d.channels, fmap_base=m.fmap_base,
      fmap_decay=m.fmap_decay, fmap_max=m.fmap_max,
      mbstd_group_size=m.mbstd_group_size, dtype=dtype, rngs=rngs)
  return gj.train.GANState.create(
      generator=generator, discriminator=critic, g_optimizer=adam(config),
      d_optimizer=adam(config), ema_decay=config.optim.ema_decay or None,
      extra={"images_shown": jnp.zeros((), jnp.int32)})


def images_shown(state) -> int:
  return int(jax.device_get(state.extra["images_shown"]))


def enter_phase(config: ml_collections.ConfigDict, phase: LevelPhase, state):
  """A new level of detail: fresh Adam states at the level's learning rate."""
  rates = progan_config.level_values(config, "optim.learning_rates",
                                     "optim.learning_rate")
  state = state.reset_optimizers()
  opt_states = {}
  for name, opt_state in state.opt_states.items():
    hyperparams = dict(opt_state.hyperparams, learning_rate=jnp.asarray(
        rates[phase.level], opt_state.hyperparams["learning_rate"].dtype))
    opt_states[name] = opt_state._replace(hyperparams=hyperparams)
  return state.replace(opt_states=opt_states)


# -------------------------------------------------------------------- step --

def mirror(images: jax.Array, key: jax.Array) -> jax.Array:
  """Flips a random half of the images left-right (``mirror_augment``)."""
  flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
  return jnp.where(flip, images[:, :, ::-1], images)


def make_train_step(config: ml_collections.ConfigDict, phase: LevelPhase):
  """One minibatch of ``phase``'s level: a critic step, then a generator step."""
  level, batch_size = phase.level, phase.batch_size
  latent_dim, g = config.model.latent_dim, config.gan
  schedule_of = schedule(config)
  penalty_weight = g.gp_weight / g.gradient_target ** 2

  def train_step(state: gj.train.GANState, batch, key):
    shown = state.extra["images_shown"]
    _, alpha = schedule_of(shown)
    key_mirror, key_z, key_gp, key_g = jax.random.split(key, 4)
    real = batch["image"]
    if config.data.mirror_augment:
      real = mirror(real, key_mirror)
    if level > 0:
      real = gnn.fade_reals(real, alpha)
    grow = dict(level=level, alpha=alpha)
    z = jax.random.normal(key_z, (real.shape[0], latent_dim))
    fake = jax.lax.stop_gradient(state.generator.apply(z, **grow)[0])

    def critic_loss(params):
      critic = lambda x: state.discriminator.apply(x, params=params, **grow)[0]
      real_scores, fake_scores = critic(real), critic(fake)
      penalty = gj.penalties.gradient_penalty(
          critic, real, fake, key_gp, mode="batch",
          target=g.gradient_target).mean()
      drift = gj.penalties.drift_penalty(real_scores).mean()
      loss = (gj.losses.critic_wasserstein_loss(real_scores, fake_scores).mean()
              + penalty_weight * penalty + g.drift_weight * drift)
      return loss, dict(
          d_loss=loss, gradient_penalty=penalty, drift=drift,
          w_estimate=gj.losses.wasserstein_estimate(real_scores, fake_scores))

    state, (_, metrics) = gj.train.update(state, "discriminator", critic_loss,
                                          has_aux=True)
    z = jax.random.normal(key_g, (real.shape[0], latent_dim))

    def generator_loss(params):
      fake = state.generator.apply(z, params=params, **grow)[0]
      scores = state.discriminator.apply(fake, **grow)[0]
      return gj.losses.generator_wasserstein_loss(scores).mean()

    state, g_loss = gj.train.update(state, "generator", generator_loss)
    state = state.replace(extra=dict(state.extra,
                                     images_shown=shown + batch_size))
    return state, dict(metrics, g_loss=g_loss, alpha=alpha,
                       level=jnp.asarray(level, jnp.float32),
                       kimg=(shown + batch_size).astype(jnp.float32) / 1000)

  return train_step


# -------------------------------------------------------------------- data --

class CentralCrop:
  """A source whose images are cropped to their central ``side`` square."""

  def __init__(self, source: gdata.ImageSource, side: int):
    self.source, self.side = source, side

  def __repr__(self) -> str:
    return f"{self.source!r}, central {self.side}x{self.side} crop"

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index: int) -> dict:
    example = dict(self.source[index])
    image = np.asarray(example["image"])
    height, width = image.shape[:2]
    if height < self.side or width < self.side:
      raise gdata.DataError(
          f"{self.source!r}: image {index} of shape {image.shape} is smaller "
          f"than data.crop={self.side}")
    top, left = (height - self.side) // 2, (width - self.side) // 2
    example["image"] = image[top:top + self.side, left:left + self.side]
    return example


def image_source(config: ml_collections.ConfigDict,
                 split: str) -> gdata.ImageSource:
  """The examples of ``split``, cropped as ``data.crop`` says."""
  d = config.data
  source = gdata.make_image_source(
      d.dataset, split=split, data_dir=d.data_dir or None,
      image_size=d.image_size, channels=d.channels,
      skip_unreadable=d.skip_unreadable)
  return CentralCrop(source, d.crop) if d.crop else source


def box_downscale(images: np.ndarray, resolution: int) -> np.ndarray:
  """(N, S, S, C) images averaged over blocks to (N, resolution, resolution,
  C): ``gans_jax.nn.downscale_images`` on the host."""
  n, size, _, channels = images.shape
  f = size // resolution
  return images.reshape(n, resolution, f, resolution, f, channels).mean(
      axis=(2, 4))


class LevelBatches:
  """A phase's real minibatches at its level's resolution.

  The phase continues the stream of shuffled training images where the
  previous phases left it (minibatch ``ceil(first_images / B)`` of size B
  first), box-filtered down from the data's size.
  """

  def __init__(self, batches: gdata.ImageBatches, phase: LevelPhase):
    self.batches, self.phase = batches, phase
    self.first_minibatch = -(-phase.first_images // phase.batch_size)

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    index = self.first_minibatch + step - self.phase.first_step
    batch = dict(self.batches.get_batch(index))
    batch["image"] = box_downscale(batch["image"], self.phase.resolution)
    return batch


def make_phases(config: ml_collections.ConfigDict) -> list[gj.train.Phase]:
  """One engine phase per level and stage, each with its step and data."""
  d = config.data
  source = image_source(config, "train")
  batches: dict[int, gdata.ImageBatches] = {}
  phases = []
  for phase in config_phases(config):
    if phase.batch_size not in batches:
      batches[phase.batch_size] = gdata.ImageBatches(
          source, batch_size=phase.batch_size, seed=config.train.seed,
          image_size=d.image_size, channels=d.channels)
    phases.append(gj.train.Phase(
        phase.name, phase.num_steps, make_train_step(config, phase),
        LevelBatches(batches[phase.batch_size], phase),
        enter=functools.partial(enter_phase, config, phase)))
  return phases


# ---------------------------------------------------------------- sampling --

def upscale(images: jax.Array, resolution: int) -> jax.Array:
  """Nearest-neighbour up-sampling of (N, S, S, C) to ``resolution``."""
  factor = resolution // images.shape[1]
  return jnp.repeat(jnp.repeat(images, factor, axis=1), factor, axis=2)


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` images of the EMA generator at the
  level and alpha of the images the state has shown, up-sampled (nearest)
  to the data's size and clipped to [-1, 1], as the official code shows a
  network that is still growing."""
  latent_dim, size = config.model.latent_dim, config.data.image_size
  schedule_of = schedule(config)

  def at_level(level):
    def generate(state, z, alpha):
      images = state.sampling_generator()(z, level=level, alpha=alpha)
      return upscale(images, size)
    return generate

  branches = [at_level(k) for k in range(progan_config.num_levels(config))]

  @jax.jit
  def sample(state, key):
    level, alpha = schedule_of(state.extra["images_shown"])
    z = jax.random.normal(key, (num, latent_dim))
    images = jax.lax.switch(level, branches, state, z, alpha)
    return jnp.clip(images, -1.0, 1.0)

  return sample


class GrowthSnapshots:
  """Saves samples of the EMA generator when a level has stabilised (and at
  the end of training), at the level's own resolution and from the same
  latent codes, to ``growth/<size>x<size>.npz`` in the workdir."""

  every = 1

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.directory = os.path.join(workdir, "growth")
    phases = config_phases(config)
    self.ends = {p.first_step + p.num_steps: p for p in phases
                 if not p.fading or p == phases[-1]}
    self.schedule = schedule(config)
    self.z = jax.random.normal(gj.train.make_key(config.train.seed, "growth"),
                               (config.eval.growth_samples,
                                config.model.latent_dim))
    self._generate = jax.jit(
        lambda state, z, alpha, level: jnp.clip(
            state.sampling_generator()(z, level=level, alpha=alpha), -1, 1),
        static_argnums=3)

  def __call__(self, step: int, state, writer) -> None:
    phase = self.ends.get(step)
    if phase is None:
      return
    # The level and alpha the phase's last minibatch trained.
    last = phase.first_images + (phase.num_steps - 1) * phase.batch_size
    alpha = float(self.schedule(last)[1])
    images = np.asarray(self._generate(state, self.z, alpha, phase.level))
    if writer.enabled:
      os.makedirs(self.directory, exist_ok=True)
      size = phase.resolution
      np.savez(os.path.join(self.directory, f"{size}x{size}.npz"),
               images=image_eval.image_grid(images), step=step,
               resolution=size, images_shown=images_shown(state), alpha=alpha)


def plot_growth(workdir: str, out_png: str) -> bool:
  """Draws the saved growth snapshots side by side, smallest first."""
  files = glob.glob(os.path.join(workdir, "growth", "*x*.npz"))
  if not files:
    return False
  snapshots = sorted((dict(np.load(f)) for f in files),
                     key=lambda s: int(s["resolution"]))
  # A Figure without pyplot: no backend is switched for the caller (a
  # notebook keeps showing its own figures).
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(2.4 * len(snapshots), 2.8))
  axes = fig.subplots(1, len(snapshots), squeeze=False)
  for ax, snapshot in zip(axes[0], snapshots):
    grid = snapshot["images"]
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid,
              cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    alpha = float(snapshot["alpha"])
    fading = "" if alpha == 1.0 else f", alpha {alpha:.2f}"
    size = int(snapshot["resolution"])
    ax.set_title(f"{size}x{size}{fading}\n"
                 f"{int(snapshot['images_shown']) / 1000:g}k images",
                 fontsize=9)
  fig.tight_layout()
  fig.savefig(out_png, dpi=100)
  return True


# -------------------------------------------------------------- experiment --

def train(config: ml_collections.ConfigDict, workdir: str, *, hooks=(),
          progress: bool = True) -> gj.train.GANState:
  """Trains through every phase of the schedule (resuming from ``workdir``)."""
  phases = make_phases(config)
  hooks = [*common.sample_grid_hook(config, make_sampler(config, 64), workdir),
           GrowthSnapshots(config, workdir), *hooks]
  state = gj.train.fit_phases(phases, create_state(config), config, workdir,
                              hooks=hooks, progress=progress)
  if jax.process_index() == 0:
    plot_growth(workdir, os.path.join(workdir, "growth.png"))
  return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  state = train(config, workdir)
  return evaluate(config, state, workdir)


def real_images(config: ml_collections.ConfigDict, source: gdata.ImageSource,
                num: int, key: jax.Array) -> np.ndarray:
  """``num`` images of ``source`` drawn without replacement with ``key``."""
  d = config.data
  order = np.asarray(jax.random.permutation(key, len(source)))[:num]
  return np.stack([gdata.preprocess_image(source[int(i)]["image"],
                                          image_size=d.image_size,
                                          channels=d.channels)
                   for i in order])


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Samples, SWD and MS-SSIM (Table 1) against real images, on the digits
  the classifier metrics, and the Inception-network metrics that
  ``eval.inception_metrics`` names. (The growth figure is drawn by
  :func:`train` from the snapshots the run took; ``workdir`` is only
  written to.)"""
  e, seed = config.eval, config.train.seed
  step = config.train.num_steps if step is None else step
  samples = common.final_samples(config, make_sampler(config, 500), state)
  results: dict = {"eval/images_shown": images_shown(state)}
  if jax.process_index() == 0:
    image_eval.save_image_grid(os.path.join(workdir, "samples.png"),
                               samples[:100], nrow=10)
  results.update(common.digits_evaluation(config, samples))
  results.update(common.inception_evaluation(config, samples))
  size = config.data.image_size
  # SWD compares generated images with N training images; the same distance
  # between two disjoint sets of N training images is its floor.
  source = image_source(config, "train")
  count = min(e.swd_images, e.num_samples, len(source) // 2)
  if size >= 16 and count >= 2:
    reals = real_images(config, source, 2 * count,
                        gj.train.make_key(seed, "reals"))
    key = gj.train.make_key(seed, "swd")
    fake_swd = np.asarray(swd_lib.sliced_wasserstein_distance(
        reals[:count], samples[:count], key))
    real_swd = np.asarray(swd_lib.sliced_wasserstein_distance(
        reals[:count], reals[count:], key))
    for resolution, fake, real in zip(swd_lib.swd_resolutions(size), fake_swd,
                                      real_swd):
      results[f"eval/swd_{resolution}"] = float(fake)
      results[f"eval/swd_{resolution}_real"] = float(real)
    results["eval/swd_mean"] = float(fake_swd.mean())
    results["eval/swd_mean_real"] = float(real_swd.mean())
    key = gj.train.make_key(seed, "ms_ssim")
    results["eval/ms_ssim"] = float(ms_ssim_lib.mean_ms_ssim(
        samples, key, num_pairs=e.ms_ssim_pairs))
    results["eval/ms_ssim_real"] = float(ms_ssim_lib.mean_ms_ssim(
        reals, key, num_pairs=e.ms_ssim_pairs))
  common.write_results(workdir, step, results, samples[:e.saved_samples])
  return results
