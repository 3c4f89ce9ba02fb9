"""Fashion-MNIST: 60,000 training and 10,000 test 28x28 grayscale images of 10 clothing kinds."""

from __future__ import annotations

import gzip
import os

import numpy as np

from ..utils._files import get_file
from ._common import ORIGIN

FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST (Keras 3's ``keras.datasets.fashion_mnist.load_data``).

    The four gzipped IDX files are cached under ``datasets/fashion-mnist/`` (no hash, as Keras).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(60000, 28, 28)`` / ``(60000,)`` and
        ``(10000, 28, 28)`` / ``(10000,)``.

    Raises:
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), _ = dl.datasets.fashion_mnist.load_data()
    """
    dirname = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(fname, origin=ORIGIN + fname, cache_subdir=dirname) for fname in FILES]
    with gzip.open(paths[0], "rb") as f:
        y_train = np.frombuffer(f.read(), np.uint8, offset=8)
    with gzip.open(paths[1], "rb") as f:
        x_train = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(y_train), 28, 28)
    with gzip.open(paths[2], "rb") as f:
        y_test = np.frombuffer(f.read(), np.uint8, offset=8)
    with gzip.open(paths[3], "rb") as f:
        x_test = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
