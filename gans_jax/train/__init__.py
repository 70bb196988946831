"""The training engine: state pytrees, the generic loop, devices, checkpoints.

The loop (:func:`fit`) jits any pure ``step(state, batch, key) -> (state,
metrics)`` and knows nothing about any paper; experiments write the step from
:class:`GANState`, :class:`Network` and the pure losses and penalties.
"""

from gans_jax.train.config import ConfigError
from gans_jax.train.config import train_defaults
from gans_jax.train.config import validate_train
from gans_jax.train.distributed import data_mesh
from gans_jax.train.distributed import global_batch
from gans_jax.train.distributed import initialize
from gans_jax.train.loop import BatchSource
from gans_jax.train.loop import Hook
from gans_jax.train.loop import Interrupted
from gans_jax.train.loop import NonFiniteError
from gans_jax.train.loop import fit
from gans_jax.train.state import GANState
from gans_jax.train.state import Network
from gans_jax.train.state import count_params
from gans_jax.train.updates import clip_weights
from gans_jax.train.updates import ema_update
from gans_jax.train.writer import MetricWriter
from gans_jax.train.writer import read_metrics

__all__ = [
    "BatchSource", "ConfigError", "GANState", "Hook", "Interrupted",
    "MetricWriter", "Network", "NonFiniteError", "clip_weights", "count_params",
    "data_mesh", "ema_update", "fit", "global_batch", "initialize",
    "read_metrics", "train_defaults", "validate_train",
]
