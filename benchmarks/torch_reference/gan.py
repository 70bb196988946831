"""The original GAN's MLPs in eager PyTorch (Goodfellow et al., Algorithm 1).

The networks of ``experiments/gan.py`` (the pylearn2 ``mnist.yaml`` model):
a ReLU generator with a tanh output and a maxout discriminator with dropout
on its input and hidden units. Algorithm 1 with k = 1: a discriminator update
on a real batch and on ``G(z)`` computed without gradients, then a generator
update on fresh noise with the non-saturating loss; Adam for both, uniform
noise on [-1, 1].

References:
  Goodfellow et al., 2014, arXiv 1406.2661; Goodfellow et al., 2013,
  arXiv 1302.4389 (maxout).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Maxout(nn.Module):
  """The maximum of ``pieces`` affine maps per unit (pieces contiguous)."""

  def __init__(self, in_features: int, out_features: int, pieces: int):
    super().__init__()
    self.out_features = out_features
    self.pieces = pieces
    self.linear = nn.Linear(in_features, out_features * pieces)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.linear(x)
    return h.view(x.shape[0], self.out_features, self.pieces).amax(dim=-1)


def generator(latent_dim: int, hidden: Sequence[int], output_dim: int) -> nn.Module:
  layers, width = [], latent_dim
  for h in hidden:
    layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
    width = h
  layers += [nn.Linear(width, output_dim), nn.Tanh()]
  return nn.Sequential(*layers)


def discriminator(input_dim: int, hidden: Sequence[int], pieces: int,
                  dropout: float, input_dropout: float) -> nn.Module:
  layers, width = [nn.Dropout(input_dropout)], input_dim
  for h in hidden:
    layers += [Maxout(width, h, pieces), nn.Dropout(dropout)]
    width = h
  layers.append(nn.Linear(width, 1))
  return nn.Sequential(*layers)


class Reference:
  """One iteration of Algorithm 1 (k = 1) on flattened images."""

  unit = "images"

  def __init__(self, *, image_size: int, channels: int, latent_dim: int,
               g_hidden: Sequence[int], d_hidden: Sequence[int],
               maxout_pieces: int, dropout: float, input_dropout: float,
               batch_size: int, learning_rate: float, b1: float, b2: float,
               seed: int = 0):
    torch.manual_seed(seed)
    dim = image_size * image_size * channels
    self.latent_dim = latent_dim
    self.batch_size = batch_size
    self.generator = generator(latent_dim, g_hidden, dim)
    self.discriminator = discriminator(dim, d_hidden, maxout_pieces, dropout,
                                       input_dropout)
    self.opt_g = torch.optim.Adam(self.generator.parameters(),
                                  lr=learning_rate, betas=(b1, b2))
    self.opt_d = torch.optim.Adam(self.discriminator.parameters(),
                                  lr=learning_rate, betas=(b1, b2))
    self.criterion = nn.BCEWithLogitsLoss()
    self.real = torch.rand(batch_size, dim) * 2 - 1
    self.ones = torch.ones(batch_size, 1)
    self.zeros = torch.zeros(batch_size, 1)

  def _noise(self) -> torch.Tensor:
    return torch.rand(self.batch_size, self.latent_dim) * 2 - 1

  def step(self) -> float:
    d, g = self.discriminator, self.generator
    with torch.no_grad():
      fake = g(self._noise())
    self.opt_d.zero_grad()
    loss_d = (self.criterion(d(self.real), self.ones)
              + self.criterion(d(fake), self.zeros))
    loss_d.backward()
    self.opt_d.step()

    for p in d.parameters():
      p.requires_grad_(False)
    self.opt_g.zero_grad()
    loss_g = self.criterion(d(g(self._noise())), self.ones)
    loss_g.backward()
    self.opt_g.step()
    for p in d.parameters():
      p.requires_grad_(True)
    return loss_g.item()
