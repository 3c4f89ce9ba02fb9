"""Losses on torch: per-sample values by formula name, then Keras's reduction.

Formulas in duallearn/losses; probabilities are clipped as Keras does (not torch's -100 clamp).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from duallearn import plugin
from duallearn.plugin import LOSS_EPSILON as EPSILON

from . import _ops

# the attribute a formula sets on its per-sample values to mask entries out of the reduction
# (Keras's ``_keras_mask`` on a loss's values: SparseCategoricalCrossentropy's ignore_class);
# ``reduce`` folds it into the weights (``apply_mask``)
LOSS_MASK = "_dl_loss_mask"


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
    """``−log_softmax(z)[label]``; from probabilities Keras's ``z = log clip(p, ε, 1 − ε)``
    (clipped, then normalized by the softmax: not the categorical loss's clip(p/Σp)). With
    ``ignore_class`` the ignored labels give 0 and are masked (``LOSS_MASK``) out of the
    reduction's divisor, as Keras's mask."""
    labels = y.long()
    if labels.dim() == p.dim():
        labels = labels.squeeze(-1)
    ignore = o.get("ignore_class")
    keep = None
    if ignore is not None:
        keep = labels != ignore
        labels = torch.where(keep, labels, torch.zeros_like(labels))
    if keep is None and o.get("from_logits") and p.dim() == 2:
        # the same values and gradient as below, in torch's fused kernel pair
        return F.cross_entropy(p, labels, reduction="none")
    z = p if o.get("from_logits") else torch.log(torch.clamp(p, EPSILON, 1.0 - EPSILON))
    v = -torch.gather(torch.log_softmax(z, dim=-1), -1, labels.unsqueeze(-1)).squeeze(-1)
    if keep is not None:
        v = torch.where(keep, v, torch.zeros_like(v))
        setattr(v, LOSS_MASK, keep)
    return v


def _mape(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    d = torch.abs((y - p) / torch.clamp(torch.abs(y), min=EPSILON))
    return 100.0 * d.mean(dim=-1)


def _msle(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    a = torch.log(torch.clamp(p, min=EPSILON) + 1.0)
    b = torch.log(torch.clamp(y, min=EPSILON) + 1.0)
    return torch.square(a - b).mean(dim=-1)


def _huber(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    d = o["delta"]
    e = p - y
    a = torch.abs(e)
    return torch.where(a <= d, 0.5 * torch.square(e), d * a - 0.5 * d * d).mean(dim=-1)


def _log_cosh(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    x = p - y
    return (x + F.softplus(x * -2.0) - math.log(2.0)).mean(dim=-1)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """``x · rsqrt(max(Σx², ε²))`` = Keras's ``x · min(rsqrt(Σx²), 1/ε)``; clamped before the
    rsqrt so that an all-zero vector has the finite gradient 1/ε (not 0·∞ = nan)."""
    return x * torch.rsqrt(
        torch.clamp(torch.sum(torch.square(x), dim=-1, keepdim=True), min=EPSILON * EPSILON)
    )


def _cosine(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    return -torch.sum(_normalize(y) * _normalize(p), dim=-1)


def _hinge_labels(y: torch.Tensor) -> torch.Tensor:
    binary = torch.all((y == 0) | (y == 1))
    return torch.where(binary, 2.0 * y - 1.0, y)


def _hinge(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    return torch.clamp(1.0 - _hinge_labels(y) * p, min=0.0).mean(dim=-1)


def _squared_hinge(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    return torch.square(torch.clamp(1.0 - _hinge_labels(y) * p, min=0.0)).mean(dim=-1)


def _categorical_hinge(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    pos = torch.sum(y * p, dim=-1)
    neg = torch.amax((1.0 - y) * p, dim=-1)
    return torch.clamp(neg - pos + 1.0, min=0.0)


def _focal_factor(base: torch.Tensor, gamma: float) -> torch.Tensor:
    """``base^γ`` differentiated as TensorFlow's Pow (Keras): ``γ·base^(γ−1)``, which for
    γ = 0 is 0·base⁻¹ = nan at base = 0; torch's pow backward returns 0 for a zero exponent.
    The added ``0·√|base|`` is 0 with gradient 0 everywhere but at base = 0 (0·∞ = nan)."""
    f = torch.pow(base, gamma)
    if gamma == 0.0:
        f = f + 0.0 * torch.sqrt(torch.abs(base))
    return f


def _binary_focal(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * (1.0 - s) + 0.5 * s
    if o.get("from_logits"):
        # Keras (TensorFlow) takes the BCE of the logits themselves (its sigmoid keeps them)
        bce = F.binary_cross_entropy_with_logits(p, y, reduction="none")
        p = torch.sigmoid(p)
    else:
        q = torch.clamp(p, EPSILON, 1.0 - EPSILON)
        bce = -(y * torch.log(q) + (1.0 - y) * torch.log(1.0 - q))
    pt = y * p + (1.0 - y) * (1.0 - p)
    v = _focal_factor(1.0 - pt, o["gamma"]) * bce
    if o["apply_class_balancing"]:
        a = o["alpha"]
        v = (y * a + (1.0 - y) * (1.0 - a)) * v
    return v.mean(dim=-1)


def _categorical_focal(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * (1.0 - s) + s / y.shape[-1]
    if o.get("from_logits"):
        p = torch.softmax(p, dim=-1)
    q = torch.clamp(p / p.sum(dim=-1, keepdim=True), EPSILON, 1.0 - EPSILON)
    cce = -y * torch.log(q)
    return torch.sum(torch.pow(1.0 - q, o["gamma"]) * o["alpha"] * cce, dim=-1)


def _kld(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    y = torch.clamp(y, EPSILON, 1.0)
    p = torch.clamp(p, EPSILON, 1.0)
    return torch.sum(y * torch.log(y / p), dim=-1)


def _poisson(y: torch.Tensor, p: torch.Tensor, o: dict[str, Any]) -> torch.Tensor:
    return (p - y * torch.log(p + EPSILON)).mean(dim=-1)


def expand_rank_1(values: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Keras's ``squeeze_or_expand_to_same_rank(values, w)`` (``expand_rank_1=True``):
    rank-1 values weighted by ``(B, 1)`` weights take the trailing 1, so ``"none"`` returns
    ``(B, 1)`` as Keras does; other values unchanged (``align_weight`` then fits ``w``)."""
    if values.dim() == 1 and w.dim() == 2 and w.shape[-1] == 1:
        return values.unsqueeze(-1)
    return values


def align_weight(w: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    while w.dim() > values.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    while w.dim() < values.dim():
        w = w.unsqueeze(-1)
    return w.to(values.dtype)


def apply_mask(
    values: torch.Tensor, sw: torch.Tensor | None, reduction: str, mask: Any = None
) -> Any:
    """Keras's ``apply_mask``: the mask a formula set on its values (``LOSS_MASK``) and the
    output's Keras mask ``mask``, combined (Keras's ``in_mask & out_mask``), folded into the
    sample weights once: ``mask·total/valid`` for the mean reductions (the mean is then over
    the entries both keep; 0 when none is kept, Keras's divide_no_nan), ``mask`` otherwise."""
    keep = getattr(values, LOSS_MASK, None)
    if mask is not None:
        mask = mask.to(torch.bool)
        keep = mask if keep is None else keep & mask
    if keep is None:
        return sw
    m = keep.to(values.dtype)
    if reduction in ("sum_over_batch_size", "mean"):
        m = m * (m.numel() / torch.clamp(m.sum(), min=1.0))
    if sw is None:
        return m
    m = expand_rank_1(m, sw)
    return align_weight(sw, m) * m


def reduce(
    values: torch.Tensor, sw: torch.Tensor | None, reduction: str, mask: Any = None
) -> torch.Tensor:
    """Keras's reductions (see duallearn/losses/_loss.py), after ``apply_mask`` (``mask``:
    the output's Keras mask in fit / evaluate, None when unmasked)."""
    sw = apply_mask(values, sw, reduction, mask)
    if sw is not None:
        values = expand_rank_1(values, sw)
        values = values * align_weight(sw, values)
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
        # Keras's divide_no_nan: every weight 0 gives 0 (and a 0 gradient), not 0/0
        zero = denom == 0
        return torch.where(zero, torch.zeros_like(total), total / torch.where(zero, 1, denom))
    return total / values.numel()


def align_targets(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    if y.dtype != p.dtype:
        y = y.to(p.dtype)
    if y.dim() == p.dim() - 1:
        return y.unsqueeze(-1)
    if y.dim() == p.dim() + 1:
        return y.squeeze(-1)
    return y


# the call around the formulas, and custom losses' call() run with this backend's dl.ops
# (duallearn.plugin)
LossFn = plugin.loss_fn_class(globals(), ops=_ops)
