"""The training engine: state pytrees, the generic loop, devices, checkpoints.

The loop (:func:`fit`, or :func:`fit_phases` for a run made of phases) jits
any pure ``step(state, batch, key) -> (state, metrics)`` and knows nothing
about any paper; experiments write the step from a :class:`TrainState` of
named players (:class:`GANState` for a generator and a discriminator),
:class:`Network` and the pure losses and penalties. Random keys come from one
seed, tagged by purpose (:mod:`gans_jax.train.keys`).
"""

from gans_jax.train import keys
from gans_jax.train.checkpoint import CheckpointError
from gans_jax.train.config import ConfigError
from gans_jax.train.config import train_defaults
from gans_jax.train.config import validate_train
from gans_jax.train.distributed import data_mesh
from gans_jax.train.distributed import global_batch
from gans_jax.train.distributed import initialize
from gans_jax.train.image_pool import ImagePool
from gans_jax.train.keys import init_rngs
from gans_jax.train.keys import make_key
from gans_jax.train.keys import step_key
from gans_jax.train.loop import BatchSource
from gans_jax.train.loop import Hook
from gans_jax.train.loop import HostLost
from gans_jax.train.loop import Interrupted
from gans_jax.train.loop import NonFiniteError
from gans_jax.train.loop import Phase
from gans_jax.train.loop import fit
from gans_jax.train.loop import fit_phases
from gans_jax.train.state import GANState
from gans_jax.train.state import Network
from gans_jax.train.state import OptimizerGroup
from gans_jax.train.state import TrainState
from gans_jax.train.state import count_params
from gans_jax.train.state import ema_network
from gans_jax.train.updates import clip_weights
from gans_jax.train.updates import ema_update
from gans_jax.train.writer import MetricWriter
from gans_jax.train.writer import read_metrics

__all__ = [
    "BatchSource", "CheckpointError", "ConfigError", "GANState", "Hook", "HostLost",
    "ImagePool", "Interrupted", "MetricWriter", "Network", "NonFiniteError",
    "OptimizerGroup", "Phase", "TrainState", "clip_weights", "count_params",
    "data_mesh", "ema_network", "ema_update", "fit", "fit_phases",
    "global_batch", "init_rngs", "initialize", "keys", "make_key",
    "read_metrics", "step_key", "train_defaults", "validate_train",
]
