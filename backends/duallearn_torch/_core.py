"""Dense and Activation on torch."""

from __future__ import annotations

from typing import Any

import torch

from . import _activations
from ._layers import TorchLayer, implements


@implements("Dense")
class TorchDense(TorchLayer):
    """``act(x @ kernel + bias)`` with the kernel kept in canonical (in, out) layout:
    ``addmm`` reads it as a transposed operand, the same GEMM ``nn.Linear`` runs."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)
        self.use_bias = layer.use_bias

    def forward(self, x: torch.Tensor, training: bool, noise: Any = None) -> torch.Tensor:
        if x.dim() == 2:
            z = torch.addmm(self.bias, x, self.kernel) if self.use_bias else x @ self.kernel
        else:
            z = x @ self.kernel
            if self.use_bias:
                z = z + self.bias
        return self.act(z)


@implements("Activation")
class TorchActivation(TorchLayer):
    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)

    def forward(self, x: torch.Tensor, training: bool, noise: Any = None) -> torch.Tensor:
        return self.act(x)
