"""CIFAR-100: 50,000 training and 10,000 test 32x32 colour images in 100 (or 20) classes."""

from __future__ import annotations

import os

import numpy as np

from ..errors import ConfigError
from ..utils._files import get_file
from ._cifar import load_batch

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(
    label_mode: str = "fine",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-100 (Keras 3's ``keras.datasets.cifar100.load_data``), downloading once.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 super-classes).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(50000, 32, 32, 3)``, int64
        ``(50000, 1)`` labels, and the 10,000 test images likewise.

    Raises:
        ConfigError: an unknown ``label_mode``.
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), _ = dl.datasets.cifar100.load_data(label_mode="coarse")
    """
    if label_mode not in ("fine", "coarse"):
        raise ConfigError(
            "label_mode must be 'fine' or 'coarse'. Received: "
            f"label_mode={label_mode!r}. Fix: pass label_mode='fine' (100 classes) or "
            "'coarse' (20)."
        )
    path = get_file(fname="cifar-100-python-target", origin=URL, extract=True, file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-100-python")
    key = f"{label_mode}_labels"
    x_train, train_labels = load_batch(os.path.join(path, "train"), label_key=key)
    x_test, test_labels = load_batch(os.path.join(path, "test"), label_key=key)
    y_train = np.reshape(train_labels, (len(train_labels), 1))
    y_test = np.reshape(test_labels, (len(test_labels), 1))
    return (x_train.transpose(0, 2, 3, 1), y_train), (x_test.transpose(0, 2, 3, 1), y_test)
