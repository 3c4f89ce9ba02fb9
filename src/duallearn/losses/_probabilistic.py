"""Cross-entropy losses (Keras 3 formulas, including its clipping of probabilities).

With ``from_logits=False`` Keras clips probabilities to ``[ε, 1-ε]``, ε = 1e-7, before the
log (torch's ``BCELoss`` clamps the log at -100 instead, and ``nll_loss`` does not clip).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import reference as act
from ..errors import ConfigError, ShapeError
from ._loss import REGISTRY, Loss

EPSILON = 1e-7


def _smoothing(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(
            f"label_smoothing must be a number in [0, 1]. Received: label_smoothing={value!r}."
        )
    return float(value)


@REGISTRY.register("BinaryCrossentropy", "binary_crossentropy", "bce")
class BinaryCrossentropy(Loss):
    """``l = -mean_last(y·log p + (1-y)·log(1-p))``, p = sigmoid(z) if ``from_logits`` else
    clip(p, ε, 1-ε); label smoothing ``y ← y(1-s) + s/2``."""

    fn = "binary_crossentropy"

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _smoothing(label_smoothing)
        self.axis = axis

    def options(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def _smooth(self, y: np.ndarray) -> np.ndarray:
        s = self.label_smoothing
        return y * (1.0 - s) + 0.5 * s if s else y

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        if self.from_logits:
            z = y_pred
            v = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            v = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        return v.mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        d = dl[..., None] / y_pred.shape[-1]
        if self.from_logits:
            return d * (act("sigmoid", y_pred) - y)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
        return d * (-(y / p) + (1 - y) / (1 - p)) * inside

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


@REGISTRY.register("CategoricalCrossentropy", "categorical_crossentropy", "cce")
class CategoricalCrossentropy(BinaryCrossentropy):
    """``l = -Σ_last y·log p`` with p = softmax(z) if ``from_logits``, else
    clip(p / Σp, ε, 1-ε); label smoothing ``y ← y(1-s) + s/C``."""

    fn = "categorical_crossentropy"

    def _smooth(self, y: np.ndarray) -> np.ndarray:
        s = self.label_smoothing
        return y * (1.0 - s) + s / y.shape[-1] if s else y

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        if self.from_logits:
            z = y_pred - y_pred.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        else:
            logp = np.log(
                np.clip(y_pred / y_pred.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
            )
        return -(y * logp).sum(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        d = dl[..., None]
        if self.from_logits:
            return d * (act("softmax", y_pred) * y.sum(axis=-1, keepdims=True) - y)
        s = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / s
        inside = (q >= EPSILON) & (q <= 1 - EPSILON)
        dq = -(y / np.clip(q, EPSILON, 1 - EPSILON)) * inside
        # q = p / s: dq_i/dp_j = δij/s - p_i/s²
        return d * (dq / s - (dq * y_pred).sum(axis=-1, keepdims=True) / (s * s))


@REGISTRY.register("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(Loss):
    """``l = -log p[label]`` with p = softmax(z) if ``from_logits``, else clip(p/Σp, ε, 1-ε).
    Labels are integers in ``[0, C)`` of shape (B,) or (B, 1). With ``ignore_class=k``, samples
    labelled k get loss 0 and count in the batch size (Keras)."""

    fn = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class
        self.axis = axis

    def options(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "ignore_class": self.ignore_class}

    def prepare(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y = np.asarray(y_true)
        if y.ndim == y_pred.ndim and y.shape[-1] == 1:
            y = y[..., 0]
        if y.shape != y_pred.shape[:-1]:
            raise ShapeError(
                f"SparseCategoricalCrossentropy expects integer labels of shape "
                f"{y_pred.shape[:-1]} (or with a trailing 1) for predictions of shape "
                f"{y_pred.shape}. Received: y_true.shape={np.asarray(y_true).shape}."
            )
        labels = y.astype(np.int64)
        valid = labels != (self.ignore_class if self.ignore_class is not None else -(2**62))
        if np.any((labels[valid] < 0) | (labels[valid] >= y_pred.shape[-1])):
            bad = labels[valid][(labels[valid] < 0) | (labels[valid] >= y_pred.shape[-1])][0]
            raise ShapeError(
                f"SparseCategoricalCrossentropy: labels must be in [0, {y_pred.shape[-1]}). "
                f"Received a label {int(bad)}. Fix: check the number of output units."
            )
        return labels

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        onehot = np.eye(y_pred.shape[-1], dtype=y_pred.dtype)[
            np.where(
                y_true == (self.ignore_class if self.ignore_class is not None else -1), 0, y_true
            )
        ]
        v = CategoricalCrossentropy(from_logits=self.from_logits).reference_values(onehot, y_pred)
        if self.ignore_class is not None:
            v = v * (y_true != self.ignore_class)
        return v

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        keep = (
            y_true != self.ignore_class
            if self.ignore_class is not None
            else np.ones(y_true.shape, bool)
        )
        onehot = np.eye(y_pred.shape[-1], dtype=y_pred.dtype)[np.where(keep, y_true, 0)]
        return CategoricalCrossentropy(from_logits=self.from_logits).reference_values_grad(
            onehot, y_pred, dl * keep
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }
