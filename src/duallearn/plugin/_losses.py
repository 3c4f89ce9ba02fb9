"""What every backend's losses share: the formula table and Keras's loss call around it.

A backend writes each formula once, natively (``_mse(y_true, y_pred, options)`` -> per-sample
values; formulas in duallearn/losses), and makes its :class:`LossFn` with
:func:`loss_fn_class` from its two native pieces, ``align_targets`` and ``reduce``, and its
``dl.ops`` module.

A custom loss (a ``dl.losses.Loss`` subclass with its own ``call``, or a function wrapped in
``LossFunctionWrapper``) runs here too: ``loss.call(y, p)`` under
:func:`duallearn.ops.native_call` with the backend's ops module, so ``dl.ops`` act on the
native tensors of the train step and gradients flow through them, then the same native
``reduce`` as the built-in losses (sample weights, masks, reduction). Written once for every
backend, as custom layers are (plugin/_custom.py).

A loss called by hand (``loss(y_true, y_pred)``, a functional spelling such as
``dl.losses.mean_squared_error``) is evaluated where its tensors live:
:func:`native_ops` finds the backend owning them (by the tensor type's module, importing no
framework) and :func:`native_loss` runs the loss there; numpy inputs go to the numpy
reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from .. import config
from ..errors import BackendError
from ..losses._loss import check_returned, check_values
from ..losses._probabilistic import EPSILON
from ..ops import _dispatch, native_call
from ._registry import _FRAMEWORK_MODULES, get_backend

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

    A backend's class is made by :func:`loss_fn_class`, which sets ``values_table``, ``ops``
    and the two static methods ``align_targets`` and ``reduce``. ``reduction`` overrides the
    loss's own (``None``: the train step's, where ``"none"`` reduces as a mean).
    """

    values_table: ClassVar[Mapping[str, Callable[[Any, Any, dict[str, Any]], Any]]]
    ops: ClassVar[Any] = None  # the backend's dl.ops module (runs custom losses' call)

    def __init__(self, spec: Any, reduction: str | None = None) -> None:
        self.spec = spec
        self.custom = bool(getattr(spec, "is_custom", False))
        formula = getattr(spec, "fn", "")
        formula = formula if isinstance(formula, str) and not self.custom else ""
        if self.custom:
            if self.ops is None:
                raise BackendError(
                    f"This backend's losses ({type(self).__module__}) cannot run custom loss "
                    f"{spec.name!r}: it gave loss_fn_class no ops module. Fix (backend "
                    "authors): loss_fn_class(globals(), ops=<your dl.ops module>)."
                )
        elif formula not in self.values_table:
            spec.require_call()  # a Loss subclass without call(): the user's error
            raise BackendError(
                f"This backend ({type(self).__module__}) has no formula {formula!r} for loss "
                f"{type(spec).__name__}. Fix: use a built-in loss, or write call() with dl.ops."
            )
        self.values = self.values_table[formula] if formula else None
        self.options = spec.options() if formula else {}
        if reduction is None:
            reduction = spec.reduction if spec.reduction != "none" else "sum_over_batch_size"
        self.reduction = reduction
        self._targets = _unchanged if formula in SPARSE_TARGETS else self.align_targets

    def __call__(self, y: Any, p: Any, sw: Any, mask: Any = None) -> Any:
        """The reduced loss; ``mask``: the output's Keras mask (fit / evaluate), combined
        with the formula's own (``ignore_class``) and folded into the weights once, as
        Keras's ``Loss.__call__`` (``in_mask & out_mask``, then ``apply_mask``)."""
        values = self.per_sample(y, p)
        if self.custom:
            check_values(self.spec, self.ops.shape(values), None if sw is None else _shape(sw))
        if mask is None:
            return self.reduce(values, sw, self.reduction)
        return self.reduce(values, sw, self.reduction, mask)

    def per_sample(self, y: Any, p: Any) -> Any:
        """Per-sample values (Keras squeezes/expands a trailing axis of size 1 first)."""
        if self.custom:
            return self.call_values(y, p)
        return self.formula_values(y, p)

    def formula_values(self, y: Any, p: Any) -> Any:
        """The built-in formula's per-sample values."""
        assert self.values is not None
        return self.values(self._targets(y, p), p, self.options)

    def call_values(self, y: Any, p: Any) -> Any:
        """A custom loss's ``call(y, p)`` on native tensors (both cast to the loss dtype:
        its ``dtype``, else ``p``'s float dtype, as Keras casts to the loss dtype)."""
        ops = self.ops
        dtype = self.spec.dtype or _float_dtype(ops, p)
        with native_call(ops):
            if ops.dtype(p) != dtype:
                p = ops.cast(p, dtype)
            if ops.dtype(y) != dtype:
                y = ops.cast(y, dtype)
            values = self.spec.call(y, p)
            check_returned(self.spec, values)
            values = ops.convert_to_tensor(values)
            if ops.dtype(values) != dtype:
                values = ops.cast(values, dtype)
        return values

    @staticmethod
    def align_targets(y: Any, p: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def reduce(values: Any, sw: Any, reduction: str, mask: Any = None) -> Any:
        raise NotImplementedError


def _shape(t: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in t.shape)


def _float_dtype(ops: Any, t: Any) -> str:
    name = str(ops.dtype(t))
    return name if "float" in name else config.floatx()


_LOSS_FNS: dict[str, type[LossFn]] = {}  # backend name -> its LossFn (made at its import)
_BACKEND_OF_MODULE = {framework: name for name, framework in _FRAMEWORK_MODULES.items()}
_HOST_TYPES = (np.ndarray, np.generic, int, float, bool, list, tuple)


def loss_fn_class(namespace: Mapping[str, Any], ops: Any = None) -> type[LossFn]:
    """A backend's :class:`LossFn` from the functions its module defines (it passes
    ``globals()``): the formulas named in :data:`LOSS_FORMULAS`, ``align_targets(y, p)``
    (``y`` cast to ``p``'s dtype, a trailing axis of size 1 squeezed or expanded to ``p``'s
    rank, as Keras does) and ``reduce(values, sample_weight, reduction, mask=None)`` (Keras's
    reductions, see duallearn/losses/_loss.py; ``mask``: an output's Keras mask, given only
    for masked outputs, combined with the values' own mask and folded into the weights once,
    Keras's ``apply_mask``); ``ops``: the backend's ``dl.ops`` module, which runs custom
    losses and registers the class for losses called by hand on this backend's tensors."""
    hooks = formula_table(namespace, {"align_targets": "align_targets", "reduce": "reduce"})
    body = {
        "__module__": namespace.get("__name__"),
        "__doc__": LossFn.__doc__,
        "values_table": formula_table(namespace, LOSS_FORMULAS),
        "ops": ops,
        "align_targets": staticmethod(hooks["align_targets"]),
        "reduce": staticmethod(hooks["reduce"]),
    }
    cls = type("LossFn", (LossFn,), body)
    if ops is not None:
        _LOSS_FNS[str(ops.NAME)] = cls
    return cls


def loss_fn_for(ops: Any) -> type[LossFn]:
    """The :class:`LossFn` of the backend whose ``dl.ops`` module is ``ops``."""
    name = str(getattr(ops, "NAME", ""))
    if name not in _LOSS_FNS and name:
        get_backend(name)  # importing the plugin makes (and registers) its LossFn
    cls = _LOSS_FNS.get(name)
    if cls is None:
        raise BackendError(
            f"Backend {name!r} has no native losses registered. Expected: its losses module "
            "calling duallearn.plugin.loss_fn_class(globals(), ops=<its dl.ops module>). "
            "Fix: call the loss on numpy arrays, or on torch / TensorFlow tensors."
        )
    return cls


def native_ops(*values: Any) -> Any:
    """The ``dl.ops`` module a loss called by hand runs on, None for the numpy reference:
    the implementation bound by :func:`~duallearn.ops.native_call` (a custom layer's or
    loss's ``call``), else the backend owning the first tensor that is not numpy or Python
    (found by its type's module, ``torch...`` or ``tensorflow...``: nothing imported)."""
    if _dispatch.in_native_call():
        impl = _dispatch.current()
        return None if getattr(impl, "NAME", "") == "numpy" else impl
    for v in values:
        if v is None or isinstance(v, _HOST_TYPES):
            continue
        name = _BACKEND_OF_MODULE.get((type(v).__module__ or "").partition(".")[0])
        if name is not None:
            return get_backend(name).ops
    return None


def native_loss(loss: Any, ops: Any, y: Any, p: Any, sw: Any) -> Any:
    """``loss(y, p, sw)`` on backend ``ops``: a native tensor, with ``loss.reduction``
    (``"none"`` gives the weighted per-sample values). Non-float predictions are cast to the
    loss's ``dtype`` (default floatx); float ones keep their dtype unless ``dtype`` is set."""
    p = ops.convert_to_tensor(p)
    want = loss.dtype or _float_dtype(ops, p)
    if ops.dtype(p) != want:
        p = ops.cast(p, want)
    y = ops.convert_to_tensor(y)
    sw = None if sw is None else ops.convert_to_tensor(sw)
    return loss_fn_for(ops)(loss, reduction=loss.reduction)(y, p, sw)


def formula_values(loss: Any, y: Any, p: Any) -> Any:
    """A built-in loss's per-sample values where ``y``/``p`` live (``Loss.call``)."""
    ops = native_ops(y, p)
    if ops is None:
        p = np.asarray(p)
        p = p if p.dtype.kind == "f" else p.astype(np.float64)
        return loss.reference_values(loss.prepare(np.asarray(y), p), p)
    fn = loss_fn_for(ops)(_Formula(loss))
    return fn.formula_values(ops.convert_to_tensor(y), ops.convert_to_tensor(p))


class _Formula:
    """A built-in loss seen without its subclass's ``call`` (``super().call`` in a custom
    loss derived from a built-in one)."""

    is_custom = False

    def __init__(self, loss: Any) -> None:
        self._loss = loss

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loss, name)
