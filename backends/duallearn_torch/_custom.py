"""User code on torch: the ``__ops__`` fallback (custom layers written with ``dl.ops``),
models nested as layers (both written once in ``duallearn.plugin``), and ``TorchModule``
(a native module as a layer)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from duallearn.plugin import NestedModelLayer, OpsLayer

from . import _ops
from ._layers import DTYPES, TorchLayer, bind, implements


@implements("__ops__")
class TorchOpsLayer(OpsLayer, TorchLayer):
    """Runs ``layer.call`` on torch tensors (``duallearn.plugin.OpsLayer``); own weights
    are this module's parameters, sublayers its child modules."""

    ops = _ops

    def __init__(self, layer: Any) -> None:
        nn.Module.__init__(self)
        self._init_ops(layer)

    def _children(self, mods: list[Any]) -> nn.ModuleList:
        return nn.ModuleList(mods)


@implements("Model")
class TorchNestedModel(NestedModelLayer, TorchLayer):
    """A model used as a layer (``duallearn.plugin.NestedModelLayer``): a sub-``Net``."""

    def __init__(self, layer: Any) -> None:
        from ._runtime import Net

        nn.Module.__init__(self)
        self._init_nested(layer, Net(layer.graph.spec(layer._dtype())))

    def _split_noise(self, noise: Any, sizes: list[int], shapes: list[Any]) -> list[Any]:
        pieces = torch.split(noise, sizes, dim=1)
        return [p.reshape(-1, *s) for p, s in zip(pieces, shapes, strict=True)]


@implements("TorchModule")
class TorchNativeModule(TorchLayer):
    """The user's ``nn.Module`` itself; its parameters and buffers are the layer's
    weights (same order as the front-end's ``TorchModule.weights``)."""

    def __init__(self, layer: Any) -> None:
        nn.Module.__init__(self)
        self.spec = layer
        self.dtype = DTYPES.get(layer.dtype, torch.float32)
        self.module = layer.module
        # the module's own tensors are the variables' storage, in the layer's weights
        # order (the front-end lists them: trainable parameters, frozen ones, buffers)
        native = dict(self.module.named_parameters())
        native.update(self.module.named_buffers())
        self.dl_vars = [bind(w, existing=native[w.name]) for w in layer.weights]

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        self.module.train(bool(training))
        return self.module(x)
