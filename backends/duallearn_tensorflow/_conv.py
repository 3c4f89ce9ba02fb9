"""Convolutions on TensorFlow (NHWC, TensorFlow's own SAME padding)."""

from __future__ import annotations

import functools
import os
from typing import Any

import tensorflow as tf

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
            z = tf.nn.bias_add(z, self.bias)
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


@implements("DepthwiseConv2D")
class TFDepthwiseConv2D(_TFConvBase):
    """``tf.nn.depthwise_conv2d``; kernel (kh, kw, C, M) is TF's native layout."""

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        z = tf.nn.depthwise_conv2d(
            self._in(x),
            self.kernel,
            strides=[1, *spec.strides, 1],
            padding=spec.padding.upper(),
            dilations=spec.dilation_rate,
        )
        return self._finish(z)


@implements("SeparableConv2D")
class TFSeparableConv2D(_TFConvBase):
    """``tf.nn.separable_conv2d`` (depthwise then 1×1 pointwise), bias after both."""

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        z = tf.nn.separable_conv2d(
            self._in(x),
            self.depthwise_kernel,
            self.pointwise_kernel,
            strides=[1, *spec.strides, 1],
            padding=spec.padding.upper(),
            dilations=spec.dilation_rate,
        )
        return self._finish(z)
