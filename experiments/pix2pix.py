"""Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks" (pix2pix, arXiv 1611.07004).

A generator G maps an input image x to an output G(x) (noise enters only as
dropout); a PatchGAN discriminator D classifies every patch of the pair
(x, y) as real or of the pair (x, G(x)) as fake. The objective (Eq. 4) is::

    G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G),
    L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x)))],
    L_L1   = E[|y - G(x)|_1],

with lambda = 100. One step, as the official code: G translates the batch
once; D descends the halved loss ``-[log D(x, y) + log(1 - D(x, G(x)))] / 2``
(BCE from logits, averaged over the patch map); then G descends
``-log D(x, G(x)) + lambda |y - G(x)|_1`` (the non-saturating form), scored by
the updated D and back-propagated through the same forward pass, dropout
mask and batch statistics included. ``loss.gan_weight = 0`` is Table 1's
"L1" row (D is not trained), ``loss.l1_weight = 0`` its "cGAN" row and
``model.conditional = False`` (D sees y or G(x) alone) its "GAN" rows.

Evaluation (Section 4.2): the test split is translated image by image with
the networks in train mode, as the paper (dropout on, each image's own batch
statistics); labels -> photo outputs are scored by the FCN-scores of a
segmenter trained on real photos (per-pixel accuracy, per-class accuracy,
class IoU; the real photos' scores are the "ground truth" row), photo ->
labels outputs by the labels read back from them; every task reports the L1
distance to the targets and the mean gradient magnitude of outputs and
targets (L1 alone blurs, Section 4.3).

    python experiments/pix2pix.py [--config=experiments/configs/pix2pix.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__, translates=True)

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import gans_jax as gj
from experiments import common
from experiments import translation
from gans_jax.eval import sharpness
from gans_jax.train import config as config_lib

def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/pix2pix.py)."""
  translation.validate_data(config, paired=True)
  size = config.data.image_size
  # Both generators' fields are checked whichever is chosen.
  blocks = config_lib.get(config, "model.dropout_blocks")
  config_lib.check(isinstance(blocks, int) and not isinstance(blocks, bool)
                   and -1 <= blocks < 2**31, "model.dropout_blocks",
                   f"must be -1 (the network's default) or a count, got {blocks!r}")
  if config.model.generator == "unet":
    config_lib.check(size >= 4 and size & (size - 1) == 0, "data.image_size",
                     f"the U-Net needs a power of two >= 4, got {size}")
    depth = size.bit_length() - 1
    config_lib.check(blocks <= depth - 2, "model.dropout_blocks",
                     f"must be -1 or in [0, {depth - 2}] at image size {size}, "
                     f"got {blocks!r}")
  else:
    config_lib.check(size % 4 == 0, "data.image_size",
                     f"the ResNet generator needs a multiple of 4, got {size}")
  if config.model.d_layers:
    try:
      gj.nn.patchgan_output_size(size, config.model.d_layers)
    except ValueError as e:
      raise config_lib.ConfigError("model.d_layers", str(e)) from None
  config_lib.check(config.loss.gan_weight > 0 or config.loss.l1_weight > 0,
                   "loss", "gan_weight and l1_weight are both 0: nothing to train")
  config_lib.validate_train(config)


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The generator (U-Net or ResNet), as ``create_state`` builds it; it samples
  in ``eval.mode`` (the paper: train mode, dropout on)."""
  del state
  m, d = config.model, config.data
  norm = None if m.norm == "none" else m.norm
  kwargs = dict(in_channels=d.channels, out_channels=d.channels,
                features=m.features, norm=norm, dropout=m.dropout,
                dtype=common.dtype_name(config) or "float32")
  if m.generator == "unet":
    module = "gans_jax.nn.UNetGenerator"
    kwargs.update(image_size=d.image_size,
                  dropout_blocks=None if m.dropout_blocks < 0 else m.dropout_blocks)
  else:
    module = "gans_jax.nn.ResNetTranslationGenerator"
    kwargs.update(num_blocks=m.resnet_blocks)
  return dict(player="generator", module=module, kwargs=kwargs,
              mode=config.eval.mode,
              inputs=dict(image_size=d.image_size, channels=d.channels))


def create_models(config: ml_collections.ConfigDict, rngs):
  """The generator and the (Pixel/Patch)GAN discriminator of the config."""
  m, d = config.model, config.data
  norm = None if m.norm == "none" else m.norm
  dtype = common.compute_dtype(config) or jnp.float32
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  in_channels = 2 * d.channels if m.conditional else d.channels
  if m.d_layers == 0:
    discriminator = gj.nn.PixelGANDiscriminator(
        in_channels=in_channels, features=m.d_features, norm=norm, dtype=dtype,
        rngs=rngs)
  else:
    discriminator = gj.nn.PatchGANDiscriminator(
        in_channels=in_channels, features=m.d_features, n_layers=m.d_layers,
        norm=norm, dtype=dtype, rngs=rngs)
  return generator, discriminator


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  generator, discriminator = create_models(
      config, gj.train.init_rngs(config.train.seed))
  return gj.train.GANState.create(
      generator=generator, discriminator=discriminator,
      g_optimizer=translation.adam(config), d_optimizer=translation.adam(config))


def make_train_step(config: ml_collections.ConfigDict):
  """One step of the official ``Pix2PixModel.optimize_parameters``."""
  gan_weight, l1_weight = config.loss.gan_weight, config.loss.l1_weight
  conditional = config.model.conditional

  def train_step(state: gj.train.GANState, batch, key):
    x, y = batch["a"], batch["b"]
    condition = x if conditional else None
    # G's forward pass, kept for its update: the dropout mask and the batch
    # statistics D judges are the ones G's gradient flows through.
    fake, generator_vjp, generator = jax.vjp(
        lambda params: state.generator.apply(x, params=params, rngs=key),
        state.generator.params, has_aux=True)
    metrics = {}
    if gan_weight:
      def discriminator_loss(params):
        real_logits, d = state.discriminator.apply(y, condition, params=params)
        fake_logits, d = d.apply(jax.lax.stop_gradient(fake), condition,
                                 params=params)
        # -[log D(x, y) + log(1 - D(x, G(x)))] / 2, over every patch.
        loss = 0.5 * gj.losses.discriminator_minimax_loss(
            real_logits, fake_logits).mean()
        return loss, (d, (real_logits, fake_logits))

      state, (d_loss, (real_logits, fake_logits)) = gj.train.update(
          state, "discriminator", discriminator_loss, has_aux=True,
          returns_networks=True)
      metrics.update(d_loss=d_loss, d_real=jax.nn.sigmoid(real_logits).mean(),
                     d_fake=jax.nn.sigmoid(fake_logits).mean())

    def generator_loss(fake):
      l1 = jnp.abs(y - fake).mean()
      parts = {"g_l1": l1}
      loss = l1_weight * l1
      if gan_weight:
        # -log D(x, G(x)), scored by the updated D.
        logits, _ = state.discriminator.apply(fake, condition)
        parts["g_gan"] = gj.losses.generator_nonsaturating_loss(logits).mean()
        loss = loss + gan_weight * parts["g_gan"]
      return loss, parts

    (g_loss, parts), fake_grads = jax.value_and_grad(
        generator_loss, has_aux=True)(fake)
    (grads,) = generator_vjp(fake_grads)
    state = state.replace(generator=generator)
    state = state.apply_gradients({"generator": grads})
    metrics.update(g_loss=g_loss, **parts)
    return state, metrics

  return train_step


def make_translate(config: ml_collections.ConfigDict):
  """``translate(state, images, key)``: G(x) of each image alone, in the
  test-time mode ``eval.mode`` (the paper: train mode)."""
  return translation.make_translate("generator", config.eval.mode)


def translators(config: ml_collections.ConfigDict) -> dict:
  """``{direction: translate}`` for ``--translate``: G maps the dataset's
  domains in the one direction it was trained in, ``data.direction``."""
  return {config.data.direction: make_translate(config)}


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` inputs of the test split drawn with
  ``key``, translated (train mode, dropout on, as the paper)."""
  inputs = translation.eval_pairs(config)["a"]
  return translation.make_test_sampler(make_translate(config), inputs, num)


def grid_hook(config: ml_collections.ConfigDict, workdir: str) -> list:
  """Input, output and target of the first test examples during training."""
  test = translation.eval_pairs(config)
  n = config.eval.grid_examples
  x, y = jnp.asarray(test["a"][:n]), test["b"][:n]
  translate = make_translate(config)
  return translation.translation_grid_hook(
      config, lambda state, key: [x, translate(state, x, key), y], workdir,
      num_columns=3)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  data = translation.training_batches(config, paired=True)
  state = create_state(config)
  state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                       hooks=grid_hook(config, workdir))
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Translates the test split and scores it (see the module docstring);
  writes ``translations.png`` (input, output, target), the outputs,
  ``results.md`` and the gallery ``test_results/index.html``."""
  step = config.train.num_steps if step is None else step
  test = translation.eval_pairs(config)
  outputs = translation.translate_all(
      make_translate(config), state, test["a"],
      gj.train.make_key(config.train.seed, "eval"),
      batch_size=config.eval.batch_size)
  results = {
      "eval/l1": float(np.mean(np.abs(outputs - test["b"]))),
      "eval/gradient_magnitude": sharpness.mean_gradient_magnitude(outputs),
      "eval/gradient_magnitude_real": sharpness.mean_gradient_magnitude(test["b"]),
  }
  if config.data.dataset == "facades":
    results.update(translation.facade_scores(
        config, outputs, test["label_map"], domain="b"))
    results.update(translation.facade_scores(
        config, test["b"], test["label_map"], domain="b", suffix="_real"))
  n = config.eval.grid_examples * 2
  translation.save_translation_grid(
      os.path.join(workdir, "translations.png"),
      [test["a"][:n], outputs[:n], test["b"][:n]])
  keep = config.eval.num_saved
  common.write_results(workdir, step, results, outputs[:keep],
                       inputs=test["a"][:keep], targets=test["b"][:keep])
  translation.write_test_report(workdir, step, results, {
      "real_A": test["a"][:keep], "fake_B": outputs[:keep],
      "real_B": test["b"][:keep]})
  return results
