"""WGAN in eager PyTorch, written as martinarjovsky/WassersteinGAN's main.py.

The DCGAN generator and critic of ``torch_reference.dcgan`` (BatchNorm in the
critic, as the official code keeps it; raw scores, no sigmoid), RMSProp with
lr 5e-5 for both, every critic parameter clipped to [-c, c] around each critic
update, and n_critic critic updates (each on its own real minibatch) per
generator update, with the critic's parameters frozen during the generator's
backward pass as the official code does. The benchmark measures the steady
state (n_critic = 5), not the 100-update warm-up iterations.

References:
  Arjovsky, Chintala & Bottou, 2017, arXiv 1701.07875.
"""

from __future__ import annotations

import torch

from . import dcgan


class Reference:
  """One generator iteration of Algorithm 1 (n_critic clipped critic updates)."""

  unit = "images"

  def __init__(self, *, image_size: int, channels: int, features: int,
               latent_dim: int, batch_size: int, n_critic: int, clip: float,
               learning_rate: float, alpha: float, eps: float,
               generator_batch_norm: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    self.latent_dim = latent_dim
    self.batch_size = batch_size
    self.clip = clip
    self.generator = dcgan.Generator(
        latent_dim=latent_dim, image_size=image_size, channels=channels,
        features=features, batch_norm=generator_batch_norm)
    self.critic = dcgan.Discriminator(image_size=image_size, channels=channels,
                                      features=features)
    self.opt_g = torch.optim.RMSprop(self.generator.parameters(),
                                     lr=learning_rate, alpha=alpha, eps=eps)
    self.opt_d = torch.optim.RMSprop(self.critic.parameters(),
                                     lr=learning_rate, alpha=alpha, eps=eps)
    self.real = [torch.rand(batch_size, channels, image_size, image_size) * 2 - 1
                 for _ in range(n_critic)]

  def _noise(self) -> torch.Tensor:
    return torch.randn(self.batch_size, self.latent_dim, 1, 1)

  def step(self) -> float:
    d, g = self.critic, self.generator
    for p in d.parameters():
      p.requires_grad_(True)
    for real in self.real:
      self.opt_d.zero_grad()
      with torch.no_grad():
        fake = g(self._noise())
      loss_d = d(fake).mean() - d(real).mean()
      loss_d.backward()
      self.opt_d.step()
      with torch.no_grad():
        for p in d.parameters():
          p.clamp_(-self.clip, self.clip)

    for p in d.parameters():
      p.requires_grad_(False)
    self.opt_g.zero_grad()
    loss_g = -d(g(self._noise())).mean()
    loss_g.backward()
    self.opt_g.step()
    return loss_g.item()
