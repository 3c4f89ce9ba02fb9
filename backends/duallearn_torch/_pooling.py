"""Pooling on torch (channels-last data as zero-copy NCHW views).

SAME windows: TensorFlow's (before, after) pads per axis. Max pooling pads with −∞ when the
pads are not symmetric-and-small. Average pooling divides by the count of valid elements:
``count_include_pad=False`` when torch can express the padding symmetrically, else
``avg_pool(zero-padded x) / avg_pool(zero-padded ones)`` (shared/PARITY.md §2).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from duallearn.plugin import axis_pads

from ._layers import TorchLayer, implements


class _TorchPool(TorchLayer):
    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        one_d = spec.rank == 1
        first = spec.data_format == "channels_first"
        if first:
            xc, sizes = x, tuple(x.shape[2:])
        else:  # zero-copy channels-first views of channels-last data
            xc = x.permute(0, 2, 1) if one_d else x.permute(0, 3, 1, 2)
            sizes = tuple(x.shape[1:-1])
        pads = [
            axis_pads(spec.padding, int(n), k, s)
            for n, k, s in zip(sizes, spec.pool_size, spec.strides, strict=True)
        ]
        k, s = spec.pool_size, spec.strides
        symmetric = all(b == a and 2 * b <= kk for (b, a), kk in zip(pads, k, strict=True))
        y: torch.Tensor
        if symmetric:
            p = tuple(b for b, _ in pads)
            if spec.mode == "max":
                y = (F.max_pool1d if one_d else F.max_pool2d)(xc, k, s, p)
            elif one_d:
                y = F.avg_pool1d(xc, k, s, p, count_include_pad=False)
            else:
                y = F.avg_pool2d(xc, k, s, p, count_include_pad=False)
        else:
            spec_pad: list[int] = []
            for b, a in reversed(pads):  # F.pad lists the last axis first
                spec_pad += [b, a]
            if spec.mode == "max":
                y = (F.max_pool1d if one_d else F.max_pool2d)(
                    F.pad(xc, tuple(spec_pad), value=float("-inf")), k, s
                )
            else:
                avg = F.avg_pool1d if one_d else F.avg_pool2d
                ones = torch.ones((1, 1, *xc.shape[2:]), dtype=x.dtype, device=x.device)
                y = avg(F.pad(xc, tuple(spec_pad)), k, s) / avg(F.pad(ones, tuple(spec_pad)), k, s)
        if first:
            return y
        return y.permute(0, 2, 1) if one_d else y.permute(0, 2, 3, 1)


@implements("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
class TorchPool(_TorchPool):
    """Windowed pools (1D on the (B, C, T) view, 2D on the NCHW view)."""


@implements(
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D"
)
class TorchGlobalPool(TorchLayer):
    """``amax`` (ties split the gradient, as TensorFlow) / ``mean`` over the spatial axes;
    GlobalAveragePooling1D weights the steps with an incoming Keras mask."""

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        axes = spec.axes
        if spec.mode == "max":
            return x.amax(dim=axes, keepdim=spec.keepdims)
        if mask is not None and spec.rank == 1:
            m = mask.to(x.dtype).unsqueeze(spec.channel_axis)
            t = axes[0]
            return (x * m).sum(dim=t, keepdim=spec.keepdims) / m.sum(dim=t, keepdim=spec.keepdims)
        return x.mean(dim=axes, keepdim=spec.keepdims)
