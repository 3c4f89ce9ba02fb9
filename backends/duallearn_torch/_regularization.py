"""Dropout on torch: the front-end's mask in deterministic mode, torch's RNG otherwise."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._layers import TorchLayer, implements


@implements("Dropout")
class TorchDropout(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None) -> torch.Tensor:
        if not training or self.spec.rate == 0:
            return x
        if noise is not None:
            return x * noise
        return F.dropout(x, self.spec.rate, True)
