"""Pooling layers: ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``,
``GlobalMaxPooling1D/2D/3D``, ``GlobalAveragePooling1D/2D/3D`` (Keras 3 names, arguments and
defaults; channels-last data by default, ``data_format="channels_first"`` accepted).

Window placement follows TensorFlow (shared/PARITY.md §2): ``"valid"`` uses only full
windows; ``"same"`` gives ``⌈in/s⌉`` outputs with TensorFlow's asymmetric padding (extra pixel
at the end). Max pooling ignores the padding (pads with −∞); average pooling divides by the
number of *valid* elements in each window, as TensorFlow does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ._conv import (
    Pads,
    _Formatted,
    axis_pads,
    check_data_format,
    check_fits,
    check_padding,
    int_tuple,
    out_length,
    pad_spatial,
    patches,
    unpatch,
)
from ._layer import REGISTRY, Layer


def _rank_error(layer: Layer, rank: int, input_shape: Any) -> ShapeError:
    axes = {3: "steps", 4: "height, width"}.get(rank, "depth, height, width")
    return ShapeError(
        f"Layer {layer.name!r} ({type(layer).__name__}) expects inputs of rank {rank}, shape "
        f"(batch, {axes}, channels). Received input shape {tuple(input_shape)}. "
        f"Fix: reshape the data ({getattr(layer, 'data_format', 'channels_last')})."
    )


class _Pool(_Formatted):
    """Shared config, shapes and numpy reference of the windowed pools (``rank`` axes)."""

    rank = 2
    mode = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        who = type(self).__name__
        self.pool_size = int_tuple(who, "pool_size", pool_size, self.rank)
        self.strides = (
            self.pool_size if strides is None else int_tuple(who, "strides", strides, self.rank)
        )
        self.padding = check_padding(who, padding, ("valid", "same"))
        self.data_format = check_data_format(who, data_format)

    def _check_input(self, input_shape: Any) -> None:
        if len(input_shape) != self.rank + 2:
            raise _rank_error(self, self.rank + 2, input_shape)
        check_fits(
            self.name,
            type(self).__name__,
            self.padding,
            input_shape,
            self.pool_size,
            (1,) * self.rank,
            what="pool_size",
        )

    def _build(self, input_shape: Any) -> None:
        self._check_input(input_shape)

    def _output_shape(self, input_shape: Any) -> Any:
        self._check_input(input_shape)
        spatial = [
            out_length(self.padding, n, k, s)
            for n, k, s in zip(input_shape[1:-1], self.pool_size, self.strides, strict=True)
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    # -- reference (any number of spatial axes)
    def _pads(self, x: np.ndarray) -> Pads:
        return tuple(
            axis_pads(self.padding, n, kk, ss)
            for n, kk, ss in zip(x.shape[1:-1], self.pool_size, self.strides, strict=True)
        )

    def _count(self, x: np.ndarray, pads: Pads) -> np.ndarray:
        """Number of valid (unpadded) elements in each window: (1, *out, 1)."""
        k, s, ones = self.pool_size, self.strides, np.ones((1, *x.shape[1:-1], 1), dtype=x.dtype)
        return patches(pad_spatial(ones, pads), k, s, (1,) * self.rank).sum(axis=self._kaxes)

    @property
    def _kaxes(self) -> tuple[int, ...]:
        return tuple(range(1 + self.rank, 1 + 2 * self.rank))

    def _z(self, weights, x):  # type: ignore[no-untyped-def]
        k, s, pads, one = self.pool_size, self.strides, self._pads(x), (1,) * self.rank
        if self.mode == "max":
            return patches(pad_spatial(x, pads, -np.inf), k, s, one).max(axis=self._kaxes)
        total = patches(pad_spatial(x, pads), k, s, one).sum(axis=self._kaxes)
        return total / self._count(x, pads)

    def _z_backward(self, weights, x, dy):  # type: ignore[no-untyped-def]
        k, s, pads, one = self.pool_size, self.strides, self._pads(x), (1,) * self.rank
        n, win = self.rank, int(np.prod(self.pool_size))
        if self.mode == "max":
            xp = pad_spatial(x, pads, -np.inf)
            p = patches(xp, k, s, one)  # (B, *out, *k, C)
            lead, c = p.shape[: 1 + n], p.shape[-1]
            flat = np.moveaxis(p, -1, 1 + n).reshape(*lead, c, win)
            onehot = np.zeros_like(flat)
            # the gradient goes to the first maximum of each window (TensorFlow and torch)
            np.put_along_axis(onehot, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
            dp = np.moveaxis((onehot * dy[..., None]).reshape(*lead, c, *k), 1 + n, -1)
        else:
            g = dy / self._count(x, pads)
            xp = pad_spatial(x, pads)
            dp = np.broadcast_to(np.expand_dims(g, self._kaxes), (*g.shape[:-1], *k, g.shape[-1]))
        dx = unpatch(np.ascontiguousarray(dp), xp.shape, pads, s, one)
        return dx, []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


@REGISTRY.register()
class MaxPooling1D(_Pool):
    """Max over windows of ``pool_size`` steps moved by ``strides`` (default ``pool_size``):
    ``y[b,t,c] = max_i xp[b, t·s + i, c]``, ``xp`` padded with −∞ for ``"same"``.
    Input (batch, steps, channels). Gradient to the first maximum of a window.
    Differs from PyTorch: ``nn.MaxPool1d`` takes (batch, channels, steps) and pads symmetrically.
    """

    rank = 1
    mode = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@REGISTRY.register()
class MaxPooling2D(_Pool):
    """Max over (kh, kw) windows: ``y[b,h,w,c] = max_{i,j} xp[b, h·s₀+i, w·s₁+j, c]``, ``xp``
    padded with −∞ per TensorFlow's SAME rule (extra pixel at the end) for ``"same"``.
    Default ``pool_size=(2, 2)``, ``strides=pool_size``.
    Differs from PyTorch: ``nn.MaxPool2d`` is NCHW, pads symmetrically, and ``ceil_mode`` is not
    SAME. Gradient ties: both send it to the first maximum of the window.
    """

    rank = 2
    mode = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = (2, 2),
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@REGISTRY.register()
class AveragePooling1D(_Pool):
    """Mean over windows of valid steps: ``y[b,t,c] = Σ_{i valid} x[b, t·s+i−p, c] / n(t)``
    where ``n(t)`` counts the window's elements inside the input (TensorFlow's SAME average).
    Differs from PyTorch: ``nn.AvgPool1d`` counts padding by default
    (``count_include_pad=True``) and pads symmetrically.
    """

    rank = 1
    mode = "avg"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@REGISTRY.register()
class AveragePooling2D(_Pool):
    """Mean over the valid elements of each (kh, kw) window:
    ``y[b,h,w,c] = Σ_{(i,j) valid} x[b, h·s₀+i−p₀, w·s₁+j−p₁, c] / n(h, w)``, with ``n`` the
    number of window elements inside the input (TensorFlow; the padding never counts).
    Differs from PyTorch: ``nn.AvgPool2d`` counts padding by default, and even with
    ``count_include_pad=False`` cannot express the asymmetric SAME padding (Keras 3's own torch
    backend gets the last row wrong; duallearn divides avg_pool(padded x) by avg_pool(padded 1)).
    """

    rank = 2
    mode = "avg"

    def __init__(
        self,
        pool_size: int | Sequence[int] = (2, 2),
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@REGISTRY.register()
class MaxPooling3D(_Pool):
    """Max over (kd, kh, kw) windows of (batch, depth, height, width, channels) data:
    ``y[b,d,h,w,c] = max_{i,j,l} x[b, d·s₀+i−p₀, h·s₁+j−p₁, w·s₂+l−p₂, c]`` (padding never
    wins, TensorFlow's SAME placement).
    Differs from PyTorch: ``nn.MaxPool3d`` is NCDHW and pads symmetrically.
    """

    rank = 3
    mode = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = (2, 2, 2),
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@REGISTRY.register()
class AveragePooling3D(_Pool):
    """Mean over the valid elements of each (kd, kh, kw) window (TensorFlow; the padding never
    counts), as :class:`AveragePooling2D` with a depth axis. ``pool_size`` is required, as in
    Keras.
    Differs from PyTorch: ``nn.AvgPool3d`` is NCDHW and counts padding by default.
    """

    rank = 3
    mode = "avg"

    def __init__(
        self,
        pool_size: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPool(Layer):
    rank = 2
    mode = "max"

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    @property
    def axes(self) -> tuple[int, ...]:
        """The reduced (spatial) axes."""
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    @property
    def channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != self.rank + 2:
            raise _rank_error(self, self.rank + 2, input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if len(input_shape) != self.rank + 2:
            raise _rank_error(self, self.rank + 2, input_shape)
        c = input_shape[self.channel_axis]
        if not self.keepdims:
            return (input_shape[0], c)
        if self.data_format == "channels_first":
            return (input_shape[0], c, *([1] * self.rank))
        return (input_shape[0], *([1] * self.rank), c)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def reference(self, weights, x, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        if self.mode == "max":
            return x.max(axis=self.axes, keepdims=self.keepdims)
        if mask is not None:
            m = np.expand_dims(np.asarray(mask, dtype=x.dtype), self.channel_axis)
            t = self.axes[0]
            return (x * m).sum(axis=t, keepdims=self.keepdims) / m.sum(
                axis=t, keepdims=self.keepdims
            )
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        yk = y if self.keepdims else np.expand_dims(y, self.axes)
        dyk = dy if self.keepdims else np.expand_dims(dy, self.axes)
        if self.mode == "max":
            hit = (x == yk).astype(x.dtype)
            # ties share the gradient equally (TensorFlow's reduce_max, torch's amax)
            return hit * dyk / hit.sum(axis=self.axes, keepdims=True), []
        if mask is not None:
            m = np.expand_dims(np.asarray(mask, dtype=x.dtype), self.channel_axis)
            return dyk * m / m.sum(axis=self.axes[0], keepdims=True), []
        n = np.prod([x.shape[a] for a in self.axes])
        return np.broadcast_to(dyk / n, x.shape).copy(), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@REGISTRY.register()
class GlobalMaxPooling1D(_GlobalPool):
    """``y[b,c] = max_t x[b,t,c]`` (``keepdims`` keeps the steps axis as 1).
    Differs from PyTorch: ``AdaptiveMaxPool1d(1)`` on (B, C, T); gradient ties are split
    equally here (TensorFlow's reduce_max, torch ``amax``), not sent to one index."""

    rank = 1
    mode = "max"


@REGISTRY.register()
class GlobalMaxPooling2D(_GlobalPool):
    """``y[b,c] = max_{h,w} x[b,h,w,c]`` (``keepdims`` keeps (1, 1)).
    Differs from PyTorch: ``AdaptiveMaxPool2d(1)`` on NCHW; ties split the gradient equally."""

    rank = 2
    mode = "max"


@REGISTRY.register()
class GlobalAveragePooling1D(_GlobalPool):
    """``y[b,c] = Σ_t m[b,t]·x[b,t,c] / Σ_t m[b,t]`` where ``m`` is the incoming Keras mask
    (all ones without one), as Keras. The output carries no mask.
    Differs from PyTorch: ``AdaptiveAvgPool1d(1)`` on (B, C, T), which knows no masks."""

    rank = 1
    mode = "avg"
    supports_masking = True


@REGISTRY.register()
class GlobalAveragePooling2D(_GlobalPool):
    """``y[b,c] = mean_{h,w} x[b,h,w,c]`` (``keepdims`` keeps (1, 1)).
    Differs from PyTorch: ``AdaptiveAvgPool2d(1)`` on NCHW."""

    rank = 2
    mode = "avg"


@REGISTRY.register()
class GlobalMaxPooling3D(_GlobalPool):
    """``y[b,c] = max_{d,h,w} x[b,d,h,w,c]`` (``keepdims`` keeps (1, 1, 1)); ties split the
    gradient equally. Differs from PyTorch: ``AdaptiveMaxPool3d(1)`` on NCDHW."""

    rank = 3
    mode = "max"


@REGISTRY.register()
class GlobalAveragePooling3D(_GlobalPool):
    """``y[b,c] = mean_{d,h,w} x[b,d,h,w,c]`` (``keepdims`` keeps (1, 1, 1)).
    Differs from PyTorch: ``AdaptiveAvgPool3d(1)`` on NCDHW."""

    rank = 3
    mode = "avg"
