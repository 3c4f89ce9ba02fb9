"""User code on torch: the ``__ops__`` fallback (custom layers written with ``dl.ops``),
models nested as layers, and ``TorchModule`` (a native module as a layer)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from torch import nn

from duallearn.errors import BackendError
from duallearn.ops import native_call

from . import _ops
from ._layers import DTYPES, TorchLayer, bind, implements


def _call_kwargs(layer: Any) -> set[str]:
    try:
        params = inspect.signature(layer.call).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"training", "mask"}
    return {n for n in ("training", "mask") if n in params}


def _check_portable(layer: Any, name: str) -> None:
    own = getattr(layer, "native_backend", "")
    if own and own != name:
        raise BackendError(
            f"Layer {layer.name!r} ({type(layer).__name__}) wraps native {own} code and runs only "
            f"on the {own} backend; this model uses {name}. Fix: build the model with "
            f"backend={own!r}, or rewrite the layer with dl.ops to make it portable."
        )


@implements("__ops__")
class TorchOpsLayer(TorchLayer):
    """Runs ``layer.call`` on torch tensors: the layer's own weights are this module's
    parameters, bound to its ``Weight`` objects for the duration of the call; sublayers
    called in ``call`` run as native child modules (their weights follow, Keras's order)."""

    def __init__(self, layer: Any) -> None:
        from duallearn.layers._custom import tracked_sublayers

        from ._layers import native_layer

        _check_portable(layer, "torch")
        if not callable(getattr(layer, "call", None)):
            raise BackendError(
                f"The torch backend has no implementation of layer {type(layer).__name__} "
                f"({layer.name!r}) and it defines no call(). Fix: write call() with dl.ops."
            )
        nn.Module.__init__(self)
        self.spec = layer
        self.dtype = DTYPES.get(layer.dtype, torch.float32)
        self._kw = _call_kwargs(layer)
        own = layer._own_trainable() + layer._own_non_trainable()
        self._own = own
        self.dl_vars: list[torch.Tensor] = []
        for k, w in enumerate(own):
            p = bind(w)
            self.register_parameter(f"w{k}_{w.name}".replace(".", "_"), p)
            self.dl_vars.append(p)
        self._index: list[tuple[Any, int]] = [(None, i) for i in range(len(own))]
        subs = [s for s in tracked_sublayers(layer) if s.built]
        self.subs = nn.ModuleList([native_layer(s) for s in subs])
        self._sub_of = {id(s): m for s, m in zip(subs, self.subs, strict=True)}
        for m in self.subs:
            for i, v in enumerate(m.dl_vars):
                self._index.append((m, i))
                self.dl_vars.append(v)

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        m, i = self._index[index]
        return value if m is None else m.to_native(i, value)

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        m, i = self._index[index]
        return value if m is None else m.to_canonical(i, value)

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        layer = self.spec
        bindings = {id(w): v for w, v in zip(self._own, self.dl_vars, strict=False)}
        kwargs: dict[str, Any] = {}
        if "training" in self._kw:
            kwargs["training"] = training
        if mask is not None and "mask" in self._kw:
            kwargs["mask"] = mask
        with native_call(_ops, bindings, self._sub_of, training):
            out = layer.call(x, **kwargs)
        return list(out) if isinstance(out, tuple) else out


@implements("Model")
class TorchNestedModel(TorchLayer):
    """A model used as a layer: its own graph as a sub-``Net``; its weights are the inner
    layers' variables, in the inner model's order (Keras's ``Model.weights``)."""

    def __init__(self, layer: Any) -> None:
        from ._runtime import Net

        nn.Module.__init__(self)
        self.spec = layer
        self.dtype = DTYPES.get(layer.dtype, torch.float32)
        self.net = Net(layer.graph.spec(layer._dtype()))
        mods: list[TorchLayer] = list(self.net.layers_)  # type: ignore[arg-type]
        self._index = [(m, i) for m in mods for i in range(len(m.dl_vars))]
        self.dl_vars = [v for m in mods for v in m.dl_vars]

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        m, i = self._index[index]
        return m.to_native(i, value)

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        m, i = self._index[index]
        return m.to_canonical(i, value)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        masks = None
        if noise is not None:  # deterministic mode: the inner nodes' masks, side by side
            plan = self.spec._noise_plan
            sizes = [int(np.prod(rest)) for _, rest in plan]
            pieces = torch.split(noise, sizes, dim=1)
            masks = {k: p.reshape(-1, *rest) for (k, rest), p in zip(plan, pieces, strict=True)}
        outs = self.net(x if isinstance(x, list) else [x], training, masks)
        return outs if len(outs) > 1 else outs[0]


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
