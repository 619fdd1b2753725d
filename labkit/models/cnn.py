"""Convolutional networks for 28x28 images: LeNet and a modern small CNN."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from labkit.arguments import check_positive_int, check_probability
from labkit.models.placement import place


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output side of a convolution or pooling: floor((size + 2p - d(k - 1) - 1) / s) + 1.

    Raises ValueError, saying what to change, when the kernel does not fit the input.
    """
    for value, name in ((size, "size"), (kernel, "kernel"), (stride, "stride"), (dilation, "dilation")):
        check_positive_int(value, name)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(f"a {kernel}x{kernel} kernel (stride {stride}, padding {padding}, dilation "
                         f"{dilation}) does not fit a {size}x{size} input: the output would be {out}x{out}. "
                         f"Use padding={(dilation * (kernel - 1)) // 2} or a smaller kernel, or a larger input.")
    return out


def lenet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
          device: str | torch.device | None = None) -> nn.Sequential:
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling: conv5-pool-conv5-pool-120-84-classes."""
    for value, name in ((num_classes, "num_classes"), (in_channels, "in_channels")):
        check_positive_int(value, name)
    side = conv_output_size(image_size, 5, padding=2)        # 28 -> 28
    side = conv_output_size(side, 2, stride=2)               # -> 14
    side = conv_output_size(side, 5)                         # -> 10
    side = conv_output_size(side, 2, stride=2)               # -> 5
    model = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * side * side, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )
    return place(model, device, channels_last=True)


def conv_block(n_in: int, n_out: int) -> nn.Sequential:
    """conv3x3 - BatchNorm - ReLU, twice, then 2x2 max pooling (halves the side)."""
    return nn.Sequential(
        nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU(inplace=True),
        nn.Conv2d(n_out, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def small_cnn(num_classes: int = 10, in_channels: int = 1, channels: Sequence[int] = (32, 64),
              image_size: int = 28, dropout: float = 0.25,
              device: str | torch.device | None = None) -> nn.Sequential:
    """A modern small CNN: conv-BN-ReLU blocks that halve the image, then dropout and a classifier."""
    channels = list(channels)
    if not channels:
        raise ValueError("channels needs at least one block width, e.g. (32, 64)")
    check_positive_int(num_classes, "num_classes")
    check_positive_int(in_channels, "in_channels")
    for i, width in enumerate(channels):
        check_positive_int(width, f"channels[{i}]")
    dropout = check_probability(dropout, "dropout")
    side = image_size
    for _ in channels:
        side = conv_output_size(side, 2, stride=2)           # each block halves the side
    blocks = [conv_block(n_in, n_out) for n_in, n_out in zip([in_channels, *channels[:-1]], channels)]
    model = nn.Sequential(*blocks, nn.Flatten(), nn.Dropout(dropout),
                          nn.Linear(channels[-1] * side * side, num_classes))
    return place(model, device, channels_last=True)
