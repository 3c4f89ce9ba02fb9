"""MultiHeadAttention and Attention on TensorFlow: ``tf.einsum`` projections on the canonical
(Keras) kernels, masked softmax with Keras's −1e9 fill, constants in the input dtype."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from . import _rng
from ._layers import TFLayer, implements

LARGE_NEGATIVE = -1e9


def score_mask(spec: Any, x: list[tf.Tensor], mask: Any, t: Any, s: Any) -> tuple[Any, Any]:
    """(query mask, combined bool score mask (B|1, T, S) or None), as the front-end."""
    ms = list(mask) if isinstance(mask, (list, tuple)) else []
    ms += [None] * (4 - len(ms))
    qm, vm, km = (None if m is None else tf.cast(m, tf.bool) for m in ms[:3])
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
        parts.append((tf.range(t)[:, None] >= tf.range(s)[None, :])[None])
    if len(x) > 3:
        parts.append(tf.cast(x[3], tf.bool))
    out = None
    for p in parts:
        out = p if out is None else tf.logical_and(out, p)
    return qm, out


def _dropout(p: tf.Tensor, rate: float, training: bool, noise: Any, layer: TFLayer) -> tf.Tensor:
    if not training or rate == 0:
        return p
    if noise is not None:
        return p * tf.cast(noise, p.dtype)
    return _rng.dropout(layer, p, rate)


@implements("MultiHeadAttention")
class TFMultiHeadAttention(TFLayer):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> Any:
        spec = self.spec
        q, v, k = x[0], x[1], x[2]
        # weights in the compute dtype of the call (float16/bfloat16 under mixed policies)
        w = {
            wt.name: var if var.dtype == q.dtype else tf.cast(var, q.dtype)
            for wt, var in zip(spec.weights, self.dl_vars, strict=True)
        }
        qp = tf.einsum("btd,dhk->bhtk", q, w["query_kernel"])
        kp = tf.einsum("bsd,dhk->bhsk", k, w["key_kernel"])
        vp = tf.einsum("bsd,dhv->bhsv", v, w["value_kernel"])
        if spec.use_bias:
            qp = qp + w["query_bias"][:, None]
            kp = kp + w["key_bias"][:, None]
            vp = vp + w["value_bias"][:, None]
        scale = tf.constant(1.0 / math.sqrt(spec.key_dim), dtype=q.dtype)
        scores = tf.matmul(qp * scale, kp, transpose_b=True)  # (B, H, T, S)
        _, m = score_mask(spec, x, mask, tf.shape(q)[1], tf.shape(k)[1])
        if m is not None:
            fill = tf.constant(LARGE_NEGATIVE, dtype=scores.dtype)
            scores = tf.where(m[:, None], scores, fill)
        p = tf.nn.softmax(scores, axis=-1)
        o = tf.matmul(_dropout(p, spec.dropout, training, noise, self), vp)
        y = tf.einsum("bhtv,hvo->bto", o, w["output_kernel"])
        if spec.use_bias:
            y = y + w["output_bias"]
        return [y, p] if spec.return_attention_scores else y

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)


@implements("Attention")
class TFAttention(TFLayer):
    def forward(
        self, x: list[tf.Tensor], training: bool, noise: Any = None, mask: Any = None
    ) -> Any:
        spec = self.spec
        q, v, k = x[0], x[1], x[2]
        # weights in the compute dtype of the call (float16/bfloat16 under mixed policies)
        w = {
            wt.name: var if var.dtype == q.dtype else tf.cast(var, q.dtype)
            for wt, var in zip(spec.weights, self.dl_vars, strict=True)
        }
        scale = w.get("scale")
        if spec.score_mode == "dot":
            scores = tf.matmul(q, k, transpose_b=True)
            if scale is not None:
                scores = scores * scale
        else:
            u = q[:, :, None] + k[:, None]
            if scale is not None:
                u = scale * u
            scores = w["concat_score_weight"] * tf.reduce_sum(tf.tanh(u), axis=-1)
        qm, m = score_mask(spec, x, mask, tf.shape(q)[1], tf.shape(k)[1])
        if m is not None:
            big = tf.constant(1e9, dtype=scores.dtype)
            scores = tf.where(m, scores, scores - big)
        p = tf.nn.softmax(scores, axis=-1)
        y = tf.matmul(_dropout(p, spec.dropout, training, noise, self), v)
        if qm is not None:
            y = tf.where(qm[..., None], y, tf.zeros_like(y))
        return [y, p] if spec.return_attention_scores else y

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)
