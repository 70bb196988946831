"""f-GAN's Section 4 experiment in eager PyTorch: a Gaussian fitted to a 1-D mixture.

The model is :math:`G_\\theta(z) = \\mu + \\sigma z`; the variational function
:math:`V_\\omega` an MLP with two tanh layers of 64 units. One step of the
single-step gradient method (Algorithm 1) computes the variational objective

.. math::
  F(\\theta, \\omega) = \\mathbb{E}_P[g_f(V_\\omega(x))]
      - \\mathbb{E}_{z}[f^*(g_f(V_\\omega(G_\\theta(z))))]

on one minibatch, backpropagates it once, and takes an optimiser step (plain
gradient steps as Algorithm 1 writes them, or Adam) up in :math:`\\omega` and
down in :math:`\\theta`.

References:
  Nowozin, Cseke & Tomioka, 2016, arXiv 1606.00709.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# (output activation g_f, conjugate of the activation f*(g_f(v))), Table 2.
DIVERGENCES = {
    "kl": (lambda v: v, lambda v: torch.exp(v - 1.0)),
    "reverse_kl": (lambda v: -torch.exp(-v), lambda v: v - 1.0),
    "pearson": (lambda v: v, lambda v: 0.25 * v * v + v),
    "gan": (lambda v: -nn.functional.softplus(-v),
            lambda v: nn.functional.softplus(v)),
}


class Reference:
  """One single-step f-GAN update of (mu, sigma) and the critic."""

  unit = "points"

  def __init__(self, *, real: torch.Tensor, divergence: str,
               hidden: Sequence[int], optimizer: str, learning_rate: float,
               b1: float = 0.9, b2: float = 0.999, init_mean: float = 0.0, init_std: float = 1.0, seed: int = 0):
    torch.manual_seed(seed)
    if divergence not in DIVERGENCES:
      raise ValueError(f"no torch reference for divergence {divergence!r}; "
                       f"have {sorted(DIVERGENCES)}")
    self.activation, self.conjugate = DIVERGENCES[divergence]
    self.real = real
    self.mean = nn.Parameter(torch.tensor(init_mean))
    self.std = nn.Parameter(torch.tensor(init_std))
    layers, width = [], real.shape[-1]
    for h in hidden:
      layers += [nn.Linear(width, h), nn.Tanh()]
      width = h
    layers.append(nn.Linear(width, 1))
    self.critic = nn.Sequential(*layers)
    if optimizer == "sgd":
      make = lambda params: torch.optim.SGD(params, lr=learning_rate)
    elif optimizer == "adam":
      make = lambda params: torch.optim.Adam(params, lr=learning_rate,
                                             betas=(b1, b2))
    else:
      raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    self.opt_g = make([self.mean, self.std])
    self.opt_d = make(self.critic.parameters())

  def step(self) -> float:
    self.opt_g.zero_grad()
    self.opt_d.zero_grad()
    fake = self.mean + self.std * torch.randn_like(self.real)
    objective = (self.activation(self.critic(self.real)).mean()
                 - self.conjugate(self.critic(fake)).mean())
    # The critic ascends F: descend -F. The generator descends F: flip back.
    (-objective).backward()
    self.mean.grad.neg_()
    self.std.grad.neg_()
    self.opt_d.step()
    self.opt_g.step()
    return objective.item()
