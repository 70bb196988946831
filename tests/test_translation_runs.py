"""pix2pix and CycleGAN as trained runs: --sample, --evaluate and --export
from the command line, the exported translator equal to the run's own
test-time translation, --translate of a folder of images equal to the run's
translation of each image with its own key, and CycleGAN's discriminators
trained on what a full image pool hands them."""

import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gans_jax as gj
from experiments import cyclegan
from experiments import translation
from experiments.configs import cyclegan as cyclegan_config
from experiments.configs import dcgan as dcgan_config
from experiments.configs import pix2pix as pix2pix_config
from gans_jax.train import config as config_lib
from experiment_runs import environment, run_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def quick_cache(tmp_path_factory):
  """Briefly trained scorers (32 px facade segmenter, digit and domain
  classifiers), so that the evaluations do not train the full ones."""
  from gans_jax.eval import domain, segmentation
  cache = tmp_path_factory.mktemp("cache")
  with environment(GANS_JAX_CACHE_DIR=str(cache), GANS_JAX_COMPILATION_CACHE="0"):
    segmentation.train_facade_segmenter(image_size=32, num_steps=3).save(
        cache / "facade_segmenter_32.npz")
    for task, name in (("digit", "digit_cross_domain_classifier.npz"),
                       ("domain", "digit_domain_classifier.npz")):
      domain.train_digit_domain_classifier(task, num_steps=3).save(cache / name)
    yield cache


_main = run_experiment


@pytest.mark.slow
@pytest.mark.parametrize("name,player,spec_mode", [("pix2pix", "generator", "train"),
                                                   ("cyclegan", "g_ab", "train")])
def test_a_trained_translator_is_sampled_evaluated_and_exported(
    name, player, spec_mode, tmp_path, quick_cache):
  workdir = tmp_path / "run"
  assert _main(name, f"--config=experiments/configs/{name}.py:smoke",
               "--config.train.checkpoint_every=1", f"--workdir={workdir}") == 0
  assert _main(name, f"--workdir={workdir}", "--sample=3", "--export") == 0
  assert _main(name, f"--workdir={workdir}", "--evaluate", "--checkpoint=1") == 0
  assert os.path.getsize(workdir / "step_1" / "results.json") > 0
  samples = np.load(workdir / "step_2" / "samples_3.npz")["samples"]
  size, channels = {"pix2pix": (32, 3), "cyclegan": (16, 1)}[name]
  assert samples.shape == (3, size, size, channels)
  assert np.all(np.abs(samples) <= 1)

  # The exported translator is the run's test-time translation: the same
  # network, the same mode (pix2pix: train mode, its dropout mask from the key).
  module = importlib.import_module(f"experiments.{name}")
  config, state = gj.train.load_run(str(workdir))
  generator = gj.nn.Generator.load(workdir / "step_2" / "generator.npz")
  assert generator.spec["player"] == player
  assert generator.spec["mode"] == spec_mode
  images = jnp.asarray(translation.eval_pairs(config)["a"][:1] if name == "pix2pix"
                       else translation.eval_domains(config)["a"][:1])
  key = jax.random.key(5)
  expected = module.make_translate(config)(state, images, key)
  image_key = jax.random.split(key, 1)[0]  # make_translate's key of image 0
  np.testing.assert_allclose(generator(images, key=image_key), expected, atol=1e-5)
  if name == "pix2pix":
    # Dropout is on: another key gives another output.
    assert not np.allclose(generator(images, key=jax.random.key(6)), expected,
                           atol=1e-3)


@pytest.mark.slow
def test_cyclegan_discriminators_are_trained_on_the_images_the_full_pools_return():
  config = cyclegan_config.get_config("smoke")
  config.train.batch_size = 2
  state = cyclegan.create_state(config)
  state = (state.with_optimizer("g_ab+g_ba", optax.sgd(1.0))
           .with_optimizer("d_a+d_b", optax.sgd(1.0)))
  # Full pools of recognisable images (constant +-0.9), unlike any fake.
  full = lambda value: gj.train.ImagePool(
      images=jnp.full_like(state.extra["pool_a"].images, value),
      count=jnp.asarray(config.gan.pool_size, jnp.int32))
  state = state.replace(extra={"pool_a": full(0.9), "pool_b": full(-0.9)})
  a, b = jax.random.uniform(jax.random.key(0), (2, 2, 16, 16, 1), minval=-1,
                            maxval=1)
  key = jax.random.key(11)
  new, metrics = jax.jit(cyclegan.make_train_step(config))(
      state, {"a": a, "b": b}, key)

  # The fakes D sees: this step's G(a), F(b) exchanged against the pools with
  # the step's pool keys.
  _, key_pool_a, key_pool_b = jax.random.split(key, 3)
  fake_b = state.g_ab.apply(a, rngs=jax.random.fold_in(jax.random.split(key, 3)[0],
                                                       1))[0]
  fake_a = state.g_ba.apply(b, rngs=jax.random.fold_in(jax.random.split(key, 3)[0],
                                                       2))[0]
  pool_a, shown_a = state.extra["pool_a"].query(fake_a, key_pool_a)
  pool_b, shown_b = state.extra["pool_b"].query(fake_b, key_pool_b)
  # With this key, at least one returned image is an old one and one a new one
  # (otherwise the test could not tell the pool's output from the fakes).
  old = np.all(np.isclose(np.asarray(shown_a), 0.9), axis=(1, 2, 3))
  assert old.any() and not old.all(), old

  def d_loss(params, name, real, shown):
    d = lambda x: state.player(name).apply(x, params=params)[0]
    return 0.5 * (jnp.mean(jnp.square(d(real) - 1.0)) + jnp.mean(jnp.square(d(shown))))

  for name, real, shown in (("d_a", a, shown_a), ("d_b", b, shown_b)):
    params = state.player(name).params
    np.testing.assert_allclose(metrics[f"{name}_loss"],
                               d_loss(params, name, real, shown), rtol=1e-5)
    expected = jax.tree.map(lambda p, g: p - g, params,
                            jax.grad(d_loss)(params, name, real, shown))
    for x, y in zip(jax.tree.leaves(new.player(name).params),
                    jax.tree.leaves(expected)):
      np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, err_msg=name)
  for got, want in ((new.extra["pool_a"], pool_a), (new.extra["pool_b"], pool_b)):
    np.testing.assert_allclose(got.images, want.images, atol=1e-6)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, quick_cache):
  """``run(name)``: the workdir of the experiment's smoke preset trained two
  steps (trained once per module)."""
  runs = {}

  def run(name):
    if name not in runs:
      workdir = tmp_path_factory.mktemp(name) / "run"
      assert _main(name, f"--config=experiments/configs/{name}.py:smoke",
                   f"--workdir={workdir}") == 0
      runs[name] = workdir
    return runs[name]

  return run


def _write_images(folder):
  """Three random pictures of other sizes and modes than the runs', one in a
  sub-folder, and a file that is not an image (ignored by its extension)."""
  from PIL import Image
  rng = np.random.default_rng(0)
  folder.mkdir()
  (folder / "sub").mkdir()
  Image.fromarray(rng.integers(0, 256, (20, 24, 3), np.uint8)).save(folder / "b.png")
  Image.fromarray(rng.integers(0, 256, (40, 40), np.uint8)).save(folder / "a.jpg")
  Image.fromarray(rng.integers(0, 256, (12, 12, 3), np.uint8)).save(
      folder / "sub" / "c.png")
  (folder / "notes.txt").write_text("not an image")
  return ["a.png", "b.png", "sub/c.png"]  # the outputs, in the order translated


@pytest.mark.slow
@pytest.mark.parametrize("name,direction,player", [
    ("pix2pix", None, "generator"), ("cyclegan", None, "g_ab"),
    ("cyclegan", "BtoA", "g_ba")])
def test_translate_writes_the_runs_translation_of_each_image_with_its_own_key(
    name, direction, player, tmp_path, trained_runs):
  from PIL import Image
  workdir = trained_runs(name)
  names = _write_images(tmp_path / "in")
  out = tmp_path / "out"
  flags = [f"--direction={direction}"] if direction else []
  assert _main(name, f"--workdir={workdir}", f"--translate={tmp_path / 'in'}",
               f"--out={out}", *flags) == 0

  module = importlib.import_module(f"experiments.{name}")
  config, state = gj.train.load_run(str(workdir))
  size, channels = config.data.image_size, config.data.channels
  translate = (module.make_translate(config) if name == "pix2pix"
               else module.make_translate(config, player))
  source = gj.data.folder_source(tmp_path / "in", with_labels=False)
  inputs = [b["image"] for b in gj.data.ordered_batches(
      source, batch_size=1, image_size=size, channels=channels)]
  assert len(inputs) == len(names)
  key = gj.train.make_key(config.train.seed, "translate")
  gallery = (out / "index.html").read_text()
  for i, (file, x) in enumerate(zip(names, inputs)):
    picture = np.asarray(Image.open(out / file))
    assert picture.shape == ((size, size, 3) if channels == 3 else (size, size))
    expected = np.asarray(translate(state, jnp.asarray(x), jax.random.fold_in(key, i)))
    expected = np.round((np.clip(expected[0], -1, 1) + 1) * 127.5).reshape(picture.shape)
    np.testing.assert_allclose(picture, expected, atol=1, err_msg=file)
    shown = np.asarray(Image.open(out / "inputs" / file), np.float32)
    np.testing.assert_allclose(shown / 127.5 - 1, x[0].reshape(shown.shape),
                               atol=1 / 127.5, err_msg=file)
    assert f'<img src="inputs/{file}">' in gallery and f'<img src="{file}">' in gallery
  assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == sorted(
      names + [f"inputs/{n}" for n in names])


@pytest.mark.slow
def test_translate_stops_with_one_line_on_an_unreadable_image_or_a_wrong_direction(
    tmp_path, trained_runs, capsys):
  workdir = trained_runs("pix2pix")
  _write_images(tmp_path / "in")
  (tmp_path / "in" / "sub" / "broken.png").write_text("not a picture")
  capsys.readouterr()
  assert _main("pix2pix", f"--workdir={workdir}", f"--translate={tmp_path / 'in'}",
               f"--out={tmp_path / 'out'}") == 2
  error = capsys.readouterr().err
  assert error.count("\n") == 1 and "broken.png" in error, error
  # pix2pix's G maps only the direction it was trained in.
  assert _main("pix2pix", f"--workdir={workdir}", f"--translate={tmp_path / 'in'}",
               "--direction=BtoA") == 2
  error = capsys.readouterr().err
  assert error.count("\n") == 1 and "AtoB" in error, error
  assert not (tmp_path / "out" / "a.png").exists()


def test_translate_is_refused_without_a_translator_a_checkpoint_or_a_folder(
    tmp_path, capsys):
  for name, config in (("dcgan", dcgan_config.get_config("smoke")),
                       ("pix2pix", pix2pix_config.get_config("smoke"))):
    workdir = tmp_path / name
    workdir.mkdir()
    (workdir / "config.json").write_text(config_lib.to_json(config))
    capsys.readouterr()
    assert _main(name, f"--workdir={workdir}", f"--translate={tmp_path}") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert ("only pix2pix and CycleGAN" in error if name == "dcgan"
            else "no checkpoint" in error), error
  # --direction means nothing without --translate.
  assert _main("cyclegan", f"--workdir={tmp_path / 'pix2pix'}", "--sample=1",
               "--direction=BtoA") == 2
  assert "--direction" in capsys.readouterr().err
