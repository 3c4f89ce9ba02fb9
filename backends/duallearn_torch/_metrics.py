"""Metric per-sample values on torch (accumulated on the device by the runtime)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def _sparse_acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return (torch.argmax(p, dim=-1) == y.reshape(p.shape[:-1]).long()).to(p.dtype)


def _cat_acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return (torch.argmax(p, dim=-1) == torch.argmax(y, dim=-1)).to(p.dtype)


def _bin_acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return ((p > m.threshold) == (y.reshape(p.shape) > 0.5)).to(p.dtype).mean(dim=-1)


def _mae(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return torch.abs(p - y.reshape(p.shape).to(p.dtype)).mean(dim=-1)


def _mse(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return torch.square(p - y.reshape(p.shape).to(p.dtype)).mean(dim=-1)


VALUES: dict[str, Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]] = {
    "sparse_categorical_accuracy": _sparse_acc,
    "categorical_accuracy": _cat_acc,
    "binary_accuracy": _bin_acc,
    "mean_absolute_error": _mae,
    "mean_squared_error": _mse,
}


def mean_update(
    spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Σ v·w, Σ w)`` for a mean-wrapper metric on one batch."""
    v = VALUES[spec.fn](y, p, spec)
    if sw is None:
        return v.sum(), v.new_tensor(float(v.numel()))
    w = sw.to(v.dtype)
    while w.dim() > v.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    while w.dim() < v.dim():
        w = w.unsqueeze(-1)
    w = torch.broadcast_to(w, v.shape)
    return (v * w).sum(), w.sum()
