"""Attention layers: ``MultiHeadAttention`` and ``Attention`` (Keras 3 formulas and weights).

Inputs are ``(batch, time, features)``. Both layers are called Keras's way and receive, as a
duallearn graph node, the list ``[query, value, key]`` (``key = value`` when not given), plus
``attention_mask`` as a fourth input for ``MultiHeadAttention``. The call options
``use_causal_mask`` and ``return_attention_scores`` may be given at the call (as in Keras) or
at construction (duallearn extension); they are part of the layer's config.

Keras masks (``Embedding(mask_zero=True)`` upstream) arrive as ``mask=[query_mask,
value_mask, key_mask]`` and combine as in Keras: ``query_mask[:, :, None] & value_mask[:, None,
:] & key_mask[:, None, :] & causal & attention_mask``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import initializers as _init
from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer, positive_int
from ._weight_options import attach, constraint, options_config, regularizer

LARGE_NEGATIVE = -1e9  # Keras's masked-softmax fill (float32/float64)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def causal_mask(t: int, s: int) -> np.ndarray:
    """Keras's causal mask: position i attends to j <= i (shape (1, T, S))."""
    return (np.arange(t)[:, None] >= np.arange(s)[None, :])[None]


def _as_bool(m: Any) -> np.ndarray | None:
    return None if m is None else np.asarray(m).astype(bool)


def _rate(layer: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(
            f"{layer}: dropout must be a number in [0, 1). Received: dropout={value!r}. "
            "Fix: e.g. dropout=0.1."
        )
    return float(value)


class _CallOptions(Layer):
    """Keras-style call: ``layer(query, value, key=None, ...)`` or ``layer([q, v, k])``."""

    _with_attention_mask = False
    _mha_masks = False  # MultiHeadAttention: query and key masks enter the score mask
    use_causal_mask: bool
    return_attention_scores: bool
    key_is_value: bool

    def __call__(  # type: ignore[override]
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool | None = None,
        use_causal_mask: bool | None = None,
        training: Any = None,
        mask: Any = None,
        **kwargs: Any,
    ) -> Any:
        if mask is not None or any(
            kwargs.get(k) is not None for k in ("query_mask", "value_mask", "key_mask")
        ):
            raise ConfigError(
                f"{type(self).__name__}: explicit masks are not accepted at the call. "
                "Fix: let Keras masks flow from Embedding(mask_zero=True), or pass "
                "attention_mask (MultiHeadAttention)."
            )
        if isinstance(query, (list, tuple)):
            if value is not None or not 2 <= len(query) <= (4 if self._with_attention_mask else 3):
                raise ConfigError(
                    f"{type(self).__name__} is called on [query, value] or [query, value, key]. "
                    f"Received a list of {len(query)} inputs."
                )
            items = list(query)
            query, value = items[0], items[1]
            key = items[2] if len(items) > 2 else None
            attention_mask = items[3] if len(items) > 3 else attention_mask
        if value is None:
            raise ConfigError(
                f"{type(self).__name__} needs a value input: layer(query, value[, key]). "
                "Fix: for self-attention pass the same tensor twice."
            )
        for name, v in (("return_attention_scores", return_attention_scores),
                        ("use_causal_mask", use_causal_mask)):  # fmt: skip
            if v is not None:
                if self._inbound_nodes and bool(v) != getattr(self, name):
                    raise ConfigError(
                        f"{type(self).__name__} {self.name!r} was already called with "
                        f"{name}={getattr(self, name)}. Fix: create another layer."
                    )
                setattr(self, name, bool(v))
        self.key_is_value = key is None or key is value
        inputs = [query, value, value if key is None else key]
        if attention_mask is not None:
            if not self._with_attention_mask:
                raise ConfigError(f"{type(self).__name__} takes no attention_mask.")
            inputs.append(attention_mask)
        return super().__call__(inputs, **kwargs)

    def _check_shapes(self, input_shape: Any) -> list[Any]:
        if not isinstance(input_shape, list) or len(input_shape) < 3:
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) expects the inputs "
                f"[query, value, key]. Received input shapes {input_shape}."
            )
        for what, s in zip(("query", "value", "key"), input_shape[:3], strict=False):
            if len(s) != 3 or s[-1] is None:
                raise ShapeError(
                    f"Layer {self.name!r} ({type(self).__name__}) expects {what} of shape "
                    f"(batch, time, features), rank 3 with known features. Received: {what} "
                    f"shape {tuple(s)}. Fix: reshape it to (batch, time, features)."
                )
        return list(input_shape)

    def _masks(
        self, x: list[np.ndarray], mask: Any, t: int, s: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(query mask (B, T) or None, combined score mask (B|1, T, S) or None)."""
        ms = list(mask) if isinstance(mask, (list, tuple)) else [None] * 4
        ms += [None] * (4 - len(ms))
        qm, vm, km = _as_bool(ms[0]), _as_bool(ms[1]), _as_bool(ms[2])
        if self.key_is_value or not self._mha_masks:
            km = None
        parts: list[np.ndarray] = []
        if qm is not None and self._mha_masks:
            parts.append(qm[:, :, None])
        if vm is not None:
            parts.append(vm[:, None, :])
        if km is not None:
            parts.append(km[:, None, :])
        if self.use_causal_mask:
            parts.append(causal_mask(t, s))
        return qm, (np.logical_and.reduce(np.broadcast_arrays(*parts)) if parts else None)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        qm = mask[0] if isinstance(mask, (list, tuple)) else None
        return [qm, None] if self.return_attention_scores else qm


@REGISTRY.register()
class MultiHeadAttention(_CallOptions):
    """Multi-head scaled dot-product attention (Keras 3)::

        Q = q·W_q + b_q   K = k·W_k + b_k   V = v·W_v + b_v       (per head h)
        S_h = (Q_h / √key_dim)·K_hᵀ     masked entries set to −1e9
        P_h = softmax(S_h)  (dropout on P in training)      O_h = P_h·V_h
        y = Σ_h O_h·W_o[h] + b_o

    Weights (Keras order and layout): query kernel (dim_q, heads, key_dim), bias
    (heads, key_dim); key kernel (dim_k, heads, key_dim), bias; value kernel
    (dim_v, heads, value_dim), bias (heads, value_dim); output kernel
    (heads, value_dim, output_dim), bias (output_dim,). ``output_shape`` defaults to dim_q.
    ``return_attention_scores=True`` also returns P (before dropout), (B, heads, T, S).

    Differs from PyTorch: ``nn.MultiheadAttention`` packs ``in_proj_weight`` (3·E, E) with
    ``embed_dim = heads·head_dim``, needs key/value dims equal to E unless given
    ``kdim``/``vdim``, uses ``attn_mask`` with True = *blocked* (Keras: True = attend) and
    averages the returned weights over heads by default.
    """

    _with_attention_mask = True
    _mha_masks = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
        kernel_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        seed: int | None = None,
        use_causal_mask: bool = False,
        return_attention_scores: bool = False,
        kernel_regularizer: object = None,
        bias_regularizer: object = None,
        kernel_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("flash_attention", None)
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.kernel_constraint = constraint(self, "kernel_constraint", kernel_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        self.num_heads = positive_int("MultiHeadAttention", "num_heads", num_heads)
        self.key_dim = positive_int("MultiHeadAttention", "key_dim", key_dim)
        self.value_dim = (
            self.key_dim
            if value_dim is None
            else positive_int("MultiHeadAttention", "value_dim", value_dim)
        )
        self.dropout = _rate("MultiHeadAttention", dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise ConfigError(
                    "MultiHeadAttention: only a last-axis output_shape is supported. "
                    f"Received: output_shape={output_shape!r}. Fix: pass an int."
                )
            output_shape = output_shape[0]
        self.output_shape_arg = (
            None
            if output_shape is None
            else positive_int("MultiHeadAttention", "output_shape", output_shape)
        )
        if attention_axes not in (None, 1, (1,), [1], -2, (-2,), [-2]):
            raise ConfigError(
                "MultiHeadAttention: attention over axes other than time is not supported. "
                f"Received: attention_axes={attention_axes!r}. Fix: use attention_axes=None."
            )
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.seed = seed
        self.use_causal_mask = bool(use_causal_mask)
        self.return_attention_scores = bool(return_attention_scores)
        self.key_is_value = True
        self._kv_len: int | None = None

    def build(self, input_shape: Any) -> None:
        shapes = self._check_shapes(input_shape)
        (_, _, dq), (_, s, dv), (_, _, dk) = shapes[0], shapes[1], shapes[2]
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        self._kv_len = s
        out = self.output_shape_arg or dq
        ki, bi = self.kernel_initializer, self.bias_initializer
        # Keras: the kernel_/bias_ options apply to each projection's kernel / bias
        kr, kc = self.kernel_regularizer, self.kernel_constraint
        br, bc = self.bias_regularizer, self.bias_constraint
        attach(self.add_weight("query_kernel", (dq, h, kd), ki), kr, kc)
        if self.use_bias:
            attach(self.add_weight("query_bias", (h, kd), bi), br, bc)
        attach(self.add_weight("key_kernel", (dk, h, kd), ki), kr, kc)
        if self.use_bias:
            attach(self.add_weight("key_bias", (h, kd), bi), br, bc)
        attach(self.add_weight("value_kernel", (dv, h, vd), ki), kr, kc)
        if self.use_bias:
            attach(self.add_weight("value_bias", (h, vd), bi), br, bc)
        attach(self.add_weight("output_kernel", (h, vd, out), ki), kr, kc)
        if self.use_bias:
            attach(self.add_weight("output_bias", (out,), bi), br, bc)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self._check_shapes(input_shape)
        (b, t, dq), (_, s, _) = shapes[0], shapes[1]
        y = (b, t, self.output_shape_arg or dq)
        if self.return_attention_scores:
            return [y, (b, self.num_heads, t, s)]
        return y

    # ---- dropout on the attention probabilities ------------------------------------------
    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        if self.dropout == 0:
            return None
        if self._kv_len is None or len(input_shape) != 3:
            raise ConfigError(
                f"MultiHeadAttention {self.name!r}: deterministic dropout needs static "
                "query and value lengths. Fix: give the Inputs full shapes."
            )
        return (int(input_shape[0]), self.num_heads, int(input_shape[1]), self._kv_len)

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        return (rng.random(input_shape) >= self.dropout) / (1.0 - self.dropout)

    # ---- numpy reference -----------------------------------------------------------------
    def _w(self, weights: Any) -> dict[str, np.ndarray]:
        names = [w.name for w in self._weights]
        return dict(zip(names, weights, strict=True))

    def _forward(self, weights: Any, x: Any, training: bool, noise: Any, mask: Any) -> Any:
        w = self._w(weights)
        q, v, k = x[0], x[1], x[2]
        b = self.use_bias
        qp = np.einsum("btd,dhk->bthk", q, w["query_kernel"]) + (w["query_bias"] if b else 0)
        kp = np.einsum("bsd,dhk->bshk", k, w["key_kernel"]) + (w["key_bias"] if b else 0)
        vp = np.einsum("bsd,dhv->bshv", v, w["value_kernel"]) + (w["value_bias"] if b else 0)
        scale = 1.0 / math.sqrt(self.key_dim)
        qs = qp * scale
        scores = np.einsum("bshk,bthk->bhts", kp, qs)
        _, m = self._masks(x, mask, q.shape[1], k.shape[1])
        if len(x) > 3:
            am = np.asarray(x[3]).astype(bool)
            m = am if m is None else np.logical_and(am, m)
        m4 = None if m is None else np.broadcast_to(m[:, None], scores.shape)
        if m4 is not None:
            scores = np.where(m4, scores, LARGE_NEGATIVE)
        p = _softmax(scores)
        pd = p * np.asarray(noise, p.dtype) if training and noise is not None else p
        o = np.einsum("bhts,bshv->bthv", pd, vp)
        y = np.einsum("bthv,hvo->bto", o, w["output_kernel"]) + (w["output_bias"] if b else 0)
        return y, (w, q, v, k, qp, kp, vp, qs, p, pd, o, m4, scale)

    def reference(self, weights, x, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        y, cache = self._forward(weights, x, training, noise, mask)
        return [y, cache[8]] if self.return_attention_scores else y

    def reference_backward(self, weights, x, y, dy, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        _, (w, q, v, k, qp, kp, vp, qs, p, pd, o, m4, scale) = self._forward(
            weights, x, training, noise, mask
        )
        dys = dy if self.return_attention_scores else [dy]
        g = dys[0]
        grads: dict[str, np.ndarray] = {}
        grads["output_kernel"] = np.einsum("bthv,bto->hvo", o, g)
        grads["output_bias"] = g.sum(axis=(0, 1))
        do = np.einsum("bto,hvo->bthv", g, w["output_kernel"])
        dpd = np.einsum("bthv,bshv->bhts", do, vp)
        dvp = np.einsum("bhts,bthv->bshv", pd, do)
        dp = dpd * np.asarray(noise, p.dtype) if training and noise is not None else dpd
        if self.return_attention_scores:
            dp = dp + dys[1]
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        if m4 is not None:
            ds = np.where(m4, ds, 0.0)
        dqs = np.einsum("bhts,bshk->bthk", ds, kp)
        dkp = np.einsum("bhts,bthk->bshk", ds, qs)
        dqp = dqs * scale
        dx = []
        for name, inp, d, eq in (
            ("query", q, dqp, "btd,bthk->dhk"),
            ("value", v, dvp, "bsd,bshv->dhv"),
            ("key", k, dkp, "bsd,bshk->dhk"),
        ):
            grads[f"{name}_kernel"] = np.einsum(eq, inp, d)
            grads[f"{name}_bias"] = d.sum(axis=(0, 1))
            dx.append(np.einsum("bthk,dhk->btd", d, w[f"{name}_kernel"]))
        if len(x) > 3:
            dx.append(np.zeros(np.shape(x[3])))
        dws = [grads[wt.name] for wt in self._weights if wt.trainable]
        return dx, dws if self.trainable else []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_shape_arg,
            "attention_axes": None,
            "kernel_initializer": _init.serialize(self.kernel_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            "seed": self.seed,
            "use_causal_mask": self.use_causal_mask,
            "return_attention_scores": self.return_attention_scores,
            **options_config(self, "kernel", "bias"),
        }


SCORE_MODES = ("dot", "concat")


@REGISTRY.register()
class Attention(_CallOptions):
    """Dot-product (Luong) or additive-style "concat" attention (Keras 3 ``Attention``)::

        dot:    S = scale · q·kᵀ                  (scale = 1 unless use_scale)
        concat: S = c · Σ_d tanh(scale · (q_t + k_s))
        S ← S − 1e9 where the value mask / causal mask blocks;  P = softmax(S)
        y = P·v  (dropout on P in training);  rows of masked queries are set to 0

    Weights: ``scale`` () if ``use_scale`` (init 1), ``concat_score_weight`` () for
    ``score_mode="concat"`` (init 1). Called on ``[query, value]`` or ``[query, value, key]``;
    ``return_attention_scores=True`` also returns P (B, Tq, Tv).

    Differs from PyTorch: ``F.scaled_dot_product_attention`` always scales by 1/√d and takes
    a boolean ``attn_mask``; this layer scales by a learned scalar (or not at all).
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        use_causal_mask: bool = False,
        return_attention_scores: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if score_mode not in SCORE_MODES:
            raise ConfigError(
                f"Attention: score_mode must be one of {SCORE_MODES}. "
                f"Received: score_mode={score_mode!r}."
            )
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = _rate("Attention", dropout)
        self.seed = seed
        self.use_causal_mask = bool(use_causal_mask)
        self.return_attention_scores = bool(return_attention_scores)
        self.key_is_value = True
        self._kv_len: int | None = None

    def build(self, input_shape: Any) -> None:
        shapes = self._check_shapes(input_shape)
        q, v, k = shapes[0], shapes[1], shapes[2]
        if q[-1] != k[-1]:
            raise ShapeError(
                f"Layer {self.name!r} (Attention) needs query and key with the same last "
                f"dimension. Received: query {tuple(q)}, key {tuple(k)}."
            )
        self._kv_len = v[1]
        if self.use_scale:
            self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.add_weight("concat_score_weight", (), "ones")

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self._check_shapes(input_shape)
        q, v = shapes[0], shapes[1]
        y = (*q[:-1], v[-1])
        return [y, (q[0], q[1], v[1])] if self.return_attention_scores else y

    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        if self.dropout == 0:
            return None
        if self._kv_len is None or len(input_shape) != 3:
            raise ConfigError(
                f"Attention {self.name!r}: deterministic dropout needs static query "
                "and value lengths. Fix: give the Inputs full shapes."
            )
        return (int(input_shape[0]), int(input_shape[1]), self._kv_len)

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        return (rng.random(input_shape) >= self.dropout) / (1.0 - self.dropout)

    def _forward(self, weights: Any, x: Any, training: bool, noise: Any, mask: Any) -> Any:
        q, v, k = x[0], x[1], x[2]
        w = dict(zip([wt.name for wt in self._weights], weights, strict=True))
        scale = w.get("scale", 1.0)
        if self.score_mode == "dot":
            raw = q @ np.swapaxes(k, -1, -2)
            scores = raw * scale
            t = None
        else:
            t = np.tanh(scale * (q[:, :, None] + k[:, None]))
            raw = t.sum(axis=-1)
            scores = w["concat_score_weight"] * raw
        qm, m = self._masks(x, mask, q.shape[1], k.shape[1])
        if m is not None:
            scores = np.where(m, scores, scores - 1e9)
        p = _softmax(scores)
        pd = p * np.asarray(noise, p.dtype) if training and noise is not None else p
        y = pd @ v
        if qm is not None:
            y = np.where(qm[..., None], y, 0.0)
        return y, (w, q, v, k, raw, t, p, pd, qm, scale)

    def reference(self, weights, x, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        y, cache = self._forward(weights, x, training, noise, mask)
        return [y, cache[6]] if self.return_attention_scores else y

    def reference_backward(self, weights, x, y, dy, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        _, (w, q, v, k, raw, t, p, pd, qm, scale) = self._forward(weights, x, training, noise, mask)
        dys = dy if self.return_attention_scores else [dy]
        g = dys[0]
        if qm is not None:
            g = np.where(qm[..., None], g, 0.0)
        dv = np.swapaxes(pd, -1, -2) @ g
        dpd = g @ np.swapaxes(v, -1, -2)
        dp = dpd * np.asarray(noise, p.dtype) if training and noise is not None else dpd
        if self.return_attention_scores:
            dp = dp + dys[1]
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        grads: dict[str, Any] = {}
        if self.score_mode == "dot":
            draw = ds * scale
            grads["scale"] = np.asarray((ds * raw).sum())
            dq = draw @ k
            dk = np.swapaxes(draw, -1, -2) @ q
        else:
            c = w["concat_score_weight"]
            grads["concat_score_weight"] = np.asarray((ds * raw).sum())
            du = (c * ds)[..., None] * (1 - t * t)
            grads["scale"] = np.asarray((du * (q[:, :, None] + k[:, None])).sum())
            dq = (du * scale).sum(axis=2)
            dk = (du * scale).sum(axis=1)
        dws = [grads[wt.name] for wt in self._weights if wt.trainable] if self.trainable else []
        return [dq, dv, dk], dws

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
            "use_causal_mask": self.use_causal_mask,
            "return_attention_scores": self.return_attention_scores,
        }
