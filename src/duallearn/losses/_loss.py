"""The Loss base class and Keras's reductions.

A loss computes per-sample values ``l`` (the last axis is reduced by the loss itself), then
with sample weights ``w`` (broadcast to ``l``) reduces as Keras 3 does:

* ``"sum_over_batch_size"`` (default, alias ``"mean"``): ``Σ(w·l) / size(l)`` (weights are
  *not* renormalised: torch's class-weighted ``mean`` divides by ``Σw`` instead);
* ``"mean_with_sample_weight"``: ``Σ(w·l) / Σw`` (0 when every weight is 0: Keras's divide_no_nan);
* ``"sum"``: ``Σ(w·l)``; ``"none"``: ``w·l`` (rank-1 values with ``(B, 1)`` weights give
  ``(B, 1)``: Keras expands the values to the weights' rank).

A loss whose ``call`` returns a scalar ``s`` reduces to ``s`` (Keras: the reduction of a
scalar is itself); with sample weights, to ``reduce(w·s)``.

A mask ``m`` on the values (Keras's ``apply_mask``; SparseCategoricalCrossentropy's
``ignore_class`` masks the ignored labels) is folded into the weights first:
``w ← w·m·size(m)/Σm`` for ``"sum_over_batch_size"``/``"mean"`` (the mean is then over the
kept entries, ``Σ(w·m·l) / Σm``; 0 when none is kept), ``w ← w·m`` otherwise (so
``"mean_with_sample_weight"`` divides by ``Σ(w·m)``).

Two kinds of loss share this class. A built-in loss names its backend formula in ``fn`` and
implements ``reference_values`` / ``reference_values_grad`` in numpy. A custom loss (Keras's
way) overrides ``call(y_true, y_pred)`` with ``dl.ops``; the backends run that ``call`` on
native tensors inside the compiled train step (see duallearn/plugin/_losses.py), and the
numpy reference runs it under :func:`duallearn.ops.numpy_mode`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._naming import snake_case
from .._registry import Registry
from ..errors import ConfigError, SerializationError, ShapeError

REGISTRY = Registry("loss")
REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none")


class Loss:
    """Base class of every loss (Keras's ``keras.losses.Loss``).

    Subclass it and implement ``call(y_true, y_pred)`` with ``dl.ops``, returning per-sample
    values ``l`` (reduce the last axis, keep the batch axis); the base applies
    ``sample_weight`` (and, in ``fit``, Keras masks) and ``reduction`` as for the built-in
    losses. ``y_true`` and ``y_pred`` reach ``call`` cast to the loss's ``dtype`` (default:
    ``y_pred``'s float dtype).

    >>> import numpy as np, duallearn as dl
    >>> class CustomMSE(dl.losses.Loss):
    ...     def call(self, y_true, y_pred):
    ...         return dl.ops.mean(dl.ops.square(y_true - y_pred), axis=-1)
    >>> float(CustomMSE()(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]])))
    0.5
    """

    fn: str = ""  # a built-in loss's backend formula (duallearn/plugin/_losses.py)

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        if reduction is None:
            reduction = "none"
        if reduction not in REDUCTIONS:
            raise ConfigError(
                f"Unknown loss reduction. Expected one of {REDUCTIONS}. "
                f"Received: reduction={reduction!r}."
            )
        self.reduction = reduction
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype

    # ---- what backends read ---------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The formula options backends need (e.g. from_logits, label_smoothing)."""
        return {}

    @property
    def is_custom(self) -> bool:
        """Whether the values come from this loss's own ``call`` (run natively by the
        backends) rather than from a built-in formula."""
        return type(self).call is not Loss.call

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample values ``l`` (Keras's ``Loss.call``); a custom loss overrides it.

        On a built-in loss, its formula evaluated where the tensors live (numpy reference,
        or the backend owning them), so ``super().call(y_true, y_pred)`` works in a subclass.
        """
        self.require_call()
        from ..plugin._losses import formula_values

        return formula_values(self, y_true, y_pred)

    def require_call(self) -> None:
        """Raise unless this loss can compute values (a formula or its own ``call``)."""
        if not self.is_custom and not self.fn:
            raise ConfigError(
                f"{type(self).__name__} subclasses dl.losses.Loss but implements no "
                "call(y_true, y_pred). Expected: a call() returning per-sample values. "
                "Received: none. Fix: define call(self, y_true, y_pred) with dl.ops, e.g. "
                "return dl.ops.mean(dl.ops.square(y_true - y_pred), axis=-1)."
            )

    # ---- numpy reference ------------------------------------------------------------------
    def reference_values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        if self.is_custom:
            return self._custom_values(y_true, y_pred)
        raise NotImplementedError

    def reference_values_grad(
        self, y_true: np.ndarray, y_pred: np.ndarray, dl: np.ndarray
    ) -> np.ndarray:
        """dL/dy_pred given dL/dvalues."""
        raise NotImplementedError

    def reference_mask(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray | None:
        """The mask of the values (bool, their shape; None: none), folded into the weights as
        Keras's ``apply_mask`` (module docstring). ``y_true`` as ``prepare`` returns it."""
        return None

    def prepare(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Check and cast targets to what the formula expects (numpy side). As Keras, a
        trailing axis of size 1 on either side is squeezed/expanded to match."""
        y_true = np.asarray(y_true)
        self.check_targets(y_true, y_pred.shape)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        elif y_true.ndim == y_pred.ndim + 1:
            y_true = y_true[..., 0]
        return y_true.astype(y_pred.dtype)

    def check_targets(self, y_true: np.ndarray, y_pred_shape: tuple[int | None, ...]) -> None:
        """Raise a clear error when targets cannot go with predictions of this shape
        (called by the numpy reference and once per ``fit``/``evaluate`` by the model). A
        custom loss decides for itself which targets it takes (Keras checks nothing)."""
        if self.is_custom:
            return
        ys, ps = tuple(np.shape(y_true)), tuple(y_pred_shape)
        if len(ys) == len(ps) - 1 and ps[-1] == 1:
            ps = ps[:-1]
        elif len(ys) == len(ps) + 1 and ys[-1] == 1:
            ys = ys[:-1]
        if len(ys) != len(ps) or any(
            p is not None and y != p and y != 1 for y, p in zip(ys[1:], ps[1:], strict=True)
        ):
            raise ShapeError(
                f"{type(self).__name__}: y_true and y_pred must have the same shape (up to a "
                "trailing axis of size 1, or broadcasting a size-1 axis). Received: "
                f"y_true.shape={np.shape(y_true)}, "
                f"y_pred.shape={tuple(y_pred_shape)}. Fix: one-hot or reshape the targets, or "
                "pick the loss that matches them (e.g. sparse_categorical_crossentropy for "
                "integer labels)."
            )

    def _custom_values(self, y_true: Any, y_pred: Any, dtype: Any = None) -> np.ndarray:
        """``call`` run by the numpy reference, both sides cast to ``dtype`` (default: the
        loss's ``dtype``, else ``y_pred``'s float dtype, else float64)."""
        from ..ops import numpy_mode

        p = np.asarray(y_pred)
        dt = dtype or self.dtype or (p.dtype if p.dtype.kind == "f" else np.float64)
        dt = np.dtype(dt)
        with numpy_mode():
            values = self.call(np.asarray(y_true).astype(dt), p.astype(dt))
        check_returned(self, values)
        return np.asarray(values).astype(dt)

    def reference(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """The reduced loss, in numpy."""
        if self.is_custom:
            values = self._custom_values(y_true, y_pred)
            weight_shape = None if sample_weight is None else np.shape(sample_weight)
            check_values(self, values.shape, weight_shape)
            return reduce_values(values, sample_weight, self.reduction)
        y_true = self.prepare(y_true, y_pred)
        values = self.reference_values(y_true, y_pred)
        mask = self.reference_mask(y_true, y_pred)
        return reduce_values(
            values, apply_mask(sample_weight, mask, self.reduction), self.reduction
        )

    def reference_grad(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """d(reduced loss)/d(y_pred), in numpy ('none' differentiates the sum).

        A custom loss has no numpy derivative: its gradient is the central difference
        ``(L(p + h·e_i) − L(p − h·e_i)) / 2h`` per entry, in float64 with
        ``h = 1e-5·max(1, |p_i|)`` (error ~1e-10 relative for smooth losses; the numpy
        reference has no autodiff). It costs two ``call``s per entry of ``y_pred``."""
        if self.is_custom:
            y64 = np.asarray(y_true)
            reduction = "sum" if self.reduction == "none" else self.reduction
            sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
            return central_difference(
                lambda q: float(
                    reduce_values(self._custom_values(y64, q, np.float64), sw, reduction)
                ),
                np.asarray(y_pred, np.float64),
            )
        y_true = self.prepare(y_true, y_pred)
        values = self.reference_values(y_true, y_pred)
        sample_weight = apply_mask(
            sample_weight, self.reference_mask(y_true, y_pred), self.reduction
        )
        w = (
            np.ones_like(values)
            if sample_weight is None
            else np.broadcast_to(_align_weight(sample_weight, values), values.shape).astype(
                values.dtype
            )
        )
        if self.reduction in ("sum_over_batch_size", "mean"):
            dl = w / values.size
        elif self.reduction == "mean_with_sample_weight":
            dl = w / w.sum() if w.sum() else np.zeros_like(w)  # divide_no_nan (Keras)
        else:
            dl = w
        return self.reference_values_grad(y_true, y_pred, dl)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The reduced loss ``reduce(w · l)`` (Keras's ``loss(y_true, y_pred, sample_weight)``).

        Evaluated where the tensors live: on torch or TensorFlow tensors (or inside a
        ``dl.ops`` native call, e.g. a custom layer's or loss's ``call``), by that backend,
        a native tensor that gradients flow through; on numpy arrays or lists, by the numpy
        reference, a numpy value (float64 for non-float predictions)."""
        self.require_call()
        from ..plugin._losses import native_loss, native_ops

        impl = native_ops(y_true, y_pred, sample_weight)
        if impl is not None:
            return native_loss(self, impl, y_true, y_pred, sample_weight)
        p = np.asarray(y_pred)
        return self.reference(
            np.asarray(y_true),
            p if p.dtype.kind == "f" else p.astype(np.float64),
            None if sample_weight is None else np.asarray(sample_weight),
        )

    def get_config(self) -> dict[str, Any]:
        """Keras's ``{"name", "reduction"}`` (and ``dtype`` when one was given)."""
        cfg: dict[str, Any] = {"reduction": self.reduction, "name": self.name}
        if self.dtype is not None:
            cfg["dtype"] = self.dtype
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


def check_returned(loss: Loss, values: Any) -> None:
    """Raise unless a custom ``call`` returned something numeric (the backends convert it)."""
    if values is None or isinstance(values, (str, bytes, dict)):
        raise ShapeError(
            f"Loss {loss.name!r} ({type(loss).__name__}): call() returned "
            f"{type(values).__name__}. Expected: a tensor of per-sample values (shape "
            f"(batch,) or (batch, ...)) or a scalar. Received: {repr(values)[:80]}. Fix: "
            "return the values, e.g. return dl.ops.mean(dl.ops.square(y_true - y_pred), "
            "axis=-1)."
        )


def check_values(
    loss: Loss,
    values_shape: Sequence[int | None],
    weight_shape: Sequence[int | None] | None,
) -> None:
    """Raise a :class:`ShapeError` when sample weights cannot weight a custom loss's values.

    As :func:`reduce_values`, a weight's trailing axes of size 1 are dropped and missing
    trailing axes added, then the two must broadcast. A scalar loss takes any weights;
    unknown (``None``) sizes are not compared."""
    if weight_shape is None or len(values_shape) == 0:
        return
    vs, ws = tuple(values_shape), list(weight_shape)
    while len(ws) > len(vs) and ws[-1] == 1:
        ws.pop()
    ok = len(ws) <= len(vs) and all(
        a is None or b is None or a == b or a == 1 or b == 1
        for a, b in zip(vs, [*ws, *[1] * (len(vs) - len(ws))], strict=True)
    )
    if not ok:
        raise ShapeError(
            f"Loss {loss.name!r} ({type(loss).__name__}): call() returned values that the "
            "sample weights cannot weight. Expected: one value per sample, shape (batch,) or "
            "(batch, ...), whose leading axes match sample_weight's. Received: "
            f"values.shape={vs}, sample_weight.shape={tuple(weight_shape)}. Fix: keep the "
            "batch axis in call() and reduce only the last one, e.g. "
            "return dl.ops.mean(dl.ops.square(y_true - y_pred), axis=-1)."
        )


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """``df/dx`` by central differences, one entry at a time (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        v = flat[i]
        h = 1e-5 * max(1.0, abs(float(v)))
        flat[i] = v + h
        up, hi = f(x), flat[i]
        flat[i] = v - h
        down, lo = f(x), flat[i]
        flat[i] = v
        out[i] = (up - down) / (hi - lo)
    return grad


def init_parameters(loss: Loss) -> list[str]:
    """Named parameters of ``type(loss).__init__`` beyond the base class's (what a custom
    loss's ``get_config`` must return to be rebuilt from a file)."""
    try:
        params = inspect.signature(type(loss).__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return []
    skip = {"self", "reduction", "name", "dtype"}
    return [
        n
        for n, p in params.items()
        if n not in skip
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def check_serializable(loss: Loss, config: dict[str, Any]) -> None:
    """Refuse to write a custom loss config that would rebuild a different loss."""
    missing = [n for n in init_parameters(loss) if n not in config]
    if loss.is_custom and missing:
        raise SerializationError(
            f"Loss {loss.name!r} ({type(loss).__name__}) takes {missing} in __init__ but its "
            f"get_config() does not return them, so a saved model would reload it with other "
            f"values. Expected: get_config() holding {missing}. Received: keys "
            f"{sorted(config)}. Fix: define get_config(self) returning "
            f"{{**super().get_config(), {', '.join(repr(n) + ': ...' for n in missing)}}}."
        )


def _expand_rank_1(values: np.ndarray, w: Any) -> np.ndarray:
    """Keras's ``squeeze_or_expand_to_same_rank(values, w)`` (``expand_rank_1=True``):
    rank-1 values weighted by ``(B, 1)`` weights take the trailing 1 (``"none"`` returns
    ``(B, 1)``); other values unchanged (``_align_weight`` then fits ``w``)."""
    if values.ndim == 1 and np.ndim(w) == 2 and np.shape(w)[-1] == 1:
        return values[:, None]
    return values


def _align_weight(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=values.dtype)
    while w.ndim > values.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    while w.ndim < values.ndim:
        w = w[..., None]
    return w


def apply_mask(
    sample_weight: np.ndarray | None, mask: np.ndarray | None, reduction: str
) -> np.ndarray | None:
    """Keras's ``apply_mask`` (losses/loss.py): the mask folded into the sample weights,
    ``m·size(m)/Σm`` (0 when Σm = 0, divide_no_nan) for the mean reductions, ``m``
    otherwise, times the weights aligned to the mask's rank."""
    if mask is None:
        return sample_weight
    m = np.asarray(mask, np.float64)
    if reduction in ("sum_over_batch_size", "mean"):
        valid = m.sum()
        m = m * (m.size / valid if valid else 0.0)
    if sample_weight is None:
        return m
    m = _expand_rank_1(m, sample_weight)
    return _align_weight(sample_weight, m) * m


def reduce_values(
    values: np.ndarray, sample_weight: np.ndarray | None, reduction: str
) -> np.ndarray:
    """Apply sample weights and a Keras reduction (numpy)."""
    values = np.asarray(values)
    if sample_weight is not None:
        values = _expand_rank_1(values, sample_weight)
        w = _align_weight(sample_weight, values)
        shape = np.broadcast_shapes(values.shape, w.shape)
        w = np.broadcast_to(w, shape)
        values = np.broadcast_to(values, shape) * w
    else:
        w = np.ones_like(values)
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        return total / w.sum() if w.sum() else total * 0.0  # divide_no_nan (Keras)
    return total / values.size
