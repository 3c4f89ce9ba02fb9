"""IMDB movie reviews: 25,000 training and 25,000 test reviews as word ids, labelled 0 / 1."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..utils._files import get_file
from ._common import ORIGIN, add_offsets, cut_vocabulary, load_npz, remove_long_seq

URL = f"{ORIGIN}imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_URL = f"{ORIGIN}imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load IMDB (Keras 3's ``keras.datasets.imdb.load_data``), downloading once.

    Each split is shuffled with ``np.random.RandomState(seed)``; a review becomes
    ``[start_char] + [id + index_from ...]``; reviews of ``maxlen`` words or more are dropped;
    ids outside ``[skip_top, num_words)`` become ``oov_char`` (or are removed when
    ``oov_char=None``).

    Args:
        path: File name in the cache.
        num_words: Keep the ``num_words`` most frequent words (default: all).
        skip_top: Also drop the ``skip_top`` most frequent words.
        maxlen: Drop reviews with ``maxlen`` words or more.
        seed: Shuffle seed.
        start_char: Id marking a review's start (``None``: no marker).
        oov_char: Id of dropped words (``None``: remove them).
        index_from: Offset added to every word id.
        **kwargs: Keras's deprecated arguments; any is an error.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of Python lists of ints, and
        int64 labels.

    Raises:
        ConfigError: an unknown keyword, or ``maxlen`` so small that no review is left.
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), _ = dl.datasets.imdb.load_data(num_words=10000)
    """
    if kwargs:
        raise ConfigError(
            f"imdb.load_data got unexpected keyword arguments {sorted(kwargs)}. Expected only "
            "path, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from."
        )
    path = get_file(fname=path, origin=URL, file_hash=FILE_HASH)
    f = load_npz(path)
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    train = add_offsets(x_train, start_char, index_from)
    test = add_offsets(x_test, start_char, index_from)
    y_train, y_test = list(labels_train), list(labels_test)
    if maxlen:
        train, y_train = remove_long_seq(maxlen, train, y_train)
        test, y_test = remove_long_seq(maxlen, test, y_test)
        if not train or not test:
            raise ConfigError(
                f"imdb.load_data: no review is shorter than maxlen={maxlen}. Fix: increase maxlen."
            )
    xs = cut_vocabulary(train + test, num_words, skip_top, oov_char)
    labels = np.concatenate(
        [np.asarray(y_train, labels_train.dtype), np.asarray(y_test, labels_test.dtype)]
    )
    idx = len(train)
    return (
        (np.array(xs[:idx], dtype="object"), labels[:idx]),
        (np.array(xs[idx:], dtype="object"), labels[idx:]),
    )


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The word → id dictionary of IMDB (ids before ``index_from`` is added).

    Args:
        path: File name in the cache.

    Returns:
        A ``dict`` from word to rank (1 = most frequent).

    Raises:
        DownloadError: no network and no cached copy.

    Example:
        >>> dl.datasets.imdb.get_word_index()["the"]
        1
    """
    path = get_file(fname=path, origin=WORD_INDEX_URL, file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return dict(json.load(f))
