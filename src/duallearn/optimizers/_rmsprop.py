"""Adaptive per-coordinate rates: RMSprop, Adagrad, Adadelta; and Lion."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._optimizer import REGISTRY, Optimizer, _number


@REGISTRY.register("RMSprop", "rmsprop")
class RMSprop(Optimizer):
    """RMSprop. Defaults (Keras): lr 1e-3, rho 0.9, momentum 0, ε 1e-7, centered False.

    ``formula="keras"``::

        v ← ρv + (1 − ρ)g²;  (centered: a ← ρa + (1 − ρ)g;  D = v − a² + ε)  else D = v + ε
        Δ = lr·g/√D;  momentum: b ← μb + Δ, w ← w − b;  else w ← w − Δ

    ``formula="torch"`` (``torch.optim.RMSprop``, ρ = ``alpha``; its defaults lr 1e-2,
    ρ 0.99, ε 1e-8)::

        D = √v + ε  (centered: √(v − a²) + ε);  momentum: b ← μb + g/D, w ← w − lr·b
        else w ← w − lr·g/D

    Differs: ε inside the root (Keras) vs outside (torch); Keras's momentum buffer holds lr.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = _number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("RMSprop", "epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def update_slots(self) -> tuple[str, ...]:
        out: tuple[str, ...] = ("velocity",)
        if self.momentum > 0:
            out = (*out, "momentum")
        if self.centered:
            out = (*out, "average_gradient")
        return out

    def hyper(self) -> dict[str, Any]:
        return {
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        rho, eps, mu = self.rho, self.epsilon, self.momentum
        new = dict(state)
        v = new["velocity"] = rho * state["velocity"] + (1 - rho) * g * g
        if self.centered:
            a = state["average_gradient"]
            a = new["average_gradient"] = (
                rho * a + (1 - rho) * g if self.formula == "keras" else a + (g - a) * (1 - rho)
            )
        if self.formula == "keras":
            d = (v - a * a + eps) if self.centered else (v + eps)
            inc = lr * g / np.sqrt(d)
            if mu > 0:
                b = new["momentum"] = mu * state["momentum"] + inc
                return w - b, new
            return w - inc, new
        d = (np.sqrt(v - a * a) if self.centered else np.sqrt(v)) + eps
        if mu > 0:
            b = new["momentum"] = mu * state["momentum"] + g / d
            return w - lr * b, new
        return w - lr * g / d, new

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyper()}


@REGISTRY.register("Adagrad", "adagrad")
class Adagrad(Optimizer):
    """Adagrad. Defaults (Keras): lr 1e-3, initial_accumulator_value 0.1, ε 1e-7.

    ``formula="keras"``: ``s ← s + g²;  w ← w − lr·g/√(s + ε)``.
    ``formula="torch"`` (``torch.optim.Adagrad``; its defaults lr 1e-2, initial accumulator 0,
    ε 1e-10, lr_decay 0 only): ``s ← s + g²;  w ← w − lr·g/(√s + ε)``.
    Differs: ε inside vs outside the root and the initial accumulator.
    """

    slots = ("accumulator",)

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.epsilon = _number("Adagrad", "epsilon", epsilon, 0.0)

    def init_slot(self, slot: str, value: np.ndarray) -> np.ndarray:
        if slot == "accumulator":
            return np.full_like(value, self.initial_accumulator_value)
        return np.zeros_like(value)

    def hyper(self) -> dict[str, Any]:
        return {
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        s = state["accumulator"] + g * g
        if self.formula == "keras":
            w = w - lr * g / np.sqrt(s + self.epsilon)
        else:
            w = w - lr * g / (np.sqrt(s) + self.epsilon)
        return w, {**state, "accumulator": s}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyper()}


@REGISTRY.register("Adadelta", "adadelta")
class Adadelta(Optimizer):
    """Adadelta. Defaults (Keras): lr 1e-3, rho 0.95, ε 1e-7.

    Both formulas::

        a ← ρa + (1 − ρ)g²;  δ = √(d + ε)/√(a + ε)·g;  d ← ρd + (1 − ρ)δ²;  w ← w − lr·δ

    ``formula="torch"`` (``torch.optim.Adadelta``; its defaults lr 1.0, ρ 0.9, ε 1e-6)
    evaluates in torch's order and couples ``weight_decay`` as L2. Differs: only defaults.
    """

    slots = ("accumulated_grad", "accumulated_delta_var")

    def __init__(
        self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = _number("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = _number("Adadelta", "epsilon", epsilon, 0.0)

    def hyper(self) -> dict[str, Any]:
        return {"rho": self.rho, "epsilon": self.epsilon}

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        rho, eps = self.rho, self.epsilon
        a = rho * state["accumulated_grad"] + (1 - rho) * g * g
        d = state["accumulated_delta_var"]
        if self.formula == "keras":
            delta = -(np.sqrt(d + eps) * g) / np.sqrt(a + eps)
            d = rho * d + (1 - rho) * delta * delta
            w = w + lr * delta
        else:
            delta = np.sqrt(d + eps) / np.sqrt(a + eps) * g
            d = rho * d + (1 - rho) * delta * delta
            w = w - lr * delta
        return w, {**state, "accumulated_grad": a, "accumulated_delta_var": d}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyper()}


@REGISTRY.register("Lion", "lion")
class Lion(Optimizer):
    """Lion. Defaults (Keras): lr 1e-3, β₁ 0.9, β₂ 0.99::

        w ← w − lr·sign(β₁m + (1 − β₁)g);  m ← β₂m + (1 − β₂)g

    torch.optim has no Lion; ``formula="torch"`` keeps this rule and applies ``weight_decay``
    as the Lion paper does, ``w ← w·(1 − lr·λ)``.
    """

    slots = ("momentum",)

    def __init__(
        self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs: Any
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number("Lion", "beta_1", beta_1, 0.0, 1.0, low_open=True, high_open=False)
        self.beta_2 = _number("Lion", "beta_2", beta_2, 0.0, 1.0)

    def decoupled_torch_decay(self) -> bool:
        return True

    def hyper(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        b1, b2 = self.beta_1, self.beta_2
        m = state["momentum"]
        w = w - lr * np.sign(m * b1 + g * (1.0 - b1))
        m = m * b2 + g * (1.0 - b2)
        return w, {**state, "momentum": m}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyper()}
