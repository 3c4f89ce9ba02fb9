"""``dl.ops`` on torch: each op is one native call (formulas and names: duallearn/ops)."""

from __future__ import annotations

import builtins
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from duallearn import config, plugin
from duallearn.activations import SELU_SCALE
from duallearn.plugin import as_shape as _shape
from duallearn.plugin import index_key as _key
from duallearn.plugin import same_pads

NAME = "torch"


def _dtype(name: str | None) -> torch.dtype:
    return getattr(torch, name or config.floatx())  # type: ignore[no-any-return]


_t = plugin.tensor_converter(torch.Tensor, torch.stack, torch.as_tensor)


def _pair(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Python scalars take the other operand's dtype (weak typing, as keras.ops)."""
    if isinstance(x1, (int, float, bool)) and not isinstance(x2, (int, float, bool)):
        b = _t(x2)
        return torch.as_tensor(
            x1, dtype=b.dtype if b.is_floating_point() or isinstance(x1, int) else None
        ), b
    if isinstance(x2, (int, float, bool)) and not isinstance(x1, (int, float, bool)):
        a = _t(x1)
        return a, torch.as_tensor(
            x2, dtype=a.dtype if a.is_floating_point() or isinstance(x2, int) else None
        )
    return _t(x1), _t(x2)


def _axes(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def convert_to_tensor(x: Any, dtype: str | None = None) -> torch.Tensor:
    t = _t(x)
    return t.to(_dtype(dtype)) if dtype else t


def convert_to_numpy(x: Any) -> np.ndarray:
    return _t(x).detach().cpu().numpy().copy()


def cast(x: Any, dtype: str) -> torch.Tensor:
    return _t(x).to(_dtype(dtype))


def shape(x: Any) -> tuple[int, ...]:
    return tuple(_t(x).shape)


def dtype(x: Any) -> str:
    return str(_t(x).dtype).replace("torch.", "")


zeros = plugin.filled_op(torch.zeros, _dtype)


ones = plugin.filled_op(torch.ones, _dtype)


def full(shape: Any, fill_value: float, dtype: str | None = None) -> torch.Tensor:
    return torch.full(_shape(shape), fill_value, dtype=_dtype(dtype))


zeros_like = plugin.filled_like_op(torch.zeros_like, _t, _dtype)


ones_like = plugin.filled_like_op(torch.ones_like, _t, _dtype)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> torch.Tensor:
    start, stop, step, dtype = plugin.arange_args(start, stop, step, dtype)
    return torch.arange(start, stop, step, dtype=_dtype(dtype))


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> torch.Tensor:  # noqa: N803
    M = N if M is None else M
    if k == 0:
        return torch.eye(N, M, dtype=_dtype(dtype))
    return torch.ones(N, M, dtype=_dtype(dtype)).tril(k) - torch.ones(
        N, M, dtype=_dtype(dtype)
    ).tril(k - 1)


def _u(f: Any) -> Any:
    return lambda x: f(_t(x))


abs = _u(torch.abs)  # noqa: A001
negative = _u(torch.neg)
exp = _u(torch.exp)
log = _u(torch.log)
log1p = _u(torch.log1p)
expm1 = _u(torch.expm1)
sqrt = _u(torch.sqrt)
rsqrt = _u(torch.rsqrt)
square = _u(torch.square)
reciprocal = _u(torch.reciprocal)
sin = _u(torch.sin)
cos = _u(torch.cos)
tanh = _u(torch.tanh)
erf = _u(torch.erf)
sign = _u(torch.sign)
floor = _u(torch.floor)
ceil = _u(torch.ceil)
round = _u(torch.round)  # noqa: A001
logical_not = _u(torch.logical_not)
isnan = _u(torch.isnan)
isfinite = _u(torch.isfinite)
relu = _u(torch.relu)
relu6 = _u(lambda x: torch.clamp(x, 0, 6))
sigmoid = _u(torch.sigmoid)
softplus = _u(lambda x: torch.logaddexp(x, torch.zeros((), dtype=x.dtype)))
silu = _u(F.silu)


def _b(f: Any) -> Any:
    return lambda x1, x2: f(*_pair(x1, x2))


add = _b(torch.add)
subtract = _b(torch.subtract)
multiply = _b(torch.multiply)
divide = _b(torch.true_divide)
power = _b(torch.pow)
maximum = _b(torch.maximum)
minimum = _b(torch.minimum)
floor_divide = _b(torch.floor_divide)
mod = _b(torch.remainder)
equal = _b(torch.eq)
not_equal = _b(torch.ne)
less = _b(torch.lt)
less_equal = _b(torch.le)
greater = _b(torch.gt)
greater_equal = _b(torch.ge)
logical_and = _b(torch.logical_and)
logical_or = _b(torch.logical_or)
logical_xor = _b(torch.logical_xor)


def where(condition: Any, x1: Any, x2: Any) -> torch.Tensor:
    a, b = _pair(x1, x2)
    return torch.where(_t(condition).bool(), a, b)


def clip(x: Any, x_min: float, x_max: float) -> torch.Tensor:
    return torch.clamp(_t(x), x_min, x_max)


def _r(f: Any, empty_all: bool = True) -> Any:
    def red(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
        t = _t(x)
        if axis is None:
            out = f(t.reshape(-1), dim=0)
            return out.reshape((1,) * t.dim()) if keepdims else out
        return f(t, dim=_axes(axis), keepdim=keepdims)

    return red


sum = _r(torch.sum)  # noqa: A001
mean = _r(torch.mean)
max = _r(torch.amax)  # noqa: A001
min = _r(torch.amin)  # noqa: A001
var = _r(lambda t, dim, keepdim=False: torch.var(t, dim=dim, keepdim=keepdim, correction=0))
std = _r(lambda t, dim, keepdim=False: torch.std(t, dim=dim, keepdim=keepdim, correction=0))
logsumexp = _r(torch.logsumexp)


def _multi_dim(f: Any) -> Any:
    def inner(t: torch.Tensor, dim: Any, keepdim: bool = False) -> torch.Tensor:
        dims = (
            sorted(((d % t.dim()) for d in dim), reverse=True) if isinstance(dim, tuple) else [dim]
        )
        for d in dims:
            t = f(t, dim=d, keepdim=keepdim)
        return t

    return inner


prod = _r(_multi_dim(torch.prod))
all = _r(_multi_dim(lambda t, dim, keepdim=False: torch.all(t.bool(), dim=dim, keepdim=keepdim)))  # noqa: A001
any = _r(_multi_dim(lambda t, dim, keepdim=False: torch.any(t.bool(), dim=dim, keepdim=keepdim)))  # noqa: A001


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    t = _t(x)
    if axis is None:
        out = torch.argmax(t.reshape(-1))
        return out.reshape((1,) * t.dim()) if keepdims else out
    return torch.argmax(t, dim=axis, keepdim=keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    t = _t(x)
    if axis is None:
        out = torch.argmin(t.reshape(-1))
        return out.reshape((1,) * t.dim()) if keepdims else out
    return torch.argmin(t, dim=axis, keepdim=keepdims)


def cumsum(x: Any, axis: int | None = None) -> torch.Tensor:
    t = _t(x)
    return torch.cumsum(t.reshape(-1) if axis is None else t, dim=0 if axis is None else axis)


def sort(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.sort(_t(x), dim=axis, stable=True).values


def argsort(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.sort(_t(x), dim=axis, stable=True).indices


def top_k(x: Any, k: int, sorted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: A002
    v, i = torch.topk(_t(x), k, dim=-1, largest=True, sorted=True)
    return v, i


def matmul(x1: Any, x2: Any) -> torch.Tensor:
    return torch.matmul(*_pair(x1, x2))


def einsum(subscripts: str, *operands: Any) -> torch.Tensor:
    return torch.einsum(subscripts, *[_t(o) for o in operands])


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> torch.Tensor:
    return torch.tensordot(
        _t(x1),
        _t(x2),
        dims=axes
        if isinstance(axes, int)
        else [list(a) if isinstance(a, (list, tuple)) else [a] for a in axes],
    )


def reshape(x: Any, newshape: Any) -> torch.Tensor:
    return torch.reshape(_t(x), _shape(newshape))


def transpose(x: Any, axes: Any = None) -> torch.Tensor:
    t = _t(x)
    return t.permute(*(range(t.dim() - 1, -1, -1) if axes is None else axes))


def swapaxes(x: Any, axis1: int, axis2: int) -> torch.Tensor:
    return torch.swapaxes(_t(x), axis1, axis2)


def expand_dims(x: Any, axis: int) -> torch.Tensor:
    return torch.unsqueeze(_t(x), axis)


def squeeze(x: Any, axis: int | None = None) -> torch.Tensor:
    t = _t(x)
    return torch.squeeze(t) if axis is None else torch.squeeze(t, axis)


def concatenate(xs: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.cat([_t(x) for x in xs], dim=axis)


def stack(x: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.stack([_t(a) for a in x], dim=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[torch.Tensor]:
    t = _t(x)
    if isinstance(indices_or_sections, (int, np.integer)):
        plugin.check_sections(t.shape[axis], indices_or_sections, axis)
        return list(torch.tensor_split(t, int(indices_or_sections), dim=axis))
    return list(torch.tensor_split(t, [int(i) for i in indices_or_sections], dim=axis))


def take(x: Any, indices: Any, axis: int | None = None) -> torch.Tensor:
    t, i = _t(x), _t(indices).long()
    if axis is None:
        return t.reshape(-1)[i]
    axis = axis % t.dim()
    out = torch.index_select(t, axis, i.reshape(-1))
    return out.reshape(*t.shape[:axis], *i.shape, *t.shape[axis + 1 :])


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> torch.Tensor:
    t, i = _t(x), _t(indices).long()
    if axis is None:
        return t.reshape(-1)[i.reshape(-1)]
    shape_ = list(
        np.broadcast_shapes(
            tuple(t.shape[: axis % t.dim()]) + (1,) + tuple(t.shape[axis % t.dim() + 1 :]),
            tuple(i.shape[: axis % t.dim()]) + (1,) + tuple(i.shape[axis % t.dim() + 1 :]),
        )
    )
    shape_i = list(shape_)
    shape_i[axis % t.dim()] = i.shape[axis]
    shape_t = list(shape_)
    shape_t[axis % t.dim()] = t.shape[axis]
    return torch.gather(t.expand(shape_t), axis, i.expand(shape_i))


def pad(
    x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None
) -> torch.Tensor:
    t = _t(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (t.dim(), 2))
    plugin.check_pad_mode(mode)
    if mode == "constant":
        flat = [int(v) for pair in pw[::-1] for v in pair]
        return F.pad(t, flat, value=float(constant_values or 0))
    out = t
    for ax in range(t.dim()):
        before, after = (int(v) for v in pw[ax])
        if not before and not after:
            continue
        n = out.shape[ax]
        if mode == "reflect":
            idx = (
                list(range(before, 0, -1)) + list(range(n)) + list(range(n - 2, n - 2 - after, -1))
            )
        else:
            idx = (
                list(range(before - 1, -1, -1))
                + list(range(n))
                + list(range(n - 1, n - 1 - after, -1))
            )
        out = torch.index_select(out, ax, torch.tensor(idx, dtype=torch.long))
    return out


def tile(x: Any, repeats: Any) -> torch.Tensor:
    t = _t(x)
    reps = plugin.tile_reps(repeats, t.dim())
    return (
        t.repeat(*reps)
        if len(reps) == t.dim()
        else t.reshape((1,) * (len(reps) - t.dim()) + tuple(t.shape)).repeat(*reps)
    )


def repeat(x: Any, repeats: int, axis: int | None = None) -> torch.Tensor:
    t = _t(x)
    return torch.repeat_interleave(
        t.reshape(-1) if axis is None else t, repeats, dim=0 if axis is None else axis
    )


def broadcast_to(x: Any, shape: Any) -> torch.Tensor:
    return torch.broadcast_to(_t(x), _shape(shape))


def flip(x: Any, axis: Any = None) -> torch.Tensor:
    t = _t(x)
    return torch.flip(t, plugin.flip_axes(axis, t.dim()))


def gelu(x: Any, approximate: bool = True) -> torch.Tensor:
    return F.gelu(_t(x), approximate="tanh" if approximate else "none")


def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    return F.leaky_relu(_t(x), negative_slope)


def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.softmax(_t(x), dim=axis)


def log_softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.log_softmax(_t(x), dim=axis)


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: str | None = None) -> torch.Tensor:
    ids = _t(x).long()
    out = (ids.unsqueeze(-1) == torch.arange(num_classes)).to(_dtype(dtype))
    return torch.movedim(out, -1, axis) if axis != -1 else out


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAXP = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGP = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _to_first(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, x.dim() - 1, *range(1, x.dim() - 1))


def _to_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, *range(2, x.dim()), 1)


def _pad_first(x: torch.Tensor, pads: list[tuple[int, int]], value: float = 0.0) -> torch.Tensor:
    flat = [v for pair in reversed(pads) for v in pair]
    return F.pad(x, flat, value=value) if builtins.any(flat) else x


def _conv(
    x: torch.Tensor, w: torch.Tensor, st: tuple[int, ...], dil: tuple[int, ...], padding: str
) -> torch.Tensor:
    nd = len(st)
    xf = _to_first(x)
    if padding == "same":
        xf = _pad_first(
            xf, [same_pads(x.shape[1 + i], w.shape[i], st[i], dil[i]) for i in range(nd)]
        )
    # (*k, in, out) -> (out, in, *k), on x's device (a kernel built by an op, e.g. the
    # identity of extract_patches, starts on the CPU)
    wf = w.to(x.device).permute(nd + 1, nd, *range(nd))
    return _to_last(_CONV[nd](xf, wf, None, st, 0, dil))


def _max_pool(
    x: torch.Tensor, ks: tuple[int, ...], st: tuple[int, ...], padding: str
) -> torch.Tensor:
    nd = len(ks)
    xf = _to_first(x)
    if padding == "same":
        xf = _pad_first(
            xf, [same_pads(x.shape[1 + i], ks[i], st[i], 1) for i in range(nd)], -math.inf
        )
    return _to_last(_MAXP[nd](xf, ks, st))


def _average_pool(
    x: torch.Tensor, ks: tuple[int, ...], st: tuple[int, ...], padding: str
) -> torch.Tensor:
    nd = len(ks)
    xf = _to_first(x)
    if padding != "same":
        return _to_last(_AVGP[nd](xf, ks, st))
    pads = [same_pads(x.shape[1 + i], ks[i], st[i], 1) for i in range(nd)]
    total = _AVGP[nd](_pad_first(xf, pads), ks, st)
    count = _AVGP[nd](_pad_first(torch.ones_like(xf[:1, :1]), pads), ks, st)
    return _to_last(total / count)


conv = plugin.conv_op(_t, _conv)
max_pool = plugin.pool_op(_t, _max_pool)
average_pool = plugin.pool_op(_t, _average_pool)


def _standardize(x: Any, axis: Any, epsilon: float) -> torch.Tensor:
    t = _t(x)
    ax = _axes(axis)
    m = torch.mean(t, dim=ax, keepdim=True)
    v = torch.var(t, dim=ax, keepdim=True, correction=0)
    return (t - m) * torch.rsqrt(v + epsilon)


layer_normalization = plugin.layer_normalization_op(_standardize, multiply, add)


def normalize(x: Any, axis: int = -1, epsilon: float = 1e-7) -> torch.Tensor:
    t = _t(x)
    return t * torch.rsqrt(
        torch.clamp(torch.sum(t * t, dim=axis, keepdim=True), min=epsilon * epsilon)
    )


def _attention(
    q: Any, k: Any, v: Any, bias: Any, mask: Any, sc: float, causal: bool
) -> torch.Tensor:
    logits = torch.einsum("btnh,bsnh->bnts", q, k) * sc
    if bias is not None:
        logits = logits + bias
    m = None if mask is None else mask.bool()
    if causal:
        c = torch.ones(q.shape[1], k.shape[1], dtype=torch.bool).tril()
        m = c if m is None else torch.logical_and(m, c)
    if m is not None:
        logits = torch.where(
            m, logits, torch.full((), -0.7 * torch.finfo(logits.dtype).max, dtype=logits.dtype)
        )
    return torch.einsum("bnts,bsnh->btnh", torch.softmax(logits, dim=-1), v)


dot_product_attention = plugin.attention_op(_t, _attention)


def getitem(x: Any, key: Any) -> Any:
    """Basic indexing; negative slice steps (unsupported by torch) become index_select."""
    t = _t(x)
    keys = list(key) if isinstance(key, tuple) else [key]
    if not builtins.any(isinstance(k, builtins.slice) and (k.step or 1) < 0 for k in keys):
        return t[_key(key)]
    consumed = builtins.sum(1 for k in keys if k is not None and k is not Ellipsis)
    out_keys, d = [], 0
    for k in keys:
        if k is Ellipsis:
            out_keys.append(k)
            d += t.dim() - consumed
            continue
        if isinstance(k, builtins.slice) and (k.step or 1) < 0:
            idx = np.arange(t.shape[d])[k].tolist()
            t = torch.index_select(t, d, torch.as_tensor(idx, dtype=torch.long))
            k = builtins.slice(None)
        out_keys.append(k)
        if k is not None:
            d += 1
    return t[tuple(out_keys)]


# ---- activations, elementwise and shape ops added for Keras notebooks ---------------------------
def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    return F.elu(_t(x), alpha)


def celu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    return F.celu(_t(x), alpha)


def selu_native(x: torch.Tensor) -> torch.Tensor:
    """``scale·(x if x ≥ 0 else α(eˣ − 1))`` (``F.selu``'s value) with the derivative
    ``scale`` at x = 0, as TensorFlow's ``SeluGrad`` (Keras): ``F.selu`` differentiates
    the left branch there (``scale·α``)."""
    return torch.where(x >= 0, x * SELU_SCALE, F.selu(x))


selu = _u(selu_native)
softsign = _u(F.softsign)
# relu6(x + 3) / 6 rather than F.hardsigmoid / F.hardswish, whose backward multiplies by a
# float32 1/6 (3e-8 off in float64)
hard_sigmoid = _u(lambda t: F.relu6(t + 3.0) / 6.0)
hard_silu = _u(lambda t: t * (F.relu6(t + 3.0) / 6.0))
log_sigmoid = _u(F.logsigmoid)
tan = _u(torch.tan)
log2 = _u(torch.log2)
log10 = _u(torch.log10)
isinf = _u(torch.isinf)
logaddexp = _b(torch.logaddexp)
outer = _b(lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1)))
stop_gradient = _u(torch.Tensor.detach)
singular_values = _u(torch.linalg.svdvals)


def full_like(x: Any, fill_value: float, dtype: str | None = None) -> torch.Tensor:
    t = _t(x)
    return torch.full_like(t, fill_value, dtype=_dtype(dtype) if dtype else t.dtype)


def moveaxis(x: Any, source: Any, destination: Any) -> torch.Tensor:
    return torch.movedim(_t(x), source, destination)


def tril(x: Any, k: int = 0) -> torch.Tensor:
    return torch.tril(_t(x), k)


def triu(x: Any, k: int = 0) -> torch.Tensor:
    return torch.triu(_t(x), k)


def cumprod(x: Any, axis: int | None = None) -> torch.Tensor:
    t = _t(x)
    return torch.cumprod(t.reshape(-1) if axis is None else t, dim=0 if axis is None else axis)


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list[torch.Tensor]:
    t = _t(x)
    plugin.check_unstack(t.shape[axis], num, axis)
    return list(torch.unbind(t, dim=axis))


def slice(inputs: Any, start_indices: Any, shape: Any) -> torch.Tensor:  # noqa: A001
    """``torch.narrow`` per axis; a start may be a scalar tensor (read as an int)."""
    t = _t(inputs)
    starts = start_indices if isinstance(start_indices, (list, tuple)) else _t(start_indices)
    for d, (s, n) in enumerate(zip(starts, _shape(shape), strict=True)):
        s = int(s)
        t = t.narrow(d, s, t.shape[d] - s if n == -1 else n)
    return t


def cond(pred: Any, true_fn: Any, false_fn: Any) -> Any:
    """Eager: ``pred`` read as a Python bool (Keras's torch backend does the same)."""
    return true_fn() if bool(_t(pred)) else false_fn()


# ---- Fourier transforms: (real, imag) pairs in and out (Keras's convention) ------------------
def _complex(x: Any) -> torch.Tensor:
    return torch.complex(_t(x[0]), _t(x[1]))


def _parts(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return c.real, c.imag


def _complex_op(transform: Any) -> Any:
    return lambda x: _parts(transform(_complex(x)))


fft, fft2, ifft2 = (_complex_op(f) for f in (torch.fft.fft, torch.fft.fft2, torch.fft.ifft2))


def rfft(x: Any, fft_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    return _parts(torch.fft.rfft(_t(x), n=fft_length))


def irfft(x: Any, fft_length: int | None = None) -> torch.Tensor:
    return torch.fft.irfft(_complex(x), n=fft_length)


# written once in duallearn.plugin from this module's ops
linspace, norm, extract_patches = plugin.composed_ops(sys.modules[__name__])


class GradientTape:
    """``dl.GradientTape`` on torch: autograd records every op on tensors that require
    grad, so the tape only enables grad mode; ``gradient`` is ``torch.autograd.grad``."""

    def __enter__(self) -> GradientTape:
        self._grad = torch.enable_grad()
        self._grad.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._grad.__exit__(*exc)

    def gradient(self, target: Any, sources: list[Any]) -> list[Any]:
        want = [s for s in sources if s.requires_grad]
        got = iter(torch.autograd.grad(target, want, allow_unused=True) if want else ())
        return [next(got) if s.requires_grad else None for s in sources]


@torch.no_grad()
def assign_variable(variable: torch.Tensor, value: Any, mode: str) -> None:
    """``Variable.assign`` / ``assign_add`` / ``assign_sub`` on the native storage, in place
    (canonical layout = native layout; outside autograd)."""
    v = _t(value).to(device=variable.device, dtype=variable.dtype)
    if mode == "assign":
        variable.copy_(v.expand_as(variable))
    elif mode == "add":
        variable.add_(v)
    else:
        variable.sub_(v)
