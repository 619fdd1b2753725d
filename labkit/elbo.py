"""The VAE objective, in nats: the evidence lower bound (ELBO) and an importance-sampled log p(x).

    log p(x) >= E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)) = ELBO(x)

with q(z|x) = N(mu, diag sigma^2), p(z) = N(0, I) and a Bernoulli decoder. Its log-likelihood is
binary cross-entropy only for binary pixels: use :func:`binarize` before quoting nats.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from labkit.arguments import check_positive_int
from labkit.batches import batch_inputs

LOG_2PI = math.log(2 * math.pi)


def binarize(images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Pixels above ``threshold`` become 1.0, the others 0.0 (a fixed, deterministic binarisation)."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold lies strictly between 0 and 1 for pixels in [0, 1], got {threshold!r}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("binarize expects pixels in [0, 1]: load the images with normalize='unit'")
    return (images > threshold).to(torch.get_default_dtype() if not images.is_floating_point() else images.dtype)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I): a sample whose gradient reaches mu and logvar."""
    where = generator.device if generator is not None else mu.device     # a CPU generator serves a GPU model too
    eps = torch.randn(mu.shape, generator=generator, device=where, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, (N,): 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1)."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).flatten(1).sum(1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example, (N,): binary cross-entropy with logits summed over the pixels."""
    if logits.shape != x.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and images {tuple(x.shape)} must have the same shape")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def negative_elbo(model: Any, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Batch means of the reconstruction term, the KL term and ``loss = recon + beta * kl``
    (-ELBO per image at beta = 1), with one reparameterised sample per image."""
    logits, mu, logvar = model(x)
    recon, kl = bernoulli_nll(logits, x).mean(), gaussian_kl(mu, logvar).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def elbo_step(beta: float = 1.0, train: bool = True):
    """A step function for :func:`labkit.fit` (``step_fn=`` or, with ``train=False``, ``val_step_fn=``):
    logs ``loss`` (-ELBO per image when beta = 1), ``recon`` and ``kl``; labels in a batch are ignored."""
    if not beta >= 0:
        raise ValueError(f"beta weighs the KL term and must be >= 0, got {beta!r}")

    def step(batch: Any, ctx: Any) -> dict[str, torch.Tensor]:
        x = batch_inputs(batch)
        with ctx.autocast():
            terms = negative_elbo(ctx.model, x, beta)
        if train:
            ctx.optimize(terms["loss"])
        return {k: v.detach() for k, v in terms.items()}

    return step


def _gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def log_likelihood(model: Any, x: torch.Tensor, samples: int = 100, batch_size: int = 100,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) per image, (N,), in nats, with q(z|x) as proposal:

        log p(x) ~ logmeanexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)],  z_k ~ q(z|x).

    Its expectation is below log p(x) but above the ELBO, and rises towards log p(x) with ``samples``.
    """
    check_positive_int(samples, "samples")
    check_positive_int(batch_size, "batch_size")
    out = []
    for chunk in x.split(batch_size):
        mu, logvar = model.encode(chunk)
        n, d = mu.shape
        z = reparameterize(mu.expand(samples, n, d), logvar.expand(samples, n, d), generator)   # (k, n, d)
        logits = model.decode(z.reshape(samples * n, d))
        log_px_z = -bernoulli_nll(logits, chunk.repeat(samples, *[1] * (chunk.dim() - 1))).view(samples, n)
        log_pz = _gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = _gaussian_log_density(z, mu, logvar)
        out.append(torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(samples))
    return torch.cat(out)
