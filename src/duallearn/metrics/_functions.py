"""Mean metrics defined by a function written once with ``dl.ops`` (Keras 3 formulas).

Each is a :class:`~duallearn.metrics.MeanMetricWrapper` of a per-sample function: the compiled
fit runs the function natively on the model's backend, ``update_state`` on the numpy
reference or on the tensors' backend; no backend formula to write or keep in parity. ε is
Keras's ``backend.epsilon()`` (1e-7). y_true is aligned to y_pred's rank as Keras's
``squeeze_or_expand_to_same_rank`` (a trailing 1 dropped or added).
"""

from __future__ import annotations

import math
from typing import Any

from .. import ops
from ..errors import ConfigError
from ._metric import REGISTRY, MeanMetricWrapper

EPSILON = 1e-7


def _align(y: Any, p: Any) -> tuple[Any, Any]:
    y = ops.cast(y, ops.dtype(p))
    ry, rp = len(ops.shape(y)), len(ops.shape(p))
    if ry == rp + 1 and ops.shape(y)[-1] == 1:
        y = ops.squeeze(y, -1) if rp != 1 else y
        p = ops.expand_dims(p, -1) if rp == 1 else p
    elif rp == ry + 1 and ops.shape(p)[-1] == 1:
        y = ops.expand_dims(y, -1) if ry == 1 else y
        p = ops.squeeze(p, -1) if ry != 1 else p
    return y, p


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Any:
    """``100·mean_last(|y − p| / max(|y|, ε))``."""
    y, p = _align(y_true, y_pred)
    return 100.0 * ops.mean(ops.abs((y - p) / ops.maximum(ops.abs(y), EPSILON)), axis=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Any:
    """``mean_last((log(max(p, ε) + 1) − log(max(y, ε) + 1))²)``."""
    y, p = _align(y_true, y_pred)
    d = ops.log(ops.maximum(p, EPSILON) + 1.0) - ops.log(ops.maximum(y, EPSILON) + 1.0)
    return ops.mean(ops.square(d), axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(log cosh(p − y))`` as ``x + softplus(−2x) − log 2``."""
    y, p = _align(y_true, y_pred)
    x = p - y
    return ops.mean(x + ops.softplus(x * -2.0) - math.log(2.0), axis=-1)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """``Σ_axis normalize(y)·normalize(p)`` (L2, ε-guarded)."""
    y, p = _align(y_true, y_pred)
    return ops.sum(ops.normalize(y, axis, EPSILON) * ops.normalize(p, axis, EPSILON), axis=axis)


def _hinge_labels(y: Any) -> Any:
    """0/1 labels become −1/+1 (Keras: only when every label is 0 or 1)."""
    binary = ops.all(ops.logical_or(ops.equal(y, 0.0), ops.equal(y, 1.0)))
    return ops.where(binary, 2.0 * y - 1.0, y)


def hinge(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(max(1 − y·p, 0))`` (0/1 labels taken as −1/+1)."""
    y, p = _align(y_true, y_pred)
    return ops.mean(ops.maximum(1.0 - _hinge_labels(y) * p, 0.0), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(max(1 − y·p, 0)²)`` (0/1 labels taken as −1/+1)."""
    y, p = _align(y_true, y_pred)
    return ops.mean(ops.square(ops.maximum(1.0 - _hinge_labels(y) * p, 0.0)), axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Any:
    """``max(max_last((1 − y)·p) − Σ_last y·p + 1, 0)``."""
    y = ops.cast(y_true, ops.dtype(y_pred))
    pos = ops.sum(y * y_pred, axis=-1)
    neg = ops.max((1.0 - y) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    """``Σ_last y·log(y/p)``, y and p clipped to [ε, 1]."""
    y = ops.clip(ops.cast(y_true, ops.dtype(y_pred)), EPSILON, 1.0)
    p = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(y * ops.log(y / p), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(p − y·log(p + ε))``."""
    y = ops.cast(y_true, ops.dtype(y_pred))
    return ops.mean(y_pred - y * ops.log(y_pred + EPSILON), axis=-1)


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> Any:
    """``mean_last(−y·log q − (1 − y)·log(1 − q))``, q = clip(p, ε, 1 − ε); with logits
    ``max(x, 0) − x·y + log1p(exp(−|x|))``; smoothing ``y(1 − s) + s/2``."""
    y, p = _align(y_true, y_pred)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        v = ops.relu(p) - p * y + ops.log1p(ops.exp(-ops.abs(p)))
    else:
        q = ops.clip(p, EPSILON, 1.0 - EPSILON)
        v = -(y * ops.log(q) + (1.0 - y) * ops.log(1.0 - q))
    return ops.mean(v, axis=-1)


def _log_probs(p: Any, from_logits: bool) -> Any:
    if from_logits:
        return ops.log_softmax(p, axis=-1)
    q = p / ops.sum(p, axis=-1, keepdims=True)
    return ops.log(ops.clip(q, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> Any:
    """``−Σ_last y·log q``, q = clip(p/Σp, ε, 1 − ε) or log_softmax with logits; smoothing
    ``y(1 − s) + s/C``."""
    y = ops.cast(y_true, ops.dtype(y_pred))
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / ops.shape(y_pred)[-1]
    return -ops.sum(y * _log_probs(y_pred, from_logits), axis=-1)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Any:
    """``−log_softmax(z)[label]`` with integer labels, z the logits or, from probabilities,
    Keras's ``z = log clip(p, ε, 1 − ε)`` (clipped, then normalized by the softmax; the
    categorical one normalizes first)."""
    labels = ops.reshape(ops.cast(y_true, "int64"), (-1,))
    onehot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=ops.dtype(y_pred))
    shape = ops.shape(y_pred)
    z = y_pred if from_logits else ops.log(ops.clip(y_pred, EPSILON, 1.0 - EPSILON))
    lp = ops.reshape(ops.log_softmax(z, axis=-1), (-1, shape[-1]))
    v = -ops.sum(onehot * lp, axis=-1)
    return ops.reshape(v, (-1, *shape[1:-1]) if len(shape) > 1 else ())


class _FunctionMetric(MeanMetricWrapper):
    """A built-in metric of a fixed function; ``options`` are passed to it and are its
    config (Keras)."""

    target_rule = "broadcast"
    function: Any = None

    def __init__(self, name: str | None = None, dtype: str | None = None, **options: Any) -> None:
        self.options = options
        super().__init__(type(self).function, name=name, dtype=dtype, **options)

    def weight_shape(self, y_pred: tuple[int, ...]) -> tuple[int, ...] | None:
        return y_pred[:-1]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self.options}


@REGISTRY.register("MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape")
class MeanAbsolutePercentageError(_FunctionMetric):
    """Weighted mean of :func:`mean_absolute_percentage_error`."""

    function = staticmethod(mean_absolute_percentage_error)


@REGISTRY.register("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle")
class MeanSquaredLogarithmicError(_FunctionMetric):
    """Weighted mean of :func:`mean_squared_logarithmic_error`."""

    function = staticmethod(mean_squared_logarithmic_error)


@REGISTRY.register("LogCoshError", "log_cosh_error", "logcosh")
class LogCoshError(_FunctionMetric):
    """Weighted mean of :func:`log_cosh` (default name ``"logcosh"``, Keras's)."""

    function = staticmethod(log_cosh)

    def __init__(self, name: str = "logcosh", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


@REGISTRY.register("CosineSimilarity", "cosine_similarity")
class CosineSimilarity(_FunctionMetric):
    """Weighted mean of :func:`cosine_similarity` along ``axis``."""

    function = staticmethod(cosine_similarity)

    def __init__(self, name: str | None = None, dtype: str | None = None, axis: int = -1) -> None:
        super().__init__(name, dtype, axis=axis)


@REGISTRY.register("Hinge", "hinge")
class Hinge(_FunctionMetric):
    """Weighted mean of :func:`hinge`."""

    function = staticmethod(hinge)


@REGISTRY.register("SquaredHinge", "squared_hinge")
class SquaredHinge(_FunctionMetric):
    """Weighted mean of :func:`squared_hinge`."""

    function = staticmethod(squared_hinge)


@REGISTRY.register("CategoricalHinge", "categorical_hinge")
class CategoricalHinge(_FunctionMetric):
    """Weighted mean of :func:`categorical_hinge`."""

    target_rule = "rows"
    function = staticmethod(categorical_hinge)


@REGISTRY.register("KLDivergence", "kl_divergence", "kld")
class KLDivergence(_FunctionMetric):
    """Weighted mean of :func:`kl_divergence`."""

    function = staticmethod(kl_divergence)


@REGISTRY.register("Poisson", "poisson")
class Poisson(_FunctionMetric):
    """Weighted mean of :func:`poisson`."""

    function = staticmethod(poisson)


@REGISTRY.register("BinaryCrossentropy", "binary_crossentropy", "bce")
class BinaryCrossentropy(_FunctionMetric):
    """Weighted mean of :func:`binary_crossentropy`."""

    function = staticmethod(binary_crossentropy)

    def __init__(
        self,
        name: str | None = None,
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        _check_smoothing(type(self).__name__, label_smoothing)
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


@REGISTRY.register("CategoricalCrossentropy", "categorical_crossentropy")
class CategoricalCrossentropy(_FunctionMetric):
    """Weighted mean of :func:`categorical_crossentropy` (``axis=-1`` only)."""

    target_rule = "rows"
    function = staticmethod(categorical_crossentropy)

    def __init__(
        self,
        name: str | None = None,
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
    ) -> None:
        _check_smoothing(type(self).__name__, label_smoothing)
        _check_axis(type(self).__name__, axis)
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


@REGISTRY.register("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(_FunctionMetric):
    """Weighted mean of :func:`sparse_categorical_crossentropy` (``axis=-1``, no
    ``ignore_class``)."""

    target_rule = "sparse"
    function = staticmethod(sparse_categorical_crossentropy)

    def __init__(
        self,
        name: str | None = None,
        dtype: str | None = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ) -> None:
        _check_axis(type(self).__name__, axis)
        if ignore_class is not None:
            raise ConfigError(
                "SparseCategoricalCrossentropy: ignore_class is not supported by the metric. "
                f"Received: ignore_class={ignore_class!r}. Fix: pass sample weights of 0 for "
                "the samples to ignore."
            )
        super().__init__(name, dtype, from_logits=from_logits)


def _check_smoothing(cls: str, s: float) -> None:
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= 1:
        raise ConfigError(f"{cls}: label_smoothing must be in [0, 1]. Received: {s!r}.")


def _check_axis(cls: str, axis: int) -> None:
    if axis != -1:
        raise ConfigError(f"{cls}: only axis=-1 is supported. Received: axis={axis!r}.")
