"""Regression metrics."""

from __future__ import annotations

import numpy as np

from ._metric import REGISTRY, MeanMetricWrapper


@REGISTRY.register("MeanAbsoluteError", "mean_absolute_error", "mae")
class MeanAbsoluteError(MeanMetricWrapper):
    """``v = mean_last(|y - p|)``."""

    fn = "mean_absolute_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.abs(y_pred - y_true.reshape(y_pred.shape)).mean(axis=-1)


@REGISTRY.register("MeanSquaredError", "mean_squared_error", "mse")
class MeanSquaredError(MeanMetricWrapper):
    """``v = mean_last((y - p)²)``."""

    fn = "mean_squared_error"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return np.square(y_pred - y_true.reshape(y_pred.shape)).mean(axis=-1)
