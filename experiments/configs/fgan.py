"""Nowozin, Cseke & Tomioka 2016, f-GAN (arXiv 1606.00709).

Presets (``--config=experiments/configs/fgan.py:PRESET``):
  mixture   Section 4 (default): a single Gaussian fitted to a 1-D mixture of
            two Gaussians with every divergence, the best fits by quadrature
            and the train \\ test table
  kl, reverse_kl, pearson, neyman, squared_hellinger (alias hellinger),
  jeffrey, jensen_shannon, gan, total_variation
            Section 5's MNIST setup with that divergence, on the built-in
            digits at 16x16 (no download)
  mnist     Section 5 on MNIST 28x28 from TFDS, with the GAN divergence;
            ``--config.fgan.divergence=NAME`` picks another
  smoke, smoke_images  two steps of tiny models, for tests

Mixture (Section 4): the paper shows the mixture only in a figure. We use
0.33 N(-1, 0.255^2) + 0.67 N(2, 1.415^2), found by asking quadrature best fits
to reproduce the best fits theta* = (mu*, sigma*) of the paper's Table 3 for
KL, reverse KL, JS, Jeffrey and Pearson: with it all ten numbers agree to
within 3e-4. The model is mu + sigma z with z ~ N(0, 1), started at (0, 1);
the critic has two hidden layers of 64 tanh units; the single-step gradient
method (Algorithm 1) with batch 1024, as in the paper. Deviation: the paper's
step size is 0.01 (Algorithm 1 writes plain gradient steps) and it does not
give its number of steps; with plain steps of 0.01 our JS and Jeffrey fits
were still drifting after 20,000 steps (0.03 from theta*), so both players
use Adam at 1e-3, cosine-decayed to 0 over 20,000 steps, which settles in
about 5,000 (``--config.optim.name=sgd --config.optim.learning_rate=0.01
--config.optim.schedule=constant`` gives the paper's plain steps).

Total variation: its output activation g_f(v) = tanh(v)/2 is bounded on both
sides, and the variational bound is reached only in the limit |V| -> infinity
(T* = sign(p - q)/2). Left alone, the critic drives V into tanh's flat tails,
its gradients vanish, and the game stalls: in our runs theta was 0.67 from
theta* with F = 0 after 2,500 steps. Deviation: the critic's loss gets a small
penalty on its raw outputs, (lambda/2)(E_P[V^2] + E_Q[V^2]) with lambda = 1e-3
for total variation only (``fgan.output_penalty.<divergence>``; 0 turns it
off), which keeps V finite; the fit then lands within 0.01 of theta*. The
logged objective F excludes the penalty.

The train \\ test table re-trains one critic per entry for 16,000 Adam
steps. Our critic (bounded tanh features, linear output) underestimates
divergences with unbounded T* = f'(p/q) in the tails of Q, the more so the
wider Q; in the Jeffrey column the Jeffrey, squared Hellinger and JS rows are
within 0.003 of each other, and 2,000 steps left enough of that bias to
reorder them.

Images (Section 5): uniform noise of dimension 100, an MLP generator, an MLP
critic with ELU (three linear layers), Adam 2e-4 with beta1 = 0.5, the
single-step method and the alternative generator objective of Section 3.2.
Deviations: the layer widths (1200/1200 generator, 240/240 critic) follow
Goodfellow et al.'s MNIST nets because the paper does not list them; the
generator has no BatchNorm (the library's MLP generator has none) and a tanh
output for data in [-1, 1] (the paper: sigmoid on [0, 1]); batch 64 on the
1,500 digits, 4096 on MNIST (as we read the paper).
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, finite, fraction, one_of, positive,
                                   positive_int, positive_ints, tuple_of)

# The divergences of Tables 1-2, those of the paper's Table 3 first.
DIVERGENCES = ("kl", "reverse_kl", "jensen_shannon", "jeffrey", "pearson",
               "neyman", "squared_hellinger", "gan", "total_variation")
# The columns of the paper's train \ test table (Table 3, right).
# A check: distinct names among DIVERGENCES, at least one.
DIVERGENCE_NAMES = tuple_of(one_of(*DIVERGENCES), distinct=True, min_size=1)
PAPER_TABLE = ("kl", "reverse_kl", "jensen_shannon", "jeffrey", "pearson")
ALIASES = {"hellinger": "squared_hellinger"}
PRESETS = ("mixture", *DIVERGENCES, *ALIASES, "mnist", "smoke", "smoke_images")


def output_penalty() -> ml_collections.ConfigDict:
  """lambda of the critic's output penalty, per divergence (see above)."""
  weights = dict.fromkeys(DIVERGENCES, 0.0)
  weights["total_variation"] = 1e-3
  return ml_collections.ConfigDict(weights)


def mixture_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = "fgan_mixture"
  c.data = config_lib.section(
      dataset="fgan_mixture",        # the 1-D mixture of Section 4
      weights=(0.33, 0.67),          # mixture weights
      means=(-1.0, 2.0),             # component means
      stds=(0.255, 1.415),           # component standard deviations
  )
  c.model = config_lib.section(
      init_mean=field(0.0, finite),  # mu at the start
      init_std=field(1.0, positive),  # sigma at the start
      critic_hidden=field((64, 64), positive_ints),  # two hidden layers of 64 units ...
      critic_activation="tanh",      # ... with tanh
      dtype=sections.dtype(),        # compute dtype: 'float32' or 'bfloat16'
  )
  c.fgan = config_lib.section(
      divergences=field(DIVERGENCES, DIVERGENCE_NAMES),  # one training run per divergence
      # Algorithm 1, or 'alternating'
      scheme=field("single_step", one_of("single_step", "alternating")),
      generator_trick=field(False, boolean),  # Section 3.2's alternative G objective
      output_penalty=output_penalty(),  # lambda per divergence (see above)
  )
  c.optim = config_lib.section(
      name=field("adam", one_of("adam", "sgd")),  # 'adam', or 'sgd': plain gradient steps
      learning_rate=field(1e-3, positive),  # both players (the paper: 0.01, see above)
      # decayed to 0 over the run, or 'constant'
      schedule=field("cosine", one_of("constant", "cosine")),
      b1=field(0.9, fraction), b2=field(0.999, fraction),  # Adam's betas
  )
  c.train = config_lib.train_defaults(
      num_steps=20000, batch_size=1024, log_every=500, checkpoint_every=20000,
      sample_every=0, steps_per_call=500)
  c.eval = config_lib.section(
      # columns of the train \ test table
      test_divergences=field(PAPER_TABLE, DIVERGENCE_NAMES),
      critic_steps=field(16000, positive_int),  # Adam steps re-training each critic
      critic_learning_rate=field(1e-2, positive),  # its step size (cosine-decayed to 0)
      critic_batch_size=field(1024, positive_int),  # samples of P and of Q per step
      num_critics=field(1, positive_int),  # independently initialised critics, averaged
      # samples of P and Q for the final estimate
      num_estimate_samples=field(262144, positive_int),
      # trapezoid grid for the exact divergences
      quadrature_points=field(4001, positive_int),
      theta_tolerance=field(0.15, positive),  # |theta_hat - theta*| deemed a match
  )
  return c


def image_config(divergence: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = f"fgan_{divergence}"
  c.data = sections.data_defaults(dataset="digits", image_size=16, channels=1)
  c.model = config_lib.section(
      latent_dim=field(100, positive_int),  # z dimension ...
      noise=field("uniform", one_of("uniform", "normal")),  # ... uniform on [-1, 1]
      g_hidden=field((1200, 1200), positive_ints),  # ReLU layers of the generator
      critic_hidden=field((240, 240), positive_ints),  # ELU layers of the critic
      critic_activation="elu",       # the paper's exponential linear units
      conditional=False,             # unconditional (read by the Parzen sampler)
      dtype=sections.dtype(),        # compute dtype: 'float32' or 'bfloat16'
  )
  c.fgan = config_lib.section(
      divergence=field(divergence, one_of(*DIVERGENCES)),  # a name from Tables 1-2
      # Algorithm 1, or 'alternating'
      scheme=field("single_step", one_of("single_step", "alternating")),
      generator_trick=field(True, boolean),  # Section 3.2: maximise E_Q[g_f(V(G(z)))]
      output_penalty=output_penalty(),  # lambda per divergence (see above)
  )
  c.optim = config_lib.section(
      name=field("adam", one_of("adam", "sgd")), learning_rate=field(2e-4, positive),
      schedule=field("constant", one_of("constant", "cosine")),
      b1=field(0.5, fraction), b2=field(0.999, fraction))
  c.train = config_lib.train_defaults(
      num_steps=3000, batch_size=64, log_every=100, checkpoint_every=1000,
      sample_every=1000)
  c.eval = config_lib.section(
      num_samples=field(10000, positive_int),  # generated samples for the Parzen estimate
      num_validation=field(1000, positive_int),  # validation examples that choose sigma
      validation_split="validation", # where they come from
      num_test=field(10000, positive_int),  # test examples scored (capped by the split)
  )
  return c


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "mixture", dict.fromkeys(PRESETS))
  if preset in ("mixture", "smoke"):
    c = mixture_config()
    if preset == "smoke":
      c.name = "fgan_smoke"
      c.model.critic_hidden = (8,)
      c.fgan.divergences = ("kl", "reverse_kl")
      c.train.update(num_steps=2, batch_size=16, log_every=1,
                     checkpoint_every=2, steps_per_call=1)
      c.eval.update(test_divergences=("kl", "reverse_kl"), critic_steps=2,
                    critic_batch_size=16, num_critics=1,
                    num_estimate_samples=64, quadrature_points=201)
    return c
  if preset in ("mnist", "smoke_images"):
    c = image_config("gan")
    if preset == "mnist":
      c.name = "fgan_mnist"
      c.data.update(dataset="mnist", image_size=28)
      c.train.update(num_steps=20000, batch_size=4096, checkpoint_every=2000,
                     sample_every=2000)
      c.eval.validation_split = "train[50000:60000]"
    else:
      c.name = "fgan_smoke_images"
      c.fgan.divergence = "kl"
      c.model.update(latent_dim=8, g_hidden=(16,), critic_hidden=(16,))
      c.train.update(num_steps=2, batch_size=8, log_every=1,
                     checkpoint_every=2, sample_every=0)
      c.eval.update(num_samples=64, num_validation=32, num_test=32)
    return c
  return image_config(ALIASES.get(preset, preset))
