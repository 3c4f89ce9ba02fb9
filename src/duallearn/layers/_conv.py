"""Convolution layers: ``Conv1D``, ``Conv2D``, ``Conv3D``, ``Conv1DTranspose``,
``Conv2DTranspose``, ``Conv3DTranspose``, ``DepthwiseConv2D``, ``SeparableConv2D`` (Keras 3
names, arguments, defaults and weight layout; channels-last data by default,
``data_format="channels_first"`` accepted).

Padding follows TensorFlow exactly (shared/PARITY.md §2):

* ``"valid"``: no padding; ``out = ⌊(in − k_eff)/s⌋ + 1`` with ``k_eff = (k − 1)·d + 1``.
* ``"same"``: ``out = ⌈in/s⌉``; ``total = max((out − 1)·s + k_eff − in, 0)``,
  ``before = ⌊total/2⌋``, ``after = total − before`` (the extra pixel goes at the end, at any
  stride and kernel size). PyTorch's ``padding="same"`` refuses stride > 1 and its common
  ``(k − 1)//2`` is wrong for stride 2.
* ``"causal"`` (Conv1D only): left-pad ``k_eff − 1``.

The numpy references use explicit padding + patch extraction + einsum (the test oracle).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import activations
from .. import initializers as _init
from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer, positive_int
from ._weight_options import attach, constraint, options_config, regularizer

Pads = tuple[tuple[int, int], ...]


# ---- shared helpers (also used by pooling) ---------------------------------------------------
def int_tuple(layer: str, name: str, value: object, n: int) -> tuple[int, ...]:
    """``value`` as an n-tuple of positive ints (an int is repeated, as in Keras)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ConfigError(
                f"{layer}: {name} must be an int or a tuple of {n} ints. Received: "
                f"{name}={value!r}. Fix: e.g. {name}={(value[0],) * n if value else (1,) * n}."
            )
        return tuple(positive_int(layer, name, v) for v in value)
    return (positive_int(layer, name, value),) * n


def check_padding(layer: str, padding: object, allowed: Sequence[str]) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        raise ConfigError(
            f"{layer}: unknown padding {padding!r}. Expected one of: "
            f"{', '.join(repr(a) for a in allowed)}. Fix: pass one of these strings."
        )
    return str(p)


def check_data_format(layer: str, data_format: object) -> str:
    if data_format not in (None, "channels_last", "channels_first"):
        raise ConfigError(
            f"{layer}: unknown data_format {data_format!r}. Expected 'channels_last' (the "
            "default: (batch, ..., channels)) or 'channels_first' ((batch, channels, ...)). "
            "Fix: pass one of these strings or None."
        )
    return str(data_format or "channels_last")


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for one axis."""
    keff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + keff - size, 0)
    return total // 2, total - total // 2


def axis_pads(padding: str, size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    if padding == "same":
        return same_pads(size, k, s, d)
    if padding == "causal":
        return (k - 1) * d, 0
    return 0, 0


def out_length(padding: str, size: int | None, k: int, s: int, d: int = 1) -> int | None:
    if size is None:
        return None
    b, a = axis_pads(padding, size, k, s, d)
    return (size + b + a - ((k - 1) * d + 1)) // s + 1


def _patch_slices(
    out: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]
) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """Per kernel offset (any number of spatial axes): the strided slice of the padded input
    each output position reads at that offset."""
    return [
        (
            idx,
            tuple(
                slice(i * dd, i * dd + (o - 1) * ss + 1, ss)
                for i, o, ss, dd in zip(idx, out, s, d, strict=True)
            ),
        )
        for idx in itertools.product(*(range(kk) for kk in k))
    ]


def pad_spatial(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes of a channels-last array by per-axis (before, after)."""
    return np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def patches(
    xp: np.ndarray, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]
) -> np.ndarray:
    """Patches of an already padded channels-last array with ``n = len(k)`` spatial axes:
    (B, *out, *k, C)."""
    n = len(k)
    out = tuple((xp.shape[1 + a] - ((k[a] - 1) * d[a] + 1)) // s[a] + 1 for a in range(n))
    res = np.empty((xp.shape[0], *out, *k, xp.shape[-1]), dtype=xp.dtype)
    every: tuple[Any, ...] = (slice(None),) * (n + 1)
    for idx, sl in _patch_slices(out, k, s, d):
        res[(*every, *idx)] = xp[(slice(None), *sl)]
    return res


def unpatch(
    dp: np.ndarray,
    padded_shape: tuple[int, ...],
    pads: Pads,
    s: tuple[int, ...],
    d: tuple[int, ...],
) -> np.ndarray:
    """Adjoint of :func:`patches` followed by padding: scatter-add, then crop the padding."""
    n = len(pads)
    dxp = np.zeros(padded_shape, dtype=dp.dtype)
    out, k = dp.shape[1 : 1 + n], dp.shape[1 + n : 1 + 2 * n]
    every: tuple[Any, ...] = (slice(None),) * (n + 1)
    for idx, sl in _patch_slices(out, k, s, d):
        dxp[(slice(None), *sl)] += dp[(*every, *idx)]
    crop = tuple(slice(b, dxp.shape[1 + a] - e) for a, (b, e) in enumerate(pads))
    return dxp[(slice(None), *crop)]


def _letters(n: int) -> tuple[str, str]:
    """einsum letters of ``n`` output axes and ``n`` kernel axes."""
    return "opq"[:n], "ijk"[:n]


def conv_forward(
    x: np.ndarray, w: np.ndarray, s: tuple[int, ...], d: tuple[int, ...], pads: Pads, groups: int
) -> np.ndarray:
    """Cross-correlation over ``n = w.ndim − 2`` spatial axes (2D shown):
    ``y[b,o,p,f] = Σ_{i,j,c} xp[b, o·s+i·d, p·s+j·d, g·cg+c]·w[i,j,c,f]``
    with ``g = f // (F/groups)``; x channels-last, w (*k, C/groups, F)."""
    *k, cg, f = w.shape
    o, i = _letters(len(k))
    p = patches(pad_spatial(x, pads), tuple(k), s, d)
    lead = p.shape[: 1 + len(k)]
    p = p.reshape(*lead, *k, groups, cg)
    wg = w.reshape(*k, cg, groups, f // groups)
    y = np.einsum(f"b{o}{i}gc,{i}cgf->b{o}gf", p, wg, optimize=True)
    return y.reshape(*lead, f)


def conv_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    s: tuple[int, ...],
    d: tuple[int, ...],
    pads: Pads,
    groups: int,
) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`conv_forward`: ``(dx, dw)``."""
    *k, cg, f = w.shape
    o, i = _letters(len(k))
    xp = pad_spatial(x, pads)
    p = patches(xp, tuple(k), s, d)
    lead = p.shape[: 1 + len(k)]
    p = p.reshape(*lead, *k, groups, cg)
    dyg = dy.reshape(*lead, groups, f // groups)
    wg = w.reshape(*k, cg, groups, f // groups)
    dw = np.einsum(f"b{o}{i}gc,b{o}gf->{i}cgf", p, dyg, optimize=True).reshape(w.shape)
    dp = np.einsum(f"b{o}gf,{i}cgf->b{o}{i}gc", dyg, wg, optimize=True)
    dx = unpatch(dp.reshape(*lead, *k, groups * cg), xp.shape, pads, s, d)
    return dx, dw


def _add_bias(layer: Any, shape: tuple[int, ...]) -> None:
    """A convolution's ``bias`` weight (when ``use_bias``) with its regularizer and
    constraint."""
    if layer.use_bias:
        layer.bias = attach(
            layer.add_weight("bias", shape, layer.bias_initializer),
            layer.bias_regularizer,
            layer.bias_constraint,
        )


# ---- layers ----------------------------------------------------------------------------------
class _Formatted(Layer):
    """``data_format`` support shared by convolutions and pools: inside, every shape and array is
    seen channels-last (``_build``, ``_output_shape``, ``_z``, ``_z_backward`` work on that
    view); ``"channels_first"`` inputs are moved to it and results moved back. The activation
    applies to the output in the layer's own format (as Keras)."""

    data_format = "channels_last"
    activation = "linear"

    @property
    def _first(self) -> bool:
        return self.data_format == "channels_first"

    def _last_shape(self, shape: Any) -> tuple[Any, ...]:
        shape = tuple(shape)
        if self._first and len(shape) >= 3:
            return (shape[0], *shape[2:], shape[1])
        return shape

    def _format_shape(self, shape: Any) -> tuple[Any, ...]:
        shape = tuple(shape)
        if self._first and len(shape) >= 3:
            return (shape[0], shape[-1], *shape[1:-1])
        return shape

    def _to_last(self, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, 1, -1) if self._first else x

    def _to_format(self, y: np.ndarray) -> np.ndarray:
        return np.moveaxis(y, -1, 1) if self._first else y

    def _built_channels(self) -> int | None:
        if not self.built or self.input_shape is None:
            return None
        return self._last_shape(self.input_shape)[-1]  # type: ignore[no-any-return]

    def _build(self, shape: Any) -> None:
        """Create weights for a channels-last view of the input shape."""

    def _output_shape(self, shape: Any) -> Any:
        return shape

    def build(self, input_shape: Any) -> None:
        self._build(self._last_shape(input_shape))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self._format_shape(self._output_shape(self._last_shape(input_shape)))

    def _z(self, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        """Pre-activation output of a channels-last input (channels-last)."""
        raise NotImplementedError

    def _z_backward(
        self, weights: Sequence[np.ndarray], x: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """VJP of :meth:`_z` (channels-last): ``(dx, trainable weight grads)``."""
        raise NotImplementedError

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        z = self._to_format(self._z(weights, self._to_last(x)))
        return activations.reference(self.activation, z)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        xl = self._to_last(x)
        z = self._to_format(self._z(weights, xl))
        dz = activations.reference_grad(self.activation, z, y, dy)
        dx, grads = self._z_backward(weights, xl, self._to_last(dz))
        return self._to_format(dx), grads


class _BaseConv(_Formatted):
    """Shared config, validation and reference for Conv1D/Conv2D (``rank`` spatial axes)."""

    rank = 2
    paddings: tuple[str, ...] = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        kernel_regularizer: object = None,
        bias_regularizer: object = None,
        kernel_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.kernel_constraint = constraint(self, "kernel_constraint", kernel_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        who = type(self).__name__
        self.filters = positive_int(who, "filters", filters)
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, self.rank)
        self.strides = int_tuple(who, "strides", strides, self.rank)
        self.padding = check_padding(who, padding, self.paddings)
        self.data_format = check_data_format(who, data_format)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, self.rank)
        self.groups = positive_int(who, "groups", groups)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        check_stride_dilation(who, self.strides, self.dilation_rate)
        if self.filters % self.groups:
            raise ConfigError(
                f"{who}: filters ({self.filters}) must be divisible by groups ({self.groups}). "
                "Fix: change filters or groups."
            )

    # -- shapes
    def _check_input(self, input_shape: Any) -> None:
        who = type(self).__name__
        rank = self.rank + 2
        if len(input_shape) != rank:
            raise ShapeError(
                f"Layer {self.name!r} ({who}) expects inputs of rank {rank}, shape "
                f"(batch, {', '.join(['size'] * self.rank)}, channels). Received input shape "
                f"{tuple(input_shape)}. Fix: reshape the data ({self.data_format})."
            )
        c = input_shape[-1]
        if c is None:
            raise ShapeError(
                f"Layer {self.name!r} ({who}) needs a known channel dimension. Received input "
                f"shape {tuple(input_shape)}. Fix: give Input a full shape."
            )
        if self._built_channels() not in (None, c):
            raise ShapeError(
                f"Layer {self.name!r} ({who}) was built for {self._built_channels()} input "
                f"channels (input shape {self.input_shape}). Received input shape "
                f"{tuple(input_shape)}. Fix: use a new layer for inputs of another width."
            )
        check_fits(self.name, who, self.padding, input_shape, self.kernel_size, self.dilation_rate)

    def _build(self, input_shape: Any) -> None:
        self._check_input(input_shape)
        c = int(input_shape[-1])
        if c % self.groups:
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) with groups={self.groups} needs "
                f"input channels divisible by {self.groups}. Received input shape "
                f"{tuple(input_shape)}. Fix: change groups or the input channels."
            )
        self.kernel = attach(
            self.add_weight(
                "kernel",
                (*self.kernel_size, c // self.groups, self.filters),
                self.kernel_initializer,
            ),
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        _add_bias(self, (self.filters,))

    def _output_shape(self, input_shape: Any) -> Any:
        self._check_input(input_shape)
        spatial = [
            out_length(self.padding, n, k, s, d)
            for n, k, s, d in zip(
                input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        ]
        return (input_shape[0], *spatial, self.filters)

    # -- reference
    def _pads(self, x: np.ndarray) -> Pads:
        return tuple(
            axis_pads(self.padding, n, k, s, d)
            for n, k, s, d in zip(
                x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        )

    def _z(self, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        pads = self._pads(x)
        z = conv_forward(x, weights[0], self.strides, self.dilation_rate, pads, self.groups)
        return z + weights[1] if self.use_bias else z

    def _z_backward(self, weights, x, dz):  # type: ignore[no-untyped-def]
        s, d, pads = self.strides, self.dilation_rate, self._pads(x)
        dx, dw = conv_backward(x, weights[0], dz, s, d, pads, self.groups)
        grads = [dw]
        if self.use_bias:
            grads.append(dz.reshape(-1, self.filters).sum(axis=0))
        return dx, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init.serialize(self.kernel_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            **options_config(self, "kernel", "bias"),
        }


def check_stride_dilation(who: str, strides: Sequence[int], dilation: Sequence[int]) -> None:
    if any(s > 1 for s in strides) and any(d > 1 for d in dilation):
        raise ConfigError(
            f"{who}: strides > 1 together with dilation_rate > 1 is not supported (as in "
            f"Keras). Received: strides={tuple(strides)}, dilation_rate={tuple(dilation)}. "
            "Fix: use strides=1 or dilation_rate=1."
        )


def check_fits(
    name: str,
    who: str,
    padding: str,
    input_shape: Any,
    kernel: Sequence[int],
    dilation: Sequence[int],
    what: str = "kernel",
) -> None:
    """With ``padding="valid"`` the (dilated) window must fit in the input."""
    if padding != "valid":
        return
    for n, k, d in zip(input_shape[1:-1], kernel, dilation, strict=True):
        keff = (k - 1) * d + 1
        if n is not None and n < keff:
            raise ShapeError(
                f"Layer {name!r} ({who}): the {what} (effective size {tuple(kernel)} with "
                f"dilation {tuple(dilation)}) is larger than the valid-padded input. Received "
                f"input shape {tuple(input_shape)}. Fix: use padding='same', a smaller "
                f"{what}, or a larger input."
            )


@REGISTRY.register()
class Conv1D(_BaseConv):
    """1D convolution over (batch, steps, channels):
    ``y[b,t,f] = act(Σ_{i,c} xp[b, t·s + i·d, g·C/G + c] · kernel[i,c,f] + bias[f])``
    (cross-correlation, ``g`` the group of filter ``f``), padding ``"valid"``, ``"same"``
    (TensorFlow's asymmetric rule) or ``"causal"`` (left pad ``(k−1)·d``).

    Weights (Keras): ``kernel`` (k, C/groups, filters), ``bias`` (filters,).
    Differs from PyTorch: ``nn.Conv1d`` takes (batch, channels, steps), stores the kernel as
    (filters, C/groups, k) (= ``kernel.transpose(2, 1, 0)``), has no ``"causal"`` padding, refuses
    ``padding="same"`` with stride > 1 and initializes with kaiming_uniform(a=√5); ours is
    glorot_uniform with zero bias (pass ``kernel_initializer``/``bias_initializer``).
    """

    rank = 1
    paddings = ("valid", "same", "causal")


@REGISTRY.register()
class Conv2D(_BaseConv):
    """2D convolution over NHWC images:
    ``y[b,h,w,f] = act(Σ_{i,j,c} xp[b, h·s₀+i·d₀, w·s₁+j·d₁, g·C/G+c]·kernel[i,j,c,f] + bias[f])``
    where ``xp`` is ``x`` padded per ``padding`` (TensorFlow's SAME: extra pixel at the end).

    Weights (Keras): ``kernel`` (kh, kw, C/groups, filters), ``bias`` (filters,).
    Differs from PyTorch: ``nn.Conv2d`` is NCHW with an OIHW weight
    (= ``kernel.transpose(3, 2, 0, 1)``), pads symmetrically (``padding=(k−1)//2`` is not SAME
    at stride 2 or with even kernels), and initializes with kaiming_uniform(a=√5).
    """

    rank = 2


@REGISTRY.register()
class Conv3D(_BaseConv):
    """3D convolution over (batch, depth, height, width, channels):
    ``y[b,d,h,w,f] = act(Σ_{i,j,l,c} xp[b, d·s₀+i·d₀, h·s₁+j·d₁, w·s₂+l·d₂, g·C/G+c] ·
    kernel[i,j,l,c,f] + bias[f])``, padding as Conv2D (TensorFlow's SAME).

    Weights (Keras): ``kernel`` (kd, kh, kw, C/groups, filters), ``bias`` (filters,).
    Differs from PyTorch: ``nn.Conv3d`` is NCDHW with weight (filters, C/groups, kd, kh, kw)
    (= ``kernel.transpose(4, 3, 0, 1, 2)``) and pads symmetrically.
    """

    rank = 3


class _BaseConvTranspose(_Formatted):
    """Shared config, shapes and reference of the transposed convolutions (``rank`` spatial
    axes); see :class:`Conv2DTranspose` for the formula."""

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        kernel_regularizer: object = None,
        bias_regularizer: object = None,
        kernel_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.kernel_constraint = constraint(self, "kernel_constraint", kernel_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        who = type(self).__name__
        self.filters = positive_int(who, "filters", filters)
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, self.rank)
        self.strides = int_tuple(who, "strides", strides, self.rank)
        self.padding = check_padding(who, padding, ("valid", "same"))
        self.output_padding: tuple[int, ...] | None = None
        if output_padding is not None:
            ops = (
                output_padding
                if isinstance(output_padding, (list, tuple))
                else [output_padding] * self.rank
            )
            if len(ops) != self.rank or any(
                isinstance(o, bool) or not isinstance(o, (int, np.integer)) or not 0 <= o < s
                for o, s in zip(ops, self.strides, strict=False)
            ):
                raise ConfigError(
                    f"{who}: output_padding must be None or non-negative ints (one per axis), "
                    f"each smaller than its stride. Received: output_padding={output_padding!r} "
                    f"with strides={self.strides}. Fix: e.g. output_padding=None."
                )
            self.output_padding = tuple(int(o) for o in ops)
        self.data_format = check_data_format(who, data_format)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, self.rank)
        check_stride_dilation(who, self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)

    def _check_input(self, input_shape: Any) -> None:
        who = type(self).__name__
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            raise ShapeError(
                f"Layer {self.name!r} ({who}) expects inputs of rank {self.rank + 2}, shape "
                f"(batch, {', '.join(['size'] * self.rank)}, channels) with known channels. "
                f"Received input shape {tuple(input_shape)}. Fix: reshape the data "
                f"({self.data_format})."
            )
        if self._built_channels() not in (None, input_shape[-1]):
            raise ShapeError(
                f"Layer {self.name!r} ({who}) was built for input shape "
                f"{self.input_shape}. Received input shape {tuple(input_shape)}. "
                "Fix: use a new layer for inputs of another width."
            )

    def _build(self, input_shape: Any) -> None:
        self._check_input(input_shape)
        self.kernel = attach(
            self.add_weight(
                "kernel",
                (*self.kernel_size, self.filters, int(input_shape[-1])),
                self.kernel_initializer,
            ),
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        _add_bias(self, (self.filters,))

    def output_length(self, n: int, axis: int) -> int:
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        keff = (k - 1) * d + 1
        if self.output_padding is not None:
            o = self.output_padding[axis]
            return (n - 1) * s + (keff % 2 if self.padding == "same" else keff) + o
        return n * s if self.padding == "same" else n * s + max(keff - s, 0)

    def _check_lengths(self, input_shape: Any) -> None:
        """The output length must be one a forward conv maps back to the input length."""
        for a, n in enumerate(input_shape[1:-1]):
            if n is None:
                continue
            big = self.output_length(n, a)
            k, s, d = self.kernel_size[a], self.strides[a], self.dilation_rate[a]
            if out_length(self.padding, big, k, s, d) != n:
                raise ShapeError(
                    f"Layer {self.name!r} ({type(self).__name__}): output_padding="
                    f"{self.output_padding} gives output length {big} on axis {a + 1}, which a "
                    f"{self.padding!r} convolution does not map back to the input length {n} "
                    f"(input shape {tuple(input_shape)}). Fix: change output_padding (or "
                    "leave it None)."
                )

    def _output_shape(self, input_shape: Any) -> Any:
        self._check_input(input_shape)
        self._check_lengths(input_shape)
        hw = [
            None if n is None else self.output_length(n, a) for a, n in enumerate(input_shape[1:-1])
        ]
        return (input_shape[0], *hw, self.filters)

    def crops(self, in_hw: Sequence[int]) -> tuple[tuple[int, ...], ...]:
        """Per axis ``(before, output length)``: the output is ``full[before : before + len]``
        of the unpadded transposed convolution (zero-extended at the end if shorter)."""
        out = []
        for a, n in enumerate(in_hw):
            k, s, d = self.kernel_size[a], self.strides[a], self.dilation_rate[a]
            length = self.output_length(n, a)
            before = same_pads(length, k, s, d)[0] if self.padding == "same" else 0
            out.append((before, length))
        return tuple(out)

    def _pads(self, x: np.ndarray) -> Pads:
        pads = []
        for a, n in enumerate(x.shape[1:-1]):
            k, s, d = self.kernel_size[a], self.strides[a], self.dilation_rate[a]
            pads.append(axis_pads(self.padding, self.output_length(n, a), k, s, d))
        return tuple(pads)

    def _out_shape(self, x: np.ndarray) -> tuple[int, ...]:
        spatial = (self.output_length(n, a) for a, n in enumerate(x.shape[1:-1]))
        return (x.shape[0], *spatial, self.filters)

    def _z(self, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        # The transposed conv is the input-VJP of a forward conv with kernel (kh, kw, filters, C).
        zeros = np.zeros(self._out_shape(x), dtype=x.dtype)
        z, _ = conv_backward(
            zeros, weights[0], x, self.strides, self.dilation_rate, self._pads(x), 1
        )
        if self.use_bias:
            z = z + weights[1]
        return z

    def _z_backward(self, weights, x, dz):  # type: ignore[no-untyped-def]
        s, d, pads = self.strides, self.dilation_rate, self._pads(x)
        dx = conv_forward(dz, weights[0], s, d, pads, 1)
        # kernel gradient: the forward conv's weight gradient with input dz and output grad x
        _, dw = conv_backward(dz, weights[0], x, s, d, pads, 1)
        grads = [dw]
        if self.use_bias:
            grads.append(dz.reshape(-1, self.filters).sum(axis=0))
        return dx, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init.serialize(self.kernel_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            **options_config(self, "kernel", "bias"),
        }


@REGISTRY.register()
class Conv1DTranspose(_BaseConvTranspose):
    """Transposed 1D convolution over (batch, steps, channels) (the gradient of Conv1D with
    respect to its input): ``y[b, t·s+i·d−p, f] += x[b,t,c] · kernel[i,f,c]``, then ``+ bias``
    and the activation. Output length as :class:`Conv2DTranspose`, per axis.

    Weights (Keras): ``kernel`` (k, filters, C), ``bias`` (filters,).
    Differs from PyTorch: ``nn.ConvTranspose1d`` takes (batch, channels, steps), stores
    (C, filters, k) (= ``kernel.transpose(2, 1, 0)``) and pads symmetrically.
    """

    rank = 1


@REGISTRY.register()
class Conv2DTranspose(_BaseConvTranspose):
    """Transposed 2D convolution (the gradient of Conv2D with respect to its input):
    ``y[b, h·s₀+i·d₀−p₀, w·s₁+j·d₁−p₁, f] += x[b,h,w,c] · kernel[i,j,f,c]``, then ``+ bias``
    and the activation. Output length ``N`` per axis (Keras): ``"same"`` → ``in·s``;
    ``"valid"`` → ``in·s + max(k_eff − s, 0)``; with ``output_padding=o`` (each ``o < s``):
    ``"valid"`` → ``(in−1)·s + k_eff + o``, ``"same"`` → ``(in−1)·s + k_eff mod 2 + o``.
    ``p`` is TensorFlow's SAME ``before`` pad of a forward conv over ``N`` (0 for ``"valid"``);
    positions past the full result are zeros (plus bias).

    Weights (Keras): ``kernel`` (kh, kw, filters, C), ``bias`` (filters,).
    Differs from PyTorch: ``nn.ConvTranspose2d`` stores (C, filters, kh, kw)
    (= ``kernel.transpose(3, 2, 0, 1)``) and pads symmetrically; its
    ``padding=1, output_padding=1`` is not SAME for k=3, s=2.
    """

    rank = 2


@REGISTRY.register()
class Conv3DTranspose(_BaseConvTranspose):
    """Transposed 3D convolution (the gradient of Conv3D with respect to its input), as
    :class:`Conv2DTranspose` with a depth axis. Note Keras's argument order: ``data_format``
    comes before ``output_padding`` here (not in the 1D and 2D layers).

    Weights (Keras): ``kernel`` (kd, kh, kw, filters, C), ``bias`` (filters,).
    Differs from PyTorch: ``nn.ConvTranspose3d`` stores (C, filters, kd, kh, kw)
    (= ``kernel.transpose(4, 3, 0, 1, 2)``) and pads symmetrically.
    """

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        output_padding: Any = None,
        dilation_rate: int | Sequence[int] = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            **kwargs,
        )


class _Depthwise(_Formatted):
    """Shared config and depthwise step of DepthwiseConv2D and SeparableConv2D."""

    def _init_depthwise(
        self,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        data_format: Any,
        dilation_rate: Any,
        depth_multiplier: Any,
        activation: Any,
        use_bias: Any,
    ) -> None:
        who = type(self).__name__
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, 2)
        self.strides = int_tuple(who, "strides", strides, 2)
        self.padding = check_padding(who, padding, ("valid", "same"))
        self.data_format = check_data_format(who, data_format)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, 2)
        self.depth_multiplier = positive_int(who, "depth_multiplier", depth_multiplier)
        check_stride_dilation(who, self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def _check_input(self, input_shape: Any) -> None:
        who = type(self).__name__
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ShapeError(
                f"Layer {self.name!r} ({who}) expects inputs of rank 4, shape (batch, height, "
                f"width, channels) with known channels. Received input shape "
                f"{tuple(input_shape)}. Fix: reshape the data ({self.data_format})."
            )
        if self._built_channels() not in (None, input_shape[-1]):
            raise ShapeError(
                f"Layer {self.name!r} ({who}) was built for input shape "
                f"{self.input_shape}. Received input shape {tuple(input_shape)}. "
                "Fix: use a new layer for inputs of another width."
            )
        check_fits(self.name, who, self.padding, input_shape, self.kernel_size, self.dilation_rate)

    def _spatial_out(self, input_shape: Any) -> list[int | None]:
        return [
            out_length(self.padding, n, k, s, d)
            for n, k, s, d in zip(
                input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        ]

    def _pads(self, x: np.ndarray) -> Pads:
        return tuple(  # type: ignore[return-value]
            axis_pads(self.padding, n, k, s, d)
            for n, k, s, d in zip(
                x.shape[1:3], self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        )

    def _dw_as_grouped(self, dk: np.ndarray) -> np.ndarray:
        kh, kw, c, m = dk.shape
        return dk.reshape(kh, kw, 1, c * m)

    def _depthwise(self, dk: np.ndarray, x: np.ndarray) -> np.ndarray:
        return conv_forward(
            x,
            self._dw_as_grouped(dk),
            self.strides,
            self.dilation_rate,
            self._pads(x),
            x.shape[-1],  # type: ignore[arg-type]
        )

    def _depthwise_backward(
        self, dk: np.ndarray, x: np.ndarray, dy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        dx, dwk = conv_backward(
            x,
            self._dw_as_grouped(dk),
            dy,
            self.strides,
            self.dilation_rate,
            self._pads(x),
            x.shape[-1],  # type: ignore[arg-type]
        )
        return dx, dwk.reshape(dk.shape)


@REGISTRY.register()
class DepthwiseConv2D(_Depthwise):
    """Depthwise 2D convolution: each input channel ``c`` is convolved with its own
    ``depth_multiplier`` filters, ``y[b,h,w,c·M+m] = act(Σ_{i,j} xp[b, h·s₀+i·d₀, w·s₁+j·d₁, c] ·
    kernel[i,j,c,m] + bias[c·M+m])``; padding as Conv2D (TensorFlow's SAME).

    Weights (Keras): ``kernel`` (kh, kw, C, M), ``bias`` (C·M,).
    Differs from PyTorch: there it is ``nn.Conv2d(C, C·M, groups=C)`` with weight
    (C·M, 1, kh, kw) = ``kernel.reshape(kh, kw, C·M).transpose(2, 0, 1)[:, None]``.
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        depthwise_regularizer: object = None,
        bias_regularizer: object = None,
        depthwise_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.depthwise_regularizer = regularizer(
            self, "depthwise_regularizer", depthwise_regularizer
        )
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.depthwise_constraint = constraint(self, "depthwise_constraint", depthwise_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        self._init_depthwise(
            kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
            activation, use_bias,
        )  # fmt: skip
        self.depthwise_initializer = _init.get(depthwise_initializer)
        self.bias_initializer = _init.get(bias_initializer)

    def _build(self, input_shape: Any) -> None:
        self._check_input(input_shape)
        c = int(input_shape[-1])
        self.kernel = attach(
            self.add_weight(
                "kernel", (*self.kernel_size, c, self.depth_multiplier), self.depthwise_initializer
            ),
            self.depthwise_regularizer,
            self.depthwise_constraint,
        )
        _add_bias(self, (c * self.depth_multiplier,))

    def _output_shape(self, input_shape: Any) -> Any:
        self._check_input(input_shape)
        c = input_shape[-1] * self.depth_multiplier
        return (input_shape[0], *self._spatial_out(input_shape), c)

    def _z(self, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        z = self._depthwise(weights[0], x)
        return z + weights[1] if self.use_bias else z

    def _z_backward(self, weights, x, dz):  # type: ignore[no-untyped-def]
        dx, dk = self._depthwise_backward(weights[0], x, dz)
        grads = [dk]
        if self.use_bias:
            grads.append(dz.reshape(-1, dz.shape[-1]).sum(axis=0))
        return dx, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "depthwise_initializer": _init.serialize(self.depthwise_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            **options_config(self, "depthwise", "bias"),
        }


@REGISTRY.register()
class SeparableConv2D(_Depthwise):
    """Depthwise then pointwise convolution:
    ``u = depthwise(x)`` (as DepthwiseConv2D, without bias), then
    ``y[b,h,w,f] = act(Σ_k u[b,h,w,k] · pointwise_kernel[0,0,k,f] + bias[f])``.
    Strides, dilation and padding apply to the depthwise step.

    Weights (Keras): ``depthwise_kernel`` (kh, kw, C, M), ``pointwise_kernel``
    (1, 1, C·M, filters), ``bias`` (filters,).
    Differs from PyTorch: no single module; it is ``Conv2d(C, C·M, groups=C, bias=False)``
    followed by a 1×1 ``Conv2d(C·M, filters)`` (weights mapped as for those layers).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        depth_multiplier: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: object = "glorot_uniform",
        pointwise_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        depthwise_regularizer: object = None,
        pointwise_regularizer: object = None,
        bias_regularizer: object = None,
        depthwise_constraint: object = None,
        pointwise_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.depthwise_regularizer = regularizer(
            self, "depthwise_regularizer", depthwise_regularizer
        )
        self.pointwise_regularizer = regularizer(
            self, "pointwise_regularizer", pointwise_regularizer
        )
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.depthwise_constraint = constraint(self, "depthwise_constraint", depthwise_constraint)
        self.pointwise_constraint = constraint(self, "pointwise_constraint", pointwise_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        self.filters = positive_int("SeparableConv2D", "filters", filters)
        self._init_depthwise(
            kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
            activation, use_bias,
        )  # fmt: skip
        self.depthwise_initializer = _init.get(depthwise_initializer)
        self.pointwise_initializer = _init.get(pointwise_initializer)
        self.bias_initializer = _init.get(bias_initializer)

    def _build(self, input_shape: Any) -> None:
        self._check_input(input_shape)
        c = int(input_shape[-1])
        m = self.depth_multiplier
        self.depthwise_kernel = attach(
            self.add_weight(
                "depthwise_kernel", (*self.kernel_size, c, m), self.depthwise_initializer
            ),
            self.depthwise_regularizer,
            self.depthwise_constraint,
        )
        self.pointwise_kernel = attach(
            self.add_weight(
                "pointwise_kernel", (1, 1, c * m, self.filters), self.pointwise_initializer
            ),
            self.pointwise_regularizer,
            self.pointwise_constraint,
        )
        _add_bias(self, (self.filters,))

    def _output_shape(self, input_shape: Any) -> Any:
        self._check_input(input_shape)
        return (input_shape[0], *self._spatial_out(input_shape), self.filters)

    def _z(self, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        z = self._depthwise(weights[0], x) @ weights[1][0, 0]
        return z + weights[2] if self.use_bias else z

    def _z_backward(self, weights, x, dz):  # type: ignore[no-untyped-def]
        u = self._depthwise(weights[0], x)
        pk = weights[1][0, 0]
        dpk = (u.reshape(-1, u.shape[-1]).T @ dz.reshape(-1, dz.shape[-1]))[None, None]
        du = dz @ pk.T
        dx, ddk = self._depthwise_backward(weights[0], x, du)
        grads = [ddk, dpk]
        if self.use_bias:
            grads.append(dz.reshape(-1, self.filters).sum(axis=0))
        return dx, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "depth_multiplier": self.depth_multiplier,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "depthwise_initializer": _init.serialize(self.depthwise_initializer),
            "pointwise_initializer": _init.serialize(self.pointwise_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            **options_config(self, "depthwise", "pointwise", "bias"),
        }
