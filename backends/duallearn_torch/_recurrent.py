"""SimpleRNN, LSTM, GRU and Bidirectional on torch.

Native layout (``to_native``): ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``
(GRU blocks permuted Keras z|r|h → torch r|z|n), ``bias`` kept (GRU ``reset_after``: rows
permuted the same way, ``bias[0] → b_ih``, ``bias[1] → b_hh``). LSTM/SimpleRNN have one
Keras bias: torch's ``b_hh`` is a zero buffer that never trains.

The fused kernels (``torch._VF.lstm/gru/rnn_tanh/rnn_relu``, what ``nn.LSTM`` etc. call) run
whenever they compute the Keras formula: default activations, no recurrent dropout in
training, no Keras mask, GRU ``reset_after=True``. Input dropout (one mask per sequence) is
applied to ``x`` before the fused call. Everything else runs a cell loop in the same layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from duallearn.plugin import (
    BidirectionalMixin,
    GRUCellMixin,
    LSTMCellMixin,
    RNNMixin,
    SimpleRNNCellMixin,
)

from . import _activations
from ._layers import DTYPES, TorchLayer, implements, native_layer
from ._rng import TorchRng

_GRU_PERM = (1, 0, 2)  # Keras gate g lives in torch block _GRU_PERM[g] (r|z|n)


def _perm_cols(a: np.ndarray, perm: tuple[int, ...], n: int) -> np.ndarray:
    u = a.shape[-1] // n
    return np.concatenate([a[..., p * u : (p + 1) * u] for p in perm], axis=-1)


def draw_masks(layer: Any, b: int, f: int, like: torch.Tensor, rng: TorchRng) -> torch.Tensor:
    """Fast-mode masks with the layout of ``Layer.draw_noise``: (B, gates, F + units)."""
    g, u = layer.n_gates, layer.units
    out = torch.ones((b, g, f + u), dtype=like.dtype, device=like.device)
    if layer.dropout > 0:
        shape = (b, g, f) if layer.recurrent_dropout > 0 else (b, 1, f)
        keep = rng.uniform(shape, like) >= layer.dropout
        out[:, :, :f] = keep.to(like.dtype) / (1.0 - layer.dropout)
    if layer.recurrent_dropout > 0:
        keep = rng.uniform((b, g, u), like)
        out[:, :, f:] = (keep >= layer.recurrent_dropout).to(like.dtype) / (
            1.0 - layer.recurrent_dropout
        )
    return out


class TorchRNN(RNNMixin, TorchLayer):
    """duallearn.plugin's driver (masks, direction, fused call or cell loop, outputs) on
    torch: the layout, the fused kernels and the cell loop."""

    perm: tuple[int, ...] = (0,)

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)
        self.ract = _activations.get(getattr(layer, "recurrent_activation", "sigmoid"))
        self.units = layer.units

    # ---- layout --------------------------------------------------------------------------
    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        n = len(self.perm)
        if index < 2:
            return np.ascontiguousarray(_perm_cols(value, self.perm, n).T)
        return np.ascontiguousarray(_perm_cols(value, self.perm, n))

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        n = len(self.perm)
        inv = tuple(int(i) for i in np.argsort(self.perm))
        if index < 2:
            return np.ascontiguousarray(_perm_cols(value.T, inv, n))
        return np.ascontiguousarray(_perm_cols(value, inv, n))

    # ---- gate views in Keras order (for the cell loop) ----------------------------------
    def _gates(self) -> tuple[list[torch.Tensor], list[torch.Tensor], Any]:
        u = self.units
        w_ih, w_hh = self.dl_vars[0], self.dl_vars[1]
        ks = [w_ih[p * u : (p + 1) * u].t() for p in self.perm]
        rs = [w_hh[p * u : (p + 1) * u].t() for p in self.perm]
        bias = self.dl_vars[2] if self.spec.use_bias else None
        if bias is not None and self.spec.use_recurrent_bias:
            bias = bias + self.dl_vars[3]
        return ks, rs, bias

    def _zero_bias(self) -> torch.Tensor:
        """torch's ``b_hh``: the ``recurrent_bias`` weight, or a zero buffer that never trains."""
        if self.spec.use_recurrent_bias:
            return self.dl_vars[3]
        b: torch.Tensor = self.get_buffer("b_hh")
        return b

    def _bias_piece(self, bias: torch.Tensor, g: int) -> torch.Tensor:
        u = self.units
        p = self.perm[g]
        return bias[..., p * u : (p + 1) * u]

    # ---- forward -------------------------------------------------------------------------
    def cast(self, a: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return a.to(dtype)

    def reverse_time(self, a: torch.Tensor) -> torch.Tensor:
        return a.flip(1)

    def draw_masks(self, x: torch.Tensor, f: int) -> torch.Tensor:
        return draw_masks(self.spec, x.shape[0], f, x, self.rng)

    def fused(self, x: torch.Tensor, init: Any = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # oneDNN has no float16 RNN kernel: under CPU float16 autocast, run it in float32
        if (
            x.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.float16
        ):
            with torch.autocast("cpu", enabled=False):
                w = self.dl_vars[0].dtype
                init32 = None if init is None else [s.to(w) for s in init]
                return self.fused_kernel(x.to(w), init32)
        return self.fused_kernel(x, init)

    def fused_kernel(
        self, x: torch.Tensor, init: Any = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def _h0(self, x: torch.Tensor, init: Any, i: int = 0) -> torch.Tensor:
        if init is not None:
            return init[i][None]
        return x.new_zeros((1, x.shape[0], self.units))

    def _loop(
        self, x: torch.Tensor, dm: list[Any], rm: list[Any], mask: Any, init: Any = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = self.spec
        b, t, _ = x.shape
        zeros = x.new_zeros((b, self.units))
        states = list(init) if init is not None else [zeros] * spec.n_states
        outs = []
        m_all = None if mask is None else mask.to(torch.bool)
        # where a step outputs its h (elsewhere zeros): the step's mask with
        # zero_output_for_mask; else "a step so far was kept" (Keras outputs the previous
        # output at a masked step, zeros before the first kept one), needed only when the
        # states do not start at zero
        kept = None
        if m_all is not None:
            if spec.zero_output_for_mask:
                kept = m_all
            elif init is not None:
                kept = torch.cumsum(m_all.to(torch.int32), dim=1) > 0
        for ti in range(t):
            xt = x[:, ti]
            x_in = [xt if m is None else xt * m for m in dm]
            h_in = [states[0] if m is None else states[0] * m for m in rm]
            new = self.step(x_in, h_in, states)
            if m_all is not None:
                m = m_all[:, ti : ti + 1]
                new = [torch.where(m, n, s) for n, s in zip(new, states, strict=True)]
            out = new[0] if kept is None else torch.where(kept[:, ti : ti + 1], new[0], zeros)
            outs.append(out)
            states = new
        return torch.stack(outs, dim=1), states


@implements("SimpleRNN")
class TorchSimpleRNN(SimpleRNNCellMixin, TorchRNN):
    """``nn.RNN``'s fused tanh/relu kernel (b_hh = 0), else a cell loop."""

    perm = (0,)

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.register_buffer("b_hh", torch.zeros(layer.units, dtype=DTYPES[layer.dtype]))

    def fusable(self, dtype: torch.dtype) -> bool:
        return self.spec.activation in ("tanh", "relu")

    def fused_kernel(
        self, x: torch.Tensor, init: Any = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h0 = self._h0(x, init)
        params = [self.dl_vars[0], self.dl_vars[1]]
        if self.spec.use_bias:
            params += [self.dl_vars[2], self._zero_bias()]
        fn = torch._VF.rnn_tanh if self.spec.activation == "tanh" else torch._VF.rnn_relu
        out, h = fn(x, h0, params, self.spec.use_bias, 1, 0.0, self.training, False, True)
        return out, [h[0]]


@implements("LSTM")
class TorchLSTM(LSTMCellMixin, TorchRNN):
    """``nn.LSTM``'s fused kernel (same gate order i|f|g|o, b_hh = 0), else a cell loop."""

    perm = (0, 1, 2, 3)

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.register_buffer("b_hh", torch.zeros(4 * layer.units, dtype=DTYPES[layer.dtype]))

    def fusable(self, dtype: torch.dtype) -> bool:
        return self.spec.activation == "tanh" and self.spec.recurrent_activation == "sigmoid"

    def fused_kernel(
        self, x: torch.Tensor, init: Any = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h0 = self._h0(x, init)
        params = [self.dl_vars[0], self.dl_vars[1]]
        if self.spec.use_bias:
            params += [self.dl_vars[2], self._zero_bias()]
        out, h, c = torch._VF.lstm(
            x,
            (h0, self._h0(x, init, 1)),
            params,
            self.spec.use_bias,
            1,
            0.0,
            self.training,
            False,
            True,
        )
        return out, [h[0], c[0]]


@implements("GRU")
class TorchGRU(GRUCellMixin, TorchRNN):
    """``nn.GRU``'s fused kernel for ``reset_after=True`` (blocks permuted to r|z|n,
    ``bias[0] → b_ih``, ``bias[1] → b_hh``); ``reset_after=False`` runs a cell loop."""

    perm = _GRU_PERM

    def fusable(self, dtype: torch.dtype) -> bool:
        s = self.spec
        return s.reset_after and s.activation == "tanh" and s.recurrent_activation == "sigmoid"

    def fused_kernel(
        self, x: torch.Tensor, init: Any = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h0 = self._h0(x, init)
        params = [self.dl_vars[0], self.dl_vars[1]]
        if self.spec.use_bias:
            params += [self.dl_vars[2][0], self.dl_vars[2][1]]
        out, h = torch._VF.gru(
            x, h0, params, self.spec.use_bias, 1, 0.0, self.training, False, True
        )
        return out, [h[0]]


@implements("Bidirectional")
class TorchBidirectional(BidirectionalMixin, TorchLayer):
    """Two native RNNs (forward, backward) and Keras's merge (duallearn.plugin's)."""

    def __init__(self, layer: Any) -> None:
        nn.Module.__init__(self)
        self.dtype = DTYPES[layer.dtype]
        self._init_pair(layer, native_layer)

    def reverse_time(self, a: torch.Tensor) -> torch.Tensor:
        return a.flip(1)

    def concat_last(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=-1)

    def scalar(self, value: float, like: Any) -> float:
        return value  # a Python number keeps the tensor's dtype
