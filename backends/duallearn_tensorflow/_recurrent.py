"""SimpleRNN, LSTM, GRU and Bidirectional on TensorFlow.

Weights stay in the canonical (Keras) layout. Every floating-point call of the three layers
(Keras masks, input and recurrent dropout, ``go_backwards``, initial states included) runs one
``tf.while_loop`` over the time-major inputs in a TensorArray whose step does, in the same
formula as the numpy reference and Keras, the input GEMM ``x_t·W`` and the recurrent GEMM
``h·U`` over all gates at once (one per gate only under dropout masks) and the gate math; the
outputs are stacked only for ``return_sequences``. The input GEMMs do not depend on the
recurrence, so ``parallel_iterations`` runs them ahead of it. Measured on a 2-core CPU (B=64,
T=50, D=32, H=128; ``benchmarks/recurrent_kernels.py``, docs/benchmarks.md): against the
per-gate cell as a ``tf.scan`` that GRU and SimpleRNN (and LSTM under a mask) ran before,
training 1.9-2.2× (GRU, masked LSTM) and 1.2-1.5× (SimpleRNN) faster, predict 1.2-1.35×;
as fast as hoisting the input projection of all steps into one GEMM before the loop, with
10-20 % less CPU (those projections' TensorArray is ``gates·units/features`` times the
inputs'); TensorFlow's fused ``BlockLSTMV2`` op was 2× slower. cuDNN is GPU-only (as in Keras).
TF Lite export swaps in its own loop (``_export.py``).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from duallearn.plugin import (
    BidirectionalMixin,
    GRUCellMixin,
    LSTMCellMixin,
    RNNMixin,
    SimpleRNNCellMixin,
)

from . import _activations, _rng
from ._layers import DTYPES, TFLayer, implements, native_layer


def draw_masks(native: TFLayer, b: tf.Tensor, f: int, dtype: tf.DType) -> tf.Tensor:
    """Fast-mode masks with the layout of ``Layer.draw_noise``: (B, gates, F + units)."""
    layer = native.spec
    g, u = layer.n_gates, layer.units
    parts = []
    if layer.dropout > 0:
        shape = tf.stack([b, g if layer.recurrent_dropout > 0 else 1, f])
        keep = tf.cast(_rng.uniform(native, shape, dtype, tag=0) >= layer.dropout, dtype)
        m = keep * tf.constant(1.0 / (1.0 - layer.dropout), dtype=dtype)
        parts.append(tf.broadcast_to(m, tf.stack([b, g, f])))
    else:
        parts.append(tf.ones(tf.stack([b, g, f]), dtype))
    if layer.recurrent_dropout > 0:
        keep = _rng.uniform(native, tf.stack([b, g, u]), dtype, tag=1) >= layer.recurrent_dropout
        parts.append(
            tf.cast(keep, dtype) * tf.constant(1.0 / (1.0 - layer.recurrent_dropout), dtype=dtype)
        )
    else:
        parts.append(tf.ones(tf.stack([b, g, u]), dtype))
    return tf.concat(parts, axis=-1)


class TFRNN(RNNMixin, TFLayer):
    """duallearn.plugin's driver (masks, direction, dropout, outputs) on TensorFlow: weights
    in the compute dtype of the call, and the one loop :meth:`_run` (the layer's ``fused``
    kernel and its cell loop alike) over the cell's :meth:`_cell`."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)
        self.ract = _activations.get(getattr(layer, "recurrent_activation", "sigmoid"))
        self.units = layer.units

    def _gates(self) -> tuple[list[tf.Tensor], list[tf.Tensor], Any]:
        """Per-gate kernels for the cell mixins' ``step`` (TF Lite export's loop)."""
        u, g = self.units, self.spec.n_gates
        k, r = self._var(0), self._var(1)
        ks = [k[:, i * u : (i + 1) * u] for i in range(g)]
        rs = [r[:, i * u : (i + 1) * u] for i in range(g)]
        return ks, rs, self._bias()

    def _bias(self) -> tf.Tensor | None:
        """The bias (``recurrent_bias`` added) in the call's compute dtype, or ``None``."""
        bias = self._var(2) if self.spec.use_bias else None
        if bias is not None and self.spec.use_recurrent_bias:
            bias = bias + self._var(3)
        return bias

    def _var(self, i: int) -> tf.Tensor:
        """Weight ``i`` in the compute dtype of the current call (mixed precision keeps the
        variables in float32 and computes in the inputs' float16/bfloat16)."""
        v = self.dl_vars[i]
        dt = getattr(self, "_compute", None)
        return v if dt is None or dt == v.dtype else tf.cast(v, dt)

    def _bias_piece(self, bias: tf.Tensor, g: int) -> tf.Tensor:
        u = self.units
        return bias[..., g * u : (g + 1) * u]

    def _begin(self, x: tf.Tensor, init: Any) -> Any:
        """Start of a run: later weight reads cast to ``x``'s dtype, and the initial states
        with them."""
        self._compute = x.dtype
        return None if init is None else [tf.cast(s, x.dtype) for s in init]

    def cast(self, a: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
        return tf.cast(a, dtype)

    def reverse_time(self, a: tf.Tensor) -> tf.Tensor:
        return tf.reverse(a, axis=[1])

    def draw_masks(self, x: tf.Tensor, f: int) -> tf.Tensor:
        return draw_masks(self, tf.shape(x)[0], f, x.dtype)

    def fusable(self, dtype: tf.DType) -> bool:
        return bool(dtype.is_floating)

    def fused(self, x: tf.Tensor, init: Any = None) -> tuple[tf.Tensor, list[tf.Tensor]]:
        return self._run(x, None, None, None, init)

    def _loop(
        self, x: tf.Tensor, dm: list[Any], rm: list[Any], mask: Any, init: Any = None
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        return self._run(x, dm, rm, mask, init)

    # ---- the loop ------------------------------------------------------------------------
    def _cell_weights(self) -> tuple[Any, ...]:
        """What :meth:`_cell` reads, built (cast, sliced) once outside the loop."""
        return self._var(0), self._var(1), self._bias()

    def _cell(
        self, x: tf.Tensor, states: list[tf.Tensor], w: tuple[Any, ...], dm: Any, rm: Any
    ) -> list[tf.Tensor]:
        """One time step: the new states from the step's inputs ``x`` and the states."""
        raise NotImplementedError

    def _mm(self, a: tf.Tensor, w: tf.Tensor, masks: Any, n: int) -> tf.Tensor:
        """``a·w`` over the first ``n`` gate blocks of ``w``: one GEMM, or one per gate with
        ``a`` times that gate's dropout mask (``masks[g]``; ``None``: no dropout)."""
        if masks is None or all(m is None for m in masks[:n]):
            return tf.matmul(a, w)
        u = self.units
        return tf.concat(
            [
                tf.matmul(a if m is None else a * m, w[:, g * u : (g + 1) * u])
                for g, m in enumerate(masks[:n])
            ],
            axis=-1,
        )

    def _affine(
        self, x: tf.Tensor, h: tf.Tensor, w: tuple[Any, ...], dm: Any, rm: Any
    ) -> tf.Tensor:
        """``x·W + h·U + b`` over all gates (SimpleRNN, LSTM; ``w`` = (W, U, b or None))."""
        k, r, bias = w
        g = self.spec.n_gates
        z = self._mm(x, k, dm, g) + self._mm(h, r, rm, g)
        return z if bias is None else z + bias

    def _run(
        self, x: tf.Tensor, dm: Any, rm: Any, mask: Any, init: Any = None
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """``tf.while_loop`` of :meth:`_cell` over the time-major inputs in a TensorArray; a
        Keras ``mask`` keeps the states of masked steps (their output: the previous output,
        zeros before the first kept step; zeros with ``zero_output_for_mask``); the outputs
        are stacked only for ``return_sequences`` (else ``(B, 1, units)``: the last one)."""
        init = self._begin(x, init)
        spec, u, n = self.spec, self.units, self.spec.n_states
        dyn = tf.shape(x)
        b, t = (dyn[i] if x.shape[i] is None else int(x.shape[i]) for i in (0, 1))
        xs = tf.TensorArray(x.dtype, size=t).unstack(tf.transpose(x, [1, 0, 2]))
        w = self._cell_weights()
        zeros = tf.zeros(tf.stack([b, u]), x.dtype)
        ms = kept = None
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
            ms = tf.TensorArray(tf.bool, size=t).unstack(tf.transpose(mask))
        zero_out = mask is not None and spec.zero_output_for_mask
        # where a step outputs its h (elsewhere zeros): the step's mask with
        # zero_output_for_mask; else "a step so far was kept" (Keras outputs the previous
        # output at a masked step, zeros before the first kept one), needed only when the
        # states do not start at zero
        if mask is not None and not zero_out and init is not None:
            seen = tf.cast(tf.math.cumsum(tf.cast(mask, tf.int32), axis=1) > 0, tf.bool)
            kept = tf.TensorArray(tf.bool, size=t).unstack(tf.transpose(seen))
        seq = [tf.TensorArray(x.dtype, size=t)] if spec.return_sequences else []

        def body(i: tf.Tensor, *carry: Any) -> tuple[Any, ...]:
            old = list(carry[:n])
            new = self._cell(xs.read(i), old, w, dm, rm)
            y = new[0]
            if ms is not None:
                m = ms.read(i)[:, None]
                new = [tf.where(m, a, o) for a, o in zip(new, old, strict=True)]
                y = new[0]
                if zero_out:
                    y = tf.where(m, y, zeros)
                elif kept is not None:
                    y = tf.where(kept.read(i)[:, None], y, zeros)
            return (i + 1, *new, *[ta.write(i, y) for ta in carry[n:]])

        res = tf.while_loop(
            lambda i, *_: i < t,
            body,
            (tf.constant(0), *(init if init is not None else [zeros] * n), *seq),
            parallel_iterations=32,
            swap_memory=True,
            maximum_iterations=t,  # XLA differentiates a loop only with a bound
        )
        states = list(res[1 : 1 + n])
        if seq:
            return tf.transpose(res[-1].stack(), [1, 0, 2]), states
        last = states[0]
        if zero_out:
            last = tf.where(mask[:, -1:], last, zeros)
        elif kept is not None:  # no step kept: Keras's last output is still its zeros
            last = tf.where(tf.reduce_any(mask, axis=1, keepdims=True), last, zeros)
        return last[:, None, :], states


@implements("SimpleRNN")
class TFSimpleRNN(SimpleRNNCellMixin, TFRNN):
    def _cell(
        self, x: tf.Tensor, states: list[tf.Tensor], w: tuple[Any, ...], dm: Any, rm: Any
    ) -> list[tf.Tensor]:
        return [self.act(self._affine(x, states[0], w, dm, rm))]


@implements("LSTM")
class TFLSTM(LSTMCellMixin, TFRNN):
    """``z = x_t·W + h·U + b`` (gates i|f|c|o as Keras) in two GEMMs per step."""

    def _cell(
        self, x: tf.Tensor, states: list[tf.Tensor], w: tuple[Any, ...], dm: Any, rm: Any
    ) -> list[tf.Tensor]:
        i, f, cc, o = tf.split(self._affine(x, states[0], w, dm, rm), 4, axis=-1)
        c = self.ract(f) * states[1] + self.ract(i) * self.act(cc)
        return [self.ract(o) * self.act(c), c]


@implements("GRU")
class TFGRU(GRUCellMixin, TFRNN):
    """Gates z|r|h as Keras: ``reset_after=True`` (default) ``hh = act(x·W_h + b_h +
    r⊙(h·U_h + b'_h))`` with one recurrent GEMM over the three gates; ``reset_after=False``
    ``hh = act(x·W_h + b_h + (r⊙h)·U_h)``, a GEMM for z|r and one for ``(r⊙h)·U_h``."""

    def _cell_weights(self) -> tuple[Any, ...]:
        k, r, bias = super()._cell_weights()
        u = self.units
        if self.spec.reset_after:  # (W, U, input bias row, recurrent bias row)
            return k, r, *((None, None) if bias is None else (bias[0], bias[1]))
        return k, r[:, : 2 * u], r[:, 2 * u :], bias  # (W, U_z|U_r, U_h, bias)

    def _cell(
        self, x: tf.Tensor, states: list[tf.Tensor], w: tuple[Any, ...], dm: Any, rm: Any
    ) -> list[tf.Tensor]:
        h = states[0]
        xp = self._mm(x, w[0], dm, 3)
        if self.spec.reset_after:
            _, r, b_in, b_rec = w
            hp = self._mm(h, r, rm, 3)
            if b_in is not None:
                xp, hp = xp + b_in, hp + b_rec
            xz, xr, xh = tf.split(xp, 3, axis=-1)
            rz, rr, rh = tf.split(hp, 3, axis=-1)
            z, r_gate = self.ract(xz + rz), self.ract(xr + rr)
            hh = self.act(xh + r_gate * rh)
        else:
            _, r_zr, r_h, bias = w
            if bias is not None:
                xp = xp + bias
            xz, xr, xh = tf.split(xp, 3, axis=-1)
            rz, rr = tf.split(self._mm(h, r_zr, rm, 2), 2, axis=-1)
            z, r_gate = self.ract(xz + rz), self.ract(xr + rr)
            h_h = h if rm is None or rm[2] is None else h * rm[2]
            hh = self.act(xh + tf.matmul(r_gate * h_h, r_h))
        return [z * h + (1 - z) * hh]


@implements("Bidirectional")
class TFBidirectional(BidirectionalMixin, TFLayer):
    """Two native RNNs (forward, backward) and Keras's merge (duallearn.plugin's)."""

    def __init__(self, layer: Any) -> None:
        tf.Module.__init__(self, name=None)
        self.dtype = DTYPES[layer.dtype]
        self._init_pair(layer, native_layer)

    def reverse_time(self, a: tf.Tensor) -> tf.Tensor:
        return tf.reverse(a, axis=[1])

    def concat_last(self, xs: list[tf.Tensor]) -> tf.Tensor:
        return tf.concat(xs, axis=-1)

    def scalar(self, value: float, like: Any) -> tf.Tensor:
        return tf.constant(value, dtype=like.dtype)
