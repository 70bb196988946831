"""WGAN-GP on a 2-D toy in eager PyTorch, as the PyTorch ports of gan_toy.py.

Generator and critic are MLPs of ``depth`` ReLU layers of ``width`` units
(2-D noise, 2-D output, one raw score). Each generator iteration runs
n_critic critic updates, each on its own real minibatch and fresh noise,
minimising

.. math::
  L = \\mathbb{E}[D(G(z))] - \\mathbb{E}[D(x)]
      + \\lambda\\, \\mathbb{E}[(\\lVert \\nabla_{\\hat x} D(\\hat x) \\rVert_2 - 1)^2],

with the input gradient from ``torch.autograd.grad(create_graph=True)`` at
random interpolates; then one generator update minimising
:math:`-\\mathbb{E}[D(G(z))]` with the critic frozen. Adam for both. Options
match the ``quickstart`` preset: a linear learning-rate decay to 0 and an
exponential moving average of the generator's weights.

References:
  Gulrajani et al., 2017, arXiv 1704.00028.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, width: int, depth: int, out_dim: int) -> nn.Module:
  layers, d = [], in_dim
  for _ in range(depth):
    layers += [nn.Linear(d, width), nn.ReLU(inplace=True)]
    d = width
  layers.append(nn.Linear(d, out_dim))
  return nn.Sequential(*layers)


class Reference:
  """One generator iteration of WGAN-GP's Algorithm 1 on 2-D points."""

  unit = "points"

  def __init__(self, *, real: torch.Tensor, latent_dim: int, width: int,
               depth: int, gp_weight: float, learning_rate: float, b1: float,
               b2: float, linear_decay_steps: int = 0, ema_decay: float = 0.0,
               seed: int = 0):
    """Builds both networks.

    Args:
      real: the n_critic real minibatches, shape (n_critic, B, 2).
      latent_dim: noise dimension.
      width: hidden units per layer.
      depth: hidden layers of each MLP.
      gp_weight: lambda.
      learning_rate: Adam's step size.
      b1: Adam's beta1.
      b2: Adam's beta2.
      linear_decay_steps: generator iterations over which the learning rate
        decays linearly to 0 (0: constant).
      ema_decay: decay of the generator's weight average (0: none).
      seed: torch seed.
    """
    torch.manual_seed(seed)
    self.real = real
    self.latent_dim = latent_dim
    self.gp_weight = gp_weight
    self.ema_decay = ema_decay
    dim = real.shape[-1]
    self.generator = mlp(latent_dim, width, depth, dim)
    self.critic = mlp(dim, width, depth, 1)
    self.opt_g = torch.optim.Adam(self.generator.parameters(),
                                  lr=learning_rate, betas=(b1, b2))
    self.opt_d = torch.optim.Adam(self.critic.parameters(),
                                  lr=learning_rate, betas=(b1, b2))
    self.schedulers = []
    if linear_decay_steps:
      n_critic = real.shape[0]
      for opt, total in ((self.opt_g, linear_decay_steps),
                         (self.opt_d, linear_decay_steps * n_critic)):
        self.schedulers.append(torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i, total=total: max(0.0, 1.0 - i / total)))
    self.ema = ([p.detach().clone() for p in self.generator.parameters()]
                if ema_decay else None)

  def _penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    eps = torch.rand(real.shape[0], 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = self.critic(x_hat)
    grads, = torch.autograd.grad(scores, x_hat,
                                 grad_outputs=torch.ones_like(scores),
                                 create_graph=True)
    return ((grads.norm(2, dim=1) - 1) ** 2).mean()

  def step(self) -> float:
    d, g = self.critic, self.generator
    batch = self.real.shape[1]
    for p in d.parameters():
      p.requires_grad_(True)
    for real in self.real:
      self.opt_d.zero_grad()
      with torch.no_grad():
        fake = g(torch.randn(batch, self.latent_dim))
      loss_d = (d(fake).mean() - d(real).mean()
                + self.gp_weight * self._penalty(real, fake))
      loss_d.backward()
      self.opt_d.step()
      if self.schedulers:
        self.schedulers[1].step()

    for p in d.parameters():
      p.requires_grad_(False)
    self.opt_g.zero_grad()
    loss_g = -d(g(torch.randn(batch, self.latent_dim))).mean()
    loss_g.backward()
    self.opt_g.step()
    if self.schedulers:
      self.schedulers[0].step()
    if self.ema is not None:
      with torch.no_grad():
        for average, p in zip(self.ema, g.parameters()):
          average.mul_(self.ema_decay).add_(p, alpha=1 - self.ema_decay)
    return loss_g.item()
