"""VAE recipes side by side: the pytorch/examples VAE and the lab's VAEs, same data, same epochs.

  (a) reference: pytorch/examples' VAE recipe — 784-400-20 MLP, Adam lr 1e-3, batch 128, the loss
      summed over the batch (binary cross-entropy + KL), its own DataLoader loop
  (b) lab MLP VAE: labkit.models.vae("mlp") (the same shape) trained by labkit.fit with labkit.elbo
  (c) lab conv VAE: labkit.models.vae("conv") trained the same way as (b)

All three train on the same binarised training digits (fixed threshold 0.5: the Bernoulli
likelihood is a likelihood only for binary pixels) for the same epochs, and are measured every
``--every`` epochs on the same held-out binarised test digits: -ELBO in nats per image (averaged
over several draws of z) and, at the end, an importance-sampled log-likelihood. Prints each, the
ratios to (a), and training images/s.

    python bench/generative.py [--epochs 30] [--every 10] [--latent 20] [--samples 100] [--device auto]

On full MNIST (60,000 digits) the reference recipe reaches about 105.6 nats after 10 epochs. No
machine of this project can download it: without a cache the run uses the 5,000 offline digits
(4,000 train, 1,000 test) and says so; numbers on the two are not comparable.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labkit
from labkit import elbo
from labkit.data import load_images


class ExamplesVAE(nn.Module):
    """The pytorch/examples VAE: fc1 784-400, fc21/fc22 400-20, fc3 20-400, fc4 400-784."""

    def __init__(self, latent_dim: int = 20) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, latent_dim), nn.Linear(400, latent_dim)
        self.fc3, self.fc4 = nn.Linear(latent_dim, 400), nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits (the recipe applies a sigmoid and binary cross-entropy: the same loss)."""
        return self.fc4(F.relu(self.fc3(z))).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(elbo.reparameterize(mu, logvar)), mu, logvar


def reference_trainer(model: ExamplesVAE, images: torch.Tensor, device: torch.device, seed: int):
    """The recipe's loop (DataLoader, per-batch copy, loss summed over the batch), as a function
    ``train(epochs) -> seconds`` that continues where the last call stopped."""
    loader = DataLoader(TensorDataset(images), batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return lambda epochs: _reference_epochs(model, loader, optimizer, epochs, device)


def _reference_epochs(model, loader, optimizer, epochs: int, device: torch.device) -> float:
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        for (x,) in loader:
            x = x.to(device)
            logits, mu, logvar = model(x)
            loss = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") \
                - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def lab_trainer(model: nn.Module, images: torch.Tensor):
    """labkit.fit with labkit.elbo's step, as ``train(epochs) -> seconds`` (the optimiser carries over)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train(epochs: int) -> float:
        start = time.perf_counter()
        labkit.fit(model, (images,), epochs=epochs, step_fn=elbo.elbo_step(), batch_size=128, optimizer=optimizer,
                   plot=False, progress=False)
        _sync(next(model.parameters()).device)
        return time.perf_counter() - start

    return train


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def held_out_neg_elbo(model: nn.Module, images: torch.Tensor, seed: int, draws: int = 10) -> float:
    """-ELBO in nats per image on ``images``, averaged over ``draws`` samples of z per image."""
    model.eval()
    torch.manual_seed(seed)
    return sum(float(elbo.negative_elbo(model, chunk)["loss"]) * len(chunk)
               for _ in range(draws) for chunk in images.split(500)) / (draws * len(images))


def held_out_log_likelihood(model: nn.Module, images: torch.Tensor, samples: int, seed: int) -> float:
    """The importance-sampled log p(x) in nats per image, on ``images``."""
    model.eval()
    gen = torch.Generator(device=images.device).manual_seed(seed)
    return float(elbo.log_likelihood(model, images, samples=samples, generator=gen).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--every", type=int, default=10, help="measure the held-out -ELBO every so many epochs")
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--samples", type=int, default=100, help="importance samples per image")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.epochs < 1 or args.every < 1:
        parser.error("--epochs and --every must be positive")
    device = labkit.get_device(None if args.device == "auto" else args.device)
    print(labkit.describe())
    data = load_images("mnist", normalize="unit", progress=False)
    train = elbo.binarize(data.train_images).to(device)
    test = elbo.binarize(data.test_images).to(device)
    print(f"{len(train):,} training and {len(test):,} test digits ({data.tier} copy), binarised at 0.5; "
          f"{args.epochs} epochs each, batch 128, Adam 1e-3, latent {args.latent}")

    recipes = {
        "(a) pytorch/examples VAE": lambda: ExamplesVAE(args.latent).to(device),
        "(b) lab MLP VAE": lambda: labkit.models.vae("mlp", latent_dim=args.latent, device=device),
        "(c) lab conv VAE": lambda: labkit.models.vae("conv", latent_dim=args.latent, device=device),
    }
    checkpoints = sorted({*range(args.every, args.epochs + 1, args.every), args.epochs})
    rows = []
    for name, build in recipes.items():
        labkit.seed_everything(args.seed)
        model = build()
        train_for = (reference_trainer(model, train.cpu(), device, args.seed) if name.startswith("(a)")
                     else lab_trainer(model, train))
        seconds, curve, done = 0.0, {}, 0
        for epoch in checkpoints:
            seconds += train_for(epoch - done)
            done = epoch
            curve[epoch] = held_out_neg_elbo(model, test, args.seed)
        log_px = held_out_log_likelihood(model, test, args.samples, args.seed)
        params = sum(p.numel() for p in model.parameters())
        rows.append((name, curve, log_px, seconds))
        trace = "  ".join(f"{neg:7.2f} ({epoch})" for epoch, neg in curve.items())
        print(f"  {name:26s} {params:>9,} parameters {args.epochs * len(train) / seconds:>8,.0f} images/s  "
              f"-ELBO (epochs): {trace}   log p(x) >= {log_px:7.2f} (k={args.samples})", flush=True)
    reference = rows[0][1]
    print("\nheld-out -ELBO relative to (a), same epochs (below 1 is better):")
    for name, curve, log_px, seconds in rows:
        ratios = "  ".join(f"{curve[e] / reference[e]:6.3f} ({e})" for e in checkpoints)
        print(f"  {name:26s} {ratios}   gap log p(x) - ELBO {log_px + curve[args.epochs]:5.2f} nats   "
              f"training {seconds:6.1f} s")
    best = min(rows, key=lambda row: row[1][args.epochs])
    print(f"\nlowest held-out -ELBO after {args.epochs} epochs: {best[0]} ({best[1][args.epochs]:.2f} nats per image)")


if __name__ == "__main__":
    main()
