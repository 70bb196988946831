"""Discrete sequences: SeqGAN's synthetic oracle data and an offline text corpus.

- :func:`oracle_sequences`: ``N`` sequences drawn from an oracle LSTM
  (:func:`gans_jax.nn.oracle_lstm`) with a seed, SeqGAN's synthetic training
  set (10,000 sequences of length 20 in the paper).
- :func:`load_character_corpus`: English prose that ships with Python
  itself, cut into fixed-length character lines with a vocabulary, for
  WGAN-GP's character language model without a download.
- :class:`SequenceBatches`: a stateless
  :class:`~gans_jax.data.base.BatchSource` over any ``(N, L)`` token array,
  epoch by epoch in a seeded order, so a resumed run sees the same batches.

The corpus is the prose of the Python Language Reference as bundled in the
standard library's ``pydoc_data.topics`` (the text ``help()`` shows), about
200,000 characters after code examples, grammar rules, tables and headings
are removed. It is technical English (about statements, types and names),
present in every CPython installation; its exact text follows the Python
release, which :attr:`CharacterCorpus.source` records with a checksum.

References:
  Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), Section 4; Gulrajani et
  al., 2017 (arXiv 1704.00028), Section 5.4 and the official
  ``language_helpers.py`` (lines cut or padded with a backquote).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import platform
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from gans_jax.data import base

PAD = "`"  # the padding character of WGAN-GP's language_helpers.py

# Typographic characters of the reference written in ASCII; any other
# non-ASCII character is dropped.
_ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"',
                        "\u201d": '"', "\u2013": "-", "\u2014": "-",
                        "\u2026": "..."})


@functools.lru_cache(maxsize=None)
def _chunk_sampler():
  """One jitted sampler for every oracle (the graph and sizes are static)."""
  import jax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top

  def sample(graphdef, state, key, batch, length):
    return nnx.merge(graphdef, state).sample(key, batch, length)

  return jax.jit(sample, static_argnums=(0, 3, 4))


def oracle_sequences(oracle, *, num_sequences: int = 10_000, length: int = 20,
                     seed: int = 0, chunk_size: int = 1000) -> np.ndarray:
  """Draws SeqGAN's training set from an oracle LSTM.

  Chunk ``c`` of ``chunk_size`` sequences is sampled with
  ``fold_in(PRNGKey(seed), c)``, so the set is a pure function of the
  oracle, the seed and the sizes.

  Args:
    oracle: an :class:`gans_jax.nn.LSTMGenerator` (e.g. from
      :func:`gans_jax.nn.oracle_lstm`).
    num_sequences: N (10,000 in SeqGAN).
    length: sequence length (20 in SeqGAN).
    seed: sampling seed in ``[0, 2**32)``.
    chunk_size: sequences sampled per compiled call.

  Returns:
    ``(N, length)`` int32 tokens.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top

  seed = base.check_seed(seed)
  graphdef, state = nnx.split(oracle)
  key = jax.random.PRNGKey(seed)
  chunks = [np.asarray(_chunk_sampler()(graphdef, state,
                                       jax.random.fold_in(key, c), chunk_size,
                                       length))
            for c in range(-(-num_sequences // chunk_size))]
  return np.concatenate(chunks)[:num_sequences].astype(np.int32)


class SequenceBatches:
  """A :class:`~gans_jax.data.base.BatchSource` of ``{'tokens': (B, L) int32}``.

  The examples are visited epoch by epoch: global example ``j`` of the
  stream (minibatch ``m`` holds ``j = m B .. m B + B - 1``) is row
  ``perm_e[j mod N]`` with ``e = j div N`` and ``perm_e`` the permutation
  drawn by ``np.random.default_rng([seed, e])``. Process ``p`` of ``P``
  keeps its examples ``p::P`` (see :mod:`gans_jax.data.base`).

  Args:
    sequences: ``(N, L)`` int tokens (e.g. :func:`oracle_sequences` or
      ``CharacterCorpus.lines``).
    batch_size: global batch size ``B``.
    seed: data seed in ``[0, 2**32)``.
    num_microbatches: ``k``; with ``k > 1`` arrays are ``(k, B/P, L)``.
    process_index: this process; default ``jax.process_index()``.
    process_count: number of processes; default ``jax.process_count()``.
  """

  def __init__(self, sequences: np.ndarray, *, batch_size: int, seed: int,
               num_microbatches: int = 1, process_index: int | None = None,
               process_count: int | None = None):
    sequences = np.asarray(sequences)
    if sequences.ndim != 2 or not np.issubdtype(sequences.dtype, np.integer):
      raise ValueError(
          f"sequences must be an (N, L) int array, got {sequences.dtype} "
          f"{sequences.shape}")
    if len(sequences) == 0:
      raise base.DataError("SequenceBatches: no sequences to draw from")
    self.sequences = sequences.astype(np.int32)
    self.seed = base.check_seed(seed)
    self.sharding = base.Sharding(batch_size, num_microbatches,
                                  process_index, process_count)

  def minibatch(self, index: int) -> np.ndarray:
    """The global minibatch ``index``, shape ``(B, L)`` int32."""
    n, b = len(self.sequences), self.sharding.batch_size
    stream = np.arange(index * b, (index + 1) * b)
    epochs = stream // n
    rows = np.empty(b, np.int64)
    for epoch in np.unique(epochs):
      perm = np.random.default_rng([self.seed, int(epoch)]).permutation(n)
      mask = epochs == epoch
      rows[mask] = perm[stream[mask] % n]
    return self.sequences[rows]

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's share of training step ``step``'s batch."""
    sh = self.sharding
    shares = [{"tokens": self.minibatch(m)[sh.process_index::sh.process_count]}
              for m in sh.minibatch_indices(step)]
    return sh.stack(shares)


@dataclasses.dataclass(frozen=True, eq=False)
class CharacterCorpus:
  """Fixed-length character lines of a text with their vocabulary.

  Attributes:
    lines: ``(N, L)`` int32 character ids; short lines end in :data:`PAD`.
    vocabulary: the characters by id; id 0 is :data:`PAD`, the others follow
      by decreasing frequency (ties alphabetical).
    words: the lower-case words (runs of letters) of the text.
    source: where the text comes from, with its Python version and SHA-256.
  """

  lines: np.ndarray
  vocabulary: tuple[str, ...]
  words: frozenset[str]
  source: str

  @property
  def length(self) -> int:
    return self.lines.shape[1]

  def encode(self, strings: Iterable[str]) -> np.ndarray:
    """Strings of at most L characters → ``(n, L)`` ids, padded with PAD."""
    index = {c: i for i, c in enumerate(self.vocabulary)}
    rows = []
    for s in strings:
      if len(s) > self.length:
        raise ValueError(f"string longer than {self.length}: {s!r}")
      unknown = set(s) - set(index)
      if unknown:
        raise ValueError(f"characters outside the vocabulary: {sorted(unknown)}")
      rows.append([index[c] for c in s.ljust(self.length, PAD)])
    return np.asarray(rows, np.int32).reshape(-1, self.length)

  def decode(self, tokens: np.ndarray, *, strip_padding: bool = True
             ) -> list[str]:
    """``(n, L)`` ids → strings, trailing PAD removed unless told otherwise."""
    chars = np.asarray(self.vocabulary)
    strings = ["".join(row) for row in chars[np.asarray(tokens)]]
    return [s.rstrip(PAD) for s in strings] if strip_padding else strings


def _prose_paragraphs(topics: dict[str, str]) -> list[str]:
  """The prose paragraphs of the reference, each on one line, in ASCII."""
  paragraphs = []
  for name in sorted(topics):
    for block in re.split(r"\n\s*\n", topics[name]):
      lines = block.split("\n")
      # Indented blocks are code, grammar or quoted output; runs of one or
      # two symbols underline headings; "+", "|" and ">>>" start tables and
      # sessions.
      if any(l.startswith(" ") or l.startswith(("+", "|", ">>>"))
             or (l and len(set(l)) <= 2 and not l[0].isalnum())
             for l in lines):
        continue
      text = " ".join(l.strip() for l in lines).translate(_ASCII)
      text = re.sub(r"\s+", " ", text.encode("ascii", "ignore").decode())
      text = text.replace(PAD, "'").strip()
      if len(text) >= 40:
        paragraphs.append(text)
  return paragraphs


def _cut(paragraph: str, length: int) -> list[str]:
  return [paragraph[i:i + length] for i in range(0, len(paragraph), length)]


@functools.lru_cache(maxsize=4)
def load_character_corpus(*, length: int = 32) -> CharacterCorpus:
  """The Python Language Reference's prose as character lines of ``length``.

  Each prose paragraph of ``pydoc_data.topics`` (see the module docstring)
  is cut into consecutive pieces of ``length`` characters; a paragraph's
  last piece is padded with :data:`PAD`, as WGAN-GP pads its lines. Lines
  keep the order of the text; :class:`SequenceBatches` shuffles them.

  Args:
    length: characters per line (32 in WGAN-GP).

  Returns:
    The :class:`CharacterCorpus`.
  """
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top

  if length < 1:
    raise ValueError(f"length must be >= 1, got {length}")
  paragraphs = _prose_paragraphs(topics.topics)
  text = "\n".join(paragraphs)
  counts = Counter(text.replace("\n", ""))
  vocabulary = (PAD, *sorted(counts, key=lambda c: (-counts[c], c)))
  pieces = [piece for p in paragraphs for piece in _cut(p, length)]
  corpus = CharacterCorpus(
      lines=np.zeros((0, length), np.int32), vocabulary=vocabulary,
      words=frozenset(re.findall(r"[a-z]+", text.lower())),
      source=(f"pydoc_data.topics of Python {platform.python_version()} "
              f"(sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]})"))
  lines = corpus.encode(pieces)
  lines.setflags(write=False)  # one cached corpus is shared by every caller
  return dataclasses.replace(corpus, lines=lines)

