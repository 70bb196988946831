"""experiments/cyclegan.py: the step against the official update written out
independently (and its Table 4 ablations), the pools kept across a resume,
presets, config errors, and two steps end to end."""

import json
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gans_jax as gj
from experiments import cyclegan
from experiments import translation
from experiments.configs import cyclegan as cyclegan_config

ABLATIONS = {  # (gan_weight, cycle_a, cycle_b) of each Table 4 row
    "digits": (1.0, 10.0, 10.0),
    "gan_alone": (1.0, 0.0, 0.0),
    "cycle_alone": (0.0, 10.0, 10.0),
    "gan_forward": (1.0, 10.0, 0.0),
    "gan_backward": (1.0, 0.0, 10.0),
}


def _sgd_state(config):
  # Plain gradient steps, so that each update is its gradient.
  state = cyclegan.create_state(config)
  return (state.with_optimizer("g_ab+g_ba", optax.sgd(1.0))
          .with_optimizer("d_a+d_b", optax.sgd(1.0)))


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(ABLATIONS))
def test_step_is_the_official_update(preset):
  config = cyclegan_config.get_config(preset)
  smoke = cyclegan_config.get_config("smoke")
  config.update(data=smoke.data, model=smoke.model, gan=smoke.gan)
  assert (config.loss.gan_weight, config.loss.cycle_a,
          config.loss.cycle_b) == ABLATIONS[preset]
  assert config.loss.identity == 0.5
  config.train.batch_size = 2
  state = _sgd_state(config)
  a, b = jax.random.uniform(jax.random.key(0), (2, 2, 16, 16, 1), minval=-1,
                            maxval=1)
  new, metrics = jax.jit(cyclegan.make_train_step(config))(
      state, {"a": a, "b": b}, jax.random.key(3))
  gan, lambda_a, lambda_b = ABLATIONS[preset]

  @jax.jit
  def reference(state):
    """The official update, written out (instance norm, no dropout)."""
    G = lambda p, x: state.g_ab.apply(x, params=p)[0]
    F = lambda p, x: state.g_ba.apply(x, params=p)[0]
    mse = lambda out, target: jnp.mean(jnp.square(out - target))
    l1 = lambda x, y: jnp.mean(jnp.abs(x - y))

    def g_loss(params):
      fake_b, fake_a = G(params["g_ab"], a), F(params["g_ba"], b)
      loss = (gan * mse(state.d_b.apply(fake_b)[0], 1.0)
              + gan * mse(state.d_a.apply(fake_a)[0], 1.0)
              + lambda_a * l1(F(params["g_ba"], fake_b), a)
              + lambda_b * l1(G(params["g_ab"], fake_a), b)
              + 0.5 * lambda_b * l1(G(params["g_ab"], b), b)
              + 0.5 * lambda_a * l1(F(params["g_ba"], a), a))
      return loss, (fake_a, fake_b)

    g_params = {"g_ab": state.g_ab.params, "g_ba": state.g_ba.params}
    (loss, (fake_a, fake_b)), grads = jax.value_and_grad(g_loss, has_aux=True)(
        g_params)
    g_params = jax.tree.map(lambda p, g: p - g, g_params, grads)

    # The pools start empty: the Ds see this step's fakes, made before G's update.
    def d_loss(params):
      d = lambda name, x: state.player(name).apply(x, params=params[name])[0]
      return (0.5 * (mse(d("d_a", a), 1.0) + mse(d("d_a", fake_a), 0.0))
              + 0.5 * (mse(d("d_b", b), 1.0) + mse(d("d_b", fake_b), 0.0)))

    d_params = {"d_a": state.d_a.params, "d_b": state.d_b.params}
    if gan:
      d_params = jax.tree.map(lambda p, g: p - g, d_params,
                              jax.grad(d_loss)(d_params))
    return g_params, d_params, loss, fake_a, fake_b

  g_params, d_params, g_loss, fake_a, fake_b = reference(state)
  np.testing.assert_allclose(metrics["g_loss"], g_loss, rtol=1e-5)
  for name, expected in {**g_params, **d_params}.items():
    for x, y in zip(jax.tree.leaves(new.player(name).params),
                    jax.tree.leaves(expected)):
      np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, err_msg=name)
  pools = new.extra
  if gan:
    assert int(pools["pool_a"].count) == int(pools["pool_b"].count) == 2
    np.testing.assert_allclose(pools["pool_a"].images[:2], fake_a, atol=1e-6)
    np.testing.assert_allclose(pools["pool_b"].images[:2], fake_b, atol=1e-6)
  else:
    assert int(pools["pool_a"].count) == int(pools["pool_b"].count) == 0
  assert int(new.updates["d_a+d_b"]) == (1 if gan else 0)
  assert int(new.updates["g_ab+g_ba"]) == 1


def _arrays(state):
  return {jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]}


@pytest.mark.slow
def test_a_resumed_run_continues_with_its_pools(tmp_path):
  # The official code restores the networks only; here the pools and the
  # optimizer states are part of the checkpoint, and a run stopped at step 2
  # ends as an uninterrupted one.
  config = cyclegan_config.get_config("smoke")
  config.train.update(num_steps=4, checkpoint_every=2, sample_every=0, log_every=2)

  class StopAt2:
    every = 2

    def __call__(self, step, state, writer):
      if step == 2:
        os.kill(os.getpid(), signal.SIGTERM)  # checkpoint and stop

  def fit(workdir, hooks=()):
    return gj.train.fit(cyclegan.make_train_step(config),
                        cyclegan.create_state(config),
                        translation.training_batches(config, paired=False),
                        config, str(workdir), hooks=hooks, progress=False)

  straight = fit(tmp_path / "straight")
  with pytest.raises(gj.train.Interrupted):
    fit(tmp_path / "resumed", hooks=[StopAt2()])
  resumed = fit(tmp_path / "resumed")
  assert int(straight.extra["pool_a"].count) == 3  # pool_size 3, filled
  expected, got = _arrays(straight), _arrays(resumed)
  assert expected.keys() == got.keys()
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


@pytest.mark.parametrize("preset", cyclegan_config.PRESETS)
def test_every_preset_validates(preset):
  cyclegan.validate(cyclegan_config.get_config(preset))


@pytest.mark.parametrize("field,value,named", [
    ("data.image_size", 18, "data.image_size"),
    ("data.dataset", "aligned:/tmp", "data.dataset"),   # not an unpaired task
    ("model.d_layers", 3, "model.d_layers"),            # too deep for 16 px
    ("model.upsample", "bilinear", "model.upsample"),
    ("gan.pool_size", -1, "gan.pool_size"),
    ("loss.cycle_a", -1.0, "loss.cycle_a"),
])
def test_bad_fields_are_named(field, value, named):
  config = cyclegan_config.get_config("smoke")
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(gj.train.ConfigError, match=named.replace(".", r"\.")):
    gj.train.experiment.validate(cyclegan, config, preset="smoke")


@pytest.fixture
def quick_scorers(tmp_path, monkeypatch):
  """A cache holding briefly trained digit and domain classifiers, so the
  evaluation does not train the full ones."""
  from gans_jax.eval import domain
  cache = tmp_path / "cache"
  monkeypatch.setenv("GANS_JAX_CACHE_DIR", str(cache))
  os.makedirs(cache)
  for task, name in (("digit", "digit_cross_domain_classifier.npz"),
                     ("domain", "digit_domain_classifier.npz")):
    domain.train_digit_domain_classifier(task, num_steps=3).save(cache / name)
  return cache


@pytest.mark.slow
def test_smoke_two_steps_end_to_end(tmp_path, quick_scorers):
  config = cyclegan_config.get_config("smoke")
  cyclegan.validate(config)
  workdir = tmp_path / "run"
  results = cyclegan.train_and_evaluate(config, str(workdir))
  for name in ("ab_class_preservation", "ab_domain_accuracy",
               "ba_class_preservation", "ba_domain_accuracy"):
    assert 0 <= results[f"eval/{name}"] <= 1
  saved = np.load(workdir / "samples.npz")
  assert saved["samples"].shape == saved["rec_a"].shape == (4, 16, 16, 1)
  # The saved numbers are those of the saved translations.
  np.testing.assert_allclose(
      results["eval/cycle_l1_a"],
      np.mean(np.abs(saved["rec_a"].astype(np.float64) - saved["inputs_a"])),
      rtol=1e-6)
  records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  assert {"g_loss", "g_gan_ab", "cycle_a", "identity_b", "d_a_loss",
          "d_b_loss"} <= set(records[0])
  for name in ("translations.png", "samples/step_0000002.png", "results.json",
               "results.md", "test_results/index.html",
               "test_results/images/0003_rec_B.png"):
    assert os.path.getsize(workdir / name) > 0


@pytest.mark.slow
@pytest.mark.parametrize("script,preset", [("pix2pix", "cmp_facades"),
                                           ("cyclegan", "horse2zebra")])
def test_missing_real_dataset_exits_2_with_one_line(tmp_path, script, preset):
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0")
  run = subprocess.run(
      [sys.executable, os.path.join(root, "experiments", f"{script}.py"),
       f"--config={os.path.join(root, 'experiments', 'configs', script)}.py:{preset}",
       f"--config.data.data_dir={tmp_path / 'tfds'}",
       f"--workdir={tmp_path / 'run'}"],
      # In tmp_path, the preset's relative datasets/facades does not exist.
      capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr[-2000:]
  assert ("facades" if script == "pix2pix" else "horse2zebra") in lines[0]
