"""Metric per-sample values on TensorFlow (mirrors duallearn_torch/_metrics.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from duallearn import plugin

from . import _ops

TENSOR_TYPES = (tf.Tensor, tf.Variable)


def as_tensor(x: Any, like: tf.Tensor) -> tf.Tensor:
    """``x`` (tensor, array, number) as a tensor, out of any gradient tape."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return tf.stop_gradient(x)
    return tf.convert_to_tensor(np.asarray(x))


def _sparse_acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    labels = tf.cast(tf.reshape(y, tf.shape(p)[:-1]), tf.int64)
    return tf.cast(tf.equal(tf.argmax(p, axis=-1), labels), p.dtype)


def _cat_acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return tf.cast(tf.equal(tf.argmax(p, axis=-1), tf.argmax(y, axis=-1)), p.dtype)


def _same_rank(y: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
    if y.shape.rank == p.shape.rank - 1:
        return y[..., None]
    if y.shape.rank == p.shape.rank + 1:
        return tf.squeeze(y, -1)
    return y


def _bin_acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    pred = tf.cast(p > tf.constant(m.threshold, p.dtype), tf.float64)
    true = tf.cast(_same_rank(y, p), tf.float64)
    return tf.reduce_mean(tf.cast(tf.equal(pred, true), p.dtype), axis=-1)


def _acc(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    eq = tf.equal(tf.cast(_same_rank(y, p), p.dtype), p)
    return tf.reduce_mean(tf.cast(eq, p.dtype), axis=-1)


def _in_top_k(labels: tf.Tensor, p: tf.Tensor, k: int) -> tf.Tensor:
    labels = tf.cast(labels, tf.int64)
    target = tf.gather(p, labels[..., None], axis=-1, batch_dims=labels.shape.rank)
    greater = tf.reduce_sum(tf.cast(p > target, tf.int32), axis=-1)
    return tf.cast(greater < k, p.dtype)


def _top_k(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return _in_top_k(tf.argmax(y, axis=-1), p, m.k)


def _sparse_top_k(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return _in_top_k(tf.reshape(y, tf.shape(p)[:-1]), p, m.k)


def _mae(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return tf.reduce_mean(tf.abs(p - tf.reshape(tf.cast(y, p.dtype), tf.shape(p))), axis=-1)


def _mse(y: tf.Tensor, p: tf.Tensor, m: Any) -> tf.Tensor:
    return tf.reduce_mean(tf.square(p - tf.reshape(tf.cast(y, p.dtype), tf.shape(p))), axis=-1)


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


F64 = tf.float64


def _weights(sw: tf.Tensor | None, p: tf.Tensor) -> tf.Tensor:
    if sw is None:
        return tf.ones_like(p)
    w = tf.cast(sw, p.dtype)
    while w.shape.rank > p.shape.rank and w.shape[-1] == 1:
        w = tf.squeeze(w, -1)
    while w.shape.rank < p.shape.rank:
        w = w[..., None]
    return tf.broadcast_to(w, tf.shape(p))


def confusion_counts(
    y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None, thresholds: tf.Tensor
) -> list[tf.Tensor]:
    """``[tp, fp, tn, fn]`` per threshold, float64 (see duallearn/metrics/_confusion.py)."""
    p = tf.cast(p, F64)
    y = tf.cast(y, F64)
    if y.shape.rank == p.shape.rank - 1:
        y = y[..., None]
    y = tf.broadcast_to(y, tf.shape(p))
    w = tf.reshape(_weights(sw, p), [1, -1])
    lab = tf.reshape(tf.not_equal(y, 0.0), [1, -1])
    pos = tf.reshape(p, [1, -1]) > tf.reshape(thresholds, [-1, 1])
    nlab, npos = tf.logical_not(lab), tf.logical_not(pos)

    def count(mask: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(w * tf.cast(mask, F64), axis=1)

    return [
        count(tf.logical_and(lab, pos)),
        count(tf.logical_and(nlab, pos)),
        count(tf.logical_and(nlab, npos)),
        count(tf.logical_and(lab, npos)),
    ]


def _select(spec: Any, y: tf.Tensor, p: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    p = tf.cast(p, F64)
    y = tf.cast(y, F64)
    if y.shape.rank == p.shape.rank - 1:
        y = y[..., None]
    if spec.top_k is not None:
        idx = tf.math.top_k(p, spec.top_k).indices
        mask = tf.reduce_sum(tf.one_hot(idx, tf.shape(p)[-1], dtype=F64), axis=-2) > 0
        p = tf.where(mask, p, tf.fill(tf.shape(p), tf.constant(-1e10, F64)))
    if spec.class_id is not None:
        c = spec.class_id
        y, p = y[..., c : c + 1], p[..., c : c + 1]
    return y, p


def _thresholds(spec: Any) -> tf.Tensor:
    return tf.constant(np.asarray(spec.thresholds, np.float64), F64)


def _precision(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    y, p = _select(spec, y, p)
    tp, fp, _, _ = confusion_counts(y, p, sw, _thresholds(spec))
    return tf.concat([tp, fp], 0)


def _recall(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    y, p = _select(spec, y, p)
    tp, _, _, fn = confusion_counts(y, p, sw, _thresholds(spec))
    return tf.concat([tp, fn], 0)


def _auc(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    p = tf.cast(p, F64)
    if spec.from_logits:
        p = tf.sigmoid(p)
    p = tf.clip_by_value(p, tf.constant(0.0, F64), tf.constant(1.0, F64))
    return tf.concat(confusion_counts(y, p, sw, _thresholds(spec)), 0)


def _fbeta(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    p = tf.cast(p, F64)
    if spec.threshold is None:
        top = p >= tf.reduce_max(p, axis=-1, keepdims=True)
        yp = tf.cast(tf.logical_and(top, tf.abs(p) > 1e-9), F64)
    else:
        yp = tf.cast(p > spec.threshold, F64)
    y = tf.reshape(tf.cast(y, F64), tf.shape(yp))
    w: Any = tf.constant(1.0, F64) if sw is None else tf.reshape(tf.cast(sw, F64), [-1, 1])
    micro = spec.average == "micro"

    def s(v: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.reduce_sum(v * w), [1]) if micro else tf.reduce_sum(v * w, 0)

    one = tf.constant(1.0, F64)
    return tf.concat([s(yp * y), s(yp * (one - y)), s((one - yp) * y), s(y)], 0)


def _r2(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    p = tf.reshape(tf.cast(p, F64), [-1, spec.width])
    y = tf.reshape(tf.cast(y, F64), tf.shape(p))
    w = (
        tf.ones_like(y)
        if sw is None
        else tf.broadcast_to(tf.reshape(tf.cast(sw, F64), [-1, 1]), tf.shape(y))
    )
    wy = w * y
    n = tf.reshape(tf.cast(tf.size(y), F64), [1])
    parts = [tf.reduce_sum(v, 0) for v in (wy, y * wy, tf.square(y - p) * w, w)]
    return tf.concat([*parts, n], 0)


def _mean_iou(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    c = spec.num_classes
    yl = tf.argmax(y, -1) if not spec.sparse_y_true else y
    pl = tf.argmax(p, -1) if not spec.sparse_y_pred else p
    yl = tf.reshape(tf.cast(yl, tf.int64), [-1])
    pl = tf.reshape(tf.cast(pl, tf.int64), [-1])
    w = (
        tf.ones(tf.shape(yl), F64)
        if sw is None
        else tf.broadcast_to(tf.reshape(tf.cast(sw, F64), [-1]), tf.shape(yl))
    )
    ok = (yl >= 0) & (yl < c) & (pl >= 0) & (pl < c)
    if spec.ignore_class is not None:
        ok = ok & tf.not_equal(yl, spec.ignore_class)
    idx = tf.where(ok, yl * c + pl, tf.zeros_like(yl))
    return tf.math.unsorted_segment_sum(tf.where(ok, w, tf.zeros_like(w)), idx, c * c)


def _binary_iou(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    pred = tf.cast(p, tf.float32) >= tf.constant(spec.threshold, tf.float32)
    return _mean_iou(spec, y, tf.cast(pred, tf.int64), sw)


def _threshold_counts(spec: Any, y: tf.Tensor, p: tf.Tensor, sw: tf.Tensor | None) -> tf.Tensor:
    y, p = _select(spec, y, p)
    if spec.clip:
        p = tf.clip_by_value(p, tf.constant(0.0, F64), tf.constant(1.0, F64))
    counts = confusion_counts(y, p, sw, _thresholds(spec))
    return tf.concat([counts[c] for c in spec.conditions], 0)


# the metric's name -> its state delta (tables: duallearn.plugin)
delta = plugin.metric_delta(globals(), _ops)
