"""DCGAN in eager PyTorch, written as pytorch/examples' ``dcgan/main.py`` does.

The networks have the layout of ``gans_jax.nn.DCGANGenerator`` and
``DCGANDiscriminator`` (the same layers, widths, BatchNorm placement and
biases), the loss is the original GAN's with the non-saturating generator
objective, and both networks use Adam (lr 2e-4, betas (0.5, 0.999)).

One step, as in pytorch/examples: the discriminator's gradient from a real
batch and from ``G(z).detach()``, an Adam step; then the generator's gradient
of ``BCE(D(G(z)), 1)`` through the *same* fake batch, an Adam step. (The
gans_jax step draws fresh noise for the generator update, as Algorithm 1 of
Goodfellow et al. does, which costs one more generator forward pass; the
reference is therefore the cheaper of the two.)

References:
  Radford et al., 2015, arXiv 1511.06434; Goodfellow et al., 2014,
  arXiv 1406.2661.
"""

from __future__ import annotations

import torch
from torch import nn

_LEVELS = {32: 3, 64: 4}


def _init_dcgan(module: nn.Module) -> None:
  # pytorch/examples' weights_init: conv N(0, 0.02), BatchNorm scale N(1, 0.02).
  if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
    nn.init.normal_(module.weight, 0.0, 0.02)
    if module.bias is not None:
      nn.init.zeros_(module.bias)
  elif isinstance(module, nn.BatchNorm2d):
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


class Generator(nn.Module):
  """z (B, nz, 1, 1) → images (B, C, S, S) in [-1, 1]."""

  def __init__(self, *, latent_dim: int, image_size: int, channels: int,
               features: int, batch_norm: bool = True):
    super().__init__()
    levels = _LEVELS[image_size]
    widths = [features * 2 ** (levels - 1 - i) for i in range(levels)]
    widths.append(channels)
    layers = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0,
                                 bias=not batch_norm)]
    for i in range(levels):
      if batch_norm:
        layers.append(nn.BatchNorm2d(widths[i]))
      layers.append(nn.ReLU(inplace=True))
      layers.append(nn.ConvTranspose2d(
          widths[i], widths[i + 1], 4, 2, 1,
          bias=not batch_norm or i == levels - 1))
    layers.append(nn.Tanh())
    self.main = nn.Sequential(*layers)
    self.apply(_init_dcgan)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    return self.main(z)


class Discriminator(nn.Module):
  """Images (B, C, S, S) → logits (B,)."""

  def __init__(self, *, image_size: int, channels: int, features: int,
               batch_norm: bool = True):
    super().__init__()
    levels = _LEVELS[image_size]
    widths = [channels] + [features * 2 ** i for i in range(levels)]
    layers = []
    for i in range(levels):
      layers.append(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1,
                              bias=i == 0 or not batch_norm))
      if i > 0 and batch_norm:
        layers.append(nn.BatchNorm2d(widths[i + 1]))
      layers.append(nn.LeakyReLU(0.2, inplace=True))
    layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0))
    self.main = nn.Sequential(*layers)
    self.apply(_init_dcgan)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.main(x).view(-1)


class Reference:
  """One DCGAN training iteration (pytorch/examples' loop body)."""

  unit = "images"

  def __init__(self, *, image_size: int, channels: int, features: int,
               latent_dim: int, batch_size: int, learning_rate: float = 2e-4,
               b1: float = 0.5, b2: float = 0.999, seed: int = 0):
    torch.manual_seed(seed)
    self.latent_dim = latent_dim
    self.batch_size = batch_size
    self.generator = Generator(latent_dim=latent_dim, image_size=image_size,
                               channels=channels, features=features)
    self.discriminator = Discriminator(image_size=image_size,
                                       channels=channels, features=features)
    self.opt_g = torch.optim.Adam(self.generator.parameters(),
                                  lr=learning_rate, betas=(b1, b2))
    self.opt_d = torch.optim.Adam(self.discriminator.parameters(),
                                  lr=learning_rate, betas=(b1, b2))
    self.criterion = nn.BCEWithLogitsLoss()
    self.real = torch.rand(batch_size, channels, image_size, image_size) * 2 - 1
    self.ones = torch.ones(batch_size)
    self.zeros = torch.zeros(batch_size)

  def step(self) -> float:
    """One discriminator update and one generator update; returns the G loss."""
    d, g = self.discriminator, self.generator
    d.zero_grad()
    loss_real = self.criterion(d(self.real), self.ones)
    loss_real.backward()
    fake = g(torch.randn(self.batch_size, self.latent_dim, 1, 1))
    loss_fake = self.criterion(d(fake.detach()), self.zeros)
    loss_fake.backward()
    self.opt_d.step()

    g.zero_grad()
    loss_g = self.criterion(d(fake), self.ones)
    loss_g.backward()
    self.opt_g.step()
    return loss_g.item()
