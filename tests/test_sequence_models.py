"""Sequence models, the oracle data, the offline corpus and the text metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gans_jax.data import (PAD, SequenceBatches, load_character_corpus,
                           oracle_sequences)
from gans_jax.eval import text
from gans_jax.nn import (CNNTextDiscriminator, LSTMGenerator,
                         ResNetTextGenerator, TextResidualBlock, oracle_lstm)

VOCAB, LENGTH = 11, 5


def _numpy_log_probs(model, tokens):
  """log p(y_t | y_<t) by a plain NumPy LSTM on the model's parameters."""
  emb = np.asarray(model.embedding[...], np.float64)
  w, u = (np.asarray(model.input_kernel[...], np.float64),
          np.asarray(model.recurrent_kernel[...], np.float64))
  b = np.asarray(model.bias[...], np.float64)
  wo, bo = (np.asarray(model.output_kernel[...], np.float64),
            np.asarray(model.output_bias[...], np.float64))
  sig = lambda x: 1 / (1 + np.exp(-x))
  n, t_max = tokens.shape
  h = np.zeros((n, model.hidden_dim))
  c = np.zeros_like(h)
  previous = np.full(n, model.start_token)
  out = np.zeros((n, t_max))
  for t in range(t_max):
    i, f, o, g = np.split(emb[previous] @ w + h @ u + b, 4, axis=-1)
    c = sig(f) * c + sig(i) * np.tanh(g)
    h = sig(o) * np.tanh(c)
    logits = h @ wo + bo
    log_p = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True))
                            .sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    out[:, t] = log_p[np.arange(n), tokens[:, t]]
    previous = tokens[:, t]
  return out


@pytest.fixture(scope="module")
def oracle():
  return oracle_lstm(vocab_size=VOCAB, embedding_dim=6, hidden_dim=8, seed=0)


@pytest.fixture(scope="module")
def generator():
  return LSTMGenerator(VOCAB, embedding_dim=6, hidden_dim=8, rngs=nnx.Rngs(1))


def test_oracle_weights_are_standard_normal_and_the_generator_s_a_tenth(oracle):
  big = oracle_lstm(seed=0)  # the paper's sizes
  weights = np.concatenate([np.ravel(big.output_kernel[...]),
                            np.ravel(big.embedding[...])])
  assert abs(weights.std() - 1.0) < 0.02 and abs(weights.mean()) < 0.02
  g = LSTMGenerator(5000, rngs=nnx.Rngs(0))
  assert abs(float(np.std(g.output_kernel[...])) - 0.1) < 0.005
  same = oracle_lstm(vocab_size=VOCAB, embedding_dim=6, hidden_dim=8, seed=0)
  np.testing.assert_array_equal(same.bias[...], oracle.bias[...])


def test_teacher_forced_log_probs_match_a_numpy_lstm(generator):
  tokens = np.random.default_rng(0).integers(0, VOCAB, (3, LENGTH))
  np.testing.assert_allclose(generator.token_log_probs(jnp.asarray(tokens)),
                             _numpy_log_probs(generator, tokens), rtol=1e-4,
                             atol=1e-5)


def test_sampling_keeps_a_prefix_and_draws_distinct_rows(generator):
  prefix = jnp.array([[3, 4], [5, 6]])
  tokens = generator.sample(jax.random.key(0), 2, LENGTH, prefix=prefix)
  np.testing.assert_array_equal(tokens[:, :2], prefix)
  rows = generator.sample(jax.random.key(1), 4000, LENGTH)
  assert rows.shape == (4000, LENGTH) and rows.dtype == jnp.int32
  assert len({tuple(r) for r in np.asarray(rows[:200])}) > 150
  # Ancestral samples follow the model: the first token's frequencies match
  # p(y_1 | start).
  first_probs = np.asarray(jax.nn.softmax(generator.logits(rows[:1])[0, 0]))
  freq = np.bincount(np.asarray(rows[:, 0]), minlength=VOCAB) / 4000
  np.testing.assert_allclose(freq, first_probs, atol=0.03)


def test_oracle_nll_is_the_oracle_s_mean_token_nll_of_the_samples(oracle,
                                                                  generator):
  samples = np.asarray(generator.sample(jax.random.key(3), 7, LENGTH))
  expected = -_numpy_log_probs(oracle, samples).mean()
  got = text.oracle_nll(oracle, samples, batch_size=3)
  assert got == pytest.approx(expected, rel=1e-4)
  # Scoring with the generator itself gives another number.
  assert abs(text.oracle_nll(generator, samples) - expected) > 0.05


def test_the_oracle_s_own_data_score_better_than_uniform_tokens(oracle):
  data = oracle_sequences(oracle, num_sequences=300, length=LENGTH, seed=4,
                          chunk_size=128)
  assert data.shape == (300, LENGTH) and data.dtype == np.int32
  np.testing.assert_array_equal(
      data, oracle_sequences(oracle, num_sequences=300, length=LENGTH, seed=4,
                             chunk_size=128))
  uniform = np.random.default_rng(0).integers(0, VOCAB, data.shape)
  assert text.oracle_nll(oracle, data) < text.oracle_nll(oracle, uniform) - 0.3


def test_sequence_batches_visit_every_sequence_once_per_epoch_and_resume():
  data = np.arange(20, dtype=np.int32).reshape(10, 2)
  source = SequenceBatches(data, batch_size=5, seed=3)
  epoch = np.concatenate([source.get_batch(s)["tokens"] for s in (0, 1)])
  assert sorted(epoch[:, 0].tolist()) == list(range(0, 20, 2))
  np.testing.assert_array_equal(
      SequenceBatches(data, batch_size=5, seed=3).get_batch(1)["tokens"],
      source.get_batch(1)["tokens"])
  assert not np.array_equal(source.get_batch(2)["tokens"],
                            source.get_batch(0)["tokens"])
  halves = [SequenceBatches(data, batch_size=4, seed=3, process_index=p,
                            process_count=2).get_batch(7)["tokens"]
            for p in (0, 1)]
  whole = SequenceBatches(data, batch_size=4, seed=3).get_batch(7)["tokens"]
  np.testing.assert_array_equal(halves[0], whole[0::2])
  np.testing.assert_array_equal(halves[1], whole[1::2])


def test_cnn_discriminator_scores_tokens_and_their_one_hot_alike():
  d = CNNTextDiscriminator(VOCAB, embedding_dim=4, filter_sizes=(1, 3),
                           num_filters=(2, 3), rngs=nnx.Rngs(0))
  d.eval()
  tokens = jax.random.randint(jax.random.key(0), (4, LENGTH), 0, VOCAB)
  logits = d(tokens)
  assert logits.shape == (4,) and logits.dtype == jnp.float32
  np.testing.assert_allclose(d(jax.nn.one_hot(tokens, VOCAB)), logits,
                             rtol=1e-5)
  assert d.features(tokens).shape == (4, 5)
  with pytest.raises(ValueError, match="widest filter"):
    d(tokens[:, :2])
  d.train()
  a, b = d(tokens, rngs=jax.random.key(1)), d(tokens, rngs=jax.random.key(2))
  assert not np.allclose(a, b)  # dropout is on in train mode
  # The paper's discriminator: 1,720 filters of widths 1..10, 15, 20.
  full = nnx.eval_shape(lambda: CNNTextDiscriminator(VOCAB, rngs=nnx.Rngs(0)))
  assert full.highway_gate.in_features == 1720


def test_resnet_text_generator_emits_distributions_per_position():
  g = ResNetTextGenerator(VOCAB, length=LENGTH, latent_dim=3, features=4,
                          num_blocks=2, rngs=nnx.Rngs(0))
  x = g(jax.random.normal(jax.random.key(0), (2, 3)))
  assert x.shape == (2, LENGTH, VOCAB)
  np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
  assert len(g.blocks) == 2


def test_character_corpus_is_prose_with_a_vocabulary_and_padding():
  corpus = load_character_corpus(length=32)
  assert corpus.vocabulary[0] == PAD and len(set(corpus.vocabulary)) == len(
      corpus.vocabulary)
  assert corpus.lines.shape[1] == 32 and corpus.lines.shape[0] * 32 > 150_000
  assert corpus.vocabulary[1] == " " and "e" in corpus.vocabulary[:4]
  assert all(ord(c) < 128 for c in corpus.vocabulary)
  lines = corpus.decode(corpus.lines[:500])
  np.testing.assert_array_equal(corpus.encode(lines), corpus.lines[:500])
  assert {"the", "statement", "function", "value"} <= corpus.words
  assert "pydoc_data" in corpus.source


def test_word_fraction_counts_only_complete_words():
  corpus = load_character_corpus(length=32)
  lines = corpus.decode(corpus.lines[:300])
  assert text.word_fraction_in_vocabulary(lines, corpus.words) == 1.0
  assert text.word_fraction_in_vocabulary(["xx the qzvk of yy"],
                                          {"the", "of"}) == pytest.approx(2 / 3)
  assert text.word_fraction_in_vocabulary(["abc"], {"abc"}) == 0.0


def test_ngram_js_divergence_matches_a_hand_computation():
  # Unigrams: p = (a 1/2, b 1/2), q = (a 1/4, c 3/4).
  p, q = {"a": 0.5, "b": 0.5, "c": 0.0}, {"a": 0.25, "b": 0.0, "c": 0.75}
  expected = 0.0
  for k in p:
    m = 0.5 * (p[k] + q[k])
    expected += 0.5 * sum(x * np.log2(x / m) for x in (p[k], q[k]) if x)
  got = text.ngram_js_divergence(["accc"], ["ab", "ab"], n=1)
  assert got == pytest.approx(expected, rel=1e-9)
  assert text.ngram_js_divergence(["ab"], ["ab", "ab"], n=2) == 0.0
  assert text.ngram_js_divergence(["aa"], ["bb"], n=2) == pytest.approx(1.0)
  both = text.ngram_js_divergences(["abcd"], ["abce"], orders=(1, 4))
  assert set(both) == {"js1", "js4"} and both["js4"] == pytest.approx(1.0)


@pytest.mark.slow
def test_relaxed_samples_are_differentiable_through_the_fed_back_vectors(
    generator):
  graphdef, params = nnx.split(generator)
  weights = jax.random.normal(jax.random.key(0), (LENGTH, VOCAB))

  def score(params, hard):
    y = nnx.merge(graphdef, params).relaxed_sample(
        jax.random.key(1), 8, LENGTH, temperature=0.5, hard=hard)
    return jnp.sum(y[0, -1] * weights[-1]), y

  (_, soft), grads = jax.value_and_grad(score, has_aux=True)(params, False)
  assert soft.shape == (8, LENGTH, VOCAB)
  np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)
  assert len({tuple(r) for r in np.asarray(soft.argmax(-1))}) > 4
  # One sequence's last vector reaches every embedding row through the
  # soft vectors fed back; feeding back sampled ids would reach at most
  # LENGTH of the VOCAB rows.
  assert (np.abs(np.asarray(grads["embedding"][...])).max(axis=1) > 0).all()
  (_, hard), hard_grads = jax.value_and_grad(score, has_aux=True)(params, True)
  np.testing.assert_array_equal(hard.max(-1), 1.0)
  np.testing.assert_array_equal(hard.sum(-1), 1.0)
  assert float(jnp.abs(hard_grads["output_kernel"][...]).max()) > 0


def test_cnn_discriminator_matches_a_numpy_convolution_max_pool_highway():
  d = CNNTextDiscriminator(VOCAB, embedding_dim=3, filter_sizes=(1, 2),
                           num_filters=(2, 1), rngs=nnx.Rngs(4))
  d.eval()
  tokens = np.array([[1, 2, 3, 4, 5], [9, 0, 9, 0, 1]])
  a = lambda x: np.asarray(x[...], np.float64)
  e = a(d.embedding)[tokens]
  pooled = []
  for conv in d.convs:
    kernel, bias = a(conv.kernel), a(conv.bias)
    width = kernel.shape[0]
    out = sum(e[:, k:LENGTH - width + 1 + k] @ kernel[k] for k in range(width))
    pooled.append(np.maximum(out + bias, 0).max(axis=1))
  p = np.concatenate(pooled, axis=1)
  gate = 1 / (1 + np.exp(-(p @ a(d.highway_gate.kernel) + a(d.highway_gate.bias))))
  f = gate * np.maximum(p @ a(d.highway_transform.kernel)
                        + a(d.highway_transform.bias), 0) + (1 - gate) * p
  expected = f @ a(d.output.kernel)[:, 0] + a(d.output.bias)[0]
  np.testing.assert_allclose(d(jnp.asarray(tokens)), expected, rtol=1e-4,
                             atol=1e-5)


def test_text_residual_block_adds_three_tenths_of_two_width_5_convolutions():
  block = TextResidualBlock(3, rngs=nnx.Rngs(0))
  x = np.random.default_rng(0).normal(size=(2, 7, 3))

  def conv_same(h, conv):
    kernel = np.asarray(conv.kernel[...], np.float64)
    padded = np.pad(h, ((0, 0), (2, 2), (0, 0)))
    return sum(padded[:, k:k + h.shape[1]] @ kernel[k] for k in range(5)) + \
        np.asarray(conv.bias[...])

  h = conv_same(np.maximum(x, 0), block.conv1)
  expected = x + 0.3 * conv_same(np.maximum(h, 0), block.conv2)
  np.testing.assert_allclose(block(jnp.asarray(x, jnp.float32)), expected,
                             rtol=1e-4, atol=1e-5)
