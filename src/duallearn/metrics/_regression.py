"""Regression metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._metric import REGISTRY, BuiltinMean, Metric


def _like(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return y.reshape(p.shape)


@REGISTRY.register("MeanAbsoluteError", "mean_absolute_error", "mae")
class MeanAbsoluteError(BuiltinMean):
    """``v = mean_last(|y − p|)``."""

    fn = "mean_absolute_error"
    target_rule = "same_size"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.abs(y_pred - _like(y_true, y_pred)).mean(axis=-1)


@REGISTRY.register("MeanSquaredError", "mean_squared_error", "mse")
class MeanSquaredError(BuiltinMean):
    """``v = mean_last((y − p)²)``."""

    fn = "mean_squared_error"
    target_rule = "same_size"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.square(y_pred - _like(y_true, y_pred)).mean(axis=-1)


@REGISTRY.register("RootMeanSquaredError", "root_mean_squared_error", "rmse")
class RootMeanSquaredError(MeanSquaredError):
    """``√(Σ w·mean_last((y − p)²) / Σ w)`` (the root of the accumulated mean)."""

    def result_from_state(self, state: np.ndarray) -> Any:
        total, count = state[0], state[1]
        return float(np.sqrt(total / count)) if count else 0.0


@REGISTRY.register("R2Score", "r2_score")
class R2Score(Metric):
    """Coefficient of determination per output column c (Keras's state, additive)::

        S = Σ w·y,  Q = Σ w·y²,  E = Σ w·(y − p)²,  N = Σ w       (sums over the batch)
        r2_c = 1 − E / (Q − S²/N)   (inf → 0);  uniform_average: mean_c r2_c;
        variance_weighted_average: Σ (Q − S²/N)·r2_c / Σ (Q − S²/N);  None: the vector.

    ``num_regressors`` p > 0 gives the adjusted score 1 − (1 − r2)(n − 1)/(n − p − 1), n the
    number of target values seen.
    """

    fn = "r2_score"
    target_rule = "same_size"

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: str | None = None,
    ) -> None:
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ConfigError(
                "R2Score: class_aggregation must be one of None, 'uniform_average', "
                f"'variance_weighted_average'. Received: class_aggregation={class_aggregation!r}."
            )
        if not isinstance(num_regressors, int) or num_regressors < 0:
            raise ConfigError(
                "R2Score: num_regressors must be a non-negative integer. "
                f"Received: num_regressors={num_regressors!r}."
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.width = 1
        super().__init__(name, dtype)

    def needs_shapes(self) -> bool:
        return True

    def build_shapes(self, y_true_shape, y_pred_shape):  # type: ignore[no-untyped-def]
        if y_pred_shape is not None and len(y_pred_shape) > 1 and y_pred_shape[-1] is not None:
            self.width = int(y_pred_shape[-1])
        self._built_shapes = True

    def state_size(self) -> int:
        return 4 * self.width + 1

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        p = np.asarray(y_pred, np.float64).reshape(-1, self.width)
        y = np.asarray(y_true, np.float64).reshape(p.shape)
        w = (
            np.ones_like(y)
            if sample_weight is None
            else np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(-1, 1), y.shape)
        )
        wy = w * y
        return np.concatenate(
            [
                wy.sum(0),
                (y * wy).sum(0),
                (np.square(y - p) * w).sum(0),
                w.sum(0),
                [float(y.size)],
            ]
        )

    def result_from_state(self, state: np.ndarray) -> Any:
        c = self.width
        s, q, e, n = (state[i * c : (i + 1) * c] for i in range(4))
        num = state[4 * c]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s / n
            total = q - s * mean
            raw = 1 - e / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2: Any = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):  # constant targets: nan (Keras)
                r2 = float(np.sum(total * raw) / np.sum(total))
        else:
            r2 = raw
        p = self.num_regressors
        if p and p < num - 1:
            r2 = 1.0 - (1.0 - r2) * (num - 1.0) / (num - p - 1.0)
        return r2

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
