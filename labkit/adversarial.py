"""The GAN objective with logits: the discriminator's log-likelihood and the generator's losses.

With D(x) = sigmoid(logit), the discriminator maximises E[log D(x)] + E[log(1 - D(G(z)))], i.e.
minimises binary cross-entropy with "real" = 1 and "fake" = 0. The generator of the minimax game
minimises E[log(1 - D(G(z)))], which saturates when D rejects its samples; the non-saturating
generator loss -E[log D(G(z))] has the same fixed point and strong gradients early on.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

from labkit.batches import batch_inputs


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-(mean log D(x) + mean log(1 - D(G(z)))), stable for any logits."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -mean log D(G(z))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax game's generator loss mean log(1 - D(G(z))) (saturates when D(G(z)) -> 0)."""
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def gan_step(d_loss: Callable = discriminator_loss, g_loss: Callable = generator_loss,
             to_real: Callable | None = None):
    """A step function for :func:`labkit.fit` on a :class:`~labkit.models.gan.GAN` with
    ``optimizer={"d": ..., "g": ...}``: one discriminator step on a real batch against G(z)
    (detached), then one generator step. Logs d_loss, g_loss, d_real = mean D(x) and
    d_fake = mean D(G(z)) (probabilities, before the discriminator's step)."""

    def step(batch: Any, ctx: Any) -> dict[str, torch.Tensor]:
        model = ctx.model
        real = batch_inputs(batch)
        real = to_real(real) if to_real is not None else real
        z = torch.randn(len(real), model.latent_dim, device=real.device)
        with ctx.autocast():
            fake = model.generator(z)
            real_logits, fake_logits_d = model.discriminator(real), model.discriminator(fake.detach())
            loss_d = d_loss(real_logits, fake_logits_d)
        ctx.optimize(loss_d, "d")
        with ctx.autocast():
            fake_logits = model.discriminator(fake)
            loss_g = g_loss(fake_logits)
        ctx.optimize(loss_g, "g")
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
                "d_fake": torch.sigmoid(fake_logits_d.detach().float()).mean()}

    return step
