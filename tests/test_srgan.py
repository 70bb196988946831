"""SRGAN (experiments/srgan.py): the content loss on the named layer of the
fixed network with no gradient into it, PSNR and SSIM on the stated pixel
range, the presets, two quick steps, and through the command line the
smoke run and the trained-run contract (--sample, --evaluate, --export,
--draw) and a bad field's one line and exit 2."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import gans_jax as gj
from experiment_runs import run_experiment
from experiments import srgan
from experiments.configs import srgan as srgan_config
from gans_jax.eval.domain import DigitConvNet
from gans_jax.train import config as config_lib
from gans_jax.train import experiment as experiment_lib


@pytest.mark.parametrize("preset", srgan_config.PRESETS)
def test_every_preset_validates(preset):
  config = srgan_config.get_config(preset)
  experiment_lib.validate(srgan, config, preset=preset)


def test_the_three_trained_rows_differ_only_in_their_loss():
  mse, perceptual, full = (srgan_config.get_config(p)
                           for p in ("mse", "perceptual", "srgan"))
  assert (mse.content.loss, mse.gan.adversarial_weight) == ("mse", 0.0)
  assert (perceptual.content.loss, perceptual.gan.adversarial_weight) == ("features", 0.0)
  assert (full.content.loss, full.gan.adversarial_weight) == ("features", 1e-3)
  # Every row sees as many generator updates; SRGAN's first are SRResNet-MSE's.
  assert mse.train.num_steps == perceptual.train.num_steps == full.train.num_steps
  assert 0 < full.gan.pretrain_steps < full.train.num_steps
  for config in (mse, perceptual, full):
    for section in ("model", "optim", "data", "eval"):
      assert config[section].to_dict() == full[section].to_dict(), section
  paper = srgan_config.get_config("imagenet")
  assert (paper.content.network, paper.content.layer) == ("vgg19", "conv5_4")
  assert paper.content.feature_scale == pytest.approx(1 / 12.75)
  assert (paper.model.num_blocks, paper.model.features, paper.data.image_size) == (16, 64, 96)


@pytest.mark.parametrize("changes, named", [
    ({"content.network": "facade_segmenter", "content.layer": "enc2/1"},
     "content.network"),                                  # trained on facades
    ({"content.network": "vgg19", "content.layer": "conv2_2"},
     "content.network"),                                  # digits are grey
    ({"content.layer": "convs/3"}, "content.layer"),
    ({"content.layer": "conv5_4"}, "content.layer"),      # not the digit CNN's
    ({"gan.pretrain_steps": 1500}, "gan.pretrain_steps"),
    ({"eval.crop_border": 11}, "eval.crop_border"),
    ({"model.upscale": 3}, "model.upscale"),
    ({"data.image_size": 40}, "data.image_size"),
])
def test_bad_fields_are_named(changes, named):
  config = srgan_config.get_config("srgan")
  for field, value in changes.items():
    section, name = field.split(".")
    config[section][name] = value
  with pytest.raises(config_lib.ConfigError, match=named):
    experiment_lib.validate(srgan, config, preset="srgan")


# ------------------------------------------------------ the content loss --

def _digit_cnn():
  return DigitConvNet(rngs=nnx.Rngs(3), num_classes=10)


def _hr(seed, n=3, size=32, channels=1):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(-1, 1, (n, size, size, channels)), jnp.float32)


def test_the_content_loss_is_eq5_on_the_relu_of_the_named_layer(monkeypatch):
  net = _digit_cnn()
  monkeypatch.setattr(srgan, "content_network",
                      lambda config: srgan.DigitFeatures(net))
  config = srgan_config.get_config("srgan")
  assert config.content.layer == "convs/1"   # phi_2,2's analogue
  config.content.feature_scale = 0.5
  fake, real = _hr(0), _hr(1)
  got = srgan.content_loss_fn(config)(fake, real)

  def phi(x):  # the CNN's second convolution after its ReLU, at 32x32
    return 0.5 * jax.nn.relu(net.convs[1](jax.nn.relu(net.convs[0](x))))

  assert phi(real).shape == (3, 16, 16, 32)
  want = np.mean(np.square(np.asarray(phi(real)) - np.asarray(phi(fake))), axis=(1, 2, 3))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # Another layer gives another loss: the test can tell layers apart.
  config.content.layer = "convs/2"
  assert not np.allclose(srgan.content_loss_fn(config)(fake, real), want, rtol=1e-2)
  # RGB digits are compared as their luma.
  rgb = lambda x: jnp.repeat(x, 3, axis=-1)
  config.content.layer = "convs/1"
  np.testing.assert_allclose(srgan.content_loss_fn(config)(rgb(fake), rgb(real)), want,
                             rtol=1e-4)
  # The mse preset's content loss is the pixel MSE.
  config = srgan_config.get_config("mse")
  np.testing.assert_allclose(srgan.content_loss_fn(config)(fake, real),
                             np.mean(np.square(np.asarray(fake - real)), axis=(1, 2, 3)),
                             rtol=1e-6)


def test_the_content_loss_sends_gradient_only_into_the_generated_images(monkeypatch):
  graphdef, net_state = nnx.split(_digit_cnn())
  config = srgan_config.get_config("srgan")

  def loss(net_state, fake, real):
    monkeypatch.setattr(srgan, "content_network", lambda config: srgan.DigitFeatures(
        nnx.merge(graphdef, net_state)))
    return jnp.mean(srgan.content_loss_fn(config)(fake, real))

  net_grads, fake_grads, real_grads = jax.grad(loss, argnums=(0, 1, 2))(
      net_state, _hr(2), _hr(3))
  assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(net_grads))
  assert float(jnp.max(jnp.abs(real_grads))) == 0.0
  assert float(jnp.max(jnp.abs(fake_grads))) > 0.0


# ----------------------------------------------------- PSNR and SSIM --

def test_psnr_and_ssim_are_scored_on_pixels_in_0_1():
  hr = _hr(4, n=2) * 0.5           # in [-0.5, 0.5], room for the offset
  # 0.2 in [-1, 1] is 0.1 in [0, 1]: MSE 0.01, PSNR 20 dB with range 1.
  scores = srgan.fidelity_scores(hr + 0.2, hr, crop=0)
  assert scores["psnr"] == pytest.approx(20.0, abs=1e-3)
  assert srgan.fidelity_scores(hr, hr, crop=0)["ssim"] == pytest.approx(1.0, abs=1e-5)
  # SSIM with L = 1: its constants are those of [0, 1], compared with the
  # library's SSIM on the rescaled images.
  x, y = (hr + 0.2 + 1) / 2, (hr + 1) / 2
  np.testing.assert_allclose(
      scores["ssim"], np.mean(gj.eval.fidelity.ssim(x, y, data_range=1.0)), rtol=1e-5)
  # The border is cropped before scoring: an error there alone is not seen.
  border = hr.at[:, :4].add(0.5)
  assert srgan.fidelity_scores(border, hr, crop=4)["psnr"] == np.inf
  assert srgan.fidelity_scores(border, hr, crop=3)["psnr"] < 40
  # RGB is scored as its luma: a colour shift of zero luma is invisible.
  rgb = jnp.repeat(hr, 3, axis=-1)
  shift = jnp.asarray([0.2, -0.2 * 0.299 / 0.587, 0.0])
  assert srgan.fidelity_scores(rgb + shift, rgb, crop=0)["psnr"] > 60


def test_bicubic_is_the_baseline_of_the_same_inputs():
  config = srgan_config.get_config("smoke")
  hr = _hr(5, n=2) * 0.5
  lr = srgan.downsample(config, hr)
  assert lr.shape == (2, 8, 8, 1)
  up = srgan.bicubic(config, np.asarray(lr))
  assert up.shape == hr.shape and np.abs(up).max() <= 1.0
  # Constant images stay constant both ways.
  flat = jnp.full((1, 32, 32, 1), 0.25)
  np.testing.assert_allclose(srgan.bicubic(config, srgan.downsample(config, flat)),
                             flat, atol=1e-5)


# ------------------------------------------------------------ the steps --

@pytest.mark.slow
def test_smoke_two_pretraining_steps_move_only_the_generator():
  config = srgan_config.get_config("smoke")
  state = srgan.create_state(config)
  step = jax.jit(srgan.make_train_step(config, "pretrain"))
  batch = {"image": _hr(6, n=4)}
  new, metrics = step(state, batch, jax.random.key(0))
  new, metrics = step(new, batch, jax.random.key(1))
  assert int(new.updates["generator"]) == 2 and int(new.updates["discriminator"]) == 0
  chex_equal = lambda a, b: all(np.array_equal(x, y) for x, y in
                                zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert chex_equal(new.discriminator.params, state.discriminator.params)
  assert not chex_equal(new.generator.params, state.generator.params)
  # The loss is SRResNet-MSE's: the pixel MSE of G(I^LR) against I^HR.
  assert metrics["g_loss"] == pytest.approx(float(metrics["pixel_mse"]), rel=1e-6)


@pytest.mark.slow
def test_the_srgan_step_adds_1e_3_of_the_adversarial_loss_to_the_content(monkeypatch):
  monkeypatch.setattr(srgan, "content_network",
                      lambda config: srgan.DigitFeatures(_digit_cnn()))
  config = srgan_config.get_config("smoke")
  state = srgan.create_state(config)
  hr = _hr(7, n=4)
  new, metrics = jax.jit(srgan.make_train_step(config))(state, {"image": hr},
                                                         jax.random.key(0))
  assert int(new.updates["generator"]) == 1 and int(new.updates["discriminator"]) == 1
  np.testing.assert_allclose(
      metrics["g_loss"], metrics["g_content"] + 1e-3 * metrics["g_adversarial"], rtol=1e-6)
  # The content term is the feature loss of G's output before the update.
  fake = state.generator.module(train=True)(srgan.downsample(config, hr))
  content = jnp.mean(srgan.content_loss_fn(config)(fake, hr))
  np.testing.assert_allclose(metrics["g_content"], content, rtol=1e-4)
  # -log D(G(x)) is scored by the updated discriminator.
  logits = new.discriminator.module(train=True)(fake)
  np.testing.assert_allclose(
      metrics["g_adversarial"],
      gj.losses.generator_nonsaturating_loss(logits).mean(), rtol=1e-4)


# ------------------------------------------------ the command line --

@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("srgan") / "run"
  assert run_experiment("srgan", "--config=experiments/configs/srgan.py:smoke",
                        "--config.train.checkpoint_every=1",
                        f"--workdir={workdir}") == 0
  return workdir


@pytest.mark.slow
def test_the_smoke_preset_trains_both_phases_and_scores_the_table(smoke_run):
  experiment_lib.check(srgan)
  results = json.loads((smoke_run / "results.json").read_text())
  assert results["step"] == 2
  for suffix in ("", "_bicubic"):
    for name in ("psnr", "ssim", "sharpness", "accuracy", "classifier_fd"):
      assert np.isfinite(results[f"eval/{name}{suffix}"]), name + suffix
  assert 0 <= results["eval/accuracy_real"] <= 1
  saved = np.load(smoke_run / "samples.npz")
  assert saved["samples"].shape == saved["targets"].shape == (4, 32, 32, 1)
  assert saved["inputs"].shape == (4, 8, 8, 1)
  assert (smoke_run / "comparison.png").stat().st_size > 0
  # The two phases' metrics: the pretraining step has no discriminator.
  lines = [json.loads(l) for l in (smoke_run / "metrics.jsonl").read_text().splitlines()]
  steps = {l["step"]: l for l in lines if "g_loss" in l}
  assert "d_loss" not in steps[1] and "d_loss" in steps[2]


@pytest.mark.slow
def test_the_trained_run_contract(smoke_run, tmp_path, capsys):
  out = tmp_path / "out"
  capsys.readouterr()
  assert run_experiment("srgan", f"--workdir={smoke_run}", "--evaluate", "--sample=5",
                        "--export", "--draw=comparison", "--checkpoint=1",
                        f"--out={out}") == 0
  assert "eval/psnr_bicubic" in capsys.readouterr().out
  assert json.loads((out / "results.json").read_text())["step"] == 1
  assert np.load(out / "samples_5.npz")["samples"].shape == (5, 32, 32, 1)
  assert (out / "comparison.png").stat().st_size > 0
  generator = gj.nn.Generator.load(out / "generator.npz")
  assert generator.spec["module"] == "gans_jax.nn.SRResNetGenerator"
  assert generator.spec["source"]["step"] == 1
  lr = np.asarray(srgan.downsample(srgan_config.get_config("smoke"), _hr(8, n=2)))
  assert generator(lr).shape == (2, 32, 32, 1)


@pytest.mark.slow
@pytest.mark.parametrize("flag, field", [
    ("--config.content.layer=head", "content.layer"),
    ("--config.eval.crop_border=20", "eval.crop_border"),
    ("--config.content.loss=vgg", "content.loss"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flag, field):
  assert run_experiment("srgan", "--config=experiments/configs/srgan.py:smoke", flag,
                        f"--workdir={tmp_path}") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and field in err[0]


@pytest.mark.slow
def test_missing_vgg_weights_exit_2_naming_the_field(tmp_path, capsys):
  assert run_experiment(
      "srgan", "--config=experiments/configs/srgan.py:smoke",
      "--config.data.dataset=facades", "--config.data.channels=3",
      "--config.data.image_size=32", "--config.content.network=vgg19",
      "--config.content.layer=conv1_2",
      f"--config.content.vgg_weights={tmp_path / 'none.npz'}",
      f"--workdir={tmp_path / 'run'}") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "content.vgg_weights" in err[0]


@pytest.mark.slow
def test_the_facades_preset_uses_the_segmenter_for_content_and_scores(tmp_path, monkeypatch):
  from gans_jax.eval import segmentation
  monkeypatch.setenv("GANS_JAX_CACHE_DIR", str(tmp_path / "cache"))
  segmentation.train_facade_segmenter(image_size=32, num_steps=3).save(
      tmp_path / "cache" / "facade_segmenter_32.npz")
  config = srgan_config.get_config("facades")
  assert (config.content.network, config.content.layer) == ("facade_segmenter", "enc2/1")
  smoke = srgan_config.get_config("smoke")
  config.model.update(smoke.model.to_dict())
  config.train.update(smoke.train.to_dict())
  config.gan.pretrain_steps = 1
  config.eval.update(smoke.eval.to_dict())
  config.data.image_size = 32
  srgan.validate(config)
  # phi: the ReLU of the middle scale's second convolution, 16x16 of 32x32.
  net = srgan.content_network(config)
  photos = jnp.asarray(srgan.eval_images(config)["hr"][:2])
  maps = gj.nn.feature_maps(net, photos)
  want = jax.nn.relu(maps["enc2/1"])
  assert want.shape == (2, 16, 16, 16)
  got = srgan.content_loss_fn(config)(photos[::-1], photos)
  np.testing.assert_allclose(got, np.mean(np.square(want[::-1] - want), axis=(1, 2, 3)),
                             rtol=1e-5)
  results = srgan.train_and_evaluate(config, str(tmp_path / "run"))
  for name in ("psnr", "ssim", "fcn_per_pixel_accuracy", "fcn_class_iou"):
    assert np.isfinite(results[f"eval/{name}"]) and np.isfinite(results[f"eval/{name}_bicubic"])
  assert 0 <= results["eval/fcn_per_pixel_accuracy_real"] <= 1
  assert np.load(tmp_path / "run" / "samples.npz")["samples"].shape == (4, 32, 32, 3)
