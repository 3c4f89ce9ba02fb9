"""Adam."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._optimizer import REGISTRY, Optimizer, _number


@REGISTRY.register("Adam", "adam")
class Adam(Optimizer):
    """Adam. Defaults (Keras): learning_rate 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7.

    ``formula="keras"`` (ε outside the bias correction, "epsilon hat")::

        m ← m + (g − m)(1 − β₁);  v ← v + (g² − v)(1 − β₂);  (amsgrad: v̂ ← max(v̂, v))
        w ← w − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)

    ``formula="torch"`` (``torch.optim.Adam``; pass ``epsilon=1e-8`` for its default)::

        m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
        w ← w − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)

    They agree iff ε_keras = ε_torch·√(1 − β₂ᵗ); with tiny gradients they differ a lot.
    """

    slots = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number("Adam", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number("Adam", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("Adam", "epsilon", epsilon, 0.0)
        self.amsgrad = bool(amsgrad)

    def slot_names(self) -> tuple[str, ...]:
        return (*self.slots, "velocity_hat") if self.amsgrad else self.slots

    def hyper(self) -> dict[str, Any]:
        return {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        m, v = state["momentum"], state["velocity"]
        new: dict[str, np.ndarray] = {}
        bc1, bc2 = 1 - b1**step, 1 - b2**step
        if self.formula == "keras":
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - b2)
            vv = v
            if self.amsgrad:
                vv = new["velocity_hat"] = np.maximum(state["velocity_hat"], v)
            w = w - (lr * math.sqrt(bc2) / bc1) * m / (np.sqrt(vv) + eps)
        else:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vv = v
            if self.amsgrad:
                vv = new["velocity_hat"] = np.maximum(state["velocity_hat"], v)
            w = w - (lr / bc1) * m / (np.sqrt(vv) / math.sqrt(bc2) + eps)
        new.update(momentum=m, velocity=v)
        return w, new

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }
