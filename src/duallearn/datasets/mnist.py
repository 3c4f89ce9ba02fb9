"""MNIST handwritten digits: 60,000 training and 10,000 test 28x28 grayscale images."""

from __future__ import annotations

import numpy as np

from ..utils._files import get_file
from ._common import ORIGIN

URL = f"{ORIGIN}mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(
    path: str = "mnist.npz",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST (Keras 3's ``keras.datasets.mnist.load_data``), downloading it once.

    Args:
        path: File name in the cache (``$DUALLEARN_HOME/datasets/``, default
            ``~/.duallearn/datasets/``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(60000, 28, 28)`` / ``(60000,)`` and
        ``(10000, 28, 28)`` / ``(10000,)``.

    Raises:
        DownloadError: no network and no cached copy (the message says where to put it).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = dl.datasets.mnist.load_data()
    """
    path = get_file(fname=path, origin=URL, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
