"""The image preprocessing and augmentation layers on torch: each layer's ``apply`` (its
formula, written once in ``duallearn/layers/_preprocessing_image.py``) over torch's ops,
with its random parameters drawn on the host from the layer's seed."""

from __future__ import annotations

from typing import Any

import torch

from duallearn.plugin import IMAGE_LAYERS

from . import _ops
from ._layers import TorchLayer, implements


@implements(*IMAGE_LAYERS)
class TorchImagePreprocessing(TorchLayer):
    """``spec.apply(ops, x, training, *weights)``; constants and draws land on ``x``'s
    device."""

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        with torch.device(x.device):
            return self.spec.apply(_ops, x, bool(training), *self.dl_vars)
