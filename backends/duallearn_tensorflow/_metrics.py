"""Metric per-sample values on TensorFlow (mirrors duallearn_torch/_metrics.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf


def _sparse_acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    labels = tf.cast(tf.reshape(y, tf.shape(p)[:-1]), tf.int64)
    return tf.cast(tf.equal(tf.argmax(p, axis=-1), labels), p.dtype)


def _cat_acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return tf.cast(tf.equal(tf.argmax(p, axis=-1), tf.argmax(y, axis=-1)), p.dtype)


def _bin_acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    pred = p > tf.constant(m.threshold, p.dtype)
    true = tf.reshape(tf.cast(y, p.dtype), tf.shape(p)) > tf.constant(0.5, p.dtype)
    return tf.reduce_mean(tf.cast(tf.equal(pred, true), p.dtype), axis=-1)


def _mae(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return tf.reduce_mean(tf.abs(p - tf.reshape(tf.cast(y, p.dtype), tf.shape(p))), axis=-1)


def _mse(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return tf.reduce_mean(tf.square(p - tf.reshape(tf.cast(y, p.dtype), tf.shape(p))), axis=-1)


VALUES: dict[str, Callable[[tf.Tensor, tf.Tensor, Any], tf.Tensor]] = {
    "sparse_categorical_accuracy": _sparse_acc,
    "categorical_accuracy": _cat_acc,
    "binary_accuracy": _bin_acc,
    "mean_absolute_error": _mae,
    "mean_squared_error": _mse,
}


def mean_update(
    spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None
) -> tuple[tf.Tensor, tf.Tensor]:
    v = VALUES[spec.fn](y, p, spec)
    if sw is None:
        return tf.reduce_sum(v), tf.cast(tf.size(v), v.dtype)
    w = tf.cast(sw, v.dtype)
    while w.shape.rank > v.shape.rank and w.shape[-1] == 1:
        w = tf.squeeze(w, -1)
    while w.shape.rank < v.shape.rank:
        w = w[..., None]
    w = tf.broadcast_to(w, tf.shape(v))
    return tf.reduce_sum(v * w), tf.reduce_sum(w)
