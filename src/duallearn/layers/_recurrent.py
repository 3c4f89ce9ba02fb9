"""Recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU`` and the ``Bidirectional`` wrapper.

Keras 3 names, arguments, defaults, weight layout and formulas (``keras/src/layers/rnn``).
Data is ``(batch, timesteps, features)``. The numpy references below are the test oracle:
``reference`` runs the cell over time, ``reference_backward`` is backpropagation through time.

Dropout (Keras's meaning, not PyTorch's): ``dropout`` multiplies the *input* of every step by a
mask drawn once per sequence, ``recurrent_dropout`` multiplies the previous hidden state fed to
the recurrent kernel by another per-sequence mask. When ``recurrent_dropout > 0`` Keras switches
to its "implementation 1" with one mask per gate (4 for LSTM, 3 for GRU); otherwise one input
mask shared by all gates. The per-step noise array (deterministic mode, and what
:meth:`draw_noise` returns) has shape ``(batch, gates, features + units)``: ``[..., :features]``
the input masks, ``[..., features:]`` the recurrent masks, values ``0`` or ``1/(1 - rate)``.

Keras masks (``Embedding(mask_zero=True)`` upstream): at a masked step every state keeps its
previous value and the step's output is the previous step's output (``zero_output_for_mask=
False``, default: the carried ``h`` once a step was kept, zeros before the first kept step,
even with an initial state) or zeros (``zero_output_for_mask=True``, as ``Bidirectional``
forces with ``return_sequences``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import activations
from .. import initializers as _init
from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer, Weight, positive_int
from ._weight_options import attach, constraint, options_config, regularizer

# ---------------------------------------------------------------------------------------------
# numpy cells (Keras gate order). Each step returns (new_states, cache); each backward step
# returns (dx_t, d_prev_states, dweights).
# ---------------------------------------------------------------------------------------------


def _act(name: str, z: np.ndarray) -> np.ndarray:
    return activations.reference(name, z)


def _act_grad(name: str, z: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return activations.reference_grad(name, z, y, dy)


def _rate(layer: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(
            f"{layer}: {name} must be a number in [0, 1). Received: {name}={value!r}. "
            f"Fix: e.g. {name}=0.2."
        )
    return float(value)


class _ForgetBias(_init.Initializer):
    """Keras's ``unit_forget_bias``: ``[init(H), ones(H), init(2H)]``."""

    def __init__(self, base: _init.Initializer, units: int) -> None:
        super().__init__()
        self.base, self.units = base, units

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        h = self.units
        return np.concatenate(
            [self.base((h,), dtype), np.ones((h,), dtype), self.base((2 * h,), dtype)]
        ).astype(dtype)


class _RNN(Layer):
    """Shared machinery of SimpleRNN, LSTM and GRU (see the module docstring)."""

    supports_masking = True
    n_gates = 1
    n_states = 1

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: object = "glorot_uniform",
        recurrent_initializer: object = "orthogonal",
        bias_initializer: object = "zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        kernel_regularizer: object = None,
        recurrent_regularizer: object = None,
        bias_regularizer: object = None,
        kernel_constraint: object = None,
        recurrent_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("use_cudnn", None)
        kwargs.pop("implementation", None)
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.recurrent_regularizer = regularizer(
            self, "recurrent_regularizer", recurrent_regularizer
        )
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.kernel_constraint = constraint(self, "kernel_constraint", kernel_constraint)
        self.recurrent_constraint = constraint(self, "recurrent_constraint", recurrent_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        cls = type(self).__name__
        self.units = positive_int(cls, "units", units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.recurrent_initializer = _init.get(recurrent_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.dropout = _rate(cls, "dropout", dropout)
        self.recurrent_dropout = _rate(cls, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        if stateful:
            raise ConfigError(
                f"{cls}: stateful=True is not supported. Received: stateful={stateful!r}. "
                "Fix: pass the state explicitly (return_state=True) or use stateful=False."
            )
        self.stateful = False
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # ---- calling with an initial state ----------------------------------------------------
    def __call__(self, inputs: Any, initial_state: Any = None, **kwargs: Any) -> Any:
        """``layer(x)`` or ``layer(x, initial_state=[h0(, c0)])``; the node then receives the
        list ``[x, h0(, c0)]`` (which may also be passed directly)."""
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            if isinstance(inputs, (list, tuple)):
                raise ConfigError(
                    f"{type(self).__name__}: pass the states either in the input list or as "
                    "initial_state, not both."
                )
            inputs = [inputs, *states]
        if isinstance(inputs, (list, tuple)) and len(inputs) != 1 + self.n_states:
            names = "[h, c]" if self.n_states == 2 else "[h]"
            raise ConfigError(
                f"{type(self).__name__} {self.name!r} takes {self.n_states} initial state "
                f"tensor(s) ({names}). Received {len(inputs) - 1}. Fix: initial_state={names}."
            )
        return super().__call__(inputs, **kwargs)

    def _seq_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, list):
            for s in input_shape[1:]:
                if len(s) != 2 or (s[-1] is not None and s[-1] != self.units):
                    raise ShapeError(
                        f"Layer {self.name!r} ({type(self).__name__}) expects initial states "
                        f"of shape (batch, {self.units}). Received: {tuple(s)}."
                    )
            return tuple(input_shape[0])
        return input_shape

    @staticmethod
    def _split_input(x: Any, mask: Any) -> tuple[Any, list[Any] | None, Any]:
        if isinstance(x, (list, tuple)):
            m = mask[0] if isinstance(mask, (list, tuple)) else mask
            return x[0], list(x[1:]), m
        return x, None, mask

    # ---- shapes --------------------------------------------------------------------------
    def _check(self, input_shape: Any) -> None:
        input_shape = self._seq_shape(input_shape)
        if not isinstance(input_shape, tuple) or len(input_shape) != 3 or input_shape[-1] is None:
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) expects input of shape "
                f"(batch, timesteps, features) with known features, rank 3. Received input "
                f"shape {input_shape}. Fix: reshape to (batch, timesteps, features), e.g. "
                "add a Reshape or give Input a full shape."
            )

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        input_shape = self._seq_shape(input_shape)
        f, h, g = int(input_shape[-1]), self.units, self.n_gates
        self.kernel = attach(
            self.add_weight("kernel", (f, g * h), self.kernel_initializer),
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        self.recurrent_kernel = attach(
            self.add_weight("recurrent_kernel", (h, g * h), self.recurrent_initializer),
            self.recurrent_regularizer,
            self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = attach(
                self.add_weight("bias", self._bias_shape(), self._bias_init()),
                self.bias_regularizer,
                self.bias_constraint,
            )
            if self.use_recurrent_bias:
                self.add_weight("recurrent_bias", (g * h,), "zeros")

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.n_gates * self.units,)

    def _bias_init(self) -> _init.Initializer:
        return self.bias_initializer

    def compute_output_shape(self, input_shape: Any) -> Any:
        self._check(input_shape)
        input_shape = self._seq_shape(input_shape)
        b, t = input_shape[0], input_shape[1]
        out = (b, t, self.units) if self.return_sequences else (b, self.units)
        if self.return_state:
            return [out] + [(b, self.units)] * self.n_states
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self.n_states
        return out

    # ---- dropout noise -------------------------------------------------------------------
    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        if self.dropout == 0 and self.recurrent_dropout == 0:
            return None
        return (int(input_shape[0]), self.n_gates, int(input_shape[-1]) + self.units)

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        """Masks of shape ``(batch, gates, features + units)`` (module docstring)."""
        b, g, fh = input_shape
        f = fh - self.units
        out = np.ones((b, g, fh))
        per_gate = self.recurrent_dropout > 0  # Keras's implementation 1
        if self.dropout > 0:
            shape = (b, g, f) if per_gate else (b, 1, f)
            out[:, :, :f] = (rng.random(shape) >= self.dropout) / (1.0 - self.dropout)
        if self.recurrent_dropout > 0:
            keep = rng.random((b, g, self.units)) >= self.recurrent_dropout
            out[:, :, f:] = keep / (1.0 - self.recurrent_dropout)
        return out

    # ---- numpy reference -----------------------------------------------------------------
    use_recurrent_bias = False

    def _split(self, weights: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, Any]:
        if not self.use_bias:
            return weights[0], weights[1], None
        if self.use_recurrent_bias:  # PyTorch's b_ih + b_hh: one effective bias
            return weights[0], weights[1], weights[2] + weights[3]
        return weights[0], weights[1], weights[2]

    def _step(self, w: Any, x: np.ndarray, states: list[np.ndarray], xs: Any, hs: Any) -> Any:
        raise NotImplementedError

    def _step_back(self, w: Any, cache: Any, d: list[np.ndarray]) -> Any:
        raise NotImplementedError

    def _masks(
        self, x: np.ndarray, training: bool, noise: np.ndarray | None
    ) -> tuple[list[Any], list[Any]]:
        g, f = self.n_gates, x.shape[-1]
        if not training or noise is None:
            self._cur_masks: tuple[list[Any], list[Any]] = ([None] * g, [None] * g)
            return self._cur_masks
        n = np.asarray(noise, x.dtype)
        dm = [n[:, k, :f] if self.dropout > 0 else None for k in range(g)]
        rm = [n[:, k, f:] if self.recurrent_dropout > 0 else None for k in range(g)]
        self._cur_masks = (dm, rm)
        return dm, rm

    def _scan(
        self,
        weights: Sequence[np.ndarray],
        x: np.ndarray,
        training: bool,
        noise: np.ndarray | None,
        mask: np.ndarray | None,
        init: list[np.ndarray] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[Any]]:
        b, t, _ = x.shape
        w = self._split(weights)
        dm, rm = self._masks(x, training, noise)
        states = (
            [np.asarray(s, x.dtype) for s in init]
            if init is not None
            else [np.zeros((b, self.units), x.dtype) for _ in range(self.n_states)]
        )
        outs, caches = [], []
        order = range(t - 1, -1, -1) if self.go_backwards else range(t)
        for ti in order:
            xt = x[:, ti]
            xs_list = [xt if m is None else xt * m for m in dm]
            hs = [states[0] if m is None else states[0] * m for m in rm]
            new, cache = self._step(w, xt, states, xs_list, hs)
            m = None if mask is None else np.asarray(mask[:, ti], bool)[:, None]
            if m is not None:
                new = [np.where(m, n, s) for n, s in zip(new, states, strict=True)]
            caches.append((cache, m, (dm, rm)))
            outs.append(new[0])
            states = new
        kept = self._output_kept([c[1] for c in caches])
        outs = [o if k is None else np.where(k, o, 0.0) for o, k in zip(outs, kept, strict=True)]
        return outs, states, caches

    def _output_kept(self, ms: list[Any]) -> list[Any]:
        """Per step (processing order), where the output is the step's ``h`` (elsewhere 0),
        from the steps' masks ``ms``: the mask itself with ``zero_output_for_mask``, else
        "a step so far was kept" (Keras's output at a masked step is the previous output,
        zeros before the first kept one); None without a mask."""
        if self.zero_output_for_mask:
            return list(ms)
        out, seen = [], None
        for m in ms:
            seen = m if seen is None or m is None else seen | m
            out.append(seen)
        return out

    def _pack(self, outs: list[np.ndarray], states: list[np.ndarray]) -> Any:
        y = np.stack(outs, axis=1) if self.return_sequences else outs[-1]
        return [y, *states] if self.return_state else y

    def reference(self, weights, x, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        x, init, mask = self._split_input(x, mask)
        outs, states, _ = self._scan(weights, x, training, noise, mask, init)
        return self._pack(outs, states)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        x, init, mask = self._split_input(x, mask)
        outs, _, caches = self._scan(weights, x, training, noise, mask, init)
        t = x.shape[1]
        dys = list(dy) if self.return_state else [dy]
        d_out = [np.zeros_like(outs[0]) for _ in range(t)]
        if self.return_sequences:
            for s in range(t):
                d_out[s] = dys[0][:, s]
        else:
            d_out[t - 1] = dys[0]
        d_states = (
            [np.array(d, dtype=x.dtype) for d in dys[1:]]
            if self.return_state
            else [np.zeros_like(outs[0]) for _ in range(self.n_states)]
        )
        w = self._split(weights)
        dw = [np.zeros_like(a) for a in weights]
        dx = np.zeros_like(x)
        order = list(range(t - 1, -1, -1) if self.go_backwards else range(t))
        kept = self._output_kept([c[1] for c in caches])
        for s in reversed(range(t)):
            cache, m, _ = caches[s]
            d_new = list(d_states)
            if kept[s] is not None:
                d_new[0] = d_new[0] + np.where(kept[s], d_out[s], 0.0)
            else:
                d_new[0] = d_new[0] + d_out[s]
            if m is not None:
                carry = [np.where(m, 0.0, d) for d in d_new]
                d_new = [np.where(m, d, 0.0) for d in d_new]
            dxt, d_prev, dws = self._step_back(w, cache, d_new)
            if self.use_bias and self.use_recurrent_bias:
                dws = [*dws, dws[2]]
            if m is not None:
                d_prev = [a + c for a, c in zip(d_prev, carry, strict=True)]
            d_states = d_prev
            dx[:, order[s]] += dxt
            for acc, g in zip(dw, dws, strict=False):
                acc += g
        if init is not None:
            return [dx, *d_states], dw
        return dx, dw

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init.serialize(self.kernel_initializer),
            "recurrent_initializer": _init.serialize(self.recurrent_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            **options_config(self, "kernel", "recurrent", "bias"),
        }


def _input_grad(dz: list[np.ndarray], mats: list[np.ndarray], masks: list[Any]) -> np.ndarray:
    out: Any = 0.0
    for d, m, mk in zip(dz, mats, masks, strict=True):
        g = d @ m.T
        out = out + (g if mk is None else g * mk)
    return out  # type: ignore[no-any-return]


@REGISTRY.register()
class SimpleRNN(_RNN):
    """Fully-connected RNN: ``h_t = activation(x_t·kernel + h_{t-1}·recurrent_kernel + bias)``.

    Weights (canonical = Keras): ``kernel`` (features, units), ``recurrent_kernel``
    (units, units), ``bias`` (units,). Defaults: tanh, glorot_uniform kernel, orthogonal
    recurrent kernel, zero bias.

    Differs from PyTorch: ``nn.RNN`` has two biases (``b_ih + b_hh``), stores transposed
    weights, initializes everything U(±1/√units) and its ``dropout`` acts between stacked
    layers; here dropout is Keras's per-sequence input/recurrent masks (module docstring).
    The torch backend runs ``nn.RNN``'s fused kernel (b_hh frozen at 0) for tanh/relu
    without recurrent dropout or masks, a cell loop otherwise. ``use_recurrent_bias=True``
    (duallearn extension, PyTorch behaviour) adds a second trainable bias ``recurrent_bias``
    (units,) = torch's ``b_hh``, summed with ``bias`` (so it learns like torch's pair).
    """

    n_gates = 1
    n_states = 1

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        use_recurrent_bias: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.use_recurrent_bias = bool(use_recurrent_bias)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_recurrent_bias": self.use_recurrent_bias}

    def _step(self, w, x, states, xs, hs):  # type: ignore[no-untyped-def]
        k, r, b = w
        a = xs[0] @ k + hs[0] @ r
        if b is not None:
            a = a + b
        h = _act(self.activation, a)
        return [h], (xs, hs, a, h)

    def _step_back(self, w, cache, d):  # type: ignore[no-untyped-def]
        k, r, b = w
        xs, hs, a, h = cache
        _, rm = self._cur_masks
        da = _act_grad(self.activation, a, h, d[0])
        dws = [xs[0].T @ da, hs[0].T @ da] + ([da.sum(0)] if b is not None else [])
        dx = _input_grad([da], [k], [self._cur_masks[0][0]])
        dh = _input_grad([da], [r], [rm[0]])
        return dx, [dh], dws


@REGISTRY.register()
class LSTM(_RNN):
    """Long short-term memory (Keras 3 formula, gate order i|f|c|o)::

        z = x_t·kernel + h_{t-1}·recurrent_kernel + bias        (split in 4 blocks of units)
        i = σ(z_i)   f = σ(z_f)   c̃ = tanh(z_c)   o = σ(z_o)
        c_t = f·c_{t-1} + i·c̃        h_t = o·tanh(c_t)

    (σ = ``recurrent_activation``, tanh = ``activation``). Weights: ``kernel``
    (features, 4·units), ``recurrent_kernel`` (units, 4·units), ``bias`` (4·units,);
    ``unit_forget_bias=True`` initializes the forget slice of the bias to 1.
    ``return_state=True`` returns ``[output, h, c]``.

    Differs from PyTorch: ``nn.LSTM`` has two biases, stores ``weight_ih = kernel.T``
    (same gate order), initializes everything U(±1/√units) and applies ``dropout`` between
    stacked layers. The torch backend runs ``nn.LSTM``'s fused kernel with ``b_hh`` frozen at
    zero whenever the formula allows (sigmoid/tanh, no recurrent dropout, no mask).
    ``use_recurrent_bias=True`` (duallearn extension, PyTorch behaviour) adds a second trainable
    bias ``recurrent_bias`` (4·units,) = torch's ``bias_hh``, summed with ``bias``: an imported
    ``nn.LSTM`` then trains as in PyTorch (both biases learn).
    """

    n_gates = 4
    n_states = 2

    def __init__(
        self,
        units: int,
        unit_forget_bias: bool = True,
        use_recurrent_bias: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_recurrent_bias = bool(use_recurrent_bias)

    def _bias_init(self) -> _init.Initializer:
        if self.unit_forget_bias:
            return _ForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _step(self, w, x, states, xs, hs):  # type: ignore[no-untyped-def]
        k, r, b = w
        u = self.units
        z = [
            xs[g] @ k[:, g * u : (g + 1) * u] + hs[g] @ r[:, g * u : (g + 1) * u] for g in range(4)
        ]
        if b is not None:
            z = [z[g] + b[g * u : (g + 1) * u] for g in range(4)]
        ra, act = self.recurrent_activation, self.activation
        i, f, cc, o = _act(ra, z[0]), _act(ra, z[1]), _act(act, z[2]), _act(ra, z[3])
        c_prev = states[1]
        c = f * c_prev + i * cc
        ac = _act(act, c)
        h = o * ac
        return [h, c], (xs, hs, z, (i, f, cc, o), c_prev, c, ac)

    def _step_back(self, w, cache, d):  # type: ignore[no-untyped-def]
        k, r, b = w
        u = self.units
        xs, hs, z, (i, f, cc, o), c_prev, c, ac = cache
        dh, dc = d
        ra, act = self.recurrent_activation, self.activation
        do = dh * ac
        dct = dc + _act_grad(act, c, ac, dh * o)
        dz = [
            _act_grad(ra, z[0], i, dct * cc),
            _act_grad(ra, z[1], f, dct * c_prev),
            _act_grad(act, z[2], cc, dct * i),
            _act_grad(ra, z[3], o, do),
        ]
        dk = np.concatenate([xs[g].T @ dz[g] for g in range(4)], axis=1)
        dr = np.concatenate([hs[g].T @ dz[g] for g in range(4)], axis=1)
        dws = [dk, dr] + ([np.concatenate([d_.sum(0) for d_ in dz])] if b is not None else [])
        dm, rm = self._cur_masks
        ks = [k[:, g * u : (g + 1) * u] for g in range(4)]
        rs = [r[:, g * u : (g + 1) * u] for g in range(4)]
        return _input_grad(dz, ks, dm), [_input_grad(dz, rs, rm), dct * f], dws

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation,
            "unit_forget_bias": self.unit_forget_bias,
            "use_recurrent_bias": self.use_recurrent_bias,
        }


@REGISTRY.register()
class GRU(_RNN):
    """Gated recurrent unit (Keras 3 formula, gate order z|r|h)::

        z = σ(x·K_z + b_z + h·R_z + b'_z)        r = σ(x·K_r + b_r + h·R_r + b'_r)
        reset_after=True (default):  ĥ = tanh(x·K_h + b_h + r ⊙ (h·R_h + b'_h))
        reset_after=False:           ĥ = tanh(x·K_h + b_h + (r ⊙ h)·R_h)
        h_t = z ⊙ h_{t-1} + (1 − z) ⊙ ĥ

    Weights: ``kernel`` (features, 3·units), ``recurrent_kernel`` (units, 3·units),
    ``bias`` (2, 3·units) = [input bias b; recurrent bias b'] with ``reset_after=True``,
    (3·units,) input bias only with ``reset_after=False``.

    Differs from PyTorch: ``nn.GRU`` orders gates r|z|n and computes ``reset_after=True``
    (map: permute blocks, ``b_ih = bias[0]``, ``b_hh = bias[1]``); ``reset_after=False`` has
    no ``nn.GRU`` equivalent and runs as a cell loop. torch's dropout is between layers.
    """

    n_gates = 3
    n_states = 1

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _step(self, w, x, states, xs, hs):  # type: ignore[no-untyped-def]
        k, r, b = w
        u = self.units
        h_prev = states[0]
        ks = [k[:, g * u : (g + 1) * u] for g in range(3)]
        rs = [r[:, g * u : (g + 1) * u] for g in range(3)]
        xz, xr, xh = (xs[g] @ ks[g] for g in range(3))
        if b is not None:
            bi = b[0] if self.reset_after else b
            xz, xr, xh = xz + bi[:u], xr + bi[u : 2 * u], xh + bi[2 * u :]
        rz, rr = hs[0] @ rs[0], hs[1] @ rs[1]
        if b is not None and self.reset_after:
            rz, rr = rz + b[1][:u], rr + b[1][u : 2 * u]
        ra, act = self.recurrent_activation, self.activation
        pz, pr = xz + rz, xr + rr
        zg, rg = _act(ra, pz), _act(ra, pr)
        if self.reset_after:
            rh = hs[2] @ rs[2]
            if b is not None:
                rh = rh + b[1][2 * u :]
            a = xh + rg * rh
            q = None
        else:
            q = rg * hs[2]
            rh = None
            a = xh + q @ rs[2]
        hh = _act(act, a)
        h = zg * h_prev + (1 - zg) * hh
        return [h], (xs, hs, h_prev, pz, pr, zg, rg, rh, q, a, hh)

    def _step_back(self, w, cache, d):  # type: ignore[no-untyped-def]
        k, r, b = w
        u = self.units
        xs, hs, h_prev, pz, pr, zg, rg, rh, q, a, hh = cache
        ks = [k[:, g * u : (g + 1) * u] for g in range(3)]
        rs = [r[:, g * u : (g + 1) * u] for g in range(3)]
        dm, rm = self._cur_masks
        ra, act = self.recurrent_activation, self.activation
        dh = d[0]
        dzg = dh * (h_prev - hh)
        dh_prev = dh * zg
        da = _act_grad(act, a, hh, dh * (1 - zg))
        if self.reset_after:
            drg = da * rh
            d_rec_h = da * rg
            dhs2_extra = None
        else:
            dq = da @ rs[2].T
            drg = dq * hs[2]
            dhs2_extra = dq * rg
            d_rec_h = None
        dpz = _act_grad(ra, pz, zg, dzg)
        dpr = _act_grad(ra, pr, rg, drg)
        d_in = [dpz, dpr, da]
        dk = np.concatenate([xs[g].T @ d_in[g] for g in range(3)], axis=1)
        if self.reset_after:
            d_rec = [dpz, dpr, d_rec_h]
            dr = np.concatenate([hs[g].T @ d_rec[g] for g in range(3)], axis=1)
            dh_rec = _input_grad(d_rec, rs, rm)
        else:
            dr = np.concatenate([hs[0].T @ dpz, hs[1].T @ dpr, q.T @ da], axis=1)
            dh_rec = _input_grad([dpz, dpr], rs[:2], rm[:2])
            dh_rec = dh_rec + (dhs2_extra if rm[2] is None else dhs2_extra * rm[2])
        dws = [dk, dr]
        if b is not None:
            db_in = np.concatenate([x_.sum(0) for x_ in d_in])
            if self.reset_after:
                db_rec = np.concatenate([x_.sum(0) for x_ in d_rec])
                dws.append(np.stack([db_in, db_rec]))
            else:
                dws.append(db_in)
        return _input_grad(d_in, ks, dm), [dh_prev + dh_rec], dws

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation,
            "reset_after": self.reset_after,
        }


# ---------------------------------------------------------------------------------------------
# Bidirectional
# ---------------------------------------------------------------------------------------------

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@REGISTRY.register()
class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy with ``go_backwards=True``, then merges::

        y_f = forward(x)     y_b = backward(x)  (reversed back in time if return_sequences)
        concat: [y_f, y_b]   sum: y_f + y_b   mul: y_f ⊙ y_b   ave: (y_f + y_b)/2
        None: the list [y_f, y_b]

    Weights: the forward layer's, then the backward layer's (Keras order). With
    ``return_sequences`` both directions output zeros at masked steps (Keras forces
    ``zero_output_for_mask``). ``return_state`` appends the forward then backward states.

    Differs from PyTorch: ``nn.LSTM(bidirectional=True)`` always concatenates, returns
    ``h_n`` stacked (2, B, H) and has no merge modes.
    """

    supports_masking = True

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        backward_layer: Any = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(layer, dict):
            layer = REGISTRY.get(layer["class_name"]).from_config(layer["config"])
        if isinstance(backward_layer, dict):
            backward_layer = REGISTRY.get(backward_layer["class_name"]).from_config(
                backward_layer["config"]
            )
        if not isinstance(layer, _RNN):
            raise ConfigError(
                "Bidirectional wraps a SimpleRNN, LSTM or GRU layer. "
                f"Received: layer={layer!r}. Fix: e.g. Bidirectional(LSTM(32))."
            )
        if merge_mode not in MERGE_MODES:
            raise ConfigError(
                f"Bidirectional: merge_mode must be one of {MERGE_MODES}. "
                f"Received: merge_mode={merge_mode!r}."
            )
        super().__init__(**kwargs)
        fcfg = layer.get_config()
        fcfg["name"] = f"forward_{layer.name}"
        if kwargs.get("dtype") is not None:
            fcfg["dtype"] = self.dtype
        self.dtype = fcfg["dtype"]
        fwd = type(layer).from_config(fcfg)
        assert isinstance(fwd, _RNN)
        self.forward_layer: _RNN = fwd
        if backward_layer is None:
            bcfg = dict(fcfg)
            bcfg["go_backwards"] = not fcfg["go_backwards"]
            bcfg["name"] = f"backward_{layer.name}"
            bwd = type(layer).from_config(bcfg)
            assert isinstance(bwd, _RNN)
            self.backward_layer: _RNN = bwd
        else:
            if not isinstance(backward_layer, _RNN):
                raise ConfigError(
                    f"Bidirectional: backward_layer must be an RNN layer. "
                    f"Received: {backward_layer!r}."
                )
            self.backward_layer = copy.copy(backward_layer)
        f, b = self.forward_layer, self.backward_layer
        if f.go_backwards == b.go_backwards:
            raise ConfigError(
                "Bidirectional: forward and backward layers need different go_backwards. "
                f"Received: {f.go_backwards} and {b.go_backwards}."
            )
        for attr in ("return_sequences", "return_state"):
            if getattr(f, attr) != getattr(b, attr):
                raise ConfigError(
                    f"Bidirectional: forward and backward layers need the same {attr}. "
                    f"Received: {getattr(f, attr)} and {getattr(b, attr)}."
                )
        for sub in (f, b):
            sub.zero_output_for_mask = sub.return_sequences
            sub.trainable = self.trainable
        self.merge_mode = merge_mode
        self.return_sequences = f.return_sequences
        self.return_state = f.return_state

    # ---- weights live in the two sub-layers ----------------------------------------------
    @property
    def weights(self) -> list[Weight]:
        return self.forward_layer.weights + self.backward_layer.weights

    @property
    def trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return []
        return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights

    @property
    def non_trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return self.forward_layer.weights + self.backward_layer.weights
        return self.forward_layer.non_trainable_weights + self.backward_layer.non_trainable_weights

    def count_params(self) -> int:
        return self.forward_layer.count_params() + self.backward_layer.count_params()

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list):
            raise ConfigError(
                f"Bidirectional {self.name!r}: initial states are not supported. Received "
                f"{len(input_shape)} inputs. Fix: call it on the sequence only."
            )
        self.forward_layer._check(input_shape)
        self.forward_layer._ensure_built(input_shape)
        self.backward_layer._ensure_built(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = self.forward_layer.compute_output_shape(input_shape)
        states: list[Any] = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        if self.merge_mode == "concat":
            out = (*out[:-1], out[-1] * 2)
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state or self.merge_mode is None:
            return outs + states + states
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        out = mask if self.return_sequences else None
        n_out = 2 if self.merge_mode is None else 1
        n_states = 2 * self.forward_layer.n_states if self.return_state else 0
        if n_out + n_states == 1:
            return out
        return [out] * n_out + [None] * n_states

    # ---- noise: the two directions' masks stacked on axis 1 ------------------------------
    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        ns = self.forward_layer.noise_shape_for(input_shape)
        return None if ns is None else (ns[0], 2, *ns[1:])

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        sub = (input_shape[0], *input_shape[2:])
        return np.stack(
            [self.forward_layer.draw_noise(rng, sub), self.backward_layer.draw_noise(rng, sub)],
            axis=1,
        )

    # ---- numpy reference -----------------------------------------------------------------
    def _parts(self, weights: Sequence[np.ndarray], noise: Any) -> Any:
        n = len(self.forward_layer.weights)
        nf = None if noise is None else np.asarray(noise)[:, 0]
        nb = None if noise is None else np.asarray(noise)[:, 1]
        return list(weights[:n]), list(weights[n:]), nf, nb

    def _merge(self, yf: Any, yb: Any) -> Any:
        if self.merge_mode == "concat":
            return np.concatenate([yf, yb], axis=-1)
        if self.merge_mode == "sum":
            return yf + yb
        if self.merge_mode == "mul":
            return yf * yb
        if self.merge_mode == "ave":
            return (yf + yb) / 2
        return [yf, yb]

    def reference(self, weights, x, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        wf, wb, nf, nb = self._parts(weights, noise)
        of = self.forward_layer.reference(wf, x, training, nf, mask=mask)
        ob = self.backward_layer.reference(wb, x, training, nb, mask=mask)
        sf, sb = [], []
        if self.return_state:
            of, sf, ob, sb = of[0], of[1:], ob[0], ob[1:]
        if self.return_sequences:
            ob = ob[:, ::-1]
        merged = self._merge(of, ob)
        outs = merged if isinstance(merged, list) else [merged]
        if self.return_state or self.merge_mode is None:
            return outs + list(sf) + list(sb)
        return merged

    def reference_backward(self, weights, x, y, dy, training=False, noise=None, mask=None):  # type: ignore[no-untyped-def]
        wf, wb, nf, nb = self._parts(weights, noise)
        of = self.forward_layer.reference(wf, x, training, nf, mask=mask)
        ob = self.backward_layer.reference(wb, x, training, nb, mask=mask)
        ns = self.forward_layer.n_states if self.return_state else 0
        if self.return_state:
            of, ob = of[0], ob[0]
        ob_al = ob[:, ::-1] if self.return_sequences else ob
        dys = list(dy) if isinstance(dy, list) else [dy]
        if self.merge_mode is None:
            dyf, dyb, rest = dys[0], dys[1], dys[2:]
        else:
            g, rest = dys[0], dys[1:]
            if self.merge_mode == "concat":
                u = of.shape[-1]
                dyf, dyb = g[..., :u], g[..., u:]
            elif self.merge_mode == "sum":
                dyf, dyb = g, g
            elif self.merge_mode == "ave":
                dyf, dyb = g / 2, g / 2
            else:
                dyf, dyb = g * ob_al, g * of
        if self.return_sequences:
            dyb = dyb[:, ::-1]
        if ns:
            dyf_all: Any = [dyf, *rest[:ns]]
            dyb_all: Any = [dyb, *rest[ns:]]
        else:
            dyf_all, dyb_all = dyf, dyb
        dxf, dwf = self.forward_layer.reference_backward(
            wf, x, None, dyf_all, training, nf, mask=mask
        )
        dxb, dwb = self.backward_layer.reference_backward(
            wb, x, None, dyb_all, training, nb, mask=mask
        )
        return dxf + dxb, list(dwf) + list(dwb)

    def get_config(self) -> dict[str, Any]:
        cfg = {
            **super().get_config(),
            "layer": {
                "class_name": type(self.forward_layer).__name__,
                "config": self.forward_layer.get_config(),
            },
            "merge_mode": self.merge_mode,
        }
        cfg["layer"]["config"]["name"] = self.forward_layer.name.removeprefix("forward_")
        bl = self.backward_layer
        if bl.name != f"backward_{cfg['layer']['config']['name']}":
            cfg["backward_layer"] = {"class_name": type(bl).__name__, "config": bl.get_config()}
        return cfg
