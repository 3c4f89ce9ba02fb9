"""How a ``dl.ops`` call finds its implementation, and how layer weights reach it.

An op dispatches once: to the implementation bound in this context (the backend of the model
whose runtime is calling a custom layer, or the numpy reference), else to the active backend
(``dl.use_backend`` / ``dl.set_backend``). A call on symbolic tensors records an ``OpLayer``
node in the functional graph instead of computing.

While a runtime calls a custom layer, each of the layer's :class:`~duallearn.layers.Weight`
objects is bound to the native variable that holds its value, so ``self.kernel`` used in
``call`` is the native tensor (see :func:`native_call`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import BackendError

_impl: contextvars.ContextVar[Any] = contextvars.ContextVar("duallearn_ops_impl", default=None)
_bindings: contextvars.ContextVar[Mapping[int, Any] | None] = contextvars.ContextVar(
    "duallearn_ops_bindings", default=None
)
_submodules: contextvars.ContextVar[Mapping[int, Any] | None] = contextvars.ContextVar(
    "duallearn_ops_submodules", default=None
)
_training: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "duallearn_ops_training", default=False
)
_backend_ops: dict[str, Any] = {}


@contextlib.contextmanager
def native_call(
    impl: Any,
    bindings: Mapping[int, Any] | None = None,
    submodules: Mapping[int, Any] | None = None,
    training: bool = False,
) -> Iterator[None]:
    """Run ops on ``impl`` (a backend's ops module) with weights bound to native tensors.

    ``bindings`` maps ``id(weight)`` to the native variable holding it; ``submodules`` maps
    ``id(sublayer)`` to the native module that runs a layer called inside ``call``. Backends
    call this around ``layer.call``; it is part of the plugin contract.
    """
    t1 = _impl.set(impl)
    t2 = _bindings.set(bindings)
    t3 = _submodules.set(submodules)
    t4 = _training.set(bool(training))
    try:
        yield
    finally:
        _training.reset(t4)
        _submodules.reset(t3)
        _bindings.reset(t2)
        _impl.reset(t1)


def call_sublayer(layer: Any, inputs: Any, kwargs: Mapping[str, Any]) -> Any:
    """``layer(inputs)`` inside another layer's ``call`` (numpy reference or native)."""
    training = kwargs.get("training")
    training = _training.get() if training is None else bool(training)
    if getattr(_impl.get(), "NAME", "") == "numpy":
        from ..layers._custom import numpy_sublayer

        return numpy_sublayer(layer, inputs, training)
    subs = _submodules.get()
    if subs is None:  # a custom train step, not a layer's call()
        raise BackendError(
            f"Layer {layer.name!r} was called directly inside a custom train/test/predict "
            "step. Expected: model calls there (layers run as part of a model's native "
            "graph). Fix: call the model (self(x)) or a sub-model holding the layer, e.g. "
            "dl.Sequential([layer])."
        )
    mod = subs.get(id(layer))
    if mod is None:
        raise BackendError(
            f"Layer {layer.name!r} was called inside another layer's call() but is not one of "
            "that layer's attributes. Fix: create sublayers in __init__ and assign them to "
            "attributes (self.dense = dl.layers.Dense(...))."
        )
    return mod.forward(inputs, training)


def bound(weight: Any) -> Any:
    """The native tensor bound to ``weight`` in this call, or its numpy value outside one."""
    b = _bindings.get()
    if b is not None:
        t = b.get(id(weight))
        if t is not None:
            return t
    impl = _impl.get()
    if impl is None or getattr(impl, "NAME", "") == "numpy":
        return weight.numpy()
    native = getattr(weight, "binding", None)
    if native is not None and native.backend == getattr(impl, "NAME", ""):
        return native.native  # a custom train step: the variable's own storage
    raise BackendError(
        f"Weight {weight.name!r} is not a weight of the layer being called, so it has no "
        "native tensor here. Fix: create weights with self.add_weight in build() of the layer "
        "whose call() uses them."
    )


def numpy_value(weight: Any) -> Any:
    """A variable's value in a numpy run: the array bound for this call when one is (a
    reference forward with given weights), else its current value (canonical layout)."""
    b = _bindings.get()
    if b is not None:
        a = b.get(id(weight))
        if a is not None:
            return a
    return weight.numpy()


def current() -> Any:
    """The ops implementation for a call made now."""
    impl = _impl.get()
    if impl is not None:
        return impl
    from ..plugin import backend_name, get_backend

    name = backend_name()
    mod = _backend_ops.get(name)
    if mod is None:
        backend = get_backend(name)
        mod = getattr(backend, "ops", None)
        if mod is None:
            raise BackendError(
                f"Backend {name!r} does not implement dl.ops (its Backend has no `ops` "
                "module). Fix: use the torch or tensorflow backend."
            )
        _backend_ops[name] = mod
    return mod


def in_native_call() -> bool:
    return _impl.get() is not None
