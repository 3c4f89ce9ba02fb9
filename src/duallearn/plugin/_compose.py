"""``dl.ops`` written once from other ops, for every backend.

``composed_ops(o)`` gives a backend the ops that are compositions of its own native ops
(``o``: the backend's ops module, with ``dl.ops`` names): ``linspace``, ``norm`` and
``extract_patches``. The formulas are Keras 3's (``keras/src/backend/*/numpy.py``,
``linalg.py``, ``ops/image.py``); the numpy reference (``duallearn/ops/_numpy.py``) computes
each independently (``np.linspace``, ``np.linalg.norm``, a window gather).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ops._numpy import check_unstack as check_unstack
from ..ops._numpy import linspace_dtype, norm_axes, norm_dtype

_HOST = (int, float, bool, np.ndarray, np.generic, list, tuple)


def _linspace(
    o: Any,
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: str | None = None,
    axis: int = 0,
) -> Any:
    """Host numbers: numpy's float64 ``linspace`` cast once (the same values on every
    backend); tensors: ``start + i·step`` natively, the last sample exactly ``stop``."""
    host = isinstance(start, _HOST) and isinstance(stop, _HOST)
    ends = [_dtype_of(o, v) for v in (start, stop)]
    dt = linspace_dtype(dtype, *ends)
    if host:
        y, step = np.linspace(
            np.asarray(start, np.float64),
            np.asarray(stop, np.float64),
            num,
            endpoint=endpoint,
            retstep=True,
            axis=axis,
        )
        out = o.convert_to_tensor(y.astype(dt))
        return (out, step) if retstep else out
    a, b = o.cast(o.convert_to_tensor(start), dt), o.cast(o.convert_to_tensor(stop), dt)
    div = (num - 1) if endpoint else num
    step = o.divide(o.subtract(b, a), float(div if div > 0 else 1))
    i = o.reshape(o.arange(num, dtype=dt), (num, *([1] * len(o.shape(a)))))
    y = o.add(a, o.multiply(i, step))
    if endpoint and num > 1:
        y = o.concatenate([o.getitem(y, slice(0, num - 1)), o.expand_dims(b, 0)], 0)
    y = o.moveaxis(y, 0, axis)
    return (y, step) if retstep else y


def _dtype_of(o: Any, v: Any) -> str | None:
    if isinstance(v, (np.ndarray, np.generic)):
        return str(v.dtype)
    return None if isinstance(v, _HOST) else str(o.dtype(v))


def _norm(o: Any, x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Keras's ``ops.norm`` (its TensorFlow backend's composition, numpy's meaning)."""
    t = o.convert_to_tensor(x)
    t = o.cast(t, norm_dtype(o.dtype(t)))
    rank = len(o.shape(t))
    axes = norm_axes(rank, ord, axis)
    if axes is None:
        out = o.sqrt(o.sum(o.square(t)))
        return o.reshape(out, (1,) * rank) if keepdims else out
    if len(axes) == 1:
        a = axes[0]
        if ord is None or ord == 2:
            return o.sqrt(o.sum(o.square(t), a, keepdims))
        if ord == math.inf:
            return o.max(o.abs(t), a, keepdims)
        if ord == -math.inf:
            return o.min(o.abs(t), a, keepdims)
        if ord == 0:
            return o.sum(o.cast(o.not_equal(t, 0.0), o.dtype(t)), a, keepdims)
        p = float(ord)
        return o.power(o.sum(o.power(o.abs(t), p), a, keepdims), 1.0 / p)
    r, c = axes
    if ord is None or ord == "fro":
        return o.sqrt(o.sum(o.square(t), axes, keepdims))
    if ord in (1, -1, math.inf, -math.inf):
        inner, outer = (r, c) if ord in (1, -1) else (c, r)
        if not keepdims and outer > inner:
            outer -= 1
        reduce = o.max if ord in (1, math.inf) else o.min
        return reduce(o.sum(o.abs(t), inner, keepdims), outer, keepdims)
    s = o.singular_values(o.moveaxis(t, (r, c), (-2, -1)))
    out = o.sum(s, -1) if ord == "nuc" else (o.max(s, -1) if ord == 2 else o.min(s, -1))
    for a in sorted(axes) if keepdims else ():
        out = o.expand_dims(out, a)
    return out


def _extract_patches(
    o: Any, images: Any, size: Any, strides: Any, dilation_rate: Any, padding: str
) -> Any:
    """Keras's recipe: a convolution with the identity kernel reshaped to
    ``(*size, channels, prod(size)·channels)``, so patch values land in the channels axis in
    (row, column, channel) order."""
    x = o.convert_to_tensor(images)
    nd = len(size)
    unbatched = len(o.shape(x)) == nd + 1
    if unbatched:
        x = o.expand_dims(x, 0)
    channels = int(o.shape(x)[-1])
    depth = math.prod(size) * channels
    kernel = o.reshape(o.eye(depth, dtype=o.dtype(x)), (*size, channels, depth))
    out = o.conv(x, kernel, strides, padding, None, dilation_rate)
    return o.squeeze(out, 0) if unbatched else out


def composed_ops(o: Any) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``(linspace, norm, extract_patches)`` over the backend ops module ``o`` (each looks up
    ``o``'s ops when called, so a module may pass itself while it is being defined)."""
    return (
        functools.partial(_linspace, o),
        functools.partial(_norm, o),
        functools.partial(_extract_patches, o),
    )
