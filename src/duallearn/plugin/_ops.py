"""What every backend's ``dl.ops`` shares: argument handling around the native kernels.

The formulas and names are duallearn/ops's. A backend writes each op's native kernel; the parts
that read the same on every engine (turning arguments into tensors and tuples, checking them,
the composition around a kernel) are written here once. The wrappers cost one function call.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ops._dispatch import bound
from ..ops._numpy import _key as index_key
from ..ops._numpy import check_format, ntuple
from ..ops._numpy import same_pads as same_pads
from ..variables import Variable

__all__ = [
    "arange_args",
    "as_shape",
    "attention_op",
    "check_pad_mode",
    "check_sections",
    "conv_op",
    "filled_like_op",
    "filled_op",
    "flip_axes",
    "index_key",
    "layer_normalization_op",
    "pool_op",
    "same_pads",
    "tensor_converter",
    "tile_reps",
]


def as_shape(s: Any) -> tuple[int, ...]:
    """A shape argument (an int or a sequence of ints) as a tuple of Python ints."""
    return (int(s),) if isinstance(s, (int, np.integer)) else tuple(int(a) for a in s)


def tensor_converter(
    native: type | tuple[type, ...],
    stack: Callable[[list[Any]], Any],
    from_numpy: Callable[[np.ndarray], Any],
) -> Callable[[Any], Any]:
    """The backend's ``to_tensor(x)``: a native tensor (an instance of ``native``) as it is; a
    variable as the native tensor bound to it in this call; a list holding tensors or
    variables stacked with ``stack``; anything else through numpy with ``from_numpy``."""
    natives = native if isinstance(native, tuple) else (native,)
    elements = (*natives, Variable)

    def to_tensor(x: Any) -> Any:
        if isinstance(x, natives):
            return x
        if isinstance(x, Variable):
            return to_tensor(bound(x))
        if isinstance(x, (list, tuple)) and x and builtins.any(isinstance(a, elements) for a in x):
            return stack([to_tensor(a) for a in x])
        return from_numpy(np.asarray(x))

    return to_tensor


def filled_op(native: Callable[..., Any], dtype_of: Callable[[Any], Any]) -> Callable[..., Any]:
    """``zeros`` / ``ones`` from the native ``native(shape, dtype=...)`` and the backend's
    ``dtype_of(name or None)`` (None: the float policy)."""

    def filled(shape: Any, dtype: str | None = None) -> Any:
        return native(as_shape(shape), dtype=dtype_of(dtype))

    return filled


def filled_like_op(
    native: Callable[..., Any], to_tensor: Callable[[Any], Any], dtype_of: Callable[[Any], Any]
) -> Callable[..., Any]:
    """``zeros_like`` / ``ones_like`` from the native ``native(x, dtype=...)`` (``None``
    keeps ``x``'s dtype)."""

    def filled_like(x: Any, dtype: str | None = None) -> Any:
        return native(to_tensor(x), dtype=dtype_of(dtype) if dtype else None)

    return filled_like


def arange_args(start: Any, stop: Any, step: Any, dtype: str | None) -> tuple[Any, Any, Any, Any]:
    """``arange``'s arguments as numpy reads them: one bound is ``stop``; all ints -> int64."""
    if stop is None:
        start, stop = 0, start
    if dtype is None and builtins.all(isinstance(v, int) for v in (start, stop, step)):
        dtype = "int64"
    return start, stop, step, dtype


def check_sections(n: int, sections: int, axis: int) -> None:
    """``split`` into ``sections`` equal parts needs ``n`` (the axis' size) to divide."""
    if n % int(sections):
        raise ConfigError(
            f"split: axis {axis} of size {n} does not divide into {sections} "
            "equal sections. Fix: pass cut points instead."
        )


def check_pad_mode(mode: str) -> None:
    """Validate ``pad``'s ``mode`` for a backend (the front-end's check, shared by backends).

    Raises:
        ConfigError: ``mode`` is not ``"constant"``, ``"reflect"`` or ``"symmetric"``.
    """
    if mode not in ("constant", "reflect", "symmetric"):
        raise ConfigError(f"pad: mode must be constant, reflect or symmetric. Received: {mode!r}.")


def tile_reps(repeats: Any, rank: int) -> tuple[int, ...]:
    """``tile``'s repeats, padded with leading 1s to at least ``rank`` entries."""
    reps = as_shape(repeats)
    if len(reps) < rank:
        reps = (1,) * (rank - len(reps)) + reps
    return reps


def flip_axes(axis: Any, rank: int) -> list[int]:
    """``flip``'s axes: every axis for ``None``."""
    return list(range(rank)) if axis is None else ([axis] if isinstance(axis, int) else list(axis))


def conv_op(to_tensor: Callable[[Any], Any], native: Callable[..., Any]) -> Callable[..., Any]:
    """``conv`` around ``native(x, w, strides, dilation_rate, padding)`` (channels-last, tuples
    of the spatial rank; padding ``"valid"`` or ``"same"``)."""

    def conv(
        inputs: Any,
        kernel: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: Any = None,
        dilation_rate: Any = 1,
    ) -> Any:
        check_format(data_format, padding)
        x, w = to_tensor(inputs), to_tensor(kernel)
        nd = len(x.shape) - 2
        st, dil = ntuple(strides, nd, "strides"), ntuple(dilation_rate, nd, "dilation_rate")
        return native(x, w, st, dil, padding)

    return conv


def pool_op(to_tensor: Callable[[Any], Any], kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``max_pool`` / ``average_pool`` around ``kernel(x, pool_size, strides, padding)``."""

    def pool(
        inputs: Any,
        pool_size: Any,
        strides: Any = None,
        padding: str = "valid",
        data_format: Any = None,
    ) -> Any:
        check_format(data_format, padding)
        x = to_tensor(inputs)
        nd = len(x.shape) - 2
        ks = ntuple(pool_size, nd, "pool_size")
        st = ntuple(strides if strides is not None else pool_size, nd, "strides")
        return kernel(x, ks, st, padding)

    return pool


def layer_normalization_op(
    standardize: Callable[[Any, Any, float], Any],
    multiply: Callable[[Any, Any], Any],
    add: Callable[[Any, Any], Any],
) -> Callable[..., Any]:
    """``layer_normalization``: ``standardize(x, axis, epsilon)`` (``(x - mean) *
    rsqrt(var + epsilon)`` over ``axis``), then the backend's ``multiply`` by ``gamma`` and
    ``add`` of ``beta`` when given."""

    def layer_normalization(
        x: Any, gamma: Any = None, beta: Any = None, axis: Any = -1, epsilon: float = 1e-3
    ) -> Any:
        y = standardize(x, axis, epsilon)
        if gamma is not None:
            y = multiply(y, gamma)
        if beta is not None:
            y = add(y, beta)
        return y

    return layer_normalization


def attention_op(to_tensor: Callable[[Any], Any], kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``dot_product_attention`` around ``kernel(q, k, v, bias, mask, scale, is_causal)``
    (tensors or ``None``; ``scale`` a float, ``1/sqrt(head size)`` by default)."""

    def dot_product_attention(
        query: Any,
        key: Any,
        value: Any,
        bias: Any = None,
        mask: Any = None,
        scale: Any = None,
        is_causal: bool = False,
    ) -> Any:
        q, k, v = to_tensor(query), to_tensor(key), to_tensor(value)
        sc = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        b = None if bias is None else to_tensor(bias)
        m = None if mask is None else to_tensor(mask)
        return kernel(q, k, v, b, m, sc, is_causal)

    return dot_product_attention
