"""Calling a layer directly on arrays (``layer(x)``), as Keras allows outside a model."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers._input import Input
from ..layers._layer import Layer


def call_eager(layer: Layer, inputs: Any, training: bool = False, **_: Any) -> Any:
    """Run ``layer`` alone on the active backend and return numpy output(s)."""
    from ._model import Model

    many = isinstance(inputs, (list, tuple))
    arrays = [np.asarray(a) for a in (inputs if many else [inputs])]
    syms = [
        Input(a.shape[1:], dtype=layer.dtype if a.dtype.kind == "f" else str(a.dtype))
        for a in arrays
    ]
    out = layer(syms if many else syms[0])
    model = Model(syms, out)
    # a call on arrays is no symbolic call: forget its node (Keras: layer.input stays unset)
    node = (out[0] if isinstance(out, list) else out).node
    layer._inbound_nodes = [n for n in layer._inbound_nodes if n is not node]
    runtime = model._get_runtime()
    noise = model._draw_noise(len(arrays[0]), fresh=True) if training else None
    res = runtime.forward(model._cast_x(arrays), training, noise)
    return res if isinstance(out, list) else res[0]
