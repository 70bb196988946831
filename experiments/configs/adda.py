"""The domain-adaptation experiment (experiments/adda.py): ADDA and DANN.

Presets (``--config=experiments/configs/adda.py:PRESET``):
  hand_to_font  ADDA (Tzeng et al. 2017, arXiv 1702.05464) from the built-in
                handwritten digits (labelled) to the typeset digits
                (unlabelled), LeNet at 16 px, the authors' optimisers,
                steps scaled to 1,297 training images: 1,000 source
                steps and 1,500 adaptation steps of 128 (default)
  font_to_hand  the same, the other way round
  dann          DANN (Ganin et al. 2016, arXiv 1505.07818) on the same
                digits, hand -> font: gradient reversal with the paper's
                lambda_p and learning-rate schedule
  dann_font_to_hand  DANN, font -> hand
  paper         the authors' settings unscaled: LeNet at 28 px, 10,000
                source steps and 10,000 adaptation steps of batch 128
                (for a machine with time; still these digits: MNIST/USPS
                are not offline)
  smoke         two steps of a tiny model, for tests
Each field declares its check beside its default (``field(default,
check)``); ``validate`` in the experiment holds only the rules across fields
(``train.num_steps`` is the sum of the two phases).
"""

import ml_collections

from experiments.configs import sections
from gans_jax.train import config as config_lib
from gans_jax.train.config import (boolean, field, fraction, non_negative,
                                   one_of, positive, positive_int)

PRESETS = ("hand_to_font", "font_to_hand", "dann", "dann_font_to_hand", "paper",
           "smoke")
DIRECTIONS = ("hand_to_font", "font_to_hand")
METHODS = ("adda", "dann")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "hand_to_font", dict.fromkeys(PRESETS))
  c = ml_collections.ConfigDict()
  c.name = f"adda_{preset}"
  c.data = config_lib.section(
      # source -> target: the built-in handwritten digits (gans_jax.data
      # .load_digits_split) and the typeset digits (load_font_digits); the
      # source is labelled, the target's labels serve only the evaluation
      # and the target-supervised upper bound
      direction=field("hand_to_font", one_of(*DIRECTIONS)),
      image_size=field(16, one_of(16, 28, 32)),  # LeNet needs >= 16 px
      font_seed=field(0, config_lib.non_negative_int),  # typeset jitter's seed
  )
  c.model = config_lib.section(
      features=field(500, positive_int),      # LeNet's fc3 (500)
      adversary_hidden=field((500, 500), config_lib.positive_ints),  # 500-500-2
      # the adversary's hidden units: 0 = ReLU (the authors' script passes
      # --adversary_relu); 0.1 = tflearn's leaky ReLU (the code's default)
      adversary_slope=field(0.0, fraction),
  )
  c.adda = config_lib.section(
      method=field("adda", one_of(*METHODS)),   # what the adaptation phase trains
      source_steps=field(1000, positive_int),   # phase 1: source (and target-
                                                # supervised) classifiers; 10,000
      adapt_steps=field(1500, positive_int),    # phase 2: adaptation; 10,000
  )
  c.optim = config_lib.section(
      source_learning_rate=field(1e-3, positive),  # Adam, tools/train.py --lr
      source_b1=field(0.9, fraction),              # TF Adam's default
      adapt_learning_rate=field(2e-4, positive),   # Adam, train_adda.py --lr
      adapt_b1=field(0.5, fraction),               # AdamOptimizer(lr, 0.5)
      # DANN: SGD with momentum, mu_p = mu_0 / (1 + alpha p)^beta
      dann_learning_rate=field(0.01, positive),    # mu_0 (0.01)
      dann_momentum=field(0.9, fraction),          # 0.9
      dann_alpha=field(10.0, non_negative),        # alpha (10)
      dann_beta=field(0.75, non_negative),         # beta (0.75)
      dann_gamma=field(10.0, non_negative),        # lambda_p's gamma (10)
  )
  c.train = config_lib.train_defaults(
      num_steps=2500, batch_size=128, log_every=100, checkpoint_every=500,
      sample_every=0, steps_per_call=1)   # convolutions: 1 (see train_defaults)
  c.eval = config_lib.section(
      num_examples=field(300, positive_int),  # target test images scored
                                              # (the test split has 300)
      figure=field(True, boolean),            # features_pca.png at the end
  )
  if preset in ("font_to_hand", "dann_font_to_hand"):
    c.data.direction = "font_to_hand"
  if preset.startswith("dann"):
    c.adda.method = "dann"
  if preset == "paper":
    c.data.image_size = 28
    c.adda.update(source_steps=10000, adapt_steps=10000)
    c.train.update(num_steps=20000, log_every=100, checkpoint_every=5000)
  if preset == "smoke":
    c.data.image_size = 16
    c.model.update(features=8, adversary_hidden=(8,))
    c.adda.update(source_steps=1, adapt_steps=1)
    c.train.update(num_steps=2, batch_size=8, log_every=1, checkpoint_every=2)
    c.eval.update(num_examples=20, figure=False)
  return c
