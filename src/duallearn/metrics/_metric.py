"""Stateful metrics (``update_state`` / ``result`` / ``reset_state``), as Keras 3.

Most metrics are a weighted mean of per-sample values ``v`` (``MeanMetricWrapper``):
``total += Σ v·w``, ``count += Σ w``, ``result = total / count``. Backends accumulate
``total`` and ``count`` on the device and read them at logging points only. The numpy methods
here are the reference (and what a user gets calling a metric on arrays directly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._naming import snake_case
from .._registry import Registry

REGISTRY = Registry("metric")


class Metric:
    """Base class of stateful metrics."""

    fn: str = ""

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.reset_state()

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def result(self) -> float:
        return float(self._total / self._count) if self._count else 0.0

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


class MeanMetricWrapper(Metric):
    """Weighted mean of the per-sample values of ``reference_values``."""

    def reference_values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        v = np.asarray(self.reference_values(np.asarray(y_true), np.asarray(y_pred)), np.float64)
        w = (
            np.ones_like(v)
            if sample_weight is None
            else np.broadcast_to(
                np.asarray(sample_weight, np.float64).reshape(v.shape[:1] + (1,) * (v.ndim - 1)),
                v.shape,
            )
        )
        self._total += float((v * w).sum())
        self._count += float(w.sum())


@REGISTRY.register("Mean", "mean")
class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight)``."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        v = np.asarray(values, np.float64)
        w = (
            np.ones_like(v)
            if sample_weight is None
            else np.broadcast_to(np.asarray(sample_weight, np.float64), v.shape)
        )
        self._total += float((v * w).sum())
        self._count += float(w.sum())
