"""Losses on TensorFlow: per-sample values by formula name, then Keras's reduction.
Mirrors duallearn_torch/_losses.py; constants in the prediction's dtype."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from duallearn.losses._probabilistic import EPSILON


def _c(v: float, like: tf.Tensor) -> tf.Tensor:
    return tf.constant(v, dtype=like.dtype)


def _mse(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    return tf.reduce_mean(tf.square(p - y), axis=-1)


def _mae(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    return tf.reduce_mean(tf.abs(p - y), axis=-1)


def _bce(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * _c(1.0 - s, p) + _c(0.5 * s, p)
    if o.get("from_logits"):
        v = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=p)
    else:
        q = tf.clip_by_value(p, _c(EPSILON, p), _c(1.0 - EPSILON, p))
        v = -(y * tf.math.log(q) + (_c(1.0, p) - y) * tf.math.log(_c(1.0, p) - q))
    return tf.reduce_mean(v, axis=-1)


def _log_probs(p: tf.Tensor, from_logits: bool) -> tf.Tensor:
    if from_logits:
        return tf.nn.log_softmax(p, axis=-1)
    q = p / tf.reduce_sum(p, axis=-1, keepdims=True)
    return tf.math.log(tf.clip_by_value(q, _c(EPSILON, p), _c(1.0 - EPSILON, p)))


def _cce(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * _c(1.0 - s, p) + _c(s / p.shape[-1], p)
    return -tf.reduce_sum(y * _log_probs(p, o.get("from_logits", False)), axis=-1)


def _scce(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    labels = tf.cast(y, tf.int64)
    if labels.shape.rank == p.shape.rank:
        labels = tf.squeeze(labels, -1)
    ignore = o.get("ignore_class")
    keep = None
    if ignore is not None:
        keep = tf.not_equal(labels, ignore)
        labels = tf.where(keep, labels, tf.zeros_like(labels))
    logp = _log_probs(p, o.get("from_logits", False))
    v = -tf.squeeze(tf.gather(logp, labels[..., None], axis=-1, batch_dims=labels.shape.rank), -1)
    if keep is not None:
        v = v * tf.cast(keep, v.dtype)
    return v


VALUES: dict[str, Callable[[tf.Tensor, tf.Tensor, dict[str, Any]], tf.Tensor]] = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "binary_crossentropy": _bce,
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": _scce,
}
SPARSE_TARGETS = {"sparse_categorical_crossentropy"}


def align_weight(w: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    while w.shape.rank > values.shape.rank and w.shape[-1] == 1:
        w = tf.squeeze(w, -1)
    while w.shape.rank < values.shape.rank:
        w = w[..., None]
    return tf.cast(w, values.dtype)


def reduce(values: tf.Tensor, sw: tf.Tensor | None, reduction: str) -> tf.Tensor:
    if sw is not None:
        values = values * align_weight(sw, values)
    if reduction == "none":
        return values
    total = tf.reduce_sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        if sw is None:
            return total / tf.cast(tf.size(values), values.dtype)
        return total / tf.reduce_sum(tf.broadcast_to(align_weight(sw, values), tf.shape(values)))
    return total / tf.cast(tf.size(values), values.dtype)


class LossFn:
    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.values = VALUES[spec.fn]
        self.options = spec.options()
        self.reduction = spec.reduction if spec.reduction != "none" else "sum_over_batch_size"

    def __call__(self, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
        if self.spec.fn not in SPARSE_TARGETS and y.dtype != p.dtype:
            y = tf.cast(y, p.dtype)
        return reduce(self.values(y, p, self.options), sw, self.reduction)
