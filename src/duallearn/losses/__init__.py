"""Losses (Keras 3 names, formulas, reductions and string aliases)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._loss import REGISTRY as REGISTRY
from ._loss import Loss as Loss
from ._loss import reduce_values as reduce_values
from ._probabilistic import BinaryCrossentropy as BinaryCrossentropy
from ._probabilistic import BinaryFocalCrossentropy as BinaryFocalCrossentropy
from ._probabilistic import CategoricalCrossentropy as CategoricalCrossentropy
from ._probabilistic import CategoricalFocalCrossentropy as CategoricalFocalCrossentropy
from ._probabilistic import KLDivergence as KLDivergence
from ._probabilistic import Poisson as Poisson
from ._probabilistic import SparseCategoricalCrossentropy as SparseCategoricalCrossentropy
from ._regression import CategoricalHinge as CategoricalHinge
from ._regression import CosineSimilarity as CosineSimilarity
from ._regression import Hinge as Hinge
from ._regression import Huber as Huber
from ._regression import LogCosh as LogCosh
from ._regression import MeanAbsoluteError as MeanAbsoluteError
from ._regression import MeanAbsolutePercentageError as MeanAbsolutePercentageError
from ._regression import MeanSquaredError as MeanSquaredError
from ._regression import MeanSquaredLogarithmicError as MeanSquaredLogarithmicError
from ._regression import SquaredHinge as SquaredHinge


def get(identifier: Any) -> Loss:
    """Resolve a loss name (``"mse"``, ``"sparse_categorical_crossentropy"``...), a config
    dict, or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return REGISTRY.get(identifier)()  # type: ignore[no-any-return]
    if isinstance(identifier, dict) and "class_name" in identifier:
        return REGISTRY.get(identifier["class_name"]).from_config(identifier.get("config", {}))  # type: ignore[no-any-return]
    raise ConfigError(
        f"Cannot interpret {identifier!r} as a loss. Expected a name such as 'mse' or "
        f"'sparse_categorical_crossentropy', or a dl.losses.Loss instance."
    )


def check_targets(losses: Any, targets: Any, output_shapes: Any) -> None:
    """Check each output's targets against its loss (once per fit/evaluate, on the host):
    a clear error for out-of-range sparse labels or mismatched shapes, instead of a framework
    crash or a silent NaN on the device."""
    if targets is None:
        return
    for loss, y, shape in zip(losses, targets, output_shapes, strict=False):
        if loss is None or y is None:
            continue
        try:
            arr = np.asarray(y)
        except Exception:  # noqa: BLE001 - non-array targets are checked by the backend
            continue
        if arr.dtype.kind in "biuf":
            loss.check_targets(arr, tuple(shape))


def serialize(loss: Loss) -> dict[str, Any]:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict[str, Any]) -> Loss:
    return get(config)


__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "check_targets",
    "deserialize",
    "get",
    "serialize",
]
