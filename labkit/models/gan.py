"""Generative adversarial networks: a generator G(z) and a discriminator that returns logits.

``gan()`` returns a :class:`GAN` module holding both (what :func:`labkit.fit` trains and a
checkpoint saves); it unpacks as ``G, D = labkit.models.gan(...)``.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from labkit.arguments import check_positive_int
from labkit.models.evaluating import evaluating
from labkit.models.placement import place

GAN_KINDS = ("mlp", "dcgan")


class GAN(nn.Module):
    """A generator and a discriminator; the discriminator returns one logit per example, (N,)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, latent_dim

    def __iter__(self) -> Iterator[nn.Module]:
        return iter((self.generator, self.discriminator))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """G(z)."""
        return self.generator(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples G(z), z ~ N(0, I), generated in eval mode."""
        check_positive_int(n, "n")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=generator.device if generator else device)
        with evaluating(self.generator):
            return self.generator(z.to(device))


def _mlp_pair(latent_dim: int, data_dim: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    generator = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, data_dim))
    discriminator = nn.Sequential(nn.Linear(data_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                  nn.LeakyReLU(0.2), nn.Linear(hidden, 1), nn.Flatten(0))
    return generator, discriminator


def _dcgan_pair(latent_dim: int, width: int, image_size: int, channels: int) -> tuple[nn.Module, nn.Module]:
    side = image_size // 4
    generator = nn.Sequential(
        nn.Linear(latent_dim, 2 * width * side * side, bias=False), nn.Unflatten(1, (2 * width, side, side)),
        nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width),
        nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * side * side, 1), nn.Flatten(0))
    return generator, discriminator


def check_gan(generator: nn.Module, discriminator: nn.Module, latent_dim: int) -> None:
    """Raise ValueError, saying what does not fit, unless D(G(z)) gives one logit per example."""
    check_positive_int(latent_dim, "latent_dim")
    device = next(generator.parameters()).device
    z = torch.zeros(2, latent_dim, device=device)
    with evaluating(generator, discriminator):
        try:
            fake = generator(z)
        except RuntimeError as err:
            raise ValueError(f"the generator cannot take a latent batch of shape (2, {latent_dim}): {err}") from None
        try:
            logits = discriminator(fake)
        except RuntimeError as err:
            raise ValueError(f"the discriminator cannot take the generator's output of shape "
                             f"{tuple(fake.shape)}: {err}. Make the generator's output the shape of a data "
                             "example (with the batch first)") from None
    if tuple(logits.shape) != (2,):
        raise ValueError(f"the discriminator must return one logit per example, shape (N,); it returned "
                         f"{tuple(logits.shape)} for N = 2. End it with nn.Linear(..., 1) and nn.Flatten(0)")


def gan(kind: str = "mlp", latent_dim: int = 2, data_dim: int = 2, hidden: int = 128, width: int = 64,
        image_size: int = 28, in_channels: int = 1, device: str | torch.device | None = None) -> GAN:
    """A generator/discriminator pair.

    kind "mlp": for points in ``data_dim`` dimensions (the ring of Gaussians): two hidden layers of
    ``hidden`` units, a linear generator output. kind "dcgan": for (in_channels, image_size,
    image_size) images in [-1, 1] (``image_size`` divisible by 4), transposed convolutions with
    BatchNorm and a tanh output; a strided-convolution discriminator with LeakyReLU.
    """
    if kind not in GAN_KINDS:
        raise ValueError(f"unknown GAN kind {kind!r}; choose 'mlp' or 'dcgan'")
    for value, name in ((latent_dim, "latent_dim"), (data_dim, "data_dim"), (hidden, "hidden"), (width, "width"),
                        (image_size, "image_size"), (in_channels, "in_channels")):
        check_positive_int(value, name)
    if kind == "mlp":
        generator, discriminator = _mlp_pair(latent_dim, data_dim, hidden)
    else:
        if image_size % 4:
            raise ValueError(f"the DCGAN doubles a (image_size/4)-sided map twice and needs image_size divisible "
                             f"by 4, got {image_size}; pad or resize the images (28 and 32 work)")
        generator, discriminator = _dcgan_pair(latent_dim, width, image_size, in_channels)
    model = place(GAN(generator, discriminator, latent_dim), device, channels_last=kind == "dcgan")
    check_gan(model.generator, model.discriminator, latent_dim)
    return model
