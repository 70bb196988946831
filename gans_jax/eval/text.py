r"""Metrics of generated sequences: oracle NLL, n-gram JS divergence, real words.

- :func:`oracle_nll`: SeqGAN's NLL_oracle, the mean per-token negative
  log-likelihood of generated sequences under the oracle LSTM;
- :func:`ngram_js_divergence`: the Jensen-Shannon divergence between the
  character n-gram frequencies of two sets of strings, as WGAN-GP's
  language code monitors for n = 1..4 (:func:`ngram_js_divergences`);
- :func:`word_fraction_in_vocabulary`: the fraction of generated words that
  are words of the corpus.

References:
  Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), Section 4 (equation 8);
  Gulrajani et al., 2017 (arXiv 1704.00028), official
  ``language_helpers.py`` (``NgramLanguageModel.js_with``).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import jax
import numpy as np
from flax import nnx

__all__ = ["ngram_js_divergence", "ngram_js_divergences", "oracle_nll",
           "word_fraction_in_vocabulary"]


@functools.partial(jax.jit, static_argnums=0)
def _summed_nll(graphdef, state, tokens):
  return -nnx.merge(graphdef, state).token_log_probs(tokens).sum()


def oracle_nll(oracle, samples: np.ndarray, *, batch_size: int = 1000) -> float:
  r"""SeqGAN's NLL_oracle: the oracle's mean per-token NLL of the samples.

  .. math::
    \mathrm{NLL}_{\mathrm{oracle}} = -\frac{1}{N T} \sum_{n=1}^{N}
      \sum_{t=1}^{T} \log G_{\mathrm{oracle}}(y^n_t \mid Y^n_{1:t-1})

  The samples are the *generator's*; the likelihood is the *oracle's*
  (teacher-forced on the samples, from its start token). Lower is better;
  the oracle's own samples give its entropy rate.

  Args:
    oracle: the :class:`gans_jax.nn.LSTMGenerator` that made the data.
    samples: ``(N, T)`` int tokens drawn from the generator being scored.
    batch_size: sequences per compiled call (bounds the ``(b, T, V)``
      logits in memory).

  Returns:
    The mean NLL in nats per token.

  References:
    Yu et al., SeqGAN, AAAI 2017 (arXiv 1609.05473), equation 8.
  """
  samples = np.asarray(samples)
  if samples.ndim != 2 or not np.issubdtype(samples.dtype, np.integer):
    raise ValueError(f"samples must be (N, T) int tokens, got {samples.dtype} "
                     f"{samples.shape}")
  graphdef, state = nnx.split(oracle)
  total = 0.0
  for start in range(0, len(samples), batch_size):
    total += float(_summed_nll(graphdef, state,
                               samples[start:start + batch_size]))
  return total / samples.size


def _ngram_counts(strings: Iterable[Sequence], n: int) -> Counter:
  counts = Counter()
  for s in strings:
    counts.update(tuple(s[i:i + n]) for i in range(len(s) - n + 1))
  return counts


def ngram_js_divergence(samples: Iterable[Sequence],
                        references: Iterable[Sequence], *, n: int) -> float:
  r"""Jensen-Shannon divergence (bits) of the n-gram frequencies of two sets.

  .. math::
    \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m)
      + \tfrac12 \mathrm{KL}(q \,\|\, m), \qquad m = \tfrac12 (p + q)

  with :math:`p, q` the relative frequencies of the n-grams (contiguous runs
  of ``n`` characters within each string) of ``references`` and
  ``samples``; in bits, so it lies in [0, 1]. Padding is part of a string
  unless the caller strips it.

  Args:
    samples: generated strings (or token sequences).
    references: real strings.
    n: n-gram order (WGAN-GP monitors 1, 2, 3, 4).

  Returns:
    The divergence in bits.

  References:
    Gulrajani et al., 2017 (arXiv 1704.00028), official
    ``language_helpers.py``.
  """
  if n < 1:
    raise ValueError(f"n must be >= 1, got {n}")
  q_counts = _ngram_counts(samples, n)
  p_counts = _ngram_counts(references, n)
  if not q_counts or not p_counts:
    raise ValueError(f"both sets need at least one {n}-gram")
  p_total, q_total = sum(p_counts.values()), sum(q_counts.values())
  js = 0.0
  for gram in p_counts.keys() | q_counts.keys():
    p = p_counts.get(gram, 0) / p_total
    q = q_counts.get(gram, 0) / q_total
    m = 0.5 * (p + q)
    js += 0.5 * sum(x * math.log(x / m) for x in (p, q) if x > 0)
  return js / math.log(2.0)


def ngram_js_divergences(samples: Sequence[Sequence],
                         references: Sequence[Sequence], *,
                         orders: Sequence[int] = (1, 2, 3, 4)
                         ) -> dict[str, float]:
  """:func:`ngram_js_divergence` for each order, as ``{'js1': ..., 'js4': ...}``."""
  return {f"js{n}": ngram_js_divergence(samples, references, n=n)
          for n in orders}


def word_fraction_in_vocabulary(strings: Iterable[str],
                                vocabulary: Iterable[str]) -> float:
  """Fraction of the generated words that are words of the corpus.

  A word is a maximal run of letters, compared in lower case. A word that
  touches either end of its string may have been cut by the fixed line
  length and is left out, so lines cut from the corpus itself score 1.

  Args:
    strings: generated strings (padding already stripped).
    vocabulary: the corpus' words (e.g. ``CharacterCorpus.words``).

  Returns:
    The fraction in [0, 1]; 0 when no complete word was generated.
  """
  vocabulary = frozenset(w.lower() for w in vocabulary)
  found = total = 0
  for s in strings:
    for match in re.finditer(r"[A-Za-z]+", s):
      if match.start() == 0 or match.end() == len(s):
        continue
      total += 1
      found += match.group().lower() in vocabulary
  return found / total if total else 0.0
