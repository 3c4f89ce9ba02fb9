"""Optimizer updates on TensorFlow, traced into the train step (mirrors the torch file).

Hyperparameters are built in each variable's dtype; the step count and learning rate come in
as tensors so that one trace serves every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

UPDATES: dict[str, Callable[..., None]] = {}


def update(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        UPDATES[name] = fn
        return fn

    return wrap


def _c(v: float, var: tf.Variable) -> tf.Tensor:
    return tf.constant(v, dtype=var.dtype)


@update("SGD")
def sgd(
    spec: Any,
    params: list[tf.Variable],
    grads: list[tf.Tensor],
    slots: dict[str, list[tf.Variable]],
    lr: tf.Tensor,
    step: tf.Tensor,
) -> None:
    mu = spec.momentum
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        lr_v = tf.cast(lr, p.dtype)
        if mu == 0:
            p.assign_sub(lr_v * g)
            continue
        m = slots["momentum"][i]
        if spec.formula == "keras":
            m.assign(_c(mu, p) * m - lr_v * g)
            if spec.nesterov:
                p.assign_add(_c(mu, p) * m - lr_v * g)
            else:
                p.assign_add(m)
        else:
            new_m = tf.cond(
                tf.equal(step, 1),
                lambda g=g: g,
                lambda m=m, g=g, p=p: _c(mu, p) * m + _c(1 - spec.dampening, p) * g,
            )
            m.assign(new_m)
            d = g + _c(mu, p) * m if spec.nesterov else m
            p.assign_sub(lr_v * d)


@update("Adam")
def adam(
    spec: Any,
    params: list[tf.Variable],
    grads: list[tf.Tensor],
    slots: dict[str, list[tf.Variable]],
    lr: tf.Tensor,
    step: tf.Tensor,
) -> None:
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        dt = p.dtype
        t = tf.cast(step, dt)
        b1, b2, eps = _c(spec.beta_1, p), _c(spec.beta_2, p), _c(spec.epsilon, p)
        one = _c(1.0, p)
        m, v = slots["momentum"][i], slots["velocity"][i]
        bc1, bc2 = one - tf.pow(b1, t), one - tf.pow(b2, t)
        lr_v = tf.cast(lr, dt)
        if spec.formula == "keras":
            m.assign_add((g - m) * (one - b1))
            v.assign_add((tf.square(g) - v) * (one - b2))
        else:
            m.assign_add((g - m) * (one - b1))
            v.assign(b2 * v + (one - b2) * g * g)
        vv: Any = v
        if spec.amsgrad:
            vh = slots["velocity_hat"][i]
            vh.assign(tf.maximum(vh, v))
            vv = vh
        if spec.formula == "keras":
            alpha = lr_v * tf.sqrt(bc2) / bc1
            p.assign_sub(alpha * m / (tf.sqrt(vv) + eps))
        else:
            p.assign_sub((lr_v / bc1) * m / (tf.sqrt(vv) / tf.sqrt(bc2) + eps))


class TFOptimizer(tf.Module):
    """Slots (canonical order of trainable weights), step counter, native update."""

    def __init__(
        self,
        spec: Any,
        params: list[tf.Variable],
        to_canonical: list[Callable[[np.ndarray], np.ndarray]],
        to_native: list[Callable[[np.ndarray], np.ndarray]],
    ) -> None:
        super().__init__()
        self.spec = spec
        self.params = params
        self.to_canonical, self.to_native = to_canonical, to_native
        self.fn = None
        for cls in type(spec).__mro__:
            if cls.__name__ in UPDATES:
                self.fn = UPDATES[cls.__name__]
                break
        if self.fn is None:
            from duallearn.errors import BackendError

            raise BackendError(
                f"The tensorflow backend has no update rule for {type(spec).__name__}."
            )
        self.slots: dict[str, list[tf.Variable]] = {}
        for name in spec.slot_names():
            self.slots[name] = [
                tf.Variable(tn(spec.init_slot(name, tc(p.numpy()))), dtype=p.dtype, trainable=False)
                for p, tc, tn in zip(params, to_canonical, to_native, strict=True)
            ]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)

    def apply(self, grads: list[tf.Tensor], lr: tf.Tensor) -> None:
        step = self.iterations + 1
        assert self.fn is not None
        self.fn(self.spec, self.params, grads, self.slots, lr, step)
        self.iterations.assign(step)

    def state(self) -> dict[str, np.ndarray]:
        out = {"iterations": np.array(int(self.iterations.numpy()), dtype=np.int64)}
        for name, vs in self.slots.items():
            for i, (v, tc) in enumerate(zip(vs, self.to_canonical, strict=True)):
                out[f"{name}/{i}"] = tc(v.numpy()).copy()
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        from duallearn.errors import SerializationError

        for name, vs in self.slots.items():
            for i, (v, tn) in enumerate(zip(vs, self.to_native, strict=True)):
                key = f"{name}/{i}"
                if key not in state:
                    raise SerializationError(f"Optimizer state lacks {key!r}.")
                value = tn(np.asarray(state[key]))
                if value.shape != tuple(v.shape):
                    raise SerializationError(
                        f"Optimizer slot {key!r} has shape {value.shape}, "
                        f"expected {tuple(v.shape)}."
                    )
                v.assign(value.astype(v.dtype.as_numpy_dtype))
        self.iterations.assign(int(np.asarray(state.get("iterations", 0))))
