"""Adapting user data (arrays, lists and dicts of arrays) to the model's inputs and outputs,
and the seeded batch order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError


def as_list(data: Any, names: Sequence[str], what: str) -> list[np.ndarray]:
    """Arrays for each named model input/output, from an array, list/tuple or dict."""
    if data is None:
        raise ConfigError(f"No {what} given. Fix: pass numpy arrays for {what}.")
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ConfigError(
                f"The {what} dict lacks keys {missing}. Expected keys: {list(names)}. "
                f"Received keys: {sorted(data)}."
            )
        arrays = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and len(names) > 1:
        arrays = list(data)
    else:
        arrays = [data]
    if len(arrays) != len(names):
        raise ConfigError(
            f"The model has {len(names)} {what} ({', '.join(names)}). "
            f"Received {len(arrays)} arrays."
        )
    out = []
    for a in arrays:
        arr = np.asarray(a)
        if arr.dtype == object:
            raise ConfigError(f"The {what} must be numeric arrays. Received dtype=object.")
        out.append(arr)
    return out


def check_lengths(groups: Sequence[Sequence[np.ndarray | None]], labels: Sequence[str]) -> int:
    """All arrays must have the same first dimension; returns it."""
    n: int | None = None
    first = ""
    for arrays, label in zip(groups, labels, strict=True):
        for a in arrays:
            if a is None:
                continue
            if a.ndim == 0:
                raise ShapeError(f"{label} must have a batch dimension. Received a scalar.")
            if n is None:
                n, first = a.shape[0], label
            elif a.shape[0] != n:
                raise ShapeError(
                    f"{label} has {a.shape[0]} samples but {first} has {n}. Fix: x, y and "
                    "sample_weight must have the same number of samples (first dimension)."
                )
    if n is None:
        raise ConfigError("No data given.")
    return n


def cast_inputs(arrays: list[np.ndarray], dtypes: Sequence[str]) -> list[np.ndarray]:
    """Float inputs take the model's float dtype; integer inputs (token ids) stay integers."""
    out = []
    for a, dt in zip(arrays, dtypes, strict=True):
        if a.dtype.kind in "fbiu" and (a.dtype.kind == "f" or "float" in dt):
            out.append(np.ascontiguousarray(a, dtype=dt if "float" in dt else a.dtype))
        else:
            out.append(np.ascontiguousarray(a))
    return out


def batch_indices(
    n: int, batch_size: int, shuffle: bool, rng: np.random.Generator | None
) -> Iterator[np.ndarray]:
    """Index arrays of each batch; the last batch may be smaller (as Keras)."""
    order = rng.permutation(n) if shuffle and rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def split_validation(
    arrays: list[list[np.ndarray | None]], fraction: float, n: int
) -> tuple[list[list[np.ndarray | None]], list[list[np.ndarray | None]], int]:
    """Keras's ``validation_split``: the *last* ``fraction`` of samples, before shuffling."""
    if not 0 <= fraction < 1:
        raise ConfigError(
            f"validation_split must be in [0, 1). Received: validation_split={fraction}."
        )
    cut = int(n * (1 - fraction))
    if cut == 0 or cut == n:
        raise ConfigError(
            f"validation_split={fraction} leaves no training or no validation samples out of "
            f"{n}. Fix: use a larger data set or another fraction."
        )
    train = [[None if a is None else a[:cut] for a in g] for g in arrays]
    val = [[None if a is None else a[cut:] for a in g] for g in arrays]
    return train, val, cut
