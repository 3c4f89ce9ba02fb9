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


def weighted_sums(v: torch.Tensor, sw: torch.Tensor | None) -> torch.Tensor:
    """``[Σ v·w, Σ w]`` (float64) with ``w`` broadcast from the batch axis."""
    v = v.to(torch.float64)
    if sw is None:
        return torch.stack([v.sum(), v.new_tensor(float(v.numel()))])
    w = sw.to(torch.float64)
    while w.dim() > v.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    w = w.reshape(tuple(w.shape) + (1,) * (v.dim() - w.dim()))
    w = torch.broadcast_to(w, v.shape)
    return torch.stack([(v * w).sum(), w.sum()])


def _mean_delta(
    spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None
) -> torch.Tensor:
    return weighted_sums(VALUES[spec.fn](y, p, spec), sw)


# fn name -> delta(spec, y_true, y_pred, sample_weight) -> float64 vector of state_size()
DELTAS: dict[
    str, Callable[[Any, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
] = {name: _mean_delta for name in VALUES}


def delta(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> torch.Tensor:
    """One batch's additive contribution to a metric's state."""
    return DELTAS[spec.fn](spec, y, p, sw)
