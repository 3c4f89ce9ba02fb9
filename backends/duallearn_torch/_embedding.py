"""Embedding on torch: ``F.embedding`` (dense gradient); mask ``ids != 0`` with mask_zero."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._layers import TorchLayer, implements


@implements("Embedding")
class TorchEmbedding(TorchLayer):
    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        ids = x if x.dtype in (torch.int64, torch.int32) else x.long()
        if torch.compiler.is_compiling():
            return F.embedding(ids, self.dl_vars[0])
        try:
            return F.embedding(ids, self.dl_vars[0])
        except IndexError:  # ids computed in the model (model inputs are checked on the host)
            self.spec.check_ids(ids.detach().cpu().numpy(), " (computed inside the model)")
            raise

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return x != 0 if self.spec.mask_zero else None
