"""Reuters newswires: 11,228 newswires as word ids, labelled with 46 topics."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..utils._files import get_file
from ._common import ORIGIN, add_offsets, cut_vocabulary, load_npz, remove_long_seq

URL = f"{ORIGIN}reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_URL = f"{ORIGIN}reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)  # fmt: skip


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Reuters (Keras 3's ``keras.datasets.reuters.load_data``), downloading once.

    Shuffled with ``np.random.RandomState(seed)``, then the same word-id transform as
    :func:`duallearn.datasets.imdb.load_data`, then the first ``1 - test_split`` for training.

    Args:
        path: File name in the cache.
        num_words: Keep the ``num_words`` most frequent words (default: all).
        skip_top: Also drop the ``skip_top`` most frequent words.
        maxlen: Drop newswires with ``maxlen`` words or more.
        test_split: Fraction kept for testing.
        seed: Shuffle seed.
        start_char: Id marking a newswire's start (``None``: no marker).
        oov_char: Id of dropped words (``None``: remove them).
        index_from: Offset added to every word id.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of ints, int64 topics.

    Raises:
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), _ = dl.datasets.reuters.load_data(num_words=10000)
    """
    path = get_file(fname=path, origin=URL, file_hash=FILE_HASH)
    f = load_npz(path)
    xs_raw, labels = f["x"], f["y"]
    indices = np.arange(len(xs_raw))
    np.random.RandomState(seed).shuffle(indices)
    xs = add_offsets(xs_raw[indices], start_char, index_from)
    kept: Any = labels[indices]
    if maxlen:
        xs, kept = remove_long_seq(maxlen, xs, kept)
    xs = cut_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return (
        (np.array(xs[:idx], dtype="object"), np.array(kept[:idx])),
        (np.array(xs[idx:], dtype="object"), np.array(kept[idx:])),
    )


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The word → id dictionary of Reuters (ids before ``index_from`` is added).

    Returns:
        A ``dict`` from word to rank.

    Raises:
        DownloadError: no network and no cached copy.

    Example:
        >>> index = dl.datasets.reuters.get_word_index()
    """
    path = get_file(path, origin=WORD_INDEX_URL, file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return dict(json.load(f))


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, in label order (Keras 3's ``reuters.get_label_names``)."""
    return LABEL_NAMES
