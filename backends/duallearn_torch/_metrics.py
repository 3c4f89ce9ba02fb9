"""Metric per-sample values on torch (accumulated on the device by the runtime)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from duallearn import plugin

from . import _ops

TENSOR_TYPES = (torch.Tensor,)


def as_tensor(x: Any, like: torch.Tensor) -> torch.Tensor:
    """``x`` (tensor, array, number) as a tensor on ``like``'s device, out of autograd."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(like.device)
    return torch.as_tensor(np.asarray(x), device=like.device)


def _sparse_acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return (torch.argmax(p, dim=-1) == y.reshape(p.shape[:-1]).long()).to(p.dtype)


def _cat_acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return (torch.argmax(p, dim=-1) == torch.argmax(y, dim=-1)).to(p.dtype)


def _same_rank(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    if y.dim() == p.dim() - 1:
        return y.unsqueeze(-1)
    if y.dim() == p.dim() + 1:
        return y.squeeze(-1)
    return y


def _bin_acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    y = _same_rank(y, p).to(torch.float64)
    return (y == (p > m.threshold).to(torch.float64)).to(p.dtype).mean(dim=-1)


def _acc(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return (_same_rank(y, p).to(p.dtype) == p).to(p.dtype).mean(dim=-1)


def _in_top_k(labels: torch.Tensor, p: torch.Tensor, k: int) -> torch.Tensor:
    target = torch.gather(p, -1, labels.long().unsqueeze(-1))
    return ((p > target).sum(dim=-1) < k).to(p.dtype)


def _top_k(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return _in_top_k(torch.argmax(y, dim=-1), p, m.k)


def _sparse_top_k(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return _in_top_k(y.reshape(p.shape[:-1]), p, m.k)


def _mae(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return torch.abs(p - y.reshape(p.shape).to(p.dtype)).mean(dim=-1)


def _mse(y: torch.Tensor, p: torch.Tensor, m: Any) -> torch.Tensor:
    return torch.square(p - y.reshape(p.shape).to(p.dtype)).mean(dim=-1)


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


def _weights(sw: torch.Tensor | None, p: torch.Tensor) -> torch.Tensor:
    if sw is None:
        return torch.ones_like(p)
    w = sw.to(p.dtype)
    while w.dim() > p.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    w = w.reshape(tuple(w.shape) + (1,) * (p.dim() - w.dim()))
    return torch.broadcast_to(w, p.shape)


def confusion_counts(
    y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None, thresholds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp, fp, tn, fn)`` per threshold, float64 (see duallearn/metrics/_confusion.py)."""
    p = p.to(torch.float64)
    y = y.to(torch.float64)
    if y.dim() == p.dim() - 1:
        y = y.unsqueeze(-1)
    y = torch.broadcast_to(y, p.shape)
    w = _weights(sw, p).reshape(1, -1)
    lab = (y != 0).reshape(1, -1)
    pos = p.reshape(1, -1) > thresholds.reshape(-1, 1)
    return (
        (w * (lab & pos)).sum(1),
        (w * (~lab & pos)).sum(1),
        (w * (~lab & ~pos)).sum(1),
        (w * (lab & ~pos)).sum(1),
    )


def _select(spec: Any, y: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = p.to(torch.float64)
    y = y.to(torch.float64)
    if y.dim() == p.dim() - 1:
        y = y.unsqueeze(-1)
    if spec.top_k is not None:
        idx = torch.topk(p, spec.top_k, dim=-1).indices
        mask = torch.zeros_like(p, dtype=torch.bool).scatter_(-1, idx, True)
        p = torch.where(mask, p, torch.full_like(p, -1e10))
    if spec.class_id is not None:
        c = spec.class_id
        y, p = y[..., c : c + 1], p[..., c : c + 1]
    return y, p


_THRESHOLDS: dict[tuple[tuple[float, ...], str], torch.Tensor] = {}


def _thresholds(spec: Any, like: torch.Tensor) -> torch.Tensor:
    """The thresholds on the batch's device, copied there once (no transfer per batch)."""
    key = (tuple(float(t) for t in spec.thresholds), str(like.device))
    t = _THRESHOLDS.get(key)
    if t is None:
        t = _THRESHOLDS[key] = torch.tensor(
            np.asarray(key[0], np.float64), dtype=torch.float64, device=like.device
        )
    return t


def _precision(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    y, p = _select(spec, y, p)
    tp, fp, _, _ = confusion_counts(y, p, sw, _thresholds(spec, p))
    return torch.cat([tp, fp])


def _recall(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    y, p = _select(spec, y, p)
    tp, _, _, fn = confusion_counts(y, p, sw, _thresholds(spec, p))
    return torch.cat([tp, fn])


def _auc(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    p = p.to(torch.float64)
    if spec.from_logits:
        p = torch.sigmoid(p)
    p = torch.clamp(p, 0.0, 1.0)
    return torch.cat(confusion_counts(y, p, sw, _thresholds(spec, p)))


def _fbeta(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    p = p.to(torch.float64)
    if spec.threshold is None:
        yp = ((p >= p.amax(dim=-1, keepdim=True)) & (p.abs() > 1e-9)).to(torch.float64)
    else:
        yp = (p > spec.threshold).to(torch.float64)
    y = y.to(torch.float64).reshape(yp.shape)
    w: Any = 1.0 if sw is None else sw.to(torch.float64).reshape(-1, 1)
    micro = spec.average == "micro"

    def s(v: torch.Tensor) -> torch.Tensor:
        return (v * w).sum().reshape(1) if micro else (v * w).sum(0)

    return torch.cat([s(yp * y), s(yp * (1 - y)), s((1 - yp) * y), s(y)])


def _r2(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    p = p.to(torch.float64).reshape(-1, spec.width)
    y = y.to(torch.float64).reshape(p.shape)
    w = (
        torch.ones_like(y)
        if sw is None
        else torch.broadcast_to(sw.to(torch.float64).reshape(-1, 1), y.shape)
    )
    wy = w * y
    n = y.new_tensor([float(y.numel())])
    return torch.cat([wy.sum(0), (y * wy).sum(0), (torch.square(y - p) * w).sum(0), w.sum(0), n])


def _mean_iou(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    c = spec.num_classes
    yl = (torch.argmax(y, -1) if not spec.sparse_y_true else y).reshape(-1).long()
    pl = (torch.argmax(p, -1) if not spec.sparse_y_pred else p).reshape(-1).long()
    w = (
        torch.ones(yl.shape, dtype=torch.float64, device=yl.device)
        if sw is None
        else torch.broadcast_to(sw.to(torch.float64).reshape(-1), yl.shape)
    )
    ok = (yl >= 0) & (yl < c) & (pl >= 0) & (pl < c)
    if spec.ignore_class is not None:
        ok = ok & (yl != spec.ignore_class)
    idx = torch.where(ok, yl * c + pl, torch.zeros_like(yl))
    cm = torch.zeros(c * c, dtype=torch.float64, device=yl.device)
    return cm.index_add_(0, idx, torch.where(ok, w, 0.0))


def _binary_iou(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    return _mean_iou(spec, y, (p.to(torch.float32) >= spec.threshold).long(), sw)


def _threshold_counts(spec: Any, y: torch.Tensor, p: torch.Tensor, sw: torch.Tensor | None) -> Any:
    y, p = _select(spec, y, p)
    if spec.clip:
        p = torch.clamp(p, 0.0, 1.0)
    counts = confusion_counts(y, p, sw, _thresholds(spec, p))
    return torch.cat([counts[c] for c in spec.conditions])


# the metric's name -> its state delta (tables: duallearn.plugin)
delta = plugin.metric_delta(globals(), _ops)
