"""Flax NNX architectures of the GAN papers, and the layers they share.

Every model is built with a keyword ``rngs: nnx.Rngs`` (parameter
initialisation only) and called as ``model(x, labels=None, *, rngs=None)``:

- generators map z (B, latent_dim) to images (B, H, W, C) in [-1, 1] (or to
  points (B, D) / [0, 1] pixels for the MLPs, by their output activation);
- discriminators and critics map a batch to raw scores (B,), no sigmoid;
- EBGAN's autoencoder discriminators map a batch to (energy (B,), code
  (B, D)); :class:`Packed` makes any discriminator score packs of m samples
  (PacGAN);
- image-to-image translation models (pix2pix, CycleGAN) map images to images
  (``model(x, *, rngs=None)``), and their PatchGAN discriminators map images,
  with an optional ``condition`` image, to a logit map (B, h, w, 1);
- the MLP, DCGAN, ResNet and PatchGAN discriminators also take
  ``features=True`` and then return ``(logits, features)`` from the same
  forward pass: ``features['last_hidden']`` is the input of the output layer
  and ``features['block{i}']`` (``'hidden{i}'`` for the MLP) each block's
  output, for feature matching and perceptual losses;
- ``labels`` (B,) int are required by class-conditional models
  (``num_classes`` set) and refused by unconditional ones;
- ``rngs`` is a PRNG key (or ``nnx.Rngs``) used only by dropout, so a model's
  state holds parameters and batch statistics, never RNG counters;
- ``dtype`` is the computation dtype: ``None`` (the default) computes in
  float32, the parameters' dtype, without casts; ``jnp.bfloat16`` casts
  inputs and parameters to it (:func:`~gans_jax.nn.layers.as_dtype`);
  parameters are float32 either way;
- ``model.train()`` / ``model.eval()`` switch BatchNorm to batch / running
  statistics and dropout on / off;
- the growing ProGAN models also take ``level`` (a static Python int, the
  resolution 4·2^level) and ``alpha`` (the fade-in weight, may be traced);
- the VAE's :class:`GaussianEncoder` maps a batch to ``(mean, log_var)``
  and its :class:`VAEDecoder` maps z to Bernoulli logits or Gaussian means;
  ADDA's :class:`LeNetEncoder` maps digits to features (B, 500), and
  :class:`DomainAdversary` features to source-domain logits (B,);
- the sequence models (:mod:`gans_jax.nn.sequence`) score tokens (B, L) int
  or per-position vectors (B, L, V) as (B,); the LSTM generator is used
  through ``logits(tokens)`` and ``sample(key, batch, length)``.

:class:`Generator` is a trained generator as a function, rebuilt from a
spec (its class and constructor arguments) and saved to one ``.npz`` file
that NumPy and Flax read back (:mod:`gans_jax.nn.export`).
"""

from gans_jax.nn.dcgan import (SUPPORTED_IMAGE_SIZES, DCGANDiscriminator,
                               DCGANGenerator)
from gans_jax.nn.domain import (DomainAdversary, LeNetClassifier,
                                LeNetEncoder, lenet_feature_size)
from gans_jax.nn.ebgan import EBGANDiscriminator, EBGANMLPDiscriminator
from gans_jax.nn.export import Generator, build_module, module_class
from gans_jax.nn.gaussian import GaussianSampler
from gans_jax.nn.grid import (ConvDiscriminator, ConvGenerator, DeepResNetCritic32,
                              DeepResNetGenerator32, gated_activation, resnet_depth)
from gans_jax.nn.improved import (GaussianNoise, ImprovedConvGenerator,
                                  ImprovedMLPGenerator,
                                  MinibatchDiscrimination,
                                  SemiSupervisedConvDiscriminator,
                                  SemiSupervisedMLPDiscriminator,
                                  WeightNormed,
                                  VirtualBatchNorm,
                                  virtual_batch_norm_reference)
from gans_jax.nn.layers import (ACTIVATIONS, CONV_TRANSPOSE2X_IMPLEMENTATIONS,
                                ConvTranspose2x, LatentProjection, Maxout,
                                as_dtype, conv_transpose2x_implementation,
                                conv_transpose_stride2, dcgan_kernel_init,
                                dcgan_scale_init, dropout_keys, fan_avg_uniform,
                                get_activation,
                                image_layer_norm, label_one_hot)
from gans_jax.nn.mlp import MLPDiscriminator, MLPGenerator
from gans_jax.nn.packing import Packed, pack, unpack
from gans_jax.nn.patchgan import (PatchGANDiscriminator, PixelGANDiscriminator,
                                  patchgan_output_size,
                                  patchgan_receptive_field)
from gans_jax.nn.progan import (EqualizedConv, EqualizedDense, ProGANCritic,
                                ProGANGenerator, downscale_images, fade_reals,
                                level_resolution, minibatch_stddev,
                                pixel_norm, progan_features, progan_schedule)
from gans_jax.nn.resnet import (ResidualBlock, ResNetCritic32,
                                ResNetGenerator32, mean_pool,
                                upsample_nearest)
from gans_jax.nn.resnet_translation import ResNetTranslationGenerator
from gans_jax.nn.sequence import (SEQGAN_FILTER_SIZES, SEQGAN_NUM_FILTERS,
                                  CNNTextDiscriminator, LSTMGenerator,
                                  ResNetTextCritic, ResNetTextGenerator,
                                  TextResidualBlock, embed_tokens, oracle_lstm)
from gans_jax.nn.srgan import (VGG19_LAYERS, PReLU, SRGANDiscriminator,
                               SRResNetBlock, SRResNetGenerator,
                               SubPixelUpsample, VGG19Features,
                               feature_extractor, feature_maps, load_vgg19,
                               pixel_shuffle, space_to_depth)
from gans_jax.nn.translation import TRANSLATION_NORMS, InstanceNorm, reflect_pad
from gans_jax.nn.unet import UNetGenerator
from gans_jax.nn.vae import DECODER_LIKELIHOODS, GaussianEncoder, VAEDecoder


__all__ = [
    "ACTIVATIONS",
    "CNNTextDiscriminator",
    "CONV_TRANSPOSE2X_IMPLEMENTATIONS",
    "ConvDiscriminator",
    "ConvGenerator",
    "ConvTranspose2x",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DECODER_LIKELIHOODS",
    "DeepResNetCritic32",
    "DeepResNetGenerator32",
    "DomainAdversary",
    "EBGANDiscriminator",
    "EBGANMLPDiscriminator",
    "EqualizedConv",
    "EqualizedDense",
    "GaussianEncoder",
    "GaussianSampler",
    "Generator",
    "InstanceNorm",
    "LSTMGenerator",
    "LatentProjection",
    "LeNetClassifier",
    "LeNetEncoder",
    "MLPDiscriminator",
    "MLPGenerator",
    "Maxout",
    "GaussianNoise",
    "ImprovedConvGenerator",
    "ImprovedMLPGenerator",
    "MinibatchDiscrimination",
    "SemiSupervisedConvDiscriminator",
    "SemiSupervisedMLPDiscriminator",
    "WeightNormed",
    "PReLU",
    "Packed",
    "PatchGANDiscriminator",
    "PixelGANDiscriminator",
    "ProGANCritic",
    "ProGANGenerator",
    "ResNetCritic32",
    "ResNetGenerator32",
    "ResNetTextCritic",
    "ResNetTextGenerator",
    "ResNetTranslationGenerator",
    "ResidualBlock",
    "gated_activation",
    "resnet_depth",
    "SEQGAN_FILTER_SIZES",
    "SEQGAN_NUM_FILTERS",
    "SRGANDiscriminator",
    "SRResNetBlock",
    "SRResNetGenerator",
    "SUPPORTED_IMAGE_SIZES",
    "SubPixelUpsample",
    "TRANSLATION_NORMS",
    "TextResidualBlock",
    "UNetGenerator",
    "VAEDecoder",
    "VGG19Features",
    "VGG19_LAYERS",
    "VirtualBatchNorm",
    "as_dtype",
    "build_module",
    "conv_transpose2x_implementation",
    "conv_transpose_stride2",
    "dcgan_kernel_init",
    "dcgan_scale_init",
    "downscale_images",
    "dropout_keys",
    "embed_tokens",
    "fade_reals",
    "fan_avg_uniform",
    "feature_extractor",
    "feature_maps",
    "get_activation",
    "image_layer_norm",
    "label_one_hot",
    "lenet_feature_size",
    "level_resolution",
    "load_vgg19",
    "mean_pool",
    "minibatch_stddev",
    "module_class",
    "oracle_lstm",
    "pack",
    "patchgan_output_size",
    "patchgan_receptive_field",
    "pixel_norm",
    "pixel_shuffle",
    "progan_features",
    "progan_schedule",
    "reflect_pad",
    "space_to_depth",
    "unpack",
    "upsample_nearest",
    "virtual_batch_norm_reference",
]
