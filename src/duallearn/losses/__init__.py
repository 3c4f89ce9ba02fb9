"""Losses (Keras 3 names, formulas, reductions and string aliases)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, UnknownNameError
from ._loss import REGISTRY as REGISTRY
from ._loss import Loss as Loss
from ._loss import check_serializable
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
from ._wrapper import LossFunctionWrapper as LossFunctionWrapper
from ._wrapper import binary_crossentropy as binary_crossentropy
from ._wrapper import binary_focal_crossentropy as binary_focal_crossentropy
from ._wrapper import categorical_crossentropy as categorical_crossentropy
from ._wrapper import categorical_focal_crossentropy as categorical_focal_crossentropy
from ._wrapper import categorical_hinge as categorical_hinge
from ._wrapper import cosine_similarity as cosine_similarity
from ._wrapper import hinge as hinge
from ._wrapper import huber as huber
from ._wrapper import kl_divergence as kl_divergence
from ._wrapper import log_cosh as log_cosh
from ._wrapper import mean_absolute_error as mean_absolute_error
from ._wrapper import mean_absolute_percentage_error as mean_absolute_percentage_error
from ._wrapper import mean_squared_error as mean_squared_error
from ._wrapper import mean_squared_logarithmic_error as mean_squared_logarithmic_error
from ._wrapper import poisson as poisson
from ._wrapper import sparse_categorical_crossentropy as sparse_categorical_crossentropy
from ._wrapper import squared_hinge as squared_hinge


def get(identifier: Any, custom_objects: dict[str, Any] | None = None) -> Loss:
    """A loss from what ``compile(loss=...)`` takes, as Keras: a name (``"mse"``,
    ``"sparse_categorical_crossentropy"``...), a config dict, a :class:`Loss` instance or
    subclass, or a function ``fn(y_true, y_pred) -> per-sample values`` (wrapped as
    ``LossFunctionWrapper(fn, name=fn.__name__)``). ``custom_objects`` resolves names first
    (custom losses and functions, when a saved model is loaded)."""
    if isinstance(identifier, Loss):
        identifier.require_call()
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return get(identifier())
    if isinstance(identifier, str):
        if custom_objects and identifier in custom_objects:
            return get(custom_objects[identifier])
        return REGISTRY.get(identifier)()  # type: ignore[no-any-return]
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier, custom_objects)
    if callable(identifier) and not isinstance(identifier, type):
        name = getattr(identifier, "__name__", None)
        return LossFunctionWrapper(identifier, name=name if isinstance(name, str) else None)
    raise ConfigError(
        f"Cannot interpret {identifier!r} as a loss. Expected a name such as 'mse' or "
        "'sparse_categorical_crossentropy', a dl.losses.Loss instance or subclass, or a "
        f"function (y_true, y_pred) -> per-sample values. Received: {type(identifier).__name__}. "
        "Fix: pass one of these, e.g. compile(loss='mse') or compile(loss=my_loss_function)."
    )


def custom_objects_of(identifiers: Any) -> dict[str, Any]:
    """The ``custom_objects`` that rebuild these losses from their configs: each custom
    ``Loss`` subclass by class name, each wrapped function by its name. ``identifiers``: what
    ``compile(loss=...)`` took (one loss, or a list or dict of them); e.g. for a clone of a
    compiled model."""
    if isinstance(identifiers, dict) and "class_name" not in identifiers:
        identifiers = list(identifiers.values())
    if not isinstance(identifiers, (list, tuple)):
        identifiers = [identifiers]
    out: dict[str, Any] = {}
    for identifier in identifiers:
        if identifier is None or isinstance(identifier, (str, dict)):
            continue
        loss = get(identifier)
        if isinstance(loss, LossFunctionWrapper):
            out[str(loss.get_config()["fn"])] = loss.fn
        elif loss.is_custom:
            out[type(loss).__name__] = type(loss)
    return out


def check_targets(losses: Any, targets: Any, output_shapes: Any) -> None:
    """Check each output's targets against its loss (once per fit/evaluate, on the host):
    a clear error for out-of-range sparse labels or mismatched shapes, instead of a framework
    crash or a silent NaN on the device."""
    if targets is None:
        return
    losses, targets, output_shapes = list(losses), list(targets), list(output_shapes)
    if not len(losses) == len(targets) == len(output_shapes):
        raise DataError(
            f"Expected one target array per model output and one loss (or None) per output. "
            f"Received: {len(targets)} target arrays, {len(losses)} losses, "
            f"{len(output_shapes)} outputs. Fix: pass y as a list (or dict by output name) "
            "with one entry per output, and one loss per output in compile()."
        )
    for loss, y, shape in zip(losses, targets, output_shapes, strict=True):
        if loss is None or y is None:
            continue
        try:
            arr = np.asarray(y)
        except Exception:  # noqa: BLE001 - non-array targets are checked by the backend
            continue
        if arr.dtype.kind in "biuf":
            loss.check_targets(arr, tuple(shape))


def serialize(loss: Loss) -> dict[str, Any]:
    """``{"class_name", "config"}``; a custom loss whose ``get_config`` misses an argument of
    its ``__init__`` is refused (it would reload as another loss)."""
    config = loss.get_config()
    check_serializable(loss, config)
    return {"class_name": type(loss).__name__, "config": config}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Loss:
    """The loss a :func:`serialize` dict describes; its class is looked up in
    ``custom_objects`` first, then among duallearn's losses."""
    name = config.get("class_name")
    cfg = dict(config.get("config") or {})
    if custom_objects and name in custom_objects:
        cls = custom_objects[name]
    elif isinstance(name, str) and name in REGISTRY:
        cls = REGISTRY.get(name)
    else:
        raise UnknownNameError(
            f"Unknown loss class {name!r} (a custom loss). Expected one of duallearn's losses "
            f"or a class given in custom_objects. Received: custom_objects keys "
            f"{sorted(custom_objects or {})}. Fix: pass the class, e.g. dl.load_model(path, "
            f"custom_objects={{{name!r}: {name}}}), or load with compile=False."
        )
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        return get(cls)  # a function given for a loss name
    if getattr(cls, "_needs_custom_objects", False):  # LossFunctionWrapper
        return cls.from_config(cfg, custom_objects=custom_objects)  # type: ignore[call-arg,no-any-return]
    return cls.from_config(cfg)


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
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "check_targets",
    "cosine_similarity",
    "custom_objects_of",
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
    "poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]
