"""Losses (Keras 3 names, formulas, reductions and string aliases)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ._loss import REGISTRY as REGISTRY
from ._loss import Loss as Loss
from ._loss import reduce_values as reduce_values
from ._probabilistic import BinaryCrossentropy as BinaryCrossentropy
from ._probabilistic import CategoricalCrossentropy as CategoricalCrossentropy
from ._probabilistic import SparseCategoricalCrossentropy as SparseCategoricalCrossentropy
from ._regression import MeanAbsoluteError as MeanAbsoluteError
from ._regression import MeanSquaredError as MeanSquaredError


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


def serialize(loss: Loss) -> dict[str, Any]:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "get",
    "serialize",
]
