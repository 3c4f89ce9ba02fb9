"""Metrics (Keras 3 names, formulas and string aliases)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ._accuracy import Accuracy as Accuracy
from ._accuracy import BinaryAccuracy as BinaryAccuracy
from ._accuracy import CategoricalAccuracy as CategoricalAccuracy
from ._accuracy import SparseCategoricalAccuracy as SparseCategoricalAccuracy
from ._accuracy import SparseTopKCategoricalAccuracy as SparseTopKCategoricalAccuracy
from ._accuracy import TopKCategoricalAccuracy as TopKCategoricalAccuracy
from ._confusion import AUC as AUC
from ._confusion import F1Score as F1Score
from ._confusion import FBetaScore as FBetaScore
from ._confusion import Precision as Precision
from ._confusion import Recall as Recall
from ._iou import MeanIoU as MeanIoU
from ._metric import REGISTRY as REGISTRY
from ._metric import Mean as Mean
from ._metric import MeanMetricWrapper as MeanMetricWrapper
from ._metric import Metric as Metric
from ._metric import weighted_sums as weighted_sums
from ._regression import MeanAbsoluteError as MeanAbsoluteError
from ._regression import MeanSquaredError as MeanSquaredError
from ._regression import R2Score as R2Score
from ._regression import RootMeanSquaredError as RootMeanSquaredError

ACCURACY_NAMES = ("accuracy", "acc")


def get(
    identifier: Any,
    y_true_shape: tuple[int | None, ...] | None = None,
    y_pred_shape: tuple[int | None, ...] | None = None,
) -> Metric:
    """Resolve a metric name or instance. ``"accuracy"`` picks binary, sparse or categorical
    accuracy from the target and output shapes, as Keras does, and keeps the name."""
    metric = _resolve(identifier, y_true_shape, y_pred_shape)
    if metric.needs_shapes() and y_pred_shape is not None:
        metric.build_shapes(y_true_shape, y_pred_shape)
        metric.reset_state()
    return metric


def _resolve(
    identifier: Any,
    y_true_shape: tuple[int | None, ...] | None,
    y_pred_shape: tuple[int | None, ...] | None,
) -> Metric:
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in ACCURACY_NAMES:
        cls: type[Metric] = CategoricalAccuracy
        if y_pred_shape is not None and y_true_shape is not None:
            if y_pred_shape[-1] == 1:
                cls = BinaryAccuracy
            elif len(y_true_shape) == len(y_pred_shape) - 1 or (
                len(y_true_shape) == len(y_pred_shape) and y_true_shape[-1] == 1
            ):
                cls = SparseCategoricalAccuracy
        return cls(name=identifier)
    if isinstance(identifier, str):
        return REGISTRY.get(identifier)(name=identifier)  # type: ignore[no-any-return]
    if isinstance(identifier, dict) and "class_name" in identifier:
        return REGISTRY.get(identifier["class_name"]).from_config(identifier.get("config", {}))  # type: ignore[no-any-return]
    raise ConfigError(
        f"Cannot interpret {identifier!r} as a metric. Expected a name such as 'accuracy' or "
        "'mae', or a dl.metrics.Metric instance."
    )


def serialize(metric: Metric) -> dict[str, Any]:
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "F1Score",
    "FBetaScore",
    "Mean",
    "MeanAbsoluteError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "R2Score",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "get",
    "serialize",
]
