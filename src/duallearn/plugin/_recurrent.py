"""SimpleRNN, LSTM, GRU and Bidirectional: the parts written once for every backend
(formulas in duallearn/layers/_recurrent.py).

:class:`RNNMixin` is the driver (initial states, dropout masks, direction, the backend's fused
kernel or its cell loop, outputs); the cell mixins hold one time step of each layer in Keras's
gate order, in Python operators (``@`` is the framework's matmul), for the backend's cell loop
to call; :class:`BidirectionalMixin` runs the two directions and Keras's merge. The fused
kernels and the loops stay in the backends: nothing here adds work per time step beyond the
cell formula itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RNNMixin:
    """The driver of a recurrent layer. The backend provides the primitives below, the
    layer's ``fusable``/``fused`` (its native kernel, called when no Keras mask and no
    recurrent dropout apply) and ``_loop`` (the cell loop over ``step``)."""

    spec: Any

    def cast(self, a: Any, dtype: Any) -> Any:
        raise NotImplementedError

    def reverse_time(self, a: Any) -> Any:
        """``a`` reversed along axis 1 (time)."""
        raise NotImplementedError

    def draw_masks(self, x: Any, f: int) -> Any:
        """Fast-mode dropout masks with the layout of ``Layer.draw_noise``: (B, gates,
        F + units)."""
        raise NotImplementedError

    def fusable(self, dtype: Any) -> bool:
        return False

    def fused(self, x: Any, init: Any = None) -> tuple[Any, list[Any]]:
        raise NotImplementedError

    def _loop(
        self, x: Any, dm: list[Any], rm: list[Any], mask: Any, init: Any = None
    ) -> tuple[Any, list[Any]]:
        """The cell loop: ``step`` per time step, inputs times ``dm[gate]`` and the hidden
        state times ``rm[gate]`` (``None``: no dropout), masked steps keeping the states."""
        raise NotImplementedError

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        spec = self.spec
        init = None
        if isinstance(x, (list, tuple)):
            x, init = x[0], list(x[1:])
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        f = x.shape[-1]
        g = spec.n_gates
        masks: Any = None
        if training and (spec.dropout > 0 or spec.recurrent_dropout > 0):
            masks = self.cast(noise, x.dtype) if noise is not None else self.draw_masks(x, f)
        if spec.go_backwards:
            x = self.reverse_time(x)
            mask = None if mask is None else self.reverse_time(mask)
        rec = masks is not None and spec.recurrent_dropout > 0
        if mask is None and not rec and self.fusable(x.dtype):
            x_in = x if masks is None or spec.dropout == 0 else x * masks[:, :1, :f]
            out, states = self.fused(x_in, init)
        else:
            dm = [None if masks is None or spec.dropout == 0 else masks[:, k, :f] for k in range(g)]
            rm = [None if not rec else masks[:, k, f:] for k in range(g)]
            out, states = self._loop(x, dm, rm, mask, init)
        y = out if spec.return_sequences else out[:, -1]
        return [y, *states] if spec.return_state else y


class _Cell:
    """What a cell's ``step`` reads from its backend class: ``_gates()`` gives (input kernels,
    recurrent kernels) per gate in Keras order as ``(in, units)`` matrices and the bias
    (``recurrent_bias`` added) or ``None``; ``_bias_piece(bias, g)`` is Keras gate ``g``'s block
    of ``bias`` (last axis). Annotations only: a cell mixin precedes the backend's driver class
    in the MRO, so it must define nothing the driver provides."""

    spec: Any
    act: Callable[[Any], Any]
    ract: Callable[[Any], Any]
    _gates: Callable[[], tuple[list[Any], list[Any], Any]]
    _bias_piece: Callable[[Any, int], Any]


class SimpleRNNCellMixin(_Cell):
    """Backend side of ``SimpleRNN``'s step: ``h_t = act(x_t·W + h_{t−1}·U + b)``."""

    def step(self, x_in: list[Any], h_in: list[Any], states: list[Any]) -> list[Any]:
        ks, rs, bias = self._gates()
        a = x_in[0] @ ks[0] + h_in[0] @ rs[0]
        if bias is not None:
            a = a + bias
        return [self.act(a)]


class LSTMCellMixin(_Cell):
    """Backend side of ``LSTM``'s step, Keras's gate order ``i, f, c, o``:
    ``c_t = f⊙c_{t−1} + i⊙act(x·W_c + h·U_c + b_c)``, ``h_t = o⊙act(c_t)``."""

    def step(self, x_in: list[Any], h_in: list[Any], states: list[Any]) -> list[Any]:
        ks, rs, bias = self._gates()
        z = [x_in[g] @ ks[g] + h_in[g] @ rs[g] for g in range(4)]
        if bias is not None:
            z = [z[g] + self._bias_piece(bias, g) for g in range(4)]
        i, f, cc, o = self.ract(z[0]), self.ract(z[1]), self.act(z[2]), self.ract(z[3])
        c = f * states[1] + i * cc
        return [o * self.act(c), c]


class GRUCellMixin(_Cell):
    """Backend side of ``GRU``'s step, Keras's gate order ``z, r, h``; ``reset_after=True``
    (Keras's default, cuDNN's form) applies the reset gate after the recurrent matmul."""

    def step(self, x_in: list[Any], h_in: list[Any], states: list[Any]) -> list[Any]:
        ks, rs, bias = self._gates()
        ra = self.spec.reset_after
        xz, xr, xh = (x_in[g] @ ks[g] for g in range(3))
        if bias is not None:
            bi = bias[0] if ra else bias
            xz, xr, xh = (
                xz + self._bias_piece(bi, 0),
                xr + self._bias_piece(bi, 1),
                xh + self._bias_piece(bi, 2),
            )
        rz, rr = h_in[0] @ rs[0], h_in[1] @ rs[1]
        if bias is not None and ra:
            rz, rr = rz + self._bias_piece(bias[1], 0), rr + self._bias_piece(bias[1], 1)
        z, r = self.ract(xz + rz), self.ract(xr + rr)
        if ra:
            rh = h_in[2] @ rs[2]
            if bias is not None:
                rh = rh + self._bias_piece(bias[1], 2)
            hh = self.act(xh + r * rh)
        else:
            hh = self.act(xh + (r * h_in[2]) @ rs[2])
        return [z * states[0] + (1 - z) * hh]


class BidirectionalMixin:
    """Two native recurrent layers ``fwd``, ``bwd`` (the backend builds them and lists their
    variables, forward's first, in ``dl_vars``; ``_n`` = forward's count) and Keras's merge."""

    spec: Any
    fwd: Any
    bwd: Any
    dl_vars: list[Any]
    takes_mask: bool
    _n: int

    def _init_pair(self, layer: Any, native_layer: Callable[[Any], Any]) -> None:
        """Attributes set by the backend's ``__init__`` after its framework module's own."""
        self.takes_mask = True
        self.spec = layer
        self.fwd = native_layer(layer.forward_layer)
        self.bwd = native_layer(layer.backward_layer)
        self.dl_vars = list(self.fwd.dl_vars) + list(self.bwd.dl_vars)
        self._n = len(self.fwd.dl_vars)

    def reverse_time(self, a: Any) -> Any:
        """``a`` reversed along axis 1 (time)."""
        raise NotImplementedError

    def concat_last(self, xs: list[Any]) -> Any:
        raise NotImplementedError

    def scalar(self, value: float, like: Any) -> Any:
        """``value`` as an operand of ``like``'s dtype (a Python number where the framework
        promotes one to the tensor's dtype)."""
        raise NotImplementedError

    def to_native(self, index: int, value: Any) -> Any:
        if index < self._n:
            return self.fwd.to_native(index, value)
        return self.bwd.to_native(index - self._n, value)

    def to_canonical(self, index: int, value: Any) -> Any:
        if index < self._n:
            return self.fwd.to_canonical(index, value)
        return self.bwd.to_canonical(index - self._n, value)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return self.spec.compute_mask(x, mask)

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        spec = self.spec
        nf = None if noise is None else noise[:, 0]
        nb = None if noise is None else noise[:, 1]
        kw = {} if mask is None else {"mask": mask}
        yf = self.fwd.forward(x, training, nf, **kw)
        yb = self.bwd.forward(x, training, nb, **kw)
        sf: list[Any] = []
        sb: list[Any] = []
        if spec.return_state:
            yf, sf, yb, sb = yf[0], list(yf[1:]), yb[0], list(yb[1:])
        if spec.return_sequences:
            yb = self.reverse_time(yb)
        mode = spec.merge_mode
        if mode == "concat":
            outs = [self.concat_last([yf, yb])]
        elif mode == "sum":
            outs = [yf + yb]
        elif mode == "mul":
            outs = [yf * yb]
        elif mode == "ave":
            outs = [(yf + yb) * self.scalar(0.5, yf)]
        else:
            outs = [yf, yb]
        if spec.return_state or mode is None:
            return outs + sf + sb
        return outs[0]
