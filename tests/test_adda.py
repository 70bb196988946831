"""ADDA and DANN on the digits (experiments/adda.py): the smoke preset through
the command line and the trained-run contract, the frozen source encoder, no
target labels in adaptation, and DANN's reversal and schedules as the
experiment's steps run them."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiment_runs import run_experiment
from experiments import adda
from experiments.configs import adda as adda_config
from gans_jax import adaptation
from gans_jax.train import checkpoint as checkpoint_lib
from gans_jax.train import experiment as experiment_lib

SOURCE_PLAYERS = ("source_encoder", "classifier", "oracle_encoder", "oracle_classifier")


def _leaves(network):
  return [np.asarray(x) for x in jax.tree.leaves(network.params)]


def _equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b)))


def _restore(config, workdir, step):
  checkpointer = checkpoint_lib.Checkpointer(str(workdir), keep=10)
  try:
    return checkpointer.restore(step, adda.create_state(config))[0]
  finally:
    checkpointer.close()


@pytest.mark.slow
def test_the_smoke_preset_trains_both_stages_and_meets_the_contract(tmp_path, capsys):
  experiment_lib.check(adda)
  workdir = tmp_path / "run"
  assert run_experiment("adda", "--config=experiments/configs/adda.py:smoke",
                        "--config.train.checkpoint_every=1", f"--workdir={workdir}") == 0
  results = json.load(open(workdir / "results.json"))
  assert results["step"] == 2
  for name in ("source_only", "adapted", "target_supervised"):
    assert 0.0 <= results[f"eval/target_accuracy/{name}"] <= 1.0
  samples = np.load(workdir / "samples.npz")["samples"]
  assert samples.shape == (20, 2)                     # (true, predicted) digits
  assert set(np.unique(samples)) <= set(range(10))
  # Stage 1 ends at step 1; stage 2 moves the target encoder and nothing of
  # stage 1: the source encoder and classifier stay as trained.
  config = adda_config.get_config("smoke")
  after_source, after_adapt = (_restore(config, workdir, s) for s in (1, 2))
  for player in SOURCE_PLAYERS:
    assert _equal(after_source.player(player), after_adapt.player(player)), player
  assert not _equal(after_adapt.target_encoder, after_adapt.source_encoder)
  # --evaluate reports target accuracy; --sample and --export work.
  capsys.readouterr()
  assert run_experiment("adda", f"--workdir={workdir}", "--evaluate", "--sample=6",
                        "--export", "--checkpoint=1", f"--out={tmp_path / 'one'}") == 0
  out = capsys.readouterr().out
  assert "eval/target_accuracy/adapted" in out
  assert json.load(open(tmp_path / "one" / "results.json"))["step"] == 1
  assert np.load(tmp_path / "one" / "samples_6.npz")["samples"].shape == (6, 2)


@pytest.mark.parametrize("flag, field", [
    ("--config.data.direction=sideways", "data.direction"),
    ("--config.adda.adapt_steps=5", "train.num_steps"),
    ("--config.adda.method=coral", "adda.method"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flag, field):
  assert run_experiment("adda", "--config=experiments/configs/adda.py:smoke", flag,
                        f"--workdir={tmp_path}") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and field in err[0]


# ------------------------------------------------ stage 2 at smoke size --

ADAPT_STEPS = 8


@pytest.fixture(scope="module", params=["adda", "dann"])
def stage2(request):
  """``(config, state as stage 2 starts, its batches, its jitted step)`` of
  each method at smoke size (DANN without momentum, so that one SGD step
  moves each parameter by -mu_0 times its gradient), after one stage-1 step
  so that the source encoder differs from the target's own initialisation."""
  config = adda_config.get_config("smoke")
  config.adda.update(method=request.param, adapt_steps=ADAPT_STEPS)
  config.optim.dann_momentum = 0.0
  state = adda.create_state(config)
  source_phase, adapt_phase = adda.phases(config)
  state, _ = jax.jit(source_phase.step_fn)(
      state, source_phase.data.get_batch(0), jax.random.key(0))
  return config, adapt_phase.enter(state), adapt_phase.data, jax.jit(adapt_phase.step_fn)


def _with_target_labels(batch, seed):
  labels = np.random.default_rng(seed).integers(0, 10, batch["target"].shape[0])
  return {**batch, "target_labels": labels.astype(np.int32)}


def test_adaptation_never_sees_target_labels_nor_moves_the_source_model(stage2):
  config, state, data, step = stage2
  method = config.adda.method
  if method == "adda":   # M_t starts as a copy of M_s
    assert _equal(state.target_encoder, state.source_encoder)
  batch = data.get_batch(1)
  assert "target_labels" not in batch
  assert ("source_labels" in batch) == (method == "dann")
  key = jax.random.key(1)
  new, _ = step(state, batch, key)
  for player in SOURCE_PLAYERS:
    assert _equal(new.player(player), state.player(player)), player
  assert not _equal(new.target_encoder, state.target_encoder)
  assert not _equal(new.adversary, state.adversary)
  # Any target labels handed in change nothing.
  for seed in (0, 1):
    labelled, _ = step(state, _with_target_labels(batch, seed), key)
    for a, b in zip(jax.tree.leaves(labelled), jax.tree.leaves(new)):
      np.testing.assert_array_equal(a, b)


def _dann(stage2):
  if stage2[0].adda.method != "dann":
    pytest.skip("DANN only")
  return stage2


def test_the_dann_step_reverses_the_domain_gradient_by_lambda_p(stage2):
  config, state, data, step = _dann(stage2)
  group = "+".join(adda.DANN)
  # Two updates done of eight: p = 0.25 (a schedule run backwards gives 0.75).
  state = state.replace(updates={**state.updates, group: jnp.asarray(2, jnp.int32)})
  batch = data.get_batch(1)
  new, metrics = step(state, batch, jax.random.key(0))
  lam = 2 / (1 + np.exp(-10 * 0.25)) - 1
  np.testing.assert_allclose(metrics["lambda"], lam, rtol=1e-6)

  n = batch["source"].shape[0]
  images = jnp.concatenate([batch["source"], batch["target"]])

  def losses(encoder, head, adversary):
    features = state.target_encoder.apply(images, params=encoder)[0]
    logits = state.target_classifier.apply(features[:n], params=head)[0]
    domain = state.adversary.apply(features, params=adversary)[0]
    class_loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits, batch["source_labels"]))
    domain_loss = jnp.mean(jax.nn.softplus(-domain[:n])) + jnp.mean(
        jax.nn.softplus(domain[n:]))
    return class_loss, domain_loss

  params = [state.player(p).params for p in adda.DANN]
  g_class, g_domain = jax.jit(lambda *p: [
      jax.grad(lambda *q: losses(*q)[i], argnums=(0, 1, 2))(*p) for i in (0, 1)])(*params)
  mu = config.optim.dann_learning_rate
  # G_f descends L_y and ascends lambda L_d; G_y and G_d descend their own.
  expected = {
      "target_encoder": jax.tree.map(lambda p, c, d: p - mu * (c - lam * d),
                                     params[0], g_class[0], g_domain[0]),
      "target_classifier": jax.tree.map(lambda p, c: p - mu * c, params[1], g_class[1]),
      "adversary": jax.tree.map(lambda p, d: p - mu * d, params[2], g_domain[2]),
  }
  for name, tree in expected.items():
    for a, b in zip(jax.tree.leaves(new.player(name).params), jax.tree.leaves(tree)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_dann_lambda_and_learning_rate_follow_the_progress_forwards(stage2):
  config, state, data, step = _dann(stage2)
  lambdas = []
  for i in range(3):
    state, metrics = step(state, data.get_batch(1 + i), jax.random.key(i))
    lambdas.append(float(metrics["lambda"]))
  np.testing.assert_allclose(lambdas, [2 / (1 + np.exp(-10 * i / ADAPT_STEPS)) - 1
                                       for i in range(3)], rtol=1e-5, atol=1e-7)
  # The optimiser's rate at update c is mu_0 / (1 + 10 c / steps)^0.75.
  tx = adda.dann_optimizer(config)
  params = jnp.zeros(())
  opt_state = tx.init(params)
  rates = []
  for _ in range(4):
    update, opt_state = tx.update(jnp.ones(()), opt_state, params)
    rates.append(-float(update))
  np.testing.assert_allclose(
      rates, [0.01 / (1 + 10 * c / ADAPT_STEPS) ** 0.75 for c in range(4)], rtol=1e-5)
