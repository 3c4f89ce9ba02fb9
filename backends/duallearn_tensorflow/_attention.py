"""MultiHeadAttention and Attention on TensorFlow: duallearn.plugin's attention mixins with
TensorFlow's primitives (``tf.einsum`` projections on the canonical (Keras) kernels, masked
softmax with Keras's −1e9 fill, constants and weights in the inputs' dtype)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from duallearn.plugin import AttentionMixin, AttentionPrimitives, MultiHeadAttentionMixin

from . import _rng
from ._layers import TFLayer, implements


class _TFAttentionBase(AttentionPrimitives, TFLayer):
    einsum = staticmethod(tf.einsum)
    zero = staticmethod(tf.zeros_like)
    tanh = staticmethod(tf.tanh)
    matmul = staticmethod(tf.matmul)

    def compute_weights(self, q: tf.Tensor) -> dict[str, Any]:
        # weights in the compute dtype of the call (float16/bfloat16 under mixed policies)
        return {
            wt.name: var if var.dtype == q.dtype else tf.cast(var, q.dtype)
            for wt, var in zip(self.spec.weights, self.dl_vars, strict=True)
        }

    def matmul_t(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        return tf.matmul(a, b, transpose_b=True)

    def softmax(self, a: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(a, axis=-1)

    def sum_last(self, a: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(a, axis=-1)

    def where(self, cond: tf.Tensor, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        return tf.where(cond, a, b)

    def masked_fill(self, a: tf.Tensor, keep: tf.Tensor, value: float) -> tf.Tensor:
        return tf.where(keep, a, tf.constant(value, dtype=a.dtype))

    def scalar(self, value: float, like: Any) -> tf.Tensor:
        return tf.constant(value, dtype=like.dtype)

    def cast(self, a: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
        return tf.cast(a, dtype)

    def to_bool(self, a: tf.Tensor) -> tf.Tensor:
        return tf.cast(a, tf.bool)

    def length(self, a: tf.Tensor, axis: int) -> tf.Tensor:
        return tf.shape(a)[axis]

    def causal_mask(self, t: tf.Tensor, s: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
        return tf.range(t)[:, None] >= tf.range(s)[None, :]

    def random_dropout(self, p: tf.Tensor, rate: float) -> tf.Tensor:
        return _rng.dropout(self, p, rate)


@implements("MultiHeadAttention")
class TFMultiHeadAttention(MultiHeadAttentionMixin, _TFAttentionBase):
    pass


@implements("Attention")
class TFAttention(AttentionMixin, _TFAttentionBase):
    pass
