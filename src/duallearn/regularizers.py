"""Regularizers (Keras 3's ``keras.regularizers``): penalties added to the training loss.

A regularizer is a callable ``penalty = regularizer(x)`` on one tensor, returning a scalar.
The built-in ones are written with :mod:`duallearn.ops`, so the same object runs natively
inside a torch or TensorFlow train step (gradients flow through it) and on numpy::

    L1(l1)                 penalty = l1 · Σ |x|
    L2(l2)                 penalty = l2 · Σ x²            (no 1/2, as Keras)
    L1L2(l1, l2)           penalty = l1 · Σ |x| + l2 · Σ x²
    OrthogonalRegularizer  penalty = factor · ½ · Σ_{i≠j} |n_i · n_j| / (k(k−1)/2)
                           n_i the L2-normalized rows (mode="rows") or columns
                           (mode="columns") of a rank-2 x, k their number

Where a penalty goes (Keras 3, docs/regularizers.md): a layer's ``kernel_regularizer`` (and
``bias_``, ``recurrent_``, ``embeddings_``, ``gamma_``/``beta_``, ``depthwise_``/
``pointwise_`` ones) is kept on the weight (``variable.regularizer``) and its penalty on the
weight's current value joins the loss of every train and test step while the weight
trains; ``activity_regularizer`` penalizes the layer's output, divided by the batch size.

Names: ``"l1"``, ``"l2"``, ``"l1l2"`` / ``"L1L2"`` (Keras 3: ``L1L2()``, both factors 0),
``"l1_l2"`` (``L1L2(l1=0.01, l2=0.01)``, the defaults Keras documents for that name),
``"orthogonal_regularizer"`` and the class names. Any callable ``f(x) -> scalar`` written
with ``dl.ops`` works as a regularizer too (it cannot be saved in a config).

>>> import numpy as np, duallearn as dl
>>> with dl.ops.numpy_mode():
...     float(dl.regularizers.L2(2.0)(np.ones((5, 5))))
50.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import ops
from ._catalog import Catalog
from ._registry import Registry
from .errors import ConfigError, ShapeError

REGISTRY = Registry("regularizer")


def _factor(cls: str, name: str, value: object) -> float:
    """Keras's ``validate_float_arg``: a finite, non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
        or float(value) < 0
    ):
        raise ConfigError(
            f"{cls}: {name} must be a finite, non-negative number. Received: "
            f"{name}={value!r}. Fix: pass e.g. {name}=0.01 (0 disables the penalty)."
        )
    return float(value)


class Regularizer:
    """Base class: ``__call__(x)`` returns a scalar penalty (0 here); subclasses give their
    formula, ``get_config()`` (JSON-serializable constructor arguments) and, to run on the
    numpy reference backend, ``reference_grad(x)`` (d penalty / dx in numpy)."""

    def __call__(self, x: Any) -> Any:
        return 0.0

    def reference_grad(self, x: np.ndarray) -> np.ndarray:
        """The gradient of the penalty with respect to ``x`` (numpy, float64)."""
        raise NotImplementedError(f"{type(self).__name__} has no numpy gradient (reference_grad)")

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


@REGISTRY.register("L1L2", "l1l2")
class L1L2(Regularizer):
    """``penalty = l1 · Σ |x| + l2 · Σ x²`` (a zero factor drops its term; both zero: 0).

    ``l1``, ``l2``: non-negative factors (default 0.0 each, Keras 3's defaults; the string
    ``"l1_l2"`` gives ``L1L2(l1=0.01, l2=0.01)``).
    """

    def __init__(self, l1: float | None = 0.0, l2: float | None = 0.0) -> None:
        self.l1 = _factor("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x: Any) -> Any:
        out: Any = None
        if self.l1 != 0.0:
            out = self.l1 * ops.sum(ops.abs(x))
        if self.l2 != 0.0:
            term = self.l2 * ops.sum(ops.square(x))
            out = term if out is None else out + term
        return ops.zeros((), dtype=ops.dtype(x)) if out is None else out

    def reference_grad(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return self.l1 * np.sign(x) + 2.0 * self.l2 * x

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


@REGISTRY.register("L1", "l1")
class L1(Regularizer):
    """``penalty = l1 · Σ |x|``; ``l1`` a non-negative factor (default 0.01)."""

    def __init__(self, l1: float | None = 0.01) -> None:
        self.l1 = _factor("L1", "l1", 0.01 if l1 is None else l1)

    def __call__(self, x: Any) -> Any:
        return self.l1 * ops.sum(ops.abs(x))

    def reference_grad(self, x: np.ndarray) -> np.ndarray:
        return self.l1 * np.sign(np.asarray(x, np.float64))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


@REGISTRY.register("L2", "l2")
class L2(Regularizer):
    """``penalty = l2 · Σ x²`` (no factor 1/2, as Keras; PyTorch's ``weight_decay=λ`` on
    plain SGD equals ``L2(λ / 2)`` here); ``l2`` a non-negative factor (default 0.01)."""

    def __init__(self, l2: float | None = 0.01) -> None:
        self.l2 = _factor("L2", "l2", 0.01 if l2 is None else l2)

    def __call__(self, x: Any) -> Any:
        return self.l2 * ops.sum(ops.square(x))

    def reference_grad(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * self.l2 * np.asarray(x, np.float64)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


ORTHOGONAL_EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest norm a row is divided by


def _off_diagonal(k: int) -> np.ndarray:
    """Flat indices of the off-diagonal entries of a k×k matrix."""
    return np.flatnonzero(~np.eye(k, dtype=bool))


@REGISTRY.register("OrthogonalRegularizer", "orthogonal_regularizer")
class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``mode="columns"``) of a rank-2 tensor
    towards orthogonality:

    ``n = x / max(‖x‖₂, 1e-7)`` row-wise (or column-wise), ``P = n nᵀ`` (or ``nᵀ n``), ``k``
    the number of rows (columns), ``penalty = factor · ½ · Σ_{i≠j} |P_ij| / (k(k−1)/2)``:
    ``factor`` times the mean absolute cosine between distinct rows (columns).

    ``factor``: non-negative (default 0.01). On a Dense kernel ``(in, units)``, rows mode
    makes the input features' weight vectors orthogonal.
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ConfigError(
                "OrthogonalRegularizer: mode must be 'rows' or 'columns'. Received: "
                f"mode={mode!r}. Fix: pass one of these strings."
            )
        self.mode = mode

    def __call__(self, x: Any) -> Any:
        shape = ops.shape(x)
        if len(shape) != 2:
            raise ShapeError(
                "OrthogonalRegularizer applies to rank-2 tensors (a Dense kernel). Received "
                f"a tensor of shape {tuple(shape)}. Fix: use it on rank-2 weights only."
            )
        rows = self.mode == "rows"
        n = ops.normalize(x, axis=1 if rows else 0, epsilon=ORTHOGONAL_EPSILON)
        product = ops.matmul(n, ops.transpose(n)) if rows else ops.matmul(ops.transpose(n), n)
        size = int(shape[0] if rows else shape[1])
        # the off-diagonal entries (Keras masks the diagonal with 1 - eye; a gather needs no
        # constant on the device)
        off = ops.take(ops.reshape(product, (size * size,)), _off_diagonal(size))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * ops.sum(ops.abs(off)) / pairs

    def reference_grad(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, np.float64)
        if a.ndim != 2:
            raise ShapeError(
                f"OrthogonalRegularizer applies to rank-2 tensors. Received shape {a.shape}."
            )
        m = a if self.mode == "rows" else a.T
        k = m.shape[0]
        sq = np.sum(m * m, axis=1, keepdims=True)
        r = np.sqrt(np.maximum(sq, ORTHOGONAL_EPSILON**2))
        n = m / r
        p = n @ n.T
        g = self.factor * 0.5 / (k * (k - 1.0) / 2.0) * np.sign(p) * (1.0 - np.eye(k))
        dn = (g + g.T) @ n
        # n = m / r with r = sqrt(max(Σ m², eps²)): the norm term only where it is not clipped
        dm = dn / r - np.where(
            sq > ORTHOGONAL_EPSILON**2, m * np.sum(dn * m, 1, keepdims=True) / r**3, 0.0
        )
        return dm if self.mode == "rows" else dm.T

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


# Keras 3's lowercase aliases of the classes
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer


_CATALOG = Catalog("regularizer", REGISTRY, Regularizer, "'l2'")


def serialize(regularizer: Any) -> dict[str, Any] | None:
    """``{"class_name", "config"}`` of a :class:`Regularizer` (None stays None; a plain
    callable has no config: SerializationError)."""
    return _CATALOG.serialize(regularizer)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """The regularizer a :func:`serialize` dict (or a Keras 3 one) describes."""
    return _CATALOG.deserialize(config, custom_objects)


def get(identifier: Any) -> Any:
    """A regularizer from a name, a config dict, a class, an instance or a callable
    ``f(x) -> scalar`` (None stays None)."""
    if isinstance(identifier, str) and identifier == "l1_l2":
        return L1L2(l1=0.01, l2=0.01)
    return _CATALOG.get(identifier)


def register(cls: type[Regularizer]) -> type[Regularizer]:
    """Register a custom :class:`Regularizer` subclass by its class name, so that configs
    naming it (layer configs, saved models) can be loaded."""
    _CATALOG.register(cls)
    return cls


__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "deserialize",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "orthogonal_regularizer",
    "register",
    "serialize",
]
