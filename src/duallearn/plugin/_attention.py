"""MultiHeadAttention and Attention written once for every backend (formulas in
duallearn/layers/_attention.py).

The mixins hold the projections, the score mask (query, value, key, causal and explicit
masks combined as the front-end does), Keras's −1e9 fill, the softmax and the dropout in
Python operators plus the primitives :class:`AttentionPrimitives` lists; a backend's class
combines a mixin with its native layer base and fills those in. A backend with a fused
attention kernel sets ``fused_attention = True`` and overrides :meth:`fused`: MultiHeadAttention
calls it when nothing but the causal mask applies, no dropout runs and no scores are returned.
"""

from __future__ import annotations

import math
from typing import Any

LARGE_NEGATIVE = -1e9


class AttentionPrimitives:
    """The framework calls the attention layers use."""

    spec: Any
    dl_vars: list[Any]

    def compute_weights(self, q: Any) -> dict[str, Any]:
        """The layer's weights by name, in the compute dtype of the call."""
        raise NotImplementedError

    def einsum(self, subscripts: str, *operands: Any) -> Any:
        raise NotImplementedError

    def matmul(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def matmul_t(self, a: Any, b: Any) -> Any:
        """``a @ b`` with ``b``'s last two axes swapped."""
        raise NotImplementedError

    def softmax(self, a: Any) -> Any:
        """Softmax over the last axis."""
        raise NotImplementedError

    def tanh(self, a: Any) -> Any:
        raise NotImplementedError

    def sum_last(self, a: Any) -> Any:
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def masked_fill(self, a: Any, keep: Any, value: float) -> Any:
        """``a`` where ``keep``, else ``value``."""
        raise NotImplementedError

    def zero(self, like: Any) -> Any:
        """Zeros of ``like``'s dtype that broadcast against it."""
        raise NotImplementedError

    def scalar(self, value: float, like: Any) -> Any:
        """``value`` as an operand of ``like``'s dtype (a Python number where the framework
        promotes one to the tensor's dtype)."""
        raise NotImplementedError

    def cast(self, a: Any, dtype: Any) -> Any:
        raise NotImplementedError

    def to_bool(self, a: Any) -> Any:
        raise NotImplementedError

    def length(self, a: Any, axis: int) -> Any:
        """``a.shape[axis]`` (a tensor where the framework traces unknown lengths)."""
        raise NotImplementedError

    def causal_mask(self, t: Any, s: Any, like: Any) -> Any:
        """Bool (T, S): ``True`` where query ``i`` may attend key ``j`` (``i >= j``)."""
        raise NotImplementedError

    def random_dropout(self, p: Any, rate: float) -> Any:
        """Fast-mode dropout of ``p`` from the layer's own randomness."""
        raise NotImplementedError

    def score_mask(self, x: list[Any], mask: Any, t: Any, s: Any) -> tuple[Any, Any]:
        """(query mask, combined bool score mask (B|1, T, S) or None), as the front-end."""
        spec = self.spec
        ms = list(mask) if isinstance(mask, (list, tuple)) else []
        ms += [None] * (4 - len(ms))
        qm, vm, km = (None if m is None else self.to_bool(m) for m in ms[:3])
        if spec.key_is_value or not spec._mha_masks:
            km = None
        parts = []
        if qm is not None and spec._mha_masks:
            parts.append(qm[:, :, None])
        if vm is not None:
            parts.append(vm[:, None, :])
        if km is not None:
            parts.append(km[:, None, :])
        if spec.use_causal_mask:
            parts.append(self.causal_mask(t, s, x[0])[None])
        if len(x) > 3:
            parts.append(self.to_bool(x[3]))
        out = None
        for p in parts:
            out = p if out is None else out & p
        return qm, out

    def dropout(self, p: Any, training: bool, noise: Any) -> Any:
        rate = self.spec.dropout
        if not training or rate == 0:
            return p
        if noise is not None:
            return p * self.cast(noise, p.dtype)
        return self.random_dropout(p, rate)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)


class MultiHeadAttentionMixin(AttentionPrimitives):
    """Backend side of ``MultiHeadAttention``: projections, scores, softmax, output.

    A backend's layer class mixes this in; ``fused`` uses the framework's fused attention
    kernel where the backend sets ``fused_attention`` (same formula as Keras 3).
    """

    fused_attention = False

    def fused(self, qp: Any, kp: Any, vp: Any, scale: float) -> Any:
        """Softmax attention of the projected (B, H, T, K) tensors, causal where the layer is."""
        raise NotImplementedError

    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        spec = self.spec
        q, v, k = x[0], x[1], x[2]
        w = self.compute_weights(q)
        qp = self.einsum("btd,dhk->bhtk", q, w["query_kernel"])
        kp = self.einsum("bsd,dhk->bhsk", k, w["key_kernel"])
        vp = self.einsum("bsd,dhv->bhsv", v, w["value_kernel"])
        if spec.use_bias:
            qp = qp + w["query_bias"][:, None]
            kp = kp + w["key_bias"][:, None]
            vp = vp + w["value_bias"][:, None]
        scale = 1.0 / math.sqrt(spec.key_dim)
        p = None
        if (
            self.fused_attention
            and (mask is None or all(m is None for m in mask))
            and len(x) <= 3
            and not (training and spec.dropout > 0)
            and not spec.return_attention_scores
        ):
            o = self.fused(qp, kp, vp, scale)
        else:
            _, m = self.score_mask(x, mask, self.length(q, 1), self.length(k, 1))
            scores = self.matmul_t(qp * self.scalar(scale, qp), kp)  # (B, H, T, S)
            if m is not None:
                scores = self.masked_fill(scores, m[:, None], LARGE_NEGATIVE)
            p = self.softmax(scores)
            o = self.matmul(self.dropout(p, training, noise), vp)
        y = self.einsum("bhtv,hvo->bto", o, w["output_kernel"])
        if spec.use_bias:
            y = y + w["output_bias"]
        return [y, p] if spec.return_attention_scores else y


class AttentionMixin(AttentionPrimitives):
    """Backend side of ``Attention`` / ``AdditiveAttention``: ``softmax(scores) · value``.

    A backend's layer class mixes this in; the scores are the spec's (dot or additive).
    """

    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        spec = self.spec
        q, v, k = x[0], x[1], x[2]
        w = self.compute_weights(q)
        scale = w.get("scale")
        if spec.score_mode == "dot":
            scores = self.matmul_t(q, k)
            if scale is not None:
                scores = scores * scale
        else:
            u = q[:, :, None] + k[:, None]
            if scale is not None:
                u = scale * u
            scores = w["concat_score_weight"] * self.sum_last(self.tanh(u))
        qm, m = self.score_mask(x, mask, self.length(q, 1), self.length(k, 1))
        if m is not None:
            scores = self.where(m, scores, scores - self.scalar(1e9, scores))
        p = self.softmax(scores)
        y = self.matmul(self.dropout(p, training, noise), v)
        if qm is not None:
            y = self.where(qm[..., None], y, self.zero(y))
        return [y, p] if spec.return_attention_scores else y
