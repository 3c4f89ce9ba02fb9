"""What the dataset loaders share: Keras's URLs, a safe unpickler, ``.npz`` reading, splits."""

from __future__ import annotations

import io
import pickle
import zipfile
from typing import Any

import numpy as np

from ..errors import ConfigError, SerializationError

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
})  # fmt: skip


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python values only (Keras's dataset unpickler)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise SerializationError(
            f"Refusing to unpickle {module}.{name} while loading a dataset file: expected only "
            "numpy arrays and plain values. Fix: the file is corrupted or hostile; delete it "
            "from the cache folder and load again."
        )


def load_pickle(fileobj: Any, encoding: str = "ASCII") -> Any:
    return RestrictedUnpickler(fileobj, encoding=encoding).load()


def _npy_member(fp: io.BytesIO) -> np.ndarray:
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError:  # an object array: read past the header, then unpickle safely
        fp.seek(0)
        version = np.lib.format.read_magic(fp)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(fp)
        else:
            np.lib.format.read_array_header_2_0(fp)
        return np.asarray(load_pickle(fp))


def load_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file; object arrays (IMDB, Reuters) through the safe unpickler."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[: -len(".npy")]] = _npy_member(io.BytesIO(raw.read()))
    return arrays


def check_test_split(test_split: float) -> None:
    if not 0 <= test_split < 1:
        raise ConfigError(
            f"test_split must be in [0, 1). Received: test_split={test_split!r}. Fix: pass "
            "e.g. test_split=0.2."
        )


def shuffle_and_split(
    x: np.ndarray, y: np.ndarray, test_split: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras's housing split: ``RandomState(seed)`` shuffle, the first ``1 - test_split``
    fraction for training."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def remove_long_seq(maxlen: int, seq: list[Any], label: Any) -> tuple[list[Any], list[Any]]:
    """Keep the sequences shorter than ``maxlen`` (Keras's ``remove_long_seq``)."""
    new_seq, new_label = [], []
    for x, y in zip(seq, label, strict=False):
        if len(x) < maxlen:
            new_seq.append(x)
            new_label.append(y)
    return new_seq, new_label


def add_offsets(xs: Any, start_char: int | None, index_from: int) -> list[list[int]]:
    """``[start_char] + [id + index_from ...]`` per sequence (Keras's IMDB / Reuters step 1)."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return [list(x) for x in xs]


def cut_vocabulary(
    xs: list[list[int]], num_words: int | None, skip_top: int, oov_char: int | None
) -> list[list[int]]:
    """Ids outside ``[skip_top, num_words)`` become ``oov_char`` (or go, with ``None``)."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]
