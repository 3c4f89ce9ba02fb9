"""``TimeDistributed`` on every backend, written once.

The wrapped layer's native module runs once on all time steps together: ``(B, T, ...)`` is
merged to ``(B·T, ...)``, the inner layer runs, and its output is split back to
``(B, T, ...)``. The weights are the inner layer's (its native module holds them). A backend
supplies the two reshapes (``merge_time``, ``split_time``) and builds the inner module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._custom import CompositeLayer


class TimeDistributedMixin(CompositeLayer):
    """The native ``TimeDistributed``: ``inner`` is the wrapped layer's native module."""

    inner: Any

    def _init_wrapper(self, layer: Any, native_layer: Callable[[Any], Any]) -> None:
        """Set up (after the framework module's ``__init__``) for front-end ``layer``."""
        self.spec = layer
        self.dtype = self.registry.dtypes.get(layer.dtype, self.registry.dtypes["float32"])
        self.takes_mask = False
        self.inner = native_layer(layer.layer)
        self.dl_vars = list(self.inner.dl_vars)
        self._index = [(self.inner, i) for i in range(len(self.dl_vars))]

    def merge_time(self, x: Any) -> Any:
        """``(B, T, *rest)`` → ``(B·T, *rest)``."""
        raise NotImplementedError

    def split_time(self, y: Any, x: Any) -> Any:
        """``(B·T, *out)`` → ``(B, T, *out)``, ``B`` and ``T`` taken from ``x``."""
        raise NotImplementedError

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        y = self.inner.forward(self.merge_time(x), training, noise)
        return self.split_time(y, x)
