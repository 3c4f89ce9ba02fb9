"""Correlation metrics (Keras 3): the weighted mean over samples of a per-sample correlation
along ``axis``. Both functions are written with ``dl.ops``, so the compiled fit runs them
natively on either backend (as any function metric) and the numpy reference is the same code.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..losses._wrapper import squeeze_or_expand_to_same_rank
from ._metric import REGISTRY, MeanMetricWrapper

EPSILON = 1e-7  # Keras's backend.epsilon()


def _same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """As tensors, ``y_true`` in ``y_pred``'s dtype, brought to the same rank (Keras)."""
    from .. import ops

    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), ops.dtype(y_pred))
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """Pearson's coefficient along ``axis`` (Keras; no ε: a constant row gives NaN):
    ``mean(ŷ·p̂)`` with ``ŷ = (y − mean y) / std(y − mean y)`` and ``p̂`` likewise."""
    from .. import ops

    y_true, y_pred = _same_rank(y_true, y_pred)
    yn = y_true - ops.mean(y_true, axis=axis, keepdims=True)
    pn = y_pred - ops.mean(y_pred, axis=axis, keepdims=True)
    yn = yn / ops.std(yn, axis=axis, keepdims=True)
    pn = pn / ops.std(pn, axis=axis, keepdims=True)
    return ops.mean(yn * pn, axis=axis)


def concordance_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """Lin's concordance coefficient along ``axis``, exactly as Keras 3 computes it::

        ccc = mean(2·(y − mean p)·(p − mean p) / (var y + var p + (mean y − mean p)² + ε))

    Keras centres ``y`` on the mean of ``p`` in the covariance term (not on its own mean);
    duallearn keeps that, so the numbers are Keras's.
    """
    from .. import ops

    y_true, y_pred = _same_rank(y_true, y_pred)
    my = ops.mean(y_true, axis=axis, keepdims=True)
    mp = ops.mean(y_pred, axis=axis, keepdims=True)
    vy = ops.var(y_true - my, axis=axis, keepdims=True)
    vp = ops.var(y_pred - mp, axis=axis, keepdims=True)
    covar = (y_true - mp) * (y_pred - mp)
    norm = vy + vp + ops.square(my - mp)
    return ops.mean(2.0 * covar / (norm + EPSILON), axis=axis)


class _Correlation(MeanMetricWrapper):
    function: Any = None

    def __init__(self, name: str | None = None, dtype: str | None = None, axis: int = -1) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(
                f"{type(self).__name__}: expected axis as an integer. Received: axis={axis!r}. "
                "Fix: pass the axis to correlate along, e.g. axis=-1."
            )
        super().__init__(type(self).function, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


@REGISTRY.register("PearsonCorrelation", "pearson_correlation")
class PearsonCorrelation(_Correlation):
    """Weighted mean over samples of :func:`pearson_correlation` along ``axis``.

    >>> import duallearn as dl
    >>> m = dl.metrics.PearsonCorrelation()
    >>> m.update_state([[0.0, 1.0, 0.5], [1.0, 1.0, 0.2]], [[0.1, 0.9, 0.5], [1.0, 0.9, 0.2]])
    >>> round(m.result(), 6)
    0.9967
    """

    function = staticmethod(pearson_correlation)

    def __init__(
        self, name: str = "pearson_correlation", dtype: str | None = None, axis: int = -1
    ) -> None:
        super().__init__(name, dtype, axis)


@REGISTRY.register("ConcordanceCorrelation", "concordance_correlation")
class ConcordanceCorrelation(_Correlation):
    """Weighted mean over samples of :func:`concordance_correlation` along ``axis``."""

    function = staticmethod(concordance_correlation)

    def __init__(
        self, name: str = "concordance_correlation", dtype: str | None = None, axis: int = -1
    ) -> None:
        super().__init__(name, dtype, axis)
