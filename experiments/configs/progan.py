"""Karras et al. 2018, Progressive Growing of GANs (arXiv 1710.10196).

Presets (``--config=experiments/configs/progan.py:PRESET``):
  digits    the built-in digits grown 4 -> 8 -> 16 -> 32, no download
            (default): narrow networks and a short schedule (140k images,
            11 minutes on a 2-core CPU)
  cifar10   CIFAR-10 32x32 from TFDS with the paper's CIFAR-10 network
  celeb_a   CelebA from TFDS, the central 128x128 crop, grown to 128x128
  folder    a folder of images (--config.data.dataset=folder:PATH) at any
            power-of-two size up to 1024 (CelebA-HQ, LSUN): the official
            code's default configuration
  smoke     two steps of a tiny model, for tests

The official TensorFlow code (tkarras/progressive_growing_of_gans, config.py
preset ``v2-1gpu`` and train.py), which the ``celeb_a`` and ``folder``
presets follow, differs from the paper (Appendix A.1, the code's ``v1``
preset) in:

- batch sizes per resolution: 128 at 4x4-16x16, 64 at 32, 32 at 64, 16 at
  128, 8 at 256, 4 at 512 and 1024; the paper uses 16 up to 128x128, then
  14, 6 and 3 at 256, 512 and 1024;
- images per phase: 600k to stabilise a level and 600k to fade the next one
  in, 12M images in all; the paper shows 800k + 800k, 19M images in all for
  CelebA-HQ;
- the minibatch standard deviation over groups of 4 examples; the paper's
  runs took it over groups of 16 (the whole minibatch);
- the learning rate: 0.0015 at 1024x1024 (0.001 everywhere in the paper).

Both reset Adam whenever the level of detail changes, that is when a fade
starts and again when it ends, and compute the schedule every 4 minibatches;
here it is computed for every minibatch from the images shown so far.

The ``cifar10`` preset uses the paper's CIFAR-10 settings, from the
original (Theano) release's config: feature maps min(4096 / 2^stage, 128),
a 128-dimensional latent, the gradient penalty's target gamma = 750 (weight
lambda / gamma^2), 400k + 400k images per phase, batch 16 and 20M images;
the minibatch standard deviation keeps the TensorFlow code's groups of 4.

The ``celeb_a`` preset crops the central 128x128 of each 218x178 image as
the official dataset tool does, but around the image's centre (the tool's
crop is centred 12 pixels lower, at row 121). The paper's CelebA-128 runs
(Table 1) used fmap_base 2048, batch 16 and 10M images.

Run lengths: ``train.num_steps`` is the number of minibatches, computed here
from the images the schedule shows (``plan_phases``); changing the schedule
keeps the number of steps, and the run stops wherever the schedule is then.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative,
                                   non_negative_int, one_of, positive, positive_int)

PRESETS = ("digits", "cifar10", "celeb_a", "folder", "smoke")

# The resolutions whose batch sizes and learning rates the schedule lists.
RESOLUTIONS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)


class LevelPhase(NamedTuple):
  """One stretch of the schedule: a level stabilising or fading in.

  Attributes:
    level: the network level (0 is 4x4).
    fading: whether the level is being faded in (alpha < 1).
    batch_size: the level's minibatch size.
    first_step: the global step the phase starts at.
    num_steps: its number of steps.
    first_images: real images shown before its first step.
  """

  level: int
  fading: bool
  batch_size: int
  first_step: int
  num_steps: int
  first_images: int

  @property
  def resolution(self) -> int:
    return 4 * 2 ** self.level

  @property
  def name(self) -> str:
    size = f"{self.resolution}x{self.resolution}"
    return f"{size}_fade_in" if self.fading else size

  @property
  def images(self) -> int:
    """Real images shown during the phase."""
    return self.num_steps * self.batch_size


def _log2(value: int, name: str) -> int:
  if not isinstance(value, int) or value < 4 or value & (value - 1):
    raise ValueError(f"{name} must be a power of two >= 4, got {value!r}")
  return int(math.log2(value))


def plan_phases(*, resolution: int, initial_resolution: int,
                stabilize_images: int, fade_images: int,
                batch_sizes: tuple[int, ...], num_steps: int | None = None,
                total_images: int | None = None) -> list[LevelPhase]:
  """The phases of ProGAN's schedule, with each level's minibatch size.

  With :math:`P = T + F` images per period (``stabilize_images``,
  ``fade_images``), the official ``TrainingSchedule`` evaluated at the
  images shown :math:`n` before a minibatch keeps level
  :math:`l_0 + q` stabilising while :math:`qP \\le n \\le qP + T` (while
  :math:`n < qP + T` without fades) and fades it in while
  :math:`(q - 1)P + T < n < qP`; the last level stabilises for good. A
  phase runs minibatches of its level's size until :math:`n` passes its
  end, so its last minibatch may overshoot into the next phase's images
  (the next phase then starts later, or not at all); this is what
  :func:`gans_jax.nn.progan_schedule` of the images shown gives at every
  step.

  Args:
    resolution: the final resolution.
    initial_resolution: the first level's resolution.
    stabilize_images: :math:`T`.
    fade_images: :math:`F`.
    batch_sizes: minibatch size per level (4x4 first), at least up to the
      final resolution.
    num_steps: stop after this many minibatches, or
    total_images: stop once this many images were shown (the official
      ``total_kimg``).

  Returns:
    The phases, in order, without empty ones.
  """
  last = _log2(resolution, "resolution") - 2
  first = _log2(initial_resolution, "initial_resolution") - 2
  if first > last:
    raise ValueError(f"initial_resolution={initial_resolution} exceeds "
                     f"resolution={resolution}")
  if (num_steps is None) == (total_images is None):
    raise ValueError("give exactly one of num_steps and total_images")
  if len(batch_sizes) <= last or min(batch_sizes[:last + 1]) < 1:
    raise ValueError(f"batch_sizes {batch_sizes} must give a positive size "
                     f"for each of the {last + 1} levels")
  period = stabilize_images + fade_images

  def end_of(level: int, fading: bool) -> float:
    # The phase lasts while the images shown are below this bound.
    q = level - first
    if fading:
      return q * period
    if level == last or period == 0:
      return math.inf
    return q * period + stabilize_images + (1 if fade_images else 0)

  phases: list[LevelPhase] = []
  step = images = 0
  level, fading = first, False
  while True:
    batch = batch_sizes[level]
    end = end_of(level, fading)
    if total_images is not None:
      end = min(end, total_images)
    steps = math.inf if end == math.inf else max(0, -(-(end - images) // batch))
    if num_steps is not None:
      steps = min(steps, num_steps - step)
    if steps > 0:
      phases.append(LevelPhase(level, fading, batch, step, int(steps), images))
      step += int(steps)
      images += int(steps) * batch
    if (step == num_steps if num_steps is not None
        else images >= total_images):
      return phases
    if fading:
      fading = False
    else:
      level, fading = level + 1, fade_images > 0


def num_levels(config: ml_collections.ConfigDict) -> int:
  """Levels of the networks: 4x4 up to ``data.image_size``."""
  return _log2(config.data.image_size, "data.image_size") - 1


def level_values(config: ml_collections.ConfigDict, field: str,
                 default_field: str) -> tuple:
  """``field`` per level (4x4 first), its zeros replaced by ``default_field``."""
  values = config_lib.get(config, field)[:num_levels(config)]
  default = config_lib.get(config, default_field)
  return tuple(v or default for v in values)


def config_phases(config: ml_collections.ConfigDict, *,
                  total_images: int | None = None) -> list[LevelPhase]:
  """The phases of a config's schedule: ``train.num_steps`` of them, or as
  many as ``total_images`` take."""
  s = config.schedule
  length = (dict(total_images=total_images) if total_images is not None
            else dict(num_steps=config.train.num_steps))
  return plan_phases(
      resolution=config.data.image_size,
      initial_resolution=s.initial_resolution,
      stabilize_images=s.stabilize_images, fade_images=s.fade_images,
      batch_sizes=level_values(config, "schedule.batch_sizes",
                               "train.batch_size"), **length)


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"progan_{preset}"
  c.data = sections.data_defaults(
      dataset="digits", image_size=32, channels=1,
      crop=0,                    # central square crop (pixels) before any
                                 # resize; 0: none (celeb_a: 128)
      mirror_augment=False,      # flip half of the real images left-right
  )
  c.model = config_lib.section(
      latent_dim=field(512, positive_int),  # z dimension (512 = n_f(0) in the paper)
      fmap_base=8192,            # feature maps min(fmap_base / 2^(stage *
      fmap_decay=1.0,            #   fmap_decay), fmap_max), level k at
      fmap_max=512,              #   stage k + 1 (Table 2: 8192, 1, 512)
      normalize_latents=field(True, boolean),  # pixel norm on z
      # minibatch stddev groups (0: no such layer)
      mbstd_group_size=field(4, non_negative_int),
      dtype=sections.dtype(),    # compute dtype: 'float32' or 'bfloat16'
  )
  c.gan = config_lib.section(
      gp_weight=field(10.0, non_negative),  # lambda of the WGAN-GP penalty
      gradient_target=1.0,       # gamma: penalty (|grad| - gamma)^2 lambda /
                                 # gamma^2 (750 for CIFAR-10)
      drift_weight=field(0.001, non_negative),  # epsilon_drift: E[D(x)^2] on real images
  )
  c.optim = config_lib.section(
      learning_rate=field(1e-3, positive),  # Adam's alpha for both networks ...
      # ... per resolution 4, 8, ..., 1024 (0: learning_rate); the official
      # code raises it to 0.0015 at 1024x1024
      learning_rates=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0015),
      b1=0.0, b2=0.99, eps=1e-8,  # Adam's betas and epsilon
      ema_decay=field(0.999, fraction),  # generator EMA (the official G_smoothing)
  )
  c.schedule = config_lib.section(
      initial_resolution=field(4, one_of(*RESOLUTIONS)),  # the first level's resolution
      stabilize_images=600_000,  # T: real images per level before the next
                                 # one fades in (the paper: 800k)
      # F: real images per fade (the paper: 800k)
      fade_images=field(600_000, non_negative_int),
      # minibatch size per resolution 4, 8, ..., 1024 (0: train.batch_size)
      batch_sizes=(128, 128, 128, 64, 32, 16, 8, 4, 0),
  )
  c.train = config_lib.train_defaults(
      num_steps=1,               # set below from the images to show
      batch_size=4,              # minibatch where batch_sizes has 0
      log_every=100, checkpoint_every=10000, sample_every=10000)
  c.eval = config_lib.section(
      num_samples=field(10000, positive_int),  # generated images evaluated
      swd_images=field(16384, positive_int),  # images per set for SWD (the paper: 16,384)
      ms_ssim_pairs=field(10000, positive_int),  # pairs of generated images for MS-SSIM
      growth_samples=field(64, positive_int),  # samples per level in the growth figure
      saved_samples=field(1000, positive_int),  # generated images kept in samples.npz
      **sections.inception_defaults(),
  )
  total_images = 12_000_000      # the official total_kimg

  if preset == "digits":
    c.model.update(latent_dim=64, fmap_base=256, fmap_max=64)
    # 20k images to stabilise each level and 20k to fade the next one in,
    # the official schedule 30 times shorter, run to the end of the 32x32
    # level's stabilisation: 140k images in all, under 15 minutes on a
    # 2-core CPU. (Ending at the end of the last fade instead left 32x32
    # mid-way: classifier FD 32.9 after 240k images against 13.7 after 210k
    # with a stabilised 32x32 level.)
    c.schedule.update(stabilize_images=20_000, fade_images=20_000,
                      batch_sizes=(64, 64, 64, 32, 0, 0, 0, 0, 0))
    # The EMA's half-life shrinks with the phases: 0.999 at batch 128 halves
    # in 89k images, 15% of an official phase; 0.99 at batch 64 in 4.4k, 22%
    # of a phase here (at 0.999 the average would still mix in the previous
    # level's weights when a level ends).
    c.optim.ema_decay = 0.99
    c.train.update(log_every=50, checkpoint_every=1000, sample_every=1000)
    c.eval.update(num_samples=2000, swd_images=648, ms_ssim_pairs=1000)
    total_images = 7 * 20_000    # up to the end of 32x32's stabilisation
  if preset == "cifar10":
    c.data.update(dataset="cifar10", channels=3)
    c.model.update(latent_dim=128, fmap_base=4096, fmap_max=128)
    c.gan.gradient_target = 750.0
    c.schedule.update(stabilize_images=400_000, fade_images=400_000,
                      batch_sizes=(0,) * 9)
    c.train.batch_size = 16
    c.eval.update(num_samples=16384, inception_metrics=("fid",))
    total_images = 20_000_000
  if preset == "celeb_a":
    c.data.update(dataset="celeb_a", image_size=128, channels=3, crop=128,
                  mirror_augment=True)
    c.eval.update(num_samples=16384, inception_metrics=("fid",))
  if preset == "folder":
    # The official code's CelebA-HQ run; give the folder and its image size.
    c.data.update(dataset="folder:images", image_size=1024, channels=3,
                  mirror_augment=True)
    # Fewer images than the paper's 16,384: they are held in memory.
    c.eval.update(num_samples=256, swd_images=256, ms_ssim_pairs=1000,
                  growth_samples=16, saved_samples=64)
  if preset == "smoke":
    c.data.image_size = 8
    c.model.update(latent_dim=8, fmap_base=16, fmap_max=4)
    # One step at 4x4, then one fading 8x8 in (alpha 0.25).
    c.schedule.update(stabilize_images=4, fade_images=16,
                      batch_sizes=(8,) * 9)
    c.train.update(log_every=1, checkpoint_every=2, sample_every=2)
    c.eval.update(num_samples=16, swd_images=16, ms_ssim_pairs=8,
                  growth_samples=4)
  phases = config_phases(c, total_images=total_images)
  c.train.num_steps = phases[-1].first_step + phases[-1].num_steps
  if preset == "smoke":
    c.train.num_steps = 2
  return c
