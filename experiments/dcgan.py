"""Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks" (arXiv 1511.06434).

The training algorithm is the original GAN's (Algorithm 1 with k = 1 and the
non-saturating generator loss, shared with ``experiments/gan.py``); what the
paper adds is the architecture (``gans_jax.nn.DCGANGenerator`` and
``DCGANDiscriminator``) and the optimiser (Adam, lr 2e-4, beta1 0.5). At the
end it draws the paper's latent-space walk: images along straight lines
between random latent codes (Section 6.1, Fig. 4). From a trained run,
``--draw=features`` repeats Section 5.1 on the digits: every discriminator
block's activations max-pooled to 4x4 and concatenated, a linear L2-SVM on
them with 10, 50, 100 and all labels per class (three label draws), beside
raw pixels and the same architecture untrained (``features.json``,
``features.png``).

    python experiments/dcgan.py [--config=experiments/configs/dcgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__, figures=("interpolation", "features"))

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

import gans_jax as gj
from experiments import common
from experiments import gan
from gans_jax.data import digits as digits_data
from gans_jax.eval import features as feature_eval
from gans_jax.eval import images as image_eval
from gans_jax.train import config as config_lib

def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/dcgan.py)."""
  common.validate_image_data(config, image_sizes=(32, 64))
  common.validate_inception(config)
  config_lib.validate_train(config)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The DCGAN generator, as ``create_state`` builds it."""
  del state
  m, d = config.model, config.data
  num_classes = 10 if m.conditional else None
  return dict(
      player="generator", module="gans_jax.nn.DCGANGenerator", mode="eval",
      kwargs=dict(latent_dim=m.latent_dim, image_size=d.image_size,
                  channels=d.channels, features=m.features,
                  num_classes=num_classes, dtype=common.dtype_name(config)),
      inputs=dict(latent_dim=m.latent_dim, noise=m.noise, num_classes=num_classes))


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  m, d = config.model, config.data
  num_classes = 10 if m.conditional else None
  rngs, dtype = gj.train.init_rngs(config.train.seed), common.compute_dtype(config)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = gj.nn.DCGANDiscriminator(
      image_size=d.image_size, channels=d.channels, features=m.features,
      num_classes=num_classes, norm="batch", dtype=dtype, rngs=rngs)
  o = config.optim
  adam = lambda: optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  return gj.train.GANState.create(generator=generator, discriminator=discriminator,
                                  g_optimizer=adam(), d_optimizer=adam())


def latent_walk(config: ml_collections.ConfigDict, state, key, *, rows: int,
                steps: int = 10) -> np.ndarray:
  """Images along ``rows`` straight lines between pairs of latent codes."""
  m = config.model
  ends = common.latent(key, 2 * rows, m.latent_dim, m.noise).reshape(rows, 2, -1)
  t = jnp.linspace(0.0, 1.0, steps)[None, :, None]
  z = ((1 - t) * ends[:, :1] + t * ends[:, 1:]).reshape(rows * steps, -1)
  labels = jnp.repeat(jnp.arange(rows) % 10, steps) if m.conditional else None
  return np.asarray(jax.jit(lambda s, z: s.sampling_generator()(z, labels))(state, z))


def draw_interpolation(config: ml_collections.ConfigDict, state, directory: str,
                       *, key: jax.Array) -> str:
  """``interpolation.png``: ``eval.interpolations`` rows of the latent walk."""
  walk = latent_walk(config, state, key, rows=config.eval.interpolations)
  path = os.path.join(directory, "interpolation.png")
  if jax.process_index() == 0:
    image_eval.save_image_grid(path, walk, nrow=10)
  return path


# Labelled examples per class of the feature probe (None: every training digit).
FEATURE_LABELS = (10, 50, 100, None)
FEATURE_SEEDS = (0, 1, 2)


def discriminator_features(state, images: np.ndarray, *,
                           batch: int = 256) -> np.ndarray:
  """Every block of the discriminator (evaluation mode) max-pooled to 4x4
  and concatenated (:func:`gans_jax.eval.features.pooled_features`)."""
  maps = jax.jit(lambda s, x: s.discriminator.module()(x, features=True)[1])
  out = []
  for start in range(0, len(images), batch):
    found = maps(state, jnp.asarray(images[start:start + batch]))
    names = sorted((k for k in found if k.startswith("block")), key=lambda k: int(k[5:]))
    out.append(feature_eval.pooled_features(
        {k: np.asarray(v, np.float32) for k, v in found.items()}, names))
  return np.concatenate(out)


def draw_features(config: ml_collections.ConfigDict, state, directory: str, *,
                  key: jax.Array) -> str:
  """``features.png`` and ``features.json``: test error of a linear SVM on the
  trained discriminator's features, on an untrained one's (this run's
  initial weights) and on raw pixels, against labels per class."""
  del key
  if config.data.dataset != "digits":
    raise config_lib.ConfigError("data.dataset", "--draw=features runs on the built-in "
                                 f"digits, not {config.data.dataset!r}")
  if config.model.conditional:
    raise config_lib.ConfigError("model.conditional", "--draw=features needs an "
                                 "unconditional discriminator")
  d = config.data
  train_x, train_y = digits_data.load_digits_split("train", image_size=d.image_size,
                                                   channels=d.channels)
  test_x, test_y = digits_data.load_digits_split("test", image_size=d.image_size,
                                                 channels=d.channels)
  untrained = create_state(config)
  sets = {"trained discriminator": state, "untrained discriminator": untrained}
  train = {name: discriminator_features(s, train_x) for name, s in sets.items()}
  test = {name: discriminator_features(s, test_x) for name, s in sets.items()}
  train["raw pixels"] = train_x.reshape(len(train_x), -1)
  test["raw pixels"] = test_x.reshape(len(test_x), -1)
  errors = feature_eval.probe_errors(train, train_y, test, test_y,
                                     per_class=FEATURE_LABELS, seeds=FEATURE_SEEDS)
  summary = {name: {count: {"errors": e, "mean": float(np.mean(e)),
                            "std": float(np.std(e, ddof=1)) if len(e) > 1 else None}
                    for count, e in by_count.items()}
             for name, by_count in errors.items()}
  path = os.path.join(directory, "features.png")
  if jax.process_index() == 0:
    with open(os.path.join(directory, "features.json"), "w", encoding="utf-8") as f:
      json.dump({"step": int(state.step), "test_images": len(test_y),
                 "labels_per_class": [c or "all" for c in FEATURE_LABELS],
                 "seeds": list(FEATURE_SEEDS), "errors": summary}, f, indent=2)
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    fig, ax = plt.subplots(figsize=(5, 3.2))
    labels = [str(c or "all") for c in FEATURE_LABELS]
    for name, by_count in summary.items():
      mean = [by_count[k]["mean"] for k in labels]
      std = [by_count[k]["std"] or 0.0 for k in labels]
      ax.errorbar(range(len(labels)), mean, yerr=std, marker="o", capsize=3, label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("labelled digits per class")
    ax.set_ylabel("test error of a linear SVM")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
  return path


# Figures that `--draw=NAME` draws again from a trained run.
FIGURES = {"interpolation": draw_interpolation, "features": draw_features}


def make_train_step(config: ml_collections.ConfigDict):
  """Goodfellow et al.'s Algorithm 1 with ``gan.loss``'s game, as
  ``experiments/gan.py`` (the paper changes the networks, not the step)."""
  return gan.make_train_step(config)


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` images (labels cycling 0-9 if conditional)."""
  return gan.make_sampler(config, num)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  data = common.image_batches(config, num_microbatches=config.gan.n_critic)
  state = create_state(config)
  hooks = common.sample_grid_hook(config, make_sampler(config, 64), workdir)
  state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                       hooks=hooks, batch_axis=1 if config.gan.n_critic > 1 else 0)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """The latent walk, then samples and, on the digits, the classifier metrics."""
  draw_interpolation(config, state, workdir,
                     key=gj.train.make_key(config.train.seed, "interpolation"))
  return common.evaluate_image_samples(config, make_sampler(config, 500), state,
                                       workdir, step=step, keep=None)
