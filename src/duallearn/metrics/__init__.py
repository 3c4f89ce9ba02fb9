"""Metrics (Keras 3 names, formulas and string aliases).

Every metric is stateful (``update_state`` / ``result`` / ``reset_state``) and takes numpy
arrays or native tensors of either backend. ``compile(metrics=[...])`` takes names, metric
instances and functions ``fn(y_true, y_pred) -> per-sample values`` (wrapped in
:class:`MeanMetricWrapper`, as Keras). :func:`needs_eager_update` tells which metrics only an
eager step can update (user-defined ``Metric`` subclasses). Keras's functional spellings are
here too: the loss functions (the same objects as in ``dl.losses``, as Keras), the accuracy
and correlation functions (per-sample values).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..losses import binary_crossentropy as binary_crossentropy
from ..losses import binary_focal_crossentropy as binary_focal_crossentropy
from ..losses import categorical_crossentropy as categorical_crossentropy
from ..losses import categorical_focal_crossentropy as categorical_focal_crossentropy
from ..losses import categorical_hinge as categorical_hinge
from ..losses import hinge as hinge
from ..losses import huber as huber
from ..losses import kl_divergence as kl_divergence
from ..losses import log_cosh as log_cosh
from ..losses import mean_absolute_error as mean_absolute_error
from ..losses import mean_absolute_percentage_error as mean_absolute_percentage_error
from ..losses import mean_squared_error as mean_squared_error
from ..losses import mean_squared_logarithmic_error as mean_squared_logarithmic_error
from ..losses import poisson as poisson
from ..losses import sparse_categorical_crossentropy as sparse_categorical_crossentropy
from ..losses import squared_hinge as squared_hinge
from ._accuracy import Accuracy as Accuracy
from ._accuracy import BinaryAccuracy as BinaryAccuracy
from ._accuracy import CategoricalAccuracy as CategoricalAccuracy
from ._accuracy import SparseCategoricalAccuracy as SparseCategoricalAccuracy
from ._accuracy import SparseTopKCategoricalAccuracy as SparseTopKCategoricalAccuracy
from ._accuracy import TopKCategoricalAccuracy as TopKCategoricalAccuracy
from ._accuracy_functions import binary_accuracy as binary_accuracy
from ._accuracy_functions import categorical_accuracy as categorical_accuracy
from ._accuracy_functions import sparse_categorical_accuracy as sparse_categorical_accuracy
from ._accuracy_functions import (
    sparse_top_k_categorical_accuracy as sparse_top_k_categorical_accuracy,
)
from ._accuracy_functions import top_k_categorical_accuracy as top_k_categorical_accuracy
from ._confusion import AUC as AUC
from ._confusion import F1Score as F1Score
from ._confusion import FBetaScore as FBetaScore
from ._confusion import Precision as Precision
from ._confusion import Recall as Recall
from ._correlation import ConcordanceCorrelation as ConcordanceCorrelation
from ._correlation import PearsonCorrelation as PearsonCorrelation
from ._correlation import concordance_correlation as concordance_correlation
from ._correlation import pearson_correlation as pearson_correlation
from ._functions import BinaryCrossentropy as BinaryCrossentropy
from ._functions import CategoricalCrossentropy as CategoricalCrossentropy
from ._functions import CategoricalHinge as CategoricalHinge
from ._functions import CosineSimilarity as CosineSimilarity
from ._functions import Hinge as Hinge
from ._functions import KLDivergence as KLDivergence
from ._functions import LogCoshError as LogCoshError
from ._functions import MeanAbsolutePercentageError as MeanAbsolutePercentageError
from ._functions import MeanSquaredLogarithmicError as MeanSquaredLogarithmicError
from ._functions import Poisson as Poisson
from ._functions import SparseCategoricalCrossentropy as SparseCategoricalCrossentropy
from ._functions import SquaredHinge as SquaredHinge
from ._iou import MeanIoU as MeanIoU
from ._iou_family import BinaryIoU as BinaryIoU
from ._iou_family import IoU as IoU
from ._iou_family import OneHotIoU as OneHotIoU
from ._iou_family import OneHotMeanIoU as OneHotMeanIoU
from ._metric import REGISTRY as REGISTRY
from ._metric import Mean as Mean
from ._metric import MeanMetricWrapper as MeanMetricWrapper
from ._metric import Metric as Metric
from ._metric import Sum as Sum
from ._metric import needs_eager_update as needs_eager_update
from ._metric import weighted_sums as weighted_sums
from ._regression import MeanAbsoluteError as MeanAbsoluteError
from ._regression import MeanSquaredError as MeanSquaredError
from ._regression import R2Score as R2Score
from ._regression import RootMeanSquaredError as RootMeanSquaredError
from ._thresholds import FalseNegatives as FalseNegatives
from ._thresholds import FalsePositives as FalsePositives
from ._thresholds import PrecisionAtRecall as PrecisionAtRecall
from ._thresholds import RecallAtPrecision as RecallAtPrecision
from ._thresholds import SensitivityAtSpecificity as SensitivityAtSpecificity
from ._thresholds import SpecificityAtSensitivity as SpecificityAtSensitivity
from ._thresholds import TrueNegatives as TrueNegatives
from ._thresholds import TruePositives as TruePositives

ACCURACY_NAMES = ("accuracy", "acc")


def get(
    identifier: Any,
    y_true_shape: tuple[int | None, ...] | None = None,
    y_pred_shape: tuple[int | None, ...] | None = None,
    *,
    custom_objects: dict[str, Any] | None = None,
) -> Metric:
    """Resolve a metric name, config dict, instance, class or function. ``"accuracy"``
    picks binary, sparse or categorical accuracy from the target and output shapes, as Keras
    does, and keeps the name; a function ``fn(y_true, y_pred)`` becomes
    ``MeanMetricWrapper(fn, name=fn.__name__)`` (Keras). ``custom_objects`` resolves names
    first (custom metric classes and metric functions, when a saved model is loaded)."""
    metric = _resolve(identifier, y_true_shape, y_pred_shape, custom_objects or {})
    if metric.needs_shapes() and y_pred_shape is not None:
        metric.build_shapes(y_true_shape, y_pred_shape)
        metric.reset_state()
    return metric


def _resolve(
    identifier: Any,
    y_true_shape: tuple[int | None, ...] | None,
    y_pred_shape: tuple[int | None, ...] | None,
    custom: dict[str, Any],
) -> Metric:
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier in custom:
        return _resolve(custom[identifier], y_true_shape, y_pred_shape, {})
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
        return _deserialize(identifier["class_name"], dict(identifier.get("config", {})), custom)
    if callable(identifier):
        name = getattr(identifier, "__name__", None)
        return MeanMetricWrapper(identifier, name=name if isinstance(name, str) else None)
    raise ConfigError(
        f"Cannot interpret {identifier!r} as a metric. Expected a name such as 'accuracy' or "
        "'mae', a dl.metrics.Metric instance, or a function fn(y_true, y_pred) returning "
        "per-sample values."
    )


def _deserialize(class_name: str, config: dict[str, Any], custom: dict[str, Any]) -> Metric:
    if class_name in custom:
        return custom[class_name].from_config(config)  # type: ignore[no-any-return]
    if class_name == "MeanMetricWrapper":
        fn = config.pop("fn", None)
        if not isinstance(fn, str) or fn not in custom:
            raise ConfigError(
                f"The function metric {config.get('name')!r} (function {fn!r}) cannot be "
                "rebuilt from its config: a function is saved by name only. Fix: pass "
                f"custom_objects={{{fn!r}: {fn}}} (load_model(..., custom_objects=...)), or "
                "load with compile=False and compile again."
            )
        return MeanMetricWrapper(custom[fn], **config)
    return REGISTRY.get(class_name).from_config(config)  # type: ignore[no-any-return]


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Metric:
    """The metric a :func:`serialize` dict describes (``{"class_name", "config"}``), Keras's
    ``keras.metrics.deserialize``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigError(
            "metrics.deserialize: expected a dict {'class_name': ..., 'config': {...}} (what "
            f"metrics.serialize returns). Received: {config!r}. Fix: pass a serialized metric, "
            "or use metrics.get() for names."
        )
    return get(config, custom_objects=custom_objects)


def serialize(metric: Metric) -> dict[str, Any]:
    """The JSON-able form of a metric (Keras's ``keras.metrics.serialize``).

    Args:
        metric: a :class:`Metric`.

    Returns:
        ``{"class_name": ..., "config": metric.get_config()}``; :func:`deserialize` reads it.
    """
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "IoU",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "binary_accuracy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "concordance_correlation",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "needs_eager_update",
    "pearson_correlation",
    "poisson",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "squared_hinge",
    "top_k_categorical_accuracy",
]
