"""Shape layers: ``Flatten``, ``Reshape``, ``Permute``, ``RepeatVector``,
``ZeroPadding1D/2D``, ``Cropping1D/2D``, ``UpSampling1D/2D`` (Keras 3 names and arguments;
data channels-last unless ``data_format="channels_first"`` is given)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer, positive_int


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _data_format(layer: str, data_format: str | None) -> str:
    fmt = data_format or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        raise ConfigError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first'. Received: "
            f"data_format={data_format!r}."
        )
    return fmt


def _rank_check(layer: Layer, input_shape: Any, rank: int, what: str) -> None:
    if len(input_shape) != rank:
        raise ShapeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) expects a rank-{rank} input "
            f"{what}. Received input shape {tuple(input_shape)}."
        )


def _pair(layer: str, name: str, value: object, allow_zero: bool = True) -> tuple[int, int]:
    """An int or a pair of non-negative ints (``allow_zero``) / positive ints."""
    lo = 0 if allow_zero else 1
    if _is_int(value) and int(value) >= lo:  # type: ignore[call-overload]
        return int(value), int(value)  # type: ignore[call-overload]
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(_is_int(v) and int(v) >= lo for v in value)
    ):
        return int(value[0]), int(value[1])
    kind = "non-negative" if allow_zero else "positive"
    raise ConfigError(
        f"{layer}: {name} must be a {kind} int or a tuple of 2 {kind} ints. "
        f"Received: {name}={value!r}."
    )


def _pair_of_pairs(layer: str, name: str, value: object) -> tuple[tuple[int, int], ...]:
    """Keras 2D padding/cropping: int, (sym_h, sym_w) or ((top, bottom), (left, right))."""
    if _is_int(value) and int(value) >= 0:  # type: ignore[call-overload]
        v = int(value)  # type: ignore[call-overload]
        return ((v, v), (v, v))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(_is_int(v) and int(v) >= 0 for v in value):
            return ((int(value[0]), int(value[0])), (int(value[1]), int(value[1])))
        try:
            return (_pair(layer, name, value[0]), _pair(layer, name, value[1]))
        except ConfigError:
            pass
    raise ConfigError(
        f"{layer}: {name} must be a non-negative int, a tuple of 2 ints (symmetric height, "
        f"width) or a tuple of 2 tuples ((top, bottom), (left, right)). "
        f"Received: {name}={value!r}."
    )


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


@REGISTRY.register()
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (batch axis excluded), in row-major
    (channels-last) order; one entry may be -1 (inferred). ``y = x.reshape(B, *target)``.

    Same as ``torch.reshape`` on channels-last data; on NCHW data PyTorch would reorder.
    """

    supports_masking = False

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (
            not isinstance(target_shape, (tuple, list))
            or not all(_is_int(d) and (d > 0 or d == -1) for d in target_shape)
            or sum(1 for d in target_shape if d == -1) > 1
        ):
            raise ConfigError(
                "Reshape: target_shape must be a tuple of positive ints with at most one -1, "
                f"batch axis excluded. Received: target_shape={target_shape!r}. "
                "Fix: e.g. Reshape((4, -1))."
            )
        self.target_shape = tuple(int(d) for d in target_shape)
        self.resolved_shape: tuple[int, ...] = self.target_shape

    def build(self, input_shape: Any) -> None:
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return
        n = math.prod(rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if n % known != 0:
                raise ShapeError(
                    f"Layer {self.name!r} (Reshape): cannot reshape input shape "
                    f"{tuple(input_shape)} ({n} values per sample) to {self.target_shape}: "
                    f"{n} is not a multiple of {known}. Fix: choose a compatible target_shape."
                )
            self.resolved_shape = tuple(n // known if d == -1 else d for d in self.target_shape)
        elif known != n:
            raise ShapeError(
                f"Layer {self.name!r} (Reshape): cannot reshape input shape "
                f"{tuple(input_shape)} ({n} values per sample) to {self.target_shape} "
                f"({known} values). Fix: the sizes must have the same product."
            )

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self.resolved_shape
        return (input_shape[0], *(None if d == -1 else d for d in shape))

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return x.reshape(x.shape[0], *self.target_shape)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy.reshape(x.shape), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@REGISTRY.register()
class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of 1..rank-1 (1-indexed, Keras),
    ``y = x.transpose(0, *dims)``. PyTorch's ``permute`` includes the batch axis, 0-indexed."""

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(dims, (tuple, list)) or sorted(
            int(d) if _is_int(d) else -1 for d in dims
        ) != list(range(1, len(dims) + 1)):
            raise ConfigError(
                "Permute: dims must be a permutation of 1..rank-1 (1-indexed, batch axis "
                f"excluded). Received: dims={dims!r}. Fix: e.g. Permute((2, 1))."
            )
        self.dims = tuple(int(d) for d in dims)

    def build(self, input_shape: Any) -> None:
        _rank_check(self, input_shape, len(self.dims) + 1, f"(dims={self.dims})")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return x.transpose(0, *self.dims)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy.transpose(np.argsort((0, *self.dims))), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


@REGISTRY.register()
class RepeatVector(Layer):
    """Repeats a (B, F) input ``n`` times: ``y[b, t, f] = x[b, f]``, shape (B, n, F).
    PyTorch: ``x.unsqueeze(1).expand(-1, n, -1)``."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = positive_int("RepeatVector", "n", n)

    def build(self, input_shape: Any) -> None:
        _rank_check(self, input_shape, 2, "(batch, features)")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.n, input_shape[1])

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return np.repeat(x[:, None, :], self.n, axis=1)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy.sum(axis=1), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class _Spatial(Layer):
    """Shared spatial-axes bookkeeping for 1D (B, T, C) and 2D (B, H, W, C) layers."""

    ndim = 1

    def _init_format(self, data_format: str | None) -> None:
        self.data_format = _data_format(type(self).__name__, data_format)

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        first = getattr(self, "data_format", "channels_last") == "channels_first"
        start = 2 if first else 1
        return tuple(range(start, start + self.ndim))

    def _check(self, input_shape: Any) -> None:
        what = "(batch, steps, channels)" if self.ndim == 1 else "(batch, height, width, channels)"
        if getattr(self, "data_format", "channels_last") == "channels_first":
            what = "(batch, channels, height, width)"
        _rank_check(self, input_shape, self.ndim + 2, what)


class _Padding(_Spatial):
    pads: tuple[tuple[int, int], ...] = ()

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = list(input_shape)
        for a, (lo, hi) in zip(self.spatial_axes, self.pads, strict=True):
            out[a] = None if out[a] is None else out[a] + lo + hi
        return tuple(out)

    def full_pads(self, rank: int) -> list[tuple[int, int]]:
        """``(before, after)`` for every axis of a rank-``rank`` input."""
        pads = [(0, 0)] * rank
        for a, p in zip(self.spatial_axes, self.pads, strict=True):
            pads[a] = p
        return pads

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return np.pad(x, self.full_pads(x.ndim))

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        idx = tuple(
            slice(lo, dy.shape[i] - hi) for i, (lo, hi) in enumerate(self.full_pads(x.ndim))
        )
        return dy[idx], []


@REGISTRY.register()
class ZeroPadding1D(_Padding):
    """Pads the time axis of (B, T, C) with zeros: ``padding`` int (both sides) or
    ``(left, right)``. PyTorch: ``F.pad(x, (0, 0, left, right))`` on channels-last data."""

    ndim = 1
    supports_masking = False

    def __init__(self, padding: int | Sequence[int] = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pads = (_pair("ZeroPadding1D", "padding", padding),)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": list(self.pads[0])}


@REGISTRY.register()
class ZeroPadding2D(_Padding):
    """Pads height and width with zeros: ``padding`` int, ``(sym_h, sym_w)`` or
    ``((top, bottom), (left, right))`` (Keras). PyTorch's ``ZeroPad2d`` orders the pads
    (left, right, top, bottom) and pads NCHW data."""

    ndim = 2

    def __init__(
        self,
        padding: Any = (1, 1),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pads = _pair_of_pairs("ZeroPadding2D", "padding", padding)
        self._init_format(data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "padding": [list(p) for p in self.pads],
            "data_format": self.data_format,
        }


class _Cropping(_Spatial):
    crops: tuple[tuple[int, int], ...] = ()

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        for a, (lo, hi) in zip(self.spatial_axes, self.crops, strict=True):
            d = input_shape[a]
            if d is not None and lo + hi >= d:
                raise ShapeError(
                    f"Layer {self.name!r} ({type(self).__name__}): cropping ({lo}, {hi}) on axis "
                    f"{a} leaves nothing of input shape {tuple(input_shape)}. Fix: crop less "
                    f"than {d} in total on that axis."
                )

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = list(input_shape)
        for a, (lo, hi) in zip(self.spatial_axes, self.crops, strict=True):
            out[a] = None if out[a] is None else out[a] - lo - hi
        return tuple(out)

    def slices(self, shape: Sequence[int]) -> tuple[slice, ...]:
        idx = [slice(None)] * len(shape)
        for a, (lo, hi) in zip(self.spatial_axes, self.crops, strict=True):
            idx[a] = slice(lo, shape[a] - hi)
        return tuple(idx)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return x[self.slices(x.shape)]

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        dx = np.zeros_like(x, dtype=dy.dtype)
        dx[self.slices(x.shape)] = dy
        return dx, []


@REGISTRY.register()
class Cropping1D(_Cropping):
    """Crops the time axis of (B, T, C): ``cropping`` int or ``(start, end)``;
    ``y = x[:, start : T - end]``. PyTorch has no layer (slice the tensor)."""

    ndim = 1

    def __init__(self, cropping: int | Sequence[int] = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crops = (_pair("Cropping1D", "cropping", cropping),)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": list(self.crops[0])}


@REGISTRY.register()
class Cropping2D(_Cropping):
    """Crops height and width: ``cropping`` int, ``(sym_h, sym_w)`` or
    ``((top, bottom), (left, right))``; ``y = x[:, top : H - bottom, left : W - right]``."""

    ndim = 2

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.crops = _pair_of_pairs("Cropping2D", "cropping", cropping)
        self._init_format(data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "cropping": [list(c) for c in self.crops],
            "data_format": self.data_format,
        }


class _UpSampling(_Spatial):
    sizes: tuple[int, ...] = ()

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = list(input_shape)
        for a, s in zip(self.spatial_axes, self.sizes, strict=True):
            out[a] = None if out[a] is None else out[a] * s
        return tuple(out)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        for a, s in zip(self.spatial_axes, self.sizes, strict=True):
            x = np.repeat(x, s, axis=a)
        return x

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        shape: list[int] = []
        sum_axes = []
        for i, d in enumerate(x.shape):
            if i in self.spatial_axes:
                s = self.sizes[self.spatial_axes.index(i)]
                shape += [d, s]
                sum_axes.append(len(shape) - 1)
            else:
                shape.append(d)
        return dy.reshape(shape).sum(axis=tuple(sum_axes)), []


@REGISTRY.register()
class UpSampling1D(_UpSampling):
    """Repeats each time step ``size`` times: ``y[:, t] = x[:, t // size]`` (nearest).
    PyTorch: ``repeat_interleave(size, dim=1)`` on (B, T, C)."""

    ndim = 1

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sizes = (positive_int("UpSampling1D", "size", size),)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.sizes[0]}


def bilinear_matrix(n_in: int, factor: int) -> np.ndarray:
    """(n_in·factor, n_in) matrix of 1-D linear interpolation with half-pixel centers
    (``tf.image.resize(..., "bilinear")`` / ``F.interpolate(align_corners=False)``):
    source coordinate ``max((i + 0.5)/factor − 0.5, 0)``, edges clamped."""
    n_out = n_in * factor
    a = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = max((i + 0.5) / factor - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0 if i0 < n_in - 1 else 0.0
        a[i, i0] += 1.0 - frac
        a[i, i1] += frac
    return a


@REGISTRY.register()
class UpSampling2D(_UpSampling):
    """Upsampling of height and width by integer factors ``size=(sh, sw)``.

    ``interpolation="nearest"`` (default): ``y[:, i, j] = x[:, i // sh, j // sw]``; equals
    PyTorch's ``nn.Upsample(mode="nearest")`` with an integer scale factor.
    ``interpolation="bilinear"``: separable linear interpolation with half-pixel centers,
    ``y = A_h · x · A_wᵀ`` per channel (:func:`bilinear_matrix`), as Keras
    (``ops.image.resize``) and PyTorch's ``F.interpolate(mode="bilinear",
    align_corners=False)``; PyTorch's ``align_corners=True`` differs.
    """

    ndim = 2
    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sizes = _pair("UpSampling2D", "size", size, allow_zero=False)
        self._init_format(data_format)
        if interpolation not in self.INTERPOLATIONS:
            raise ConfigError(
                f"UpSampling2D: interpolation={interpolation!r} is not supported; duallearn "
                f"implements {self.INTERPOLATIONS}. Fix: use interpolation='nearest' or "
                "'bilinear'."
            )
        self.interpolation = interpolation

    def matrices(self, shape: Sequence[int]) -> list[np.ndarray]:
        """The bilinear interpolation matrices of the two spatial axes for ``shape``."""
        return [
            bilinear_matrix(int(shape[a]), s)
            for a, s in zip(self.spatial_axes, self.sizes, strict=True)
        ]

    @staticmethod
    def _apply(x: np.ndarray, mats: Sequence[np.ndarray], axes: Sequence[int]) -> np.ndarray:
        for a, m in zip(axes, mats, strict=True):
            x = np.moveaxis(np.tensordot(m, x, axes=([1], [a])), 0, a)
        return x

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        if self.interpolation == "nearest":
            return super().reference(weights, x, training, noise)
        return self._apply(x, self.matrices(x.shape), self.spatial_axes)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        if self.interpolation == "nearest":
            return super().reference_backward(weights, x, y, dy, training, noise)
        mats = [m.T for m in self.matrices(x.shape)]
        return self._apply(dy, mats, self.spatial_axes), []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": list(self.sizes),
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }
