"""Flatten on torch (data is channels-last, so a plain reshape keeps the canonical order)."""

from __future__ import annotations

from typing import Any

import torch

from ._layers import TorchLayer, implements


@implements("Flatten")
class TorchFlatten(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)
