"""Activations on torch, by canonical name (formulas in duallearn/activations.py), and the
activation layers (``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from duallearn.activations import LEAKY_RELU_SLOPE
from duallearn.plugin import FormulaLayer, activation_getter

from . import _ops
from ._layers import TorchLayer, implements

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "elu": F.elu,
    "selu": _ops.selu_native,
    # torch's F.softplus returns x above a threshold of 20; the exact form keeps parity.
    "softplus": lambda x: torch.logaddexp(x, torch.zeros((), dtype=x.dtype)),
    "silu": F.silu,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_RELU_SLOPE),
    "relu6": F.relu6,
    "hard_sigmoid": _ops.hard_sigmoid,
    "hard_silu": _ops.hard_silu,
    "softsign": F.softsign,
    "log_sigmoid": F.logsigmoid,
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
}

# the other names: duallearn.activations.NATIVE's formula over this backend's dl.ops
get = activation_getter(ACTIVATIONS, _ops)


@implements("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
class TorchActivationLayer(FormulaLayer, TorchLayer):
    """The activation layers: each layer's ``apply`` (its formula, written once in
    ``duallearn/layers/_activations.py``) over torch's ops: ``torch.relu``,
    ``F.leaky_relu``, ``F.elu``, ``torch.softmax``..."""

    ops = _ops
