"""The native-layer contract for TensorFlow: one ``TFLayer`` per front-end layer.

Mirrors ``duallearn_torch/_layers.py``: weights as ``tf.Variable`` in canonical order,
``to_native``/``to_canonical`` layout conversion, ``forward(x, training, noise)`` in tf ops.
Every constant is built in the input's dtype (``tf.constant(v, dtype=x.dtype)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from duallearn.plugin import NativeLayer, NativeRegistry, dtype_table, variable_binder

DTYPES = dtype_table(tf)


def _variable(value: np.ndarray, variable: Any) -> tf.Variable:
    dtype = DTYPES.get(variable.dtype, tf.as_dtype(value.dtype))
    return tf.Variable(value, dtype=dtype, trainable=variable.trainable, name=variable.name)


def _assign(v: tf.Variable, a: np.ndarray) -> None:
    v.assign(a.astype(v.dtype.as_numpy_dtype, copy=False))


# The ``tf.Variable`` of a front-end variable (``duallearn.plugin.bind_variable``), created
# under the caller's device scope. Which variables train is the runtime's choice at compile,
# not ``tf.Variable``'s flag.
bind = variable_binder("tensorflow", _variable, lambda v: v.numpy(), _assign)


REGISTRY: NativeRegistry[TFLayer] = NativeRegistry("tensorflow", DTYPES, bind)
implements = REGISTRY.implements
native_layer = REGISTRY.native_layer


class TFLayer(NativeLayer, tf.Module):
    """Base class of native TensorFlow layers: a ``tf.Module`` whose weights are tracked
    attributes, traced by the runtime's ``tf.function`` (the contract:
    ``duallearn.plugin.NativeLayer``)."""

    registry = REGISTRY
    # fast-mode randomness (_rng.py): the runtime's seed and this layer's key in it
    rng: Any = None
    rng_id: int = 0

    def __init__(self, layer: Any) -> None:
        super().__init__(name=None)
        self._init_native(layer)

    def _track(self, name: str, native: Any) -> None:
        setattr(self, name, native)


# the image preprocessing family registers here (it needs the base class above)
from . import _preprocessing as _preprocessing  # noqa: E402
