"""The Adam family: Adam, AdamW, Adamax, Nadam."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._optimizer import REGISTRY, Optimizer, _number


class _Betas(Optimizer):
    def __init__(
        self,
        learning_rate: Any,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _number(cls, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number(cls, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number(cls, "epsilon", epsilon, 0.0)

    def hyper(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyper()}


@REGISTRY.register("Adam", "adam")
class Adam(_Betas):
    """Adam. Defaults (Keras): learning_rate 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7.

    ``formula="keras"`` (ε outside the bias correction, "epsilon hat")::

        m ← m + (g − m)(1 − β₁);  v ← v + (g² − v)(1 − β₂);  (amsgrad: v̂ ← max(v̂, v))
        w ← w − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)

    ``formula="torch"`` (``torch.optim.Adam``; pass ``epsilon=1e-8`` for its default)::

        m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
        w ← w − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)

    Differs: they agree iff ε_keras = ε_torch·√(1 − β₂ᵗ); with tiny gradients they differ a
    lot. torch's ``weight_decay`` is coupled L2 (``formula="torch"`` reproduces it).
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
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    def update_slots(self) -> tuple[str, ...]:
        return (*self.slots, "velocity_hat") if self.amsgrad else self.slots

    def hyper(self) -> dict[str, Any]:
        return {**super().hyper(), "amsgrad": self.amsgrad}

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        m, v = state["momentum"], state["velocity"]
        new = dict(state)
        bc1, bc2 = 1 - b1**step, 1 - b2**step
        if self.formula == "keras":
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - b2)
            vv = v
            if self.amsgrad:
                vv = new["velocity_hat"] = np.maximum(state["velocity_hat"], v)
            w = w - (m * (lr * math.sqrt(bc2) / bc1)) / (np.sqrt(vv) + eps)
        else:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vv = v
            if self.amsgrad:
                vv = new["velocity_hat"] = np.maximum(state["velocity_hat"], v)
            w = w - (lr / bc1) * m / (np.sqrt(vv) / math.sqrt(bc2) + eps)
        new.update(momentum=m, velocity=v)
        return w, new


@REGISTRY.register("AdamW", "adamw")
class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Keras default λ = 0.004).

    ``formula="keras"``: ``w ← w − w·λ·lr`` then the Keras Adam step.
    ``formula="torch"`` (``torch.optim.AdamW``; its defaults: λ = 0.01, ε = 1e-8):
    ``w ← w·(1 − lr·λ)`` then the torch Adam step.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise ConfigError(
                "AdamW: weight_decay must be a float. Received: weight_decay=None. "
                "Fix: e.g. weight_decay=0.004, or use Adam."
            )
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )

    def decoupled_torch_decay(self) -> bool:
        return True


@REGISTRY.register("Adamax", "adamax")
class Adamax(_Betas):
    """Adamax (infinity-norm Adam). Defaults (Keras): lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-7.

    ``formula="keras"``::

        m ← m + (g − m)(1 − β₁);  u ← max(β₂u, |g|);  w ← w − lr·m / ((1 − β₁ᵗ)(u + ε))

    ``formula="torch"`` (``torch.optim.Adamax``; its defaults lr 2e-3, ε 1e-8)::

        m ← lerp(m, g, 1 − β₁);  u ← max(β₂u, |g| + ε);  w ← w − lr/(1 − β₁ᵗ)·m/u

    Differs: ε inside the max (torch) vs added to u (Keras).
    """

    slots = ("momentum", "norm")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        m, u = state["momentum"], state["norm"]
        bc1 = 1 - b1**step
        m = m + (g - m) * (1 - b1)
        if self.formula == "keras":
            u = np.maximum(b2 * u, np.abs(g))
            w = w - (lr * m) / (bc1 * (u + eps))
        else:
            u = np.maximum(b2 * u, np.abs(g) + eps)
            w = w - (lr / bc1) * m / u
        return w, {**state, "momentum": m, "norm": u}


@lru_cache(maxsize=4096)
def _mu_product(beta_1: float, decay: float, step: int) -> float:
    """Π_{k ≤ step} β₁(1 − ½·0.96^(k·decay)), multiplied in order (Keras's ``_u_product``)."""
    if step <= 0:
        return 1.0
    return _mu_product(beta_1, decay, step - 1) * (beta_1 * (1.0 - 0.5 * 0.96 ** (step * decay)))


@REGISTRY.register("Nadam", "nadam")
class Nadam(_Betas):
    """Nadam. Defaults (Keras): lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-7.

    Both formulas::

        μₜ = β₁(1 − ½·0.96^(t·ψ));  Πₜ = μ₁⋯μₜ
        m ← m + (g − m)(1 − β₁);  v ← v + (g² − v)(1 − β₂)
        w ← w − lr·(μₜ₊₁·m/(1 − Πₜμₜ₊₁) + (1 − μₜ)·g/(1 − Πₜ)) / (√(v/(1 − β₂ᵗ)) + ε)

    ``formula="keras"``: ψ = 1 (Keras's 0.96^t). ``formula="torch"`` (``torch.optim.NAdam``;
    its defaults lr 2e-3, ε 1e-8): ψ = ``momentum_decay`` (default 4e-3) and torch's order of
    operations. Differs: the momentum schedule decays 250× faster in Keras.
    """

    slots = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        momentum_decay: float = 0.004,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.momentum_decay = _number("Nadam", "momentum_decay", momentum_decay, 0.0)

    @property
    def psi(self) -> float:
        return 1.0 if self.formula == "keras" else self.momentum_decay

    def mu(self, step: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (step * self.psi))

    def mu_product(self, step: int) -> float:
        return _mu_product(self.beta_1, self.psi, step)

    def hyper(self) -> dict[str, Any]:
        return {**super().hyper(), "momentum_decay": self.momentum_decay}

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        m, v = state["momentum"], state["velocity"]
        mu_t, mu_t1 = self.mu(step), self.mu(step + 1)
        prod = self.mu_product(step)
        prod1 = prod * mu_t1
        bc2 = 1 - b2**step
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        if self.formula == "keras":
            m_hat = mu_t1 * m / (1 - prod1) + (1 - mu_t) * g / (1 - prod)
            w = w - m_hat * lr / (np.sqrt(v / bc2) + eps)
        else:
            denom = np.sqrt(v / bc2) + eps
            w = w + g * (-lr * (1.0 - mu_t) / (1.0 - prod)) / denom
            w = w + m * ((-lr * mu_t1) / (1.0 - prod1)) / denom
        return w, {**state, "momentum": m, "velocity": v}
