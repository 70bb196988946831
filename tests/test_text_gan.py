"""WGAN-GP's character language model (experiments/text_gan.py): the smoke
preset through the command line, the penalty on one-hot interpolates, the
scores against held-out text and the MLE baseline's step."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiment_runs import environment, run_experiment
from experiments import text_gan
from experiments.configs import text_gan as text_gan_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("text_gan") / "run"
  with environment(GANS_JAX_COMPILATION_CACHE="0"):
    assert run_experiment("text_gan", "--config=experiments/configs/text_gan.py:smoke",
                          f"--workdir={workdir}") == 0
  return workdir


@pytest.mark.slow
def test_the_smoke_run_scores_decoded_lines_and_samples_text(trained, capsys):
  config = text_gan_config.get_config("smoke")
  results = json.load(open(trained / "results.json"))
  assert results["step"] == 2
  for name in ("word_fraction", "js1", "js2", "js3", "js4"):
    assert 0.0 <= results[f"eval/{name}"] <= 1.0 + 1e-9  # bits, up to rounding
  # Real training lines: every complete word is a word of the corpus, and
  # their n-grams are closer to the held-out text than two steps' output.
  assert results["eval/word_fraction_real"] == 1.0
  assert results["eval/js1_real"] < results["eval/js1"]
  samples = np.load(trained / "samples.npz")["samples"]
  assert samples.shape == (config.eval.num_samples, config.data.length)
  vocabulary = text_gan.corpus(config).vocabulary
  assert samples.max() < len(vocabulary)
  lines = open(trained / "samples.txt").read().split("\n")[:-1]
  assert lines == text_gan.decode(config, samples)
  assert run_experiment("text_gan", f"--workdir={trained}", "--sample=4") == 0
  written = open(trained / "step_2" / "samples_4.txt").read().split("\n")[:-1]
  assert len(written) == 4 and all(set(l) <= set(vocabulary) for l in written)
  assert written[0] in capsys.readouterr().out


def test_the_penalty_interpolates_one_hot_reals_and_softmax_fakes():
  b, l, v = 4, 5, 7
  tokens = jax.random.randint(jax.random.key(0), (b, l), 0, v)
  fake = jax.nn.softmax(jax.random.normal(jax.random.key(1), (b, l, v)), -1)
  w = jax.random.normal(jax.random.key(2), (l, v))

  def critic(x):
    # Linear on the simplex; off it (integer ids interpolated, say) the
    # second term's gradient grows the norm.
    return jnp.einsum("blv,lv->b", x, w) + 5.0 * jnp.sum(jnp.square(x.sum(-1) - 1), -1)

  loss, metrics = text_gan.critic_objective(critic, tokens, fake, jax.random.key(3),
                                            gp_weight=10.0)
  np.testing.assert_allclose(metrics["gradient_penalty"],
                             (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-5)
  real_scores = critic(jax.nn.one_hot(tokens, v))
  np.testing.assert_allclose(
      loss, critic(fake).mean() - real_scores.mean() + 10.0 * metrics["gradient_penalty"],
      rtol=1e-5)


def test_held_out_lines_are_fixed_and_apart_from_the_training_lines():
  config = text_gan_config.get_config("wgan_gp")
  train, held_out = text_gan.split(config)
  total = len(text_gan.corpus(config).lines)
  assert len(train) + len(held_out) == total
  assert abs(len(held_out) - 0.1 * total) <= 1
  seed_changed = text_gan_config.get_config("wgan_gp")
  seed_changed.train.seed = 7
  np.testing.assert_array_equal(text_gan.split(seed_changed)[1], held_out)


@pytest.mark.slow
def test_the_mle_baseline_is_one_lstm_player_whose_step_lowers_the_nll():
  config = text_gan_config.get_config("smoke")
  config.model.kind = "lstm"
  config.model.update(embedding_dim=8, hidden_dim=16)
  config.optim.learning_rate = 1e-2
  state = text_gan.create_state(config)
  assert state.player_names == ("generator",)
  tokens = jnp.asarray(text_gan.split(config)[0][:8])
  step = jax.jit(text_gan.make_train_step(config))
  _, first = step(state, {"tokens": tokens}, jax.random.key(0))
  for i in range(5):
    state, metrics = step(state, {"tokens": tokens}, jax.random.key(i))
  assert float(metrics["mle_loss"]) < float(first["mle_loss"]) - 0.1
  sampled = text_gan.make_sampler(config, 3)(state, jax.random.key(1))
  assert sampled.shape == (3, config.data.length) and sampled.dtype == jnp.int32


def _generator_parameters(config):
  shapes = jax.eval_shape(lambda: text_gan.create_state(config).generator.params)
  return sum(x.size for x in jax.tree.leaves(shapes))


def test_the_mle_baseline_has_about_the_generators_parameters():
  ratio = (_generator_parameters(text_gan_config.get_config("mle"))
           / _generator_parameters(text_gan_config.get_config("wgan_gp")))
  assert 0.8 < ratio < 1.25


@pytest.mark.parametrize("override, field", [
    ("--config.data.length=1000", "data.length"),
    ("--config.data.held_out=0.0", "data.held_out"),
    ("--config.model.kind=gru", "model.kind"),
])
def test_bad_input_is_one_line_and_exit_code_2(override, field, tmp_path, capsys):
  code = run_experiment("text_gan", "--config=experiments/configs/text_gan.py:smoke",
                        override, f"--workdir={tmp_path / 'run'}")
  lines = capsys.readouterr().err.strip().splitlines()
  assert code == 2 and len(lines) == 1 and field in lines[0], lines
