"""Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks" (CycleGAN, arXiv 1703.10593).

Two generators, G: A -> B and F: B -> A, and two discriminators, D_B (real b
against G(a)) and D_A (real a against F(b)), trained on unpaired images with
the full objective (Eq. 3)::

    L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc(G, F),
    L_cyc = E[|F(G(a)) - a|_1] + E[|G(F(b)) - b|_1],

in the least-squares form of Section 4: G minimises ``(D_B(G(a)) - 1)^2``,
D_B minimises ``[(D_B(b) - 1)^2 + D_B(G(a))^2] / 2`` (likewise F and D_A),
averaged over the patch maps, with lambda = 10; the identity term
``0.5 lambda (E[|G(b) - b|_1] + E[|F(a) - a|_1])`` of Section 5.2 is on, as in
the official code. As the official code, the forward cycle weighs lambda_A
and the backward cycle lambda_B, separately, so that the ablations of
Table 4 (GAN alone, cycle alone, GAN + forward, GAN + backward) are
settings of ``loss``.

One step, as the official ``CycleGANModel.optimize_parameters``: G and F
are updated together (one Adam over both), then D_A and D_B together (one
Adam over both) on real images and on generated images exchanged against
the image pools (Shrivastava et al.'s history of 50 images: the D step sees
older fakes half of the time). The pools live in the state (``extra``), so a
resumed run continues with them, not with empty ones.

Evaluation: the test split of each domain translated (G(a), F(b)) and
back (F(G(a)), G(F(b))); the cycle L1 errors; the outputs' spread (the mean
L1 distance between the outputs of two different inputs, beside that of the
real images: a translator that ignores its input has a spread near 0); on
the digits, whether G(a)
is still a's digit and looks typeset, by two classifiers trained on both
domains (the paper's FCN-score idea); on the synthetic facades, the
FCN-scores of the generated photos and the labels read back from the
generated labels images (the paper's Cityscapes labels <-> photo tables).

    python experiments/cyclegan.py [--config=experiments/configs/cyclegan.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__, translates=True)

import os

import jax
import jax.numpy as jnp
import ml_collections

import gans_jax as gj
from experiments import common
from experiments import translation
from gans_jax.eval import domain as domain_eval
from gans_jax.train import config as config_lib

class CycleGANState(gj.train.TrainState):
  """The four players; ``extra`` holds the pools ``{'pool_a', 'pool_b'}`` of
  generated A and B images shown to D_A and D_B."""

  g_ab: gj.train.Network  # G: A -> B
  g_ba: gj.train.Network  # F: B -> A
  d_a: gj.train.Network   # D_A: real a against F(b)
  d_b: gj.train.Network   # D_B: real b against G(a)


def validate(config: ml_collections.ConfigDict) -> None:
  """The rules beyond each field's own check (experiments/configs/cyclegan.py)."""
  translation.validate_data(config, paired=False)
  size = config.data.image_size
  config_lib.check(size % 4 == 0, "data.image_size",
                   f"the ResNet generator needs a multiple of 4, got {size}")
  try:
    gj.nn.patchgan_output_size(size, config.model.d_layers)
  except ValueError as e:
    raise config_lib.ConfigError("model.d_layers", str(e)) from None
  l = config.loss
  config_lib.check(l.gan_weight > 0 or l.cycle_a > 0 or l.cycle_b > 0, "loss",
                   "gan_weight, cycle_a and cycle_b are all 0: nothing to train")
  config_lib.validate_train(config)


def generator_spec(config: ml_collections.ConfigDict, state=None,
                   player: str = "g_ab") -> dict:
  """G: A -> B (``player='g_ab'``) or F: B -> A (``'g_ba'``), as
  ``create_state`` builds them (the same architecture)."""
  del state
  if player not in ("g_ab", "g_ba"):
    raise ValueError(f"player must be 'g_ab' or 'g_ba', got {player!r}")
  m, d = config.model, config.data
  return dict(
      player=player, module="gans_jax.nn.ResNetTranslationGenerator",
      kwargs=dict(in_channels=d.channels, out_channels=d.channels,
                  features=m.features, num_blocks=m.blocks,
                  norm=None if m.norm == "none" else m.norm, dropout=m.dropout,
                  upsample=m.upsample, dtype=common.dtype_name(config) or "float32"),
      mode=config.eval.mode,
      inputs=dict(image_size=d.image_size, channels=d.channels))


def create_state(config: ml_collections.ConfigDict) -> CycleGANState:
  m, d = config.model, config.data
  rngs = gj.train.init_rngs(config.train.seed)
  norm = None if m.norm == "none" else m.norm
  dtype = common.compute_dtype(config) or jnp.float32

  def generator():
    return gj.nn.build_module(generator_spec(config), rngs=rngs)

  def discriminator():
    return gj.nn.PatchGANDiscriminator(
        in_channels=d.channels, features=m.d_features, n_layers=m.d_layers,
        norm=norm, dtype=dtype, rngs=rngs)

  shape = (d.image_size, d.image_size, d.channels)
  pool = lambda: gj.train.ImagePool.create(config.gan.pool_size, shape)
  return CycleGANState.create(
      g_ab=generator(), g_ba=generator(), d_a=discriminator(), d_b=discriminator(),
      optimizers={("g_ab", "g_ba"): translation.adam(config),
                  ("d_a", "d_b"): translation.adam(config)},
      extra={"pool_a": pool(), "pool_b": pool()})


def _generator_gan_loss(outputs: jax.Array) -> jax.Array:
  # The official MSE to 1, (D - 1)^2: twice LSGAN's (D - 1)^2 / 2.
  return 2.0 * gj.losses.generator_least_squares_loss(outputs).mean()


def make_train_step(config: ml_collections.ConfigDict):
  """One step of the official ``CycleGANModel.optimize_parameters``."""
  l = config.loss
  gan_weight, cycle_a, cycle_b, identity = (l.gan_weight, l.cycle_a, l.cycle_b,
                                            l.identity)

  def train_step(state: CycleGANState, batch, key):
    real_a, real_b = batch["a"], batch["b"]
    key_g, key_pool_a, key_pool_b = jax.random.split(key, 3)

    def generator_loss(params):
      networks = {"g_ab": state.g_ab, "g_ba": state.g_ba}
      calls = []

      def run(name, images):
        # Every call of a generator gets its own dropout key.
        calls.append(name)
        out, networks[name] = networks[name].apply(
            images, params=params[name],
            rngs=jax.random.fold_in(key_g, len(calls)))
        return out

      fake_b = run("g_ab", real_a)  # G(a)
      fake_a = run("g_ba", real_b)  # F(b)
      terms = {}
      if gan_weight:
        terms["g_gan_ab"] = _generator_gan_loss(state.d_b.apply(fake_b)[0])
        terms["g_gan_ba"] = _generator_gan_loss(state.d_a.apply(fake_a)[0])
      if cycle_a:
        terms["cycle_a"] = jnp.abs(run("g_ba", fake_b) - real_a).mean()
      if cycle_b:
        terms["cycle_b"] = jnp.abs(run("g_ab", fake_a) - real_b).mean()
      if identity and cycle_b:
        terms["identity_b"] = jnp.abs(run("g_ab", real_b) - real_b).mean()
      if identity and cycle_a:
        terms["identity_a"] = jnp.abs(run("g_ba", real_a) - real_a).mean()
      weights = {"g_gan_ab": gan_weight, "g_gan_ba": gan_weight,
                 "cycle_a": cycle_a, "cycle_b": cycle_b,
                 "identity_a": identity * cycle_a,
                 "identity_b": identity * cycle_b}
      loss = sum(weights[name] * value for name, value in terms.items())
      return loss, (networks, (terms, fake_a, fake_b))

    # G and F share one Adam: one update of both on the summed objective.
    state, (g_loss, (terms, fake_a, fake_b)) = gj.train.update(
        state, ("g_ab", "g_ba"), generator_loss, has_aux=True,
        returns_networks=True)
    metrics = {"g_loss": g_loss, **terms}
    if not gan_weight:
      return state, metrics

    pool_a, shown_a = state.extra["pool_a"].query(fake_a, key_pool_a)
    pool_b, shown_b = state.extra["pool_b"].query(fake_b, key_pool_b)

    def discriminator_loss(params):
      losses, networks = {}, {}
      for name, real, shown in (("d_a", real_a, shown_a), ("d_b", real_b, shown_b)):
        real_out, network = state.player(name).apply(real, params=params[name])
        fake_out, networks[name] = network.apply(shown, params=params[name])
        # [(D(real) - 1)^2 + D(fake)^2] / 2, over every patch.
        losses[f"{name}_loss"] = gj.losses.discriminator_least_squares_loss(
            real_out, fake_out).mean()
      return sum(losses.values()), (networks, losses)

    state = state.replace(extra={"pool_a": pool_a, "pool_b": pool_b})
    state, (_, losses) = gj.train.update(
        state, ("d_a", "d_b"), discriminator_loss, has_aux=True,
        returns_networks=True)
    return state, {**metrics, **losses}

  return train_step


def make_translate(config: ml_collections.ConfigDict, player: str = "g_ab"):
  """``translate(state, images, key)`` by G (``'g_ab'``) or F (``'g_ba'``),
  each image alone, in ``eval.mode`` (official test.py: train mode, the same
  as eval mode for instance norm without dropout)."""
  return translation.make_translate(player, config.eval.mode)


def translators(config: ml_collections.ConfigDict) -> dict:
  """``{direction: translate}`` for ``--translate``, directions in the
  dataset's own A and B: G (``'g_ab'``) maps the run's A to its B, which are
  the dataset's B and A when ``data.direction='BtoA'``; F the other way."""
  forward = config.data.direction
  backward = "BtoA" if forward == "AtoB" else "AtoB"
  return {forward: make_translate(config, "g_ab"),
          backward: make_translate(config, "g_ba")}


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: G(a) of ``num`` test A images drawn with ``key``."""
  inputs = translation.eval_domains(config)["a"]
  return translation.make_test_sampler(make_translate(config), inputs, num)


def grid_hook(config: ml_collections.ConfigDict, workdir: str) -> list:
  """a, G(a), F(G(a)) and b, F(b), G(F(b)) of the first test images."""
  test = translation.eval_domains(config)
  n = config.eval.grid_examples
  a, b = jnp.asarray(test["a"][:n]), jnp.asarray(test["b"][:n])
  g, f = make_translate(config, "g_ab"), make_translate(config, "g_ba")

  def columns(state, key):
    keys = jax.random.split(key, 4)
    fake_b, fake_a = g(state, a, keys[0]), f(state, b, keys[1])
    return [a, fake_b, f(state, fake_b, keys[2]), b, fake_a, g(state, fake_a, keys[3])]

  return translation.translation_grid_hook(config, columns, workdir,
                                           num_columns=6, examples_per_row=2)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  data = translation.training_batches(config, paired=False)
  state = create_state(config)
  state = gj.train.fit(make_train_step(config), state, data, config, workdir,
                       hooks=grid_hook(config, workdir))
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Translates both test domains there and back and scores them (see the
  module docstring); writes ``translations.png``, the translations,
  ``results.md`` and the gallery ``test_results/index.html``."""
  step = config.train.num_steps if step is None else step
  test = translation.eval_domains(config)
  g, f = make_translate(config, "g_ab"), make_translate(config, "g_ba")
  keys = jax.random.split(gj.train.make_key(config.train.seed, "eval"), 4)
  run = lambda fn, images, key: translation.translate_all(
      fn, state, images, key, batch_size=config.eval.batch_size)
  fake_b = run(g, test["a"], keys[0])
  rec_a = run(f, fake_b, keys[1])
  fake_a = run(f, test["b"], keys[2])
  rec_b = run(g, fake_a, keys[3])
  results = {"eval/cycle_l1_a": domain_eval.cycle_l1(test["a"], rec_a),
             "eval/cycle_l1_b": domain_eval.cycle_l1(test["b"], rec_b),
             # How much the outputs differ between inputs (near 0: collapse),
             # beside the same for the real images of the target domain.
             "eval/output_spread_ab": domain_eval.output_spread(fake_b),
             "eval/output_spread_ba": domain_eval.output_spread(fake_a),
             "eval/output_spread_b_real": domain_eval.output_spread(test["b"]),
             "eval/output_spread_a_real": domain_eval.output_spread(test["a"])}
  if config.data.dataset == "digits":
    typeset = 1 if config.data.direction == "AtoB" else 0  # domain ids of B
    results.update(translation.digit_scores(test["a_labels"], fake_b, typeset,
                                            name="ab"))
    results.update(translation.digit_scores(test["b_labels"], fake_a, 1 - typeset,
                                            name="ba"))
  if config.data.dataset == "facades":
    label_maps = test["label_map"]
    results.update(translation.facade_scores(config, fake_b, label_maps, domain="b"))
    results.update(translation.facade_scores(config, fake_a, label_maps, domain="a"))
    photos = translation.facade_photos_domain(config)
    results.update(translation.facade_scores(config, test[photos], label_maps,
                                             domain=photos, suffix="_real"))
  n = config.eval.grid_examples * 2
  translation.save_translation_grid(
      os.path.join(workdir, "translations.png"),
      [test["a"][:n], fake_b[:n], rec_a[:n], test["b"][:n], fake_a[:n], rec_b[:n]],
      examples_per_row=2)
  keep = config.eval.num_saved
  common.write_results(workdir, step, results, fake_b[:keep], fake_a=fake_a[:keep],
                       rec_a=rec_a[:keep], rec_b=rec_b[:keep],
                       inputs_a=test["a"][:keep], inputs_b=test["b"][:keep])
  translation.write_test_report(workdir, step, results, {
      "real_A": test["a"][:keep], "fake_B": fake_b[:keep], "rec_A": rec_a[:keep],
      "real_B": test["b"][:keep], "fake_A": fake_a[:keep], "rec_B": rec_b[:keep]})
  return results
