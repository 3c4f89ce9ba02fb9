"""Regression and similarity losses (Keras 3 formulas; ε = 1e-7 = ``backend.epsilon()``).

Each per-sample value is a mean over the last axis unless stated; ``n`` is that axis' size.
Differs from PyTorch: torch's ``MSELoss``/``L1Loss``/``HuberLoss`` reduce over every element
at once (same number for 2-D inputs without weights); ``HuberLoss`` equals this Huber;
``SmoothL1Loss`` is Huber/δ; torch has no MAPE/MSLE/LogCosh classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._loss import REGISTRY, Loss

EPSILON = 1e-7


@REGISTRY.register("MeanSquaredError", "mean_squared_error", "mse", "MSE")
class MeanSquaredError(Loss):
    """``l = mean_last((y − p)²)``."""

    fn = "mean_squared_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.square(y_pred - y_true).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        return dl[..., None] * 2.0 * (y_pred - y_true) / y_pred.shape[-1]


@REGISTRY.register("MeanAbsoluteError", "mean_absolute_error", "mae", "MAE")
class MeanAbsoluteError(Loss):
    """``l = mean_last(|y − p|)`` (gradient sign(p − y), 0 at a tie)."""

    fn = "mean_absolute_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.abs(y_pred - y_true).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        return dl[..., None] * np.sign(y_pred - y_true) / y_pred.shape[-1]


@REGISTRY.register("MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape", "MAPE")
class MeanAbsolutePercentageError(Loss):
    """``l = 100·mean_last(|(y − p) / max(|y|, ε)|)``."""

    fn = "mean_absolute_percentage_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return 100.0 * np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON)).mean(-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        d = np.sign(y_pred - y_true) / np.maximum(np.abs(y_true), EPSILON)
        return dl[..., None] * 100.0 * d / y_pred.shape[-1]


@REGISTRY.register("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle", "MSLE")
class MeanSquaredLogarithmicError(Loss):
    """``l = mean_last((log(max(p, ε) + 1) − log(max(y, ε) + 1))²)``."""

    fn = "mean_squared_logarithmic_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        a = np.log(np.maximum(y_pred, EPSILON) + 1.0)
        b = np.log(np.maximum(y_true, EPSILON) + 1.0)
        return np.square(a - b).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        q = np.maximum(y_pred, EPSILON)
        a = np.log(q + 1.0)
        b = np.log(np.maximum(y_true, EPSILON) + 1.0)
        d = 2.0 * (a - b) / (q + 1.0) * (y_pred >= EPSILON)
        return dl[..., None] * d / y_pred.shape[-1]


@REGISTRY.register("Huber", "huber", "huber_loss")
class Huber(Loss):
    """``l = mean_last(½e² if |e| ≤ δ else δ|e| − ½δ²)``, e = p − y, δ = ``delta`` (1.0)."""

    fn = "huber"

    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or delta <= 0:
            raise ConfigError(f"Huber: delta must be a positive number. Received: delta={delta!r}.")
        self.delta = float(delta)

    def options(self) -> dict[str, Any]:
        return {"delta": self.delta}

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        e = y_pred - y_true
        a, d = np.abs(e), self.delta
        return np.where(a <= d, 0.5 * e * e, d * a - 0.5 * d * d).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        e = y_pred - y_true
        g = np.where(np.abs(e) <= self.delta, e, self.delta * np.sign(e))
        return dl[..., None] * g / y_pred.shape[-1]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


@REGISTRY.register("LogCosh", "log_cosh", "logcosh")
class LogCosh(Loss):
    """``l = mean_last(x + softplus(−2x) − log 2)``, x = p − y (= log cosh x, overflow-free)."""

    fn = "log_cosh"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        x = y_pred - y_true
        return (x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0)).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        return dl[..., None] * np.tanh(y_pred - y_true) / y_pred.shape[-1]


@REGISTRY.register("CosineSimilarity", "cosine_similarity")
class CosineSimilarity(Loss):
    """``l = −Σ_last ŷ·p̂`` with x̂ = x·min(1/‖x‖, 1/ε) (Keras's normalize); −1 is best."""

    fn = "cosine_similarity"

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if axis != -1:
            raise ConfigError(
                f"CosineSimilarity: only axis=-1 is supported. Received: axis={axis!r}."
            )
        self.axis = axis

    @staticmethod
    def _inv(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.sum(x * x, axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):
            r = 1.0 / np.sqrt(s)
        return np.minimum(r, 1.0 / EPSILON), r < 1.0 / EPSILON

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return -np.sum(y_true * self._inv(y_true)[0] * y_pred * self._inv(y_pred)[0], axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        t = y_true * self._inv(y_true)[0]
        r, free = self._inv(y_pred)
        ph = y_pred * r
        g = np.where(free, -r * (t - np.sum(t * ph, axis=-1, keepdims=True) * ph), -r * t)
        return dl[..., None] * g

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def _hinge_labels(y: np.ndarray) -> np.ndarray:
    """Keras: labels in {0, 1} (the whole batch) become {−1, 1}; others are kept."""
    return 2.0 * y - 1.0 if np.all((y == 0) | (y == 1)) else y


@REGISTRY.register("Hinge", "hinge")
class Hinge(Loss):
    """``l = mean_last(max(1 − y·p, 0))``; y ∈ {−1, 1} (0/1 labels converted as Keras)."""

    fn = "hinge"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = _hinge_labels(y_true)
        return dl[..., None] * -y * (1.0 - y * y_pred > 0) / y_pred.shape[-1]


@REGISTRY.register("SquaredHinge", "squared_hinge")
class SquaredHinge(Loss):
    """``l = mean_last(max(1 − y·p, 0)²)``; labels as :class:`Hinge`."""

    fn = "squared_hinge"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.square(np.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = _hinge_labels(y_true)
        m = np.maximum(1.0 - y * y_pred, 0.0)
        return dl[..., None] * -2.0 * m * y / y_pred.shape[-1]


@REGISTRY.register("CategoricalHinge", "categorical_hinge")
class CategoricalHinge(Loss):
    """``l = max(max_last((1 − y)·p) − Σ_last y·p + 1, 0)`` (one-hot y)."""

    fn = "categorical_hinge"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        pos = np.sum(y_true * y_pred, axis=-1)
        neg = np.max((1.0 - y_true) * y_pred, axis=-1)
        return np.maximum(neg - pos + 1.0, 0.0)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        q = (1.0 - y_true) * y_pred
        j = np.argmax(q, axis=-1)
        onehot = np.eye(y_pred.shape[-1], dtype=y_pred.dtype)[j]
        active = (self.reference_values(y_true, y_pred) > 0)[..., None]
        return dl[..., None] * active * (onehot * (1.0 - y_true) - y_true)
