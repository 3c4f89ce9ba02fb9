"""Merge layers on torch (formulas in duallearn/layers/_merging.py)."""

from __future__ import annotations

from typing import Any

import torch

from duallearn.layers._merging import dot_axes, dot_subscripts

from ._layers import TorchLayer, implements


class _TorchMerge(TorchLayer):
    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        out = None
        for m in mask:
            if m is not None:
                out = m if out is None else torch.logical_and(out, m)
        return out


@implements("Add")
class TorchAdd(_TorchMerge):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        out = x[0]
        for a in x[1:]:
            out = out + a
        return out


@implements("Subtract")
class TorchSubtract(_TorchMerge):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        return x[0] - x[1]


@implements("Multiply")
class TorchMultiply(_TorchMerge):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        out = x[0]
        for a in x[1:]:
            out = out * a
        return out


@implements("Average")
class TorchAverage(_TorchMerge):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        out = x[0]
        for a in x[1:]:
            out = out + a
        return out / len(x)


@implements("Maximum")
class TorchMaximum(_TorchMerge):
    """``where(a >= b, a, b)`` folded left: ties send the gradient to the earlier input."""

    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        out = x[0]
        for a in x[1:]:
            out = torch.where(out >= a, out, a)
        return out


@implements("Minimum")
class TorchMinimum(_TorchMerge):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        out = x[0]
        for a in x[1:]:
            out = torch.where(out <= a, out, a)
        return out


@implements("Concatenate")
class TorchConcatenate(_TorchMerge):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        return torch.cat(x, dim=self.spec.axis)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        ms = [
            torch.ones(a.shape[:-1], dtype=torch.bool, device=a.device) if m is None else m
            for a, m in zip(x, mask, strict=True)
        ]
        if self.spec.axis % x[0].dim() == x[0].dim() - 1:
            out = ms[0]
            for m in ms[1:]:
                out = torch.logical_and(out, m)
            return out
        return torch.cat(ms, dim=self.spec.axis)


@implements("Dot")
class TorchDot(TorchLayer):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        u, v = x
        a1, a2 = dot_axes(self.spec.axes, u.dim(), v.dim())
        if self.spec.normalize:
            u = u * torch.rsqrt(torch.clamp(torch.sum(u * u, dim=a1, keepdim=True), min=1e-14))
            v = v * torch.rsqrt(torch.clamp(torch.sum(v * v, dim=a2, keepdim=True), min=1e-14))
        out = torch.einsum(dot_subscripts(u.dim(), v.dim(), a1, a2), u, v)
        return out.unsqueeze(1) if out.dim() == 1 else out

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None
