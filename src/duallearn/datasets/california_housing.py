"""California housing prices: 20,640 samples of 8 features, targets in $."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..utils._files import get_file
from ._common import ORIGIN, check_test_split, shuffle_and_split

URL = f"{ORIGIN}california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(
    version: str = "large",
    path: str = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load California housing (Keras 3's ``keras.datasets.california_housing.load_data``).

    Args:
        version: ``"large"`` (all 20,640 samples) or ``"small"`` (the first 600).
        path: File name in the cache.
        test_split: Fraction kept for testing, in ``[0, 1)``.
        seed: Seed of the ``np.random.RandomState`` shuffle before the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float ``(n, 8)`` and ``(n,)``.

    Raises:
        ConfigError: an unknown ``version`` or ``test_split`` outside ``[0, 1)``.
        DownloadError: no network and no cached copy.

    Example:
        >>> (x_train, y_train), _ = dl.datasets.california_housing.load_data(version="small")
    """
    check_test_split(test_split)
    if version not in ("large", "small"):
        raise ConfigError(
            f"version must be 'small' or 'large'. Received: version={version!r}. Fix: pass "
            "version='small' for the first 600 samples."
        )
    path = get_file(path, origin=URL, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return shuffle_and_split(x, y, test_split, seed)
