"""``TimeDistributed`` on torch: the inner layer's module on ``x.flatten(0, 1)``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from duallearn.plugin import TimeDistributedMixin

from ._layers import TorchLayer, implements, native_layer


@implements("TimeDistributed")
class TorchTimeDistributed(TimeDistributedMixin, TorchLayer):
    """The wrapped layer's native module, run on (batch·time, ...) (duallearn.plugin)."""

    def __init__(self, layer: Any) -> None:
        nn.Module.__init__(self)
        self._init_wrapper(layer, native_layer)

    def merge_time(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(0, 1)

    def split_time(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y.unflatten(0, (x.shape[0], x.shape[1]))
