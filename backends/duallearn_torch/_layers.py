"""The native-layer contract for torch: one ``TorchLayer`` per front-end layer.

A TorchLayer holds the layer's weights as torch tensors (parameters for trainable ones,
buffers-like frozen parameters otherwise) in the front-end's canonical order, converts each
weight between canonical and native layout (``to_native``/``to_canonical``; identity unless
the native kernel wants another layout), and implements ``forward(x, training, noise)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from duallearn.errors import BackendError
from duallearn.plugin import bind_variable

from ._rng import GLOBAL, TorchRng

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
IMPLS: dict[str, type[TorchLayer]] = {}


def implements(*names: str) -> Callable[[type[TorchLayer]], type[TorchLayer]]:
    """Register a TorchLayer class as the native implementation of front-end classes."""

    def wrap(cls: type[TorchLayer]) -> type[TorchLayer]:
        for n in names:
            IMPLS[n] = cls
        return cls

    return wrap


class TorchLayer(nn.Module):
    """Base class of native torch layers."""

    rng: TorchRng = GLOBAL  # fast-mode randomness; the runtime gives each layer its own

    def __init__(self, layer: Any) -> None:
        super().__init__()
        # Keras passes ``mask=`` only to layers whose call() takes it.
        self.takes_mask = "mask" in inspect.signature(self.forward).parameters
        self.spec = layer
        self.dtype = DTYPES[layer.dtype]
        self.dl_vars: list[torch.Tensor] = []
        for i, w in enumerate(layer.weights):
            p = bind(
                w,
                lambda a, i=i: self.to_native(i, a),
                lambda a, i=i: self.to_canonical(i, a),
            )
            self.register_parameter(w.name.replace(".", "_"), p)
            self.dl_vars.append(p)

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        """Canonical layout → this module's layout for weight ``index``."""
        return value

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        """This module's layout → canonical layout for weight ``index``."""
        return value

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The output's Keras mask: passed through by layers that support masking (the
        front-end's ``supports_masking``), dropped by the others."""
        return mask if self.spec.supports_masking else None

    def forward(self, x: Any, training: bool, noise: torch.Tensor | None = None) -> Any:
        raise NotImplementedError


def _parameter(value: np.ndarray, variable: Any) -> nn.Parameter:
    value = np.asarray(value, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
    return nn.Parameter(
        torch.tensor(value, dtype=DTYPES.get(variable.dtype, torch.from_numpy(value).dtype)),
        requires_grad=bool(variable.trainable and value.dtype.kind == "f"),
    )


@torch.no_grad()
def _assign(p: torch.Tensor, a: np.ndarray) -> None:
    p.copy_(torch.from_numpy(a).to(device=p.device, dtype=p.dtype))


def bind(
    variable: Any, to_native: Any = None, to_canonical: Any = None, existing: Any = None
) -> Any:
    """The ``nn.Parameter`` of front-end ``variable`` (``duallearn.plugin.bind_variable``)."""
    conv = {} if to_native is None else {"to_native": to_native, "to_canonical": to_canonical}
    return bind_variable(
        variable,
        "torch",
        lambda v: _parameter(v, variable),
        lambda p: p.detach().cpu().numpy(),
        _assign,
        existing=existing,
        **conv,
    )


def native_layer(layer: Any) -> TorchLayer:
    """The TorchLayer for a front-end layer: the first registered class in its MRO."""
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
        f"The torch backend has no implementation of layer {type(layer).__name__} "
        f"({layer.name!r}). Fix: use a built-in layer, or write call() with dl.ops."
    )
