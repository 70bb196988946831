"""experiments/pix2pix.py: the step against the official update written out
independently, presets, config errors, and two steps end to end on the
synthetic facades and on an aligned A|B folder."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

import gans_jax as gj
from experiments import pix2pix
from experiments.configs import pix2pix as pix2pix_config
from gans_jax.train import config as config_lib


def _sgd_state(config):
  # Plain gradient steps, so that each update is its gradient.
  state = pix2pix.create_state(config)
  return (state.with_optimizer("generator", optax.sgd(1.0))
          .with_optimizer("discriminator", optax.sgd(1.0)))


@pytest.mark.slow
@pytest.mark.parametrize("gan_weight,l1_weight,conditional", [
    (1.0, 100.0, True),   # L1 + cGAN
    (0.0, 100.0, True),   # L1 alone: D is not trained
    (1.0, 0.0, True),     # cGAN alone
    (1.0, 100.0, False),  # L1 + GAN: D sees the output alone
])
def test_step_is_the_official_update(gan_weight, l1_weight, conditional):
  config = pix2pix_config.get_config("smoke")
  config.loss.update(gan_weight=gan_weight, l1_weight=l1_weight)
  config.model.conditional = conditional
  config.train.batch_size = 2
  state = _sgd_state(config)
  x, y = jax.random.uniform(jax.random.key(0), (2, 2, 32, 32, 3), minval=-1,
                            maxval=1)
  key = jax.random.key(7)
  new, metrics = jax.jit(pix2pix.make_train_step(config))(
      state, {"a": x, "b": y}, key)

  @jax.jit
  def reference(state):
    """The official update, written out: (new D params, new G params, losses)."""
    # G(x) in train mode with the step's key: batch statistics and dropout.
    generator = lambda p: state.generator.apply(x, params=p, rngs=key)[0]
    fake = generator(state.generator.params)

    def discriminator(params, image):
      # The official input: cat(real_A, B) on channels, the condition first.
      pair = jnp.concatenate([x, image], axis=-1) if conditional else image
      return state.discriminator.apply(pair, params=params)[0]

    bce = lambda logits, target: optax.sigmoid_binary_cross_entropy(
        logits, jnp.full_like(logits, target)).mean()

    def d_loss(params):
      return 0.5 * (bce(discriminator(params, y), 1.0)
                    + bce(discriminator(params, fake), 0.0))

    d_params = state.discriminator.params
    if gan_weight:
      d_params = jax.tree.map(lambda p, g: p - g, d_params,
                              jax.grad(d_loss)(d_params))

    def g_loss(params):
      fake = generator(params)
      gan = bce(discriminator(d_params, fake), 1.0)  # scored by the updated D
      return gan_weight * gan + l1_weight * jnp.abs(fake - y).mean()

    g_params = jax.tree.map(lambda p, g: p - g, state.generator.params,
                            jax.grad(g_loss)(state.generator.params))
    return (d_params, g_params, d_loss(state.discriminator.params),
            g_loss(state.generator.params))

  d_params, g_params, d_loss, g_loss = reference(state)
  for a, b in zip(jax.tree.leaves(new.discriminator.params),
                  jax.tree.leaves(d_params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  for a, b in zip(jax.tree.leaves(new.generator.params), jax.tree.leaves(g_params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  if gan_weight:
    np.testing.assert_allclose(metrics["d_loss"], d_loss, rtol=1e-5)
  np.testing.assert_allclose(metrics["g_loss"], g_loss, rtol=1e-5)
  assert int(new.step) == 1
  assert int(new.updates["discriminator"]) == (1 if gan_weight else 0)


@pytest.mark.parametrize("preset", pix2pix_config.PRESETS)
def test_every_preset_validates(preset):
  pix2pix.validate(pix2pix_config.get_config(preset))


def test_table_1_presets_change_only_the_objective():
  base = pix2pix_config.get_config("facades")
  assert (base.loss.gan_weight, base.loss.l1_weight, base.model.conditional) == (
      1.0, 100.0, True)
  for preset, change in [("l1", {"loss.gan_weight": 0.0}),
                         ("cgan", {"loss.l1_weight": 0.0}),
                         ("l1_gan", {"model.conditional": False})]:
    config = pix2pix_config.get_config(preset)
    for field, value in change.items():
      assert config_lib.get(config, field) == value
      section, name = field.split(".")
      config[section][name] = config_lib.get(base, field)
    config.name = base.name
    assert config.to_dict() == base.to_dict(), preset


@pytest.mark.parametrize("field,value,named", [
    ("data.image_size", 48, "data.image_size"),      # U-Net: a power of two
    ("model.d_layers", 4, "model.d_layers"),         # too deep for 32 px
    ("model.dropout_blocks", 4, "model.dropout_blocks"),
    ("data.dataset", "digits", "data.dataset"),      # not a paired task
    ("data.channels", 1, "data.channels"),           # the facades are RGB
    ("eval.mode", "test", "eval.mode"),
    ("optim.decay_fraction", 1.5, "optim.decay_fraction"),
])
def test_bad_fields_are_named(field, value, named):
  config = pix2pix_config.get_config("smoke")
  section, name = field.split(".")
  with config.unlocked():
    config[section][name] = value
  with pytest.raises(gj.train.ConfigError, match=named.replace(".", r"\.")):
    gj.train.experiment.validate(pix2pix, config, preset="smoke")


def test_nothing_to_train_is_refused():
  config = pix2pix_config.get_config("smoke")
  config.loss.update(gan_weight=0.0, l1_weight=0.0)
  with pytest.raises(gj.train.ConfigError, match="loss"):
    pix2pix.validate(config)


@pytest.fixture
def quick_scorers(tmp_path, monkeypatch):
  """A cache holding a briefly trained 32 px facade segmenter, so the
  evaluation does not train the full one."""
  from gans_jax.eval import segmentation
  monkeypatch.setenv("GANS_JAX_CACHE_DIR", str(tmp_path / "cache"))
  segmentation.train_facade_segmenter(image_size=32, num_steps=3).save(
      tmp_path / "cache" / "facade_segmenter_32.npz")
  return tmp_path / "cache"


def _aligned_folder(root, n=3, size=40):
  """The official layout: each file holds A (left) | B (right)."""
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    os.makedirs(root / split)
    for i in range(n):
      pair = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
      Image.fromarray(pair).save(root / split / f"{i}.png")
  return f"aligned:{root}"


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["facades", "aligned"])
def test_smoke_two_steps_end_to_end(tmp_path, quick_scorers, dataset):
  config = pix2pix_config.get_config("smoke")
  if dataset == "aligned":
    config.data.dataset = _aligned_folder(tmp_path / "pairs")
  pix2pix.validate(config)
  workdir = tmp_path / "run"
  results = pix2pix.train_and_evaluate(config, str(workdir))
  assert np.isfinite(results["eval/l1"])
  assert results["eval/gradient_magnitude_real"] > 0
  if dataset == "facades":
    for name in ("per_pixel_accuracy", "per_class_accuracy", "class_iou"):
      assert 0 <= results[f"eval/fcn_{name}"] <= 1
      assert 0 <= results[f"eval/fcn_{name}_real"] <= 1
  else:
    assert not any(name.startswith("eval/fcn") for name in results)
  saved = np.load(workdir / "samples.npz")
  n = min(config.eval.num_test, 3 if dataset == "aligned" else 100)
  assert saved["samples"].shape == saved["inputs"].shape == (n, 32, 32, 3)
  # The saved numbers are those of the saved outputs.
  np.testing.assert_allclose(
      results["eval/l1"], np.mean(np.abs(saved["samples"] - saved["targets"])),
      rtol=1e-6)
  assert json.load(open(workdir / "results.json"))["step"] == 2
  for name in ("translations.png", "samples/step_0000002.png", "results.md",
               "test_results/index.html", f"test_results/images/{n - 1:04d}_fake_B.png"):
    assert os.path.getsize(workdir / name) > 0
  assert os.listdir(workdir / "checkpoints") == ["2"]
