"""Optimizer updates on torch, for all trainable tensors at once (``torch._foreach_*``).

Each function implements the ``reference_update`` of the front-end class of the same name,
for both ``formula="keras"`` and ``formula="torch"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Tensors = list[torch.Tensor]
UPDATES: dict[str, Callable[..., None]] = {}


def update(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        UPDATES[name] = fn
        return fn

    return wrap


def _lerp_(a: Tensors, b: Tensors, weight: float) -> None:
    """a ← a + (b − a)·weight, rounded as written (torch's lerp switches form at 0.5)."""
    if weight < 0.5:
        torch._foreach_lerp_(a, b, weight)
    else:
        d = torch._foreach_sub(b, a)
        torch._foreach_mul_(d, weight)
        torch._foreach_add_(a, d)


@update("SGD")
def sgd(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    mu = spec.momentum
    if mu == 0:
        torch._foreach_add_(params, grads, alpha=-lr)
        return
    m = slots["momentum"]
    if spec.formula == "keras":
        torch._foreach_mul_(m, mu)
        torch._foreach_add_(m, grads, alpha=-lr)
        if spec.nesterov:
            torch._foreach_add_(params, m, alpha=mu)
            torch._foreach_add_(params, grads, alpha=-lr)
        else:
            torch._foreach_add_(params, m)
    else:
        if step == 1:
            for b, g in zip(m, grads, strict=True):
                b.copy_(g)
        else:
            torch._foreach_mul_(m, mu)
            torch._foreach_add_(m, grads, alpha=1 - spec.dampening)
        if spec.nesterov:
            d = torch._foreach_add(grads, m, alpha=mu)
            torch._foreach_add_(params, d, alpha=-lr)
        else:
            torch._foreach_add_(params, m, alpha=-lr)


@update("Adam")
def adam(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    b1, b2, eps = spec.beta_1, spec.beta_2, spec.epsilon
    m, v = slots["momentum"], slots["velocity"]
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    if spec.formula == "keras":
        _lerp_(m, grads, 1 - b1)
        _lerp_(v, torch._foreach_mul(grads, grads), 1 - b2)
    else:
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, 1 - b2)
    vv = v
    if spec.amsgrad:
        vv = slots["velocity_hat"]
        torch._foreach_maximum_(vv, v)
    denom = torch._foreach_sqrt(vv)
    if spec.formula == "keras":
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, -(lr * math.sqrt(bc2) / bc1))
    else:
        torch._foreach_div_(denom, math.sqrt(bc2))
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, -(lr / bc1))


class TorchOptimizer:
    """Slots (canonical order of trainable weights) and the native update for one spec."""

    def __init__(
        self,
        spec: Any,
        params: Tensors,
        to_canonical: list[Callable[[np.ndarray], np.ndarray]],
        to_native: list[Callable[[np.ndarray], np.ndarray]],
    ) -> None:
        self.spec = spec
        self.params = params
        self.to_canonical, self.to_native = to_canonical, to_native
        self.fn = UPDATES[type(spec).__name__] if type(spec).__name__ in UPDATES else None
        if self.fn is None:
            for cls in type(spec).__mro__:
                if cls.__name__ in UPDATES:
                    self.fn = UPDATES[cls.__name__]
                    break
        if self.fn is None:
            from duallearn.errors import BackendError

            raise BackendError(f"The torch backend has no update rule for {type(spec).__name__}.")
        self.slots: dict[str, Tensors] = {}
        for name in spec.slot_names():
            self.slots[name] = [
                torch.tensor(tn(spec.init_slot(name, tc(p.detach().numpy()))), dtype=p.dtype)
                for p, tc, tn in zip(params, to_canonical, to_native, strict=True)
            ]
        self.iterations = 0

    @torch.no_grad()
    def apply(self, grads: Tensors, lr: float) -> None:
        self.iterations += 1
        assert self.fn is not None
        self.fn(self.spec, self.params, grads, self.slots, lr, self.iterations)

    def state(self) -> dict[str, np.ndarray]:
        out = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, ts in self.slots.items():
            for i, (t, tc) in enumerate(zip(ts, self.to_canonical, strict=True)):
                out[f"{name}/{i}"] = tc(t.detach().numpy()).copy()
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        from duallearn.errors import SerializationError

        for name, ts in self.slots.items():
            for i, (t, tn) in enumerate(zip(ts, self.to_native, strict=True)):
                key = f"{name}/{i}"
                if key not in state:
                    raise SerializationError(f"Optimizer state lacks {key!r}.")
                value = tn(np.asarray(state[key]))
                if value.shape != tuple(t.shape):
                    raise SerializationError(
                        f"Optimizer slot {key!r} has shape {value.shape}, "
                        f"expected {tuple(t.shape)}."
                    )
                t.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(t.dtype))
        self.iterations = int(np.asarray(state.get("iterations", 0)))
