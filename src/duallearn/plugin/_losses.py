"""What every backend's losses share: the formula table and Keras's loss call around it.

A backend writes each formula once, natively (``_mse(y_true, y_pred, options)`` -> per-sample
values; formulas in duallearn/losses), lists them with :func:`formula_table` and subclasses
:class:`LossFn` with its two native pieces: ``align_targets`` and ``reduce``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..errors import BackendError
from ..losses._probabilistic import EPSILON

# probabilities are clipped to [LOSS_EPSILON, 1 - LOSS_EPSILON] as Keras does
LOSS_EPSILON = EPSILON

# loss name (LossSpec.fn) -> the backend function computing its per-sample values
LOSS_FORMULAS: Mapping[str, str] = {
    "mean_squared_error": "_mse",
    "mean_absolute_error": "_mae",
    "mean_absolute_percentage_error": "_mape",
    "mean_squared_logarithmic_error": "_msle",
    "huber": "_huber",
    "log_cosh": "_log_cosh",
    "cosine_similarity": "_cosine",
    "hinge": "_hinge",
    "squared_hinge": "_squared_hinge",
    "categorical_hinge": "_categorical_hinge",
    "binary_crossentropy": "_bce",
    "categorical_crossentropy": "_cce",
    "sparse_categorical_crossentropy": "_scce",
    "binary_focal_crossentropy": "_binary_focal",
    "categorical_focal_crossentropy": "_categorical_focal",
    "kl_divergence": "_kld",
    "poisson": "_poisson",
}
# losses whose targets are class ids: passed to the formula as they come
SPARSE_TARGETS = frozenset({"sparse_categorical_crossentropy"})


def formula_table(
    namespace: Mapping[str, Any], names: Mapping[str, str]
) -> dict[str, Callable[..., Any]]:
    """``{name: namespace[function name]}`` for every entry of ``names`` (a backend passes
    ``globals()``); a missing formula is an error naming it, raised at import."""
    missing = sorted(f for f in names.values() if not callable(namespace.get(f)))
    if missing:
        raise BackendError(
            f"Backend module {namespace.get('__name__')!r} does not define {missing}. "
            "Fix: implement each formula named in duallearn.plugin's tables."
        )
    return {name: namespace[f] for name, f in names.items()}


def _unchanged(y: Any, p: Any) -> Any:
    return y


class LossFn:
    """A compiled-in loss: ``loss(y_true, y_pred, sample_weight) -> scalar``.

    A backend's class is made by :func:`loss_fn_class`, which sets ``values_table`` and the
    two static methods ``align_targets`` and ``reduce``.
    """

    values_table: ClassVar[Mapping[str, Callable[[Any, Any, dict[str, Any]], Any]]]

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.values = self.values_table[spec.fn]
        self.options = spec.options()
        self.reduction = spec.reduction if spec.reduction != "none" else "sum_over_batch_size"
        self._targets = _unchanged if spec.fn in SPARSE_TARGETS else self.align_targets

    def __call__(self, y: Any, p: Any, sw: Any) -> Any:
        return self.reduce(self.values(self._targets(y, p), p, self.options), sw, self.reduction)

    def per_sample(self, y: Any, p: Any) -> Any:
        """Per-sample values (Keras squeezes/expands a trailing axis of size 1 first)."""
        return self.values(self._targets(y, p), p, self.options)

    @staticmethod
    def align_targets(y: Any, p: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def reduce(values: Any, sw: Any, reduction: str) -> Any:
        raise NotImplementedError


def loss_fn_class(namespace: Mapping[str, Any]) -> type[LossFn]:
    """A backend's :class:`LossFn` from the functions its module defines (it passes
    ``globals()``): the formulas named in :data:`LOSS_FORMULAS`, ``align_targets(y, p)``
    (``y`` cast to ``p``'s dtype, a trailing axis of size 1 squeezed or expanded to ``p``'s
    rank, as Keras does) and ``reduce(values, sample_weight, reduction)`` (Keras's reductions,
    see duallearn/losses/_loss.py)."""
    hooks = formula_table(namespace, {"align_targets": "align_targets", "reduce": "reduce"})
    body = {
        "__module__": namespace.get("__name__"),
        "__doc__": LossFn.__doc__,
        "values_table": formula_table(namespace, LOSS_FORMULAS),
        "align_targets": staticmethod(hooks["align_targets"]),
        "reduce": staticmethod(hooks["reduce"]),
    }
    return type("LossFn", (LossFn,), body)
