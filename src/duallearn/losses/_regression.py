"""Regression losses."""

from __future__ import annotations

import numpy as np

from ._loss import REGISTRY, Loss


@REGISTRY.register("MeanSquaredError", "mean_squared_error", "mse", "MSE")
class MeanSquaredError(Loss):
    """``l = mean_last((y - p)²)``."""

    fn = "mean_squared_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.square(y_pred - y_true).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        return dl[..., None] * 2.0 * (y_pred - y_true) / y_pred.shape[-1]


@REGISTRY.register("MeanAbsoluteError", "mean_absolute_error", "mae", "MAE")
class MeanAbsoluteError(Loss):
    """``l = mean_last(|y - p|)`` (gradient sign(p - y), 0 at a tie)."""

    fn = "mean_absolute_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.abs(y_pred - y_true).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        return dl[..., None] * np.sign(y_pred - y_true) / y_pred.shape[-1]
