r"""Sequence models for GANs on discrete tokens: SeqGAN and WGAN-GP's text.

- :class:`LSTMGenerator`: SeqGAN's generator, an embedding, one LSTM cell and
  a softmax output, run over time with ``jax.lax.scan``. Teacher-forced
  ``logits(tokens)`` for maximum likelihood and REINFORCE, and
  ``sample(key, batch, length, prefix=...)`` for generation and Monte-Carlo
  rollouts, ``relaxed_sample`` for a Gumbel-softmax GAN. :func:`oracle_lstm`
  is the same module with every weight drawn from N(0, 1): the synthetic
  "true" distribution of SeqGAN's oracle experiment.
- :class:`CNNTextDiscriminator`: SeqGAN's discriminator, a CNN for text
  classification (convolutions of several widths, max-pooling over time,
  a highway layer, dropout).
- :class:`ResNetTextGenerator` and :class:`ResNetTextCritic`: the 1-D
  residual networks of WGAN-GP's character language model; the generator
  emits softmax vectors (B, L, V), the critic scores one-hot or softmax
  sequences.

Token sequences are ``(B, L)`` int arrays; distributions over tokens are
``(B, L, V)`` float arrays. The two discriminators take either, embedding a
``(B, L, V)`` input by the matrix product :math:`x E` (equal to the lookup
for one-hot rows), so the same network scores real tokens, relaxed
Gumbel-softmax samples and the interpolates of a gradient penalty.

Initialisation follows the official code of each paper: SeqGAN's LSTMs draw
every weight and bias from :math:`N(0, 0.1^2)` (the generator) or
:math:`N(0, 1)` (the oracle); its discriminator embeds with
:math:`U(-1, 1)`, its convolutions and output from a truncated
:math:`N(0, 0.1^2)` with bias 0.1; WGAN-GP's 1-D convolutions use the "He"
uniform variant, its linear layers Glorot uniform.

References:
  Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), official code
  LantaoYu/SeqGAN; Gulrajani et al., 2017 (arXiv 1704.00028), official code
  igul222/improved_wgan_training (``gan_language.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from gans_jax.losses import gumbel_softmax
from gans_jax.nn.layers import dropout_keys, fan_avg_uniform

Array = jax.Array

__all__ = [
    "CNNTextDiscriminator",
    "LSTMGenerator",
    "ResNetTextCritic",
    "ResNetTextGenerator",
    "SEQGAN_FILTER_SIZES",
    "SEQGAN_NUM_FILTERS",
    "TextResidualBlock",
    "embed_tokens",
    "oracle_lstm",
]

# The discriminator of SeqGAN's official ``sequence_gan.py``.
SEQGAN_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
SEQGAN_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160,
                      160)

_he_uniform = fan_avg_uniform(2.0)
_glorot_uniform = fan_avg_uniform(1.0)


def embed_tokens(x: Array, embedding: Array) -> Array:
  """Embeds tokens (B, L) int by lookup, or distributions (B, L, V) by x E.

  Args:
    x: token ids ``(B, L)`` or per-position vectors ``(B, L, V)`` (one-hot,
      softmax, relaxed samples).
    embedding: the table ``(V, E)``.

  Returns:
    ``(B, L, E)`` embeddings.
  """
  if jnp.issubdtype(x.dtype, jnp.integer):
    if x.ndim != 2:
      raise ValueError(f"token ids must have shape (B, L), got {x.shape}")
    return jnp.take(embedding, x, axis=0)
  if x.ndim != 3 or x.shape[-1] != embedding.shape[0]:
    raise ValueError(
        f"token vectors must have shape (B, L, {embedding.shape[0]}), got "
        f"{x.shape}")
  return jnp.einsum("blv,ve->ble", x, embedding.astype(x.dtype))


def _normal(stddev: float):
  def init(key, shape, dtype=jnp.float32):
    return stddev * jax.random.normal(key, shape, dtype)
  return init


class LSTMGenerator(nnx.Module):
  r"""SeqGAN's LSTM generator :math:`G_\theta(y_t \mid Y_{1:t-1})`.

  .. math::
    h_t, c_t = \mathrm{LSTM}(E[y_{t-1}], h_{t-1}, c_{t-1}), \qquad
    p(y_t \mid Y_{1:t-1}) = \mathrm{softmax}(W_o h_t + b_o)

  with :math:`y_0` the start token, :math:`h_0 = c_0 = 0`, and the LSTM
  without peepholes (input, forget, output gates and candidate from
  :math:`[E[y_{t-1}], h_{t-1}]`). Every weight and bias is drawn from
  :math:`N(0, \sigma^2)`, :math:`\sigma` = ``init_stddev`` (0.1 for
  SeqGAN's generator, 1 for its oracle). The start token is an ordinary
  vocabulary id (0 in the official code), only fed as the first input.
  The MLE (teacher-forcing) loss is ``-token_log_probs(tokens).mean()``,
  the official pre-training loss.

  References:
    Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), Section 4 and the
    official ``generator.py`` / ``target_lstm.py``.
  """

  def __init__(self, vocab_size: int, *, embedding_dim: int = 32,
               hidden_dim: int = 32, start_token: int = 0,
               init_stddev: float = 0.1, rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      vocab_size: number of tokens V.
      embedding_dim: embedding width (32 in SeqGAN).
      hidden_dim: LSTM state width (32 in SeqGAN).
      start_token: id fed as the input of the first step.
      init_stddev: standard deviation of every initial weight and bias.
      rngs: parameter initialisation keys.
    """
    if not 0 <= start_token < vocab_size:
      raise ValueError(
          f"start_token must lie in [0, {vocab_size}), got {start_token}")
    self.vocab_size = vocab_size
    self.embedding_dim = embedding_dim
    self.hidden_dim = hidden_dim
    self.start_token = start_token
    init = _normal(init_stddev)
    self.embedding = nnx.Param(init(rngs.params(), (vocab_size, embedding_dim)))
    # Gates in the order input, forget, output, candidate.
    self.input_kernel = nnx.Param(
        init(rngs.params(), (embedding_dim, 4 * hidden_dim)))
    self.recurrent_kernel = nnx.Param(
        init(rngs.params(), (hidden_dim, 4 * hidden_dim)))
    self.bias = nnx.Param(init(rngs.params(), (4 * hidden_dim,)))
    self.output_kernel = nnx.Param(init(rngs.params(), (hidden_dim, vocab_size)))
    self.output_bias = nnx.Param(init(rngs.params(), (vocab_size,)))

  def _cell(self, state: tuple[Array, Array], x: Array
            ) -> tuple[tuple[Array, Array], Array]:
    """One LSTM step on embedded inputs x (B, E); returns the new state and h."""
    h, c = state
    gates = x @ self.input_kernel[...] + h @ self.recurrent_kernel[...]
    i, f, o, g = jnp.split(gates + self.bias[...], 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h

  def _initial_state(self, batch: int) -> tuple[Array, Array]:
    zeros = jnp.zeros((batch, self.hidden_dim), jnp.float32)
    return zeros, zeros

  def _shift_right(self, tokens: Array) -> Array:
    start = jnp.full((tokens.shape[0], 1), self.start_token, tokens.dtype)
    return jnp.concatenate([start, tokens[:, :-1]], axis=1)

  def logits(self, tokens: Array) -> Array:
    """Teacher-forced next-token logits: (B, L) int → (B, L, V).

    Position t holds the logits of :math:`p(y_t \\mid Y_{1:t-1})`, the
    input at step t being the true previous token (the start token at t = 0).
    """
    if tokens.ndim != 2:
      raise ValueError(f"tokens must have shape (B, L), got {tokens.shape}")
    inputs = jnp.take(self.embedding[...], self._shift_right(tokens), axis=0)
    _, hs = jax.lax.scan(self._cell, self._initial_state(tokens.shape[0]),
                         jnp.swapaxes(inputs, 0, 1))
    hs = jnp.swapaxes(hs, 0, 1)
    return hs @ self.output_kernel[...] + self.output_bias[...]

  def token_log_probs(self, tokens: Array) -> Array:
    """:math:`\\log p(y_t \\mid Y_{1:t-1})` of each token, shape (B, L)."""
    log_p = jax.nn.log_softmax(self.logits(tokens), axis=-1)
    return jnp.take_along_axis(log_p, tokens[..., None], axis=-1)[..., 0]

  def sample(self, key: Array, batch: int, length: int, *,
             prefix: Array | None = None, prefix_length: int | Array | None = None,
             temperature: float | Array = 1.0) -> Array:
    """Samples sequences token by token (ancestral sampling, ``lax.scan``).

    With a prefix, the first ``prefix_length`` tokens are copied from it
    (fed as inputs, as in teacher forcing) and only the rest is sampled: a
    Monte-Carlo rollout of SeqGAN's Section 2. Each row and step draws its
    own uniform ``u`` from ``key`` (one ``(length, batch)`` draw) and takes
    the token where the cumulative distribution first exceeds it (inverse
    CDF: one random number per token instead of one per vocabulary entry,
    five times faster on a CPU at V = 500 than ``jax.random.categorical``).

    Args:
      key: PRNG key.
      batch: number of sequences B.
      length: sequence length L.
      prefix: ``(B, T)`` int tokens with ``T <= L``, or ``None``.
      prefix_length: how many leading tokens of ``prefix`` to keep; may be
        a traced scalar (e.g. a ``lax.scan`` counter); default ``T``.
      temperature: divides the logits before sampling (1: the model itself).

    Returns:
      ``(B, L)`` int32 tokens.
    """
    uniforms = jax.random.uniform(key, (batch, length))
    return self._sample_from_uniforms(uniforms, prefix=prefix,
                                      prefix_length=prefix_length,
                                      temperature=temperature)

  def __call__(self, z: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    """Sequences as a deterministic function of noise z ~ U[-1, 1]^(B, L).

    Token t of row b is the inverse CDF of :math:`p(y_t \\mid Y_{1:t-1})` at
    :math:`(z_{bt} + 1) / 2`, so uniform z gives exact samples of the model:
    the generator's "latent code" is its sampling noise, which makes it a
    :class:`gans_jax.nn.Generator` like the others (``--export``).
    ``sample(key, B, L)`` equals ``self(2 * uniform(key, (B, L)) - 1)`` up to
    rounding. ``rngs`` is unused.

    Returns:
      ``(B, L)`` int32 tokens.
    """
    del rngs
    if z.ndim != 2:
      raise ValueError(f"z must have shape (B, L), got {z.shape}")
    return self._sample_from_uniforms((z + 1.0) / 2.0)

  def _sample_from_uniforms(self, uniforms: Array, *,
                            prefix: Array | None = None,
                            prefix_length: int | Array | None = None,
                            temperature: float | Array = 1.0) -> Array:
    """Ancestral sampling with the given per-token uniforms ``(B, L)``."""
    batch, length = uniforms.shape
    if prefix is None:
      prefix = jnp.zeros((batch, length), jnp.int32)
      prefix_length = 0
    else:
      if prefix.ndim != 2 or prefix.shape[0] != batch or prefix.shape[1] > length:
        raise ValueError(
            f"prefix must have shape ({batch}, T) with T <= {length}, got "
            f"{prefix.shape}")
      if prefix_length is None:
        prefix_length = prefix.shape[1]
      prefix = jnp.pad(prefix.astype(jnp.int32),
                       ((0, 0), (0, length - prefix.shape[1])))
    embedding = self.embedding[...]

    def step(carry, inputs):
      state, previous = carry
      t, given, u = inputs
      state, h = self._cell(state, jnp.take(embedding, previous, axis=0))
      logits = h @ self.output_kernel[...] + self.output_bias[...]
      cdf = jnp.cumsum(jax.nn.softmax(logits / temperature, axis=-1), axis=-1)
      drawn = jnp.sum(cdf < u[:, None] * cdf[:, -1:], axis=-1)
      drawn = jnp.minimum(drawn, self.vocab_size - 1)
      token = jnp.where(t < prefix_length, given, drawn).astype(jnp.int32)
      return (state, token), token

    start = jnp.full((batch,), self.start_token, jnp.int32)
    _, tokens = jax.lax.scan(
        step, (self._initial_state(batch), start),
        (jnp.arange(length), jnp.swapaxes(prefix, 0, 1),
         jnp.swapaxes(uniforms, 0, 1)))
    return jnp.swapaxes(tokens, 0, 1)

  def relaxed_sample(self, key: Array, batch: int, length: int, *,
                     temperature: float | Array, hard: bool = False) -> Array:
    r"""Differentiable samples (B, L, V) by Gumbel-softmax at every step.

    .. math::
      y_t = \mathrm{GumbelSoftmax}_\tau(W_o h_t + b_o), \qquad
      h_{t+1} = \mathrm{LSTM}(y_t E, h_t, c_t)

    The relaxed vector itself is fed back (its embedding :math:`y_t E`), so
    gradients reach every step, as in the Gumbel-softmax GAN of Kusner &
    Hernández-Lobato. ``hard=True`` feeds and returns straight-through
    one-hot vectors. Step t uses ``fold_in(key, t)``.

    Args:
      key: PRNG key.
      batch: number of sequences B.
      length: sequence length L.
      temperature: :math:`\tau > 0`, e.g.
        :func:`gans_jax.sequence.annealed_temperature`.
      hard: straight-through one-hot samples.

    Returns:
      ``(B, L, V)`` float32 vectors on the simplex.

    References:
      Kusner & Hernández-Lobato, 2016 (arXiv 1611.04051); Jang, Gu & Poole,
      2017 (arXiv 1611.01144).
    """
    embedding = self.embedding[...]

    def step(carry, t):
      state, previous = carry
      state, h = self._cell(state, previous @ embedding)
      logits = h @ self.output_kernel[...] + self.output_bias[...]
      y = gumbel_softmax(jax.random.fold_in(key, t), logits,
                         temperature=temperature, hard=hard)
      return (state, y), y

    start = jax.nn.one_hot(jnp.full((batch,), self.start_token),
                           self.vocab_size)
    _, ys = jax.lax.scan(step, (self._initial_state(batch), start),
                         jnp.arange(length))
    return jnp.swapaxes(ys, 0, 1)


def oracle_lstm(*, vocab_size: int = 5000, embedding_dim: int = 32,
                hidden_dim: int = 32, seed: int = 0) -> LSTMGenerator:
  """SeqGAN's oracle: an :class:`LSTMGenerator` with every weight ~ N(0, 1).

  The synthetic data distribution of SeqGAN's Section 4: the paper's sizes
  are the defaults (vocabulary 5,000, embedding and hidden width 32). The
  official code loads one fixed draw (``target_params.pkl``); this is a
  fresh draw from ``seed``, so NLL_oracle values are of the same kind as the
  paper's, not identical to them.

  Args:
    vocab_size: number of tokens.
    embedding_dim: embedding width.
    hidden_dim: LSTM width.
    seed: the oracle's parameter seed.

  Returns:
    The oracle; treat it as fixed (never train it).
  """
  return LSTMGenerator(vocab_size, embedding_dim=embedding_dim,
                       hidden_dim=hidden_dim, init_stddev=1.0,
                       rngs=nnx.Rngs(seed))


def _truncated_normal(stddev: float):
  def init(key, shape, dtype=jnp.float32):
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
  return init


class CNNTextDiscriminator(nnx.Module):
  r"""SeqGAN's CNN discriminator for token sequences.

  .. math::
    e = x E, \quad
    p_k = \max_t \mathrm{ReLU}(w_k * e_{t:t+l_k-1} + b_k), \quad
    \tau = \sigma(W_T p + b_T), \quad
    f = \tau \odot \mathrm{ReLU}(W_H p + b_H) + (1 - \tau) \odot p

  then dropout and a linear map to one logit. Filters of width
  :math:`l_k` slide over the sequence without padding ("VALID"), so the
  sequence must be at least as long as the widest filter. The official code
  has two softmax classes; their logit difference is this one logit, so
  :math:`D(Y) = \sigma(\text{logit})` is the official ``ypred[:, 1]``.
  Its output layer carries an L2 penalty (0.2 in the official code), given
  by :meth:`l2_penalty`.

  References:
    Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), Section 3 and the
    official ``discriminator.py``; Kim, 2014 (arXiv 1408.5882); Srivastava
    et al., 2015 (arXiv 1505.00387), highway networks.
  """

  def __init__(self, vocab_size: int, *, embedding_dim: int = 64,
               filter_sizes: Sequence[int] = SEQGAN_FILTER_SIZES,
               num_filters: Sequence[int] = SEQGAN_NUM_FILTERS,
               dropout: float = 0.25, dtype: Any = None, rngs: nnx.Rngs):
    """Builds the discriminator.

    Args:
      vocab_size: number of tokens V.
      embedding_dim: embedding width (64 in SeqGAN).
      filter_sizes: convolution widths (SeqGAN: 1..10, 15, 20).
      num_filters: number of filters of each width, same length.
      dropout: dropout rate before the output (SeqGAN keeps 0.75).
      dtype: computation dtype (``None``: float32); logits are float32.
      rngs: parameter initialisation keys.
    """
    filter_sizes, num_filters = tuple(filter_sizes), tuple(num_filters)
    if not filter_sizes or len(filter_sizes) != len(num_filters):
      raise ValueError(
          f"filter_sizes and num_filters must be non-empty and of equal "
          f"length, got {filter_sizes} and {num_filters}")
    self.vocab_size = vocab_size
    self.filter_sizes = filter_sizes
    self.embedding = nnx.Param(jax.random.uniform(
        rngs.params(), (vocab_size, embedding_dim), jnp.float32, -1.0, 1.0))
    conv_init = _truncated_normal(0.1)
    bias_init = nnx.initializers.constant(0.1)
    self.convs = nnx.List([
        nnx.Conv(embedding_dim, n, (width,), padding="VALID",
                 kernel_init=conv_init, bias_init=bias_init, dtype=dtype,
                 rngs=rngs)
        for width, n in zip(filter_sizes, num_filters)])
    total = sum(num_filters)
    self.highway_transform = nnx.Linear(total, total, kernel_init=_glorot_uniform,
                                        dtype=dtype, rngs=rngs)
    self.highway_gate = nnx.Linear(total, total, kernel_init=_glorot_uniform,
                                   dtype=dtype, rngs=rngs)
    self.dropout = nnx.Dropout(dropout) if dropout else None
    self.output = nnx.Linear(total, 1, kernel_init=conv_init,
                             bias_init=bias_init, dtype=dtype, rngs=rngs)

  def features(self, x: Array) -> Array:
    """The highway layer's output (B, sum(num_filters)), before dropout."""
    if x.shape[1] < max(self.filter_sizes):
      raise ValueError(
          f"sequences of length {x.shape[1]} are shorter than the widest "
          f"filter ({max(self.filter_sizes)})")
    e = embed_tokens(x, self.embedding[...])
    pooled = jnp.concatenate(
        [jax.nn.relu(conv(e)).max(axis=1) for conv in self.convs], axis=-1)
    gate = jax.nn.sigmoid(self.highway_gate(pooled))
    return gate * jax.nn.relu(self.highway_transform(pooled)) + (1.0 - gate) * pooled

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    """Scores sequences: tokens (B, L) or vectors (B, L, V) → logits (B,).

    Args:
      x: token ids or per-position distributions.
      rngs: PRNG key (or ``nnx.Rngs``) for dropout; needed in train mode.

    Returns:
      Raw scores (logits of "real") of shape (B,), float32.
    """
    h = self.features(x)
    if self.dropout is not None:
      h = self.dropout(h, rngs=dropout_keys(rngs, 1)[0])
    return self.output(h)[:, 0].astype(jnp.float32)

  def l2_penalty(self) -> Array:
    """:math:`\\tfrac12 (\\lVert W_o \\rVert^2 + \\lVert b_o \\rVert^2)` of the output layer."""
    return 0.5 * (jnp.sum(jnp.square(self.output.kernel[...]))
                  + jnp.sum(jnp.square(self.output.bias[...])))


class TextResidualBlock(nnx.Module):
  r"""WGAN-GP's 1-D residual block: :math:`y = x + 0.3\, c_2(\rho(c_1(\rho(x))))`.

  :math:`c_i` are width-5 convolutions ("SAME") keeping the width,
  :math:`\rho` is ReLU; no normalisation (the gradient penalty is per
  example).

  References:
    Gulrajani et al., 2017 (arXiv 1704.00028), official ``gan_language.py``.
  """

  def __init__(self, features: int, *, dtype: Any = None, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(features, features, (5,), padding="SAME",
                          kernel_init=_he_uniform, dtype=dtype, rngs=rngs)
    self.conv2 = nnx.Conv(features, features, (5,), padding="SAME",
                          kernel_init=_he_uniform, dtype=dtype, rngs=rngs)

  def __call__(self, x: Array) -> Array:
    """Maps (B, L, F) to (B, L, F)."""
    return x + 0.3 * self.conv2(jax.nn.relu(self.conv1(jax.nn.relu(x))))


class ResNetTextGenerator(nnx.Module):
  r"""WGAN-GP's character generator: z (B, latent_dim) → softmax (B, L, V).

  .. math::
    x = \mathrm{softmax}\big(c_{1\times1}(R_5(\cdots R_1(
        \mathrm{reshape}(W z + b))))\big)

  The output is a distribution per position, fed to the critic as it is;
  characters are read off by argmax.

  References:
    Gulrajani et al., 2017 (arXiv 1704.00028), Section 5.4 and the official
    ``gan_language.py`` (length 32, width 512, 5 blocks, z of 128).
  """

  def __init__(self, vocab_size: int, *, length: int = 32,
               latent_dim: int = 128, features: int = 512,
               num_blocks: int = 5, dtype: Any = None, rngs: nnx.Rngs):
    """Builds the generator.

    Args:
      vocab_size: number of characters V.
      length: sequence length L.
      latent_dim: size of z.
      features: width F of every block (DIM).
      num_blocks: residual blocks.
      dtype: computation dtype (``None``: float32); output is float32.
      rngs: parameter initialisation keys.
    """
    self.vocab_size = vocab_size
    self.length = length
    self.latent_dim = latent_dim
    self.features = features
    self.input = nnx.Linear(latent_dim, length * features,
                            kernel_init=_glorot_uniform, dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([TextResidualBlock(features, dtype=dtype, rngs=rngs)
                            for _ in range(num_blocks)])
    self.output = nnx.Conv(features, vocab_size, (1,), kernel_init=_he_uniform,
                           dtype=dtype, rngs=rngs)

  def logits(self, z: Array) -> Array:
    """The pre-softmax outputs (B, L, V)."""
    h = self.input(z).reshape(z.shape[0], self.length, self.features)
    for block in self.blocks:
      h = block(h)
    return self.output(h).astype(jnp.float32)

  def __call__(self, z: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    """Maps z (B, latent_dim) to softmax vectors (B, L, V); ``rngs`` unused."""
    del rngs
    return jax.nn.softmax(self.logits(z), axis=-1)


class ResNetTextCritic(nnx.Module):
  r"""WGAN-GP's character critic: (B, L, V) vectors → scores (B,).

  .. math::
    D(x) = w^\top \mathrm{vec}\big(R_5(\cdots R_1(c_{1\times1}(x)))\big) + b

  Real text enters one-hot, generated text as the generator's softmax
  vectors, interpolates of the gradient penalty as their convex
  combinations; int tokens (B, L) are one-hot encoded here.

  References:
    Gulrajani et al., 2017 (arXiv 1704.00028), official ``gan_language.py``.
  """

  def __init__(self, vocab_size: int, *, length: int = 32,
               features: int = 512, num_blocks: int = 5, dtype: Any = None,
               rngs: nnx.Rngs):
    """Builds the critic.

    Args:
      vocab_size: number of characters V.
      length: sequence length L.
      features: width F of every block (DIM).
      num_blocks: residual blocks.
      dtype: computation dtype (``None``: float32); scores are float32.
      rngs: parameter initialisation keys.
    """
    self.vocab_size = vocab_size
    self.length = length
    self.input = nnx.Conv(vocab_size, features, (1,), kernel_init=_he_uniform,
                          dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([TextResidualBlock(features, dtype=dtype, rngs=rngs)
                            for _ in range(num_blocks)])
    self.output = nnx.Linear(length * features, 1, kernel_init=_glorot_uniform,
                             dtype=dtype, rngs=rngs)

  def __call__(self, x: Array, *, rngs: Array | nnx.Rngs | None = None) -> Array:
    """Scores (B, L, V) float vectors or (B, L) int tokens; ``rngs`` unused."""
    del rngs
    if jnp.issubdtype(x.dtype, jnp.integer):
      x = jax.nn.one_hot(x, self.vocab_size)
    if x.shape[1:] != (self.length, self.vocab_size):
      raise ValueError(f"ResNetTextCritic expects inputs of shape (B, "
                       f"{self.length}, {self.vocab_size}), got {x.shape}")
    h = self.input(x)
    for block in self.blocks:
      h = block(h)
    return self.output(h.reshape(x.shape[0], -1))[:, 0].astype(jnp.float32)
