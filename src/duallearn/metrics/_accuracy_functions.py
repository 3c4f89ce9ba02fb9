"""Keras 3's functional accuracy metrics (``keras.metrics.binary_accuracy`` …): per-sample
values in floatx, written with ``dl.ops`` so that they run where the tensors live (numpy,
or natively, e.g. as ``compile(metrics=[fn])``). The classes (``BinaryAccuracy`` …) average
the same values."""

from __future__ import annotations

from typing import Any

from .. import config, ops
from ..losses._wrapper import squeeze_or_expand_to_same_rank


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Any:
    """``[y == (p > threshold)]`` elementwise (Keras 3 does not average the last axis here)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = ops.cast(ops.greater(y_pred, threshold), ops.dtype(y_true))
    return ops.cast(ops.equal(y_true, y_pred), config.floatx())


def categorical_accuracy(y_true: Any, y_pred: Any) -> Any:
    """``[argmax y == argmax p]`` per sample (one-hot targets)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.argmax(ops.convert_to_tensor(y_true), axis=-1)
    return ops.cast(ops.equal(y_true, ops.argmax(y_pred, axis=-1)), config.floatx())


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Any:
    """``[label == argmax p]`` per sample (integer labels, a trailing 1 allowed)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    ty, tp = ops.shape(y_true), ops.shape(y_pred)
    if len(ty) == len(tp) and ty[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    labels = ops.cast(y_true, "int64")
    return ops.cast(ops.equal(labels, ops.argmax(y_pred, axis=-1)), config.floatx())


def _in_top_k(labels: Any, y_pred: Any, k: int) -> Any:
    """Whether fewer than ``k`` scores exceed the label's (ties count as in, TF's
    ``in_top_k``)."""
    hot = ops.one_hot(ops.cast(labels, "int64"), ops.shape(y_pred)[-1], dtype=ops.dtype(y_pred))
    target = ops.sum(hot * y_pred, axis=-1, keepdims=True)  # the label's score
    above = ops.sum(ops.cast(ops.greater(y_pred, target), "int32"), axis=-1)
    return ops.cast(ops.less(above, k), config.floatx())


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Any:
    """``[argmax y among the k largest p]`` per sample (one-hot targets)."""
    y_pred = ops.convert_to_tensor(y_pred)
    return _in_top_k(ops.argmax(ops.convert_to_tensor(y_true), axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> Any:
    """``[label among the k largest p]`` per sample; ``from_sorted_ids``: ``y_pred`` holds
    class ids sorted by score, and the label is looked for in its first ``k``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    shape = ops.shape(y_true)
    if len(shape) > 1:  # Keras flattens the labels, then gives the matches their shape
        y_true = ops.reshape(y_true, (-1,))
        y_pred = ops.reshape(y_pred, (-1, ops.shape(y_pred)[-1]))
    if from_sorted_ids:
        ids = ops.cast(y_pred[..., :k], "int64")
        hit = ops.any(ops.equal(ops.expand_dims(ops.cast(y_true, "int64"), -1), ids), axis=-1)
        matches = ops.cast(hit, config.floatx())
    else:
        matches = _in_top_k(y_true, y_pred, k)
    return ops.reshape(matches, shape) if len(shape) > 1 else matches
