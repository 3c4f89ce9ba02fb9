"""Shape layers on torch. Data is channels-last, so reshape/flatten keep the canonical order;
permutes, expands and crops are views."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._layers import TorchLayer, implements


@implements("Flatten")
class TorchFlatten(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return x.reshape(x.shape[0], -1)


@implements("Reshape")
class TorchReshape(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return x.reshape(x.shape[0], *self.spec.target_shape)


@implements("Permute")
class TorchPermute(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return x.permute(0, *self.spec.dims)


@implements("RepeatVector")
class TorchRepeatVector(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return x.unsqueeze(1).expand(-1, self.spec.n, -1)


@implements("ZeroPadding1D", "ZeroPadding2D")
class TorchZeroPadding(TorchLayer):
    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        rank = len(layer.input_shape)
        pads: list[int] = []
        for lo, hi in reversed(layer.full_pads(rank)[1:]):  # F.pad: last axis first
            pads += [lo, hi]
        self.pads = pads

    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return F.pad(x, self.pads)


@implements("Cropping1D", "Cropping2D")
class TorchCropping(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        for a, (lo, hi) in zip(self.spec.spatial_axes, self.spec.crops, strict=True):
            x = x.narrow(a, lo, x.shape[a] - lo - hi)
        return x


@implements("UpSampling1D", "UpSampling2D")
class TorchUpSampling(TorchLayer):
    """Nearest: ``repeat_interleave`` per spatial axis (exact copy of each value). Bilinear:
    ``F.interpolate(align_corners=False)`` on the NCHW view (half-pixel centers, as Keras)."""

    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        if getattr(self.spec, "interpolation", "nearest") == "bilinear":
            last = self.spec.data_format == "channels_last"
            xc = x.permute(0, 3, 1, 2) if last else x
            size = (xc.shape[2] * self.spec.sizes[0], xc.shape[3] * self.spec.sizes[1])
            y = F.interpolate(xc, size=size, mode="bilinear", align_corners=False)
            return y.permute(0, 2, 3, 1) if last else y
        for a, s in zip(self.spec.spatial_axes, self.spec.sizes, strict=True):
            if s != 1:
                x = torch.repeat_interleave(x, s, dim=a)
        return x
