"""Merge layers on TensorFlow (formulas in duallearn/layers/_merging.py)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from duallearn.layers._merging import dot_axes, dot_subscripts

from ._layers import TFLayer, implements


class _TFMerge(TFLayer):
    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        out = None
        for m in mask:
            if m is not None:
                out = m if out is None else tf.logical_and(out, m)
        return out


@implements("Add")
class TFAdd(_TFMerge):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        out = x[0]
        for a in x[1:]:
            out = out + a
        return out


@implements("Subtract")
class TFSubtract(_TFMerge):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        return x[0] - x[1]


@implements("Multiply")
class TFMultiply(_TFMerge):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        out = x[0]
        for a in x[1:]:
            out = out * a
        return out


@implements("Average")
class TFAverage(_TFMerge):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        out = x[0]
        for a in x[1:]:
            out = out + a
        return out / tf.constant(len(x), out.dtype)


@implements("Maximum")
class TFMaximum(_TFMerge):
    """``where(a >= b, a, b)`` folded left: ties send the gradient to the earlier input."""

    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        out = x[0]
        for a in x[1:]:
            out = tf.where(out >= a, out, a)
        return out


@implements("Minimum")
class TFMinimum(_TFMerge):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        out = x[0]
        for a in x[1:]:
            out = tf.where(out <= a, out, a)
        return out


@implements("Concatenate")
class TFConcatenate(_TFMerge):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        return tf.concat(x, axis=self.spec.axis)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        ms = [
            tf.ones(tf.shape(a)[:-1], dtype=tf.bool) if m is None else m
            for a, m in zip(x, mask, strict=True)
        ]
        if self.spec.axis % x[0].shape.rank == x[0].shape.rank - 1:
            out = ms[0]
            for m in ms[1:]:
                out = tf.logical_and(out, m)
            return out
        return tf.concat(ms, axis=self.spec.axis)


@implements("Dot")
class TFDot(TFLayer):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> tf.Tensor:
        u, v = x
        a1, a2 = dot_axes(self.spec.axes, u.shape.rank, v.shape.rank)
        if self.spec.normalize:
            u = u * tf.math.rsqrt(
                tf.maximum(
                    tf.reduce_sum(u * u, axis=a1, keepdims=True), tf.constant(1e-14, u.dtype)
                )
            )
            v = v * tf.math.rsqrt(
                tf.maximum(
                    tf.reduce_sum(v * v, axis=a2, keepdims=True), tf.constant(1e-14, v.dtype)
                )
            )
        out = tf.einsum(dot_subscripts(u.shape.rank, v.shape.rank, a1, a2), u, v)
        return tf.expand_dims(out, 1) if out.shape.rank == 1 else out

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None
