"""Metrics and pictures for GANs.

- :mod:`~gans_jax.eval.parzen`: the Gaussian Parzen-window log-likelihood of
  the original GAN paper (Table 1 of arXiv 1406.2661).
- :mod:`~gans_jax.eval.toy`: mode coverage and sample quality on 2-D mixtures
  (VEEGAN, PacGAN).
- :mod:`~gans_jax.eval.classifier`: a small digit classifier trained on the
  built-in digits, and the Fréchet distance and class-spread metrics computed
  with it.
- :mod:`~gans_jax.eval.modes`: the modes of stacked digits covered (of
  1,000) and the KL divergence of their histogram to uniform (PacGAN).
- :mod:`~gans_jax.eval.inception`: the FID Inception network in Flax NNX,
  loaded from weights converted once, and batched, sharded features.
- :mod:`~gans_jax.eval.metrics`: the Fréchet distance, KID, Inception Score
  and improved precision/recall on features and logits.
- :mod:`~gans_jax.eval.fid`: those metrics of generated images with the
  Inception network, and cached reference statistics.
- :mod:`~gans_jax.eval.swd`: ProGAN's sliced Wasserstein distance on
  Laplacian-pyramid patches (arXiv 1710.10196).
- :mod:`~gans_jax.eval.ms_ssim`: multi-scale SSIM and its average over random
  pairs of generated images, ProGAN's variety measure (the per-pair function
  is ``gans_jax.eval.ms_ssim.ms_ssim``: the module has its name).
- :mod:`~gans_jax.eval.segmentation`: pix2pix's FCN-scores on the synthetic
  facades, with a small segmenter trained on their real photos.
- :mod:`~gans_jax.eval.domain`: unpaired digit translation scores (class
  preservation, domain accuracy, cycle L1) with two small classifiers.
- :mod:`~gans_jax.eval.likelihood`: a VAE's importance-weighted test
  log-likelihood (IWAE, K = 5,000 samples).
- :mod:`~gans_jax.eval.features`: a discriminator's layers max-pooled to 4x4
  and scored by a linear SVM with few labels (DCGAN, Section 5.1).
- :mod:`~gans_jax.eval.interpolation`: linear and spherical latent paths
  and an animated GIF of their frames.
- :mod:`~gans_jax.eval.fidelity`: PSNR and SSIM of reconstructions against
  their references, a denoising autoencoder's PSNR before and after, and
  bicubic resampling (SRGAN's inputs and baseline).
- :mod:`~gans_jax.eval.text`: generated sequences: SeqGAN's oracle NLL,
  WGAN-GP's character n-gram JS divergences, the fraction of real words.
- :mod:`~gans_jax.eval.sharpness`: the mean gradient magnitude of images.
- :mod:`~gans_jax.eval.images`: image grids as arrays and PNG files.
- :mod:`~gans_jax.eval.plots`: training curves and the WGAN-GP toy figure
  (matplotlib, imported on first use).
- :mod:`~gans_jax.eval.report`: a run's pictures in files: sample grids and
  plots, translated folders, and the HTML galleries that show them.
- :mod:`~gans_jax.eval.tools`: the commands (``python -m
  gans_jax.eval.tools.NAME``) that convert the Inception weights, train the
  metrics' small networks once, and score image files with FID and friends.
"""

import importlib

# Attributes load their module on first use, so `import gans_jax.eval` stays
# light.
_EXPORTS = {
    "DigitClassifier": "classifier",
    "DigitNet": "classifier",
    "class_spread": "classifier",
    "class_spread_from_labels": "classifier",
    "classifier_frechet_distance": "classifier",
    "classifier_inception_score": "classifier",
    "digit_metrics": "classifier",
    "load_or_train_digit_classifier": "classifier",
    "train_digit_classifier": "classifier",
    "DigitConvNet": "domain",
    "DigitDomainClassifier": "domain",
    "class_preservation": "domain",
    "cycle_l1": "domain",
    "domain_accuracy": "domain",
    "load_or_train_digit_domain_classifier": "domain",
    "output_spread": "domain",
    "train_digit_domain_classifier": "domain",
    "bicubic_downsample": "fidelity",
    "bicubic_upsample": "fidelity",
    "psnr": "fidelity",
    "ReferenceStatistics": "fid",
    "image_quality": "fid",
    "reference_statistics": "fid",
    "image_grid": "images",
    "save_image_grid": "images",
    "InceptionFeatures": "inception",
    "InceptionV3": "inception",
    "InceptionWeightsMissingError": "inception",
    "load_inception": "inception",
    "frechet_distance": "metrics",
    "gaussian_statistics": "metrics",
    "inception_score": "metrics",
    "kernel_inception_distance": "metrics",
    "precision_recall": "metrics",
    "classify_channels": "modes",
    "expected_modes_covered": "modes",
    "stacked_digit_modes": "modes",
    "stacked_modes": "modes",
    "mean_ms_ssim": "ms_ssim",
    "ssim": "ms_ssim",
    "parzen_evaluate": "parzen",
    "parzen_log_likelihood": "parzen",
    "select_sigma": "parzen",
    "plot_metrics": "plots",
    "plot_points": "plots",
    "plot_toy_2d": "plots",
    "translate_folder": "report",
    "write_gallery": "report",
    "write_samples": "report",
    "FacadeSegmenter": "segmentation",
    "FacadeSegmenterNet": "segmentation",
    "confusion_matrix": "segmentation",
    "fcn_scores": "segmentation",
    "load_or_train_facade_segmenter": "segmentation",
    "segmentation_scores": "segmentation",
    "train_facade_segmenter": "segmentation",
    "mean_gradient_magnitude": "sharpness",
    "laplacian_pyramid": "swd",
    "sliced_wasserstein": "swd",
    "sliced_wasserstein_distance": "swd",
    "swd_resolutions": "swd",
    "mode_metrics": "toy",
    "lerp": "interpolation",
    "save_gif": "interpolation",
    "slerp": "interpolation",
    "importance_weighted_log_likelihood": "likelihood",
    "denoising_scores": "fidelity",
}
_EXPORTS.update({
    "ngram_js_divergence": "text",
    "ngram_js_divergences": "text",
    "oracle_nll": "text",
    "word_fraction_in_vocabulary": "text",
})

__all__ = sorted(_EXPORTS)

_SUBMODULES = ("classifier", "domain", "fid", "images", "inception", "metrics",
               "ms_ssim", "network_cache", "parzen", "plots", "report",
               "segmentation", "sharpness", "swd", "toy")
_SUBMODULES += ("fidelity", "interpolation", "likelihood", "modes", "text")


def __getattr__(name):
  if name in _SUBMODULES:
    return importlib.import_module(f"gans_jax.eval.{name}")
  if name in _EXPORTS:
    value = getattr(importlib.import_module(f"gans_jax.eval.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
  raise AttributeError(f"module 'gans_jax.eval' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))
