"""Convolutions on torch, with channels-last data kept as zero-copy views.

An NHWC tensor's ``permute(0, 3, 1, 2)`` is a channels_last NCHW view; ``F.conv2d`` with a
channels_last weight keeps that memory format and the result permutes back to NHWC for free.
No per-layer ``.contiguous()`` NCHW copies. TensorFlow's SAME padding is computed per axis
(front-end ``same_pads``); symmetric pads go to the conv, asymmetric ones through ``F.pad``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from duallearn.plugin import axis_pads

from . import _activations
from ._layers import TorchLayer, implements


def _first_view(x: torch.Tensor) -> torch.Tensor:
    """The channels-first view of channels-last data (zero-copy; NHWC → NCHW etc.)."""
    n = x.dim()
    return x.permute(0, n - 1, *range(1, n - 1))


def _last_view(y: torch.Tensor) -> torch.Tensor:
    """The channels-last view of a channels-first result (NCHW → NHWC etc.)."""
    return y.permute(0, *range(2, y.dim()), 1)


_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


def _to_channels_last(p: torch.Tensor) -> None:
    if p.dim() in _FORMATS:
        p.data = p.data.contiguous(memory_format=_FORMATS[p.dim()])


def _kernel_to_native(value: np.ndarray) -> np.ndarray:
    """Canonical (*k, in, out) → torch (out, in, *k) (conv); the same axes map a transposed
    kernel (*k, filters, C) → (C, filters, *k)."""
    n = value.ndim - 2
    return value.transpose(n + 1, n, *range(n))


def _kernel_to_canonical(value: np.ndarray) -> np.ndarray:
    n = value.ndim - 2
    return value.transpose(*range(2, n + 2), 1, 0)


def _pad_args(pads: list[tuple[int, int]]) -> tuple[Any, tuple[int, ...] | None]:
    """``(conv padding, F.pad spec or None)`` for per-axis (before, after) pads."""
    if all(b == a for b, a in pads):
        return tuple(b for b, _ in pads), None
    spec: list[int] = []
    for b, a in reversed(pads):  # F.pad lists the last axis first
        spec += [b, a]
    return 0, tuple(spec)


class _TorchConvBase(TorchLayer):
    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)
        self.use_bias = layer.use_bias
        for p in self.dl_vars:
            _to_channels_last(p)

    @property
    def w0(self) -> torch.Tensor:
        return self.dl_vars[0]

    @property
    def b(self) -> torch.Tensor | None:
        return self.dl_vars[-1] if self.use_bias else None

    @property
    def first(self) -> bool:
        return bool(self.spec.data_format == "channels_first")

    def _in(self, x: torch.Tensor) -> torch.Tensor:
        """The channels-first view torch's kernels take (zero-copy for channels-last data)."""
        return x if self.first else _first_view(x)

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.first else _last_view(y)

    def _spatial(self, x: torch.Tensor) -> tuple[int, ...]:
        return tuple(int(n) for n in (x.shape[2:] if self.first else x.shape[1:-1]))

    def _channels(self, x: torch.Tensor) -> int:
        return int(x.shape[1] if self.first else x.shape[-1])

    def _pads(self, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
        spec = self.spec
        return [
            axis_pads(spec.padding, int(n), k, s, d)
            for n, k, s, d in zip(
                sizes, spec.kernel_size, spec.strides, spec.dilation_rate, strict=True
            )
        ]


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@implements("Conv1D", "Conv2D", "Conv3D")
class TorchConv(_TorchConvBase):
    """``F.conv1d/2d/3d`` on the channels-first view (channels_last memory format); kernel
    (filters, C/g, *k) = ``kernel.transpose(n+1, n, 0, …, n−1)`` (2D: ``(3, 2, 0, 1)``)."""

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        return _kernel_to_native(value) if index == 0 else value

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        return _kernel_to_canonical(value) if index == 0 else value

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        xc = self._in(x)
        padding, spec_pad = _pad_args(self._pads(self._spatial(x)))
        if spec_pad is not None:
            xc = F.pad(xc, spec_pad)
        y = _CONV[spec.rank](
            xc,
            self.w0,
            self.b,
            spec.strides,
            padding,
            spec.dilation_rate,
            spec.groups,
        )
        return self.act(self._out(y))


@implements("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
class TorchConvTranspose(_TorchConvBase):
    """``F.conv_transpose1d/2d/3d`` without padding, then TensorFlow's crop ``[p : p + out]``
    per axis (zero-extended at the end when the full result is shorter; shared/PARITY.md §2).
    Kernel (C, filters, *k) = ``kernel.transpose(n+1, n, 0, …, n−1)``."""

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        return _kernel_to_native(value) if index == 0 else value

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        return _kernel_to_canonical(value) if index == 0 else value

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        y = _CONV_T[spec.rank](
            self._in(x), self.w0, None, spec.strides, 0, 0, 1, spec.dilation_rate
        )
        crops = spec.crops(self._spatial(x))
        extra = [max(b + n - y.shape[2 + a], 0) for a, (b, n) in enumerate(crops)]
        if any(extra):
            spec_pad: list[int] = []
            for e in reversed(extra):  # F.pad lists the last axis first
                spec_pad += [0, e]
            y = F.pad(y, tuple(spec_pad))
        y = y[(slice(None), slice(None), *(slice(b, b + n) for b, n in crops))]
        if self.b is not None:
            y = y + self.b.reshape(-1, *([1] * spec.rank))
        return self.act(self._out(y))


@implements("DepthwiseConv2D")
class TorchDepthwiseConv2D(_TorchConvBase):
    """``F.conv2d(groups=C)``; weight (C·M, 1, kh, kw) =
    ``kernel.reshape(kh, kw, C·M).transpose(2, 0, 1)[:, None]``."""

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        if index != 0:
            return value
        kh, kw, c, m = value.shape
        return value.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        if index != 0:
            return value
        cm, _, kh, kw = value.shape
        c = int(self.spec.kernel.shape[2])
        return value[:, 0].transpose(1, 2, 0).reshape(kh, kw, c, cm // c)

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        xc = self._in(x)
        padding, spec_pad = _pad_args(self._pads(self._spatial(x)))
        if spec_pad is not None:
            xc = F.pad(xc, spec_pad)
        y = F.conv2d(
            xc,
            self.w0,
            self.b,
            spec.strides,
            padding,
            spec.dilation_rate,
            self._channels(x),
        )
        return self.act(self._out(y))


@implements("SeparableConv2D")
class TorchSeparableConv2D(_TorchConvBase):
    """Depthwise ``F.conv2d(groups=C)`` then a 1×1 ``F.conv2d``; pointwise weight
    (filters, C·M, 1, 1) = ``pointwise_kernel.transpose(3, 2, 0, 1)``."""

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        if index == 0:
            kh, kw, c, m = value.shape
            return value.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]
        if index == 1:
            return value.transpose(3, 2, 0, 1)
        return value

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        if index == 0:
            cm, _, kh, kw = value.shape
            c = int(self.spec.depthwise_kernel.shape[2])
            return value[:, 0].transpose(1, 2, 0).reshape(kh, kw, c, cm // c)
        if index == 1:
            return value.transpose(2, 3, 1, 0)
        return value

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        xc = self._in(x)
        padding, spec_pad = _pad_args(self._pads(self._spatial(x)))
        if spec_pad is not None:
            xc = F.pad(xc, spec_pad)
        u = F.conv2d(
            xc,
            self.w0,
            None,
            spec.strides,
            padding,
            spec.dilation_rate,
            self._channels(x),
        )
        y = F.conv2d(u, self.dl_vars[1], self.b)
        return self.act(self._out(y))
