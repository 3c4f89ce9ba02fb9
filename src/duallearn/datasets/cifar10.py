"""CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes."""

from __future__ import annotations

import os

import numpy as np

from ..utils._files import get_file
from ._cifar import load_batch

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-10 (Keras 3's ``keras.datasets.cifar10.load_data``), downloading once.

    The archive is cached as ``datasets/cifar-10-batches-py-target_archive`` and extracted into
    ``datasets/cifar-10-batches-py-target/`` (Keras's names).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(50000, 32, 32, 3)`` /
        ``(50000, 1)`` and ``(10000, 32, 32, 3)`` / ``(10000, 1)`` (channels last).

    Raises:
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = dl.datasets.cifar10.load_data()
    """
    path = get_file(
        fname="cifar-10-batches-py-target", origin=URL, extract=True, file_hash=FILE_HASH
    )
    path = os.path.join(path, "cifar-10-batches-py")
    parts = [load_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts]).astype("uint8")
    y_train = np.concatenate([np.asarray(y) for _, y in parts]).astype("uint8")
    x_test, y_test_list = load_batch(os.path.join(path, "test_batch"))
    y_train = y_train.reshape(len(y_train), 1)
    y_test = np.reshape(y_test_list, (len(y_test_list), 1)).astype(y_train.dtype)
    x_train = x_train.transpose(0, 2, 3, 1)
    x_test = x_test.transpose(0, 2, 3, 1).astype(x_train.dtype)
    return (x_train, y_train), (x_test, y_test)
