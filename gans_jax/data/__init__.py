"""Data for GAN training: toy distributions, built-in digits, TFDS, folders,
and paired / unpaired image-translation data.

Every pipeline is a :class:`BatchSource`: ``get_batch(step)`` returns this
process's share of step ``step``'s global batch as numpy arrays,
deterministically, so resuming needs no data state. TensorFlow is never
imported; TFDS datasets are read from array_record files. A dataset that
cannot be used raises a :class:`DataError` whose one-line message names it
and says the fix.
"""

from gans_jax.data.base import BatchSource
from gans_jax.data.base import DataError
from gans_jax.data.base import DatasetNotFoundError
from gans_jax.data.base import Sharding
from gans_jax.data.base import UnreadableImageError
from gans_jax.data.digits import DIGITS_SPLITS
from gans_jax.data.digits import digits_split_indices
from gans_jax.data.digits import load_digits_split
from gans_jax.data.images import ArraySource
from gans_jax.data.images import FolderSource
from gans_jax.data.images import IMAGE_DATASETS
from gans_jax.data.images import ImageBatches
from gans_jax.data.images import ImageSource
from gans_jax.data.images import TFDS_IMAGE_DATASETS
from gans_jax.data.images import folder_source
from gans_jax.data.images import make_image_source
from gans_jax.data.images import source_has_labels
from gans_jax.data.images import tfds_source
from gans_jax.data.paired import AlignedSource
from gans_jax.data.paired import DIRECTIONS
from gans_jax.data.paired import PairedBatches
from gans_jax.data.paired import UnpairedBatches
from gans_jax.data.paired import UnpairedSource
from gans_jax.data.paired import default_load_size
from gans_jax.data.paired import make_paired_source
from gans_jax.data.paired import make_unpaired_source
from gans_jax.data.paired import ordered_batches
from gans_jax.data.paired import random_jitter
from gans_jax.data.paired import resize_bicubic
from gans_jax.data.preprocessing import preprocess_image
from gans_jax.data.toy import TOY_DISTRIBUTIONS
from gans_jax.data.toy import ToyBatches
from gans_jax.data.toy import ToyDistribution
from gans_jax.data.toy import fgan_mixture
from gans_jax.data.toy import gaussian_mixture
from gans_jax.data.toy import get_toy
from gans_jax.data.toy import parallel_lines
from gans_jax.data.toy import quadrature_grid

__all__ = [
    "AlignedSource",
    "ArraySource",
    "BatchSource",
    "DIGITS_SPLITS",
    "DIRECTIONS",
    "DataError",
    "DatasetNotFoundError",
    "FolderSource",
    "IMAGE_DATASETS",
    "ImageBatches",
    "ImageSource",
    "PairedBatches",
    "Sharding",
    "TFDS_IMAGE_DATASETS",
    "TOY_DISTRIBUTIONS",
    "ToyBatches",
    "ToyDistribution",
    "UnpairedBatches",
    "UnpairedSource",
    "UnreadableImageError",
    "default_load_size",
    "digits_split_indices",
    "fgan_mixture",
    "folder_source",
    "gaussian_mixture",
    "get_toy",
    "load_digits_split",
    "make_image_source",
    "make_paired_source",
    "make_unpaired_source",
    "ordered_batches",
    "parallel_lines",
    "preprocess_image",
    "quadrature_grid",
    "random_jitter",
    "resize_bicubic",
    "source_has_labels",
    "tfds_source",
]
