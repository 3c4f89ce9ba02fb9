"""Convolutions on TensorFlow (NHWC, TensorFlow's own SAME padding)."""

from __future__ import annotations

import functools
import os
from typing import Any

import tensorflow as tf

from duallearn.plugin import axis_pads

from . import _activations
from ._layers import TFLayer, implements


def _native_groups(dtype: tf.DType) -> bool:
    """Whether TensorFlow can run (and differentiate) a grouped convolution natively: on GPUs,
    and on CPU through oneDNN for float32/bfloat16. CPU float64 grouped gradients are not
    implemented ("Gradients for grouped convolutions are not supported on CPU")."""
    if tf.config.list_physical_devices("GPU"):
        return True
    return dtype != tf.float64 and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"


def _dilate(kernel: tf.Tensor, rates: tuple[int, ...]) -> tf.Tensor:
    """Insert ``rate − 1`` zeros between the taps of each spatial axis (kh, kw, ...)."""
    k = kernel
    for axis, d in enumerate(rates):
        if d == 1:
            continue
        n = k.shape[axis]
        moved = tf.experimental.numpy.moveaxis(k, axis, 0)
        rest = moved.shape[1:]
        z = tf.concat([moved[:, None], tf.zeros([n, d - 1, *rest], dtype=k.dtype)], axis=1)
        z = tf.reshape(z, [n * d, *rest])[: (n - 1) * d + 1]
        k = tf.experimental.numpy.moveaxis(z, 0, axis)
    return k


_FORMATS = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


class _TFConvBase(TFLayer):
    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)
        self.use_bias = layer.use_bias

    def _in(self, x: tf.Tensor) -> tf.Tensor:
        """Channels-last view (TensorFlow's CPU kernels take NHWC only): channels_first data
        is transposed in and out."""
        if self.spec.data_format != "channels_first":
            return x
        return tf.transpose(x, [0, *range(2, x.shape.rank), 1])

    def _finish(self, z: tf.Tensor) -> tf.Tensor:
        if self.use_bias:
            # a broadcast add (as Keras 3 writes it), not tf.nn.bias_add: oneDNN's graph pass
            # fuses BiasAddGrad into the filter gradient (Conv2DBackpropFilterWithBias), which
            # is slower on this AMD CPU than the filter gradient and a Sum (the benchmark CNN's
            # step graph: 0.895x -> 0.956x the native loop; profile in docs/benchmarks.md)
            z = z + self.bias
        if self.spec.data_format == "channels_first":
            z = tf.transpose(z, [0, z.shape.rank - 1, *range(1, z.shape.rank - 1)])
        return self.act(z)


@implements("Conv1D", "Conv2D", "Conv3D")
class TFConv(_TFConvBase):
    """``tf.nn.convolution`` (grouped when the kernel's input depth is C/groups); ``"causal"``
    left-pads ``(k−1)·d`` steps and runs VALID. Where TensorFlow has no grouped kernel (CPU
    float64, and 3D on CPU) the groups run as separate convolutions."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.native_groups = _native_groups(self.dtype)

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        x = self._in(x)
        padding = spec.padding.upper()
        if spec.padding == "causal":
            left = (spec.kernel_size[0] - 1) * spec.dilation_rate[0]
            x = tf.pad(x, [[0, 0], [left, 0], [0, 0]])
            padding = "VALID"
        # an explicit data_format: TF's eager Conv3D gradient reads it from the op
        conv = functools.partial(
            tf.nn.convolution,
            strides=spec.strides,
            padding=padding,
            dilations=spec.dilation_rate,
            data_format=_FORMATS[spec.rank],
        )
        if spec.groups == 1 or (self.native_groups and spec.rank < 3):
            z = conv(x, self.kernel)
        else:  # one convolution per group, concatenated (same formula)
            xs = tf.split(x, spec.groups, axis=-1)
            ks = tf.split(self.kernel, spec.groups, axis=-1)
            z = tf.concat(
                [conv(xg, kg) for xg, kg in zip(xs, ks, strict=True)],
                axis=-1,
            )
        return self._finish(z)


@implements("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
class TFConvTranspose(_TFConvBase):
    """``tf.nn.conv_transpose`` with the output size Keras gives (in·s for SAME,
    in·s + max(k_eff − s, 0) for VALID, or from ``output_padding``); kernel (*k, filters, C)
    is TF's native layout; dilation is applied by inserting zeros in the kernel."""

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        x = self._in(x)
        sizes = [spec.output_length(int(n), a) for a, n in enumerate(x.shape[1:-1])]
        out = tf.stack([tf.shape(x)[0], *sizes, spec.filters])
        # TF's CPU backprop-input kernels have no dilation: dilate the kernel explicitly.
        z = tf.nn.conv_transpose(
            x,
            _dilate(self.kernel, spec.dilation_rate),
            out,
            strides=list(spec.strides),
            padding=spec.padding.upper(),
        )
        return self._finish(z)


def _same_pads(x: tf.Tensor, axis: int, k: int, s: int, d: int) -> Any:
    """TensorFlow's SAME (before, after) pads of ``x``'s ``axis`` (``axis_pads``), computed
    in the graph when the size is unknown: out = ⌈n/s⌉,
    total = max((out − 1)·s + (k − 1)·d + 1 − n, 0), before = ⌊total/2⌋."""
    n = x.shape[axis]
    if n is not None:
        return list(axis_pads("same", int(n), k, s, d))
    size = tf.shape(x)[axis]
    total = tf.maximum(((size + s - 1) // s - 1) * s + (k - 1) * d + 1 - size, 0)
    return [total // 2, total - total // 2]


def _depthwise(x: tf.Tensor, kernel: tf.Tensor, spec: Any) -> tf.Tensor:
    """``tf.nn.depthwise_conv2d`` of NHWC ``x``. Its kernels take equal row and column strides
    only; unequal ones (sh ≠ sw) run as the stride-1 VALID convolution of the input padded
    with TensorFlow's SAME pads for (sh, sw) (none for VALID), sliced ``[::sh, ::sw]``: output
    (i, j) is the window at (i·sh, j·sw) of the padded input, the same sum as the strided
    convolution (and so the same gradient)."""
    sh, sw = spec.strides
    if sh == sw:
        return tf.nn.depthwise_conv2d(
            x,
            kernel,
            strides=[1, sh, sw, 1],
            padding=spec.padding.upper(),
            dilations=spec.dilation_rate,
        )
    pads = [
        _same_pads(x, a, k, s, d) if spec.padding == "same" else [0, 0]
        for a, k, s, d in zip(
            (1, 2), spec.kernel_size, spec.strides, spec.dilation_rate, strict=True
        )
    ]
    z = tf.nn.depthwise_conv2d(
        tf.pad(x, [[0, 0], *pads, [0, 0]]),
        kernel,
        strides=[1, 1, 1, 1],
        padding="VALID",
        dilations=spec.dilation_rate,
    )
    return z[:, ::sh, ::sw, :]


@implements("DepthwiseConv2D")
class TFDepthwiseConv2D(_TFConvBase):
    """``tf.nn.depthwise_conv2d``; kernel (kh, kw, C, M) is TF's native layout (unequal
    strides: see ``_depthwise``)."""

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        return self._finish(_depthwise(self._in(x), self.kernel, self.spec))


@implements("SeparableConv2D")
class TFSeparableConv2D(_TFConvBase):
    """``tf.nn.separable_conv2d`` (depthwise then 1×1 pointwise), bias after both; with
    unequal strides the depthwise step of ``_depthwise`` then the 1×1 ``tf.nn.conv2d``
    (what ``separable_conv2d`` computes)."""

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        if spec.strides[0] != spec.strides[1]:
            u = _depthwise(self._in(x), self.depthwise_kernel, spec)
            z = tf.nn.conv2d(u, self.pointwise_kernel, strides=1, padding="VALID")
            return self._finish(z)
        z = tf.nn.separable_conv2d(
            self._in(x),
            self.depthwise_kernel,
            self.pointwise_kernel,
            strides=[1, *spec.strides, 1],
            padding=spec.padding.upper(),
            dilations=spec.dilation_rate,
        )
        return self._finish(z)
