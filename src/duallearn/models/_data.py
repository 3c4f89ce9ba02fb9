"""Adapting user data (arrays, lists and dicts of arrays) to the model's inputs and outputs,
and the seeded batch order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import _seed
from ..errors import ConfigError, ShapeError
from ..utils._packing import unpack_x_y_sample_weight as unpack_batch  # noqa: F401


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


# ---- data sources ---------------------------------------------------------------------------
def to_numpy(tree: Any) -> Any:
    """numpy leaves from torch tensors, TF tensors or array-likes (no framework import).
    Read-only arrays (``tf.data``'s numpy iterator) are copied: torch needs writable memory."""
    if isinstance(tree, np.ndarray):
        return tree if tree.flags.writeable else tree.copy()
    if isinstance(tree, dict):
        return {k: to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_numpy(v) for v in tree)
    if hasattr(tree, "detach") and hasattr(tree, "cpu"):  # torch.Tensor
        return tree.detach().cpu().numpy()
    if hasattr(tree, "numpy") and callable(tree.numpy):  # tf.Tensor, EagerTensor
        return to_numpy(np.asarray(tree.numpy()))
    return to_numpy(np.asarray(tree))


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def source_kind(x: Any) -> str:
    """Which adapter reads ``x`` (duck typing and module names: no framework import)."""
    from ..data import Dataset
    from ..utils._py_dataset import PyDataset

    if isinstance(x, Dataset):
        return "dl.data"
    if isinstance(x, PyDataset):
        return "pydataset"
    mod = _module(x)
    if mod.startswith("torch.utils.data"):
        return "torch"
    if mod.startswith("tensorflow") and hasattr(x, "as_numpy_iterator"):
        return "tf.data"
    if isinstance(x, (np.ndarray, list, tuple, dict)) or x is None or np.isscalar(x):
        return "arrays"
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return "arrays"
    if hasattr(x, "__next__") and hasattr(x, "__iter__"):
        return "generator"
    if hasattr(x, "__getitem__") and (hasattr(x, "__len__") or hasattr(x, "num_batches")):
        return "sequence"
    if hasattr(x, "__iter__"):
        return "iterable"
    raise ConfigError(
        f"Unsupported data type {type(x).__name__}. Expected numpy arrays (or lists/dicts of "
        "them), a dl.data.Dataset, a dl.utils.PyDataset, a torch DataLoader, a tf.data.Dataset, "
        "a generator or a Sequence-like object (__len__ and __getitem__). Fix: convert the data "
        "with np.asarray or wrap it in one of these."
    )


class Source:
    """One data source seen as epochs of numpy batches ``(x, y, sample_weight)``.

    ``steps`` is the number of batches per epoch when known. ``epoch(e, key)`` returns the
    batches of epoch ``e`` as raw numpy structures (not yet matched to the model's inputs); a
    ``PyDataset`` read with ``shuffle`` takes its batches in the order
    ``Philox(*key).permutation(steps)`` and its ``workers`` fetch them.
    """

    def __init__(self, data: Any, kind: str, shuffle: bool = False) -> None:
        self.data, self.kind, self.shuffle = data, kind, shuffle
        self.steps: int | None = None
        if kind == "dl.data":
            self.steps = data.cardinality()
        elif kind in ("torch", "sequence", "pydataset"):
            try:  # Keras 3's PyDataset names its length num_batches
                n = getattr(data, "num_batches", None) if kind != "torch" else None
                self.steps = int(n) if n is not None else len(data)
            except (TypeError, NotImplementedError):
                self.steps = None
        elif kind == "tf.data":
            card = int(data.cardinality())
            self.steps = card if card >= 0 else None

    @property
    def reiterable(self) -> bool:
        return self.kind not in ("generator",)

    def epoch(self, epoch: int, key: tuple[int, ...] = ()) -> Iterator[Any]:
        d = self.data
        if self.kind == "dl.data":
            raw: Any = d.iterate(epoch)
        elif self.kind == "tf.data":
            raw = d.as_numpy_iterator()
        elif self.kind == "pydataset":
            raw = _pydataset_epoch(d, self.steps, self.shuffle, key)
        elif self.kind == "sequence":
            raw = _sequence_epoch(d, self.steps or 0)
        elif self.kind == "generator":
            raw = d
        else:
            raw = iter(d)
        return (to_numpy(b) for b in raw)


def _pydataset_epoch(
    ds: Any, steps: int | None, shuffle: bool, key: tuple[int, ...]
) -> Iterator[Any]:
    """One epoch of a ``dl.utils.PyDataset``: ``on_epoch_begin``, the batches (in a seeded
    order with ``shuffle``; an endless one in order), then ``on_epoch_end``."""
    from ..utils._py_dataset import fetch_in_order

    ds.on_epoch_begin()
    if steps is None:
        indices: Any = itertools.count()
    elif shuffle and key:
        indices = [int(i) for i in _seed.philox(*key).permutation(steps)]
    else:
        indices = range(steps)
    yield from fetch_in_order(ds, indices)
    ds.on_epoch_end()


def _sequence_epoch(seq: Any, steps: int) -> Iterator[Any]:
    for i in range(steps):
        yield seq[i]
    end = getattr(seq, "on_epoch_end", None)
    if callable(end):
        end()
