"""Regularization layers: ``Dropout``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._layer import REGISTRY, Layer


@REGISTRY.register()
class Dropout(Layer):
    """Inverted dropout, in training only: ``y = x · m`` with ``m = 1/(1-rate)`` kept with
    probability ``1 - rate`` and 0 otherwise. Identity in inference.

    In deterministic mode (``dl.config.set_deterministic()``) the mask is drawn by the
    front-end (Philox keyed by seed, step and layer) so every backend applies the same mask;
    otherwise each backend uses its native RNG (same distribution, different draws).
    """

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ConfigError(
                f"Dropout rate must be a number in [0, 1). Received: rate={rate!r}. "
                "Fix: e.g. Dropout(0.2)."
            )
        self.rate = float(rate)
        self.seed = seed

    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        return tuple(input_shape) if self.rate > 0 else None

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        keep = rng.random(input_shape) >= self.rate
        return keep / (1.0 - self.rate)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        if not training or noise is None:
            return x
        return x * noise.astype(x.dtype)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        if not training or noise is None:
            return dy, []
        return dy * noise.astype(dy.dtype), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
