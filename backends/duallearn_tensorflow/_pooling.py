"""Pooling on TensorFlow: ``tf.nn.max_pool``/``avg_pool`` (TF's SAME averages over valid
elements only), reductions for the global pools."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ._layers import TFLayer, implements


@implements("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
class TFPool(TFLayer):
    def forward(
        self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        spec = self.spec
        pool = tf.nn.max_pool if spec.mode == "max" else tf.nn.avg_pool
        k, s, p = list(spec.pool_size), list(spec.strides), spec.padding.upper()
        if spec.data_format != "channels_first":
            return pool(x, k, s, p)
        # TensorFlow's CPU pools take channels-last only: transpose in and out
        if spec.rank == 1:
            return tf.transpose(pool(tf.transpose(x, [0, 2, 1]), k, s, p), [0, 2, 1])
        return tf.transpose(pool(tf.transpose(x, [0, 2, 3, 1]), k, s, p), [0, 3, 1, 2])


@implements(
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D"
)
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
