"""The native-layer contract for torch: one ``TorchLayer`` per front-end layer.

A TorchLayer holds the layer's weights as torch tensors (parameters for trainable ones,
buffers-like frozen parameters otherwise) in the front-end's canonical order, converts each
weight between canonical and native layout (``to_native``/``to_canonical``; identity unless
the native kernel wants another layout), and implements ``forward(x, training, noise)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from duallearn.plugin import NativeLayer, NativeRegistry, dtype_table, variable_binder

from ._rng import GLOBAL, TorchRng

DTYPES = dtype_table(torch)


def _parameter(value: np.ndarray, variable: Any) -> nn.Parameter:
    value = np.asarray(value, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
    return nn.Parameter(
        torch.tensor(value, dtype=DTYPES.get(variable.dtype, torch.from_numpy(value).dtype)),
        requires_grad=bool(variable.trainable and value.dtype.kind == "f"),
    )


@torch.no_grad()
def _assign(p: torch.Tensor, a: np.ndarray) -> None:
    p.copy_(torch.from_numpy(a).to(device=p.device, dtype=p.dtype))


# The ``nn.Parameter`` of a front-end variable (``duallearn.plugin.bind_variable``).
bind = variable_binder("torch", _parameter, lambda p: p.detach().cpu().numpy(), _assign)


REGISTRY: NativeRegistry[TorchLayer] = NativeRegistry("torch", DTYPES, bind)
implements = REGISTRY.implements
native_layer = REGISTRY.native_layer


class TorchLayer(NativeLayer, nn.Module):
    """Base class of native torch layers: an ``nn.Module`` whose weights are registered
    parameters, run eagerly (the contract: ``duallearn.plugin.NativeLayer``)."""

    registry = REGISTRY
    _track = nn.Module.register_parameter
    rng: TorchRng = GLOBAL  # fast-mode randomness; the runtime gives each layer its own

    def __init__(self, layer: Any) -> None:
        super().__init__()
        self._init_native(layer)


# the image preprocessing family registers here (it needs the base class above)
from . import _preprocessing as _preprocessing  # noqa: E402
