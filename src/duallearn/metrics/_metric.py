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
    """Base class of stateful metrics.

    A metric's state is a float64 vector of ``state_size()`` entries that only ever grows by
    addition: ``state += delta(y_true, y_pred, sample_weight)`` for each batch. Backends
    compute ``delta`` natively and keep the sum on the device; ``result_from_state`` turns the
    vector into the reported value (once, at logging points, in numpy).
    """

    fn: str = ""
    # Set by compile(): True for `weighted_metrics` (sample/class weights apply), False for
    # `metrics` (Keras ignores sample weights there).
    weighted: bool = False

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.reset_state()

    def state_size(self) -> int:
        return 2

    def needs_shapes(self) -> bool:
        """Whether ``state_size`` depends on the output width (set by ``build_shapes``)."""
        return False

    def build_shapes(
        self,
        y_true_shape: tuple[int | None, ...] | None,
        y_pred_shape: tuple[int | None, ...] | None,
    ) -> None:
        """Called with the target/output shapes before the state is sized (model compile,
        or the first numpy ``update_state``)."""

    def reset_state(self) -> None:
        self._state = np.zeros(self.state_size())

    def reference_delta(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        """The numpy reference of one batch's contribution to the state."""
        raise NotImplementedError

    def result_from_state(self, state: np.ndarray) -> Any:
        total, count = state[0], state[1]
        return float(total / count) if count else 0.0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        sw = None if sample_weight is None else np.asarray(sample_weight)
        yt, yp = np.asarray(y_true), np.asarray(y_pred)
        if self.needs_shapes() and not getattr(self, "_built_shapes", False):
            self.build_shapes(yt.shape, yp.shape)
            self.reset_state()
        self._state = self._state + self.reference_delta(yt, yp, sw)

    def result(self) -> Any:
        return self.result_from_state(self._state)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


def weighted_sums(v: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """``[Σ v·w, Σ w]`` with ``w`` broadcast from the batch axis (numpy reference)."""
    v = np.asarray(v, np.float64)
    if sample_weight is None:
        return np.array([v.sum(), float(v.size)])
    w = np.asarray(sample_weight, np.float64)
    while w.ndim > v.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    w = np.broadcast_to(w.reshape(w.shape + (1,) * (v.ndim - w.ndim)), v.shape)
    return np.array([(v * w).sum(), w.sum()])


class MeanMetricWrapper(Metric):
    """Weighted mean of the per-sample values of ``reference_values``."""

    def reference_values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        return weighted_sums(self.reference_values(y_true, y_pred), sample_weight)


@REGISTRY.register("Mean", "mean")
class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight)``."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self._state = self._state + weighted_sums(
            np.asarray(values), None if sample_weight is None else np.asarray(sample_weight)
        )
