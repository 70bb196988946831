"""What every image experiment shares: data from the config, latent noise,
sample grids during training and the evaluation written at the end.

The papers' algorithms live in their own modules; this is plumbing only.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from gans_jax import data as gdata
from gans_jax.eval import images as image_eval
from gans_jax.train import config as config_lib


# ----------------------------------------------------------------- config --

def validate_image_data(config: ml_collections.ConfigDict,
                        image_sizes=(8, 16, 28, 32, 64)) -> None:
  name = config_lib.get(config, "data.dataset")
  known = set(gdata.IMAGE_DATASETS)
  config_lib.check(
      isinstance(name, str) and (name in known or name.startswith(("folder:", "tfds:"))),
      "data.dataset", f"unknown dataset {name!r}; valid: {sorted(known)}, "
      "'folder:PATH' or 'tfds:NAME'")
  config_lib.check_choice(config, "data.image_size", image_sizes)
  config_lib.check(
      not config.data.skip_unreadable or name.startswith("folder:"), "data.skip_unreadable",
      f"applies to 'folder:PATH' datasets only, not {name!r}")


def validate_split(config: ml_collections.ConfigDict, field: str) -> None:
  """A held-out split of ``data.dataset``: one of the built-in digits' own,
  or any TFDS split expression or sub-folder (the data layer says, in one
  line, when it selects nothing)."""
  split = config_lib.get(config, field)
  config_lib.check(isinstance(split, str) and split.strip() != "", field,
                   f"must name a split, got {split!r}")
  if config.data.dataset == "digits":
    config_lib.check_choice(config, field, tuple(gdata.DIGITS_SPLITS))


def compute_dtype(config: ml_collections.ConfigDict):
  """``model.dtype`` for the models' ``dtype`` argument (``None`` for float32:
  no casts at all)."""
  import jax.numpy as jnp
  return None if config.model.dtype == "float32" else jnp.dtype(config.model.dtype)


def dtype_name(config: ml_collections.ConfigDict) -> str | None:
  """:func:`compute_dtype` by name, as a generator spec's ``kwargs`` give it."""
  return None if config.model.dtype == "float32" else config.model.dtype


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """``workdir/config.json`` as :func:`gans_jax.train.fit` writes it, for a
  workdir whose training happens in sub-workdirs."""
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
      f.write(config_lib.to_json(config))


# ------------------------------------------------------------------- data --

def image_batches(config: ml_collections.ConfigDict, *,
                  num_microbatches: int = 1) -> gdata.ImageBatches:
  """The training batches described by ``config.data`` and ``config.train``."""
  d = config.data
  source = gdata.make_image_source(
      d.dataset, split="train", data_dir=d.data_dir or None,
      image_size=d.image_size, channels=d.channels,
      skip_unreadable=d.skip_unreadable)
  return gdata.ImageBatches(
      source, batch_size=config.train.batch_size, seed=config.train.seed,
      image_size=d.image_size, channels=d.channels,
      num_microbatches=num_microbatches)


def held_out_images(config: ml_collections.ConfigDict, split: str,
                    limit: int | None = None) -> np.ndarray:
  """The first ``limit`` images of a held-out split, in [-1, 1]."""
  d = config.data
  source = gdata.make_image_source(
      d.dataset, split=split, data_dir=d.data_dir or None,
      image_size=d.image_size, channels=d.channels,
      skip_unreadable=d.skip_unreadable)
  n = len(source) if limit is None else min(limit, len(source))
  return np.stack([gdata.preprocess_image(source[i]["image"],
                                          image_size=d.image_size,
                                          channels=d.channels)
                   for i in range(n)])


def latent(key: jax.Array, batch: int, dim: int, kind: str = "normal") -> jax.Array:
  """Latent codes z: 'normal' N(0, I) or 'uniform' U[-1, 1]^dim."""
  if kind == "uniform":
    return jax.random.uniform(key, (batch, dim), minval=-1.0, maxval=1.0)
  return jax.random.normal(key, (batch, dim))


class ToyPoints:
  """A 2-D toy's batches (:class:`gans_jax.data.ToyBatches`) under the key
  ``"image"``, so that a step written for images trains on points as well."""

  def __init__(self, config: ml_collections.ConfigDict, *, num_microbatches: int = 1):
    self.toy = gdata.ToyBatches(config.data.dataset, batch_size=config.train.batch_size,
                                seed=config.train.seed,
                                num_microbatches=num_microbatches)

  def get_batch(self, step: int) -> dict[str, np.ndarray]:
    return {"image": self.toy.get_batch(step)["x"]}


# --------------------------------------------------------- instance noise --

class InstanceNoise:
  """The run's instance noise (``config.instance_noise``, :mod:`gans_jax.noise`):
  Gaussian noise of std sigma on every input of the discriminator, real and
  generated, in its updates and in the generator's. Sigma is a pure function
  of the discriminator's update counter in the state, so a resumed run
  continues the annealing where it stopped; samples and evaluations never
  see the noise (nothing outside the train step calls this)."""

  def __init__(self, section: ml_collections.ConfigDict):
    self.initial = float(section.std)
    self.anneal_steps = int(section.anneal_steps)
    self.schedule = section.schedule

  def std(self, state) -> jax.Array:
    """Sigma for the next update: the schedule at the discriminator's count."""
    from gans_jax import noise
    return noise.instance_noise_std(
        state.updates["discriminator"], initial=self.initial,
        anneal_steps=self.anneal_steps, schedule=self.schedule)

  def pair(self, real, fake, key: jax.Array, std):
    """Real and generated inputs, each with its own noise."""
    from gans_jax import noise
    return noise.add_instance_noise_to_pair(real, fake, key, std)

  def one(self, x, key: jax.Array, std):
    """One batch of inputs (the generator's fakes) with noise."""
    from gans_jax import noise
    return noise.add_instance_noise(x, key, std)


def instance_noise(config: ml_collections.ConfigDict) -> InstanceNoise | None:
  """:class:`InstanceNoise` of ``config.instance_noise``, or ``None`` when it
  is off (``std = 0`` or no such section): the step is then traced exactly
  as without the switch."""
  section = config.get("instance_noise")
  if section is None or not section.std:
    return None
  return InstanceNoise(section)


# The tag of the instance-noise keys: fold_in(step key, tag) never equals a
# key the steps draw otherwise (they fold in small counters).
INSTANCE_NOISE_TAG = 0x1A5E


# ------------------------------------------------------------------ hooks --

class SampleGrid:
  """Writes a grid of samples from fixed noise every ``every`` steps."""

  def __init__(self, sample_fn: Callable[[Any], jax.Array], workdir: str, *,
               every: int, nrow: int = 8):
    self.sample_fn = sample_fn
    self.every = every
    self.nrow = nrow
    self.directory = os.path.join(workdir, "samples")

  def __call__(self, step: int, state: Any, writer) -> None:
    images = np.asarray(jax.device_get(self.sample_fn(state)))
    if writer.enabled:
      image_eval.save_image_grid(
          os.path.join(self.directory, f"step_{step:07d}.png"), images, nrow=self.nrow)
      grid = image_eval.image_grid(images, self.nrow)
      writer.write_images(step, {"samples": grid if grid.ndim == 3 else grid[..., None]})


def normal_latent_sampler(latent_dim: int, num: int):
  """``sample(state, key)``, jitted: ``num`` samples of the state's sampling
  generator (its EMA where it keeps one) at z ~ N(0, I) of ``latent_dim``."""

  @jax.jit
  def sample(state, key):
    return state.sampling_generator()(jax.random.normal(key, (num, latent_dim)))

  return sample


def sample_in_batches(sample_fn: Callable[[jax.Array], jax.Array], key: jax.Array,
                      num: int, batch: int) -> np.ndarray:
  """Draws ``num`` samples with ``sample_fn(key)`` (``batch`` per call)."""
  out = []
  for i in range(-(-num // batch)):
    out.append(np.asarray(sample_fn(jax.random.fold_in(key, i))))
  return np.concatenate(out)[:num]


# ------------------------------------------------------------- evaluation --

def cache_dir() -> str:
  """``$GANS_JAX_CACHE_DIR``, default ``~/.cache/gans_jax``: the digit
  classifier's weights and the XLA compilation cache live there."""
  return os.environ.get("GANS_JAX_CACHE_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "gans_jax")


def digits_evaluation(config: ml_collections.ConfigDict,
                      samples: np.ndarray) -> dict[str, float]:
  """Classifier Fréchet distance and class spread of generated digits against
  the held-out test split (only for the built-in digits)."""
  if config.data.dataset != "digits":
    return {}
  from gans_jax.eval import classifier as classifier_lib
  classifier = classifier_lib.load_or_train_digit_classifier(
      os.path.join(cache_dir(), "digit_classifier.npz"))
  test, _ = gdata.load_digits_split("test", image_size=config.data.image_size,
                                    channels=config.data.channels)
  return classifier_lib.digit_metrics(classifier, samples, test)


def validate_inception(config: ml_collections.ConfigDict) -> None:
  validate_split(config, "eval.inception_reference")


def inception_evaluation(config: ml_collections.ConfigDict,
                         samples: np.ndarray) -> dict[str, float]:
  """``eval.inception_metrics`` of the samples with the FID Inception network.

  FID, KID and precision/recall compare with ``eval.inception_num_real``
  images of the ``eval.inception_reference`` split, whose statistics are
  cached in the cache directory. Without the network's weights file nothing
  is computed and one line says how to get it.
  """
  names = tuple(config.eval.get("inception_metrics", ()))
  if not names:
    return {}
  from gans_jax.eval import fid
  from gans_jax.eval import inception
  try:
    extractor = inception.InceptionFeatures()
  except inception.InceptionWeightsMissingError as e:
    if jax.process_index() == 0:
      print(f"note: {', '.join(names)} not computed: {e}")
    return {}
  reference = cache = None
  if names != ("is",):
    e, d = config.eval, config.data
    reference = held_out_images(config, e.inception_reference,
                                e.inception_num_real or None)
    name = f"{d.dataset}_{e.inception_reference}_{d.image_size}_{len(reference)}"
    cache = os.path.join(cache_dir(), "inception_reference",
                         name.replace("/", "_").replace(":", "_") + ".npz")
  results = fid.image_quality(samples, reference, metrics=names,
                              extractor=extractor, cache=cache)
  return {f"eval/{k}": v for k, v in results.items()}


def final_samples(config: ml_collections.ConfigDict,
                  sample: Callable[[Any, jax.Array], jax.Array], state) -> np.ndarray:
  """The ``config.eval.num_samples`` samples every experiment evaluates, drawn
  from ``sample(state, key)`` (500 per call) with the run's evaluation key."""
  from gans_jax.train import keys
  return sample_in_batches(lambda key: sample(state, key),
                           keys.make_key(config.train.seed, "eval"),
                           config.eval.num_samples, 500)


def sample_grid_hook(config: ml_collections.ConfigDict,
                     sample: Callable[[Any, jax.Array], jax.Array], workdir: str,
                     *, nrow: int = 8) -> list:
  """A :class:`SampleGrid` of ``sample(state, key)`` with the run's fixed
  sampling key every ``train.sample_every`` steps (none when 0)."""
  from gans_jax.train import keys
  if not config.train.sample_every:
    return []
  fixed_key = keys.make_key(config.train.seed, "sample")
  return [SampleGrid(lambda s: sample(s, fixed_key), workdir,
                     every=config.train.sample_every, nrow=nrow)]


def evaluate_image_samples(config: ml_collections.ConfigDict,
                           sample: Callable[[Any, jax.Array], jax.Array], state,
                           workdir: str, *, step: int | None = None,
                           keep: int | None = 1000) -> dict[str, Any]:
  """The image experiments' final evaluation: ``config.eval.num_samples``
  samples from ``sample(state, key)`` (500 per call), a 10x10 grid in
  ``samples.png``, the digit metrics, the Inception-network metrics named by
  ``eval.inception_metrics``, and results written at ``step`` (default
  ``train.num_steps``) with the first ``keep`` samples (all if None)."""
  samples = final_samples(config, sample, state)
  if jax.process_index() == 0:
    image_eval.save_image_grid(os.path.join(workdir, "samples.png"), samples[:100],
                               nrow=10)
  results = digits_evaluation(config, samples)
  results.update(inception_evaluation(config, samples))
  write_results(workdir, evaluation_step(config, step), results,
                samples if keep is None else samples[:keep])
  return results


def evaluate_toy_samples(config: ml_collections.ConfigDict,
                         sample: Callable[[Any, jax.Array], jax.Array], state,
                         workdir: str, *, step: int | None = None,
                         extra: dict[str, Any] | None = None) -> dict[str, Any]:
  """A 2-D toy's evaluation: ``sample(state, key)`` with the run's evaluation
  key; the modes covered and the share of high-quality samples (within 3
  standard deviations of a mode centre; VEEGAN, PacGAN) where the toy has
  modes; real and generated points in ``toy.png``; recorded at ``step`` with
  the ``extra`` numbers the experiment adds."""
  from gans_jax.eval import plots
  from gans_jax.eval import toy as toy_eval
  from gans_jax.train import keys
  step = evaluation_step(config, step)
  distribution = gdata.get_toy(config.data.dataset)
  generated = np.asarray(sample(state, keys.make_key(config.train.seed, "eval")))
  results = {}
  if distribution.centers is not None:
    modes = toy_eval.mode_metrics(generated, distribution.centers, distribution.std)
    results["eval/modes_covered"] = modes["modes_covered"]
    results["eval/high_quality_fraction"] = modes["high_quality_fraction"]
  if jax.process_index() == 0:
    real = distribution.sample(np.random.default_rng(config.train.seed), 1000)
    plots.plot_toy_2d(os.path.join(workdir, "toy.png"), real, generated[:1000],
                      title=f"{config.get('name', '')}, {step} iterations")
  results.update(extra or {})
  write_results(workdir, step, results, generated)
  return results


def evaluation_step(config: ml_collections.ConfigDict, step: int | None) -> int:
  """The step an evaluation is recorded at: ``step``, or the run's end."""
  return config.train.num_steps if step is None else int(step)


def write_results(workdir: str, step: int, results: dict[str, Any],
                  samples: np.ndarray | None = None, **arrays) -> None:
  """Final numbers to metrics.jsonl (replacing the same evaluation's record
  from an earlier run of this workdir) and results.json; samples to
  samples.npz."""
  from gans_jax.train import writer as writer_lib
  if jax.process_index() != 0:
    return
  writer_lib.replace_results(workdir, step, results)
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump({"step": step, **results}, f, indent=2, sort_keys=True)
  if samples is not None:
    np.savez_compressed(os.path.join(workdir, "samples.npz"), samples=samples, **arrays)
  width = max(len(k) for k in results) if results else 0
  print(f"results at step {step} ({workdir}):")
  for name, value in results.items():
    value = f"{value:.4f}" if isinstance(value, float) else value
    print(f"  {name:<{width}}  {value}")

