"""Pooling on TensorFlow: ``tf.nn.max_pool``/``avg_pool`` (TF's SAME averages over valid
elements only), reductions for the global pools. TensorFlow's CPU 3D pools have no float64
kernel: there the windows are strided slices of the padded input, reduced."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import tensorflow as tf

from duallearn.plugin import axis_pads

from ._layers import TFLayer, implements

_FORMATS = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _sliced_pool(x: tf.Tensor, spec: Any) -> tf.Tensor:
    """The pool of channels-last ``x`` as a max/sum over the strided slices of each window
    offset (any rank and dtype; the average divides by the count of valid elements)."""
    k, s = spec.pool_size, spec.strides
    sizes = [int(n) for n in x.shape[1:-1]]
    pads = [axis_pads(spec.padding, n, kk, ss) for n, kk, ss in zip(sizes, k, s, strict=True)]
    fill = -np.inf if spec.mode == "max" else 0.0
    xp = tf.pad(x, [[0, 0], *pads, [0, 0]], constant_values=tf.cast(fill, x.dtype))
    outs = [(n + b + a - kk) // ss + 1 for n, (b, a), kk, ss in zip(sizes, pads, k, s, strict=True)]
    parts = [
        xp[
            (
                slice(None),
                *(
                    slice(i, i + (o - 1) * ss + 1, ss)
                    for i, o, ss in zip(idx, outs, s, strict=True)
                ),
            )
        ]
        for idx in itertools.product(*(range(kk) for kk in k))
    ]
    if spec.mode == "max":
        return tf.reduce_max(tf.stack(parts), axis=0)
    ones = np.pad(np.ones(sizes), pads)
    count = sum(
        ones[
            tuple(slice(i, i + (o - 1) * ss + 1, ss) for i, o, ss in zip(idx, outs, s, strict=True))
        ]
        for idx in itertools.product(*(range(kk) for kk in k))
    )
    return tf.add_n(parts) / tf.constant(count[None, ..., None], dtype=x.dtype)


@implements(*(f"{kind}Pooling{n}D" for kind in ("Max", "Average") for n in (1, 2, 3)))
class TFPool(TFLayer):
    def _pool(self, x: tf.Tensor) -> tf.Tensor:
        spec = self.spec
        if spec.rank == 3 and x.dtype == tf.float64:
            return _sliced_pool(x, spec)
        pool = tf.nn.max_pool if spec.mode == "max" else tf.nn.avg_pool
        k, s, p = list(spec.pool_size), list(spec.strides), spec.padding.upper()
        # an explicit data_format: TF's eager 3D pool gradients read it from the op
        return pool(x, k, s, p, data_format=_FORMATS[spec.rank])

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        if self.spec.data_format != "channels_first":
            return self._pool(x)
        # TensorFlow's CPU pools take channels-last only: transpose in and out
        n = self.spec.rank
        y = self._pool(tf.transpose(x, [0, *range(2, n + 2), 1]))
        return tf.transpose(y, [0, n + 1, *range(1, n + 1)])


@implements(*(f"Global{kind}Pooling{n}D" for kind in ("Max", "Average") for n in (1, 2, 3)))
class TFGlobalPool(TFLayer):
    """``reduce_max`` / ``reduce_mean`` over the spatial axes; GlobalAveragePooling1D weights
    the steps with an incoming Keras mask."""

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None

    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        axes = list(spec.axes)
        if spec.mode == "max":
            return tf.reduce_max(x, axis=axes, keepdims=spec.keepdims)
        if mask is not None and spec.rank == 1:
            m = tf.expand_dims(tf.cast(mask, x.dtype), spec.channel_axis)
            t = axes[0]
            return tf.reduce_sum(x * m, axis=t, keepdims=spec.keepdims) / tf.reduce_sum(
                m, axis=t, keepdims=spec.keepdims
            )
        return tf.reduce_mean(x, axis=axes, keepdims=spec.keepdims)
