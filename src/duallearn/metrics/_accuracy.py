"""Accuracy metrics."""

from __future__ import annotations

import numpy as np

from ._metric import REGISTRY, MeanMetricWrapper


@REGISTRY.register("SparseCategoricalAccuracy", "sparse_categorical_accuracy")
class SparseCategoricalAccuracy(MeanMetricWrapper):
    """``v = [argmax(p) == y]`` with integer labels y of shape (B,) or (B, 1)."""

    fn = "sparse_categorical_accuracy"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = y_true.reshape(y_pred.shape[:-1])
        return (np.argmax(y_pred, axis=-1) == y).astype(np.float64)


@REGISTRY.register("CategoricalAccuracy", "categorical_accuracy")
class CategoricalAccuracy(MeanMetricWrapper):
    """``v = [argmax(p) == argmax(y)]`` with one-hot targets."""

    fn = "categorical_accuracy"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)


@REGISTRY.register("BinaryAccuracy", "binary_accuracy")
class BinaryAccuracy(MeanMetricWrapper):
    """``v = mean_last([(p > threshold) == y])``, threshold 0.5."""

    fn = "binary_accuracy"

    def __init__(
        self, name: str | None = None, dtype: str | None = None, threshold: float = 0.5
    ) -> None:
        self.threshold = float(threshold)
        super().__init__(name, dtype)

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return ((y_pred > self.threshold) == y_true.reshape(y_pred.shape)).mean(axis=-1)

    def get_config(self):  # type: ignore[no-untyped-def]
        return {**super().get_config(), "threshold": self.threshold}
