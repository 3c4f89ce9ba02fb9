"""Losses on torch: per-sample values by formula name, then Keras's reduction.

Formulas in duallearn/losses; probabilities are clipped as Keras does (not torch's -100 clamp).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from duallearn.losses._probabilistic import EPSILON


def _mse(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    return torch.square(p - y).mean(dim=-1)


def _mae(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    return torch.abs(p - y).mean(dim=-1)


def _bce(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * (1.0 - s) + 0.5 * s
    if o.get("from_logits"):
        v = F.binary_cross_entropy_with_logits(p, y, reduction="none")
    else:
        q = torch.clamp(p, EPSILON, 1.0 - EPSILON)
        v = -(y * torch.log(q) + (1.0 - y) * torch.log(1.0 - q))
    return v.mean(dim=-1)


def _log_probs(p: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if from_logits:
        return torch.log_softmax(p, dim=-1)
    return torch.log(torch.clamp(p / p.sum(dim=-1, keepdim=True), EPSILON, 1.0 - EPSILON))


def _cce(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * (1.0 - s) + s / y.shape[-1]
    return -(y * _log_probs(p, o.get("from_logits", False))).sum(dim=-1)


def _scce(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    labels = y.long()
    if labels.dim() == p.dim():
        labels = labels.squeeze(-1)
    ignore = o.get("ignore_class")
    keep = None
    if ignore is not None:
        keep = labels != ignore
        labels = torch.where(keep, labels, torch.zeros_like(labels))
    logp = _log_probs(p, o.get("from_logits", False))
    v = -torch.gather(logp, -1, labels.unsqueeze(-1)).squeeze(-1)
    if keep is not None:
        v = v * keep.to(v.dtype)
    return v


VALUES: dict[str, Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]] = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "binary_crossentropy": _bce,
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": _scce,
}
SPARSE_TARGETS = {"sparse_categorical_crossentropy"}


def align_weight(w: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    while w.dim() > values.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    while w.dim() < values.dim():
        w = w.unsqueeze(-1)
    return w.to(values.dtype)


def reduce(values: torch.Tensor, sw: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Keras's reductions (see duallearn/losses/_loss.py)."""
    if sw is not None:
        w = align_weight(sw, values)
        values = values * w
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        denom = (
            torch.broadcast_to(align_weight(sw, values), values.shape).sum()
            if sw is not None
            else values.new_tensor(values.numel())
        )
        return total / denom
    return total / values.numel()


class LossFn:
    """A compiled-in loss: ``loss(y_true, y_pred, sw) -> scalar``."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.values = VALUES[spec.fn]
        self.options = spec.options()
        self.reduction = spec.reduction if spec.reduction != "none" else "sum_over_batch_size"

    def __call__(self, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> torch.Tensor:
        if self.spec.fn not in SPARSE_TARGETS and y.dtype != p.dtype:
            y = y.to(p.dtype)
        return reduce(self.values(y, p, self.options), sw, self.reduction)
