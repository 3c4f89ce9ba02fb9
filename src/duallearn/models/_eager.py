"""Calling a layer directly on arrays (``layer(x)``), as Keras allows outside a model."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers._input import CallArgs, Input
from ..layers._layer import Layer


def _is_array(v: Any) -> bool:
    """A call argument that is data (numpy or a native tensor), not a constant."""
    if isinstance(v, np.ndarray):
        return True
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, np.generic)


def call_eager(layer: Layer, inputs: Any, training: bool = False, **_: Any) -> Any:
    """Run ``layer`` alone on the active backend and return numpy output(s). ``inputs`` is
    one array, a list, or a ``CallArgs`` (``layer(a, b, key=c)``: every array in it becomes
    an input of the one-layer model)."""
    from ._model import Model

    arrays: list[np.ndarray] = []
    syms: list[Any] = []

    def to_input(a: Any) -> Any:
        arr = np.asarray(a)
        arrays.append(arr)
        syms.append(
            Input(arr.shape[1:], dtype=layer.dtype if arr.dtype.kind == "f" else str(arr.dtype))
        )
        return syms[-1]

    if isinstance(inputs, CallArgs):
        call = inputs.map(to_input, _is_array)
        if not syms:
            raise ConfigError(
                f"Layer {layer.name!r} was called without any tensor argument. Expected: at "
                "least one array or tensor (the data). Fix: pass the data, e.g. layer(x)."
            )
        out = layer(*call.args, **call.kwargs)
    else:
        many = isinstance(inputs, (list, tuple))
        for a in inputs if many else [inputs]:
            to_input(a)
        out = layer(syms if many else syms[0])
    model = Model(syms, out)
    # a call on arrays is no symbolic call: forget its node (Keras: layer.input stays unset)
    node = (out[0] if isinstance(out, list) else out).node
    layer._inbound_nodes = [n for n in layer._inbound_nodes if n is not node]
    runtime = model._get_runtime()
    noise = model._draw_noise(len(arrays[0]), fresh=True) if training else None
    res = runtime.forward(model._cast_x(arrays), training, noise)
    return res if isinstance(out, list) else res[0]
