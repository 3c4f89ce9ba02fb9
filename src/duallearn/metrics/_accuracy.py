"""Accuracy metrics (weighted means of per-sample values; Keras 3 formulas)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._metric import REGISTRY, BuiltinMean


def _same_rank(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    if y.ndim == p.ndim - 1 and p.shape[-1] == 1:
        return y[..., None]
    if y.ndim == p.ndim + 1 and y.shape[-1] == 1:
        return y[..., 0]
    return y


@REGISTRY.register("Accuracy")
class Accuracy(BuiltinMean):
    """``v = mean_last([y == p])`` (exact equality of values)."""

    fn = "accuracy"
    target_rule = "broadcast"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = _same_rank(y_true, y_pred).astype(y_pred.dtype)
        return (y == y_pred).astype(np.float64).mean(axis=-1)


@REGISTRY.register("SparseCategoricalAccuracy", "sparse_categorical_accuracy")
class SparseCategoricalAccuracy(BuiltinMean):
    """``v = [argmax(p) == y]`` with integer labels y of shape (B,) or (B, 1)."""

    fn = "sparse_categorical_accuracy"
    target_rule = "sparse"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = y_true.reshape(y_pred.shape[:-1])
        return (np.argmax(y_pred, axis=-1) == y).astype(np.float64)


@REGISTRY.register("CategoricalAccuracy", "categorical_accuracy")
class CategoricalAccuracy(BuiltinMean):
    """``v = [argmax(p) == argmax(y)]`` with one-hot targets."""

    fn = "categorical_accuracy"
    target_rule = "rows"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)


@REGISTRY.register("BinaryAccuracy", "binary_accuracy")
class BinaryAccuracy(BuiltinMean):
    """``v = mean_last([y == (p > threshold)])``, threshold 0.5 (targets must be 0/1, as
    Keras compares them exactly)."""

    fn = "binary_accuracy"
    target_rule = "broadcast"

    def __init__(
        self, name: str | None = None, dtype: str | None = None, threshold: float = 0.5
    ) -> None:
        self.threshold = float(threshold)
        super().__init__(name=name, dtype=dtype)

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = _same_rank(y_true, y_pred).astype(np.float64)
        return (y == (y_pred > self.threshold)).astype(np.float64).mean(axis=-1)

    def get_config(self):  # type: ignore[no-untyped-def]
        return {**super().get_config(), "threshold": self.threshold}


def _k(cls: str, k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"{cls}: k must be a positive integer. Received: k={k!r}.")
    return int(k)


def _in_top_k(labels: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """``[p[label] is among the k largest]``; ties at the boundary count as in (TF)."""
    target = np.take_along_axis(p, labels[..., None].astype(np.int64), axis=-1)
    return ((p > target).sum(axis=-1) < k).astype(np.float64)


@REGISTRY.register("TopKCategoricalAccuracy", "top_k_categorical_accuracy")
class TopKCategoricalAccuracy(BuiltinMean):
    """``v = [argmax(y) is among the k largest p]`` (k = 5)."""

    fn = "top_k_categorical_accuracy"
    target_rule = "rows"

    def __init__(self, k: int = 5, name: str | None = None, dtype: str | None = None) -> None:
        self.k = _k("TopKCategoricalAccuracy", k)
        super().__init__(name=name, dtype=dtype)

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return _in_top_k(np.argmax(y_true, axis=-1), y_pred, self.k)

    def get_config(self):  # type: ignore[no-untyped-def]
        return {**super().get_config(), "k": self.k}


@REGISTRY.register("SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy")
class SparseTopKCategoricalAccuracy(BuiltinMean):
    """``v = [y is among the k largest p]`` with integer labels (k = 5)."""

    fn = "sparse_top_k_categorical_accuracy"
    target_rule = "sparse"

    def __init__(self, k: int = 5, name: str | None = None, dtype: str | None = None) -> None:
        self.k = _k("SparseTopKCategoricalAccuracy", k)
        super().__init__(name=name, dtype=dtype)

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return _in_top_k(y_true.reshape(y_pred.shape[:-1]), y_pred, self.k)

    def get_config(self):  # type: ignore[no-untyped-def]
        return {**super().get_config(), "k": self.k}
