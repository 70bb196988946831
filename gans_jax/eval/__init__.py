"""Metrics and pictures for GANs.

- :mod:`~gans_jax.eval.parzen`: the Gaussian Parzen-window log-likelihood of
  the original GAN paper (Table 1 of arXiv 1406.2661).
- :mod:`~gans_jax.eval.toy`: mode coverage and sample quality on 2-D mixtures
  (VEEGAN, PacGAN).
- :mod:`~gans_jax.eval.classifier`: a small digit classifier trained on the
  built-in digits, and the Fréchet distance and class-spread metrics computed
  with it.
- :mod:`~gans_jax.eval.segmentation`: pix2pix's FCN-scores on the synthetic
  facades, with a small segmenter trained on their real photos.
- :mod:`~gans_jax.eval.domain`: unpaired digit translation scores (class
  preservation, domain accuracy, cycle L1) with two small classifiers.
- :mod:`~gans_jax.eval.sharpness`: the mean gradient magnitude of images.
- :mod:`~gans_jax.eval.images`: image grids as arrays and PNG files.
- :mod:`~gans_jax.eval.plots`: training curves and the WGAN-GP toy figure
  (matplotlib, imported on first use).
"""

import importlib

# Attributes load their module on first use, so `import gans_jax.eval` stays
# light and `python -m gans_jax.eval.classifier` does not import the module
# twice.
_EXPORTS = {
    "DigitClassifier": "classifier",
    "DigitNet": "classifier",
    "class_spread": "classifier",
    "class_spread_from_labels": "classifier",
    "classifier_frechet_distance": "classifier",
    "digit_metrics": "classifier",
    "frechet_distance": "classifier",
    "load_or_train_digit_classifier": "classifier",
    "train_digit_classifier": "classifier",
    "DigitConvNet": "domain",
    "DigitDomainClassifier": "domain",
    "class_preservation": "domain",
    "cycle_l1": "domain",
    "domain_accuracy": "domain",
    "load_or_train_digit_domain_classifier": "domain",
    "train_digit_domain_classifier": "domain",
    "FacadeSegmenter": "segmentation",
    "FacadeSegmenterNet": "segmentation",
    "confusion_matrix": "segmentation",
    "fcn_scores": "segmentation",
    "load_or_train_facade_segmenter": "segmentation",
    "segmentation_scores": "segmentation",
    "train_facade_segmenter": "segmentation",
    "mean_gradient_magnitude": "sharpness",
    "image_grid": "images",
    "save_image_grid": "images",
    "parzen_evaluate": "parzen",
    "parzen_log_likelihood": "parzen",
    "select_sigma": "parzen",
    "plot_metrics": "plots",
    "plot_toy_2d": "plots",
    "mode_metrics": "toy",
}

__all__ = [
    "DigitClassifier",
    "DigitConvNet",
    "DigitDomainClassifier",
    "DigitNet",
    "FacadeSegmenter",
    "FacadeSegmenterNet",
    "class_preservation",
    "class_spread",
    "class_spread_from_labels",
    "classifier_frechet_distance",
    "confusion_matrix",
    "cycle_l1",
    "digit_metrics",
    "domain_accuracy",
    "fcn_scores",
    "frechet_distance",
    "image_grid",
    "load_or_train_digit_classifier",
    "load_or_train_digit_domain_classifier",
    "load_or_train_facade_segmenter",
    "mean_gradient_magnitude",
    "mode_metrics",
    "parzen_evaluate",
    "parzen_log_likelihood",
    "plot_metrics",
    "plot_toy_2d",
    "save_image_grid",
    "segmentation_scores",
    "select_sigma",
    "train_digit_classifier",
    "train_digit_domain_classifier",
    "train_facade_segmenter",
]


_SUBMODULES = ("classifier", "domain", "images", "network_cache", "parzen", "plots",
               "segmentation", "sharpness", "toy")


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
