"""Dropout, SpatialDropout1D/2D and GaussianNoise on torch: the front-end's mask/noise in
deterministic mode, the runtime's generator (``_rng.TorchRng``) otherwise."""

from __future__ import annotations

from typing import Any

import torch

from ._layers import TorchLayer, implements


@implements("Dropout", "SpatialDropout1D", "SpatialDropout2D")
class TorchDropout(TorchLayer):
    """``x · m``; the native mask has the layer's (broadcast) noise shape."""

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        rate = self.spec.rate
        if not training or rate == 0:
            return x
        if noise is not None:
            return x * noise.to(x.dtype)
        return self.rng.dropout(x, rate, tuple(self.spec.resolve_noise_shape(tuple(x.shape))))


@implements("GaussianNoise")
class TorchGaussianNoise(TorchLayer):
    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        if not training or self.spec.stddev == 0:
            return x
        if noise is not None:
            return x + noise.to(x.dtype)
        return x + self.rng.normal(x, self.spec.stddev)
