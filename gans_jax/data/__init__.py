"""Data for GAN training: toy distributions, built-in digits, TFDS, folders,
paired / unpaired image-translation data, and the offline translation tasks
(synthetic facades, typeset digits).
Discrete sequences: SeqGAN's oracle data and a character corpus that ships
with Python (:mod:`gans_jax.data.sequences`).

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
from gans_jax.data.font_digits import FONT_DIGITS_SPLITS
from gans_jax.data.font_digits import FONT_DIGIT_FONTS
from gans_jax.data.font_digits import load_font_digits
from gans_jax.data.font_digits import load_unpaired_digits
from gans_jax.data.font_digits import render_font_digits
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
from gans_jax.data.labelled import labelled_subset
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
from gans_jax.data.sequences import CharacterCorpus
from gans_jax.data.sequences import PAD
from gans_jax.data.sequences import SequenceBatches
from gans_jax.data.sequences import load_character_corpus
from gans_jax.data.sequences import oracle_sequences
from gans_jax.data.stacked_digits import STACKED_DIGITS_MODES
from gans_jax.data.stacked_digits import StackedDigitsBatches
from gans_jax.data.stacked_digits import load_stacked_digits
from gans_jax.data.stacked_digits import stack_digits
from gans_jax.data.synthetic_facades import FACADES_SPLITS
from gans_jax.data.synthetic_facades import FACADE_CLASSES
from gans_jax.data.synthetic_facades import FACADE_LABEL_COLOURS
from gans_jax.data.synthetic_facades import FacadesSource
from gans_jax.data.synthetic_facades import NUM_FACADE_CLASSES
from gans_jax.data.synthetic_facades import facade_example
from gans_jax.data.synthetic_facades import facade_label_map
from gans_jax.data.synthetic_facades import facade_labels_image
from gans_jax.data.synthetic_facades import load_facades
from gans_jax.data.toy import TOY_DISTRIBUTIONS
from gans_jax.data.toy import ToyBatches
from gans_jax.data.toy import ToyDistribution
from gans_jax.data.toy import fgan_mixture
from gans_jax.data.toy import gaussian_mixture
from gans_jax.data.toy import get_toy
from gans_jax.data.toy import parallel_lines
from gans_jax.data.toy import quadrature_grid
from gans_jax.data.toy import ring_of_gaussians

__all__ = [
    "AlignedSource",
    "ArraySource",
    "BatchSource",
    "DIGITS_SPLITS",
    "DIRECTIONS",
    "DataError",
    "DatasetNotFoundError",
    "FACADES_SPLITS",
    "FACADE_CLASSES",
    "FACADE_LABEL_COLOURS",
    "FONT_DIGITS_SPLITS",
    "FONT_DIGIT_FONTS",
    "FacadesSource",
    "FolderSource",
    "IMAGE_DATASETS",
    "ImageBatches",
    "ImageSource",
    "NUM_FACADE_CLASSES",
    "PairedBatches",
    "STACKED_DIGITS_MODES",
    "Sharding",
    "StackedDigitsBatches",
    "TFDS_IMAGE_DATASETS",
    "TOY_DISTRIBUTIONS",
    "ToyBatches",
    "ToyDistribution",
    "UnpairedBatches",
    "UnpairedSource",
    "UnreadableImageError",
    "default_load_size",
    "digits_split_indices",
    "facade_example",
    "facade_label_map",
    "facade_labels_image",
    "fgan_mixture",
    "folder_source",
    "gaussian_mixture",
    "get_toy",
    "labelled_subset",
    "load_digits_split",
    "load_facades",
    "load_font_digits",
    "load_stacked_digits",
    "load_unpaired_digits",
    "make_image_source",
    "make_paired_source",
    "make_unpaired_source",
    "ordered_batches",
    "parallel_lines",
    "preprocess_image",
    "quadrature_grid",
    "random_jitter",
    "ring_of_gaussians",
    "render_font_digits",
    "resize_bicubic",
    "source_has_labels",
    "stack_digits",
    "tfds_source",
]
__all__ += ["CharacterCorpus", "PAD", "SequenceBatches",
            "load_character_corpus", "oracle_sequences"]
