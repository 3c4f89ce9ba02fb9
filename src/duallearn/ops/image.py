"""``dl.ops.image``: Keras's ``ops.image`` names (channels-last images).

Example:
    >>> import numpy as np
    >>> import duallearn as dl
    >>> with dl.ops.numpy_mode():
    ...     dl.ops.image.extract_patches(np.zeros((2, 20, 20, 3)), (5, 5)).shape
    (2, 4, 4, 75)
"""

from __future__ import annotations

from . import extract_patches as extract_patches

__all__ = ["extract_patches"]
