"""``pad_sequences``: variable-length sequences to one array (Keras 3's ``keras.utils``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

_SIDES = ("pre", "post")


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """An array ``(len(sequences), maxlen, *item_shape)`` filled with ``value``, each sequence
    written at the end (``padding="pre"``) or the start (``"post"``) of its row; sequences
    longer than ``maxlen`` (default: the longest) lose items at the start (``truncating="pre"``)
    or the end (``"post"``). Keras 3's arguments, defaults and results.

    >>> pad_sequences([[1, 2], [3]]).tolist()
    [[1, 2], [0, 3]]
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in _SIDES:
            raise ConfigError(
                f"pad_sequences: {name} must be 'pre' or 'post'. Received: {name}={side!r}."
            )
    if not hasattr(sequences, "__len__"):
        raise ConfigError(
            "pad_sequences expects a list of sequences. Received: "
            f"{type(sequences).__name__}. Fix: pass e.g. [[1, 2], [3]]."
        )
    lengths = []
    item_shape: tuple[int, ...] = ()
    found = False
    for s in sequences:
        try:
            lengths.append(len(s))
        except TypeError:
            raise ConfigError(
                "pad_sequences expects a list of sequences (iterables). Received an item "
                f"{s!r} of type {type(s).__name__}. Fix: wrap single values in lists."
            ) from None
        if not found and len(s):
            item_shape, found = np.asarray(s).shape[1:], True
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    text = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.bytes_)
    if isinstance(value, str) and dtype is not object and not text:
        raise ConfigError(
            f"pad_sequences: value {value!r} is a string but dtype={dtype!r}. Fix: pass "
            "dtype=object (or a string dtype) to pad sequences of strings."
        )
    out = np.full((len(lengths), maxlen, *item_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ConfigError(
                f"pad_sequences: the items of sequence {i} have shape {kept.shape[1:]}; the "
                f"first non-empty sequence's have {item_shape}. Fix: give every item one shape."
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out
