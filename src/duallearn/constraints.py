"""Weight constraints (Keras 3's ``keras.constraints``): projections applied to a weight
after each optimizer update.

A constraint is a callable ``w_new = constraint(w)`` written with :mod:`duallearn.ops`; the
optimizer runs it natively after every ``apply`` (Keras 3: ``v.assign(v.constraint(v))``
for each trained variable that has one), always on the **canonical** (Keras) layout, so an
``axis`` means the same on every backend (a torch conv kernel, stored transposed, is
constrained as ``(kh, kw, in, out)``). With ``‖w‖`` the L2 norm over ``axis`` (kept as a
broadcastable dimension) and ``ε = 1e-7``::

    MaxNorm(max_value, axis)              w · clip(‖w‖, 0, max_value) / (ε + ‖w‖)
    MinMaxNorm(min, max, rate, axis)      w · (rate · clip(‖w‖, min, max) + (1 − rate) · ‖w‖)
                                              / (ε + ‖w‖)
    UnitNorm(axis)                        w / (ε + ‖w‖)
    NonNeg()                              max(w, 0)

Names: ``"max_norm"``, ``"min_max_norm"``, ``"unit_norm"``, ``"non_neg"`` and the class
names. For a Dense kernel ``(in, units)``, ``axis=0`` constrains each unit's incoming weight
vector; for a Conv2D kernel ``(kh, kw, in, filters)`` use ``axis=[0, 1, 2]`` (per filter).

>>> import numpy as np, duallearn as dl
>>> with dl.ops.numpy_mode():
...     dl.constraints.NonNeg()(np.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from ._catalog import Catalog
from ._registry import Registry
from .errors import ConfigError

REGISTRY = Registry("constraint")
EPSILON = 1e-7  # Keras's backend.epsilon()

Axis = int | Sequence[int]


def _axis(cls: str, axis: object) -> Any:
    ok = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
    if isinstance(axis, (list, tuple)):
        ok = bool(axis) and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis
        )
        axis = [int(a) for a in axis] if ok else axis
    if not ok:
        raise ConfigError(
            f"{cls}: axis must be an int or a list of ints (axes of the weight in the "
            f"canonical Keras layout). Received: axis={axis!r}. Fix: e.g. axis=0 for a Dense "
            "kernel, axis=[0, 1, 2] for a Conv2D kernel."
        )
    return int(axis) if isinstance(axis, (int, np.integer)) else axis


def _number(cls: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{cls}: {name} must be a number. Received: {name}={value!r}. Fix: pass a float."
        )
    if float(value) < 0:
        raise ConfigError(
            f"{cls}: {name} must be >= 0 (a norm). Received: {name}={value!r}. Fix: pass a "
            "non-negative number."
        )
    return value  # type: ignore[return-value]  # kept as given (Keras's config keeps ints)


def _norms(w: Any, axis: Any) -> Any:
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (unchanged here);
    ``get_config()`` the constructor arguments."""

    def __call__(self, w: Any) -> Any:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


REGISTRY.add("Constraint", Constraint)
REGISTRY.add("constraint", Constraint)


@REGISTRY.register("MaxNorm", "max_norm")
class MaxNorm(Constraint):
    """``w · clip(‖w‖, 0, max_value) / (ε + ‖w‖)``: norms over ``axis`` at most
    ``max_value`` (default 2; ``axis`` default 0)."""

    def __init__(self, max_value: float = 2, axis: Axis = 0) -> None:
        self.max_value = _number("MaxNorm", "max_value", max_value)
        self.axis = _axis("MaxNorm", axis)

    def __call__(self, w: Any) -> Any:
        w = ops.convert_to_tensor(w)
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


@REGISTRY.register("NonNeg", "non_neg")
class NonNeg(Constraint):
    """``max(w, 0)``: non-negative weights."""

    def __call__(self, w: Any) -> Any:
        return ops.maximum(ops.convert_to_tensor(w), 0.0)


@REGISTRY.register("UnitNorm", "unit_norm")
class UnitNorm(Constraint):
    """``w / (ε + ‖w‖)``: unit norms over ``axis`` (default 0)."""

    def __init__(self, axis: Axis = 0) -> None:
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w: Any) -> Any:
        w = ops.convert_to_tensor(w)
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


@REGISTRY.register("MinMaxNorm", "min_max_norm")
class MinMaxNorm(Constraint):
    """``w · (rate · clip(‖w‖, min_value, max_value) + (1 − rate) · ‖w‖) / (ε + ‖w‖)``:
    ``rate=1`` (default) enforces ``min_value ≤ ‖w‖ ≤ max_value`` (defaults 0 and 1) over
    ``axis`` (default 0); a smaller rate moves the norms part of the way each step."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Axis = 0
    ) -> None:
        self.min_value = _number("MinMaxNorm", "min_value", min_value)
        self.max_value = _number("MinMaxNorm", "max_value", max_value)
        if float(self.min_value) > float(self.max_value):
            raise ConfigError(
                f"MinMaxNorm: min_value must be <= max_value. Received: min_value={min_value!r}"
                f", max_value={max_value!r}. Fix: swap them."
            )
        self.rate = _number("MinMaxNorm", "rate", rate)
        self.axis = _axis("MinMaxNorm", axis)

    def __call__(self, w: Any) -> Any:
        w = ops.convert_to_tensor(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * ops.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        )
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Keras 3's lowercase aliases of the classes
max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm


_CATALOG = Catalog("constraint", REGISTRY, Constraint, "'max_norm'")


def serialize(constraint: Any) -> dict[str, Any] | None:
    """``{"class_name", "config"}`` of a :class:`Constraint` (None stays None; a plain
    callable has no config: SerializationError)."""
    return _CATALOG.serialize(constraint)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """The constraint a :func:`serialize` dict (or a Keras 3 one) describes."""
    return _CATALOG.deserialize(config, custom_objects)


def get(identifier: Any) -> Any:
    """A constraint from a name, a config dict, a class, an instance or a callable
    ``f(w) -> w`` (None stays None)."""
    return _CATALOG.get(identifier)


def register(cls: type[Constraint]) -> type[Constraint]:
    """Register a custom :class:`Constraint` subclass by its class name, so that configs
    naming it can be loaded."""
    _CATALOG.register(cls)
    return cls


__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "register",
    "serialize",
    "unit_norm",
]
