"""Boston housing prices: 506 samples of 13 features, targets in k$."""

from __future__ import annotations

import numpy as np

from ..utils._files import get_file
from ._common import ORIGIN, check_test_split, shuffle_and_split

URL = f"{ORIGIN}boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(
    path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Boston housing (Keras 3's ``keras.datasets.boston_housing.load_data``).

    Args:
        path: File name in the cache.
        test_split: Fraction kept for testing, in ``[0, 1)``.
        seed: Seed of the ``np.random.RandomState`` shuffle before the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 ``(n, 13)`` and ``(n,)``.

    Raises:
        ConfigError: ``test_split`` outside ``[0, 1)``.
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = dl.datasets.boston_housing.load_data()
    """
    check_test_split(test_split)
    path = get_file(path, origin=URL, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return shuffle_and_split(x, y, test_split, seed)
