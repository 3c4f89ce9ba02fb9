"""A function as a loss (Keras's ``LossFunctionWrapper``), and Keras's functional spellings
(``dl.losses.mean_squared_error(y_true, y_pred)`` -> per-sample values).

``compile(loss=fn)`` wraps a plain function ``fn(y_true, y_pred) -> per-sample values`` as
``LossFunctionWrapper(fn, name=fn.__name__)``: reduction ``"sum_over_batch_size"``, sample
weights and masks applied by the base class as for a built-in loss. The function runs where
the tensors live: natively in the compiled train step (``dl.ops`` dispatch to the model's
backend), in numpy under the numpy reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import ops
from .._naming import snake_case
from ..errors import ConfigError, SerializationError
from ._loss import REGISTRY, Loss
from ._probabilistic import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
)
from ._regression import (
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    SquaredHinge,
)


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any) -> tuple[Any, Any]:
    """Keras's rule: when the ranks differ by one and the longer one ends in a size-1 axis,
    squeeze that axis (or, if the other is rank 1, expand the other instead)."""
    r1, r2 = len(ops.shape(x1)), len(ops.shape(x2))
    if r1 == r2 + 1 and ops.shape(x1)[-1] == 1:
        if r2 == 1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    elif r2 == r1 + 1 and ops.shape(x2)[-1] == 1:
        if r1 == 1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def _function_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", None) or snake_case(type(fn).__name__))


@REGISTRY.register("LossFunctionWrapper")
class LossFunctionWrapper(Loss):
    """``fn(y_true, y_pred, **kwargs)`` as a loss: ``loss = reduce(w · fn(y, p))``.

    ``y_true`` and ``y_pred`` are first brought to the same rank (a trailing axis of size 1
    squeezed or expanded, :func:`squeeze_or_expand_to_same_rank`), as Keras does. ``fn`` is
    written with ``dl.ops`` and returns per-sample values (or a scalar).

    Saving stores the function's *name*; loading asks for the function:
    ``dl.load_model(path, custom_objects={"my_loss": my_loss})`` (duallearn never loads code
    from a file, as for ``Lambda`` layers).

    >>> import numpy as np, duallearn as dl
    >>> def my_mae(y_true, y_pred):
    ...     return dl.ops.mean(dl.ops.abs(y_true - y_pred), axis=-1)
    >>> float(dl.losses.LossFunctionWrapper(my_mae)(np.zeros((2, 2)), np.ones((2, 2))))
    1.0
    """

    _needs_custom_objects = True

    def __init__(
        self,
        fn: Callable[..., Any],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(fn):
            raise ConfigError(
                "LossFunctionWrapper needs a function fn(y_true, y_pred) returning per-sample "
                f"values. Received: fn={fn!r} ({type(fn).__name__}). Fix: pass the function "
                "itself, e.g. LossFunctionWrapper(my_loss)."
            )
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.fn: Callable[..., Any] = fn  # type: ignore[assignment]  # Keras's attribute
        self._fn_kwargs = dict(kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fn": _function_name(self.fn), **self._fn_kwargs}

    @classmethod
    def from_config(  # type: ignore[override]
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> LossFunctionWrapper:
        cfg = dict(config)
        name = cfg.pop("fn", None)
        fn = (custom_objects or {}).get(name) if isinstance(name, str) else None
        if fn is None and isinstance(name, str):
            fn = FUNCTIONS.get(name)
        if fn is None:
            raise SerializationError(
                f"Loss {cfg.get('name')!r} wraps the function {name!r}, and duallearn never "
                "loads code from a file. Expected: the function in custom_objects. Received: "
                f"custom_objects keys {sorted(custom_objects or {})}. Fix: pass it, e.g. "
                f"dl.load_model(path, custom_objects={{{name!r}: {name}}}), or load with "
                "compile=False."
            )
        return cls(fn, **cfg)

    def __repr__(self) -> str:
        return f"<LossFunctionWrapper({_function_name(self.fn)}, kwargs={self._fn_kwargs})>"


def _values(cls: type[Loss], arguments: dict[str, Any]) -> Any:
    """``cls(reduction="none", **options)(y_true, y_pred)``: per-sample values, where the
    tensors live (numpy reference or their backend), from a functional spelling's
    ``locals()``."""
    options = dict(arguments)
    y_true, y_pred = options.pop("y_true"), options.pop("y_pred")
    return cls(reduction="none", **options)(y_true, y_pred)


def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    """``mean_last((y − p)²)`` per sample (:class:`MeanSquaredError`)."""
    return _values(MeanSquaredError, locals())


def mean_absolute_error(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(|y − p|)`` per sample (:class:`MeanAbsoluteError`)."""
    return _values(MeanAbsoluteError, locals())


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Any:
    """``100·mean_last(|(y − p) / max(|y|, ε)|)`` per sample."""
    return _values(MeanAbsolutePercentageError, locals())


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Any:
    """``mean_last((log(max(p, ε) + 1) − log(max(y, ε) + 1))²)`` per sample."""
    return _values(MeanSquaredLogarithmicError, locals())


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Any:
    """``mean_last(½e² if |e| ≤ δ else δ|e| − ½δ²)``, e = p − y, per sample."""
    return _values(Huber, locals())


def log_cosh(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(log cosh(p − y))`` per sample."""
    return _values(LogCosh, locals())


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """``−Σ_last ŷ·p̂`` (x̂ = x / max(‖x‖, ε)) per sample."""
    return _values(CosineSimilarity, locals())


def hinge(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(max(1 − y·p, 0))`` per sample (0/1 labels become −1/1)."""
    return _values(Hinge, locals())


def squared_hinge(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(max(1 − y·p, 0)²)`` per sample (0/1 labels become −1/1)."""
    return _values(SquaredHinge, locals())


def categorical_hinge(y_true: Any, y_pred: Any) -> Any:
    """``max(max_last((1 − y)·p) − Σ_last y·p + 1, 0)`` per sample."""
    return _values(CategoricalHinge, locals())


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """``mean_last(−y·log p − (1 − y)·log(1 − p))`` per sample (:class:`BinaryCrossentropy`)."""
    return _values(BinaryCrossentropy, locals())


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """``−Σ_last y·log p`` per sample (:class:`CategoricalCrossentropy`)."""
    return _values(CategoricalCrossentropy, locals())


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    """``−log p[y]`` per sample, y an integer class id (:class:`SparseCategoricalCrossentropy`)."""
    return _values(SparseCategoricalCrossentropy, locals())


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """``mean_last((1 − p_t)^γ · bce)`` per sample (:class:`BinaryFocalCrossentropy`)."""
    return _values(BinaryFocalCrossentropy, locals())


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """``Σ_last α·(1 − p)^γ·(−y·log p)`` per sample (:class:`CategoricalFocalCrossentropy`)."""
    return _values(CategoricalFocalCrossentropy, locals())


def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    """``Σ_last y·log(y / p)`` (both clipped to [ε, 1]) per sample."""
    return _values(KLDivergence, locals())


def poisson(y_true: Any, y_pred: Any) -> Any:
    """``mean_last(p − y·log(p + ε))`` per sample."""
    return _values(Poisson, locals())


# Keras's functional spellings by name (what a saved LossFunctionWrapper may name)
FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        huber,
        log_cosh,
        cosine_similarity,
        hinge,
        squared_hinge,
        categorical_hinge,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
        binary_focal_crossentropy,
        categorical_focal_crossentropy,
        kl_divergence,
        poisson,
    )
}
