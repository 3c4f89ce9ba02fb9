"""What every backend's metrics share: the formula tables and the dispatch on a metric's name.

A backend writes natively each mean metric's per-sample values (``_acc(y_true, y_pred, spec)``),
``weighted_sums(values, sample_weight)`` and each other metric's state delta
(``_precision(spec, y_true, y_pred, sample_weight)``); :func:`metric_delta` assembles them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._losses import formula_table

# mean metrics: name (MetricSpec.fn) -> the backend function computing per-sample values;
# their state is ``weighted_sums(values, sample_weight)``
MEAN_METRIC_FORMULAS: Mapping[str, str] = {
    "accuracy": "_acc",
    "top_k_categorical_accuracy": "_top_k",
    "sparse_top_k_categorical_accuracy": "_sparse_top_k",
    "sparse_categorical_accuracy": "_sparse_acc",
    "categorical_accuracy": "_cat_acc",
    "binary_accuracy": "_bin_acc",
    "mean_absolute_error": "_mae",
    "mean_squared_error": "_mse",
}
# the other metrics: name -> the backend function computing one batch's state delta
METRIC_DELTA_FORMULAS: Mapping[str, str] = {
    "precision": "_precision",
    "recall": "_recall",
    "auc": "_auc",
    "fbeta_score": "_fbeta",
    "r2_score": "_r2",
    "mean_iou": "_mean_iou",
}

# delta(spec, y_true, y_pred, sample_weight) -> float64 vector of spec.state_size()
Delta = Callable[[Any, Any, Any, Any], Any]


def metric_delta(namespace: Mapping[str, Any]) -> Delta:
    """A backend's ``delta`` from the functions its module defines (it passes ``globals()``):
    the formulas named in :data:`MEAN_METRIC_FORMULAS` and :data:`METRIC_DELTA_FORMULAS`,
    and ``weighted_sums``."""
    values = formula_table(namespace, MEAN_METRIC_FORMULAS)
    weighted_sums = formula_table(namespace, {"w": "weighted_sums"})["w"]

    def mean_delta(spec: Any, y: Any, p: Any, sw: Any) -> Any:
        return weighted_sums(values[spec.fn](y, p, spec), sw)

    deltas: dict[str, Delta] = {name: mean_delta for name in values}
    deltas.update(formula_table(namespace, METRIC_DELTA_FORMULAS))

    def delta(spec: Any, y: Any, p: Any, sw: Any) -> Any:
        """One batch's additive contribution to a metric's state."""
        return deltas[spec.fn](spec, y, p, sw)

    return delta
