"""experiments/progan.py: the schedule's phases, the fading step, resuming in
the middle of a fade, the sampler, the data of each level and every preset."""

import math
import os
import signal

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gans_jax as gj
from experiments import progan
from experiments.configs import progan as progan_config
from gans_jax import nn as gnn
from gans_jax.train import runs


@pytest.fixture(autouse=True)
def _shared_classifier_cache(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


def _tiny(image_size=8, **schedule):
  """A smoke-sized config on the digits: 2-3 levels of a few feature maps."""
  config = progan_config.get_config("smoke")
  config.data.image_size = image_size
  config.schedule.update(schedule)
  config.train.update(sample_every=0, log_every=1)
  return config


def _official_lod(images, *, resolution, initial, stabilize, fade):
  """train.py's TrainingSchedule, in its own words (kimg as floats)."""
  kimg = images / 1000.0
  phase_dur = (stabilize + fade) / 1000.0
  phase_idx = int(np.floor(kimg / phase_dur)) if phase_dur > 0 else 0
  phase_kimg = kimg - phase_idx * phase_dur
  lod = np.log2(resolution) - np.floor(np.log2(initial)) - phase_idx
  if fade > 0:
    lod -= max(phase_kimg - stabilize / 1000.0, 0.0) / (fade / 1000.0)
  return max(lod, 0.0)


# ------------------------------------------------------------- the phases --

def test_phases_by_hand():
  # T = 10, F = 6 (period 16), batches 4, 2, 3 for levels 0, 1, 2:
  # 4x4 while n <= 10: n = 0, 4, 8; 8x8 fades while 10 < n < 16: n = 12, 14;
  # 8x8 while n <= 26: n = 16, ..., 26; 16x16 fades while 26 < n < 32:
  # n = 28, 31; then 16x16 for good: n = 34, 37.
  phases = progan_config.plan_phases(
      resolution=16, initial_resolution=4, stabilize_images=10, fade_images=6,
      batch_sizes=(4, 2, 3), num_steps=15)
  assert [tuple(p) for p in phases] == [
      (0, False, 4, 0, 3, 0), (1, True, 2, 3, 2, 12), (1, False, 2, 5, 6, 16),
      (2, True, 3, 11, 2, 28), (2, False, 3, 13, 2, 34)]
  assert [p.name for p in phases] == ["4x4", "8x8_fade_in", "8x8",
                                      "16x16_fade_in", "16x16"]


@pytest.mark.parametrize("resolution,initial,stabilize,fade,batches", [
    (32, 4, 10, 6, (4, 2, 3, 5)),
    (32, 4, 7, 13, (3, 5, 2, 4)),      # fades longer than levels
    (32, 8, 9, 9, (1, 4, 4, 2)),       # starts at 8x8
    (16, 4, 12, 0, (4, 3, 5)),         # no fades: levels switch abruptly
    (16, 4, 5, 1, (2, 2, 2)),          # a one-image fade shows no image
    (16, 4, 0, 8, (2, 3, 2)),          # no stabilising
    (16, 4, 3, 2, (8, 8, 8)),          # minibatches that skip whole fades
    (8, 8, 5, 5, (4, 4)),              # one level: nothing grows
])
def test_every_step_of_the_plan_is_at_the_official_level_of_detail(
    resolution, initial, stabilize, fade, batches):
  num_steps = 40
  phases = progan_config.plan_phases(
      resolution=resolution, initial_resolution=initial,
      stabilize_images=stabilize, fade_images=fade, batch_sizes=batches,
      num_steps=num_steps)
  assert sum(p.num_steps for p in phases) == num_steps
  assert all(p.num_steps > 0 for p in phases)
  step = images = 0
  for phase in phases:
    assert (phase.first_step, phase.first_images) == (step, images)
    assert phase.batch_size == batches[phase.level]
    for _ in range(phase.num_steps):
      lod = _official_lod(images, resolution=resolution, initial=initial,
                          stabilize=stabilize, fade=fade)
      # The official resolution is 2^(log2 R - floor(lod)); it fades while
      # lod has a fractional part.
      assert phase.level == int(np.log2(resolution)) - 2 - math.floor(lod)
      assert phase.fading == (lod != math.floor(lod))
      level, alpha = gnn.progan_schedule(
          images, final_resolution=resolution, stabilize_images=stabilize,
          fade_images=fade, initial_resolution=initial)
      assert int(level) == phase.level
      assert (float(alpha) < 1.0) == phase.fading
      step, images = step + 1, images + phase.batch_size


def test_a_plan_by_images_stops_at_the_first_minibatch_past_the_total():
  kwargs = dict(resolution=16, initial_resolution=4, stabilize_images=10,
                fade_images=6, batch_sizes=(4, 2, 3))
  phases = progan_config.plan_phases(total_images=40, **kwargs)
  last = phases[-1]
  end = last.first_images + last.images
  assert end - last.batch_size < 40 <= end  # as `while cur_nimg < total`
  steps = last.first_step + last.num_steps
  assert phases == progan_config.plan_phases(num_steps=steps, **kwargs)


def test_preset_lengths_are_the_official_image_counts():
  for preset, images in (("cifar10", 20_000_000), ("celeb_a", 12_000_000),
                         ("folder", 12_000_000)):
    config = progan_config.get_config(preset)
    last = progan_config.config_phases(config)[-1]
    end = last.first_images + last.images
    assert end - last.batch_size < images <= end, preset


def test_batch_sizes_and_learning_rates_per_resolution():
  config = progan_config.get_config("folder")
  assert progan_config.level_values(
      config, "schedule.batch_sizes", "train.batch_size") == (
          128, 128, 128, 64, 32, 16, 8, 4, 4)
  assert progan_config.level_values(
      config, "optim.learning_rates", "optim.learning_rate") == (
          (1e-3,) * 8 + (1.5e-3,))
  config.data.image_size = 64
  assert progan_config.level_values(
      config, "schedule.batch_sizes", "train.batch_size") == (
          128, 128, 128, 64, 32)


# ------------------------------------------------------------------- step --

@pytest.mark.slow
def test_a_fading_step_scores_faded_reals_with_a_fading_critic():
  # Level 1 of 8x8 fades in while 4 < n < 20 (T = 4, F = 16): alpha =
  # (n - 4) / 16. With no penalty the drift metric is the mean of D(x)^2 on
  # the reals the critic saw.
  config = _tiny(stabilize_images=4, fade_images=16)
  config.gan.update(gp_weight=0.0, drift_weight=1.0)
  state = progan.create_state(config)
  critic = state.discriminator.module()
  step = jax.jit(progan.make_train_step(
      config, progan_config.LevelPhase(1, True, 8, 0, 1, 0)))
  real = jax.random.uniform(jax.random.key(3), (8, 8, 8, 1), minval=-1,
                            maxval=1)

  def drift(images, critic_alpha):
    return float(jnp.mean(critic(images, level=1, alpha=critic_alpha) ** 2))

  generator = state.generator.module()
  # The generator step draws its latents with the last of the step's 4 keys.
  z = jax.random.normal(jax.random.split(jax.random.key(4), 4)[3],
                        (8, config.model.latent_dim))

  for shown, alpha in ((8, 0.25), (14, 0.625)):
    new_state, metrics = step(
        state.replace(extra={"images_shown": jnp.asarray(shown, jnp.int32)}),
        {"image": real}, jax.random.key(4))
    assert float(metrics["alpha"]) == alpha
    assert int(new_state.extra["images_shown"]) == shown + 8
    faded = gnn.fade_reals(real, alpha)
    np.testing.assert_allclose(metrics["drift"], drift(faded, alpha),
                               rtol=1e-5)
    # Unfaded reals, or a critic that does not fade, give other numbers.
    assert not np.isclose(metrics["drift"], drift(real, alpha), rtol=1e-3)
    assert not np.isclose(metrics["drift"], drift(faded, 1.0), rtol=1e-3)
    # Without a penalty the critic's loss is -W + eps_drift E[D(x)^2].
    np.testing.assert_allclose(
        metrics["d_loss"], -metrics["w_estimate"] + 1.0 * metrics["drift"],
        rtol=1e-5, atol=1e-6)

    # The generator's loss: the updated critic on the fading generator's
    # images, both at the step's alpha.
    new_critic = new_state.discriminator.module()
    g_loss = lambda g_alpha, d_alpha: float(-jnp.mean(new_critic(
        generator(z, level=1, alpha=g_alpha), level=1, alpha=d_alpha)))
    np.testing.assert_allclose(metrics["g_loss"], g_loss(alpha, alpha),
                               rtol=1e-5, atol=1e-6)
    assert not np.isclose(metrics["g_loss"], g_loss(1.0, alpha), rtol=1e-3)
    assert not np.isclose(metrics["g_loss"], g_loss(alpha, 1.0), rtol=1e-3)

    # The generator's EMA moves 1 - 0.999 of the way to the new parameters.
    chex.assert_trees_all_close(
        new_state.ema_params,
        jax.tree.map(lambda old, new: 0.999 * old + 0.001 * new,
                     state.generator.params, new_state.generator.params),
        rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_the_penalty_pulls_gradient_norms_to_gamma_with_weight_lambda_over_gamma2():
  config = _tiny()
  config.gan.update(drift_weight=0.0, gp_weight=10.0, gradient_target=750.0)
  state = progan.create_state(config)
  phase = progan_config.LevelPhase(0, False, 8, 0, 1, 0)
  real = jax.random.uniform(jax.random.key(3), (8, 4, 4, 1), minval=-1,
                            maxval=1)
  _, metrics = jax.jit(progan.make_train_step(config, phase))(
      state, {"image": real}, jax.random.key(4))
  # (|g| - 750)^2 with |g| far below 750; the loss adds 10 / 750^2 of it.
  assert float(metrics["gradient_penalty"]) > 0.9 * 750.0 ** 2
  wasserstein = float(metrics["d_loss"]) - 10.0 / 750.0 ** 2 * float(
      metrics["gradient_penalty"])
  np.testing.assert_allclose(wasserstein, -float(metrics["w_estimate"]),
                             rtol=1e-4, atol=1e-5)


def test_mirror_flips_whole_images_left_right():
  images = jax.random.normal(jax.random.key(0), (64, 4, 5, 2))
  flipped = progan.mirror(images, jax.random.key(1))
  same = np.all(np.asarray(flipped == images), axis=(1, 2, 3))
  mirrored = np.all(np.asarray(flipped == images[:, :, ::-1]), axis=(1, 2, 3))
  assert np.all(same | mirrored) and 16 < mirrored.sum() < 48


# ------------------------------------------------------------------- data --

def test_box_downscale_is_the_official_box_filter():
  images = np.random.default_rng(0).normal(size=(3, 16, 16, 2)).astype(
      np.float32)
  np.testing.assert_allclose(progan.box_downscale(images, 4),
                             gnn.downscale_images(jnp.asarray(images), 4),
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(progan.box_downscale(images, 8)[0, 2, 3, 1],
                             images[0, 4:6, 6:8, 1].mean(), rtol=1e-6)


def test_a_phase_continues_the_image_stream_at_its_own_resolution():
  config = _tiny(image_size=16)
  full = gj.data.ImageBatches(progan.image_source(config, "train"),
                              batch_size=4, seed=0, image_size=16, channels=1)
  # A phase that starts after 10 images in batches of 4 takes minibatch 3
  # (images 12-15) first: no image is shown twice.
  phase = progan_config.LevelPhase(1, True, 4, 7, 3, 10)
  batches = progan.LevelBatches(full, phase)
  np.testing.assert_allclose(batches.get_batch(8)["image"],
                             progan.box_downscale(full.get_batch(4)["image"],
                                                  8))
  assert batches.get_batch(7)["image"].shape == (4, 8, 8, 1)


def test_central_crop():
  source = gj.data.ArraySource(np.arange(2 * 6 * 5).reshape(2, 6, 5))
  cropped = progan.CentralCrop(source, 4)[1]["image"]
  np.testing.assert_array_equal(cropped, source[1]["image"][1:5, 0:4])
  with pytest.raises(gj.data.DataError, match="data.crop=7"):
    progan.CentralCrop(source, 7)[0]  # pylint: disable=expression-not-assigned


# --------------------------------------------------------------- sampling --

@pytest.mark.slow
def test_the_sampler_draws_at_the_level_of_the_images_shown():
  config = _tiny(image_size=16, stabilize_images=4, fade_images=16)
  state = progan.create_state(config)
  sample = progan.make_sampler(config, 6)
  key = jax.random.key(0)
  at = lambda n: np.asarray(sample(state.replace(
      extra={"images_shown": jnp.asarray(n, jnp.int32)}), key))
  generator = state.sampling_generator()
  z = jax.random.normal(key, (6, config.model.latent_dim))
  for shown, level, alpha in ((0, 0, 1.0), (12, 1, 0.5), (36, 2, 0.75)):
    images = at(shown)
    assert images.shape == (6, 16, 16, 1)
    expected = progan.upscale(generator(z, level=level, alpha=alpha), 16)
    np.testing.assert_allclose(images, jnp.clip(expected, -1, 1), atol=1e-4)
  # At 4x4 every 4x4 block of the 16x16 image is one pixel.
  blocks = at(0).reshape(6, 4, 4, 4, 4, 1)
  assert np.all(blocks == blocks[:, :, :1, :, :1])


def test_the_generator_spec_calls_the_level_and_alpha_of_the_images_shown():
  config = _tiny(image_size=16, stabilize_images=4, fade_images=16)
  state = progan.create_state(config)
  at = lambda n: state.replace(
      extra={"images_shown": jnp.asarray(n, jnp.int32)})
  # 4x4 while n <= 4; 8x8 fades in while 4 < n < 20, 16x16 while 24 < n < 40.
  for shown, call in ((0, (0, 1.0)), (12, (1, 0.5)), (20, (1, 1.0)),
                      (36, (2, 0.75)), (10**6, (2, 1.0))):
    spec = progan.generator_spec(config, at(shown))
    assert (spec["call"]["level"], spec["call"]["alpha"]) == call, shown
  assert progan.generator_spec(config)["call"] == {"level": 2, "alpha": 1.0}
  # create_state builds the generator the spec describes.
  rebuilt = gj.nn.build_module(progan.generator_spec(config),
                               rngs=gj.train.init_rngs(config.train.seed))
  z = jax.random.normal(jax.random.key(1), (3, config.model.latent_dim))
  np.testing.assert_array_equal(
      rebuilt(z, level=2, alpha=0.5),
      state.generator.module()(z, level=2, alpha=0.5))


@pytest.mark.slow
def test_the_exported_generator_draws_what_the_sampler_draws():
  config = _tiny(image_size=16, stabilize_images=4, fade_images=16)
  state = progan.create_state(config)
  state = state.replace(extra={"images_shown": jnp.asarray(12, jnp.int32)})
  generator = runs.generator(progan, config, state)
  key = jax.random.key(2)
  z = jax.random.normal(key, (5, config.model.latent_dim))
  images = generator(z)
  assert images.shape == (5, 8, 8, 1)  # 8x8, fading in at alpha 0.5
  np.testing.assert_allclose(
      progan.make_sampler(config, 5)(state, key),
      jnp.clip(progan.upscale(images, 16), -1, 1), atol=1e-5)


# ------------------------------------------------------ training, resuming --

class _Stop:
  """Sends SIGTERM to the run at step ``at`` (a checkpoint is saved there)
  and notes the images shown then."""

  every = 1

  def __init__(self, at):
    self.at, self.images_shown = at, None

  def __call__(self, step, state, writer):
    if step == self.at:
      self.images_shown = progan.images_shown(state)
      os.kill(os.getpid(), signal.SIGTERM)


def _arrays(state):
  # Optax's closures make separately built states' treedefs differ; compare
  # the leaves by path.
  return {jax.tree_util.keystr(path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]}


@pytest.mark.slow
def test_a_run_killed_mid_fade_resumes_bit_for_bit(tmp_path):
  # 8x8 digits: 4x4 for 2 steps, 8x8 fading in for 4, then 8x8 for 2.
  config = _tiny(stabilize_images=12, fade_images=32)
  config.optim.learning_rates = (0.0, 0.002) + (0.0,) * 7
  config.train.update(num_steps=8, checkpoint_every=100)
  phases = progan_config.config_phases(config)
  assert [(p.name, p.num_steps) for p in phases] == [
      ("4x4", 2), ("8x8_fade_in", 4), ("8x8", 2)]
  full = progan.train(config, str(tmp_path / "full"))

  workdir = str(tmp_path / "killed")
  stop = _Stop(4)
  with pytest.raises(gj.train.Interrupted):
    progan.train(config, workdir, hooks=[stop])
  _, alpha = progan.schedule(config)(stop.images_shown)
  assert float(alpha) == (32 - 12) / 32  # killed in the middle of the fade
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints")))[-1] == "4"
  resumed = progan.train(config, workdir)
  chex.assert_trees_all_equal(_arrays(resumed), _arrays(full))

  assert int(full.extra["images_shown"]) == 8 * 8
  # Adam restarted when the last phase began, at the 8x8 learning rate.
  for opt_state in full.opt_states.values():
    assert int(opt_state.inner_state[0].count) == 2
    assert float(opt_state.hyperparams["learning_rate"]) == pytest.approx(0.002)
  losses = lambda d: [r["d_loss"] for r in gj.train.read_metrics(d)]
  assert losses(workdir) == losses(str(tmp_path / "full"))


# ---------------------------------------------------------------- presets --

@pytest.mark.parametrize("preset", progan_config.PRESETS)
def test_every_preset_validates(preset):
  progan.validate(progan_config.get_config(preset))


@pytest.mark.parametrize("field,value", [
    ("schedule.batch_sizes", (8, 8)),
    ("schedule.batch_sizes", (8, 6) + (8,) * 7),    # not a multiple of 4
    ("schedule.initial_resolution", 16),
    ("model.fmap_base", 1),
    ("optim.learning_rates", (-1.0,) * 9),
    ("data.image_size", 24),
])
def test_bad_fields_are_named(field, value):
  config = progan_config.get_config("smoke")
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(gj.train.ConfigError, match=field.replace(".", r"\.")):
    gj.train.experiment.validate(progan, config, preset="smoke")


def _smoke(preset, **data):
  config = progan_config.get_config(preset)
  smoke = progan_config.get_config("smoke")
  config.update(model=smoke.model, schedule=smoke.schedule, train=smoke.train,
                eval=smoke.eval)
  config.data.update(data)
  return config


def _check_run(config, workdir, results):
  size, channels = config.data.image_size, config.data.channels
  samples = np.load(os.path.join(workdir, "samples.npz"))["samples"]
  assert samples.shape == (16, size, size, channels)
  assert samples.min() >= -1 and samples.max() <= 1
  assert results["eval/images_shown"] == 16
  assert sorted(os.listdir(os.path.join(workdir, "growth"))) == [
      "4x4.npz", "8x8.npz"]
  # The 4x4 level after its last step, then the fading 8x8 level at the
  # alpha of the run's last step ((8 - 4) / 16), 4 samples each.
  for name, alpha, grid in (("4x4", 1.0, 2 * 6 + 2), ("8x8", 0.25, 2 * 10 + 2)):
    snapshot = np.load(os.path.join(workdir, "growth", f"{name}.npz"))
    assert float(snapshot["alpha"]) == alpha
    assert snapshot["images"].shape == (grid, grid, channels)
  for name in ("growth.png", "samples.png", "results.json"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  if size >= 16:
    assert np.isfinite(results["eval/swd_mean"])
    assert 0 < results["eval/ms_ssim_real"] <= 1


@pytest.mark.slow
def test_digits_smoke_two_steps_end_to_end(tmp_path):
  config = _smoke("digits", image_size=16)
  progan.validate(config)
  results = progan.train_and_evaluate(config, str(tmp_path))
  _check_run(config, str(tmp_path), results)
  assert np.isfinite(results["eval/classifier_fd"])
  assert set(results) >= {"eval/swd_16", "eval/swd_16_real", "eval/ms_ssim"}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["cifar10", "celeb_a"])
def test_tfds_preset_smoke_two_steps_on_mock_data(tmp_path, preset):
  import tensorflow_datasets as tfds
  config = _smoke(preset, image_size=16)
  progan.validate(config)
  with tfds.testing.mock_data(num_examples=16):
    results = progan.train_and_evaluate(config, str(tmp_path))
  _check_run(config, str(tmp_path), results)


@pytest.mark.slow
def test_folder_preset_smoke_two_steps(tmp_path):
  from PIL import Image
  rng = np.random.default_rng(0)
  folder = tmp_path / "images"
  folder.mkdir()
  for i in range(16):
    pixels = rng.integers(0, 256, size=(40, 36, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / f"{i:02d}.png")
  config = _smoke("folder", dataset=f"folder:{folder}", image_size=32)
  progan.validate(config)
  results = progan.train_and_evaluate(config, str(tmp_path / "run"))
  _check_run(config, str(tmp_path / "run"), results)
