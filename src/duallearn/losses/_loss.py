"""The Loss base class and Keras's reductions.

A loss computes per-sample values ``l`` (the last axis is reduced by the loss itself), then
with sample weights ``w`` (broadcast to ``l``) reduces as Keras 3 does:

* ``"sum_over_batch_size"`` (default, alias ``"mean"``): ``Σ(w·l) / size(l)`` (weights are
  *not* renormalised: torch's class-weighted ``mean`` divides by ``Σw`` instead);
* ``"mean_with_sample_weight"``: ``Σ(w·l) / Σw``;
* ``"sum"``: ``Σ(w·l)``; ``"none"``: ``w·l``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._naming import snake_case
from .._registry import Registry
from ..errors import ConfigError, ShapeError

REGISTRY = Registry("loss")
REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none")


class Loss:
    """Base class. Subclasses set ``fn`` (the backend function name) and implement
    ``reference_values`` / ``reference_values_grad`` in numpy."""

    fn: str = ""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        if reduction is None:
            reduction = "none"
        if reduction not in REDUCTIONS:
            raise ConfigError(
                f"Unknown loss reduction. Expected one of {REDUCTIONS}. "
                f"Received: reduction={reduction!r}."
            )
        self.reduction = reduction
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype

    # ---- what backends read ---------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The formula options backends need (e.g. from_logits, label_smoothing)."""
        return {}

    # ---- numpy reference ------------------------------------------------------------------
    def reference_values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference_values_grad(
        self, y_true: np.ndarray, y_pred: np.ndarray, dl: np.ndarray
    ) -> np.ndarray:
        """dL/dy_pred given dL/dvalues."""
        raise NotImplementedError

    def prepare(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Check and cast targets to what the formula expects (numpy side). As Keras, a
        trailing axis of size 1 on either side is squeezed/expanded to match."""
        y_true = np.asarray(y_true)
        self.check_targets(y_true, y_pred.shape)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        elif y_true.ndim == y_pred.ndim + 1:
            y_true = y_true[..., 0]
        return y_true.astype(y_pred.dtype)

    def check_targets(self, y_true: np.ndarray, y_pred_shape: tuple[int | None, ...]) -> None:
        """Raise a clear error when targets cannot go with predictions of this shape
        (called by the numpy reference and once per ``fit``/``evaluate`` by the model)."""
        ys, ps = tuple(np.shape(y_true)), tuple(y_pred_shape)
        if len(ys) == len(ps) - 1 and ps[-1] == 1:
            ps = ps[:-1]
        elif len(ys) == len(ps) + 1 and ys[-1] == 1:
            ys = ys[:-1]
        if len(ys) != len(ps) or any(
            p is not None and y != p and y != 1 for y, p in zip(ys[1:], ps[1:], strict=True)
        ):
            raise ShapeError(
                f"{type(self).__name__}: y_true and y_pred must have the same shape (up to a "
                "trailing axis of size 1, or broadcasting a size-1 axis). Received: "
                f"y_true.shape={np.shape(y_true)}, "
                f"y_pred.shape={tuple(y_pred_shape)}. Fix: one-hot or reshape the targets, or "
                "pick the loss that matches them (e.g. sparse_categorical_crossentropy for "
                "integer labels)."
            )

    def reference(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """The reduced loss, in numpy."""
        y_true = self.prepare(y_true, y_pred)
        values = self.reference_values(y_true, y_pred)
        return reduce_values(values, sample_weight, self.reduction)

    def reference_grad(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """d(reduced loss)/d(y_pred), in numpy (reduction must not be 'none')."""
        y_true = self.prepare(y_true, y_pred)
        values = self.reference_values(y_true, y_pred)
        w = (
            np.ones_like(values)
            if sample_weight is None
            else np.broadcast_to(_align_weight(sample_weight, values), values.shape).astype(
                values.dtype
            )
        )
        if self.reduction in ("sum_over_batch_size", "mean"):
            dl = w / values.size
        elif self.reduction == "mean_with_sample_weight":
            dl = w / w.sum()
        else:
            dl = w
        return self.reference_values_grad(y_true, y_pred, dl)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """Numpy evaluation (``loss(y_true, y_pred)``) as Keras allows on plain arrays."""
        return self.reference(
            np.asarray(y_true),
            np.asarray(y_pred, dtype=np.float64)
            if np.asarray(y_pred).dtype.kind != "f"
            else np.asarray(y_pred),
            None if sample_weight is None else np.asarray(sample_weight),
        )

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


def _align_weight(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=values.dtype)
    while w.ndim > values.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    while w.ndim < values.ndim:
        w = w[..., None]
    return w


def reduce_values(
    values: np.ndarray, sample_weight: np.ndarray | None, reduction: str
) -> np.ndarray:
    """Apply sample weights and a Keras reduction (numpy)."""
    if sample_weight is not None:
        w = np.broadcast_to(_align_weight(sample_weight, values), values.shape)
        values = values * w
    else:
        w = np.ones_like(values)
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        return total / w.sum()
    return total / values.size
