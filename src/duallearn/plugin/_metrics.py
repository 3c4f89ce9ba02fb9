"""What every backend's metrics share: the formula tables, the dispatch on a metric's name,
function metrics, and the eager updates of metrics on native tensors.

A backend writes natively each mean metric's per-sample values (``_acc(y_true, y_pred, spec)``),
``weighted_sums(values, sample_weight)``, each other metric's state delta
(``_precision(spec, y_true, y_pred, sample_weight)``), ``TENSOR_TYPES`` (its tensor classes) and
``as_tensor(x, like)`` (``x`` as a detached native tensor on ``like``'s device); it passes its
module's ``globals()`` and its ``dl.ops`` module to :func:`metric_delta`, which assembles them.

A function metric (``MeanMetricWrapper(fn)``, or ``compile(metrics=[fn])``) is written once,
here: its per-sample values are ``fn(y_true, y_pred)`` run with ``dl.ops`` bound to the
backend's ops (:func:`~duallearn.ops.native_call`), so it runs natively in the compiled step.

:func:`metric_delta` also registers the backend's :class:`NativeMetrics`, through which a
metric's ``update_state`` called with that backend's tensors (a custom ``train_step``) computes
its delta natively (:func:`native_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BackendError
from ..metrics._metric import FUNCTION_METRIC as FUNCTION_METRIC
from ..metrics._metric import compiled_error, needs_eager_update
from ._losses import formula_table

# mean metrics: name (MetricSpec.fn) -> the backend function computing per-sample values;
# their state is ``weighted_sums(values, sample_weight)``
MEAN_METRIC_FORMULAS: Mapping[str, str] = {
    "accuracy": "_acc",
    "top_k_categorical_accuracy": "_top_k",
    "sparse_top_k_categorical_accuracy": "_sparse_top_k",
    "sparse_categorical_accuracy": "_sparse_acc",
    "categorical_accuracy": "_cat_acc",
    "binary_accuracy": "_bin_acc",
    "mean_absolute_error": "_mae",
    "mean_squared_error": "_mse",
}
# the other metrics: name -> the backend function computing one batch's state delta
METRIC_DELTA_FORMULAS: Mapping[str, str] = {
    "precision": "_precision",
    "recall": "_recall",
    "auc": "_auc",
    "fbeta_score": "_fbeta",
    "r2_score": "_r2",
    "mean_iou": "_mean_iou",
    "binary_iou": "_binary_iou",
    "threshold_counts": "_threshold_counts",
}

# delta(spec, y_true, y_pred, sample_weight) -> float64 vector of spec.state_size()
Delta = Callable[[Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class NativeMetrics:
    """A backend's metric functions, for ``update_state`` called with its native tensors."""

    backend: str
    ops: Any  # the backend's dl.ops module
    tensor_types: tuple[type, ...]
    delta: Delta
    weighted_sums: Callable[[Any, Any], Any]
    as_tensor: Callable[[Any, Any], Any]  # (x, like) -> detached native tensor on like's device

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.asarray(self.ops.convert_to_numpy(t), np.float64)


_NATIVE: dict[str, NativeMetrics] = {}
_LOOKED_UP: set[str] = set()
_PLAIN = (np.ndarray, np.generic, int, float, bool, list, tuple)


def _function_values(ops: Any) -> Callable[[Any, Any, Any], Any]:
    from ..ops import native_call

    def values(y: Any, p: Any, spec: Any) -> Any:
        with native_call(ops):
            yd = ops.dtype(y)
            if yd.startswith(("float", "bfloat")) and yd != ops.dtype(p):
                y = ops.cast(y, ops.dtype(p))  # float targets in the outputs' dtype (Keras)
            return spec.call_fn(y, p)

    return values


def metric_delta(namespace: Mapping[str, Any], ops: Any = None) -> Delta:
    """A backend's ``delta`` from the functions its module defines (it passes ``globals()``
    and its ``dl.ops`` module): the formulas named in :data:`MEAN_METRIC_FORMULAS` and
    :data:`METRIC_DELTA_FORMULAS`, ``weighted_sums``, and (with ``ops``) function metrics
    and the eager updates of :func:`native_metrics` (``TENSOR_TYPES``, ``as_tensor``)."""
    values = formula_table(namespace, MEAN_METRIC_FORMULAS)
    weighted_sums = formula_table(namespace, {"w": "weighted_sums"})["w"]
    if ops is not None:
        values[FUNCTION_METRIC] = _function_values(ops)

    def mean_delta(spec: Any, y: Any, p: Any, sw: Any) -> Any:
        return weighted_sums(values[spec.fn](y, p, spec), sw)

    deltas: dict[str, Delta] = {name: mean_delta for name in values}
    deltas.update(formula_table(namespace, METRIC_DELTA_FORMULAS))

    def delta(spec: Any, y: Any, p: Any, sw: Any) -> Any:
        """One batch's additive contribution to a metric's state."""
        fn = deltas.get(spec.fn)
        if fn is None or needs_eager_update(spec):
            raise compiled_error(spec)
        return fn(spec, y, p, sw)

    if ops is not None:
        helpers = formula_table(namespace, {"as_tensor": "as_tensor"})
        types = namespace.get("TENSOR_TYPES")
        if not isinstance(types, tuple) or not types:
            raise BackendError(
                f"Backend module {namespace.get('__name__')!r} does not define TENSOR_TYPES "
                "(a tuple of its tensor classes). Fix: define it beside its metric formulas."
            )
        _NATIVE[ops.NAME] = NativeMetrics(
            ops.NAME,
            ops,
            types,
            delta,
            weighted_sums,
            helpers["as_tensor"],
        )
    return delta


def native_metrics(*values: Any) -> NativeMetrics | None:
    """The backend whose native tensors are among ``values`` (None when all are numpy
    arrays, Python numbers or None). A backend not imported yet is loaded when a value's
    type comes from the framework it is named after (``torch``, ``tensorflow``)."""
    found: NativeMetrics | None = None
    for x in values:
        if x is None or isinstance(x, _PLAIN):
            continue
        nm = _owner(x)
        if nm is None:
            continue
        if found is not None and nm is not found:
            raise BackendError(
                f"A metric received tensors of two engines ({found.backend} and "
                f"{nm.backend}) in one update_state call. Fix: pass y_true, y_pred and "
                "sample_weight as tensors of one backend (or numpy arrays)."
            )
        found = nm
    return found


def _owner(x: Any) -> NativeMetrics | None:
    for nm in _NATIVE.values():
        if isinstance(x, nm.tensor_types):
            return nm
    top = (type(x).__module__ or "").split(".")[0]
    if top and top not in _LOOKED_UP:
        _LOOKED_UP.add(top)
        from ._registry import get_backend, registered_backends

        if top in registered_backends():
            get_backend(top)  # importing it registers its NativeMetrics
            return _owner(x)
    return None
