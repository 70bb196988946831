"""The VAE experiment (experiments/vae.py): its smoke preset through the
command line, and the behaviours a plausible slip would break: the ELBO's KL
term (sign, and averaged over the minibatch), the step's noise drawn from the
step's key, the autoencoders' losses scoring the clean image."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gans_jax as gj
from experiment_runs import run_experiment
from experiments import vae
from experiments.configs import vae as vae_config
from gans_jax.train import experiment as experiment_lib


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("vae") / "run"
  assert run_experiment("vae", "--config=experiments/configs/vae.py:smoke",
                        f"--workdir={workdir}") == 0
  return workdir


@pytest.mark.slow
def test_the_smoke_preset_trains_evaluates_and_interpolates(smoke_run, capsys):
  experiment_lib.check(vae)
  results = json.loads((smoke_run / "results.json").read_text())
  assert results["step"] == 2
  for name in ("elbo", "log_likelihood", "kl", "reconstruction_mse",
               "parzen_log_likelihood", "sharpness", "classifier_fd",
               "psnr_noisy@0.2", "psnr_denoised@0.2"):
    assert np.isfinite(results[f"eval/{name}"]), name
  # log p(x) >= the IWAE bound >= the ELBO (in expectation; far apart here).
  assert results["eval/log_likelihood"] > results["eval/elbo"]
  assert results["eval/kl"] >= 0
  samples = np.load(smoke_run / "samples.npz")["samples"]
  assert samples.shape[1:] == (16, 16, 1) and samples.min() >= -1 and samples.max() <= 1
  assert len(np.unique(samples.round(5), axis=0)) > 1
  for figure in ("samples.png", "reconstruction.png", "denoising.png",
                 "interpolation.png", "interpolation.gif"):
    assert (smoke_run / figure).stat().st_size > 0, figure
  # The trained-run contract's --interpolate: between test images' codes.
  out = smoke_run / "interp"
  assert run_experiment("vae", f"--workdir={smoke_run}", "--interpolate=3",
                        "--interpolation=slerp", f"--out={out}") == 0
  saved = np.load(out / "interpolation_3_slerp.npz")
  codes, frames = saved["codes"], saved["frames"]
  assert codes.shape == (10, 3, 2) and frames.shape == (10, 3, 16, 16, 1)
  np.testing.assert_allclose(codes, gj.eval.interpolation.slerp(codes[0], codes[-1], 10),
                             atol=1e-5)
  assert (out / "interpolation_3_slerp.gif").stat().st_size > 0
  # Bad input: one line naming the field, exit 2.
  capsys.readouterr()
  assert run_experiment("vae", "--config=experiments/configs/vae.py:smoke",
                        "--config.eval.iwae_chunk=7",
                        f"--workdir={smoke_run.parent / 'bad'}") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "eval.iwae_chunk" in err[0]


def _setup(preset="smoke", **model):
  config = vae_config.get_config(preset)
  config.model.update(model)
  state = vae.create_state(config)
  images = jax.random.uniform(jax.random.key(1), (6, 16, 16, 1), minval=-1, maxval=1)
  return config, state, {"image": images}


def _networks(state):
  return state.sampling_module("encoder"), state.sampling_module("decoder")


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.slow
def test_the_step_minimises_the_batch_averaged_negative_elbo(likelihood):
  config, state, batch = _setup(likelihood=likelihood)
  key = jax.random.key(7)
  _, metrics = vae.make_train_step(config)(state, batch, key)
  # The same loss written out by hand, KL = 0.5 sum(mu^2 + s^2 - 1 - log s^2).
  encoder, decoder = _networks(state)
  x = (np.asarray(batch["image"]) + 1) / 2
  mean, log_var = (np.asarray(a) for a in encoder(x))
  _, key_z = jax.random.split(key)
  z = mean + np.exp(0.5 * log_var) * np.asarray(jax.random.normal(key_z, mean.shape))
  out = np.asarray(decoder(z)).reshape(6, -1)
  x = x.reshape(6, -1)
  if likelihood == "gaussian":
    var = config.model.decoder_std ** 2
    log_px = -0.5 * (np.log(2 * np.pi * var) + (x - out) ** 2 / var).sum(1)
  else:
    log_px = (x * out - np.logaddexp(0, out)).sum(1)
  kl = 0.5 * (mean ** 2 + np.exp(log_var) - 1 - log_var).sum(1)
  np.testing.assert_allclose(metrics["loss"], -(log_px - kl).mean(), rtol=1e-4)
  np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-4)
  assert np.all(kl >= 0)


def test_each_step_draws_its_noise_from_its_own_key():
  config, state, batch = _setup()
  step = jax.jit(vae.make_train_step(config))
  _, a = step(state, batch, jax.random.key(0))
  _, again = step(state, batch, jax.random.key(0))
  _, b = step(state, batch, jax.random.key(1))
  assert a["loss"] == again["loss"]
  assert a["loss"] != b["loss"]
  # Through the loop: fit's keys are fold_in(train_key, step), one per step.
  key = gj.train.make_key(0, "train")
  losses = [step(state, batch, jax.random.fold_in(key, s))[1]["loss"] for s in range(3)]
  assert len(set(float(l) for l in losses)) == 3


@pytest.mark.parametrize("objective", ["autoencoder", "denoising"])
def test_the_autoencoders_score_the_clean_image_at_the_code(objective):
  config, state, batch = _setup()
  config.vae.objective = objective
  key = jax.random.key(3)
  _, metrics = vae.make_train_step(config)(state, batch, key)
  encoder, decoder = _networks(state)
  x = (batch["image"] + 1) / 2
  key_noise, _ = jax.random.split(key)
  noisy = vae.corrupt(key_noise, x, config.vae.noise_std)
  inputs = noisy if objective == "denoising" else x
  log_px = vae.log_likelihood_fn(config)
  target = log_px(decoder(encoder(inputs)[0]), x)   # the clean x, the mean code
  np.testing.assert_allclose(metrics["loss"], -jnp.mean(target), rtol=1e-5)
  if objective == "denoising":
    against_noisy = log_px(decoder(encoder(noisy)[0]), noisy)
    assert not np.allclose(metrics["loss"], -jnp.mean(against_noisy), rtol=1e-3)


def test_denoising_psnr_is_measured_against_the_clean_images(monkeypatch):
  config, state, _ = _setup()
  config.eval.noise_levels = (0.1, 0.3)
  x = jnp.full((8, 16, 16, 1), 0.5)
  # An "autoencoder" that returns its input: no gain, and the noisy input's
  # PSNR is that of the noise (clipped to [0, 1]) against the clean 0.5.
  monkeypatch.setattr(vae, "reconstruct", lambda state, images: images)
  scores = vae.test_scores(config, state, x, jax.random.key(0))
  rng = np.random.default_rng(0)
  for s in (0.1, 0.3):
    mse = np.mean((np.clip(0.5 + s * rng.standard_normal(10 ** 6), 0, 1) - 0.5) ** 2)
    assert scores[f"eval/psnr_gain@{s:g}"] == pytest.approx(0.0, abs=1e-4)
    assert scores[f"eval/psnr_noisy@{s:g}"] == pytest.approx(10 * np.log10(1 / mse),
                                                             abs=0.2)
  assert scores["eval/reconstruction_mse"] == 0.0


def test_the_vae_interpolates_between_two_test_images_codes(smoke_run):
  config, state = gj.train.load_run(str(smoke_run))
  codes, frames = vae.interpolate(config, state, jax.random.key(2), pairs=3, steps=5)
  test = vae.common.held_out_images(config, "test")
  means = np.asarray(vae.encode(state, vae.to_unit(test))[0])
  for end in (codes[0], codes[-1]):  # both ends are encoder means of test images
    distance = np.abs(np.asarray(end)[:, None] - means[None]).max(-1).min(1)
    np.testing.assert_allclose(distance, 0, atol=1e-5)
  w = np.arange(5)[:, None, None] / 4  # mu_c = (1 - w) mu_a + w mu_b
  np.testing.assert_allclose(codes, (1 - w) * codes[0] + w * codes[-1], atol=1e-5)
  np.testing.assert_allclose(frames[0], vae.decode(state, codes[0]), atol=1e-6)
  np.testing.assert_allclose(frames[-1], vae.decode(state, codes[-1]), atol=1e-6)
