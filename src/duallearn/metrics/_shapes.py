"""Shape checks of ``update_state``: how y_true must match y_pred (``Metric.target_rule``) and
how sample weights broadcast, so that a wrong shape is a :class:`~duallearn.errors.ShapeError`
naming what was expected, what was received and the fix (not a framework error)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError


def prefix_ok(w: tuple[int, ...], v: tuple[int, ...]) -> bool:
    """Whether weights of shape ``w`` broadcast from the batch axis onto values of shape
    ``v`` (trailing 1s dropped first), as ``weighted_sums`` does."""
    w = tuple(w)
    while len(w) > len(v) and w and w[-1] == 1:
        w = w[:-1]
    return len(w) <= len(v) and all(a in (b, 1) for a, b in zip(w, v, strict=False))


def _same_rank(y: tuple[int, ...], p: tuple[int, ...]) -> tuple[int, ...]:
    """Keras's ``squeeze_or_expand_to_same_rank`` on y_true's shape (a trailing 1 dropped or
    added when the ranks differ by one)."""
    if len(y) == len(p) + 1 and y[-1] == 1:
        return y[:-1]
    if len(p) == len(y) + 1 and p[-1] == 1:
        return (*y, 1)
    return y


def _broadcasts(y: tuple[int, ...], p: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(y, p) == tuple(p)
    except ValueError:
        return False


# how y_true must match y_pred, per rule (Metric.target_rule): a test and the expectation
TARGET_RULES: dict[str, tuple[Callable[[tuple[int, ...], tuple[int, ...]], bool], str]] = {
    "same_size": (
        lambda y, p: math.prod(y) == math.prod(p),
        "y_true with one value per prediction (y_pred's shape, or its number of values)",
    ),
    "sparse": (
        lambda y, p: len(p) >= 1 and math.prod(y) == math.prod(p[:-1]),
        "integer labels, one per row of y_pred: shape y_pred.shape[:-1] (or with a trailing 1)",
    ),
    "rows": (
        lambda y, p: len(y) >= 1 and len(p) >= 1 and math.prod(y[:-1]) == math.prod(p[:-1]),
        "one-hot targets with the rows of y_pred: shape (..., classes)",
    ),
    "broadcast": (
        lambda y, p: _broadcasts(_same_rank(y, p), p),
        "y_true of y_pred's shape (or broadcastable to it)",
    ),
    "labels": (
        lambda y, p: _broadcasts((*y, 1) if len(y) == len(p) - 1 else y, p),
        "y_true of y_pred's shape, or one label per row (broadcastable to it)",
    ),
}


def check_weight(metric: Any, sw: tuple[int, ...], values: tuple[int, ...]) -> None:
    if not prefix_ok(sw, values):
        raise ShapeError(
            f"{type(metric).__name__} {metric.name!r}: sample_weight must be a scalar or "
            f"broadcast from the batch axis onto shape {values}. Received: "
            f"sample_weight.shape={sw}. Fix: pass one weight per sample (shape "
            f"{values[:1]})."
        )


def check_targets(metric: Any, y_true: tuple[int, ...], y_pred: tuple[int, ...]) -> None:
    """Raise a :class:`ShapeError` unless y_true matches y_pred by ``metric.target_rule``."""
    rule = TARGET_RULES.get(metric.target_rule)
    if rule is not None and not rule[0](y_true, y_pred):
        raise ShapeError(
            f"{type(metric).__name__} {metric.name!r}: expected {rule[1]}. Received: "
            f"y_true.shape={y_true}, y_pred.shape={y_pred}. Fix: pass targets shaped "
            "as expected (or the metric matching your targets, e.g. "
            "SparseCategoricalAccuracy for integer labels)."
        )
