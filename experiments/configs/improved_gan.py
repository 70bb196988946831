"""Salimans et al. 2016, Improved Techniques for Training GANs (arXiv 1606.03498).

Presets (``--config=experiments/configs/improved_gan.py:PRESET``):
  digits        the semi-supervised K+1 discriminator on the built-in digits
                at their native 8x8, 10 labels per class, generator trained
                by feature matching (default; no download)
  no_feature_matching   the same, the generator on the non-saturating loss
  minibatch_discrimination  minibatch discrimination (8 kernels of 3
                dimensions; the paper 100 x 5) before D's output layer, the
                generator on the non-saturating loss (the official minibatch
                model's pairing)
  feature_matching_minibatch  minibatch discrimination and feature matching
  historical_averaging  both players penalised by their historical average
  virtual_batch_norm    VBN in the generator instead of batch norm
  label_smoothing       one-sided label smoothing (real target 0.9)
  mnist         the paper's MNIST setting (TFDS mnist, 28x28, 100 labels)
  cifar10       CIFAR-10 with 4,000 labels and the official convolutional
                networks (model.architecture = 'conv'), 600,000 steps
  smoke         two steps of a tiny model, for tests
Each field's comment says where its value comes from (the official code is
openai/improved-gan, mnist_svhn_cifar10/train_mnist_feature_matching.py).
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, name, non_negative,
                                   non_negative_int, one_of, positive,
                                   positive_int, positive_ints)

PRESETS = ("digits", "no_feature_matching", "minibatch_discrimination",
           "feature_matching_minibatch", "historical_averaging",
           "virtual_batch_norm", "label_smoothing", "mnist", "cifar10", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"improved_gan_{preset}"
  defaults = sections.data_defaults(dataset="digits", image_size=8, channels=1)
  c.data = config_lib.section(
      dataset=defaults.dataset, data_dir=defaults.data_dir,
      image_size=defaults.image_size,  # the digits' native 8x8
      channels=field(1, one_of(1, 3)), skip_unreadable=field(False, boolean),
      # labelled training examples of each class (official MNIST: 10), drawn
      # from the training split with train.seed (gans_jax.data.labelled_subset)
      labelled_per_class=field(10, positive_int),
      labelled_batch_size=field(100, positive_int),  # official: 100
  )
  c.model = config_lib.section(
      # 'mlp' (the official MNIST networks) or 'conv' (the official CIFAR-10
      # ones: SemiSupervisedConvDiscriminator, ImprovedConvGenerator)
      architecture=field("mlp", one_of("mlp", "conv")),
      latent_dim=field(50, positive_int),  # official: 100, uniform
      noise=field("uniform", one_of("uniform", "normal")),
      generator_hidden=field((250, 250), positive_ints),  # official: (500, 500)
      # official: batch norm; 'virtual_batch' is Section 3.4
      generator_norm=field("batch", one_of("batch", "virtual_batch", "none")),
      vbn_reference_size=field(100, positive_int),  # reference batch of VBN
      # official MNIST: (1000, 500, 250, 250, 250)
      discriminator_hidden=field((250, 125, 64, 64, 64), positive_ints),
      input_noise=field(0.3, non_negative),   # official MNIST: 0.3
      hidden_noise=field(0.5, non_negative),  # official MNIST: 0.5
      # minibatch discrimination on D's last hidden layer: B kernels (0: off;
      # the paper and official CIFAR-10 code: 100) of C dimensions (5)
      minibatch_kernels=field(0, non_negative_int),
      minibatch_kernel_dim=field(5, positive_int),
      # 'conv' only: D's two widths (official (96, 192)), G's widths of the
      # dense maps and hidden deconvolutions (official (512, 256, 128)),
      # D's dropout on the input (0.2) and after each stride-2 block (0.5),
      # weight normalisation (official: every D layer, G's output layer)
      conv_discriminator_channels=field((96, 192), positive_ints),
      conv_generator_channels=field((512, 256, 128), positive_ints),
      conv_input_dropout=field(0.2, fraction),
      conv_dropout=field(0.5, fraction),
      weight_norm=field(True, boolean),
  )
  c.gan = config_lib.section(
      # 'feature_matching' (Section 3.1, the official semi-supervised code)
      # or 'non_saturating' (the official minibatch-discrimination model)
      generator_loss=field("feature_matching",
                           one_of("feature_matching", "non_saturating")),
      # the discriminator feature matched: 'hidden{i}', 'last_hidden'
      # (official MNIST) or, with minibatch discrimination, 'minibatch'
      feature_layer=field("last_hidden", name),
      # 'squared' (the paper, official MNIST) or 'absolute' (official CIFAR-10)
      feature_distance=field("squared", one_of("squared", "absolute")),
      # w of L = L_supervised + w L_unsupervised: official 0.5, the paper 1
      unlabelled_weight=field(0.5, non_negative),
      label_smoothing=field(0.0, fraction),  # one-sided: real target 1 - s
      # lambda of historical averaging (Section 3.3) for both players (0: off)
      historical_averaging=field(0.0, non_negative),
  )
  c.optim = config_lib.section(
      learning_rate=field(0.003, positive),  # Adam, official MNIST: 0.003
      b1=field(0.5, fraction), b2=field(0.999, fraction),
  )
  c.train = config_lib.train_defaults(
      num_steps=3000, batch_size=100, log_every=500, checkpoint_every=1500,
      sample_every=0, steps_per_call=50)
  c.eval = config_lib.section(
      split=field("test", name),  # the split the test error is measured on
      num_samples=field(1000, positive_int),  # generated digits scored
      # steps of the supervised-only baseline (0: train.num_steps)
      supervised_steps=field(0, non_negative_int),
      inception_splits=field(10, positive_int),  # the paper's 10 splits
      report_samples=field(True, boolean),  # the digit-classifier sample metrics
  )
  if preset == "no_feature_matching":
    c.gan.generator_loss = "non_saturating"
  if preset in ("minibatch_discrimination", "feature_matching_minibatch"):
    # The paper's B x C = 100 x 5 makes the pairwise L1 distances (batch^2 B C)
    # cost about 30 times the rest of the step on a 2-core CPU: 8 x 3 here.
    c.model.update(minibatch_kernels=8, minibatch_kernel_dim=3)
  if preset == "minibatch_discrimination":
    c.gan.generator_loss = "non_saturating"
  if preset == "historical_averaging":
    c.gan.historical_averaging = 1e-3
  if preset == "virtual_batch_norm":
    c.model.generator_norm = "virtual_batch"
  if preset == "label_smoothing":
    c.gan.label_smoothing = 0.1
  if preset in ("mnist", "cifar10"):
    c.model.update(latent_dim=100, generator_hidden=(500, 500),
                   discriminator_hidden=(1000, 500, 250, 250, 250))
    c.train.update(batch_size=100, log_every=600, checkpoint_every=6000,
                   steps_per_call=50)
    c.eval.update(num_samples=10000, report_samples=False)
  if preset == "mnist":
    # 300 epochs of 600 batches of 100, as the official MNIST run
    c.data.update(dataset="mnist", image_size=28)
    c.train.num_steps = 180000
  if preset == "cifar10":
    # openai/improved-gan, mnist_svhn_cifar10/train_cifar_feature_matching.py:
    # 400 labels per class (4,000), batches of 100, Adam 3e-4 with beta1 0.5,
    # feature matching with the mean absolute difference of the pooled
    # features, 1,200 epochs of 500 batches = 600,000 steps
    c.data.update(dataset="cifar10", image_size=32, channels=3,
                  labelled_per_class=400)
    c.model.architecture = "conv"
    c.optim.update(learning_rate=3e-4, b1=0.5)
    c.gan.update(feature_distance="absolute", feature_layer="last_hidden")
    c.train.update(num_steps=600000, log_every=500, checkpoint_every=10000,
                   steps_per_call=10)
  if preset == "smoke":
    c.data.update(labelled_per_class=2, labelled_batch_size=8)
    c.model.update(latent_dim=4, generator_hidden=(8,), vbn_reference_size=8,
                   discriminator_hidden=(8, 8))
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2,
                   steps_per_call=1)
    c.eval.update(num_samples=20, inception_splits=2)
  return c
