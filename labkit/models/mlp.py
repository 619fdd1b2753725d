"""Multi-layer perceptrons."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from labkit.arguments import check_positive_int, check_probability
from labkit.models.placement import place

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU}


def activation_layer(name: str) -> nn.Module:
    """An activation module by name (relu, tanh, sigmoid, gelu, leaky_relu)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0,
        device: str | torch.device | None = None) -> nn.Sequential:
    """A fully connected network: ``sizes = [inputs, hidden..., outputs]``.

    Inputs are flattened first (images work as they are); every hidden layer is Linear, the
    activation, then Dropout when ``dropout > 0``; the last layer returns raw scores (logits).
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, e.g. [784, 128, 10]; got {sizes}")
    for i, size in enumerate(sizes):
        check_positive_int(size, f"sizes[{i}]")
    activation_layer(activation)                     # validates the name
    dropout = check_probability(dropout, "dropout")
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(n_in, n_out), activation_layer(activation)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return place(nn.Sequential(*layers), device)
