"""Stateful metrics (``update_state`` / ``result`` / ``reset_state``), as Keras 3.

**Built-in metrics.** Most are a weighted mean of per-sample values ``v``
(:class:`MeanMetricWrapper`): ``total += Σ v·w``, ``count += Σ w``, ``result = total / count``.
Each one's state is a float64 vector that only grows by addition (``state += delta``). In a
compiled ``fit`` the backends compute ``delta`` natively and accumulate it on the device; the
numpy methods here are the reference.

``update_state`` takes numpy arrays, Python numbers, ``dl.Variable`` objects and native
tensors of either backend (torch tensors, even requiring grad; TensorFlow tensors), eagerly:

* numpy/Python values: the numpy reference delta (``reference_delta``).
* native tensors (e.g. in a custom ``train_step``): the backend's own delta function, the one
  its compiled fit runs, on the tensors detached from autograd; the running sum stays a native
  float64 tensor on the tensors' device until ``result()`` reads it (one host copy). Chosen
  over converting to numpy because it needs no device→host copy per batch and metric, and
  because the number is then the compiled path's by construction (same function), not a
  third implementation to keep in parity.

``result()`` returns a Python float for scalar metrics (a list or numpy vector for per-class
results), which ``float()`` and ``np.asarray`` accept; Keras returns a backend scalar tensor.

**User-defined metrics** (Keras 3's API): a subclass creates its state in ``__init__`` with
``self.add_variable(shape, initializer, dtype=None, aggregation="sum", name=None)`` (or
``add_weight``), a :class:`~duallearn.Variable` each, and writes ``update_state`` / ``result``
with ``dl.ops`` and ``variable.assign*``. They run eagerly: on native tensors, ``dl.ops`` run
on the tensors' backend; on numpy values, on the numpy reference. Inside these methods the
metric's variables stand for their values in ``dl.ops`` (and Python operators). Their values
live on the host (one copy per ``assign``). The compiled fit cannot run such a metric:
:func:`needs_eager_update` says which metrics need an eager step; the compiled path raises a
:class:`~duallearn.errors.ConfigError` for them rather than ignore them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _trace
from .._naming import snake_case
from .._registry import Registry
from ..errors import ConfigError
from ._eager import native_of, plain, scoped, shape_of
from ._shapes import check_targets, check_weight

REGISTRY = Registry("metric")
# ``Metric.fn`` of function metrics (``MeanMetricWrapper(fn)``): per-sample values from a
# function written with dl.ops, run natively by every backend (duallearn.plugin)
FUNCTION_METRIC = "mean_metric_wrapper"


def _builtin(cls: type) -> bool:
    return cls.__module__.startswith("duallearn.metrics")


class Metric:
    """Base class of stateful metrics (Keras 3's ``keras.metrics.Metric``).

    Built-in metrics: the state is a float64 vector of ``state_size()`` entries that only
    ever grows by addition: ``state += delta(y_true, y_pred, sample_weight)`` for each batch.
    Backends compute ``delta`` natively and keep the sum on the device;
    ``result_from_state`` turns the vector into the reported value.

    A subclass of your own follows Keras 3: state from ``self.add_variable(...)`` in
    ``__init__``, ``update_state`` and ``result`` written with ``dl.ops``::

        class CategoricalTruePositives(dl.metrics.Metric):
            def __init__(self, name="categorical_true_positives", **kwargs):
                super().__init__(name=name, **kwargs)
                self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                        name="ctp")

            def update_state(self, y_true, y_pred, sample_weight=None):
                y_pred = dl.ops.reshape(dl.ops.argmax(y_pred, axis=1), (-1, 1))
                values = dl.ops.cast(dl.ops.equal(dl.ops.cast(y_true, "int32"),
                                                  dl.ops.cast(y_pred, "int32")), "float32")
                self.true_positives.assign_add(dl.ops.sum(values))

            def result(self):
                return self.true_positives

    The default ``reset_state`` sets every variable to zeros (Keras 3's).
    """

    fn: str = ""
    # Set by compile(): True for `weighted_metrics` (sample/class weights apply), False for
    # `metrics` (Keras ignores sample weights there).
    weighted: bool = False
    # how update_state checks y_true against y_pred (a key of _shapes.TARGET_RULES; "": unchecked)
    target_rule: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _builtin(cls):
            return
        for name in ("update_state", "result", "reset_state"):
            f = cls.__dict__.get(name)
            if callable(f) and not getattr(f, "_dl_scoped", False):
                setattr(cls, name, scoped(f))

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self._variables: list[Any] = []
        self._clear_state()

    # ---- Keras 3's variable API ---------------------------------------------------------
    def add_variable(
        self,
        shape: Any,
        initializer: Any,
        dtype: str | None = None,
        aggregation: str = "sum",
        name: str | None = None,
    ) -> Any:
        """A state variable (a non-trainable :class:`~duallearn.Variable`, path
        ``"<metric name>/<name>"``), created in ``__init__``; ``dtype`` defaults to the
        metric's dtype, else floatx. ``aggregation`` is accepted for Keras compatibility
        (one device: nothing to aggregate)."""
        from .. import config
        from .. import initializers as _init
        from ..variables import Variable

        if "_variables" not in self.__dict__:
            raise ConfigError(
                f"{type(self).__name__}.add_variable() was called before Metric.__init__. "
                "Fix: call super().__init__(name=name, **kwargs) first in __init__."
            )
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        shape = tuple(int(d) for d in (shape or ()))
        var = Variable(
            name=name or f"variable_{len(self._variables)}",
            shape=shape,
            dtype=dtype or self.dtype or config.floatx(),
            initializer=_init.get("zeros" if initializer is None else initializer),
            trainable=False,
            owner=self,
        )
        self._variables.append(var)
        return var

    def add_weight(
        self,
        shape: Any = (),
        initializer: Any = None,
        dtype: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Keras 3's alias of :meth:`add_variable` (initializer default: zeros)."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[Any]:
        """The state variables: this metric's, then those of metrics held as attributes."""
        out = list(self.__dict__.get("_variables", []))
        for v in self.__dict__.values():
            if isinstance(v, Metric) and v is not self:
                out.extend(v.variables)
        return out

    # ---- the additive state of built-in metrics -------------------------------------------
    def state_size(self) -> int:
        return 2

    def needs_shapes(self) -> bool:
        """Whether ``state_size`` depends on the output width (set by ``build_shapes``)."""
        return False

    def build_shapes(
        self,
        y_true_shape: tuple[int | None, ...] | None,
        y_pred_shape: tuple[int | None, ...] | None,
    ) -> None:
        """Called with the target/output shapes before the state is sized (model compile,
        or the first ``update_state``)."""

    def _clear_state(self) -> None:
        self._state = np.zeros(self.state_size())
        self._pending: Any = None  # native running sum (update_state on native tensors)
        self._pending_on: Any = None  # its backend's NativeMetrics

    def reset_state(self) -> None:
        """Clear the state: the built-in state vector, and every variable to zeros."""
        self._clear_state()
        for v in self.variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def reference_delta(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        """The numpy reference of one batch's contribution to the state."""
        raise compiled_error(self)

    def result_from_state(self, state: np.ndarray) -> Any:
        total, count = state[0], state[1]
        return float(total / count) if count else 0.0

    def check_inputs(
        self,
        y_true: tuple[int, ...],
        y_pred: tuple[int, ...],
        sample_weight: tuple[int, ...] | None,
    ) -> None:
        """Raise a :class:`~duallearn.errors.ShapeError` for shapes this metric cannot take."""
        check_targets(self, y_true, y_pred)
        values = None if sample_weight is None else self.weight_shape(y_pred)
        if sample_weight is not None and values is not None:
            check_weight(self, sample_weight, values)

    def weight_shape(self, y_pred: tuple[int, ...]) -> tuple[int, ...] | None:
        """The shape the sample weights broadcast onto from the batch axis (None: any)."""
        return y_pred

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch: numpy arrays and numbers use the numpy reference; native tensors
        the backend's delta, detached, summed on their device."""
        y_true, y_pred, sample_weight = plain(y_true), plain(y_pred), plain(sample_weight)
        nm = native_of(y_true, y_pred, sample_weight)
        if nm is None:
            _trace.refuse_host_update(self)
            yt, yp = np.asarray(y_true), np.asarray(y_pred)
            sw = None if sample_weight is None else np.asarray(sample_weight)
            self._prepare(yt.shape, yp.shape, None if sw is None else sw.shape)
            self._state = self._state + self.reference_delta(yt, yp, sw)
            return
        like = next(x for x in (y_pred, y_true, sample_weight) if isinstance(x, nm.tensor_types))
        p, y = nm.as_tensor(y_pred, like), nm.as_tensor(y_true, like)
        sw = None if sample_weight is None else nm.as_tensor(sample_weight, like)
        self._prepare(shape_of(y), shape_of(p), None if sw is None else shape_of(sw))
        self._add_native(nm, nm.delta(self, y, p, sw))

    def _prepare(self, y: tuple[int, ...], p: tuple[int, ...], sw: tuple[int, ...] | None) -> None:
        self.check_inputs(y, p, sw)
        if self.needs_shapes() and not getattr(self, "_built_shapes", False):
            self.build_shapes(y, p)
            self._clear_state()

    def _add_native(self, nm: Any, delta: Any) -> None:
        trace = _trace.active()
        if trace is not None:  # a traced step returns the delta; added after each call
            trace.deltas.append((self, nm, delta))
            return
        if self._pending is not None and self._pending_on is not nm:
            self._flush()
        self._pending = delta if self._pending is None else self._pending + delta
        self._pending_on = nm

    def _flush(self) -> None:
        if self._pending is not None:
            self._state = self._state + self._pending_on.to_numpy(self._pending)
            self._pending = self._pending_on = None

    def result(self) -> Any:
        if _trace.active() is not None:  # a traced step: read on the host after the call
            return _trace.Deferred(self)
        self._flush()
        return self.result_from_state(self._state)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``update_state(*args, **kwargs)`` then ``result()`` (Keras)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


# ---- which metrics the compiled fit runs ------------------------------------------------------
# the methods through which a built-in metric's meaning reaches the compiled delta; a class
# that overrides one of them outside duallearn needs an eager update_state
_COMPILED_API = (
    "update_state",
    "result",
    "result_from_state",
    "reference_delta",
    "reference_values",
    "state_size",
    "call_fn",
)
_EAGER: dict[tuple[type, str], bool] = {}


def _from_duallearn(cls: type, name: str) -> bool:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return _builtin(klass)
    return True


def needs_eager_update(metric: Any) -> bool:
    """Whether ``metric`` must be updated by calling its ``update_state`` eagerly, outside
    the compiled step: True for a user-defined :class:`Metric` subclass (its own
    ``update_state`` / ``result``), for a built-in subclass that overrides one of them, and
    for ``Mean`` / ``Sum`` (they take values, not ``(y_true, y_pred)``). False for the
    built-in metrics and function metrics (``MeanMetricWrapper(fn)``, ``metrics=[fn]``),
    whose state the compiled fit accumulates natively on the device.
    """
    key = (type(metric), getattr(metric, "fn", ""))
    known = _EAGER.get(key)
    if known is None:
        from ..plugin._metrics import MEAN_METRIC_FORMULAS, METRIC_DELTA_FORMULAS

        formulas = {*MEAN_METRIC_FORMULAS, *METRIC_DELTA_FORMULAS, FUNCTION_METRIC}
        compiled = all(_from_duallearn(key[0], n) for n in _COMPILED_API)
        known = _EAGER[key] = not (compiled and key[1] in formulas)
    return known


def compiled_error(metric: Any) -> ConfigError:
    """The error of the compiled path for a metric that :func:`needs_eager_update`."""
    return ConfigError(
        f"Metric {metric.name!r} ({type(metric).__name__}) cannot be computed by the compiled "
        "fit/evaluate step: that step accumulates the built-in metrics and function metrics "
        "as additive native state, and this metric defines its own update_state()/result() "
        "(or takes values, not (y_true, y_pred)). Fix: write it as a function "
        "`def my_metric(y_true, y_pred): return <per-sample values with dl.ops>` and pass "
        "metrics=[my_metric], or update it yourself in a custom train_step/test_step "
        "(metric.update_state(...), then {m.name: m.result() for m in self.metrics})."
    )


def weighted_sums(v: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """``[Σ v·w, Σ w]`` with ``w`` broadcast from the batch axis (numpy reference)."""
    v = np.asarray(v, np.float64)
    if sample_weight is None:
        return np.array([v.sum(), float(v.size)])
    w = np.asarray(sample_weight, np.float64)
    while w.ndim > v.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    w = np.broadcast_to(w.reshape(w.shape + (1,) * (v.ndim - w.ndim)), v.shape)
    return np.array([(v * w).sum(), w.sum()])


class MeanMetricWrapper(Metric):
    """Weighted mean of per-sample values ``fn(y_true, y_pred, **kwargs)`` (Keras 3's
    ``MeanMetricWrapper``): ``Σ w·v / Σ w``.

    ``fn`` is written with ``dl.ops`` (and Python operators on its arguments): the compiled
    fit runs it natively on the model's backend; ``update_state`` runs it on the numpy
    reference (numpy arguments) or on the arguments' backend (native tensors). This is what
    ``compile(metrics=[fn])`` builds, named ``fn.__name__``. Float targets are cast to the
    predictions' dtype first (Keras's data adapters give float targets in floatx).

    The built-in mean metrics subclass it with a numpy ``reference_values`` and a native
    formula per backend instead of ``fn``.

    >>> import duallearn as dl
    >>> def abs_err(y_true, y_pred):
    ...     return dl.ops.mean(dl.ops.abs(y_true - y_pred), axis=-1)
    >>> m = dl.metrics.MeanMetricWrapper(abs_err)
    >>> m.update_state([[1.0, 2.0]], [[1.5, 2.5]])
    >>> float(m.result())
    0.5
    """

    target_rule = ""

    def __init__(
        self, fn: Any = None, name: str | None = None, dtype: str | None = None, **kwargs: Any
    ) -> None:
        if fn is not None:
            if not callable(fn):
                raise ConfigError(
                    "MeanMetricWrapper: fn must be a function fn(y_true, y_pred) returning "
                    f"per-sample values. Received: fn={fn!r}."
                )
            self.fn = FUNCTION_METRIC
        elif type(self).reference_values is MeanMetricWrapper.reference_values:
            raise ConfigError(
                "MeanMetricWrapper: fn is required (a function fn(y_true, y_pred) returning "
                "per-sample values). Received: fn=None."
            )
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name, dtype)

    def call_fn(self, y_true: Any, y_pred: Any) -> Any:
        """The wrapped function's per-sample values (in whatever ``dl.ops`` mode is active)."""
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def reference_values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        from ..ops import numpy_mode

        if np.issubdtype(y_true.dtype, np.floating):
            y_true = y_true.astype(y_pred.dtype)
        with numpy_mode():
            return np.asarray(self.call_fn(y_true, y_pred))

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        return weighted_sums(self.reference_values(y_true, y_pred), sample_weight)

    def weight_shape(self, y_pred: tuple[int, ...]) -> tuple[int, ...] | None:
        # built-ins: one value per row; a function's values have the shape it gives
        return y_pred[:-1] if self._fn is None else None

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        if self._fn is not None:
            cfg["fn"] = getattr(self._fn, "__name__", repr(self._fn))
            cfg.update(self._fn_kwargs)
        return cfg


class BuiltinMean(MeanMetricWrapper):
    """Base of the built-in mean metrics: ``reference_values`` in numpy here, a native
    formula per backend (``duallearn.plugin.MEAN_METRIC_FORMULAS``), Keras's
    ``(name, dtype)`` signature."""

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


@REGISTRY.register("Mean", "mean")
class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight)``:
    ``Σ w·v / Σ w``, ``w`` broadcast from the batch axis (a scalar weight scales a scalar
    value: ``update_state(loss, sample_weight=batch_size)`` as Keras's loss tracker)."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values, sample_weight = plain(values), plain(sample_weight)
        nm = native_of(values, sample_weight)
        if nm is None:
            _trace.refuse_host_update(self)
            v = np.asarray(values)
            sw = None if sample_weight is None else np.asarray(sample_weight)
            if sw is not None:
                check_weight(self, sw.shape, v.shape)
            self._state = self._state + weighted_sums(v, sw)
            return
        like = next(x for x in (values, sample_weight) if isinstance(x, nm.tensor_types))
        v = nm.as_tensor(values, like)
        sw = None if sample_weight is None else nm.as_tensor(sample_weight, like)
        if sw is not None:
            check_weight(self, shape_of(sw), shape_of(v))
        self._add_native(nm, nm.weighted_sums(v, sw))


@REGISTRY.register("Sum", "sum")
class Sum(Mean):
    """Weighted sum of the values given to ``update_state(values, sample_weight)``:
    ``Σ w·v``."""

    def result_from_state(self, state: np.ndarray) -> Any:
        return float(state[0])
