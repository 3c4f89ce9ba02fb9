"""Merge layers on torch: the forwards are duallearn.plugin's merge mixins (formulas in
duallearn/layers/_merging.py); this file gives them torch's primitives."""

from __future__ import annotations

from typing import Any

import torch

from duallearn.plugin import MERGES, MergePrimitives

from ._layers import TorchLayer, implements


class _TorchMerge(MergePrimitives, TorchLayer):
    logical_and = staticmethod(torch.logical_and)
    where = staticmethod(torch.where)
    rsqrt = staticmethod(torch.rsqrt)
    einsum = staticmethod(torch.einsum)

    def concat(self, xs: list[torch.Tensor], axis: int) -> torch.Tensor:
        return torch.cat(xs, dim=axis)

    def scalar(self, value: float, like: Any) -> float:
        return value  # a Python number keeps the tensor's dtype

    def rank(self, a: torch.Tensor) -> int:
        return a.dim()

    def ones_mask(self, a: torch.Tensor) -> torch.Tensor:
        return torch.ones(a.shape[:-1], dtype=torch.bool, device=a.device)

    def sum_keepdims(self, a: torch.Tensor, axis: int) -> torch.Tensor:
        return torch.sum(a, dim=axis, keepdim=True)

    def clamp_min(self, a: torch.Tensor, lo: float) -> torch.Tensor:
        return torch.clamp(a, min=lo)

    def expand_dims(self, a: torch.Tensor, axis: int) -> torch.Tensor:
        return a.unsqueeze(axis)


for _name, _mixin in MERGES.items():
    implements(_name)(type(f"Torch{_name}", (_mixin, _TorchMerge), {"__doc__": _mixin.__doc__}))
