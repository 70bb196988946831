"""gans_jax: generative adversarial networks in JAX and Flax NNX.

``import gans_jax as gj`` gives the pure-function building blocks
(``gj.losses``, ``gj.divergences``, ``gj.penalties``), the Flax NNX models
(``gj.nn``), the training engine (``gj.train``), data pipelines (``gj.data``)
and metrics (``gj.eval``). Subpackages load on first use, so importing
``gans_jax`` stays cheap and pulls in no optional dependency (TFDS, Grain,
plotting) until the code that needs it runs.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("losses", "divergences", "penalties", "nn", "train", "data", "eval")
_SUBMODULES += ("noise",)  # instance noise for the discriminator's inputs
_SUBMODULES += ("adaptation",)  # gradient reversal (DANN) and ADDA's step
_SUBMODULES += ("sequence",)  # SeqGAN's rollout rewards and their helpers
_SUBMODULES += ("cli",)  # the command line every experiment shares
__all__ = list(_SUBMODULES)


def __getattr__(name):
  if name in _SUBMODULES:
    module = importlib.import_module(f"gans_jax.{name}")
    globals()[name] = module
    return module
  raise AttributeError(f"module 'gans_jax' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_SUBMODULES))
