"""FTRL-proximal."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._optimizer import REGISTRY, Optimizer, _number


@REGISTRY.register("Ftrl", "ftrl")
class Ftrl(Optimizer):
    """FTRL-proximal (Keras). Defaults: lr 1e-3, learning_rate_power −0.5, initial accumulator
    0.1, l1 = l2 = l2_shrinkage = beta = 0. With c = −learning_rate_power::

        ĝ = g + 2·l2_shrinkage·w;  n' = n + g²
        z ← z + ĝ − (n'ᶜ − nᶜ)/lr · w;  q = n'ᶜ/lr + 2·(l2 + β/(2·lr))
        w ← (clip(z, −l1, l1) − z) / q;  n ← n'

    torch.optim has no FTRL: ``formula="torch"`` keeps this rule (weight decay coupled L2).
    """

    slots = ("accumulator", "linear")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        n = "Ftrl"
        if (
            isinstance(learning_rate_power, bool)
            or not isinstance(learning_rate_power, (int, float))
            or learning_rate_power > 0
        ):
            raise ConfigError(
                "Ftrl: learning_rate_power must be a number <= 0. Received: "
                f"learning_rate_power={learning_rate_power!r}."
            )
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = _number(
            n, "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.l1_regularization_strength = _number(
            n, "l1_regularization_strength", l1_regularization_strength, 0.0
        )
        self.l2_regularization_strength = _number(
            n, "l2_regularization_strength", l2_regularization_strength, 0.0
        )
        self.l2_shrinkage_regularization_strength = _number(
            n, "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, 0.0
        )
        self.beta = _number(n, "beta", beta, 0.0)

    def init_slot(self, slot: str, value: np.ndarray) -> np.ndarray:
        if slot == "accumulator":
            return np.full_like(value, self.initial_accumulator_value)
        return np.zeros_like(value)

    def hyper(self) -> dict[str, Any]:
        return {
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        c = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        acc, lin = state["accumulator"], state["linear"]
        gu = g + 2 * self.l2_shrinkage_regularization_strength * w
        na = acc + g * g
        lin = lin + (gu - (np.power(na, c) - np.power(acc, c)) / lr * w)
        quad = np.power(na, c) / lr + 2 * l2
        w = (np.clip(lin, -l1, l1) - lin) / quad
        return w, {**state, "accumulator": na, "linear": lin}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyper()}
