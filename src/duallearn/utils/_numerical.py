"""Label and array helpers: ``to_categorical``, ``normalize`` (Keras 3's ``keras.utils``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows for integer class ids: ``out[..., c] = 1.0 if x[...] == c else 0.0``.

    A trailing axis of size 1 is dropped first (``(n, 1)`` ids give ``(n, num_classes)``), as
    Keras does. ``num_classes`` defaults to ``max(x) + 1``. Returns float64 numpy (Keras 3
    returns the same for array input; for a backend tensor it returns a tensor).

    Differs from Keras: an id outside ``[0, num_classes)`` is a ``ConfigError`` (Keras's numpy
    path raises ``IndexError`` for a large id and silently wraps a negative one).

    >>> to_categorical([0, 2, 1]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    ids = np.asarray(x)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        if not np.all(np.mod(ids, 1) == 0):
            raise ConfigError(
                f"to_categorical expects integer class ids. Received values of dtype "
                f"{ids.dtype} such as {ids.reshape(-1)[:3].tolist()}. Fix: pass class ids "
                "(0 .. num_classes - 1), e.g. y.astype('int64')."
            )
    ids = ids.astype("int64")
    shape = ids.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = ids.reshape(-1)
    if not num_classes:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    bad = flat[(flat < 0) | (flat >= num_classes)]
    if bad.size:
        raise ConfigError(
            f"to_categorical expects class ids in [0, {num_classes}). Received "
            f"{bad[:3].tolist()}. Fix: pass num_classes >= max(id) + 1, or remap the labels."
        )
    out = np.zeros((flat.shape[0], num_classes))
    out[np.arange(flat.shape[0]), flat] = 1.0
    return out.reshape((*shape, num_classes))


def normalize(x: Any, axis: int | None = -1, order: int = 2) -> np.ndarray:
    """``x / ||x||_order`` along ``axis`` (a zero norm divides by 1), Keras 3's numpy path;
    ``axis=None``: the norm of the whole array.

    Differs from Keras 3 (3.15): there ``axis=0`` raises a broadcasting ``ValueError`` (its
    ``axis or -1`` turns 0 into -1); here it normalises along axis 0.

    >>> normalize(np.array([[3.0, 4.0]])).tolist()
    [[0.6, 0.8]]
    """
    a = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(a, order, axis))
    norm[norm == 0] = 1
    return a / np.expand_dims(norm, -1 if axis is None else axis)  # type: ignore[no-any-return]
