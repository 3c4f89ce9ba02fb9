"""User code as native layers, written once for every backend.

:class:`OpsLayer` is the ``__ops__`` fallback: it runs a custom layer's ``call()`` (written
with ``dl.ops``) under :func:`duallearn.ops.native_call`, its own weights bound to native
storage and its tracked sublayers built as native child layers. :class:`NestedModelLayer`
runs a model used as a layer through the backend's own graph module. A backend combines each
with its native layer base (``class TorchOpsLayer(OpsLayer, TorchLayer)``) and supplies the
framework calls: the container of child layers, the split of a noise tensor.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError
from ..ops import native_call
from ..variables import Variable
from ._native import NativeLayer
from ._penalties import activity


def call_kwargs(layer: Any) -> set[str]:
    """Which of Keras's ``training`` / ``mask`` keywords ``layer.call`` takes."""
    try:
        params = inspect.signature(layer.call).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"training", "mask"}
    return {n for n in ("training", "mask") if n in params}


def check_portable(layer: Any, name: str) -> None:
    """Raise unless ``layer`` can run on backend ``name`` (it wraps no other framework's code)."""
    own = getattr(layer, "native_backend", "")
    if own and own != name:
        raise BackendError(
            f"Layer {layer.name!r} ({type(layer).__name__}) wraps native {own} code and runs only "
            f"on the {own} backend; this model uses {name}. Fix: build the model with "
            f"backend={own!r}, or rewrite the layer with dl.ops to make it portable."
        )


class CompositeLayer(NativeLayer):
    """A native layer whose weights are its own followed by its child layers' (Keras's
    order): ``_index[k]`` is ``(child, its index)`` for weight ``k``, ``(None, k)`` for an
    own weight (canonical layout)."""

    _index: list[tuple[Any, int]]

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        m, i = self._index[index]
        return value if m is None else m.to_native(i, value)

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        m, i = self._index[index]
        return value if m is None else m.to_canonical(i, value)


class _SubCall:
    """A sublayer's native module as a custom layer's ``call`` reaches it: its ``forward``,
    then its ``activity_regularizer`` penalty (Keras applies it in every layer call)."""

    __slots__ = ("module",)

    def __init__(self, module: Any) -> None:
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.module.forward(*args, **kwargs)
        if getattr(self.module.spec, "activity_regularizer", None) is not None:
            activity(self.module, out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


class OpsLayer(CompositeLayer):
    """Runs ``layer.call`` on native tensors: the layer's own weights are this module's,
    bound to its ``Weight`` objects for the duration of the call; sublayers called in
    ``call`` run as native child modules (their weights follow, Keras's order)."""

    ops: ClassVar[Any]  # the backend's dl.ops implementation (duallearn/ops)

    def _children(self, mods: list[Any]) -> Any:
        """The container holding the child native layers (a framework's module list)."""
        return mods

    def _track_own(self, k: int, w: Any, native: Any) -> None:
        """Attach own weight ``k`` (front-end ``w``) to the module."""
        self._track(f"w{k}_{w.name}".replace(".", "_"), native)

    def _init_ops(self, layer: Any) -> None:
        """Set up (after the framework module's ``__init__``) for front-end ``layer``."""
        from ..layers._custom import tracked_sublayers

        backend = self.registry.backend
        check_portable(layer, backend)
        if not callable(getattr(layer, "call", None)):
            raise BackendError(
                f"The {backend} backend has no implementation of layer "
                f"{type(layer).__name__} ({layer.name!r}) and it defines no call(). "
                "Fix: write call() with dl.ops."
            )
        self.spec = layer
        self.dtype = self.registry.dtypes.get(layer.dtype, self.registry.dtypes["float32"])
        self._kw = call_kwargs(layer)
        own = layer._own_trainable() + layer._own_non_trainable()
        self._own = own
        self.dl_vars = []
        for k, w in enumerate(own):
            v = self.registry.bind(w)
            self._track_own(k, w, v)
            self.dl_vars.append(v)
        self._index = [(None, i) for i in range(len(own))]
        subs = [s for s in tracked_sublayers(layer) if s.built]
        self.subs = self._children([self.registry.native_layer(s) for s in subs])
        self._sub_of = {id(s): _SubCall(m) for s, m in zip(subs, self.subs, strict=True)}
        for m in self.subs:
            for i, v in enumerate(m.dl_vars):
                self._index.append((m, i))
                self.dl_vars.append(v)

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        """``layer.call(x)``; when ``x`` is a :class:`~duallearn.layers._input.CallArgs` (a node
        whose call took several tensors or keywords), ``layer.call(*x.args, **x.kwargs)``.
        ``training`` (and a carried ``mask``) are added when ``call`` names them."""
        from ..layers._input import CallArgs

        layer = self.spec
        bindings = {id(w): v for w, v in zip(self._own, self.dl_vars, strict=False)}
        args, kwargs = (x.args, dict(x.kwargs)) if isinstance(x, CallArgs) else ((x,), {})
        if "training" in self._kw:
            kwargs["training"] = training
        if mask is not None and "mask" in self._kw and "mask" not in kwargs:
            kwargs["mask"] = mask
        with native_call(self.ops, bindings, self._sub_of, training):
            out = layer.call(*args, **kwargs)
            if isinstance(out, (list, tuple)):
                return [self._value(o) for o in out]
            return self._value(out)

    def _value(self, out: Any) -> Any:
        """An output of ``call``: a returned variable (Keras's ``return self.total``)
        becomes a native tensor holding its current value (not the storage itself, which a
        later ``assign_add`` would change under the caller)."""
        if isinstance(out, Variable):
            return self.ops.add(out, 0)  # a new tensor; gradients flow to the variable
        return out


class NestedModelLayer(CompositeLayer):
    """A model used as a layer: its own graph as the backend's graph module (``net``); its
    weights are the inner layers' variables, in the inner model's order (Keras's
    ``Model.weights``)."""

    net: Any

    def _split_noise(self, noise: Any, sizes: list[int], shapes: list[Any]) -> list[Any]:
        """``noise`` split along axis 1 into ``sizes`` pieces, each reshaped to
        ``(-1, *shape)``."""
        raise NotImplementedError

    def _init_nested(self, layer: Any, net: Any) -> None:
        """Set up (after the framework module's ``__init__``) for model ``layer`` run by
        ``net`` (the backend's module for ``layer.graph``)."""
        self.spec = layer
        self.dtype = self.registry.dtypes.get(layer.dtype, self.registry.dtypes["float32"])
        self.net = net
        mods = list(net.layers_)
        self._index = [(m, i) for m in mods for i in range(len(m.dl_vars))]
        self.dl_vars = [v for m in mods for v in m.dl_vars]

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        masks = None
        if noise is not None:  # deterministic mode: the inner nodes' masks, side by side
            plan = self.spec._noise_plan
            sizes = [int(np.prod(rest)) for _, rest in plan]
            pieces = self._split_noise(noise, sizes, [rest for _, rest in plan])
            masks = {k: p for (k, _), p in zip(plan, pieces, strict=True)}
        outs = self.net(x if isinstance(x, list) else [x], training, masks)
        return outs if len(outs) > 1 else outs[0]
