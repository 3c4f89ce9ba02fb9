"""Pooling on torch (channels-last data as zero-copy NCHW views).

SAME windows: TensorFlow's (before, after) pads per axis. Max pooling pads with −∞ when the
pads are not symmetric-and-small. Average pooling divides by the count of valid elements:
``count_include_pad=False`` when torch can express the padding symmetrically (and, in 3D, the
input is at least the window: ``F.avg_pool3d`` refuses a smaller one), else
``avg_pool(zero-padded x) / avg_pool(zero-padded ones)`` (shared/PARITY.md §2).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from duallearn.plugin import axis_pads

from ._layers import TorchLayer, implements

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


@implements(*(f"{kind}Pooling{n}D" for kind in ("Max", "Average") for n in (1, 2, 3)))
class TorchPool(TorchLayer):
    """Windowed pools (``F.max_pool{n}d``/``F.avg_pool{n}d`` on the channels-first view)."""

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        n = spec.rank
        first = spec.data_format == "channels_first"
        if first:
            xc, sizes = x, tuple(x.shape[2:])
        else:  # zero-copy channels-first views of channels-last data
            xc, sizes = x.permute(0, n + 1, *range(1, n + 1)), tuple(x.shape[1:-1])
        pads = [
            axis_pads(spec.padding, int(size), k, s)
            for size, k, s in zip(sizes, spec.pool_size, spec.strides, strict=True)
        ]
        k, s = spec.pool_size, spec.strides
        symmetric = all(b == a and 2 * b <= kk for (b, a), kk in zip(pads, k, strict=True))
        if spec.mode != "max" and n == 3 and any(m < kk for m, kk in zip(sizes, k, strict=True)):
            # F.avg_pool3d refuses an input smaller than the window even when padding covers
            # it ("input image ... smaller than kernel size"): pad explicitly instead
            symmetric = False
        y: torch.Tensor
        if symmetric:
            p = tuple(b for b, _ in pads)
            if spec.mode == "max":
                y = _MAX[n](xc, k, s, p)
            else:
                y = _AVG[n](xc, k, s, p, count_include_pad=False)
        else:
            spec_pad: list[int] = []
            for b, a in reversed(pads):  # F.pad lists the last axis first
                spec_pad += [b, a]
            if spec.mode == "max":
                y = _MAX[n](F.pad(xc, tuple(spec_pad), value=float("-inf")), k, s)
            else:
                avg = _AVG[n]
                ones = torch.ones((1, 1, *xc.shape[2:]), dtype=x.dtype, device=x.device)
                y = avg(F.pad(xc, tuple(spec_pad)), k, s) / avg(F.pad(ones, tuple(spec_pad)), k, s)
        return y if first else y.permute(0, *range(2, n + 2), 1)


@implements(*(f"Global{kind}Pooling{n}D" for kind in ("Max", "Average") for n in (1, 2, 3)))
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
