"""Losses on TensorFlow: per-sample values by formula name, then Keras's reduction.
Mirrors duallearn_torch/_losses.py; constants in the prediction's dtype."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from duallearn import plugin
from duallearn.plugin import LOSS_EPSILON as EPSILON

from . import _ops

# the attribute a formula sets on its per-sample values to mask entries out of the reduction
# (Keras's ``_keras_mask`` on a loss's values: SparseCategoricalCrossentropy's ignore_class);
# ``reduce`` folds it into the weights (``apply_mask``)
LOSS_MASK = "_dl_loss_mask"


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
    """As duallearn_torch's: ``−log_softmax(z)[label]``, ``z = log clip(p, ε, 1 − ε)`` from
    probabilities (Keras's ``sparse_categorical_crossentropy``); ignored labels masked."""
    labels = tf.cast(y, tf.int64)
    if labels.shape.rank == p.shape.rank:
        labels = tf.squeeze(labels, -1)
    ignore = o.get("ignore_class")
    keep = None
    if ignore is not None:
        keep = tf.not_equal(labels, ignore)
        labels = tf.where(keep, labels, tf.zeros_like(labels))
    z = p
    if not o.get("from_logits"):
        z = tf.math.log(tf.clip_by_value(p, _c(EPSILON, p), _c(1.0 - EPSILON, p)))
    logp = tf.nn.log_softmax(z, axis=-1)
    v = -tf.squeeze(tf.gather(logp, labels[..., None], axis=-1, batch_dims=labels.shape.rank), -1)
    if keep is not None:
        v = tf.where(keep, v, tf.zeros_like(v))
        setattr(v, LOSS_MASK, keep)
    return v


def _mape(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    d = tf.abs((y - p) / tf.maximum(tf.abs(y), _c(EPSILON, p)))
    return _c(100.0, p) * tf.reduce_mean(d, axis=-1)


def _msle(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    one = _c(1.0, p)
    a = tf.math.log(tf.maximum(p, _c(EPSILON, p)) + one)
    b = tf.math.log(tf.maximum(y, _c(EPSILON, p)) + one)
    return tf.reduce_mean(tf.square(a - b), axis=-1)


def _huber(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    d = _c(o["delta"], p)
    half = _c(0.5, p)
    e = p - y
    a = tf.abs(e)
    return tf.reduce_mean(tf.where(a <= d, half * tf.square(e), d * a - half * d * d), axis=-1)


def _log_cosh(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    x = p - y
    return tf.reduce_mean(x + tf.nn.softplus(x * _c(-2.0, p)) - _c(math.log(2.0), p), axis=-1)


def _normalize(x: tf.Tensor) -> tf.Tensor:
    """``x · rsqrt(max(Σx², ε²))`` = Keras's ``x · min(rsqrt(Σx²), 1/ε)``, as the torch engine."""
    s = tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)
    return x * tf.math.rsqrt(tf.maximum(s, _c(EPSILON * EPSILON, x)))


def _cosine(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    return -tf.reduce_sum(_normalize(y) * _normalize(p), axis=-1)


def _hinge_labels(y: tf.Tensor) -> tf.Tensor:
    binary = tf.reduce_all(tf.logical_or(tf.equal(y, _c(0.0, y)), tf.equal(y, _c(1.0, y))))
    return tf.where(binary, _c(2.0, y) * y - _c(1.0, y), y)


def _hinge(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    return tf.reduce_mean(tf.maximum(_c(1.0, p) - _hinge_labels(y) * p, _c(0.0, p)), axis=-1)


def _squared_hinge(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    m = tf.maximum(_c(1.0, p) - _hinge_labels(y) * p, _c(0.0, p))
    return tf.reduce_mean(tf.square(m), axis=-1)


def _categorical_hinge(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    pos = tf.reduce_sum(y * p, axis=-1)
    neg = tf.reduce_max((_c(1.0, p) - y) * p, axis=-1)
    return tf.maximum(neg - pos + _c(1.0, p), _c(0.0, p))


def _binary_focal(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    one = _c(1.0, p)
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * _c(1.0 - s, p) + _c(0.5 * s, p)
    if o.get("from_logits"):
        # Keras takes the BCE of the logits themselves (its sigmoid keeps them)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=p)
        p = tf.sigmoid(p)
    else:
        q = tf.clip_by_value(p, _c(EPSILON, p), _c(1.0 - EPSILON, p))
        bce = -(y * tf.math.log(q) + (one - y) * tf.math.log(one - q))
    pt = y * p + (one - y) * (one - p)
    v = tf.pow(one - pt, _c(o["gamma"], p)) * bce
    if o["apply_class_balancing"]:
        a = _c(o["alpha"], p)
        v = (y * a + (one - y) * (one - a)) * v
    return tf.reduce_mean(v, axis=-1)


def _categorical_focal(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    s = o.get("label_smoothing", 0.0)
    if s:
        y = y * _c(1.0 - s, p) + _c(s / p.shape[-1], p)
    if o.get("from_logits"):
        p = tf.nn.softmax(p, axis=-1)
    q = tf.clip_by_value(
        p / tf.reduce_sum(p, axis=-1, keepdims=True), _c(EPSILON, p), _c(1.0 - EPSILON, p)
    )
    cce = -y * tf.math.log(q)
    w = tf.pow(_c(1.0, p) - q, _c(o["gamma"], p)) * _c(o["alpha"], p)
    return tf.reduce_sum(w * cce, axis=-1)


def _kld(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    y = tf.clip_by_value(y, _c(EPSILON, p), _c(1.0, p))
    p = tf.clip_by_value(p, _c(EPSILON, p), _c(1.0, p))
    return tf.reduce_sum(y * tf.math.log(y / p), axis=-1)


def _poisson(y: tf.Tensor, p: tf.Tensor, o: dict[str, Any]) -> tf.Tensor:
    return tf.reduce_mean(p - y * tf.math.log(p + _c(EPSILON, p)), axis=-1)


def expand_rank_1(values: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """Keras's ``squeeze_or_expand_to_same_rank(values, w)`` (``expand_rank_1=True``), as
    duallearn_torch's: rank-1 values weighted by ``(B, 1)`` weights become ``(B, 1)``."""
    if values.shape.rank == 1 and w.shape.rank == 2 and w.shape[-1] == 1:
        return values[:, None]
    return values


def align_weight(w: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    while w.shape.rank > values.shape.rank and w.shape[-1] == 1:
        w = tf.squeeze(w, -1)
    while w.shape.rank < values.shape.rank:
        w = w[..., None]
    return tf.cast(w, values.dtype)


def apply_mask(values: tf.Tensor, sw: tf.Tensor | None, reduction: str, mask: Any = None) -> Any:
    """Keras's ``apply_mask`` of the mask a formula set on its values (``LOSS_MASK``) and the
    output's Keras mask ``mask``, combined, as duallearn_torch's: ``mask·total/valid``
    (divide_no_nan) for the mean reductions, folded in once."""
    keep = getattr(values, LOSS_MASK, None)
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
        keep = mask if keep is None else tf.logical_and(keep, mask)
    if keep is None:
        return sw
    m = tf.cast(keep, values.dtype)
    if reduction in ("sum_over_batch_size", "mean"):
        m = m * tf.math.divide_no_nan(tf.cast(tf.size(m), values.dtype), tf.reduce_sum(m))
    if sw is None:
        return m
    m = expand_rank_1(m, sw)
    return align_weight(sw, m) * m


def reduce(values: tf.Tensor, sw: tf.Tensor | None, reduction: str, mask: Any = None) -> tf.Tensor:
    """Keras's reductions (see duallearn/losses/_loss.py), after ``apply_mask`` (``mask``:
    the output's Keras mask in fit / evaluate, None when unmasked)."""
    sw = apply_mask(values, sw, reduction, mask)
    if sw is not None:
        values = expand_rank_1(values, sw)
        values = values * align_weight(sw, values)
    if reduction == "none":
        return values
    total = tf.reduce_sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        if sw is None:
            return total / tf.cast(tf.size(values), values.dtype)
        # Keras's divide_no_nan: every weight 0 gives 0 (and a 0 gradient), not 0/0
        denom = tf.reduce_sum(tf.broadcast_to(align_weight(sw, values), tf.shape(values)))
        return tf.math.divide_no_nan(total, denom)
    return total / tf.cast(tf.size(values), values.dtype)


def align_targets(y: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
    if y.dtype != p.dtype:
        y = tf.cast(y, p.dtype)
    if y.shape.rank == p.shape.rank - 1:
        return y[..., None]
    if y.shape.rank == p.shape.rank + 1:
        return tf.squeeze(y, -1)
    return y


# the call around the formulas, and custom losses' call() run with this backend's dl.ops
# (duallearn.plugin)
LossFn = plugin.loss_fn_class(globals(), ops=_ops)
