"""Stochastic gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

from ._optimizer import REGISTRY, Optimizer, _number


@REGISTRY.register("SGD", "sgd")
class SGD(Optimizer):
    """SGD. Defaults (Keras): learning_rate 0.01, momentum 0, nesterov False.

    ``formula="keras"``::

        m ← μ·m − lr·g;   w ← w + m            (nesterov: w ← w + μ·m − lr·g)

    ``formula="torch"`` (``torch.optim.SGD``, with ``dampening`` d; pass
    ``learning_rate=1e-3`` for its default)::

        b ← g at the first step, else μ·b + (1−d)·g;   w ← w − lr·b   (nesterov: g + μ·b)

    Differs: the two agree at a constant learning rate and differ after it changes (the Keras
    form bakes lr into the velocity). ``weight_decay`` is decoupled in Keras, coupled L2
    (g ← g + λw) with ``formula="torch"``.
    """

    slots = ("momentum",)

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number("SGD", "momentum", momentum, 0.0, 1.0, high_open=False)
        self.nesterov = bool(nesterov)
        self.dampening = _number("SGD", "dampening", dampening, 0.0, 1.0, high_open=False)

    def update_slots(self) -> tuple[str, ...]:
        return self.slots if self.momentum > 0 else ()

    def hyper(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "dampening": self.dampening}

    def reference_update(self, w, g, state, lr, step):  # type: ignore[no-untyped-def]
        mu = self.momentum
        new = dict(state)
        if mu == 0:
            return w - lr * g, new
        m = state["momentum"]
        if self.formula == "keras":
            m = m * mu - g * lr
            w = w + (m * mu - g * lr if self.nesterov else m)
        else:
            m = g.copy() if step == 1 else mu * m + (1 - self.dampening) * g
            w = w - lr * (g + mu * m if self.nesterov else m)
        new["momentum"] = m
        return w, new

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "dampening": self.dampening,
        }
