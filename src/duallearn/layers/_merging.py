"""Merge layers (Keras 3): ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``, ``Concatenate`` and ``Dot``. Each takes a list of tensors.

Elementwise merges broadcast their inputs with numpy's rules (as Keras). Gradients at ties of
``Maximum``/``Minimum`` go to the first input holding the extreme on both backends
(``torch.maximum`` and ``tf.maximum`` differ there: the backends compose it with ``where``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def _broadcast_shape(layer: str, shapes: Sequence[Any]) -> tuple[int | None, ...]:
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError(
                f"Layer {layer!r} cannot merge inputs of shapes {list(shapes)}: axis {i} has "
                f"sizes {sorted(known)}. Fix: give the inputs equal (or broadcastable) shapes."
            )
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


class Merge(Layer):
    """Base of the elementwise merges: ``y = f(x_1, ..., x_n)`` with numpy broadcasting."""

    supports_masking = True
    min_inputs = 2
    max_inputs: int | None = None

    def _check(self, input_shape: Any) -> list[Any]:
        if (
            not isinstance(input_shape, list)
            or len(input_shape) < self.min_inputs
            or (self.max_inputs is not None and len(input_shape) > self.max_inputs)
        ):
            n = (
                f"exactly {self.max_inputs}"
                if self.max_inputs == self.min_inputs
                else f"at least {self.min_inputs}"
            )
            raise ConfigError(
                f"Layer {self.name!r} ({type(self).__name__}) must be called on a list of {n} "
                f"tensors. Received input shape: {input_shape}."
            )
        return input_shape

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return _broadcast_shape(self.name, self._check(input_shape))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        masks = [m for m in mask if m is not None]
        out = masks[0]
        for m in masks[1:]:
            out = np.logical_and(out, m)
        return out

    def _merge(self, xs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _grads(self, xs: list[np.ndarray], y: np.ndarray, dy: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return self._merge([np.asarray(a) for a in x])

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        xs = [np.asarray(a) for a in x]
        full = [np.broadcast_to(a, y.shape) for a in xs]
        grads = self._grads(full, y, dy)
        return [_unbroadcast(g, a.shape) for g, a in zip(grads, xs, strict=True)], []


@REGISTRY.register()
class Add(Merge):
    """``y = x_1 + … + x_n``."""

    def _merge(self, xs):  # type: ignore[no-untyped-def]
        return sum(xs[1:], xs[0])

    def _grads(self, xs, y, dy):  # type: ignore[no-untyped-def]
        return [dy for _ in xs]


@REGISTRY.register()
class Subtract(Merge):
    """``y = x_1 − x_2`` (exactly two inputs)."""

    max_inputs = 2

    def _merge(self, xs):  # type: ignore[no-untyped-def]
        return xs[0] - xs[1]

    def _grads(self, xs, y, dy):  # type: ignore[no-untyped-def]
        return [dy, -dy]


@REGISTRY.register()
class Multiply(Merge):
    """``y = x_1 · … · x_n`` (elementwise)."""

    def _merge(self, xs):  # type: ignore[no-untyped-def]
        out = xs[0]
        for a in xs[1:]:
            out = out * a
        return out

    def _grads(self, xs, y, dy):  # type: ignore[no-untyped-def]
        grads = []
        for i in range(len(xs)):
            g = dy
            for j, a in enumerate(xs):
                if j != i:
                    g = g * a
            grads.append(g)
        return grads


@REGISTRY.register()
class Average(Merge):
    """``y = (x_1 + … + x_n) / n``."""

    def _merge(self, xs):  # type: ignore[no-untyped-def]
        return sum(xs[1:], xs[0]) / len(xs)

    def _grads(self, xs, y, dy):  # type: ignore[no-untyped-def]
        return [dy / len(xs) for _ in xs]


class _Extreme(Merge):
    pick: Any = None

    def _merge(self, xs):  # type: ignore[no-untyped-def]
        out = xs[0]
        for a in xs[1:]:
            out = self.pick(out, a)
        return out

    def _grads(self, xs, y, dy):  # type: ignore[no-untyped-def]
        taken = np.zeros(y.shape, dtype=bool)
        grads = []
        for a in xs:
            hit = (a == y) & ~taken
            taken |= hit
            grads.append(np.where(hit, dy, 0.0).astype(dy.dtype))
        return grads


@REGISTRY.register()
class Maximum(_Extreme):
    """``y = max(x_1, ..., x_n)`` elementwise (gradient to the first maximal input)."""

    pick = staticmethod(np.maximum)


@REGISTRY.register()
class Minimum(_Extreme):
    """``y = min(x_1, ..., x_n)`` elementwise (gradient to the first minimal input)."""

    pick = staticmethod(np.minimum)


@REGISTRY.register()
class Concatenate(Merge):
    """Joins the inputs along ``axis`` (default −1); other axes must match."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(f"Concatenate: axis must be an int. Received: axis={axis!r}.")
        self.axis = axis

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self._check(input_shape)
        rank = len(shapes[0])
        if (
            any(len(s) != rank for s in shapes)
            or not -rank <= self.axis < rank
            or self.axis % rank == 0
        ):
            raise ShapeError(
                f"Layer {self.name!r} (Concatenate axis={self.axis}) needs inputs of one rank "
                f"and a non-batch axis. Received input shapes: {shapes}."
            )
        ax = self.axis % rank
        out = list(shapes[0])
        for i in range(rank):
            if i == ax:
                sizes = [s[i] for s in shapes]
                out[i] = None if None in sizes else sum(sizes)
                continue
            known = {s[i] for s in shapes if s[i] is not None}
            if len(known) > 1:
                raise ShapeError(
                    f"Layer {self.name!r} (Concatenate axis={self.axis}) needs inputs with equal "
                    f"sizes except on the concatenation axis. Received input shapes: {shapes}."
                )
            out[i] = known.pop() if known else None
        return tuple(out)

    def _merge(self, xs):  # type: ignore[no-untyped-def]
        return np.concatenate(xs, axis=self.axis)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        cuts = np.cumsum([np.shape(a)[self.axis] for a in x])[:-1]
        return list(np.split(dy, cuts, axis=self.axis)), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def dot_axes(axes: Any, r1: int, r2: int) -> tuple[int, int]:
    """Keras's ``Dot`` axes as non-negative ints for inputs of ranks ``r1``, ``r2``."""
    if isinstance(axes, int):
        return (axes % r1, axes % r2) if axes < 0 else (axes, axes)
    return (axes[0] % r1, axes[1] % r2)


def dot_subscripts(r1: int, r2: int, a1: int, a2: int) -> str:
    """einsum subscripts of Keras's batch dot: batch axis shared, ``a1``·``a2`` summed."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    s1 = ["z"] + list(letters[: r1 - 1])
    s2 = ["z"] + list(letters[r1 - 1 : r1 - 1 + r2 - 1])
    s2[a2] = s1[a1]
    out = [c for i, c in enumerate(s1) if i != a1] + [
        c for i, c in enumerate(s2) if i not in (0, a2)
    ]
    return f"{''.join(s1)},{''.join(s2)}->{''.join(out)}"


@REGISTRY.register()
class Dot(Merge):
    """Batchwise dot product of two tensors along ``axes`` (Keras's ``batch_dot``): for each
    sample, the sum over ``x1[axes[0]] · x2[axes[1]]``; output = the remaining axes of x1 then
    those of x2 (batch once), at least (batch, 1). ``normalize=True`` L2-normalizes both
    inputs along their axes first: ``x / max(‖x‖, 1e-7)`` (Keras's ``normalize``)."""

    min_inputs = max_inputs = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ConfigError(
                    f"Dot: axes must be an int or a pair of ints. Received: {axes!r}."
                )
            axes = tuple(axes)
        elif not isinstance(axes, int) or isinstance(axes, bool):
            raise ConfigError(f"Dot: axes must be an int or a pair of ints. Received: {axes!r}.")
        self.axes = axes
        self.normalize = bool(normalize)

    def compute_output_shape(self, input_shape: Any) -> Any:
        s1, s2 = (list(s) for s in self._check(input_shape))
        a1, a2 = dot_axes(self.axes, len(s1), len(s2))
        if 0 in (a1, a2) or (s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]):
            raise ShapeError(
                f"Layer {self.name!r} (Dot axes={self.axes}) needs non-batch axes of equal size. "
                f"Received input shapes: {input_shape}."
            )
        s1.pop(a1)
        s2.pop(a2)
        out = s1 + s2[1:]
        return tuple(out + [1] if len(out) == 1 else out)

    def _axes_of(self, x: Sequence[np.ndarray]) -> tuple[int, int]:
        return dot_axes(self.axes, np.ndim(x[0]), np.ndim(x[1]))

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        a1, a2 = self._axes_of(x)
        u, v = np.asarray(x[0]), np.asarray(x[1])
        if self.normalize:
            u = u / np.sqrt(np.maximum(np.sum(u * u, axis=a1, keepdims=True), 1e-14))
            v = v / np.sqrt(np.maximum(np.sum(v * v, axis=a2, keepdims=True), 1e-14))
        out = np.einsum(dot_subscripts(u.ndim, v.ndim, a1, a2), u, v)
        return out[:, None] if out.ndim == 1 else out

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        a1, a2 = self._axes_of(x)
        x1, x2 = np.asarray(x[0]), np.asarray(x[1])
        dy = np.asarray(dy).reshape(
            np.einsum(dot_subscripts(x1.ndim, x2.ndim, a1, a2), x1, x2).shape
        )

        def norm(a: np.ndarray, ax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            s = np.sum(a * a, axis=ax, keepdims=True)
            n = np.sqrt(np.maximum(s, 1e-14))
            return a / n, n, s

        u, n1, s1 = norm(x1, a1) if self.normalize else (x1, None, None)
        v, n2, s2 = norm(x2, a2) if self.normalize else (x2, None, None)
        sub = dot_subscripts(u.ndim, v.ndim, a1, a2)
        ins, out = sub.split("->")
        i1, i2 = ins.split(",")
        du = np.einsum(f"{out},{i2}->{i1}", dy, v)
        dv = np.einsum(f"{out},{i1}->{i2}", dy, u)
        if self.normalize:
            du = (du - u * np.sum(du * u, axis=a1, keepdims=True) * (s1 > 1e-14)) / n1
            dv = (dv - v * np.sum(dv * v, axis=a2, keepdims=True) * (s2 > 1e-14)) / n2
        return [du, dv], []

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def get_config(self) -> dict[str, Any]:
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}
