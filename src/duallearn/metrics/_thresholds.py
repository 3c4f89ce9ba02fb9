"""Confusion counts at thresholds (Keras 3's TruePositives … FalseNegatives) and the metrics
that read the best operating point off them (PrecisionAtRecall, RecallAtPrecision,
SensitivityAtSpecificity, SpecificityAtSensitivity).

The state is weighted confusion counts per threshold θ_t, which add across batches::

    tp[t] = Σ w·[y ≠ 0]·[p > θ_t],  fp[t] = Σ w·[y = 0]·[p > θ_t]
    tn[t] = Σ w·[y = 0]·[p ≤ θ_t],  fn[t] = Σ w·[y ≠ 0]·[p ≤ θ_t]

with the sample weight broadcast to every prediction (``confusion_counts``). As Keras, the
predictions are clipped to [0, 1] first when the thresholds are evenly spaced over [0, 1]
(Keras's bucketed update), which the ``*At*`` metrics' thresholds always are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._confusion import confusion_counts
from ._metric import REGISTRY, Metric

EPSILON = 1e-7  # Keras's backend.epsilon(), as in is_evenly_distributed_thresholds
# which of confusion_counts' (tp, fp, tn, fn) each count metric keeps
TP, FP, TN, FN = 0, 1, 2, 3


def evenly_spaced(thresholds: list[float]) -> bool:
    """Keras's ``is_evenly_distributed_thresholds``: ≥ 3 thresholds ``i/(n−1)``."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float, np.integer, np.floating))


class _CountsAtThresholds(Metric):
    """Base: the ``conditions`` of ``(tp, fp, tn, fn)`` at ``thresholds``, optionally for one
    ``class_id`` column (the backends' ``_threshold_counts``)."""

    fn = "threshold_counts"
    target_rule = "labels"
    conditions: tuple[int, ...] = (TP, FP, TN, FN)
    top_k = None  # read by the backends' shared column selection
    class_id: int | None = None

    def _set_thresholds(self, thresholds: list[float]) -> None:
        self.thresholds = [float(t) for t in thresholds]
        self.clip = evenly_spaced(self.thresholds)

    def state_size(self) -> int:
        return len(self.conditions) * len(self.thresholds)

    def select(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(y_pred, np.float64)
        y = np.asarray(y_true, np.float64)
        if y.ndim == p.ndim - 1:
            y = y[..., None]
        if self.class_id is not None:
            y, p = y[..., self.class_id, None], p[..., self.class_id, None]
        if self.clip:
            p = np.clip(p, 0.0, 1.0)
        return y, p

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        y, p = self.select(y_true, y_pred)
        counts = confusion_counts(y, p, sample_weight, np.asarray(self.thresholds))
        return np.concatenate([counts[c] for c in self.conditions])

    def counts(self, state: np.ndarray) -> list[np.ndarray]:
        n = len(self.thresholds)
        return [state[i * n : (i + 1) * n] for i in range(len(self.conditions))]


class _ConfusionMatrixConditionCount(_CountsAtThresholds):
    """One confusion count per threshold: a float for one threshold, else a list (Keras)."""

    def __init__(
        self,
        thresholds: float | list[float] | tuple[float, ...] | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        cls = type(self).__name__
        ts = [0.5] if thresholds is None else thresholds
        ts = list(ts) if isinstance(ts, (list, tuple)) else [ts]
        if not ts or not all(_is_number(t) and 0.0 <= t <= 1.0 for t in ts):
            raise ConfigError(
                f"{cls}: expected thresholds as a number or a non-empty list of numbers in "
                f"[0, 1]. Received: thresholds={thresholds!r}. Fix: pass e.g. thresholds=0.5 "
                "or thresholds=[0.3, 0.7]."
            )
        self.init_thresholds = thresholds
        self._set_thresholds(ts)
        super().__init__(name, dtype)

    def result_from_state(self, state: np.ndarray) -> Any:
        return float(state[0]) if len(self.thresholds) == 1 else [float(v) for v in state]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


@REGISTRY.register("TruePositives", "true_positives")
class TruePositives(_ConfusionMatrixConditionCount):
    """``Σ w·[y ≠ 0]·[p > θ]`` per threshold (default 0.5).

    >>> import duallearn as dl
    >>> m = dl.metrics.TruePositives()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> m.result()
    2.0
    """

    conditions = (TP,)


@REGISTRY.register("FalsePositives", "false_positives")
class FalsePositives(_ConfusionMatrixConditionCount):
    """``Σ w·[y = 0]·[p > θ]`` per threshold (default 0.5)."""

    conditions = (FP,)


@REGISTRY.register("TrueNegatives", "true_negatives")
class TrueNegatives(_ConfusionMatrixConditionCount):
    """``Σ w·[y = 0]·[p ≤ θ]`` per threshold (default 0.5)."""

    conditions = (TN,)


@REGISTRY.register("FalseNegatives", "false_negatives")
class FalseNegatives(_ConfusionMatrixConditionCount):
    """``Σ w·[y ≠ 0]·[p ≤ θ]`` per threshold (default 0.5)."""

    conditions = (FN,)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b``, 0 where ``b`` is 0 (Keras's ``divide_no_nan``)."""
    return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)


class SensitivitySpecificityBase(_CountsAtThresholds):
    """Base of the ``*At*`` metrics: tp, fp, tn, fn at ``num_thresholds`` thresholds
    ``[0, 1/(n−1), …, 1]`` (``[0.5]`` when n = 1), predictions clipped to [0, 1]; the result
    is the largest ``dependent`` statistic over the thresholds whose ``constrained`` statistic
    is ≥ the target value (0 when none is)."""

    value_name = ""  # the argument holding the target value ("recall", ...)

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        cls, arg = type(self).__name__, self.value_name
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            raise ConfigError(
                f"{cls}: expected {arg} as a number in [0, 1]. Received: {arg}={value!r}. "
                f"Fix: pass e.g. {arg}=0.8."
            )
        if (
            isinstance(num_thresholds, bool)
            or not isinstance(num_thresholds, int)
            or (num_thresholds <= 0)
        ):
            raise ConfigError(
                f"{cls}: expected num_thresholds as an integer > 0. Received: "
                f"num_thresholds={num_thresholds!r}. Fix: pass e.g. num_thresholds=200."
            )
        if class_id is not None and (
            isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0
        ):
            raise ConfigError(
                f"{cls}: expected class_id as None or a column index ≥ 0. Received: "
                f"class_id={class_id!r}. Fix: pass the index of the class in y_pred's last axis."
            )
        self.value = float(value)
        setattr(self, arg, self.value)  # Keras's attribute (self.recall, ...)
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self._set_thresholds([0.5])
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._set_thresholds([0.0, *inner, 1.0])
        super().__init__(name, dtype)

    def statistics(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(constrained, dependent)`` per threshold."""
        raise NotImplementedError

    def result_from_state(self, state: np.ndarray) -> Any:
        constrained, dependent = self.statistics(state)
        feasible = constrained >= self.value
        return float(np.max(np.where(feasible, dependent, 0.0), initial=0.0))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self.value_name: self.value,
        }


def _sens_spec(tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> Any:
    return _ratio(tp, tp + fn), _ratio(tn, tn + fp)


def _prec_rec(tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> Any:
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn)


@REGISTRY.register("SensitivityAtSpecificity", "sensitivity_at_specificity")
class SensitivityAtSpecificity(SensitivitySpecificityBase):
    """Best sensitivity ``tp/(tp + fn)`` over the thresholds where specificity
    ``tn/(tn + fp)`` ≥ ``specificity``."""

    value_name = "specificity"

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def statistics(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sens, spec = _sens_spec(*self.counts(state))
        return spec, sens


@REGISTRY.register("SpecificityAtSensitivity", "specificity_at_sensitivity")
class SpecificityAtSensitivity(SensitivitySpecificityBase):
    """Best specificity ``tn/(tn + fp)`` over the thresholds where sensitivity
    ``tp/(tp + fn)`` ≥ ``sensitivity``."""

    value_name = "sensitivity"

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def statistics(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _sens_spec(*self.counts(state))


@REGISTRY.register("PrecisionAtRecall", "precision_at_recall")
class PrecisionAtRecall(SensitivitySpecificityBase):
    """Best precision ``tp/(tp + fp)`` over the thresholds where recall ``tp/(tp + fn)`` ≥
    ``recall``."""

    value_name = "recall"

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def statistics(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prec, rec = _prec_rec(*self.counts(state))
        return rec, prec


@REGISTRY.register("RecallAtPrecision", "recall_at_precision")
class RecallAtPrecision(SensitivitySpecificityBase):
    """Best recall ``tp/(tp + fn)`` over the thresholds where precision ``tp/(tp + fp)`` ≥
    ``precision`` (0 when no threshold reaches it)."""

    value_name = "precision"

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def statistics(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _prec_rec(*self.counts(state))
