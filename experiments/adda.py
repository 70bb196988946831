"""Adversarial Discriminative Domain Adaptation (ADDA), and DANN beside it.

Tzeng, Hoffman, Saenko and Darrell, "Adversarial Discriminative Domain
Adaptation", CVPR 2017 (arXiv 1702.05464); Ganin et al., "Domain-Adversarial
Training of Neural Networks", JMLR 2016 (arXiv 1505.07818).

A classifier trained on a labelled *source* domain loses accuracy on a
*target* domain whose images look different. Here the source is the built-in
handwritten digits and the target the typeset digits the project renders
(``data.direction=font_to_hand`` swaps them); the target's labels are used
only to score the models and to train the upper bound.

ADDA, in two stages (the paper's Figure 3; one :class:`gj.train.Phase` each):

1. **Pre-training** (``adda.source_steps``): a source encoder :math:`M_s`
   and classifier :math:`C` minimise the cross-entropy on the labelled source
   (Eq. 5). In the same steps, and only to give the table its two reference
   rows, a second LeNet is trained on the *labelled target* (the
   target-supervised upper bound; it never feeds the adaptation).
2. **Adaptation** (``adda.adapt_steps``): the target encoder :math:`M_t` is
   initialised as a copy of :math:`M_s` (untied weights); :math:`M_s` and
   :math:`C` are frozen. The domain adversary :math:`D` (source = 1) and
   :math:`M_t` play the GAN game with inverted labels
   (:func:`gans_jax.adaptation.adda_adaptation_step`):

   .. math::
     \\min_D\\; -\\mathbb{E}_{x_s}[\\log D(M_s(x_s))]
               -\\mathbb{E}_{x_t}[\\log(1 - D(M_t(x_t)))] \\qquad (8)

     \\min_{M_t}\\; -\\mathbb{E}_{x_t}[\\log D(M_t(x_t))] \\qquad (9)

   Both gradients are taken at the same point and both optimisers step, as
   the authors' code runs ``mapping_step`` and ``adversary_step`` together.
   Target images are classified by :math:`C(M_t(x_t))`.

DANN (preset ``dann``, ``adda.method=dann``), in place of stage 2: one
feature extractor :math:`G_f`, label predictor :math:`G_y` and domain
classifier :math:`G_d`, trained from scratch on labelled source and unlabelled
target batches, minimise

.. math::
  L_y(G_y(G_f(x_s)), y_s) + L_d(G_d(R_{\\lambda_p}(G_f(x))))

with the gradient reversal :math:`R_\\lambda` (identity forward, :math:`-\\lambda`
times the gradient backward, :func:`gans_jax.adaptation.gradient_reversal`),
:math:`\\lambda_p = 2/(1 + e^{-10 p}) - 1` and SGD with momentum 0.9 at
:math:`\\mu_p = 0.01 / (1 + 10 p)^{0.75}`, :math:`p` the progress through the
phase (:func:`~gans_jax.adaptation.dann_lambda`,
:func:`~gans_jax.adaptation.dann_learning_rate`). Stage 1 runs as for ADDA and
gives the same source-only and target-supervised rows.

Every run reports, on the target's test split, the accuracy of the
source-only model :math:`C(M_s(x_t))`, of the adapted model, and of the
target-supervised model, and the share of the gap closed,
(adapted − source only) / (target supervised − source only).

Settings of the authors' code (erictzeng/adda: ``scripts/svhn-mnist.sh``,
``tools/train.py``, ``tools/train_adda.py``, ``adda/models/lenet.py``,
``adda/adversary.py``) and where this departs from them:

- LeNet: conv20-5, max-pool, conv50-5, max-pool, fc500, fc10, ReLU, 'VALID'
  convolutions (:class:`gans_jax.nn.LeNetEncoder`,
  :class:`~gans_jax.nn.LeNetClassifier`); adversary 500-500-2 with ReLU
  (the script's ``--adversary_relu``; :class:`~gans_jax.nn.DomainAdversary`).
- Source training: Adam, learning rate 1e-3 (TF's default betas), batch 128,
  10,000 steps. Adaptation: Adam 2e-4, beta1 0.5, batch 128, 10,000 steps.
- Scaled to the data: images at 16 px (the code's LeNet takes 28; the digits
  are 8x8 at heart, so 16 px loses nothing and costs a sixth), and 1,000 +
  1,500 steps instead of 10,000 + 10,000 (1,297 training images per domain:
  1,000 steps of 128 are about 100 epochs; the source classifier fits its
  training set within 200). The ``paper`` preset has 28 px
  and 10,000 + 10,000.
- The adversary judges the encoder's 500 features, as the paper's figure and
  text say; the authors' code feeds it the 10 logits of fc4 and adapts fc4
  with the encoder (``DomainAdversary(in_features=10)`` is that variant;
  not offered here).
- No L2 weight decay (the code's 2.5e-5 regulariser on every layer).
- The code's mapping loss averages the flipped-label cross-entropy over the
  source and the target half of the batch; the source half has no gradient
  with respect to :math:`M_t`, so its gradient is half of Eq. 9's. Here Eq. 9
  as written (Adam makes the scale nearly irrelevant).
- Batches are drawn with replacement, a fresh draw per step
  (``rng([seed, step])``), so that a resumed run repeats them exactly; the
  code reads shuffled epochs.
- DANN: the same LeNet and 500-500 domain classifier as ADDA (the paper's
  MNIST domain classifier is 100-1 on a smaller extractor), so that the two
  methods differ only in their game; its schedules as in the paper, with
  ``p`` running over the adaptation phase's steps.

    python experiments/adda.py [--config=experiments/configs/adda.py:PRESET]
"""

from gans_jax import cli

# The command line; --help answers before JAX loads.
cli.script(__name__, __doc__, figures=("features",))

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import gans_jax as gj
from experiments import common
from gans_jax import adaptation
from gans_jax.train.config import ConfigError

# The optimiser groups of the state: stage 1's two classifiers, stage 2's
# players (ADDA: target encoder and adversary apart; DANN: one group).
SOURCE = ("source_encoder", "classifier")
ORACLE = ("oracle_encoder", "oracle_classifier")
DANN = ("target_encoder", "target_classifier", "adversary")


class DomainAdaptationState(gj.train.TrainState):
  """The players of both stages.

  Attributes:
    source_encoder, classifier: :math:`M_s` and :math:`C`, trained on the
      labelled source in stage 1, frozen in stage 2.
    oracle_encoder, oracle_classifier: the target-supervised upper bound,
      trained on the labelled target in stage 1 (reference only).
    target_encoder: :math:`M_t` (ADDA: a copy of :math:`M_s` at stage 2's
      start; DANN: the feature extractor :math:`G_f`, from scratch).
    target_classifier: DANN's label predictor :math:`G_y` (unused by ADDA,
      which classifies with :math:`C`).
    adversary: the domain discriminator :math:`D` / :math:`G_d`.
  """

  source_encoder: gj.train.Network
  classifier: gj.train.Network
  oracle_encoder: gj.train.Network
  oracle_classifier: gj.train.Network
  target_encoder: gj.train.Network
  target_classifier: gj.train.Network
  adversary: gj.train.Network


# ----------------------------------------------------------------- config --

def validate(config: ml_collections.ConfigDict) -> None:
  """The two phases add up to ``train.num_steps``."""
  gj.train.validate_train(config)
  a = config.adda
  total = a.source_steps + a.adapt_steps
  if config.train.num_steps != total:
    raise ConfigError("train.num_steps", f"must equal adda.source_steps + "
                      f"adda.adapt_steps = {total}, got {config.train.num_steps}")


# ------------------------------------------------------------------- data --

@functools.lru_cache(maxsize=8)
def _domain(name: str, split: str, image_size: int, font_seed: int):
  if name == "hand":
    return gj.data.load_digits_split(split, image_size=image_size)
  return gj.data.load_font_digits(split, image_size=image_size, seed=font_seed)


def domains(config: ml_collections.ConfigDict, split: str):
  """``((source images, labels), (target images, labels))`` of ``split``."""
  d = config.data
  source, target = d.direction.split("_to_")
  return (_domain(source, split, d.image_size, d.font_seed),
          _domain(target, split, d.image_size, d.font_seed))


class DomainBatches:
  """Source and target batches, drawn afresh (with replacement) each step
  from ``rng([seed, step])``, so that a resumed run sees the same batches.

  ``labels`` names which domains' labels a batch carries: stage 1 takes
  ``('source', 'target')`` (the target's only for the upper bound); ADDA's
  stage 2 takes none, DANN's the source's. The target's labels cannot reach
  an adaptation step: its batches do not hold them.
  """

  def __init__(self, source, target, *, batch_size: int, seed: int,
               labels: tuple[str, ...]):
    self.arrays = {"source": source, "target": target}
    self.batch_size, self.seed, self.labels = batch_size, seed, labels

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step])
    batch = {}
    for name, (images, labels) in self.arrays.items():
      index = rng.integers(0, len(images), self.batch_size)
      batch[name] = images[index]
      if name in self.labels:
        batch[f"{name}_labels"] = labels[index]
    return batch


# ---------------------------------------------------------------- players --

def _adam(learning_rate, b1):
  return optax.adam(learning_rate, b1=b1)


def dann_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """SGD with momentum at DANN's annealed rate, :math:`p` = updates / phase steps."""
  o, steps = config.optim, config.adda.adapt_steps
  schedule = lambda count: adaptation.dann_learning_rate(
      count / steps, initial=o.dann_learning_rate, alpha=o.dann_alpha,
      beta=o.dann_beta)
  return optax.sgd(schedule, momentum=o.dann_momentum)


def create_state(config: ml_collections.ConfigDict) -> DomainAdaptationState:
  """Three LeNets (source, upper bound, target), their heads and the adversary."""
  m, o, d = config.model, config.optim, config.data
  rngs = gj.train.init_rngs(config.train.seed)
  encoder = lambda: gj.nn.LeNetEncoder(image_size=d.image_size,
                                       features=m.features, rngs=rngs)
  head = lambda: gj.nn.LeNetClassifier(in_features=m.features, rngs=rngs)
  source = _adam(o.source_learning_rate, o.source_b1)
  optimizers = {SOURCE: source, ORACLE: source}
  if config.adda.method == "adda":
    adapt = _adam(o.adapt_learning_rate, o.adapt_b1)
    optimizers.update(target_encoder=adapt, adversary=adapt)
  else:
    optimizers[DANN] = dann_optimizer(config)
  return DomainAdaptationState.create(
      source_encoder=encoder(), classifier=head(),
      oracle_encoder=encoder(), oracle_classifier=head(),
      target_encoder=encoder(), target_classifier=head(),
      adversary=gj.nn.DomainAdversary(
          in_features=m.features, hidden=tuple(m.adversary_hidden),
          negative_slope=m.adversary_slope, rngs=rngs),
      optimizers=optimizers)


def _classify(state, encoder: str, classifier: str, images, params=None):
  """Class logits of ``classifier(encoder(images))`` (``params``: both
  players' parameters by name, when differentiated)."""
  params = params or {}
  features, _ = state.player(encoder).apply(images, params=params.get(encoder))
  logits, _ = state.player(classifier).apply(features, params=params.get(classifier))
  return logits, features


def _cross_entropy(logits, labels):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


# -------------------------------------------------------------- the steps --

def make_source_step(config: ml_collections.ConfigDict):
  """Stage 1: the source classifier (Eq. 5) and, beside it, the
  target-supervised upper bound, each on its own labelled batch."""
  del config

  def train_step(state: DomainAdaptationState, batch, key):
    del key
    metrics = {}
    for players, domain in ((SOURCE, "source"), (ORACLE, "target")):
      def loss_fn(params, players=players, domain=domain):
        logits, _ = _classify(state, *players, batch[domain], params)
        labels = batch[f"{domain}_labels"]
        return _cross_entropy(logits, labels), jnp.mean(logits.argmax(-1) == labels)

      state, (loss, accuracy) = gj.train.update(state, players, loss_fn,
                                                 has_aux=True)
      prefix = "source" if domain == "source" else "target_supervised"
      metrics.update({f"{prefix}_loss": loss, f"{prefix}_accuracy": accuracy})
    return state, metrics

  return train_step


def make_adda_step(config: ml_collections.ConfigDict):
  """Stage 2 of ADDA: Eqs. 8 and 9 by :func:`adaptation.adda_adaptation_step`,
  the source encoder frozen, on batches without labels."""
  del config

  def train_step(state: DomainAdaptationState, batch, key):
    del key
    encoder, adversary = state.target_encoder, state.adversary
    # The optimiser states hold {player: params}; the source encoder takes
    # the target's key only to share its architecture's call.
    keyed = lambda network, name: {name: network.params}
    params = adaptation.ADDAParams(
        source_encoder=keyed(state.source_encoder, "target_encoder"),
        target_encoder=keyed(encoder, "target_encoder"),
        adversary=keyed(adversary, "adversary"))
    opt_states = adaptation.ADDAOptimizerStates(
        state.opt_states["target_encoder"], state.opt_states["adversary"])
    params, opt_states, metrics = adaptation.adda_adaptation_step(
        params, opt_states, batch["source"], batch["target"],
        encode=lambda p, x: encoder.apply(x, params=p["target_encoder"])[0],
        discriminate=lambda p, f: adversary.apply(f, params=p["adversary"])[0],
        target_optimizer=state.group("target_encoder").tx,
        adversary_optimizer=state.group("adversary").tx)
    updates = dict(state.updates)
    for name in ("target_encoder", "adversary"):
      updates[name] = updates[name] + 1
    state = state.replace(
        target_encoder=encoder.replace(params=params.target_encoder["target_encoder"]),
        adversary=adversary.replace(params=params.adversary["adversary"]),
        opt_states={**state.opt_states, "target_encoder": opt_states.target_encoder,
                    "adversary": opt_states.adversary},
        updates=updates)
    return state, metrics

  return train_step


def make_dann_step(config: ml_collections.ConfigDict):
  """DANN's stage 2: label loss on the source plus the domain loss through
  the gradient reversal, one minimisation of all three networks."""
  steps, gamma = config.adda.adapt_steps, config.optim.dann_gamma
  group = "+".join(DANN)

  def train_step(state: DomainAdaptationState, batch, key):
    del key
    n = batch["source"].shape[0]
    scale = adaptation.dann_lambda(state.updates[group] / steps, gamma=gamma)

    def loss_fn(params):
      images = jnp.concatenate([batch["source"], batch["target"]])
      logits, features = _classify(state, "target_encoder", "target_classifier",
                                   images, params)
      class_loss = _cross_entropy(logits[:n], batch["source_labels"])
      domain_logits, _ = state.adversary.apply(
          adaptation.gradient_reversal(features, scale), params=params["adversary"])
      domain_loss = jnp.mean(gj.losses.discriminator_minimax_loss(
          domain_logits[:n], domain_logits[n:]))
      accuracy = 0.5 * (jnp.mean(domain_logits[:n] > 0)
                        + jnp.mean(domain_logits[n:] < 0))
      return class_loss + domain_loss, (class_loss, domain_loss, accuracy)

    state, (_, (class_loss, domain_loss, accuracy)) = gj.train.update(
        state, DANN, loss_fn, has_aux=True)
    return state, {"class_loss": class_loss, "domain_loss": domain_loss,
                   "adversary_accuracy": accuracy, "lambda": scale}

  return train_step


def make_train_step(config: ml_collections.ConfigDict, phase: str = "source"):
  """The step of a phase: ``'source'`` (stage 1) or ``'adapt'`` (stage 2 of
  ``adda.method``)."""
  if phase == "source":
    return make_source_step(config)
  return make_adda_step(config) if config.adda.method == "adda" else make_dann_step(config)


def start_adaptation(config: ml_collections.ConfigDict):
  """What happens as stage 2 starts: ADDA's target encoder becomes a copy
  of the trained source encoder (equal, not shared); DANN starts from its
  own initialisation."""

  def enter(state: DomainAdaptationState) -> DomainAdaptationState:
    if config.adda.method != "adda":
      return state
    copy = jax.tree.map(jnp.copy, state.source_encoder.params)
    state = state.replace(target_encoder=state.target_encoder.replace(params=copy))
    return state.reset_optimizers("target_encoder", "adversary")

  return enter


def phases(config: ml_collections.ConfigDict) -> list:
  """Stage 1 and stage 2 as :class:`gj.train.Phase` s."""
  (source, target) = domains(config, "train")
  a, t = config.adda, config.train
  batches = lambda labels: DomainBatches(source, target, batch_size=t.batch_size,
                                         seed=t.seed, labels=labels)
  adapt_labels = ("source",) if a.method == "dann" else ()
  return [gj.train.Phase("source", a.source_steps, make_train_step(config, "source"),
                         batches(("source", "target"))),
          gj.train.Phase("adapt", a.adapt_steps, make_train_step(config, "adapt"),
                         batches(adapt_labels), enter=start_adaptation(config))]


# ------------------------------------------------------------- evaluation --

def adapted_players(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """The encoder and classifier that classify the target after adaptation."""
  if config.adda.method == "adda":
    return "target_encoder", "classifier"
  return "target_encoder", "target_classifier"


MODELS = {"source_only": lambda config: SOURCE,
          "adapted": adapted_players,
          "target_supervised": lambda config: ORACLE}


@functools.partial(jax.jit, static_argnums=(1, 2))
def _logits_and_features(state, encoder, classifier, images):
  features = state.player(encoder).module()(images)
  return state.player(classifier).module()(features), features


def test_sets(config: ml_collections.ConfigDict):
  """The first ``eval.num_examples`` test images of each domain."""
  (xs, ys), (xt, yt) = domains(config, "test")
  n = config.eval.num_examples
  return (xs[:n], ys[:n]), (xt[:n], yt[:n])


def accuracies(config: ml_collections.ConfigDict, state) -> dict[str, float]:
  """Target test accuracy of the three models, and the gap closed."""
  _, (xt, yt) = test_sets(config)
  results = {}
  for name, players in MODELS.items():
    logits, _ = _logits_and_features(state, *players(config), jnp.asarray(xt))
    results[f"eval/target_accuracy/{name}"] = float(np.mean(
        np.asarray(logits).argmax(-1) == yt))
  source_only, adapted, supervised = (results[f"eval/target_accuracy/{n}"]
                                      for n in MODELS)
  # Clipped below so that a run whose upper bound does not beat the
  # source-only model still gives a number (large, and suspect).
  results["eval/gap_closed"] = (adapted - source_only) / max(supervised - source_only, 1e-2)
  return results


def make_sampler(config: ml_collections.ConfigDict, num: int):
  """``sample(state, key)``: ``num`` target test images drawn with ``key``,
  as ``(N, 2)`` rows (true digit, digit the adapted model predicts); their
  scatter plot is the confusion pattern."""
  _, (xt, yt) = test_sets(config)
  xt, yt = jnp.asarray(xt), jnp.asarray(yt)
  players = adapted_players(config)

  @jax.jit
  def sample(state, key):
    index = jax.random.randint(key, (num,), 0, xt.shape[0])
    logits, _ = _logits_and_features(state, *players, xt[index])
    return jnp.stack([yt[index], logits.argmax(-1)], axis=1).astype(jnp.float32)

  return sample


def generator_spec(config: ml_collections.ConfigDict, state=None) -> dict:
  """The adapted target encoder :math:`M_t`, as ``--export`` rebuilds it:
  images in, features out (classify them with the exported run's head)."""
  del state
  d, m = config.data, config.model
  return dict(player="target_encoder", module="gans_jax.nn.LeNetEncoder", mode="eval",
              kwargs=dict(image_size=d.image_size, channels=1, features=m.features),
              inputs=dict(image_size=d.image_size, channels=1))


def _pca(*sets: np.ndarray, components: int = 2) -> list[np.ndarray]:
  """The sets projected on the top principal axes of all of them together."""
  stacked = np.concatenate(sets)
  mean = stacked.mean(0)
  _, _, vt = np.linalg.svd(stacked - mean, full_matrices=False)
  return [(s - mean) @ vt[:components].T for s in sets]


def draw_features(config: ml_collections.ConfigDict, state, directory: str,
                  *, key=None) -> str:
  """``features_pca.png``: source and target test features before
  adaptation (the source-only encoder on both) and after (the source
  encoder on the source and the adapted encoder on the target; DANN's one
  extractor on both), projected on one PCA basis, coloured by digit."""
  del key
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  (xs, ys), (xt, yt) = test_sets(config)
  features = lambda players, x: np.asarray(_logits_and_features(
      state, *players, jnp.asarray(x))[1])
  adapted = adapted_players(config)
  after_source = SOURCE if config.adda.method == "adda" else adapted
  sets = [features(SOURCE, xs), features(SOURCE, xt),
          features(after_source, xs), features(adapted, xt)]
  points = _pca(*sets)
  source_name, target_name = config.data.direction.split("_to_")
  fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharex=True, sharey=True)
  titles = ("before adaptation (source encoder)",
            f"after {config.adda.method.upper()}")
  for ax, title, (s, t) in zip(axes, titles, (points[:2], points[2:])):
    ax.scatter(s[:, 0], s[:, 1], c=ys, cmap="tab10", vmin=0, vmax=9, s=10,
               marker="o", alpha=0.5, label=f"source ({source_name})")
    ax.scatter(t[:, 0], t[:, 1], c=yt, cmap="tab10", vmin=0, vmax=9, s=22,
               marker="x", label=f"target ({target_name})")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
  axes[0].set_ylabel("PC 2")
  for handle in axes[0].legend(loc="best", fontsize=8).legend_handles:
    handle.set_color("0.3")
  fig.suptitle("ADDA digits: PCA of encoder features, colour = digit", fontsize=10)
  fig.tight_layout()
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, "features_pca.png")
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path


FIGURES = {"features": draw_features}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  state = gj.train.fit_phases(phases(config), create_state(config), config, workdir)
  return evaluate(config, state, workdir)


def evaluate(config: ml_collections.ConfigDict, state, workdir: str, *,
             step: int | None = None) -> dict:
  """Target test accuracy of the source-only, adapted and target-supervised
  models, recorded at ``step``, with ``eval.num_examples`` rows of
  (true, predicted) digits as samples and, with ``eval.figure``, the
  features' PCA."""
  results = accuracies(config, state)
  if config.eval.figure and jax.process_index() == 0:
    draw_features(config, state, workdir)
  samples = make_sampler(config, config.eval.num_examples)(
      state, gj.train.make_key(config.train.seed, "eval"))
  common.write_results(workdir, common.evaluation_step(config, step), results,
                       np.asarray(samples))
  return results
