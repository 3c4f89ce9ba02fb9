"""The Optimizer base class: hyperparameters, validation, and the numpy reference step.

An optimizer's meaning is its ``reference_update``; each backend implements the same update
natively for the whole list of variables at once. ``formula="keras"`` (default) gives Keras 3's
update rule and defaults; ``formula="torch"`` gives ``torch.optim``'s rule for the same class
(see each class's docstring for the difference).

The learning rate is evaluated by the front-end in float64 once per step (so a schedule is
identical on every backend) and passed to the backend step as a scalar.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._naming import snake_case
from .._registry import Registry
from ..errors import ConfigError

REGISTRY = Registry("optimizer")
FORMULAS = ("keras", "torch")


def _number(
    cls: str,
    name: str,
    value: object,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if low_open else v >= low) and (
            high is None or (v < high if high_open else v <= high)
        )
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(
            f"{cls}: {name} must be a number in {lo}{low}, {high if high is not None else 'inf'}"
            f"{hi}. Received: {name}={value!r}."
        )
    return float(value)  # type: ignore[arg-type]


class Optimizer:
    """Base class. ``slots`` names the per-variable state in Keras's names."""

    slots: tuple[str, ...] = ()

    def __init__(
        self, learning_rate: Any = 0.001, formula: str = "keras", name: str | None = None
    ) -> None:
        if formula not in FORMULAS:
            raise ConfigError(
                f"{type(self).__name__}: formula must be one of {FORMULAS}. "
                f"Received: formula={formula!r}."
            )
        self.formula = formula
        self.name = name or snake_case(type(self).__name__)
        if callable(learning_rate):
            self.learning_rate: Any = learning_rate
        else:
            self.learning_rate = _number(type(self).__name__, "learning_rate", learning_rate, 0.0)
        self.iterations = 0

    def current_learning_rate(self, step: int | None = None) -> float:
        """The learning rate at ``step`` (default: the next step), as a float64 scalar."""
        step = self.iterations if step is None else step
        lr = self.learning_rate
        return float(lr(step)) if callable(lr) else float(lr)

    def hyper(self) -> dict[str, Any]:
        """Everything the update rule reads, for backends."""
        return {}

    def slot_names(self) -> tuple[str, ...]:
        return self.slots

    def init_slot(self, slot: str, value: np.ndarray) -> np.ndarray:
        """Initial value of a slot for a variable (zeros unless the rule says otherwise)."""
        return np.zeros_like(value)

    def reference_update(
        self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], lr: float, step: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One step for one variable in numpy. ``step`` counts from 1."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        lr = self.learning_rate
        if callable(lr):
            from ..schedules import serialize as serialize_schedule

            lr = serialize_schedule(lr)
        return {"name": self.name, "learning_rate": lr, "formula": self.formula}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        cfg = dict(config)
        if isinstance(cfg.get("learning_rate"), dict):
            from ..schedules import deserialize as deserialize_schedule

            cfg["learning_rate"] = deserialize_schedule(cfg["learning_rate"])
        return cls(**cfg)
