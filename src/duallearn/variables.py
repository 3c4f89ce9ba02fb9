"""``Variable``: one weight, owned by its layer, stored once per backend (Keras 3's
``KerasVariable``).

A variable is created by :meth:`Layer.add_weight` with its initial value drawn by numpy from
the seeded stream (the front-end owns randomness). Until a backend builds the layer it holds
that value as a numpy array in the canonical layout. The first native module built for the
layer *binds* the variable to one native storage (a ``torch.nn.Parameter``, a
``tf.Variable``); from then on that storage is the only copy, and every model, runtime and
eager call containing the layer uses it directly. So a layer shared by two models, a layer
called on arrays and then put in a model, a nested model and its parent all read and train
the same values, with nothing to keep in sync.

``value`` is the native tensor once bound (a numpy array before); ``numpy()`` is always the
canonical layout (a backend may keep another layout natively, e.g. torch's conv kernels:
the binding converts). A variable bound on one backend cannot be used by a model of another
backend (a clear error with the fix); ``load_model(path, backend=...)`` or ``clone_model``
give a copy for the other engine.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import initializers as _init
from .errors import BackendError, SerializationError, ShapeError
from .ops._operators import TensorOperators


@dataclass
class Binding:
    """A variable's native storage on one backend, and its layout conversion.

    ``read()`` returns the value in the canonical layout (a fresh numpy array);
    ``write(a)`` stores a canonical-layout array into the native storage in place.
    ``to_native`` / ``to_canonical`` convert arrays of the variable's shape (optimizer slots
    use them too)."""

    backend: str
    native: Any
    read: Callable[[], np.ndarray]
    write: Callable[[np.ndarray], None]
    to_native: Callable[[np.ndarray], np.ndarray]
    to_canonical: Callable[[np.ndarray], np.ndarray]
    # the native layout is the canonical one (``assign*`` inside a native call then updates
    # the storage with native ops: no host copy, and in-graph on TensorFlow)
    same_layout: bool = False


# ---- allocation guard (loading files) --------------------------------------------------------
# While a file's config is turned into layers, every variable the layers create is charged to
# a budget equal to the tensor bytes the file really holds, *before* its value is drawn: a
# config declaring Dense(units=10**9) fails here instead of allocating gigabytes.
_BUDGET: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "duallearn_variable_budget", default=None
)


@contextlib.contextmanager
def allocation_budget(nbytes: int) -> Iterator[None]:
    """Within the block, creating variables of more than ``nbytes`` in all raises a
    :class:`SerializationError` before anything is allocated."""
    token = _BUDGET.set([nbytes, nbytes])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _itemsize(dtype: str) -> int:
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 2 if "16" in str(dtype) else 8


def _charge(name: str, shape: tuple[int, ...], dtype: str) -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    if any(d < 0 for d in shape):
        raise SerializationError(f"weight {name!r} has a negative dimension {list(shape)}")
    budget[0] -= math.prod(shape) * _itemsize(dtype)
    if budget[0] < 0:
        raise SerializationError(
            f"weight {name!r} {shape} takes the config past the {budget[1]} bytes of weights "
            "the file holds; the config is inconsistent with its weights (nothing was "
            "allocated for it)"
        )


_DETACHED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "duallearn_detached_build", default=False
)


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Native modules built in this block get storage of their own, initialised with the
    variables' current values and not bound to them (exporters use it: an export artifact
    must not share, or flip flags on, the storage that models train)."""
    token = _DETACHED.set(True)
    try:
        yield
    finally:
        _DETACHED.reset(token)


def _host_array(value: Any) -> np.ndarray:
    """A value given to ``Variable.assign*`` as numpy: a Variable's value, a torch tensor
    (detached from autograd, copied to the host), a TensorFlow tensor, or an array-like."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Variable):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        t = value.detach().cpu()
        try:
            return np.asarray(t.numpy())
        except TypeError:  # bfloat16: no numpy dtype
            return np.asarray(t.float().numpy())
    if callable(getattr(value, "numpy", None)):  # tf.Tensor, tf.Variable (eager)
        return np.asarray(value.numpy())
    return np.asarray(value)


class Variable(TensorOperators):
    """One weight: ``name``, ``path`` (``"<layer name>/<name>"``, Keras 3's), ``shape``,
    ``dtype``, ``trainable``, ``initializer``, ``regularizer`` and ``constraint`` (Keras 3's;
    None unless set), and its value.

    Inside a custom layer's ``call`` run by a model, a Variable stands for its native
    storage: ``dl.ops`` functions and Python operators (``x @ w + b``) accept it.
    """

    def __init__(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: str,
        initializer: _init.Initializer,
        trainable: bool,
        owner: Any = None,
    ) -> None:
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        _charge(name, self.shape, dtype)
        self.initializer = initializer
        self.trainable = bool(trainable)
        self._owner = owner  # the layer that created it (for the path)
        self._array: np.ndarray = initializer(self.shape, dtype)
        self._binding: Binding | None = None
        # Keras 3's ``variable.regularizer`` (its penalty joins the training loss while it
        # trains; dl.regularizers) and ``variable.constraint`` (applied after each optimizer
        # update: ``v ← constraint(v)``, canonical layout; dl.constraints). None: neither.
        self.regularizer: Any = None
        self.constraint: Any = None

    # ---- identity -----------------------------------------------------------------------
    @property
    def path(self) -> str:
        """``"<layer name>/<variable name>"`` (Keras 3's ``Variable.path``): the key of
        optimizer slots and checkpoints."""
        return self.name if self._owner is None else f"{self._owner.name}/{self.name}"

    @property
    def backend(self) -> str | None:
        """The backend holding this variable's storage (None: not built on any yet)."""
        return None if self._binding is None else self._binding.backend

    @property
    def binding(self) -> Binding | None:
        return self._binding

    def native_for(self, backend: str, user: str = "") -> Any:
        """The native storage on ``backend``, or None when not bound yet. Raises a
        :class:`BackendError` when the variable lives on another backend."""
        b = self._binding
        if b is None or _DETACHED.get():
            return None
        if b.backend != backend:
            owner = "" if self._owner is None else f"of layer {self._owner.name!r} "
            raise BackendError(
                f"Variable {self.path!r} {owner}lives on the {b.backend} backend (its layer "
                f"was built there){user}; a {backend} model cannot use it. A layer's "
                "variables are one storage shared by every model that contains the layer, so "
                f"they belong to one engine. Fix: build this model with backend={b.backend!r}, "
                "or use a copy for the other engine: dl.models.clone_model(model) under "
                f"dl.use_backend({backend!r}) then set_weights(model.get_weights()), or "
                f"dl.load_model(path, backend={backend!r})."
            )
        return b.native

    def bind(self, binding: Binding) -> None:
        """Attach native storage (called by a backend's native layer). The current value is
        written into it, so values set before the first build are kept."""
        if _DETACHED.get():
            binding.write(self.numpy())  # a private copy (see detached())
            return
        if self._binding is not None:
            raise BackendError(f"Variable {self.path!r} is already bound ({self.backend}).")
        binding.write(self._array)
        self._binding = binding
        self._array = np.empty(0)  # the native storage is the one copy from now on

    # ---- value --------------------------------------------------------------------------
    @property
    def value(self) -> Any:
        """The native tensor once bound (Keras 3's ``variable.value``), else the numpy
        array in the canonical layout."""
        return self._array if self._binding is None else self._binding.native

    def numpy(self) -> np.ndarray:
        """The current value, canonical layout, as a new numpy array."""
        return self._array.copy() if self._binding is None else self._binding.read()

    def assign(self, value: Any) -> Variable:
        """Set the value (canonical layout, same shape) in place, on every model that uses
        it; returns the variable."""
        if not isinstance(value, np.ndarray) and self._native_update(value, "assign"):
            return self
        arr = _host_array(value)
        if arr.shape != self.shape:
            raise ShapeError(
                f"Variable {self.path!r} has shape {self.shape}. Received a value of shape "
                f"{arr.shape}. Fix: assign an array of the variable's shape (canonical, "
                "Keras, layout)."
            )
        arr = np.array(arr, dtype=self.dtype)
        if self._binding is None:
            self._array = arr
        else:
            self._binding.write(arr)
        return self

    def assign_add(self, value: Any) -> Variable:
        """``assign(value + delta)``; ``delta`` as :meth:`assign` takes it."""
        if self._native_update(value, "add"):
            return self
        return self.assign(self.numpy() + _host_array(value))

    def assign_sub(self, value: Any) -> Variable:
        """``assign(value − delta)``; ``delta`` as :meth:`assign` takes it."""
        if self._native_update(value, "sub"):
            return self
        return self.assign(self.numpy() - _host_array(value))

    def _native_update(self, value: Any, mode: str) -> bool:
        """Inside a native call on this variable's backend (a custom layer's ``call``, a
        custom train step), update the native storage with the backend's ops: the value
        stays on the device, and a traced TensorFlow step records the update (Keras's
        ``self.total.assign_add(...)`` in ``call``). False when that does not apply."""
        from .ops import _dispatch

        b, impl = self._binding, _dispatch._impl.get()
        if b is None or impl is None or getattr(impl, "NAME", "") != b.backend:
            return False
        update = getattr(impl, "assign_variable", None)
        if update is None or not b.same_layout or _DETACHED.get():
            return False
        shape = tuple(impl.shape(value)) if not isinstance(value, (int, float)) else ()
        if all(isinstance(d, int) for d in shape) and shape not in ((), self.shape):
            raise ShapeError(
                f"Variable {self.path!r} has shape {self.shape}. Received a value of shape "
                f"{shape}. Fix: assign a value of the variable's shape (or a scalar)."
            )
        update(b.native, value, mode)
        return True

    def __float__(self) -> float:
        a = self.numpy()
        return float(a.item()) if a.size == 1 else float(a)

    def __int__(self) -> int:
        a = self.numpy()
        return int(a.item()) if a.size == 1 else int(a)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(variable)``: the value (canonical layout). Refused (``TypeError``)
        inside a model's native call, so that a framework's operator (``tf_tensor @ w``)
        falls back to the variable's own, which uses the native storage and keeps the
        gradient, instead of freezing the value into a constant."""
        from .ops import _dispatch

        if _dispatch.in_native_call() and getattr(_dispatch.current(), "NAME", "") != "numpy":
            raise TypeError(
                f"Variable {self.path!r} is not converted to numpy inside a native call "
                "(the gradient would be lost). Fix: use dl.ops on it, or variable.numpy()."
            )
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        where = "" if self._binding is None else f" backend={self._binding.backend}"
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype}{where}>"

    # ---- native gradient tapes ------------------------------------------------------------
    # ``tf.GradientTape.gradient(loss, model.trainable_variables)`` (the native style of a
    # custom train step) differentiates a source through its resource handle, as it does
    # for Keras's own variables: a bound variable gives its ``tf.Variable``'s handle.
    _should_act_as_resource_variable = True

    @property
    def handle(self) -> Any:
        """The resource handle of the native ``tf.Variable`` (TensorFlow-bound only)."""
        native = self.value
        if not hasattr(native, "handle"):
            raise BackendError(
                f"Variable {self.path!r} has no TensorFlow handle: it is "
                f"{'not built yet' if self._binding is None else 'on ' + self._binding.backend}."
                " A tf.GradientTape differentiates TensorFlow-bound variables only. Fix: "
                "build the model with backend='tensorflow', or use dl.GradientTape."
            )
        return native.handle
