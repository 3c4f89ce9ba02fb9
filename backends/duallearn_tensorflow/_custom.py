"""User code on TensorFlow: the ``__ops__`` fallback (custom layers written with ``dl.ops``),
models nested as layers (both written once in ``duallearn.plugin``), and ``TFModule`` (a
native module as a layer)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from duallearn.plugin import NestedModelLayer, OpsLayer

from . import _ops
from ._layers import DTYPES, TFLayer, bind, implements


@implements("__ops__")
class TFOpsLayer(OpsLayer, TFLayer):
    """Runs ``layer.call`` on tf tensors, traced once per ``tf.function``
    (``duallearn.plugin.OpsLayer``); ``dl_vars``, a tracked list, holds the own weights."""

    ops = _ops

    def __init__(self, layer: Any) -> None:
        tf.Module.__init__(self, name=None)
        self._init_ops(layer)

    def _track_own(self, k: int, w: Any, native: Any) -> None:
        pass


@implements("Model")
class TFNestedModel(NestedModelLayer, TFLayer):
    """A model used as a layer (``duallearn.plugin.NestedModelLayer``): a sub-``Net``."""

    def __init__(self, layer: Any) -> None:
        from ._runtime import Net

        tf.Module.__init__(self, name=None)
        self._init_nested(layer, Net(layer.graph.spec(layer._dtype())))

    def _split_noise(self, noise: Any, sizes: list[int], shapes: list[Any]) -> list[Any]:
        pieces = tf.split(noise, sizes, axis=1)
        return [tf.reshape(p, [-1, *s]) for p, s in zip(pieces, shapes, strict=True)]


@implements("TFModule")
class TFNativeModule(TFLayer):
    """The user's ``tf.Module`` (or callable) itself; its variables are the layer's weights
    (trainable ones first, as the front-end's ``TFModule.weights``)."""

    def __init__(self, layer: Any) -> None:
        tf.Module.__init__(self, name=None)
        self.spec = layer
        self.dtype = DTYPES.get(layer.dtype, tf.float32)
        self.module = layer.module
        train, rest = layer._variables()
        # the module's own variables are the layer's storage (created in this order)
        for w, v in zip(layer._weights, train + rest, strict=True):
            bind(w, existing=v)
        self.dl_vars = [w.native_for("tensorflow") for w in layer.weights]

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return self.module(x)
