"""The per-weight regularizer and constraint arguments of the built-in layers (Keras 3's
``kernel_regularizer``, ``bias_constraint``, ``gamma_regularizer``, ...).

A layer resolves them in ``__init__`` (:func:`regularizer`, :func:`constraint`), puts them on
the variables it creates (:func:`attach`: ``variable.regularizer`` / ``variable.constraint``,
which the runtime and the optimizer read) and lists them, serialized, in ``get_config``
(:func:`options_config`).
"""

from __future__ import annotations

from typing import Any

from .. import constraints as _constraints
from .. import regularizers as _regularizers
from ..errors import DuallearnError


def _resolve(module: Any, layer: Any, key: str, value: Any) -> Any:
    try:
        return module.get(value)
    except DuallearnError as e:
        raise type(e)(f"{type(layer).__name__}: {key}: {e}") from None


def regularizer(layer: Any, key: str, value: Any) -> Any:
    """``regularizers.get(value)`` for ``layer``'s argument ``key``; a bad value raises its
    error with the layer and argument named."""
    return _resolve(_regularizers, layer, key, value)


def constraint(layer: Any, key: str, value: Any) -> Any:
    """``constraints.get(value)`` for ``layer``'s argument ``key`` (errors name both)."""
    return _resolve(_constraints, layer, key, value)


def attach(variable: Any, regularizer: Any, constraint: Any) -> Any:
    """Give ``variable`` its regularizer and constraint; returns it."""
    variable.regularizer = regularizer
    variable.constraint = constraint
    return variable


def options_config(layer: Any, *prefixes: str) -> dict[str, Any]:
    """``{"<p>_regularizer": ..., "<p>_constraint": ...}`` serialized, for each prefix."""
    out: dict[str, Any] = {}
    for p in prefixes:
        out[f"{p}_regularizer"] = _regularizers.serialize(getattr(layer, f"{p}_regularizer"))
    for p in prefixes:
        out[f"{p}_constraint"] = _constraints.serialize(getattr(layer, f"{p}_constraint"))
    return out
