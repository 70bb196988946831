"""Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network" (SRGAN, arXiv 1609.04802).

A generator G (SRResNet: B residual blocks with BatchNorm and PReLU, a long
skip, sub-pixel x2 upsampling blocks; ``gans_jax.nn.SRResNetGenerator``)
maps a low-resolution image I^LR, the bicubic 4x downsampling of I^HR, to an
image of I^HR's size. The paper's perceptual loss (Eq. 3) is

    l^SR = l^SR_X + 1e-3 l^SR_Gen,
    l^SR_X = 1/(W H C) sum (phi(I^HR) - phi(G(I^LR)))^2      (Eq. 5)
    l^SR_Gen = -log D(G(I^LR))                                (Eq. 6)

with phi the feature maps after a ReLU of a fixed network (VGG19 in the
paper; ``gj.losses.perceptual_loss`` over ``gj.nn.feature_extractor``,
which holds the network as constants behind ``stop_gradient``), and the
discriminator D (eight 3x3 convolutions, LeakyReLU, two dense layers;
``gans_jax.nn.SRGANDiscriminator``) trained on the usual minimax loss
(Eq. 2). ``content.loss='mse'`` replaces l^SR_X by the pixel MSE (Eq. 4);
``gan.adversarial_weight=0`` trains no discriminator: the SRResNet rows of
the paper's Table 2 (SRResNet-MSE, SRResNet-VGG22).

One step, as the paper's alternation: G super-resolves the batch once; D
descends -[log D(I^HR) + log(1 - D(G(I^LR)))] (BCE from logits, each batch
through D on its own, BatchNorm in train mode); then G descends l^SR, with
D's verdict from the updated D, back-propagated through the same forward
pass. SRGAN starts from SRResNet-MSE: the run's first
``gan.pretrain_steps`` generator updates descend the pixel MSE alone (no D
update), then the adversarial steps begin: two phases of the loop
(``gj.train.fit_phases``), each its own compiled step. (One step choosing
by ``lax.cond`` ran 8x slower on a CPU.)

Evaluation (Section 3.2), on ``eval.split``: every image is downsampled,
super-resolved (G in eval mode, BatchNorm's running statistics) and scored
against the original by PSNR and SSIM on pixels in [0, 1] (data_range 1;
RGB as its luma, BT.601, as the paper's y channel) after cropping
``eval.crop_border`` pixels from each border; bicubic upsampling of the same
inputs is the baseline, and the originals' own scores are the ceiling. The
paper's perceptual measure is a mean opinion score; offline we report what
can be measured without raters: the sharpness (mean gradient magnitude,
:mod:`gans_jax.eval.sharpness`) beside the originals', and on the digits the
accuracy of the project's digit classifier (an MLP, not the CNN whose
features make the content loss) on the super-resolved test digits and its
Fréchet distance to the originals; on the facades the FCN-scores of the
segmenter (the same network as the content loss there: a biased judge).

Departures from the paper: the content network is the project's own trained
digit CNN (:mod:`gans_jax.eval.domain`: its convolutions run on the 32x32
image, and phi is its second convolution after ReLU, :class:`DigitFeatures`)
or facade segmenter (the second convolution of its middle scale), since no
VGG19 weights ship offline;
``content.network='vgg19'`` loads converted weights a user has
(:func:`gans_jax.nn.load_vgg19`). High-resolution images are the dataset's
images resized to ``data.image_size`` (the paper: random 96x96 crops); the
low-resolution inputs are ``jax.image.resize`` bicubic with antialiasing
(the paper: MATLAB's ``imresize``), clipped to [-1, 1]; images live in
[-1, 1] and G ends in tanh (the paper: LR in [0, 1], HR in [-1, 1], linear
output); the Adam state of the MSE phase carries into the adversarial one.
The digits presets are small (see experiments/configs/srgan.py).

    python experiments/srgan.py [--config=experiments/configs/srgan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__, figures=("comparison",))

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
from gans_jax.eval import fidelity
from gans_jax.eval import images as image_eval
from gans_jax.eval import sharpness
from gans_jax.train import config as config_lib

# The datasets a content network is trained for (None: any), and its layers
# (gans_jax.nn.feature_maps names).
_CONTENT_DATASETS = {"digit_classifier": None, "facade_segmenter": ("facades",),
                     "vgg19": None}
CONTENT_LAYERS = {
    "digit_classifier": ("convs/0", "convs/1", "convs/2"),
    "facade_segmenter": ("enc1/0", "enc1/1", "enc2/0", "enc2/1", "enc3/0", "enc3/1",
                         "dec2", "dec1", "head"),
    "vgg19": gj.nn.VGG19_LAYERS,
}
# BT.601 luma of RGB in [0, 1]: the paper scores the y channel.
_LUMA = (0.299, 0.587, 0.114)


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/srgan.py)."""
  d, m, c = config.data, config.model, config.content
  config_lib.check_positive_int(config, "data.image_size")
  if d.dataset == "facades":
    from gans_jax.data import synthetic_facades
    config_lib.check(d.image_size % 32 == 0, "data.image_size",
                     f"the synthetic facades need a multiple of 32, got {d.image_size}")
    config_lib.check(d.channels == 3, "data.channels",
                     f"the synthetic facades are RGB (3), got {d.channels}")
    config_lib.check_choice(config, "eval.split",
                            tuple(synthetic_facades.FACADES_SPLITS))
  else:
    sizes = (32, 64) if d.dataset == "digits" else (32, 64, 96, 128, 192, 256)
    common.validate_image_data(config, image_sizes=sizes)
    common.validate_split(config, "eval.split")
  config_lib.check(d.image_size % 16 == 0, "data.image_size",
                   f"the discriminator needs a multiple of 16, got {d.image_size}")
  config_lib.check(d.image_size % m.upscale == 0, "model.upscale",
                   f"must divide data.image_size={d.image_size}, got {m.upscale}")
  layers = CONTENT_LAYERS[c.network]
  config_lib.check(isinstance(c.layer, str) and c.layer in layers, "content.layer",
                   f"must be a layer of {c.network}: {', '.join(layers)}; got "
                   f"{c.layer!r}")
  if c.loss == "features":
    allowed = _CONTENT_DATASETS[c.network]
    config_lib.check(allowed is None or d.dataset in allowed, "content.network",
                     f"{c.network!r} is trained on {allowed} only, not "
                     f"{d.dataset!r}")
    if c.network == "vgg19":
      config_lib.check(d.channels == 3, "content.network",
                       f"VGG19 takes RGB images (data.channels=3), got {d.channels}")
      config_lib.check(c.vgg_weights != "",
                       "content.vgg_weights", "vgg19 needs the path of converted "
                       "weights (an .npz, see gans_jax.nn.load_vgg19)")
  config_lib.check(isinstance(c.vgg_weights, str), "content.vgg_weights",
                   f"must be a path, got {c.vgg_weights!r}")
  config_lib.check(config.gan.adversarial_weight > 0 or config.gan.pretrain_steps == 0,
                   "gan.pretrain_steps", "is the MSE phase before the adversarial "
                   "one; without a discriminator (gan.adversarial_weight=0) it "
                   f"must be 0, got {config.gan.pretrain_steps}")
  config_lib.check(config.gan.pretrain_steps < config.train.num_steps,
                   "gan.pretrain_steps", f"must be below train.num_steps="
                   f"{config.train.num_steps}, got {config.gan.pretrain_steps}")
  config_lib.check(config.eval.num_test >= 2, "eval.num_test",
                   f"the scores need at least 2 images, got {config.eval.num_test}")
  config_lib.check(d.image_size - 2 * config.eval.crop_border >= 11, "eval.crop_border",
                   f"leaves fewer than SSIM's 11 pixels of a {d.image_size}-pixel "
                   f"side, got {config.eval.crop_border}")
  config_lib.validate_train(config)


def low_resolution_size(config: ml_collections.ConfigDict) -> int:
  return config.data.image_size // config.model.upscale


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """SRResNet: low-resolution images (N, s, s, C) in [-1, 1] to (N, r·s,
  r·s, C), BatchNorm on its running statistics."""
  del state
  m, d = config.model, config.data
  return dict(player="generator", module="gans_jax.nn.SRResNetGenerator",
              mode="eval",
              kwargs=dict(channels=d.channels, num_blocks=m.num_blocks,
                          features=m.features, upscale=m.upscale,
                          output_activation="tanh"),
              inputs=dict(image_size=low_resolution_size(config),
                          channels=d.channels))


def _adam(config, boundary: int) -> optax.GradientTransformation:
  """Adam at ``optim.learning_rate``, 10x lower from update ``boundary``
  on (never when ``optim.decay_after`` is 0)."""
  o = config.optim
  rate = o.learning_rate
  if o.decay_after:
    rate = optax.piecewise_constant_schedule(rate, {boundary: 0.1})
  return optax.adam(rate, b1=o.b1, b2=o.b2)


def create_state(config: ml_collections.ConfigDict) -> gj.train.GANState:
  m, d = config.model, config.data
  rngs = gj.train.init_rngs(config.train.seed)
  generator = gj.nn.build_module(generator_spec(config), rngs=rngs)
  discriminator = gj.nn.SRGANDiscriminator(
      d.channels, image_size=d.image_size, features=m.d_features,
      dense_features=m.d_dense, rngs=rngs)
  decay = config.optim.decay_after
  # G's counter includes the MSE phase; D's counts adversarial updates only.
  return gj.train.GANState.create(
      generator=generator, discriminator=discriminator,
      g_optimizer=_adam(config, config.gan.pretrain_steps + decay),
      d_optimizer=_adam(config, decay))


# ------------------------------------------------------ the content loss --

class DigitFeatures(nnx.Module):
  """The convolutions of the digit CNN (:class:`gans_jax.eval.domain.DigitConvNet`)
  alone, each followed by its ReLU: fully convolutional, so that they see the
  high-resolution image at its own size, as VGG19 does in the paper (the
  whole CNN needs its 16x16 input, a downsampling blind to what 4x
  super-resolution adds). Grey images in [-1, 1]; RGB is made grey first."""

  def __init__(self, network):
    self.convs = network.convs

  def __call__(self, x):
    if x.shape[-1] == 3:
      x = jnp.tensordot(x, jnp.asarray(_LUMA, x.dtype), axes=1)[..., None]
    for conv in self.convs:
      x = jax.nn.relu(conv(x))
    return x


def content_network(config: ml_collections.ConfigDict) -> nnx.Module:
  """The fixed network of ``content.network``, called on images in [-1, 1]."""
  c = config.content
  if c.network == "digit_classifier":
    from gans_jax.eval import domain
    classifier = domain.load_or_train_digit_domain_classifier(
        os.path.join(common.cache_dir(), "digit_cross_domain_classifier.npz"),
        task="digit")
    return DigitFeatures(classifier.model)
  if c.network == "facade_segmenter":
    from experiments import translation
    return translation.facade_segmenter(config).model
  try:
    return gj.nn.load_vgg19(c.vgg_weights, last_layer=c.layer)
  except (OSError, ValueError) as e:
    raise gdata.DataError(f"content.vgg_weights: cannot load VGG19 weights: {e}") from None


def pixel_content_loss(fake, real):
  """SRResNet-MSE's content loss (Eq. 4): Eq. 5 with phi the identity."""
  return gj.losses.perceptual_loss(lambda x: x, fake, real)


def content_loss_fn(config: ml_collections.ConfigDict):
  """``loss(fake, real) -> (B,)``: the pixel MSE, or Eq. 5 on the ReLU of
  ``content.layer`` of the fixed network, features scaled by
  ``content.feature_scale``."""
  c = config.content
  if c.loss == "mse":
    return pixel_content_loss
  extract = gj.nn.feature_extractor(content_network(config), c.layer,
                                    activation=jax.nn.relu)
  scale = c.feature_scale
  phi = lambda x: scale * extract(x)
  return lambda fake, real: gj.losses.perceptual_loss(phi, fake, real)


def downsample(config: ml_collections.ConfigDict, images: jax.Array) -> jax.Array:
  """I^LR: bicubic (antialiased) 1/r of the images, clipped to [-1, 1]."""
  return jnp.clip(fidelity.bicubic_downsample(images, config.model.upscale), -1.0, 1.0)


PHASES = ("pretrain", "main")


def make_train_step(config: ml_collections.ConfigDict, phase: str = "main"):
  """The step of a phase: ``'pretrain'``, SRResNet-MSE's update (SRGAN's
  first ``gan.pretrain_steps``), or ``'main'``: the preset's own, SRGAN's
  alternation or, without a discriminator, SRResNet's update on its
  content loss (module docstring)."""
  if phase not in PHASES:
    raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
  weight = config.gan.adversarial_weight
  pixel_mse = lambda fake, real: jnp.mean(jnp.square(fake - real))
  content_loss = (pixel_content_loss if phase == "pretrain"
                  else content_loss_fn(config))

  def srresnet_step(state, lr, hr):
    def loss_fn(params):
      fake, generator = state.generator.apply(lr, params=params)
      loss = jnp.mean(content_loss(fake, hr))
      return loss, (generator, pixel_mse(fake, hr))

    state, (loss, mse) = gj.train.update(state, "generator", loss_fn, has_aux=True,
                                         returns_networks=True)
    return state, {"g_loss": loss, "pixel_mse": mse}

  def srgan_step(state, lr, hr):
    # G's forward pass, kept for its update after D's.
    fake, generator_vjp, generator = jax.vjp(
        lambda params: state.generator.apply(lr, params=params),
        state.generator.params, has_aux=True)

    def discriminator_loss(params):
      # -[log D(I^HR) + log(1 - D(G(I^LR)))] (Eq. 2), BCE from logits.
      real_logits, d = state.discriminator.apply(hr, params=params)
      fake_logits, d = d.apply(jax.lax.stop_gradient(fake), params=params)
      loss = gj.losses.discriminator_minimax_loss(real_logits, fake_logits).mean()
      return loss, (d, (real_logits, fake_logits))

    state, (d_loss, (real_logits, fake_logits)) = gj.train.update(
        state, "discriminator", discriminator_loss, has_aux=True,
        returns_networks=True)

    def perceptual_loss(fake):
      # l^SR = l^SR_X + 1e-3 l^SR_Gen (Eq. 3), D's verdict from the updated D.
      content = jnp.mean(content_loss(fake, hr))
      logits, _ = state.discriminator.apply(fake)
      adversarial = gj.losses.generator_nonsaturating_loss(logits).mean()
      return content + weight * adversarial, {
          "g_content": content, "g_adversarial": adversarial,
          "pixel_mse": pixel_mse(fake, hr)}

    (g_loss, parts), fake_grads = jax.value_and_grad(
        perceptual_loss, has_aux=True)(fake)
    (grads,) = generator_vjp(fake_grads)
    state = state.replace(generator=generator).apply_gradients({"generator": grads})
    return state, {"g_loss": g_loss, **parts, "d_loss": d_loss,
                   "d_real": jax.nn.sigmoid(real_logits).mean(),
                   "d_fake": jax.nn.sigmoid(fake_logits).mean()}

  step = srgan_step if phase == "main" and weight else srresnet_step

  def train_step(state: gj.train.GANState, batch, key):
    del key  # nothing random: the pairs are fixed and G takes no noise
    hr = batch["image"]
    return step(state, downsample(config, hr), hr)

  return train_step


# ----------------------------------------------------------- evaluation --

def eval_images(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """The first ``eval.num_test`` images of ``eval.split``: ``'hr'`` in
  [-1, 1], and ``'labels'`` (digits) or ``'label_map'`` (facades)."""
  d, e = config.data, config.eval
  if d.dataset == "facades":
    facades = gdata.load_facades(e.split, image_size=d.image_size)
    return {"hr": facades["b"][:e.num_test], "label_map": facades["label_map"][:e.num_test]}
  if d.dataset == "digits":
    images, labels = gdata.load_digits_split(e.split, image_size=d.image_size,
                                             channels=d.channels)
    return {"hr": images[:e.num_test], "labels": labels[:e.num_test]}
  return {"hr": common.held_out_images(config, e.split, e.num_test)}


@jax.jit
def _super_resolve(state, lr):
  return state.sampling_generator()(lr)


def super_resolve(config: ml_collections.ConfigDict, state, lr: np.ndarray) -> np.ndarray:
  """G(I^LR) in eval mode, ``eval.batch_size`` images per call."""
  n, b = len(lr), config.eval.batch_size
  out = []
  for start in range(0, n, b):
    chunk = lr[start:start + b]
    pad = b - len(chunk) if n > b else 0  # one compiled shape
    if pad:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
    out.append(np.asarray(_super_resolve(state, jnp.asarray(chunk)))[:b - pad])
  return np.concatenate(out)


def bicubic(config: ml_collections.ConfigDict, lr: np.ndarray) -> np.ndarray:
  """The baseline: bicubic upsampling of I^LR, clipped to [-1, 1]."""
  up = fidelity.bicubic_upsample(jnp.asarray(lr), config.model.upscale)
  return np.asarray(jnp.clip(up, -1.0, 1.0))


def to_scored(images, crop: int) -> jax.Array:
  """Images in [-1, 1] to what PSNR and SSIM see: [0, 1], luma for RGB,
  ``crop`` pixels cut from each border."""
  x = (jnp.asarray(images, jnp.float32) + 1.0) / 2.0
  if x.shape[-1] == 3:
    x = jnp.tensordot(x, jnp.asarray(_LUMA, jnp.float32), axes=1)[..., None]
  if crop:
    x = x[:, crop:-crop, crop:-crop]
  return x


def fidelity_scores(images, reference, *, crop: int) -> dict[str, float]:
  """Mean PSNR (dB) and SSIM of images against the reference, both in
  [-1, 1], scored on [0, 1] (``data_range=1``) as :func:`to_scored`."""
  x, y = to_scored(images, crop), to_scored(reference, crop)
  return {"psnr": float(jnp.mean(fidelity.psnr(x, y, data_range=1.0))),
          "ssim": float(jnp.mean(fidelity.ssim(x, y, data_range=1.0)))}


def perceptual_scores(config: ml_collections.ConfigDict, images: np.ndarray,
                      test: dict[str, np.ndarray]) -> dict[str, float]:
  """The measures of perceptual quality offline: sharpness, and the digit
  classifier's accuracy and Fréchet distance to the originals, or the
  facades' FCN-scores."""
  scores = {"sharpness": sharpness.mean_gradient_magnitude(images)}
  if "labels" in test:
    from gans_jax.eval import classifier as classifier_lib
    classifier = classifier_lib.load_or_train_digit_classifier(
        os.path.join(common.cache_dir(), "digit_classifier.npz"))
    scores["accuracy"] = classifier.accuracy(images, test["labels"])
    scores["classifier_fd"] = classifier_lib.classifier_frechet_distance(
        classifier, images, test["hr"])
  if "label_map" in test:
    from experiments import translation
    from gans_jax.eval import segmentation
    facades = segmentation.fcn_scores(images, test["label_map"],
                                      translation.facade_segmenter(config))
    scores.update({f"fcn_{k}": float(facades[k])
                   for k in ("per_pixel_accuracy", "per_class_accuracy", "class_iou")})
  return scores


def score_all(config: ml_collections.ConfigDict, state, test: dict[str, np.ndarray]
              ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """The table's row of the run (``eval/NAME``), of bicubic upsampling
  (``eval/NAME_bicubic``) and of the originals (``eval/NAME_real``), and
  the images: ``{'lr', 'bicubic', 'sr', 'hr'}``."""
  hr = test["hr"]
  lr = np.asarray(downsample(config, jnp.asarray(hr)))
  images = {"lr": lr, "bicubic": bicubic(config, lr),
            "sr": super_resolve(config, state, lr), "hr": hr}
  crop = config.eval.crop_border
  results = {}
  for name, suffix in (("sr", ""), ("bicubic", "_bicubic")):
    scores = fidelity_scores(images[name], hr, crop=crop)
    scores.update(perceptual_scores(config, images[name], test))
    results.update({f"eval/{k}{suffix}": v for k, v in scores.items()})
  real = perceptual_scores(config, hr, test)
  results.update({f"eval/{k}_real": v for k, v in real.items()
                  if k != "classifier_fd"})
  return results, images


def nearest(images: np.ndarray, factor: int) -> np.ndarray:
  """Pixel replication: the low-resolution inputs shown at full size."""
  return np.repeat(np.repeat(np.asarray(images), factor, axis=1), factor, axis=2)


def draw_comparison(config: ml_collections.ConfigDict, state, directory: str,
                    *, key: jax.Array) -> str:
  """``comparison.png``: for test images drawn with ``key``, a row each of
  input (pixels replicated), bicubic, G's output and the original."""
  test = eval_images(config)
  pick = np.asarray(jax.random.permutation(key, len(test["hr"])))[
      :config.eval.grid_examples]
  hr = test["hr"][pick]
  lr = np.asarray(downsample(config, jnp.asarray(hr)))
  rows = [nearest(lr, config.model.upscale), bicubic(config, lr),
          super_resolve(config, state, lr), hr]
  path = os.path.join(directory, "comparison.png")
  if jax.process_index() == 0:
    image_eval.save_image_grid(path, np.concatenate(rows), nrow=len(hr))
  return path


FIGURES = {"comparison": draw_comparison}


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` test images drawn with ``key`` (with
  replacement), downsampled and super-resolved."""
  lr = downsample(config, jnp.asarray(eval_images(config)["hr"]))

  @jax.jit
  def sample(state, key):
    index = jax.random.randint(key, (num,), 0, lr.shape[0])
    return state.sampling_generator()(lr[index])

  return sample


def side_by_side(workdirs: dict[str, str], path: str, *, examples: int = 8) -> str:
  """The paper's Figure 2 for several finished runs on the same test
  images: a column of inputs, bicubic, each run's outputs
  (``workdirs``: column title -> run directory), and the originals, one
  row per example; the titles, left to right, are returned as a line."""
  saved = {name: np.load(os.path.join(d, "samples.npz")) for name, d in workdirs.items()}
  first = next(iter(saved.values()))
  hr, lr = first["targets"][:examples], first["inputs"][:examples]
  factor = hr.shape[1] // lr.shape[1]
  columns = [nearest(lr, factor), first["bicubic"][:examples]]
  columns += [s["samples"][:examples] for s in saved.values()]
  columns.append(hr)
  grid = np.stack(columns, axis=1).reshape(-1, *hr.shape[1:])
  image_eval.save_image_grid(path, grid, nrow=len(columns))
  return " | ".join(["input", "bicubic", *workdirs, "original"])


# ------------------------------------------------------------ the run --

def grid_hook(config: ml_collections.ConfigDict, workdir: str) -> list:
  """Bicubic, output and original of the first test images while training."""
  hr = jnp.asarray(eval_images(config)["hr"][:config.eval.grid_examples])
  lr = downsample(config, hr)
  up = bicubic(config, np.asarray(lr))
  columns = lambda state, key: np.concatenate(
      [up, np.asarray(_super_resolve(state, lr)), np.asarray(hr)])
  return common.sample_grid_hook(config, columns, workdir, nrow=len(hr))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  d = config.data
  if d.dataset == "facades":
    source = gdata.ArraySource(gdata.load_facades("train", image_size=d.image_size)["b"])
    data = gdata.ImageBatches(source, batch_size=config.train.batch_size,
                              seed=config.train.seed, image_size=d.image_size,
                              channels=d.channels)
  else:
    data = common.image_batches(config)
  state, hooks = create_state(config), grid_hook(config, workdir)
  pretrain = config.gan.pretrain_steps
  if not pretrain:
    state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                         hooks=hooks)
  else:
    # SRResNet-MSE first, then SRGAN from it: two compiled steps.
    phases = [gj.train.Phase("pretrain", pretrain, make_train_step(config, "pretrain"),
                             data),
              gj.train.Phase("main", config.train.num_steps - pretrain,
                             make_train_step(config), data)]
    state = gj.train.fit_phases(phases, state, config, workdir, hooks=hooks)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Scores the test split (module docstring); writes ``comparison.png``,
  and ``samples.npz`` with the first ``eval.num_saved`` outputs
  (``samples``), their inputs, bicubic upsamplings and originals."""
  results, images = score_all(config, state, eval_images(config))
  draw_comparison(config, state, workdir,
                  key=gj.train.make_key(config.train.seed, "comparison"))
  keep = config.eval.num_saved
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       images["sr"][:keep], inputs=images["lr"][:keep],
                       bicubic=images["bicubic"][:keep], targets=images["hr"][:keep])
  return results
