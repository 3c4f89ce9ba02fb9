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


def weighted_sums(v: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    """``[Σ v·w, Σ w]`` (float64) with ``w`` broadcast from the batch axis."""
    v = tf.cast(v, tf.float64)
    if sw is None:
        return tf.stack([tf.reduce_sum(v), tf.cast(tf.size(v), tf.float64)])
    w = tf.cast(sw, tf.float64)
    while w.shape.rank > v.shape.rank and w.shape[-1] == 1:
        w = tf.squeeze(w, -1)
    while w.shape.rank < v.shape.rank:
        w = w[..., None]
    w = tf.broadcast_to(w, tf.shape(v))
    return tf.stack([tf.reduce_sum(v * w), tf.reduce_sum(w)])


def _mean_delta(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    return weighted_sums(VALUES[spec.fn](y, p, spec), sw)


# fn name -> delta(spec, y_true, y_pred, sample_weight) -> float64 vector of state_size()
DELTAS: dict[str, Callable[[Any, tf.Tensor, tf.Tensor, tf.Tensor | None], tf.Tensor]] = {
    name: _mean_delta for name in VALUES
}


def delta(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    """One batch's additive contribution to a metric's state."""
    return DELTAS[spec.fn](spec, y, p, sw)
