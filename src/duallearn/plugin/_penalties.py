"""Regularization penalties and weight constraints in native ops, written once for every
backend (Keras 3 semantics; the formulas are in ``duallearn.regularizers`` and
``duallearn.constraints``).

* :func:`activity`: a layer's ``activity_regularizer`` on each of its outputs, divided by the
  batch size, recorded as an added loss of the forward being run (the graph walk calls it).
* :func:`weight_penalties`: ``regularizer(w)`` of each trained variable that has one, on its
  native storage seen in the canonical layout (gradients flow to the storage).
* :func:`constrained`: ``constraint(w)`` of each trained variable that has one, converted
  back to the native layout (the optimizers assign it after each update).

A regularizer or constraint reads the canonical (Keras) layout, whatever layout a backend
keeps natively (torch conv kernels are stored transposed): :class:`Layout` converts in native
ops, a transpose where the native layout is one, a gather otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendError
from ..layers._add_loss import collecting, record
from ..ops import native_call
from ._registry import get_backend

_OPS: dict[str, Any] = {}


def backend_ops(name: str) -> Any:
    """The ``dl.ops`` implementation of backend ``name``."""
    ops = _OPS.get(name)
    if ops is None:
        ops = _OPS[name] = get_backend(name).ops
    return ops


# ---- activity regularization ----------------------------------------------------------------
def activity(module: Any, outputs: Any) -> None:
    """Record ``activity_regularizer(y) / batch`` for each output ``y`` of native layer
    ``module`` (Keras 3: a rank-0 output is not divided) in the open loss collection."""
    layer = module.spec
    reg = getattr(layer, "activity_regularizer", None)
    if reg is None or not collecting():
        return
    ops = backend_ops(module.registry.backend)
    with native_call(ops):
        for y in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            loss = reg(y)
            shape = ops.shape(y)
            if len(shape) > 0:
                loss = loss / _batch_size(ops, y, shape, loss)
            record(layer, loss)


def _batch_size(ops: Any, y: Any, shape: Sequence[Any], loss: Any) -> Any:
    """``y``'s batch size in ``loss``'s dtype (at least 1: Keras's ``divide_no_nan`` on an
    empty batch, whose penalty is 0 anyway); computed natively when the trace leaves the
    batch dimension open (``ops.shape`` then gives None or a tensor)."""
    if isinstance(shape[0], (int, np.integer)):
        return float(max(int(shape[0]), 1))
    first = ops.getitem(y, (slice(None),) + (0,) * (len(shape) - 1))
    n = ops.sum(ops.ones_like(first, dtype=ops.dtype(loss)))
    return ops.maximum(n, 1.0)


# ---- layouts ----------------------------------------------------------------------------------
class Layout:
    """How ``variable``'s native storage maps to its canonical layout, as native ops:
    ``canonical(t)`` and ``native(t)`` (identity, a transpose, or a gather)."""

    def __init__(self, variable: Any) -> None:
        self.shape = tuple(variable.shape)
        self.kind = "same"
        binding = variable.binding
        if binding is None:
            return
        n = math.prod(self.shape)
        ids = np.arange(n, dtype=np.float64).reshape(self.shape)
        nat = np.asarray(binding.to_native(ids))  # element k: the canonical index it holds
        back = np.asarray(binding.to_canonical(nat))
        flat = np.rint(nat).astype(np.int64).reshape(-1)
        if (
            nat.size != n
            or back.shape != self.shape
            or not np.array_equal(back, ids)
            or not np.array_equal(np.sort(flat), np.arange(n))
        ):
            raise BackendError(
                f"Variable {variable.path!r}: its {binding.backend} storage layout is not a "
                "rearrangement of the canonical one, so a regularizer or constraint cannot "
                "see its canonical (Keras) layout. Expected: a layout that permutes elements. "
                "Fix: remove the regularizer/constraint from this weight, or report the layer."
            )
        self.native_shape = tuple(nat.shape)
        if nat.shape == self.shape and np.array_equal(nat, ids):
            return
        perm = _transpose_of(ids, nat)
        if perm is not None:  # native = transpose(canonical, perm)
            self.kind = "transpose"
            self.to_native_perm = perm
            self.to_canonical_perm = [int(i) for i in np.argsort(perm)]
            return
        self.kind = "gather"
        self.gather_native = flat  # native.flat[k] = canonical.flat[flat[k]]
        inverse = np.empty(n, dtype=np.int64)
        inverse[flat] = np.arange(n)
        self.gather_canonical = inverse  # canonical.flat[j] = native.flat[inverse[j]]

    def canonical(self, ops: Any, t: Any) -> Any:
        if self.kind == "same":
            return t
        if self.kind == "transpose":
            return ops.transpose(t, self.to_canonical_perm)
        return ops.reshape(ops.take(t, self.gather_canonical), self.shape)

    def native(self, ops: Any, t: Any) -> Any:
        if self.kind == "same":
            return t
        if self.kind == "transpose":
            return ops.transpose(t, self.to_native_perm)
        return ops.reshape(ops.take(t, self.gather_native), self.native_shape)


def _transpose_of(ids: np.ndarray, nat: np.ndarray) -> list[int] | None:
    """``perm`` with ``nat == ids.transpose(perm)``, if there is one."""
    if nat.ndim != ids.ndim or nat.size == 0:
        return None
    strides = [s // ids.itemsize for s in ids.strides]
    origin = np.zeros(nat.ndim, dtype=int)
    perm: list[int] = []
    for k in range(nat.ndim):
        if nat.shape[k] == 1:
            step = None
        else:
            e = origin.copy()
            e[k] = 1
            step = int(round(nat[tuple(e)] - nat[tuple(origin)]))
        cands = [
            a
            for a in range(ids.ndim)
            if a not in perm
            and ids.shape[a] == nat.shape[k]
            and (step is None or strides[a] == step)
        ]
        if not cands:
            return None
        perm.append(cands[0])
    return perm if np.array_equal(ids.transpose(perm), nat) else None


def _plan(holder: Any, variables: Sequence[Any], attr: str) -> list[tuple[int, Layout]]:
    """``(index, layout)`` of the variables that have ``attr`` set, cached on ``holder`` for
    this variable list (rebuilt when the list or the options change)."""
    key = (
        attr,
        tuple(id(v) for v in variables),
        tuple(id(getattr(v, attr, None)) for v in variables),
    )
    cache = holder.__dict__.get("_dl_penalty_plans")
    if cache is None:
        cache = holder.__dict__["_dl_penalty_plans"] = {}
    plan = cache.get(attr)
    if plan is None or plan[0] != key:
        entries = [
            (i, Layout(v)) for i, v in enumerate(variables) if getattr(v, attr, None) is not None
        ]
        plan = cache[attr] = (key, entries)
    return plan[1]  # type: ignore[no-any-return]


# ---- weight penalties and constraints ----------------------------------------------------------
def weight_penalties(
    holder: Any, variables: Sequence[Any], params: Sequence[Any], ops: Any
) -> list[Any]:
    """``variable.regularizer(canonical value)`` of each of ``variables`` that has one, in
    native ops on its storage ``params[i]`` (differentiable)."""
    plan = _plan(holder, variables, "regularizer")
    if not plan:
        return []
    with native_call(ops):
        return [variables[i].regularizer(lay.canonical(ops, params[i])) for i, lay in plan]


def constrained(
    holder: Any, variables: Sequence[Any] | None, params: Sequence[Any], ops: Any
) -> list[tuple[int, Any]]:
    """``(i, new native value)``: ``variable.constraint(canonical value)`` for each of
    ``variables`` that has one, back in ``params[i]``'s native layout (Keras 3 assigns it
    after every optimizer ``apply``)."""
    if not variables:
        return []
    plan = _plan(holder, variables, "constraint")
    if not plan:
        return []
    out = []
    with native_call(ops):
        for i, lay in plan:
            value = variables[i].constraint(lay.canonical(ops, params[i]))
            out.append((i, lay.native(ops, ops.cast(value, ops.dtype(params[i])))))
    return out
