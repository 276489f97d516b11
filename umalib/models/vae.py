"""The purifier's model: a small convolutional VAE (paper Appendix A.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvVAE"]


class ConvVAE(nn.Module):
    """Two stride-2 convs -> Gaussian latent -> two stride-2 transposed convs.

    Works for any (C, H, W) with H and W divisible by 4 (1x28x28 Fashion-MNIST, 3x32x32 CIFAR).
    Inputs and reconstructions are in [0, 1]; no normalisation layers, so train and eval modes
    compute the same function.

    Args:
        in_channels / image_size: the data's C and H (= W).
        latent: latent dimensions.
        width: channels of the first conv (the second has 2 * width).
    """

    def __init__(self, in_channels: int, image_size: int, latent: int = 32, width: int = 32) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        self.in_channels, self.image_size, self.latent, self.width = in_channels, image_size, latent, width
        s = image_size // 4
        self._grid = (2 * width, s, s)
        flat = 2 * width * s * s
        self.enc = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten())
        self.mu = nn.Linear(flat, latent)
        self.logvar = nn.Linear(flat, latent)
        self.dec_in = nn.Linear(latent, flat)
        self.dec = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(width, in_channels, 4, 2, 1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (N, latent), of images (N, C, H, W) in [0, 1]."""
        h = self.enc(x)
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (N, C, H, W) of the reconstruction of latents z (N, latent)."""
        return self.dec(self.dec_in(z).view(-1, *self._grid))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction sigmoid(decode(mu(x))) in [0, 1], same shape as x.

        The posterior MEAN is used (no sampling), so the purifier is a fixed differentiable
        function and an aware attacker's gradients are well defined."""
        return torch.sigmoid(self.decode_logits(self.encode(x)[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def loss(self, x: torch.Tensor, beta: float, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Negative beta-ELBO per image, batch-averaged: (total, reconstruction BCE summed over
        pixels, KL to N(0, I)); one reparameterised sample."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device) if generator is not None \
            else torch.randn_like(mu)
        z = mu + (0.5 * logvar).exp() * eps
        rec = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
        return rec + beta * kl, rec, kl
