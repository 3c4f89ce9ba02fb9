"""Merge layers on TensorFlow: the forwards are duallearn.plugin's merge mixins (formulas in
duallearn/layers/_merging.py); this file gives them TensorFlow's primitives, constants in the
inputs' dtype."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from duallearn.plugin import MERGES, MergePrimitives

from ._layers import TFLayer, implements


class _TFMerge(MergePrimitives, TFLayer):
    logical_and = staticmethod(tf.logical_and)
    where = staticmethod(tf.where)
    rsqrt = staticmethod(tf.math.rsqrt)
    einsum = staticmethod(tf.einsum)
    expand_dims = staticmethod(tf.expand_dims)

    def concat(self, xs: list[tf.Tensor], axis: int) -> tf.Tensor:
        return tf.concat(xs, axis=axis)

    def scalar(self, value: float, like: Any) -> tf.Tensor:
        return tf.constant(value, like.dtype)

    def rank(self, a: tf.Tensor) -> int:
        rank: int = a.shape.rank
        return rank

    def ones_mask(self, a: tf.Tensor) -> tf.Tensor:
        return tf.ones(tf.shape(a)[:-1], dtype=tf.bool)

    def sum_keepdims(self, a: tf.Tensor, axis: int) -> tf.Tensor:
        return tf.reduce_sum(a, axis=axis, keepdims=True)

    def clamp_min(self, a: tf.Tensor, lo: float) -> tf.Tensor:
        return tf.maximum(a, tf.constant(lo, a.dtype))


for _name, _mixin in MERGES.items():
    implements(_name)(type(f"TF{_name}", (_mixin, _TFMerge), {"__doc__": _mixin.__doc__}))
