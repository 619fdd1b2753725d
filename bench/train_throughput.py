"""Training throughput: a pytorch/examples-style loop vs labkit.fit vs a hand-written GPU-resident loop.

Same network (pytorch/examples' MNIST Net), same data (60,000-image epochs; when only the offline
digits are available they are tiled with random shifts), same optimiser (Adadelta lr 1.0, StepLR
0.7), batch size 64, measured in one run:

  (a) examples-style: CPU TensorDataset + DataLoader, each batch copied to the device, fp32
  (b) labkit.fit with a DeviceLoader and labkit's precision policy
  (c) hand-written: tensors resident on the device, the same policy, a plain Python loop
  (d) labkit.fit as (b) with compile=True (torch.compile)

(b), (c) and (d) use the same memory format: channels_last model and images on CUDA (it is a
property of the model and the data, not of the loop). Prints images/s of each, the ratios b/a,
b/c and d/c, and held-out accuracy.
    python bench/train_throughput.py [--epochs 3] [--images 60000] [--device auto] [--no-compile]
Targets on an H100/H200 (DESIGN.md): b/a >= 8 and b within 10% of c. On a CPU there are no
host-to-device copies to save, so (a), (b) and (c) are expected to be close.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labkit
from labkit.data import DeviceLoader, load_images


class Net(nn.Module):
    """pytorch/examples' MNIST network."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.fc2(self.dropout2(F.relu(self.fc1(torch.flatten(self.dropout1(x), 1)))))
        return F.log_softmax(x, dim=1)


def tile_with_shifts(images: torch.Tensor, labels: torch.Tensor, n: int, max_shift: int = 2,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images made from ``images`` repeated, each copy shifted by up to ``max_shift`` pixels."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.arange(n) % len(images)
    out = images[index].clone()
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            rows = ((shifts[:, 0] == dy) & (shifts[:, 1] == dx)).nonzero().squeeze(1)
            out[rows] = torch.roll(out[rows], shifts=(dy, dx), dims=(2, 3))
    return out, labels[index]


def optimiser(model: nn.Module):
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def held_out_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    model.eval()
    predicted = torch.cat([model(x.to(device)).argmax(1).cpu() for x in images.split(1000)])
    model.train()
    return (predicted == labels).float().mean().item()


def examples_loop(model, X, y, epochs, batch_size, device) -> None:
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)
    opt, scheduler = optimiser(model)
    for _ in range(epochs):
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            opt.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            opt.step()
        scheduler.step()


def resident_images(X: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images on the device, channels_last on CUDA (the layout its convolution kernels prefer)."""
    X = X.to(device)
    return X.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else X


def labkit_fit(model, X, y, epochs, batch_size, device, compile=False) -> None:
    opt, scheduler = optimiser(model)
    labkit.fit(model, DeviceLoader(resident_images(X, device), y, batch_size=batch_size, device=device),
               epochs=epochs, loss_fn=F.nll_loss, optimizer=opt, scheduler=scheduler, compile=compile,
               plot=False, progress=False)


def labkit_fit_compiled(model, X, y, epochs, batch_size, device) -> None:
    labkit_fit(model, X, y, epochs, batch_size, device, compile=True)


def resident_loop(model, X, y, epochs, batch_size, device) -> None:
    policy = labkit.device.precision_policy(device)
    X = resident_images(X, device)
    y = y.to(device)
    opt, scheduler = optimiser(model)
    for _ in range(epochs):
        order = torch.randperm(len(X), device=device)
        X_epoch, y_epoch = X[order], y[order]
        for start in range(0, len(X), batch_size):
            with policy.autocast():
                loss = F.nll_loss(model(X_epoch[start:start + batch_size]), y_epoch[start:start + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        scheduler.step()


def measure(name, train_fn, X, y, test, args, device, channels_last=False) -> dict:
    def fresh_model() -> nn.Module:
        labkit.seed_everything(args.seed)
        model = Net().to(device)
        if channels_last and device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        return model

    train_fn(fresh_model(), X[: args.batch_size * 20], y[: args.batch_size * 20], 1, args.batch_size, device)  # warm-up
    model = fresh_model()
    synchronize(device)
    start = time.perf_counter()
    train_fn(model, X, y, args.epochs, args.batch_size, device)
    synchronize(device)
    seconds = time.perf_counter() - start
    result = {"name": name, "seconds_per_epoch": seconds / args.epochs,
              "images_per_s": len(X) * args.epochs / seconds,
              "accuracy": held_out_accuracy(model, *test, device)}
    print(f"{name:<44} {result['seconds_per_epoch']:8.2f} s/epoch {result['images_per_s']:10,.0f} images/s "
          f"  held-out accuracy {result['accuracy']:.4f}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=60_000, help="training images per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true", help="skip (d), fit(compile=True)")
    args = parser.parse_args()
    device = labkit.get_device(args.device)
    print(labkit.describe(device))
    data = load_images("mnist")
    X, y = data.split("train")
    if len(X) < args.images:
        X, y = tile_with_shifts(X, y, args.images, seed=args.seed)
        print(f"tiled {len(data.train_images):,} {data.tier}-tier digits with random shifts to {len(X):,} per epoch")
    X, y = X[: args.images], y[: args.images]
    test = data.split("test")
    print(f"{args.epochs} epochs of {len(X):,} images, batch size {args.batch_size}, held out: {len(test[0]):,}\n")
    a = measure("(a) examples-style DataLoader loop, fp32", examples_loop, X, y, test, args, device)
    policy = labkit.device.precision_policy(device).name
    b = measure(f"(b) labkit.fit + DeviceLoader, {policy}", labkit_fit, X, y, test, args, device, channels_last=True)
    c = measure(f"(c) hand-written device-resident loop, {policy}", resident_loop, X, y, test, args, device,
                channels_last=True)
    d = None if args.no_compile else measure(f"(d) labkit.fit(compile=True), {policy}", labkit_fit_compiled,
                                             X, y, test, args, device, channels_last=True)
    print(f"\nb/a = {b['images_per_s'] / a['images_per_s']:.2f}x   (target on a GPU: >= 8x)")
    print(f"b/c = {b['images_per_s'] / c['images_per_s']:.2f}    (target on a GPU: >= 0.90)")
    if d is not None:
        print(f"d/c = {d['images_per_s'] / c['images_per_s']:.2f}    (compiled fit against the hand-written loop)")


if __name__ == "__main__":
    main()
