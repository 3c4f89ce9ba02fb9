"""The numpy implementation of ``dl.ops``: the reference every backend is tested against,
and what infers the output shapes of custom layers. float64 in, float64 out."""

from __future__ import annotations

import builtins
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import config
from ..errors import ConfigError

NAME = "numpy"


def _v(x: Any) -> Any:
    from ..variables import Variable

    if isinstance(x, Variable):
        from ._dispatch import numpy_value

        return numpy_value(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_v(a) for a in x)
    return x


def _a(x: Any) -> np.ndarray:
    return np.asarray(_v(x))


def _dt(dtype: str | None) -> str:
    return dtype or config.floatx()


def _ax(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def convert_to_tensor(x: Any, dtype: str | None = None) -> np.ndarray:
    a = _a(x)
    return a.astype(dtype) if dtype else a


def convert_to_numpy(x: Any) -> np.ndarray:
    return np.array(_a(x))


def cast(x: Any, dtype: str) -> np.ndarray:
    return _a(x).astype(dtype)


def shape(x: Any) -> tuple[int, ...]:
    return tuple(_a(x).shape)


def dtype(x: Any) -> str:
    return str(_a(x).dtype)


def zeros(shape: Any, dtype: str | None = None) -> np.ndarray:
    return np.zeros(shape, _dt(dtype))


def ones(shape: Any, dtype: str | None = None) -> np.ndarray:
    return np.ones(shape, _dt(dtype))


def full(shape: Any, fill_value: float, dtype: str | None = None) -> np.ndarray:
    return np.full(shape, fill_value, _dt(dtype))


def zeros_like(x: Any, dtype: str | None = None) -> np.ndarray:
    return np.zeros_like(_a(x), dtype=dtype)


def ones_like(x: Any, dtype: str | None = None) -> np.ndarray:
    return np.ones_like(_a(x), dtype=dtype)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> np.ndarray:
    if stop is None:
        start, stop = 0, start
    if dtype is None and builtins.all(isinstance(v, int) for v in (start, stop, step)):
        dtype = "int64"
    return np.arange(start, stop, step, dtype=_dt(dtype))


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> np.ndarray:  # noqa: N803
    return np.eye(N, M, k, dtype=_dt(dtype))


def _unary(f: Any) -> Any:
    def op(x: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, as the backends
            return f(_a(x))

    return op


abs = _unary(np.abs)  # noqa: A001
negative = _unary(np.negative)
exp = _unary(np.exp)
log = _unary(np.log)
log1p = _unary(np.log1p)
expm1 = _unary(np.expm1)
sqrt = _unary(np.sqrt)
rsqrt = _unary(lambda x: 1.0 / np.sqrt(x))
square = _unary(np.square)
reciprocal = _unary(lambda x: 1.0 / x)
sin = _unary(np.sin)
cos = _unary(np.cos)
tanh = _unary(np.tanh)
sign = _unary(np.sign)
floor = _unary(np.floor)
ceil = _unary(np.ceil)
round = _unary(np.round)  # noqa: A001
logical_not = _unary(np.logical_not)
isnan = _unary(np.isnan)
isfinite = _unary(np.isfinite)
relu = _unary(lambda x: np.maximum(x, 0).astype(x.dtype))
relu6 = _unary(lambda x: np.clip(x, 0, 6).astype(x.dtype))
sigmoid = _unary(lambda x: 1.0 / (1.0 + np.exp(-x)))
softplus = _unary(lambda x: np.logaddexp(x, 0).astype(x.dtype))
silu = _unary(lambda x: x / (1.0 + np.exp(-x)))


def erf(x: Any) -> np.ndarray:
    a = _a(x)
    return np.vectorize(math.erf, otypes=[a.dtype])(a) if a.size else a.copy()


def _binary(f: Any) -> Any:
    def op(x1: Any, x2: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):  # x / 0 = inf or nan, as backends
            return f(_a(x1), _a(x2))

    return op


add = _binary(np.add)
subtract = _binary(np.subtract)
multiply = _binary(np.multiply)
divide = _binary(np.true_divide)
power = _binary(np.power)
maximum = _binary(np.maximum)
minimum = _binary(np.minimum)
floor_divide = _binary(np.floor_divide)
mod = _binary(np.mod)
equal = _binary(np.equal)
not_equal = _binary(np.not_equal)
less = _binary(np.less)
less_equal = _binary(np.less_equal)
greater = _binary(np.greater)
greater_equal = _binary(np.greater_equal)
logical_and = _binary(np.logical_and)
logical_or = _binary(np.logical_or)
logical_xor = _binary(np.logical_xor)


def where(condition: Any, x1: Any, x2: Any) -> np.ndarray:
    return np.where(_a(condition), _a(x1), _a(x2))


def clip(x: Any, x_min: float, x_max: float) -> np.ndarray:
    a = _a(x)
    return np.clip(a, x_min, x_max).astype(a.dtype)


def _reduce(f: Any) -> Any:
    return lambda x, axis=None, keepdims=False: f(_a(x), axis=_ax(axis), keepdims=keepdims)


sum = _reduce(np.sum)  # noqa: A001
mean = _reduce(np.mean)
max = _reduce(np.max)  # noqa: A001
min = _reduce(np.min)  # noqa: A001
prod = _reduce(np.prod)
var = _reduce(np.var)
std = _reduce(np.std)
all = _reduce(np.all)  # noqa: A001
any = _reduce(np.any)  # noqa: A001


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    a = _a(x)
    m = np.max(a, axis=_ax(axis), keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=_ax(axis), keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=_ax(axis))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    return np.argmax(_a(x), axis=axis, keepdims=keepdims).astype("int64")


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    return np.argmin(_a(x), axis=axis, keepdims=keepdims).astype("int64")


def cumsum(x: Any, axis: int | None = None) -> np.ndarray:
    a = _a(x)
    return np.cumsum(a, axis=axis, dtype=a.dtype)


def sort(x: Any, axis: int = -1) -> np.ndarray:
    return np.sort(_a(x), axis=axis)


def argsort(x: Any, axis: int = -1) -> np.ndarray:
    return np.argsort(_a(x), axis=axis, kind="stable").astype("int64")


def top_k(x: Any, k: int, sorted: bool = True) -> tuple[np.ndarray, np.ndarray]:  # noqa: A002
    a = _a(x)
    idx = np.argsort(-a, axis=-1, kind="stable")[..., :k].astype("int64")
    return np.take_along_axis(a, idx, axis=-1), idx


def matmul(x1: Any, x2: Any) -> np.ndarray:
    return np.matmul(_a(x1), _a(x2))


def einsum(subscripts: str, *operands: Any) -> np.ndarray:
    return np.einsum(subscripts, *[_a(o) for o in operands])


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> np.ndarray:
    return np.tensordot(_a(x1), _a(x2), axes=axes)


def reshape(x: Any, newshape: Any) -> np.ndarray:
    return np.reshape(_a(x), newshape)


def transpose(x: Any, axes: Any = None) -> np.ndarray:
    return np.transpose(_a(x), axes)


def swapaxes(x: Any, axis1: int, axis2: int) -> np.ndarray:
    return np.swapaxes(_a(x), axis1, axis2)


def expand_dims(x: Any, axis: int) -> np.ndarray:
    return np.expand_dims(_a(x), axis)


def squeeze(x: Any, axis: int | None = None) -> np.ndarray:
    return np.squeeze(_a(x), axis=axis)


def concatenate(xs: Sequence[Any], axis: int = 0) -> np.ndarray:
    return np.concatenate([_a(x) for x in xs], axis=axis)


def stack(x: Sequence[Any], axis: int = 0) -> np.ndarray:
    return np.stack([_a(a) for a in x], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[np.ndarray]:
    return list(np.split(_a(x), indices_or_sections, axis=axis))


def take(x: Any, indices: Any, axis: int | None = None) -> np.ndarray:
    return np.take(_a(x), _a(indices), axis=axis)


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> np.ndarray:
    return np.take_along_axis(_a(x), _a(indices), axis=axis)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> np.ndarray:
    if mode == "constant":
        return np.pad(_a(x), pad_width, "constant", constant_values=constant_values or 0)
    return np.pad(_a(x), pad_width, mode)  # type: ignore[call-overload,no-any-return]


def tile(x: Any, repeats: Any) -> np.ndarray:
    return np.tile(_a(x), repeats)


def repeat(x: Any, repeats: int, axis: int | None = None) -> np.ndarray:
    return np.repeat(_a(x), repeats, axis=axis)


def broadcast_to(x: Any, shape: Any) -> np.ndarray:
    return np.broadcast_to(_a(x), tuple(shape)).copy()


def flip(x: Any, axis: Any = None) -> np.ndarray:
    return np.flip(_a(x), axis=_ax(axis))


def gelu(x: Any, approximate: bool = True) -> np.ndarray:
    a = _a(x)
    if approximate:
        c = np.sqrt(2.0 / np.pi)
        return (0.5 * a * (1.0 + np.tanh(c * (a + 0.044715 * a**3)))).astype(a.dtype)
    return (0.5 * a * (1.0 + erf(a / np.sqrt(2.0)))).astype(a.dtype)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> np.ndarray:
    a = _a(x)
    return np.where(a >= 0, a, negative_slope * a).astype(a.dtype)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    a = _a(x)
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    a = _a(x)
    return a - logsumexp(a, axis=axis, keepdims=True)


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: str | None = None) -> np.ndarray:
    ids = _a(x).astype(np.int64)
    out = (ids[..., None] == np.arange(num_classes)).astype(_dt(dtype))
    return np.moveaxis(out, -1, axis) if axis != -1 else out


# ---- convolution and pooling ------------------------------------------------------------------
def ntuple(v: Any, n: int, what: str) -> tuple[int, ...]:
    t = (int(v),) * n if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)
    if len(t) != n:
        raise ConfigError(f"{what} needs {n} values. Received: {v!r}.")
    return t


def same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one axis: (before, after), the extra pixel after."""
    out = -(-n // s)
    total = builtins.max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def check_format(data_format: str | None, padding: str) -> None:
    if data_format not in (None, "channels_last"):
        raise ConfigError(
            f"dl.ops convolution and pooling take channels-last data. Received: "
            f"data_format={data_format!r}. Fix: transpose to (batch, *spatial, channels)."
        )
    if padding not in ("valid", "same"):
        raise ConfigError(f"padding must be 'valid' or 'same'. Received: {padding!r}.")


def _windows(xp: np.ndarray, ks: Sequence[int], st: Sequence[int], dil: Sequence[int]) -> Any:
    nd = len(ks)
    outs = [(xp.shape[1 + i] - (ks[i] - 1) * dil[i] - 1) // st[i] + 1 for i in range(nd)]
    for offs in itertools.product(*[range(k) for k in ks]):
        sl = tuple(
            builtins.slice(o * d, o * d + (n - 1) * s + 1, s)
            for o, d, n, s in zip(offs, dil, outs, st, strict=True)
        )
        yield offs, xp[(builtins.slice(None), *sl, builtins.slice(None))]


def conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> np.ndarray:
    check_format(data_format, padding)
    x, w = _a(inputs), _a(kernel)
    nd = x.ndim - 2
    st, dil = ntuple(strides, nd, "strides"), ntuple(dilation_rate, nd, "dilation_rate")
    ks = w.shape[:nd]
    pads = (
        [same_pads(x.shape[1 + i], ks[i], st[i], dil[i]) for i in range(nd)]
        if padding == "same"
        else [(0, 0)] * nd
    )
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out: Any = 0
    for offs, patch in _windows(xp, ks, st, dil):
        out = out + patch @ w[offs]
    return np.asarray(out, dtype=np.result_type(x, w))


def _pool(
    inputs: Any, pool_size: Any, strides: Any, padding: str, data_format: Any, kind: str
) -> np.ndarray:
    check_format(data_format, padding)
    x = _a(inputs)
    nd = x.ndim - 2
    ks = ntuple(pool_size, nd, "pool_size")
    st = ntuple(strides if strides is not None else pool_size, nd, "strides")
    pads = (
        [same_pads(x.shape[1 + i], ks[i], st[i], 1) for i in range(nd)]
        if padding == "same"
        else [(0, 0)] * nd
    )
    width = [(0, 0), *pads, (0, 0)]
    if kind == "max":
        xp = np.pad(x, width, constant_values=-np.inf)
        return np.max(np.stack([p for _, p in _windows(xp, ks, st, (1,) * nd)]), axis=0)
    xp = np.pad(x, width)
    ones_ = np.pad(np.ones_like(x), width)
    total = np.sum(np.stack([p for _, p in _windows(xp, ks, st, (1,) * nd)]), axis=0)
    count = np.sum(np.stack([p for _, p in _windows(ones_, ks, st, (1,) * nd)]), axis=0)
    return (total / count).astype(x.dtype)


def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: Any = None,
) -> np.ndarray:
    return _pool(inputs, pool_size, strides, padding, data_format, "max")


def average_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: Any = None,
) -> np.ndarray:
    return _pool(inputs, pool_size, strides, padding, data_format, "avg")


def layer_normalization(
    x: Any, gamma: Any = None, beta: Any = None, axis: Any = -1, epsilon: float = 1e-3
) -> np.ndarray:
    a = _a(x)
    ax = _ax(axis)
    m = np.mean(a, axis=ax, keepdims=True)
    v = np.mean(np.square(a - m), axis=ax, keepdims=True)
    y = (a - m) / np.sqrt(v + epsilon)
    if gamma is not None:
        y = y * _a(gamma)
    if beta is not None:
        y = y + _a(beta)
    return y.astype(a.dtype)


def normalize(x: Any, axis: int = -1, epsilon: float = 1e-7) -> np.ndarray:
    a = _a(x)
    return a / np.sqrt(np.maximum(np.sum(a * a, axis=axis, keepdims=True), epsilon * epsilon))


def attention_mask(mask: Any, is_causal: bool, t: int, s: int) -> Any:
    m = None if mask is None else _a(mask).astype(bool)
    if is_causal:
        c = np.tril(np.ones((t, s), dtype=bool))
        m = c if m is None else np.logical_and(m, c)
    return m


def dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    bias: Any = None,
    mask: Any = None,
    scale: Any = None,
    is_causal: bool = False,
) -> np.ndarray:
    q, k, v = _a(query), _a(key), _a(value)
    sc = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    logits = np.einsum("btnh,bsnh->bnts", q, k) * sc
    if bias is not None:
        logits = logits + _a(bias)
    m = attention_mask(mask, is_causal, q.shape[1], k.shape[1])
    if m is not None:
        logits = np.where(m, logits, -0.7 * np.finfo(logits.dtype).max)
    return np.einsum("bnts,bsnh->btnh", softmax(logits, -1), v).astype(q.dtype)


def getitem(x: Any, key: Any) -> Any:
    return _a(x)[_key(key)]  # type: ignore[no-any-return]


def _key(key: Any) -> Any:
    """A getitem key (kept for symmetry with the backends: keys arrive decoded)."""
    return key


# ---- activations (keras.ops names) ------------------------------------------------------------
def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    a = _a(x)
    return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))).astype(a.dtype)


def selu(x: Any) -> np.ndarray:
    from ..activations import SELU_ALPHA, SELU_SCALE

    a = _a(x)
    neg = SELU_ALPHA * np.expm1(np.minimum(a, 0))
    return (SELU_SCALE * np.where(a > 0, a, neg)).astype(a.dtype)


def celu(x: Any, alpha: float = 1.0) -> np.ndarray:
    a = _a(x)
    return (np.maximum(a, 0) + alpha * np.expm1(np.minimum(a, 0) / alpha)).astype(a.dtype)


softsign = _unary(lambda x: x / (1.0 + np.abs(x)))
hard_sigmoid = _unary(lambda x: (np.clip(x + 3.0, 0.0, 6.0) / 6.0).astype(x.dtype))
hard_silu = _unary(lambda x: (x * np.clip(x + 3.0, 0.0, 6.0) / 6.0).astype(x.dtype))
log_sigmoid = _unary(lambda x: (-np.logaddexp(0, -x)).astype(x.dtype))
tan = _unary(np.tan)
log2 = _unary(np.log2)
log10 = _unary(np.log10)
isinf = _unary(np.isinf)
logaddexp = _binary(np.logaddexp)


# ---- shape and creation (keras.ops names) -----------------------------------------------------
def outer(x1: Any, x2: Any) -> np.ndarray:
    return np.outer(_a(x1), _a(x2))


def full_like(x: Any, fill_value: float, dtype: str | None = None) -> np.ndarray:
    return np.full_like(_a(x), fill_value, dtype=dtype)


def moveaxis(x: Any, source: Any, destination: Any) -> np.ndarray:
    return np.moveaxis(_a(x), source, destination)


def tril(x: Any, k: int = 0) -> np.ndarray:
    return np.tril(_a(x), k)


def triu(x: Any, k: int = 0) -> np.ndarray:
    return np.triu(_a(x), k)


def cumprod(x: Any, axis: int | None = None) -> np.ndarray:
    a = _a(x)
    return np.cumprod(a, axis=axis, dtype=a.dtype)


def check_unstack(n: Any, num: int | None, axis: int) -> None:
    """``unstack``'s ``num``, when given, is the size of ``axis``."""
    if num is not None and n is not None and int(num) != int(n):
        raise ConfigError(
            f"unstack: num must be the size of axis {axis}. Expected: num={n} (or None). "
            f"Received: num={num}. Fix: drop num, or pass the axis' size."
        )


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list[np.ndarray]:
    a = _a(x)
    check_unstack(a.shape[axis], num, axis)
    return list(np.moveaxis(a, axis, 0))


def check_linspace(num: object) -> None:
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0:
        raise ConfigError(
            f"linspace: num must be a non-negative integer. Received: num={num!r}. "
            "Fix: e.g. linspace(0.0, 1.0, num=5)."
        )


def linspace_dtype(dtype: str | None, *ends: str | None) -> str:
    """``linspace``'s dtype (Keras's ``result_type(start, stop, float)``): the given one, else
    the widest float dtype of array ends (Python numbers and integers: floatx)."""
    if dtype:
        return dtype
    floats = [d for d in ends if d is not None and "float" in d]
    return builtins.max(floats, key=lambda d: np.dtype(d).itemsize) if floats else config.floatx()


def _end_dtype(v: Any) -> str | None:
    return str(v.dtype) if isinstance(v, (np.ndarray, np.generic)) else None


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: str | None = None,
    axis: int = 0,
) -> Any:
    y, step = np.linspace(
        np.asarray(_v(start), np.float64),
        np.asarray(_v(stop), np.float64),
        num,
        endpoint=endpoint,
        retstep=True,
        axis=axis,
    )
    out = y.astype(linspace_dtype(dtype, _end_dtype(_v(start)), _end_dtype(_v(stop))))
    return (out, step) if retstep else out


def check_slice(rank: int | None, start_indices: Any, shape: Any) -> None:
    """``ops.slice`` needs one start and one size per axis of the input."""
    n_start = np.size(start_indices) if not hasattr(start_indices, "shape") else None
    n_start = len(start_indices) if isinstance(start_indices, (list, tuple)) else n_start
    sizes = list(np.asarray(shape).reshape(-1))
    if rank is None:
        return
    if len(sizes) != rank or (n_start is not None and n_start != rank):
        raise ConfigError(
            f"slice: start_indices and shape need one entry per axis of the input (rank "
            f"{rank}). Received: start_indices={start_indices!r}, shape={shape!r}. Fix: e.g. "
            f"slice(x, {[0] * rank}, <{rank} sizes>)."
        )


def slice_key(start: Any, shape: Any, dims: Sequence[int]) -> tuple[Any, ...]:
    """``ops.slice``'s block as a tuple of slices (a size of -1: to the end of the axis)."""
    check_slice(len(dims), start, shape)
    starts = [int(v) for v in np.asarray(_v(start)).reshape(-1)]
    sizes = [int(v) for v in np.asarray(shape).reshape(-1)]
    return tuple(
        builtins.slice(s, n_ax if n == -1 else s + n)
        for s, n, n_ax in zip(starts, sizes, dims, strict=True)
    )


def slice(inputs: Any, start_indices: Any, shape: Any) -> np.ndarray:  # noqa: A001
    a = _a(inputs)
    return a[slice_key(start_indices, shape, a.shape)]  # type: ignore[no-any-return]


def stop_gradient(variable: Any) -> np.ndarray:
    return np.array(_a(variable))


def cond(pred: Any, true_fn: Any, false_fn: Any) -> Any:
    return true_fn() if bool(np.asarray(_v(pred))) else false_fn()


# ---- norm ---------------------------------------------------------------------------------
def norm_axes(rank: int | None, ord: Any, axis: Any) -> tuple[int, ...] | None:  # noqa: A002
    """``norm``'s axes, non-negative (None: the Euclidean norm of every element, numpy's
    rule for ``axis=None, ord=None``); raises on arguments numpy and Keras refuse."""
    if rank is None:
        return None
    if axis is None:
        if ord is None:
            return None
        if rank not in (1, 2):
            raise ConfigError(
                f"norm: with axis=None and ord={ord!r} the input must be 1-D or 2-D. Received "
                f"an input of rank {rank}. Fix: pass axis= (one axis for a vector norm, two "
                "for a matrix norm), or ord=None for the norm of every element."
            )
        axis = tuple(range(rank))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if builtins.any(a < -rank or a >= rank for a in axes) or len(axes) not in (1, 2):
        raise ConfigError(
            f"norm: axis must be one or two axes in [-{rank}, {rank}). Received: axis={axis!r}. "
            "Fix: e.g. axis=-1 (vector norm) or axis=(-2, -1) (matrix norm)."
        )
    axes = tuple(int(a) % rank for a in axes)
    if len(axes) == 2 and axes[0] == axes[1]:
        raise ConfigError(
            f"norm: the two axes must differ. Received: axis={axis!r}. Fix: e.g. axis=(-2, -1)."
        )
    if len(axes) == 1 and isinstance(ord, str):
        raise ConfigError(
            f"Invalid `ord` argument for vector norm. Received: ord={ord!r}. Expected: None, "
            "a number, inf or -inf. Fix: use 'fro'/'nuc' with two axes."
        )
    numeric = (1, -1, 2, -2, math.inf, -math.inf)
    matrix_ord = ord is None or (ord in ("fro", "nuc") if isinstance(ord, str) else ord in numeric)
    if len(axes) == 2 and (isinstance(ord, bool) or not matrix_ord):
        raise ConfigError(
            f"Invalid `ord` argument for matrix norm. Received: ord={ord!r}. Expected one of "
            "None, 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."
        )
    return axes


def norm_dtype(dtype: str) -> str:
    """The dtype ``norm`` computes in: floats keep theirs, other inputs take floatx."""
    return dtype if "float" in dtype or "complex" in dtype else config.floatx()


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> np.ndarray:  # noqa: A002
    a = _a(x)
    a = a.astype(norm_dtype(str(a.dtype)))
    out = np.linalg.norm(a, ord=ord, axis=_ax(axis), keepdims=keepdims)
    return np.asarray(out).astype(a.dtype)


def singular_values(x: Any) -> np.ndarray:
    return np.linalg.svd(_a(x), compute_uv=False)


# ---- image patches ------------------------------------------------------------------------
def patch_args(
    size: Any, strides: Any, dilation_rate: Any, padding: Any, data_format: Any
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``extract_patches``'s arguments as tuples of the patch rank (2 or 3), checked."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size),) * 2
    if not isinstance(size, (tuple, list)) or len(size) not in (2, 3):
        raise ConfigError(
            "Invalid `size` argument. Expected an int or a tuple of length 2 or 3. "
            f"Received: size={size!r}. Fix: e.g. size=(16, 16)."
        )
    n = len(size)
    size_t = ntuple(size, n, "size")
    strides_t = ntuple(size_t if not strides else strides, n, "strides")
    dil_t = ntuple(dilation_rate, n, "dilation_rate")
    check_format(data_format, padding)
    if builtins.max(dil_t) > 1 and builtins.max(strides_t) > 1:
        raise ConfigError(
            "extract_patches: dilation_rate > 1 is not supported with strides > 1 (as Keras). "
            f"Received: strides={strides_t}, dilation_rate={dil_t}. Fix: use one of them."
        )
    return size_t, strides_t, dil_t


def extract_patches(
    images: Any, size: Any, strides: Any, dilation_rate: Any, padding: str
) -> np.ndarray:
    x = _a(images)
    nd = len(size)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[None]
    pads = (
        [same_pads(x.shape[1 + i], size[i], strides[i], dilation_rate[i]) for i in range(nd)]
        if padding == "same"
        else [(0, 0)] * nd
    )
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = np.concatenate([p for _, p in _windows(xp, size, strides, dilation_rate)], axis=-1)
    return out[0] if unbatched else out


# ---- Fourier transforms ----------------------------------------------------------------------
def _cplx(x: Any) -> tuple[np.ndarray, str]:
    re, im = _a(x[0]), _a(x[1])
    return re + 1j * im, str(np.result_type(re, im))


def _parts(c: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    return c.real.astype(dtype), c.imag.astype(dtype)


def fft(x: Any) -> tuple[np.ndarray, np.ndarray]:
    c, dt = _cplx(x)
    return _parts(np.fft.fft(c), dt)


def fft2(x: Any) -> tuple[np.ndarray, np.ndarray]:
    c, dt = _cplx(x)
    return _parts(np.fft.fft2(c), dt)


def ifft2(x: Any) -> tuple[np.ndarray, np.ndarray]:
    c, dt = _cplx(x)
    return _parts(np.fft.ifft2(c), dt)


def rfft(x: Any, fft_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    a = _a(x)
    return _parts(np.fft.rfft(a, n=fft_length), str(a.dtype))


def irfft(x: Any, fft_length: int | None = None) -> np.ndarray:
    c, dt = _cplx(x)
    return np.fft.irfft(c, n=fft_length).astype(dt)
