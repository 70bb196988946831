"""SeqGAN's oracle experiment (experiments/seqgan.py): the smoke preset
through the command line, and the pieces a plausible bug would break: the
oracle scoring the samples, rollouts re-sampling the suffix, the REINFORCE
sign, Gumbel noise per row, the straight-through gradient."""

import contextlib
import io
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gans_jax as gj
from experiment_runs import environment, run_experiment
from experiments import seqgan
from experiments.configs import seqgan as seqgan_config
from gans_jax.eval import text as text_eval
from gans_jax.train import updates as updates_lib


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """The smoke preset (one MLE step, one adversarial step), run once."""
  workdir = tmp_path_factory.mktemp("seqgan") / "run"
  with environment(GANS_JAX_COMPILATION_CACHE="0"):
    assert run_experiment("seqgan", "--config=experiments/configs/seqgan.py:smoke",
                          f"--workdir={workdir}") == 0
  return workdir


def _config(**gan):
  config = seqgan_config.get_config("smoke")
  config.gan.update(gan)
  return config


@pytest.fixture(scope="module")
def state():
  return seqgan.create_state(_config())


@pytest.mark.slow
def test_the_smoke_run_scores_its_samples_under_the_oracle_and_samples_text(
    trained, capsys):
  config = _config()
  results = json.load(open(trained / "results.json"))
  assert results["step"] == 2
  samples = np.load(trained / "samples.npz")["samples"]
  assert samples.shape == (config.eval.num_samples, config.data.length)
  assert samples.min() >= 0 and samples.max() < config.data.vocab_size
  # NLL_oracle is the *oracle's* likelihood of the generator's samples.
  assert results["eval/nll_oracle"] == pytest.approx(
      text_eval.oracle_nll(seqgan.oracle(config), samples), rel=1e-5)
  # The oracle's own samples score its entropy rate, below a random generator.
  assert results["eval/oracle_entropy"] < results["eval/nll_oracle_random"]
  records = [json.loads(l) for l in open(trained / "metrics.jsonl")]
  curve = [(r["step"], r["generator_updates"]) for r in records
           if "eval/curve_nll_oracle" in r]
  assert curve == [(1, 2), (2, 3)]  # two MLE updates, then one REINFORCE update
  assert any("mean_reward" in r for r in records)
  assert (trained / "learning_curve.png").stat().st_size > 0
  assert len(open(trained / "samples.txt").read().splitlines()) == 64
  # --sample prints the sequences and writes them as text.
  assert run_experiment("seqgan", f"--workdir={trained}", "--sample=3") == 0
  lines = open(trained / "step_2" / "samples_3.txt").read().splitlines()
  assert len(lines) == 3 and all(len(l.split()) == config.data.length for l in lines)
  assert lines[0] in capsys.readouterr().out


def test_the_oracle_scores_not_the_generator(state):
  config = _config()
  samples = np.asarray(seqgan.make_sampler(config, 32)(state, jax.random.key(0)))
  written = {}

  class Writer:
    def write_scalars(self, step, scalars):
      written.update(scalars)

  seqgan.OracleCurve(config)(5, state, Writer())
  curve_samples = np.asarray(seqgan.make_sampler(config, config.eval.curve_samples)(
      state, gj.train.make_key(config.train.seed, "curve")))
  expected = text_eval.oracle_nll(seqgan.oracle(config), curve_samples)
  assert written["eval/curve_nll_oracle"] == pytest.approx(expected, rel=1e-5)
  own = text_eval.oracle_nll(state.sampling_generator(), curve_samples)
  assert abs(own - expected) > 0.05
  assert samples.shape == (32, config.data.length)


def test_rollouts_resample_the_suffix_after_each_prefix(state):
  config = _config(num_rollouts=2)
  tokens = seqgan._generate(config, state, jax.random.key(1))
  rewards = np.asarray(seqgan.seqgan_rewards(config, state, tokens, jax.random.key(2)))
  final = np.asarray(jax.nn.sigmoid(state.discriminator.module()(tokens)))
  assert rewards.shape == tokens.shape
  np.testing.assert_allclose(rewards[:, -1], final, rtol=1e-5)
  # Re-using the sampled suffix would give D(Y) at every position.
  differs = np.abs(rewards[:, :-1] - final[:, None]) > 1e-6
  assert differs.mean() > 0.5
  # Other rollout keys, other completions, other rewards.
  again = np.asarray(seqgan.seqgan_rewards(config, state, tokens, jax.random.key(3)))
  assert not np.allclose(again[:, :-1], rewards[:, :-1])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_reinforce_step_raises_the_likelihood_of_rewarded_sequences(state, sign):
  config = _config()
  tokens = seqgan._generate(config, state, jax.random.key(4))
  rewards = sign * jnp.ones(tokens.shape)
  params = state.generator.params
  log_p = lambda p: float(state.generator.module(params=p).token_log_probs(tokens).sum())
  grads = jax.grad(seqgan.reinforce_objective)(params, state, tokens, rewards)
  stepped = jax.tree.map(lambda p, g: p - 1e-3 * g, params, grads)
  assert sign * (log_p(stepped) - log_p(params)) > 0


def test_gumbel_samples_draw_noise_for_every_row(state):
  config = _config()
  config.train.batch_size = 32
  y = seqgan.relaxed_samples(config, state, jax.random.key(5), 1.0)
  assert y.shape == (32, config.data.length, config.data.vocab_size)
  np.testing.assert_allclose(np.asarray(y).sum(-1), 1.0, rtol=1e-5)
  # Every row starts from the same start token: shared noise would make
  # every row the same sequence.
  rows = {tuple(r) for r in np.asarray(jnp.argmax(y, -1))}
  assert len(rows) > 16


@pytest.mark.parametrize("straight_through", [True, False])
def test_the_gumbel_generator_loss_has_a_gradient(state, straight_through):
  config = _config(method="gumbel", straight_through=straight_through)
  y = seqgan.relaxed_samples(config, state, jax.random.key(6), 0.7)
  one_hot = np.isin(np.asarray(y), (0.0, 1.0)).all()
  assert one_hot == straight_through
  grads = jax.grad(seqgan.gumbel_objective)(state.generator.params, config, state,
                                            jax.random.key(6), 0.7)
  # A straight-through estimator passing the hard sample's (zero) gradient
  # would leave the generator untouched.
  assert float(updates_lib.global_norm(grads)) > 1e-4


def test_the_phases_give_the_mle_baseline_as_many_generator_updates():
  game = seqgan_config.get_config("seqgan")
  mle = seqgan_config.get_config("mle")
  g = game.gan
  adversarial = game.train.num_steps - g.pretrain_steps - g.d_pretrain_steps
  assert (mle.train.num_steps * mle.gan.mle_updates
          == g.pretrain_steps * g.mle_updates + adversarial)
  names = [(p.name, p.num_steps) for p in seqgan.make_phases(_config())]
  assert names == [("pretrain_generator", 1), ("adversarial", 1)]


@pytest.mark.parametrize("override, field", [
    ("--config.model.d_filter_sizes=(1, 2, 9)", "model.d_filter_sizes"),
    ("--config.model.d_num_filters=(2, 2)", "model.d_num_filters"),
    ("--config.gan.min_temperature=2.0", "gan.min_temperature"),
    ("--config.gan.pretrain_steps=5", "train.num_steps"),
    ("--config.gan.method=ppo", "gan.method"),
])
def test_bad_input_is_one_line_and_exit_code_2(override, field, tmp_path):
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    code = run_experiment("seqgan", "--config=experiments/configs/seqgan.py:smoke",
                          override, f"--workdir={tmp_path / 'run'}")
  lines = err.getvalue().strip().splitlines()
  assert code == 2 and len(lines) == 1 and field in lines[0], lines
