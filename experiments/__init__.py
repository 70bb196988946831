"""The papers as runnable experiments, each meeting the contract of
:mod:`gans_jax.train.experiment` (``experiments/template.py`` is one to copy).

``python experiments/<paper>.py --help`` lists a paper's presets and flags.
"""

# Every module here is one of these: a paper's experiment (with its config in
# configs/<name>.py), or code the experiments share. The tests fail when a
# module is in neither, so a new experiment cannot be missed.
EXPERIMENTS = ("gan", "dcgan", "wgan", "wgan_gp", "fgan", "pix2pix", "cyclegan",
               "progan", "template", "improved_gan", "unrolled_gan", "vae", "adda",
               "seqgan", "text_gan", "pacgan", "lsgan", "ebgan", "srgan",
               "architecture_grid")
SHARED = ("common", "translation", "stacked")
