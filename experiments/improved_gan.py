"""Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs" (arXiv 1606.03498): semi-supervised learning
with a K+1 discriminator, feature matching, minibatch discrimination,
historical averaging, one-sided label smoothing and virtual batch norm.

The discriminator is a K-class classifier with class logits :math:`l(x)`;
the "generated" class has its logit fixed at 0, so (Section 5)

.. math::
  D(x) = \\frac{Z(x)}{Z(x) + 1}, \\quad Z(x) = \\sum_{k=1}^{K} e^{l_k(x)},
  \\qquad
  L_D = \\underbrace{\\mathbb{E}_{x,y \\sim p_{lab}}[-l_y(x) + \\log Z(x)]}_{
        \\text{supervised}}
      + w \\, \\underbrace{\\big(\\mathbb{E}_{x}[-\\log D(x)]
      + \\mathbb{E}_{z}[-\\log(1 - D(G(z)))]\\big)}_{\\text{unsupervised}}

(``gj.losses.semi_supervised_labelled_loss`` and the minimax loss on
``gj.losses.k_plus_one_logit``; w = ``gan.unlabelled_weight``, 0.5 in the
official code, 1 in the paper's sum). The generator minimises feature
matching (Section 3.1),
:math:`\\lVert \\mathbb{E}_x f(x) - \\mathbb{E}_z f(G(z)) \\rVert_2^2`
with :math:`f` the discriminator's layer ``gan.feature_layer`` (its last
hidden layer, as the official MNIST code, which takes the mean over
features: ``gj.losses.feature_matching_loss(...).mean()``), or the
non-saturating loss :math:`-\\log D(G(z))` (the official minibatch
discrimination model). Each step, as the official code: one discriminator
update on a labelled batch, an unlabelled batch and a fresh generated
batch; then one generator update whose real features come from a second,
independently shuffled unlabelled batch.

Options, each an ablation preset: minibatch discrimination (Section 3.2,
``gj.nn.MinibatchDiscrimination`` on the last hidden layer, before the
output layer, as the official CIFAR-10 code); historical averaging (3.3,
:math:`\\lambda \\lVert \\theta - \\frac1t\\sum_i \\theta_i \\rVert^2` for both
players, ``gj.train.averaging``; the running means live in ``state.extra``);
one-sided label smoothing (3.4, real target :math:`1 - s` in the
unsupervised term); virtual batch norm in the generator (3.4,
``gj.nn.VirtualBatchNorm``; the reference batch is a fixed set of latent
codes drawn once from the seed, passed through the generator at the start
of each step inside the differentiated function).

Evaluation: the test error of the discriminator's classifier (argmax of the
K logits, eval mode: no noise) on ``eval.split``, beside the same
network, from the same initial weights, trained for as many steps on the
labelled examples alone (the supervised-only baseline of the paper's
Table 1); then sample quality with the project's digit classifier
(classifier FD, classes covered, class entropy and the Inception Score of
Section 4, exp E KL(p(y|x) || p(y)) over 10 splits, computed with the digit
classifier: a number comparable only between runs scored by the same
classifier, not with the paper's Inception-network scores).

Departures from the official code (openai/improved-gan,
mnist_svhn_cifar10/train_mnist_feature_matching.py): plain dense layers,
not weight normalisation with data-dependent initialisation; no Polyak
average of the discriminator for testing (the final weights are tested);
a constant learning rate; on the built-in digits (8x8, 1,297 training
images) narrower networks (D 250-125-64-64-64, G z(50)-250-250) and
3,000 steps; z ~ U[-1, 1] (official U[0, 1]); the labelled subset is drawn
with ``train.seed`` (``gj.data.labelled_subset``, the official rule), and
the labelled batch samples the subset with replacement; the minibatch
discrimination presets use 8 kernels of 3 dimensions (the paper 100 x 5,
whose pairwise distances would cost about 30 times the rest of a step on
a 2-core CPU) and one generator step per discriminator step (the official
minibatch model takes 3).

``model.architecture = 'conv'`` (the ``cifar10`` preset) uses the official
CIFAR-10 networks (mnist_svhn_cifar10/train_cifar_feature_matching.py):
``gj.nn.SemiSupervisedConvDiscriminator`` (dropout on the input and after
each stride-2 block instead of Gaussian noise; its pooled features are
``last_hidden``, the feature-matching layer) and
``gj.nn.ImprovedConvGenerator``; departures there: weight normalisation
(``gj.nn.WeightNormed``) without the data-dependent initialisation (scales
start at 1), a constant learning rate (official: linear decay to 0 over
the last 400 of 1,200 epochs), no Polyak average, z ~ U[-1, 1] (official
U[0, 1]), the labelled batches drawn with replacement. The ``mnist``
preset keeps the MLP networks, the paper's MNIST model.

    python experiments/improved_gan.py [--config=experiments/configs/improved_gan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__)

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import gans_jax as gj
from experiments import common
from gans_jax import data as gdata
from gans_jax.eval import images as image_eval
from gans_jax.train import averaging
from gans_jax.train import config as config_lib


# ------------------------------------------------------------- networks --

def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  d = config.data
  return (d.image_size, d.image_size, d.channels)


def make_discriminator(config: ml_collections.ConfigDict, rngs: nnx.Rngs):
  """The K-class discriminator (K = 10), MLP or convolutional."""
  m = config.model
  if m.architecture == "conv":
    return gj.nn.SemiSupervisedConvDiscriminator(
        image_shape(config), num_classes=10,
        channels=tuple(m.conv_discriminator_channels),
        input_dropout=m.conv_input_dropout, dropout=m.conv_dropout,
        weight_norm=m.weight_norm, minibatch_kernels=m.minibatch_kernels,
        minibatch_kernel_dim=m.minibatch_kernel_dim, rngs=rngs)
  return gj.nn.SemiSupervisedMLPDiscriminator(
      image_shape(config), num_classes=10, hidden=tuple(m.discriminator_hidden),
      input_noise=m.input_noise, hidden_noise=m.hidden_noise,
      minibatch_kernels=m.minibatch_kernels,
      minibatch_kernel_dim=m.minibatch_kernel_dim, rngs=rngs)


def feature_names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The features the discriminator returns (``features=True``)."""
  return nnx.eval_shape(lambda: make_discriminator(config, nnx.Rngs(0))).feature_names()


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules across fields (each field's own check is in its config)."""
  common.validate_image_data(config, image_sizes=(8, 16, 28, 32))
  common.validate_split(config, "eval.split")
  config_lib.validate_train(config)
  d, m = config.data, config.model
  if m.architecture == "conv":
    config_lib.check(len(m.conv_discriminator_channels) == 2,
                     "model.conv_discriminator_channels",
                     f"needs 2 widths, got {tuple(m.conv_discriminator_channels)}")
    factor = 2 ** len(m.conv_generator_channels)
    config_lib.check(d.image_size >= 16 and d.image_size % factor == 0,
                     "model.architecture",
                     f"'conv' needs data.image_size >= 16 and divisible by "
                     f"2 ** len(model.conv_generator_channels) = {factor}, got "
                     f"{d.image_size}")
  config_lib.check(d.labelled_batch_size % jax.device_count() == 0,
                   "data.labelled_batch_size",
                   f"{d.labelled_batch_size} is not divisible by the "
                   f"{jax.device_count()} devices")
  if d.dataset == "digits":
    _, labels = gdata.load_digits_split("train", image_size=8)
    fewest = int(np.bincount(labels, minlength=10).min())
    config_lib.check(d.labelled_per_class <= fewest, "data.labelled_per_class",
                     f"{d.labelled_per_class} labelled examples per class, but the "
                     f"digits' training split has only {fewest} of its rarest class")
    config_lib.check(config.train.batch_size <= len(labels), "train.batch_size",
                     f"{config.train.batch_size} exceeds the {len(labels)} "
                     "training digits")
  names = feature_names(config)
  config_lib.check(config.gan.feature_layer in names, "gan.feature_layer",
                   f"the discriminator has no layer {config.gan.feature_layer!r}; "
                   f"it has {', '.join(names)}")
  if config.model.generator_norm == "virtual_batch":
    config_lib.check(config.model.vbn_reference_size > 1, "model.vbn_reference_size",
                     "a reference batch needs at least 2 examples")


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The generator, as ``create_state`` builds it and ``--export`` rebuilds it."""
  del state
  m = config.model
  norm = None if m.generator_norm == "none" else m.generator_norm
  if m.architecture == "conv":
    return dict(
        player="generator", module="gans_jax.nn.ImprovedConvGenerator", mode="eval",
        kwargs=dict(latent_dim=m.latent_dim, output_shape=image_shape(config),
                    channels=tuple(m.conv_generator_channels), norm=norm,
                    reference_size=m.vbn_reference_size, weight_norm=m.weight_norm,
                    output_activation="tanh"),
        inputs=dict(latent_dim=m.latent_dim, noise=m.noise))
  return dict(
      player="generator", module="gans_jax.nn.ImprovedMLPGenerator", mode="eval",
      kwargs=dict(latent_dim=m.latent_dim, output_shape=image_shape(config),
                  hidden=tuple(m.generator_hidden),
                  norm=norm, reference_size=m.vbn_reference_size, output_activation="tanh"),
      inputs=dict(latent_dim=m.latent_dim, noise=m.noise))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  """The players, Adam for each, and the historical averages when used."""
  o = config.optim
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = make_discriminator(config, rngs)
  adam = lambda: optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  state = gj.train.GANState.create(generator=generator, discriminator=discriminator,
                                   g_optimizer=adam(), d_optimizer=adam())
  if config.gan.historical_averaging:
    state = state.replace(extra={
        p: averaging.historical_average_init(state.player(p).params)
        for p in ("generator", "discriminator")})
  return state


# ------------------------------------------------------------------ data --

def load_split(config: ml_collections.ConfigDict, split: str
               ) -> tuple[np.ndarray, np.ndarray]:
  """A split's images in [-1, 1] and its integer labels."""
  d = config.data
  if d.dataset == "digits":
    return gdata.load_digits_split(split, image_size=d.image_size, channels=d.channels)
  source = gdata.make_image_source(d.dataset, split=split, data_dir=d.data_dir or None,
                                   image_size=d.image_size, channels=d.channels,
                                   skip_unreadable=d.skip_unreadable)
  examples = [source[i] for i in range(len(source))]
  images = np.stack([gdata.preprocess_image(e["image"], image_size=d.image_size,
                                            channels=d.channels) for e in examples])
  return images, np.asarray([int(e["label"]) for e in examples], np.int32)


class SemiSupervisedBatches:
  """The batches of a step, a pure function of the seed and the step.

  ``image``: the discriminator's unlabelled batch; ``image_g``: the
  generator's real batch for feature matching (another shuffle, as the
  official ``trainx2``); ``labelled_image`` / ``label``: drawn with
  replacement from the labelled subset, which
  :func:`gans_jax.data.labelled_subset` recomputes from the labels, the
  count and the seed, so a resumed run uses the same subset and batches.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               images: np.ndarray | None = None, labels: np.ndarray | None = None):
    if images is None:
      images, labels = load_split(config, "train")
    d = config.data
    self.images, self.labels = images, labels
    self.seed = config.train.seed
    self.batch_size = config.train.batch_size
    self.labelled_batch_size = d.labelled_batch_size
    try:
      self.labelled = gdata.labelled_subset(labels, d.labelled_per_class, self.seed,
                                            num_classes=10,
                                            field="data.labelled_per_class")
    except ValueError as e:
      raise config_lib.ConfigError("data.labelled_per_class", str(e)) from None

  @functools.lru_cache(maxsize=4)
  def _order(self, stream: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, stream, epoch]).permutation(len(self.images))

  def _unlabelled(self, stream: int, step: int) -> np.ndarray:
    per_epoch = len(self.images) // self.batch_size
    epoch, i = divmod(step, per_epoch)
    return self._order(stream, epoch)[i * self.batch_size:(i + 1) * self.batch_size]

  def labelled_indices(self, step: int) -> np.ndarray:
    """Indices into the training split of step ``step``'s labelled batch."""
    rng = np.random.default_rng([self.seed, 2, step])
    return self.labelled[rng.integers(0, len(self.labelled), self.labelled_batch_size)]

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    lab = self.labelled_indices(step)
    return {"image": self.images[self._unlabelled(0, step)],
            "image_g": self.images[self._unlabelled(1, step)],
            "labelled_image": self.images[lab], "label": self.labels[lab]}


# ------------------------------------------------------------------ step --

def reference_latent(config: ml_collections.ConfigDict) -> jax.Array:
  """The virtual-batch-norm reference batch's latent codes, fixed by the seed."""
  m = config.model
  return common.latent(gj.train.make_key(config.train.seed, "vbn_reference"),
                       m.vbn_reference_size, m.latent_dim, m.noise)


def generate(config: ml_collections.ConfigDict, generator: gj.train.Network, z,
             params=None):
  """``(G(z), generator)`` in training mode; with virtual batch norm the
  reference pass runs first, in the same (differentiated) computation."""
  module = generator.module(train=True, params=params)
  if config.model.generator_norm == "virtual_batch":
    gj.nn.virtual_batch_norm_reference(module, reference_latent(config))
  fake = module(z)
  return fake, generator.replace(rest=nnx.state(module, nnx.Not(nnx.Param)))


def historical_penalty(config, state, player: str, params) -> jax.Array:
  """:math:`\\lambda \\lVert \\theta - \\bar\\theta \\rVert^2` (0 when off)."""
  lam = config.gan.historical_averaging
  if not lam:
    return jnp.zeros((), jnp.float32)
  return lam * averaging.historical_averaging_penalty(params, state.extra[player])


def record_history(config, state, player: str):
  """Adds the player's updated parameters to its historical average."""
  if not config.gan.historical_averaging:
    return state
  extra = dict(state.extra)
  extra[player] = averaging.historical_average_update(extra[player],
                                                      state.player(player).params)
  return state.replace(extra=extra)


def discriminator_loss(config, state, params, batch, fake, key):
  """Supervised cross-entropy + w x the unsupervised (K+1) GAN loss."""
  g = config.gan
  keys = jax.random.split(key, 3)
  apply = lambda x, k: state.discriminator.apply(x, rngs=k, params=params)[0]
  labelled = apply(batch["labelled_image"], keys[0])
  unlabelled, generated = apply(batch["image"], keys[1]), apply(fake, keys[2])
  supervised = gj.losses.semi_supervised_labelled_loss(labelled, batch["label"]).mean()
  unsupervised = gj.losses.discriminator_minimax_loss(
      gj.losses.k_plus_one_logit(unlabelled), gj.losses.k_plus_one_logit(generated),
      label_smoothing=g.label_smoothing).mean()
  loss = (supervised + g.unlabelled_weight * unsupervised
          + historical_penalty(config, state, "discriminator", params))
  accuracy = jnp.mean(jnp.argmax(labelled, -1) == batch["label"])
  return loss, {"supervised_loss": supervised, "unsupervised_loss": unsupervised,
                "labelled_accuracy": accuracy}


def generator_loss(config, state, params, real, z, key):
  """Feature matching on ``gan.feature_layer`` (or the non-saturating loss);
  returns ``(loss, generator)``."""
  g = config.gan
  fake, generator = generate(config, state.generator, z, params)
  k_fake, k_real = jax.random.split(key)
  if g.generator_loss == "feature_matching":
    _, fake_features = state.discriminator.apply(fake, rngs=k_fake, features=True)[0]
    _, real_features = state.discriminator.apply(real, rngs=k_real, features=True)[0]
    loss = gj.losses.feature_matching_loss(
        real_features[g.feature_layer], fake_features[g.feature_layer],
        distance=g.feature_distance).mean()
  else:
    logits = state.discriminator.apply(fake, rngs=k_fake)[0]
    loss = gj.losses.generator_nonsaturating_loss(
        gj.losses.k_plus_one_logit(logits)).mean()
  return loss + historical_penalty(config, state, "generator", params), generator


def make_train_step(config: ml_collections.ConfigDict):
  """One discriminator update, then one generator update (the official loop)."""
  m = config.model

  def train_step(state: gj.train.GANState, batch, key):
    n = batch["image"].shape[0]
    z_d = common.latent(jax.random.fold_in(key, 0), n, m.latent_dim, m.noise)
    fake = jax.lax.stop_gradient(generate(config, state.generator, z_d)[0])
    state, (d_loss, d_aux) = gj.train.update(
        state, "discriminator",
        lambda p: discriminator_loss(config, state, p, batch, fake,
                                     jax.random.fold_in(key, 1)), has_aux=True)
    state = record_history(config, state, "discriminator")
    z_g = common.latent(jax.random.fold_in(key, 2), n, m.latent_dim, m.noise)
    state, g_loss = gj.train.update(
        state, "generator",
        lambda p: generator_loss(config, state, p, batch["image_g"], z_g,
                                 jax.random.fold_in(key, 3)),
        returns_networks=True)
    state = record_history(config, state, "generator")
    return state, {"d_loss": d_loss, "g_loss": g_loss, **d_aux}

  return train_step


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` digits of the generator (eval mode)."""
  m = config.model

  @jax.jit
  def sample(state, key):
    return state.sampling_generator()(common.latent(key, num, m.latent_dim, m.noise))

  return sample


# ------------------------------------------------------------ evaluation --

def test_error(config: ml_collections.ConfigDict, discriminator: gj.train.Network,
               images: np.ndarray, labels: np.ndarray) -> float:
  """The classifier's error rate (eval mode: no noise), in batches of
  ``train.batch_size`` (minibatch discrimination sees a batch)."""
  classify = jax.jit(lambda net, x: jnp.argmax(net.module(train=False)(x), -1))
  b = config.train.batch_size
  predicted = np.concatenate([np.asarray(classify(discriminator, images[i:i + b]))
                              for i in range(0, len(images), b)])
  return float(np.mean(predicted != labels))


def train_supervised_baseline(config: ml_collections.ConfigDict,
                              data: SemiSupervisedBatches) -> gj.train.Network:
  """The same network from the same initial weights, trained on the labelled
  examples alone (the supervised cross-entropy, the same labelled batches,
  noise and optimiser) for ``eval.supervised_steps`` steps."""
  steps = config.eval.supervised_steps or config.train.num_steps
  state = create_state(config)
  o = config.optim
  tx = optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  network = state.discriminator
  positions = np.stack([data.labelled_indices(s) for s in range(steps)])
  train_key = gj.train.make_key(config.train.seed, "supervised_baseline")

  def one_step(carry, inputs):
    params, opt_state = carry
    step, index = inputs
    key = jax.random.fold_in(train_key, step)
    x, y = jnp.asarray(data.images)[index], jnp.asarray(data.labels)[index]

    def loss_fn(p):
      logits = network.apply(x, rngs=key, params=p)[0]
      return gj.losses.semi_supervised_labelled_loss(logits, y).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  @jax.jit
  def run(params, index):
    (params, _), _ = jax.lax.scan(one_step, (params, tx.init(params)),
                                  (jnp.arange(steps), index))
    return params

  return network.replace(params=run(network.params, jnp.asarray(positions)))


def sample_quality(config: ml_collections.ConfigDict, samples: np.ndarray) -> dict:
  """The digit-classifier metrics and the digit Inception Score (mean, std)."""
  if config.data.dataset != "digits" or not config.eval.report_samples:
    return {}
  from gans_jax.eval import classifier as classifier_lib
  classifier = classifier_lib.load_or_train_digit_classifier(
      os.path.join(common.cache_dir(), "digit_classifier.npz"))
  test, _ = gdata.load_digits_split("test", image_size=config.data.image_size,
                                    channels=config.data.channels)
  results = classifier_lib.digit_metrics(classifier, samples, test)
  mean, std = classifier_lib.classifier_inception_score(
      classifier, samples, splits=config.eval.inception_splits)
  results.update({"eval/digit_inception_score": float(mean),
                  "eval/digit_inception_score_std": float(std)})
  return results


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  data = SemiSupervisedBatches(config)
  hooks = common.sample_grid_hook(config, make_sampler(config, 64), workdir)
  state = gj.train.fit(make_train_step(config), create_state(config), data, config,
                       workdir, hooks=hooks)
  return evaluate(config, state, workdir, data=data)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None, data: SemiSupervisedBatches | None = None) -> dict:
  """Test error beside the supervised-only baseline's, then sample quality."""
  data = data or SemiSupervisedBatches(config)
  test_images, test_labels = load_split(config, config.eval.split)
  error = test_error(config, state.discriminator, test_images, test_labels)
  baseline = train_supervised_baseline(config, data)
  supervised = test_error(config, baseline, test_images, test_labels)
  results = {
      "eval/labelled_examples": int(len(data.labelled)),
      "eval/test_error": error,
      "eval/supervised_test_error": supervised,
      "eval/error_ratio": error / supervised if supervised else float("nan"),
  }
  samples = common.final_samples(config, make_sampler(config, 500), state)
  if jax.process_index() == 0:
    image_eval.save_image_grid(os.path.join(workdir, "samples.png"), samples[:100],
                               nrow=10)
  results.update(sample_quality(config, samples))
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       samples, labelled_indices=data.labelled)
  return results
