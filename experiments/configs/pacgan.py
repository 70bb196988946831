"""Lin et al. 2018, PacGAN (arXiv 1712.04086).

Presets (``--config=experiments/configs/pacgan.py:PRESET``):
  digits          PacDCGAN2 on stacked built-in digits at 8x8 (1,000 modes),
                  no download (default): pacgan.packing = 2
  m1, m3, m4      the same with packing 1 (the DCGAN baseline), 3 and 4
  instance_noise  m = 1 with instance noise (Arjovsky & Bottou 2017):
                  sigma 0.5 annealed linearly to 0 over the first 3/4 of the
                  run, on every input of the discriminator
  unrolled        m = 1, the unrolled GAN (Metz et al. 2016) with K = 5:
                  each generator update on the saddle objective against D
                  5 Adam steps ahead (gan.unrolled_steps)
  ring, ring_pac4 the ring of 8 Gaussians, m = 1 and m = 4 (2-D toy)
  grid, grid_pac4 the grid of 25 Gaussians, m = 1 and m = 4 (PacGAN's
                  toy: G 4x400 ReLU, D 3x200 maxout of 5, Adam 1e-4, beta1
                  0.8, batch 100)
  stacked_mnist   the paper's stacked MNIST (TFDS), m = 2, DCGAN ngf = ndf
                  = 64, 50,000 steps: for an accelerator
  smoke           two steps of a tiny model, for tests
"""

import ml_collections

from experiments.configs import sections
from experiments.configs import stacked
from gans_jax.train import config as config_lib
from gans_jax.train.config import field, positive_int

PRESETS = ("digits", "m1", "m3", "m4", "instance_noise", "unrolled", "ring", "ring_pac4",
           "grid", "grid_pac4", "stacked_mnist", "smoke")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  preset = sections.check_preset(preset or "digits", dict.fromkeys(PRESETS))
  c = stacked.base(f"pacgan_{preset}")
  c.pacgan = config_lib.section(
      # m: samples the discriminator sees at once, concatenated on channels
      packing=field(2, positive_int),
  )
  if preset in ("m1", "instance_noise", "unrolled", "ring", "grid"):
    c.pacgan.packing = 1
  if preset in ("m3", "m4"):
    c.pacgan.packing = int(preset[1])
  if preset == "instance_noise":
    c.instance_noise.update(std=0.5, anneal_steps=c.train.num_steps * 3 // 4)
  if preset == "unrolled":
    c.gan.unrolled_steps = 5
  if preset.startswith(("ring", "grid")):
    stacked.use_toy(c, "8gaussians" if preset.startswith("ring") else "25gaussians")
    if preset.endswith("pac4"):
      c.pacgan.packing = 4
  if preset == "stacked_mnist":
    stacked.use_stacked_mnist(c)
  if preset == "smoke":
    stacked.use_smoke(c)
  return c
