"""``timeseries_dataset_from_array`` and ``split_dataset`` (Keras 3's), as ``dl.data.Dataset``."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import ConfigError


def _positive_int(name: str, value: Any, n: int) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be higher than 0. Received: {name}={value!r}.")
    if value >= n:
        raise ConfigError(
            f"{name} must be lower than the length of the data ({n}). Received: {name}={value!r}."
        )


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
    format: str = "tf",
) -> Dataset:
    """Sliding windows over an array: ``(windows, targets)`` batches (Keras 3's).

    Window ``i`` starts at ``p_i = i * sequence_stride`` (within
    ``data[start_index:end_index]``) and holds the rows ``p_i, p_i + sampling_rate, ...``
    (``sequence_length`` of them); its target is ``targets[start_index:][p_i]``.

    Args:
        data: Array ``(time, ...)``.
        targets: Array aligned with ``data`` (``targets[i]`` for the window starting at
            ``i``), or ``None`` for windows only.
        sequence_length: Rows per window.
        sequence_stride: Start-to-start distance between windows.
        sampling_rate: Distance between rows inside a window.
        batch_size: Windows per batch, or ``None`` for single windows.
        shuffle: Shuffle the windows: start positions permuted with
            ``np.random.RandomState(seed)`` (as Keras), then each epoch by the front-end's
            seeded shuffle (Keras uses TF's buffer shuffle: the order differs).
        seed: Shuffle seed.
        start_index, end_index: The slice of ``data`` to use.
        format: ``"tf"`` (only value; a ``dl.data.Dataset``).

    Returns:
        A ``dl.data.Dataset``; batches keep ``data``'s and ``targets``' dtypes.

    Raises:
        ConfigError: an index, stride or rate out of range.

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
        ...                                    batch_size=None)
        >>> next(iter(ds)).tolist()
        [0, 1, 2]
    """
    data = np.asarray(data)
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ConfigError(
                f"start_index must be 0 or greater. Received: start_index={start_index}."
            )
        if start_index >= n:
            raise ConfigError(
                f"start_index must be lower than the length of the data ({n}). Received: "
                f"start_index={start_index}."
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ConfigError(
                "end_index must be higher than start_index. Received: "
                f"start_index={start_index}, end_index={end_index}."
            )
        if end_index >= n:
            raise ConfigError(
                f"end_index must be lower than the length of the data ({n}). Received: "
                f"end_index={end_index}. Fix: pass end_index=None to use the data to its end."
            )
        if end_index <= 0:
            raise ConfigError(f"end_index must be higher than 0. Received: end_index={end_index}.")
    _positive_int("sampling_rate", sampling_rate, n)
    _positive_int("sequence_stride", sequence_stride, n)
    if format not in ("tf", "grain"):
        raise ConfigError(f"format must be 'tf' or 'grain'. Received: format={format!r}.")
    start = 0 if start_index is None else int(start_index)
    end = n if end_index is None else int(end_index)
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    tgt = None if targets is None else np.asarray(targets)
    if tgt is not None:
        num_seqs = min(num_seqs, len(tgt))
    positions = np.arange(0, max(num_seqs, 0), sequence_stride, dtype="int64")
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(1_000_000))
        np.random.RandomState(seed).shuffle(positions)
    steps = data[start:end]
    offsets = np.arange(sequence_length) * sampling_rate
    ds = Dataset.from_tensor_slices(positions)
    if shuffle:
        ds = ds.shuffle(seed=seed)
    if tgt is None:
        ds = ds.map(lambda p: steps[p + offsets])
    else:
        target_steps = tgt[start:end]
        ds = ds.map(lambda p: (steps[p + offsets], target_steps[p]))
    return ds.batch(batch_size) if batch_size is not None else ds


# ---- split_dataset ----------------------------------------------------------------------------
def _samples(dataset: Any) -> tuple[list[Any], str, int | None]:
    if isinstance(dataset, Dataset):
        batch = next((arg[0] for op, arg in getattr(dataset, "_ops", ()) if op == "batch"), None)
        out: list[Any] = []
        for e in dataset.iterate(0):
            if batch is None:
                out.append(e)
            else:
                parts = e if isinstance(e, tuple) else (e,)
                for i in range(len(parts[0])):
                    row = tuple(p[i] for p in parts)
                    out.append(row if isinstance(e, tuple) else row[0])
        return out, "dataset", batch
    if isinstance(dataset, np.ndarray):
        return list(dataset), "array", None
    if isinstance(dataset, (list, tuple)):
        arrays = [np.asarray(a) for a in dataset]
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ConfigError(
                "split_dataset: the arrays of a list/tuple must have the same length. Received "
                f"lengths {[len(a) for a in arrays]}."
            )
        return list(zip(*arrays, strict=False)), "tuple", None
    raise ConfigError(
        "split_dataset expects a dl.data.Dataset, a numpy array, or a list/tuple of arrays. "
        f"Received: {type(dataset).__name__}. Fix: pass (x, y) arrays."
    )


def _rescale(left: Any, right: Any, total: int) -> tuple[int, int]:
    for name, v in (("left_size", left), ("right_size", right)):
        if v is not None and type(v) not in (int, float):
            raise ConfigError(
                f"split_dataset: {name} must be an int, a float or None. Received: "
                f"{name}={v!r} ({type(v).__name__})."
            )
    if left == 0 and right == 0:
        raise ConfigError("split_dataset: left_size and right_size are both zero. Fix: set one.")
    for name, v in (("left_size", left), ("right_size", right)):
        if (type(v) is int and not 0 < v < total) or (type(v) is float and not 0 < v < 1):
            raise ConfigError(
                f"split_dataset: {name} must be a positive integer smaller than {total} or a "
                f"float in (0, 1). Received: {name}={v!r}."
            )
    if type(left) is float and type(right) is float and left + right > 1:
        raise ConfigError(
            f"split_dataset: left_size + right_size must be at most 1. Received: {left} + {right}."
        )
    lf = (
        float(round(left * total))
        if type(left) is float
        else (None if left is None else float(left))
    )
    rf = (
        float(round(right * total))
        if type(right) is float
        else (None if right is None else float(right))
    )
    if lf is None:
        lf = total - (rf or 0.0)
    if rf is None:
        rf = total - lf
    if lf + rf > total:
        raise ConfigError(
            f"split_dataset: left_size + right_size = {lf + rf:g} is more than the {total} "
            "samples. Fix: make the sizes smaller."
        )
    for v, side in ((lf, "left"), (rf, "right")):
        if v == 0:
            raise ConfigError(
                f"split_dataset: with {total} samples, left_size={left} and right_size={right}, "
                f"the {side} split would be empty. Fix: adjust the sizes."
            )
    return int(lf), int(rf)


def _restore(rows: list[Any], kind: str) -> Any:
    if kind == "array":
        return np.array(rows)
    first = rows[0]
    if isinstance(first, tuple):
        return tuple(np.array(list(col)) for col in zip(*rows, strict=False))
    return np.array(rows)


def split_dataset(
    dataset: Any,
    left_size: int | float | None = None,
    right_size: int | float | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    preferred_backend: str | None = None,
) -> tuple[Dataset, Dataset]:
    """Split a dataset into two ``dl.data.Dataset`` objects (Keras 3's TF path).

    Sizes are counts (int) or fractions (float, rounded); the missing one is the rest. With
    ``shuffle``, the samples are shuffled first by ``random.Random(seed).shuffle``, the same
    permutation as Keras's ``random.seed(seed); random.shuffle(...)`` (without touching Python's
    global random state). The right split is the last ``right_size`` samples.

    Args:
        dataset: A ``dl.data.Dataset`` (unbatched and re-batched with its batch size), a numpy
            array, or a list/tuple of arrays of one length.
        left_size: Size of the first split (int count or float fraction).
        right_size: Size of the second split.
        shuffle: Shuffle before splitting.
        seed: Seed of the shuffle.
        preferred_backend: Accepted for Keras compatibility; the result is always a
            ``dl.data.Dataset``.

    Returns:
        ``(left, right)`` datasets.

    Raises:
        ConfigError: no sizes, sizes out of range, an empty or unsupported dataset.

    Example:
        >>> left, right = split_dataset(np.arange(10), left_size=0.8)
        >>> len(left), len(right)
        (8, 2)
    """
    if left_size is None and right_size is None:
        raise ConfigError(
            "split_dataset needs left_size or right_size. Received: both None. Fix: pass e.g. "
            "left_size=0.8."
        )
    rows, kind, batch = _samples(dataset)
    if not rows:
        raise ConfigError("split_dataset received an empty dataset. Expected at least 2 samples.")
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(rows)
    n_left, n_right = _rescale(left_size, right_size, len(rows))
    out = []
    for part in (rows[:n_left], rows[-n_right:]):
        ds = Dataset.from_tensor_slices(_restore(list(part), kind))
        out.append(ds.batch(batch) if batch else ds)
    return out[0], out[1]
