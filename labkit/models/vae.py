"""Variational autoencoders for 28x28 digits: an MLP and a convolutional one.

The decoder returns Bernoulli *logits*: ``torch.sigmoid(decode(z))`` are the pixel means, and the
reconstruction term of the ELBO is binary cross-entropy with logits (see :mod:`labkit.elbo`).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from labkit.arguments import check_positive_int
from labkit.models.placement import place

VAE_KINDS = ("mlp", "conv")


class VAE(nn.Module):
    """An encoder q(z|x) = N(mu, diag exp(logvar)) and a Bernoulli decoder p(x|z)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder, self.decoder, self.latent_dim = encoder, decoder, latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and log-variance of q(z|x), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of the pixels, (N, C, H, W)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, mu, logvar) with z = mu + exp(logvar / 2) * eps drawn afresh (train and eval mode)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel means decoded from the posterior mean: sigmoid(decode(mu))."""
        return torch.sigmoid(self.decode(self.encode(x)[0]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixel means of ``n`` images decoded from z ~ N(0, I)."""
        check_positive_int(n, "n")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=generator.device if generator else device)
        return torch.sigmoid(self.decode(z.to(device)))


def _mlp_parts(latent_dim: int, hidden: int, pixels: int, shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
    decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, pixels), nn.Unflatten(1, shape))
    return encoder, decoder


def _conv_parts(latent_dim: int, hidden: int, channels: Sequence[int], shape: tuple[int, int, int]
                ) -> tuple[nn.Module, nn.Module]:
    c_in, side = shape[0], shape[1] // 4
    c1, c2 = channels
    encoder = nn.Sequential(
        nn.Conv2d(c_in, c1, 4, stride=2, padding=1), nn.ReLU(),          # side/2
        nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),            # side/4
        nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
    decoder = nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, c2 * side * side), nn.ReLU(),
        nn.Unflatten(1, (c2, side, side)),
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),   # side/2
        nn.ConvTranspose2d(c1, c_in, 4, stride=2, padding=1))            # side: logits
    return encoder, decoder


def vae(kind: str = "mlp", latent_dim: int = 20, hidden: int = 400, channels: Sequence[int] = (32, 64),
        image_size: int = 28, in_channels: int = 1, device: str | torch.device | None = None) -> VAE:
    """A VAE for (N, in_channels, image_size, image_size) images in [0, 1].

    kind "mlp": pixels-hidden-2*latent encoder and latent-hidden-pixels decoder (ReLU), the
    pytorch/examples shape with the defaults. kind "conv": two stride-2 4x4 convolutions, then
    ``hidden`` units, mirrored with transposed convolutions (``image_size`` divisible by 4).
    """
    if kind not in VAE_KINDS:
        raise ValueError(f"unknown VAE kind {kind!r}; choose 'mlp' or 'conv'")
    for value, name in ((latent_dim, "latent_dim"), (hidden, "hidden"), (image_size, "image_size"),
                        (in_channels, "in_channels")):
        check_positive_int(value, name)
    shape = (in_channels, image_size, image_size)
    if kind == "mlp":
        encoder, decoder = _mlp_parts(latent_dim, hidden, in_channels * image_size * image_size, shape)
    else:
        channels = tuple(channels)
        if len(channels) != 2:
            raise ValueError(f"channels holds the widths of the two conv layers, e.g. (32, 64); got {channels}")
        for i, width in enumerate(channels):
            check_positive_int(width, f"channels[{i}]")
        if image_size % 4:
            raise ValueError(f"the conv VAE halves the image twice and needs image_size divisible by 4, "
                             f"got {image_size}; pad or resize the images (28 and 32 work)")
        encoder, decoder = _conv_parts(latent_dim, hidden, channels, shape)
    return place(VAE(encoder, decoder, latent_dim), device)
