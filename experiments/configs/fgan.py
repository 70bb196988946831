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

# The divergences of Tables 1-2, those of the paper's Table 3 first.
DIVERGENCES = ("kl", "reverse_kl", "jensen_shannon", "jeffrey", "pearson",
               "neyman", "squared_hellinger", "gan", "total_variation")
# The columns of the paper's train \ test table (Table 3, right).
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
      init_mean=0.0,                 # mu at the start
      init_std=1.0,                  # sigma at the start
      critic_hidden=(64, 64),        # two hidden layers of 64 units ...
      critic_activation="tanh",      # ... with tanh
      dtype=sections.dtype(),        # compute dtype: 'float32' or 'bfloat16'
  )
  c.fgan = config_lib.section(
      divergences=DIVERGENCES,       # one training run per divergence
      scheme="single_step",          # Algorithm 1, or 'alternating'
      generator_trick=False,         # Section 3.2's alternative G objective
      output_penalty=output_penalty(),  # lambda per divergence (see above)
  )
  c.optim = config_lib.section(
      name="adam",                   # 'adam', or 'sgd': plain gradient steps
      learning_rate=1e-3,            # both players (the paper: 0.01, see above)
      schedule="cosine",             # decayed to 0 over the run, or 'constant'
      b1=0.9, b2=0.999,              # Adam's betas
  )
  c.train = config_lib.train_defaults(
      num_steps=20000, batch_size=1024, log_every=500, checkpoint_every=20000,
      sample_every=0, steps_per_call=500)
  c.eval = config_lib.section(
      test_divergences=PAPER_TABLE,  # columns of the train \ test table
      critic_steps=16000,            # Adam steps re-training each critic
      critic_learning_rate=1e-2,     # its step size (cosine-decayed to 0)
      critic_batch_size=1024,        # samples of P and of Q per step
      num_critics=1,                 # independently initialised critics, averaged
      num_estimate_samples=262144,   # samples of P and Q for the final estimate
      quadrature_points=4001,        # trapezoid grid for the exact divergences
      theta_tolerance=0.15,          # |theta_hat - theta*| deemed a match
  )
  return c


def image_config(divergence: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = f"fgan_{divergence}"
  c.data = sections.data_defaults(dataset="digits", image_size=16, channels=1)
  c.model = config_lib.section(
      latent_dim=100,                # z dimension ...
      noise="uniform",               # ... uniform on [-1, 1]
      g_hidden=(1200, 1200),         # ReLU layers of the generator
      critic_hidden=(240, 240),      # ELU layers of the critic
      critic_activation="elu",       # the paper's exponential linear units
      conditional=False,             # unconditional (read by the Parzen sampler)
      dtype=sections.dtype(),        # compute dtype: 'float32' or 'bfloat16'
  )
  c.fgan = config_lib.section(
      divergence=divergence,         # a name from Tables 1-2
      scheme="single_step",          # Algorithm 1, or 'alternating'
      generator_trick=True,          # Section 3.2: maximise E_Q[g_f(V(G(z)))]
      output_penalty=output_penalty(),  # lambda per divergence (see above)
  )
  c.optim = config_lib.section(
      name="adam", learning_rate=2e-4, schedule="constant", b1=0.5, b2=0.999)
  c.train = config_lib.train_defaults(
      num_steps=3000, batch_size=64, log_every=100, checkpoint_every=1000,
      sample_every=1000)
  c.eval = config_lib.section(
      num_samples=10000,             # generated samples for the Parzen estimate
      num_validation=1000,           # validation examples that choose sigma
      validation_split="validation", # where they come from
      num_test=10000,                # test examples scored (capped by the split)
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
