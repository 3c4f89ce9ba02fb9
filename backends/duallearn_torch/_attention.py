"""MultiHeadAttention and Attention on torch: duallearn.plugin's attention mixins with torch's
primitives.

Projections are ``torch.einsum`` contractions on the canonical (Keras) kernels. Without
masks other than causal, dropout in training, or returned scores, MultiHeadAttention runs
``F.scaled_dot_product_attention`` (fused; ``is_causal`` is Keras's top-left causal mask);
otherwise the explicit masked softmax with Keras's −1e9 fill (a fully masked row gives
uniform weights as in Keras, where SDPA would give NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from duallearn.plugin import AttentionMixin, AttentionPrimitives, MultiHeadAttentionMixin

from ._layers import TorchLayer, implements


class _TorchAttentionBase(AttentionPrimitives, TorchLayer):
    einsum = staticmethod(torch.einsum)
    matmul = staticmethod(torch.matmul)
    tanh = staticmethod(torch.tanh)
    where = staticmethod(torch.where)

    def compute_weights(self, q: torch.Tensor) -> dict[str, Any]:
        return dict(zip([wt.name for wt in self.spec.weights], self.dl_vars, strict=True))

    def matmul_t(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b.transpose(-1, -2))

    def softmax(self, a: torch.Tensor) -> torch.Tensor:
        return torch.softmax(a, dim=-1)

    def sum_last(self, a: torch.Tensor) -> torch.Tensor:
        return a.sum(dim=-1)

    def masked_fill(self, a: torch.Tensor, keep: torch.Tensor, value: float) -> torch.Tensor:
        return a.masked_fill(~keep, value)

    def zero(self, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=like.dtype, device=like.device)

    def scalar(self, value: float, like: Any) -> float:
        return value  # a Python number keeps the tensor's dtype

    def cast(self, a: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return a.to(dtype)

    def to_bool(self, a: torch.Tensor) -> torch.Tensor:
        return a.to(torch.bool)

    def length(self, a: torch.Tensor, axis: int) -> int:
        return a.shape[axis]

    def causal_mask(self, t: int, s: int, like: torch.Tensor) -> torch.Tensor:
        device = like.device
        return torch.arange(t, device=device)[:, None] >= torch.arange(s, device=device)

    def random_dropout(self, p: torch.Tensor, rate: float) -> torch.Tensor:
        return self.rng.dropout(p, rate)


@implements("MultiHeadAttention")
class TorchMultiHeadAttention(MultiHeadAttentionMixin, _TorchAttentionBase):
    fused_attention = True

    def fused(self, qp: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor, scale: float) -> Any:
        return F.scaled_dot_product_attention(
            qp, kp, vp, is_causal=self.spec.use_causal_mask, scale=scale
        )


@implements("Attention")
class TorchAttention(AttentionMixin, _TorchAttentionBase):
    """Scalar weights live as shape (1,) tensors (the runtime's numpy copies are >= 1-d)."""

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        return np.asarray(value).reshape(1)

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        return np.asarray(value).reshape(())
