"""MultiHeadAttention and Attention on torch.

Projections are ``torch.einsum`` contractions on the canonical (Keras) kernels. Without
masks other than causal, dropout in training, or returned scores, MultiHeadAttention runs
``F.scaled_dot_product_attention`` (fused; ``is_causal`` is Keras's top-left causal mask);
otherwise the explicit masked softmax with Keras's −1e9 fill (a fully masked row gives
uniform weights as in Keras, where SDPA would give NaN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ._layers import TorchLayer, implements
from ._rng import TorchRng

LARGE_NEGATIVE = -1e9


def score_mask(spec: Any, x: list[torch.Tensor], mask: Any, t: int, s: int) -> tuple[Any, Any]:
    """(query mask, combined bool score mask (B|1, T, S) or None), as the front-end."""
    ms = list(mask) if isinstance(mask, (list, tuple)) else []
    ms += [None] * (4 - len(ms))
    qm, vm, km = (None if m is None else m.to(torch.bool) for m in ms[:3])
    if spec.key_is_value or not spec._mha_masks:
        km = None
    out = None

    def add(m: torch.Tensor) -> None:
        nonlocal out
        out = m if out is None else out & m

    if qm is not None and spec._mha_masks:
        add(qm[:, :, None])
    if vm is not None:
        add(vm[:, None, :])
    if km is not None:
        add(km[:, None, :])
    if spec.use_causal_mask:
        device = x[0].device
        add((torch.arange(t, device=device)[:, None] >= torch.arange(s, device=device))[None])
    if len(x) > 3:
        add(x[3].to(torch.bool))
    return qm, out


def _dropout(
    p: torch.Tensor, rate: float, training: bool, noise: Any, rng: TorchRng
) -> torch.Tensor:
    if not training or rate == 0:
        return p
    if noise is not None:
        return p * noise.to(p.dtype)
    return rng.dropout(p, rate)


@implements("MultiHeadAttention")
class TorchMultiHeadAttention(TorchLayer):
    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> Any:
        spec = self.spec
        w = dict(zip([wt.name for wt in spec.weights], self.dl_vars, strict=True))
        q, v, k = x[0], x[1], x[2]
        qp = torch.einsum("btd,dhk->bhtk", q, w["query_kernel"])
        kp = torch.einsum("bsd,dhk->bhsk", k, w["key_kernel"])
        vp = torch.einsum("bsd,dhv->bhsv", v, w["value_kernel"])
        if spec.use_bias:
            qp = qp + w["query_bias"][:, None]
            kp = kp + w["key_bias"][:, None]
            vp = vp + w["value_bias"][:, None]
        scale = 1.0 / math.sqrt(spec.key_dim)
        t, s = q.shape[1], k.shape[1]
        only_causal = (mask is None or all(m is None for m in mask)) and len(x) <= 3
        drop = training and spec.dropout > 0
        p = None
        if only_causal and not drop and not spec.return_attention_scores:
            o = F.scaled_dot_product_attention(
                qp, kp, vp, is_causal=spec.use_causal_mask, scale=scale
            )
        else:
            _, m = score_mask(spec, x, mask, t, s)
            scores = torch.matmul(qp * scale, kp.transpose(-1, -2))  # (B, H, T, S)
            if m is not None:
                scores = scores.masked_fill(~m[:, None], LARGE_NEGATIVE)
            p = torch.softmax(scores, dim=-1)
            o = torch.matmul(_dropout(p, spec.dropout, training, noise, self.rng), vp)
        y = torch.einsum("bhtv,hvo->bto", o, w["output_kernel"])
        if spec.use_bias:
            y = y + w["output_bias"]
        return [y, p] if spec.return_attention_scores else y

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)


@implements("Attention")
class TorchAttention(TorchLayer):
    """Scalar weights live as shape (1,) tensors (the runtime's numpy copies are >= 1-d)."""

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        return np.asarray(value).reshape(1)

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        return np.asarray(value).reshape(())

    def forward(
        self, x: list[torch.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> Any:
        spec = self.spec
        w = dict(zip([wt.name for wt in spec.weights], self.dl_vars, strict=True))
        q, v, k = x[0], x[1], x[2]
        scale = w.get("scale")
        if spec.score_mode == "dot":
            scores = torch.matmul(q, k.transpose(-1, -2))
            if scale is not None:
                scores = scores * scale
        else:
            u = q[:, :, None] + k[:, None]
            if scale is not None:
                u = scale * u
            scores = w["concat_score_weight"] * torch.tanh(u).sum(dim=-1)
        qm, m = score_mask(spec, x, mask, q.shape[1], k.shape[1])
        if m is not None:
            scores = torch.where(m, scores, scores - 1e9)
        p = torch.softmax(scores, dim=-1)
        y = torch.matmul(_dropout(p, spec.dropout, training, noise, self.rng), v)
        if qm is not None:
            y = torch.where(qm[..., None], y, torch.zeros((), dtype=y.dtype, device=y.device))
        return [y, p] if spec.return_attention_scores else y

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)
