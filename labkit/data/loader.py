"""DeviceLoader: minibatches from tensors that live on the compute device.

A ``torch.utils.data.DataLoader`` collates every batch on the CPU and copies it to the GPU; for
datasets that fit in GPU memory it is much faster to move the whole tensors once and index them
there. Shuffling happens on the device too, with a fresh permutation each epoch.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch

from labkit.arguments import check_positive_int
from labkit.device import get_device


class DeviceLoader:
    """Iterate over minibatches ``(x, y, ...)`` of equally long tensors kept on ``device``."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int = 64, shuffle: bool = True,
                 drop_last: bool = False, device: str | torch.device | None = None,
                 seed: int | None = None) -> None:
        if not tensors:
            raise ValueError("DeviceLoader needs at least one tensor, e.g. DeviceLoader(X, y)")
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"argument {i} is a {type(t).__name__}, not a tensor; convert it "
                                "with torch.as_tensor(...)")
            if t.ndim == 0:
                raise ValueError(f"argument {i} is a scalar tensor; DeviceLoader needs one row per sample")
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(f"all tensors need the same number of rows (first dimension); got shapes {shapes}")
        check_positive_int(batch_size, "batch_size")
        self.device = get_device(device)
        # Asynchronous only from the host to a GPU: a non-blocking copy back to the host may be
        # read before it has arrived.
        self.tensors = tuple(t.to(self.device, non_blocking=t.device.type == "cpu" and self.device.type == "cuda")
                             for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=self.device)
            self.generator.manual_seed(seed)

    @property
    def n_samples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        if self.drop_last:
            return self.n_samples // self.batch_size
        return math.ceil(self.n_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n, bs = self.n_samples, self.batch_size
        if self.shuffle:
            order = torch.randperm(n, device=self.device, generator=self.generator)
            tensors = tuple(t[order] for t in self.tensors)     # one gather per epoch, then views
        else:
            tensors = self.tensors
        for start in range(0, len(self) * bs, bs):
            yield tuple(t[start:start + bs] for t in tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return (f"DeviceLoader({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"device={self.device})")
