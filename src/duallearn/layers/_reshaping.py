"""Shape layers: ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

from ._layer import REGISTRY, Layer


@REGISTRY.register()
class Flatten(Layer):
    """Flattens every axis but the batch axis, in canonical (channels-last) order:
    an image batch (B, H, W, C) becomes (B, H·W·C) with C varying fastest.

    The torch backend flattens the channels-last view, never NCHW, so the next Dense layer's
    kernel rows mean the same on both backends.
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def compute_output_shape(self, input_shape: Any) -> Any:
        rest = input_shape[1:]
        n = None if any(s is None for s in rest) else math.prod(rest)
        return (input_shape[0], n)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return x.reshape(x.shape[0], -1)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy.reshape(x.shape), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
