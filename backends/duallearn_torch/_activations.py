"""Activations on torch, by canonical name (formulas in duallearn/activations.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from duallearn.activations import LEAKY_RELU_SLOPE

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "elu": F.elu,
    "selu": F.selu,
    # torch's F.softplus returns x above a threshold of 20; the exact form keeps parity.
    "softplus": lambda x: torch.logaddexp(x, torch.zeros((), dtype=x.dtype)),
    "silu": F.silu,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_RELU_SLOPE),
}


def get(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return ACTIVATIONS[name]
