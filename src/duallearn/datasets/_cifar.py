"""Reading CIFAR's pickled batches (shared by cifar10 and cifar100)."""

from __future__ import annotations

import numpy as np

from ._common import load_pickle


def load_batch(fpath: str, label_key: str = "labels") -> tuple[np.ndarray, list[int]]:
    """One CIFAR batch: uint8 ``(n, 3, 32, 32)`` images and the labels under ``label_key``."""
    with open(fpath, "rb") as f:
        d = load_pickle(f, encoding="bytes")
    d = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in d.items()}
    data = d["data"]
    return data.reshape(data.shape[0], 3, 32, 32), d[label_key]
