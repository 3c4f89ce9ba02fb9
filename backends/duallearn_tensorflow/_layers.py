"""The native-layer contract for TensorFlow: one ``TFLayer`` per front-end layer.

Mirrors ``duallearn_torch/_layers.py``: weights as ``tf.Variable`` in canonical order,
``to_native``/``to_canonical`` layout conversion, ``forward(x, training, noise)`` in tf ops.
Every constant is built in the input's dtype (``tf.constant(v, dtype=x.dtype)``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from duallearn.errors import BackendError
from duallearn.plugin import bind_variable

DTYPES = {
    "float16": tf.float16,
    "bfloat16": tf.bfloat16,
    "float32": tf.float32,
    "float64": tf.float64,
}
IMPLS: dict[str, type[TFLayer]] = {}


def implements(*names: str) -> Callable[[type[TFLayer]], type[TFLayer]]:
    def wrap(cls: type[TFLayer]) -> type[TFLayer]:
        for n in names:
            IMPLS[n] = cls
        return cls

    return wrap


class TFLayer(tf.Module):
    """Base class of native TensorFlow layers."""

    # fast-mode randomness (_rng.py): the runtime's seed and this layer's key in it
    rng: Any = None
    rng_id: int = 0

    def __init__(self, layer: Any) -> None:
        super().__init__(name=None)
        # Keras passes ``mask=`` only to layers whose call() takes it.
        self.takes_mask = "mask" in inspect.signature(self.forward).parameters
        self.spec = layer
        self.dtype = DTYPES[layer.dtype]
        self.dl_vars: list[tf.Variable] = []
        for i, w in enumerate(layer.weights):
            v = bind(
                w,
                lambda a, i=i: self.to_native(i, a),
                lambda a, i=i: self.to_canonical(i, a),
            )
            setattr(self, w.name.replace(".", "_"), v)
            self.dl_vars.append(v)

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        return value

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        return value

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The output's Keras mask: passed through by layers that support masking (the
        front-end's ``supports_masking``), dropped by the others."""
        return mask if self.spec.supports_masking else None

    def forward(self, x: Any, training: bool, noise: tf.Tensor | None = None) -> Any:
        raise NotImplementedError


def _variable(value: np.ndarray, variable: Any) -> tf.Variable:
    dtype = DTYPES.get(variable.dtype, tf.as_dtype(value.dtype))
    return tf.Variable(value, dtype=dtype, trainable=variable.trainable, name=variable.name)


def _assign(v: tf.Variable, a: np.ndarray) -> None:
    v.assign(a.astype(v.dtype.as_numpy_dtype, copy=False))


def bind(
    variable: Any, to_native: Any = None, to_canonical: Any = None, existing: Any = None
) -> Any:
    """The ``tf.Variable`` of front-end ``variable`` (``duallearn.plugin.bind_variable``),
    created under the caller's device scope. Which variables train is the runtime's choice
    at compile, not ``tf.Variable``'s flag."""
    conv = {} if to_native is None else {"to_native": to_native, "to_canonical": to_canonical}
    return bind_variable(
        variable,
        "tensorflow",
        lambda v: _variable(v, variable),
        lambda v: v.numpy(),
        _assign,
        existing=existing,
        **conv,
    )


def native_layer(layer: Any) -> TFLayer:
    call = getattr(type(layer), "call", None)
    user_call = call is not None and not call.__module__.startswith("duallearn.")
    for cls in type(layer).__mro__:
        if user_call and not hasattr(layer, "_set_graph"):
            break  # a user subclass overriding call(): run its code (models keep their graph)
        impl = IMPLS.get(cls.__name__)
        if impl is not None and cls.__module__.startswith("duallearn."):
            return impl(layer)
    fallback = IMPLS.get("__ops__")
    if fallback is not None:
        return fallback(layer)
    raise BackendError(
        f"The tensorflow backend has no implementation of layer {type(layer).__name__} "
        f"({layer.name!r}). Fix: use a built-in layer, or write call() with dl.ops."
    )
