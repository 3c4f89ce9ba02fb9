"""``dl.ops`` on TensorFlow: each op is one native call (formulas and names: duallearn/ops).
Constants are built in the operand's dtype (shared/PARITY.md §10)."""

from __future__ import annotations

import builtins
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from duallearn import config, plugin
from duallearn.plugin import as_shape as _shape
from duallearn.plugin import index_key as _key
from duallearn.plugin import same_pads

NAME = "tensorflow"


def _dtype(name: str | None) -> tf.DType:
    return tf.as_dtype(name or config.floatx())


_t = plugin.tensor_converter((tf.Tensor, tf.Variable), tf.stack, tf.convert_to_tensor)


def _pair(x1: Any, x2: Any) -> tuple[tf.Tensor, tf.Tensor]:
    if isinstance(x1, (int, float, bool)) and not isinstance(x2, (int, float, bool)):
        b = _t(x2)
        return tf.constant(x1, dtype=b.dtype), b
    if isinstance(x2, (int, float, bool)) and not isinstance(x1, (int, float, bool)):
        a = _t(x1)
        return a, tf.constant(x2, dtype=a.dtype)
    a, b = _t(x1), _t(x2)
    if a.dtype != b.dtype:
        dt = np.result_type(a.dtype.as_numpy_dtype, b.dtype.as_numpy_dtype)
        a, b = tf.cast(a, dt), tf.cast(b, dt)
    return a, b


def _c(v: float, like: tf.Tensor) -> tf.Tensor:
    return tf.constant(v, dtype=like.dtype)


def _axes(axis: Any) -> Any:
    return list(axis) if isinstance(axis, (list, tuple)) else axis


def convert_to_tensor(x: Any, dtype: str | None = None) -> tf.Tensor:
    t = _t(x)
    return tf.cast(t, _dtype(dtype)) if dtype else t


def convert_to_numpy(x: Any) -> np.ndarray:
    return np.array(_t(x).numpy())


def cast(x: Any, dtype: str) -> tf.Tensor:
    return tf.cast(_t(x), _dtype(dtype))


def shape(x: Any) -> tuple[Any, ...]:
    """The static shape; inside a traced function an unknown dimension (the batch) is a
    scalar tensor (``tf.shape(x)[i]``), as Keras's ``ops.shape`` gives it."""
    t = _t(x)
    static = tuple(t.shape)
    if builtins.all(d is not None for d in static):
        return static
    dynamic = tf.shape(t)
    return tuple(dynamic[i] if d is None else d for i, d in enumerate(static))


def dtype(x: Any) -> str:
    return str(_t(x).dtype.name)


zeros = plugin.filled_op(tf.zeros, _dtype)


ones = plugin.filled_op(tf.ones, _dtype)


def full(shape: Any, fill_value: float, dtype: str | None = None) -> tf.Tensor:
    return tf.fill(_shape(shape), tf.constant(fill_value, dtype=_dtype(dtype)))


zeros_like = plugin.filled_like_op(tf.zeros_like, _t, _dtype)


ones_like = plugin.filled_like_op(tf.ones_like, _t, _dtype)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> tf.Tensor:
    start, stop, step, dtype = plugin.arange_args(start, stop, step, dtype)
    dt = _dtype(dtype)
    return tf.range(tf.constant(start, dt), tf.constant(stop, dt), tf.constant(step, dt))


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> tf.Tensor:  # noqa: N803
    return tf.constant(np.eye(N, M, k), dtype=_dtype(dtype))


def _u(f: Any) -> Any:
    return lambda x: f(_t(x))


abs = _u(tf.abs)  # noqa: A001
negative = _u(tf.negative)
exp = _u(tf.exp)
log = _u(tf.math.log)
log1p = _u(tf.math.log1p)
expm1 = _u(tf.math.expm1)
sqrt = _u(tf.sqrt)
rsqrt = _u(tf.math.rsqrt)
square = _u(tf.square)
reciprocal = _u(tf.math.reciprocal)
sin = _u(tf.sin)
cos = _u(tf.cos)
tanh = _u(tf.tanh)
erf = _u(tf.math.erf)
sign = _u(tf.sign)
floor = _u(tf.floor)
ceil = _u(tf.math.ceil)
round = _u(tf.round)  # noqa: A001
logical_not = _u(lambda x: tf.logical_not(tf.cast(x, tf.bool)))
isnan = _u(tf.math.is_nan)
isfinite = _u(tf.math.is_finite)
relu = _u(tf.nn.relu)
relu6 = _u(tf.nn.relu6)
sigmoid = _u(tf.sigmoid)
softplus = _u(lambda x: tf.maximum(x, _c(0, x)) + tf.math.log1p(tf.exp(-tf.abs(x))))
silu = _u(lambda x: x * tf.sigmoid(x))


def _b(f: Any) -> Any:
    return lambda x1, x2: f(*_pair(x1, x2))


add = _b(tf.add)
subtract = _b(tf.subtract)
multiply = _b(tf.multiply)
divide = _b(tf.math.truediv)
power = _b(tf.pow)
maximum = _b(tf.maximum)
minimum = _b(tf.minimum)
floor_divide = _b(tf.math.floordiv)
mod = _b(tf.math.floormod)
equal = _b(tf.equal)
not_equal = _b(tf.not_equal)
less = _b(tf.less)
less_equal = _b(tf.less_equal)
greater = _b(tf.greater)
greater_equal = _b(tf.greater_equal)
logical_and = _b(lambda a, b: tf.logical_and(tf.cast(a, tf.bool), tf.cast(b, tf.bool)))
logical_or = _b(lambda a, b: tf.logical_or(tf.cast(a, tf.bool), tf.cast(b, tf.bool)))
logical_xor = _b(lambda a, b: tf.math.logical_xor(tf.cast(a, tf.bool), tf.cast(b, tf.bool)))


def where(condition: Any, x1: Any, x2: Any) -> tf.Tensor:
    a, b = _pair(x1, x2)
    return tf.where(tf.cast(_t(condition), tf.bool), a, b)


def clip(x: Any, x_min: float, x_max: float) -> tf.Tensor:
    t = _t(x)
    return tf.clip_by_value(t, _c(x_min, t), _c(x_max, t))


def _r(f: Any, cast_bool: bool = False) -> Any:
    def red(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        t = _t(x)
        if cast_bool:
            t = tf.cast(t, tf.bool)
        return f(t, axis=_axes(axis), keepdims=keepdims)

    return red


sum = _r(tf.reduce_sum)  # noqa: A001
mean = _r(tf.reduce_mean)
max = _r(tf.reduce_max)  # noqa: A001
min = _r(tf.reduce_min)  # noqa: A001
prod = _r(tf.reduce_prod)
var = _r(tf.math.reduce_variance)
std = _r(tf.math.reduce_std)
logsumexp = _r(tf.reduce_logsumexp)
all = _r(tf.reduce_all, True)  # noqa: A001
any = _r(tf.reduce_any, True)  # noqa: A001


def _arg(f: Any) -> Any:
    def inner(x: Any, axis: int | None = None, keepdims: bool = False) -> tf.Tensor:
        t = _t(x)
        if axis is None:
            out = f(tf.reshape(t, [-1]), axis=0, output_type=tf.int64)
            return tf.reshape(out, [1] * t.shape.rank) if keepdims else out
        out = f(t, axis=axis, output_type=tf.int64)
        return tf.expand_dims(out, axis) if keepdims else out

    return inner


argmax = _arg(tf.argmax)
argmin = _arg(tf.argmin)


def cumsum(x: Any, axis: int | None = None) -> tf.Tensor:
    t = _t(x)
    return tf.cumsum(tf.reshape(t, [-1]) if axis is None else t, axis=0 if axis is None else axis)


def sort(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.sort(_t(x), axis=axis)


def argsort(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.cast(tf.argsort(_t(x), axis=axis, stable=True), tf.int64)


def top_k(x: Any, k: int, sorted: bool = True) -> tuple[tf.Tensor, tf.Tensor]:  # noqa: A002
    v, i = tf.math.top_k(_t(x), k=k, sorted=True)
    return v, tf.cast(i, tf.int64)


def matmul(x1: Any, x2: Any) -> tf.Tensor:
    a, b = _pair(x1, x2)
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.reduce_sum(a * b)
    if a.shape.rank == 1:
        return tf.squeeze(tf.matmul(a[None], b), -2)
    if b.shape.rank == 1:
        return tf.squeeze(tf.matmul(a, b[:, None]), -1)
    if a.shape.rank != b.shape.rank:
        batch = tf.broadcast_static_shape(a.shape[:-2], b.shape[:-2])
        a = tf.broadcast_to(a, [*batch, *a.shape[-2:]])
        b = tf.broadcast_to(b, [*batch, *b.shape[-2:]])
    return tf.matmul(a, b)


def einsum(subscripts: str, *operands: Any) -> tf.Tensor:
    return tf.einsum(subscripts, *[_t(o) for o in operands])


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> tf.Tensor:
    return tf.tensordot(_t(x1), _t(x2), axes=axes)


def reshape(x: Any, newshape: Any) -> tf.Tensor:
    return tf.reshape(_t(x), _shape(newshape))


def transpose(x: Any, axes: Any = None) -> tf.Tensor:
    return tf.transpose(_t(x), perm=axes)


def swapaxes(x: Any, axis1: int, axis2: int) -> tf.Tensor:
    t = _t(x)
    perm = list(range(t.shape.rank))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return tf.transpose(t, perm)


def expand_dims(x: Any, axis: int) -> tf.Tensor:
    return tf.expand_dims(_t(x), axis)


def squeeze(x: Any, axis: int | None = None) -> tf.Tensor:
    return tf.squeeze(_t(x), axis=axis)


def concatenate(xs: Sequence[Any], axis: int = 0) -> tf.Tensor:
    return tf.concat([_t(x) for x in xs], axis=axis)


def stack(x: Sequence[Any], axis: int = 0) -> tf.Tensor:
    return tf.stack([_t(a) for a in x], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[tf.Tensor]:
    t = _t(x)
    n = t.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        plugin.check_sections(n, indices_or_sections, axis)
        return list(tf.split(t, int(indices_or_sections), axis=axis))
    cuts = [0, *[int(i) for i in indices_or_sections], n]
    return list(tf.split(t, [b - a for a, b in zip(cuts[:-1], cuts[1:], strict=True)], axis=axis))


def take(x: Any, indices: Any, axis: int | None = None) -> tf.Tensor:
    t, i = _t(x), _t(indices)
    if axis is None:
        return tf.gather(tf.reshape(t, [-1]), i)
    return tf.gather(t, i, axis=axis)


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> tf.Tensor:
    t, i = _t(x), tf.cast(_t(indices), tf.int64)
    if axis is None:
        return tf.gather(tf.reshape(t, [-1]), tf.reshape(i, [-1]))
    rank = t.shape.rank
    axis = axis % rank
    # dynamic shapes: a traced step's batch size may be unknown (None)
    ts, is_ = tf.shape(t, out_type=tf.int64), tf.shape(i, out_type=tf.int64)
    at = tf.one_hot(axis, rank, on_value=True, off_value=False)
    one = tf.ones((rank,), tf.int64)
    common = tf.broadcast_dynamic_shape(tf.where(at, one, ts), tf.where(at, one, is_))
    t = tf.broadcast_to(t, tf.where(at, ts, common))
    i = tf.broadcast_to(i, tf.where(at, is_, common))
    # move the axis last, gather with batch dims, move it back
    perm = [d for d in range(rank) if d != axis] + [axis]
    inv = list(np.argsort(perm))
    out = tf.gather(tf.transpose(t, perm), tf.transpose(i, perm), batch_dims=rank - 1)
    return tf.transpose(out, inv)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> tf.Tensor:
    t = _t(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (t.shape.rank, 2))
    plugin.check_pad_mode(mode)
    if mode == "constant":
        return tf.pad(t, pw, constant_values=_c(constant_values or 0, t))
    return tf.pad(t, pw, mode=mode.upper())


def tile(x: Any, repeats: Any) -> tf.Tensor:
    t = _t(x)
    reps = plugin.tile_reps(repeats, t.shape.rank)
    if len(reps) > t.shape.rank:
        t = tf.reshape(t, (1,) * (len(reps) - t.shape.rank) + tuple(t.shape))
    return tf.tile(t, reps)


def repeat(x: Any, repeats: int, axis: int | None = None) -> tf.Tensor:
    t = _t(x)
    return tf.repeat(
        tf.reshape(t, [-1]) if axis is None else t, repeats, axis=0 if axis is None else axis
    )


def broadcast_to(x: Any, shape: Any) -> tf.Tensor:
    return tf.broadcast_to(_t(x), _shape(shape))


def flip(x: Any, axis: Any = None) -> tf.Tensor:
    t = _t(x)
    return tf.reverse(t, plugin.flip_axes(axis, t.shape.rank))


def gelu(x: Any, approximate: bool = True) -> tf.Tensor:
    t = _t(x)
    if approximate:
        c = _c(math.sqrt(2.0 / math.pi), t)
        return _c(0.5, t) * t * (_c(1.0, t) + tf.tanh(c * (t + _c(0.044715, t) * t * t * t)))
    return _c(0.5, t) * t * (_c(1.0, t) + tf.math.erf(t / _c(math.sqrt(2.0), t)))


def leaky_relu(x: Any, negative_slope: float = 0.2) -> tf.Tensor:
    t = _t(x)
    return tf.where(t >= _c(0, t), t, _c(negative_slope, t) * t)


def softmax(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.nn.softmax(_t(x), axis=axis)


def log_softmax(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.nn.log_softmax(_t(x), axis=axis)


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: str | None = None) -> tf.Tensor:
    return tf.one_hot(tf.cast(_t(x), tf.int64), num_classes, axis=axis, dtype=_dtype(dtype))


def _pad_last(x: tf.Tensor, pads: list[tuple[int, int]], value: float = 0.0) -> tf.Tensor:
    if not builtins.any(a or b for a, b in pads):
        return x
    return tf.pad(x, [(0, 0), *pads, (0, 0)], constant_values=_c(value, x))


def _conv(
    x: tf.Tensor, w: tf.Tensor, st: tuple[int, ...], dil: tuple[int, ...], padding: str
) -> tf.Tensor:
    if padding == "same":
        pads = [same_pads(x.shape[1 + i], w.shape[i], st[i], dil[i]) for i in range(len(st))]
        x = _pad_last(x, pads)
    # data_format named: tf.nn.convolution leaves Conv3D's attribute unset otherwise, and
    # the eager Conv3D gradient then fails (TF 2.21: 'NoneType' object has no attribute 'decode')
    fmt = ("NWC", "NHWC", "NDHWC")[len(st) - 1]
    return tf.nn.convolution(x, w, strides=st, padding="VALID", dilations=dil, data_format=fmt)


def _max_pool(x: tf.Tensor, ks: tuple[int, ...], st: tuple[int, ...], padding: str) -> tf.Tensor:
    return tf.nn.pool(x, ks, "MAX", strides=st, padding=padding.upper())


def _average_pool(
    x: tf.Tensor, ks: tuple[int, ...], st: tuple[int, ...], padding: str
) -> tf.Tensor:
    return tf.nn.pool(x, ks, "AVG", strides=st, padding=padding.upper())


conv = plugin.conv_op(_t, _conv)
max_pool = plugin.pool_op(_t, _max_pool)
average_pool = plugin.pool_op(_t, _average_pool)


def _standardize(x: Any, axis: Any, epsilon: float) -> tf.Tensor:
    t = _t(x)
    m, v = tf.nn.moments(
        t, axes=_axes(axis) if isinstance(axis, (list, tuple)) else [axis], keepdims=True
    )
    return (t - m) * tf.math.rsqrt(v + _c(epsilon, t))


layer_normalization = plugin.layer_normalization_op(_standardize, multiply, add)


def normalize(x: Any, axis: int = -1, epsilon: float = 1e-7) -> tf.Tensor:
    t = _t(x)
    return t * tf.math.rsqrt(
        tf.maximum(tf.reduce_sum(t * t, axis=axis, keepdims=True), _c(epsilon * epsilon, t))
    )


def _attention(q: Any, k: Any, v: Any, bias: Any, mask: Any, sc: float, causal: bool) -> tf.Tensor:
    logits = tf.einsum("btnh,bsnh->bnts", q, k) * _c(sc, q)
    if bias is not None:
        logits = logits + bias
    m = None if mask is None else tf.cast(mask, tf.bool)
    if causal:
        c = tf.constant(np.tril(np.ones((q.shape[1], k.shape[1]), dtype=bool)))
        m = c if m is None else tf.logical_and(m, c)
    if m is not None:
        logits = tf.where(m, logits, _c(-0.7 * np.finfo(logits.dtype.as_numpy_dtype).max, logits))
    return tf.einsum("bnts,bsnh->btnh", tf.nn.softmax(logits, axis=-1), v)


dot_product_attention = plugin.attention_op(_t, _attention)


def getitem(x: Any, key: Any) -> Any:
    return _t(x)[_key(key)]


# ---- activations, elementwise and shape ops added for Keras notebooks ---------------------------
def elu(x: Any, alpha: float = 1.0) -> tf.Tensor:
    t = _t(x)
    res = tf.nn.elu(t)
    return res if alpha == 1 else tf.where(t > _c(0, t), res, _c(alpha, t) * res)


def celu(x: Any, alpha: float = 1.0) -> tf.Tensor:
    t = _t(x)
    neg = tf.math.expm1(tf.minimum(t, _c(0, t)) / _c(alpha, t))
    return tf.maximum(t, _c(0, t)) + _c(alpha, t) * neg


def _hard_sigmoid(t: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu6(t + _c(3.0, t)) / _c(6.0, t)


selu = _u(tf.nn.selu)
softsign = _u(tf.nn.softsign)
hard_sigmoid = _u(_hard_sigmoid)
hard_silu = _u(lambda t: t * _hard_sigmoid(t))
log_sigmoid = _u(tf.math.log_sigmoid)
tan = _u(tf.tan)
log2 = _u(lambda t: tf.math.log(t) / _c(math.log(2.0), t))
log10 = _u(lambda t: tf.math.log(t) / _c(math.log(10.0), t))
isinf = _u(tf.math.is_inf)
# max + log1p(exp(-|a - b|)), stable for large inputs (Keras's TF formula)
logaddexp = _b(lambda a, b: tf.maximum(a, b) + tf.math.log1p(tf.exp(-tf.abs(a - b))))
outer = _b(lambda a, b: tf.reshape(a, [-1, 1]) * tf.reshape(b, [1, -1]))
stop_gradient = _u(tf.stop_gradient)
singular_values = _u(lambda t: tf.linalg.svd(t, compute_uv=False))


def full_like(x: Any, fill_value: float, dtype: str | None = None) -> tf.Tensor:
    t = _t(x)
    dt = _dtype(dtype) if dtype else t.dtype
    return tf.fill(tf.shape(t), tf.constant(fill_value, dtype=dt))


def moveaxis(x: Any, source: Any, destination: Any) -> tf.Tensor:
    t = _t(x)
    rank = t.shape.rank
    src = [a % rank for a in ([source] if isinstance(source, int) else source)]
    dst = [a % rank for a in ([destination] if isinstance(destination, int) else destination)]
    perm = [a for a in range(rank) if a not in src]
    for d, a in sorted(zip(dst, src, strict=True)):  # numpy's moveaxis
        perm.insert(d, a)
    return tf.transpose(t, perm)


def _band(x: Any, k: int, lower: bool) -> tf.Tensor:
    t = _t(x)
    n, m = t.shape[-2], t.shape[-1]
    keep = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return tf.where(tf.constant(keep), t, tf.zeros_like(t))


def tril(x: Any, k: int = 0) -> tf.Tensor:
    return _band(x, k, True)


def triu(x: Any, k: int = 0) -> tf.Tensor:
    return _band(x, k, False)


def cumprod(x: Any, axis: int | None = None) -> tf.Tensor:
    t = _t(x)
    return tf.math.cumprod(
        tf.reshape(t, [-1]) if axis is None else t, axis=0 if axis is None else axis
    )


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list[tf.Tensor]:
    t = _t(x)
    plugin.check_unstack(t.shape[axis], num, axis)
    return list(tf.unstack(t, num=num, axis=axis))


def slice(inputs: Any, start_indices: Any, shape: Any) -> tf.Tensor:  # noqa: A001
    """``tf.slice``; ``start_indices`` may hold tensors (a traced step keeps them dynamic)."""
    begin = tf.cast(_t(start_indices), tf.int64)
    return tf.slice(_t(inputs), begin, tf.constant(_shape(shape), tf.int64))


def cond(pred: Any, true_fn: Any, false_fn: Any) -> Any:
    """``tf.cond`` inside a traced function; eagerly, the branch ``pred`` picks."""
    p = _t(pred)
    if tf.executing_eagerly():
        return true_fn() if bool(p) else false_fn()
    return tf.cond(tf.cast(p, tf.bool), true_fn, false_fn)


# ---- Fourier transforms: (real, imag) pairs in and out (Keras's convention) ------------------
def _complex(x: Any) -> tf.Tensor:
    return tf.dtypes.complex(_t(x[0]), _t(x[1]))


def _parts(c: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.math.real(c), tf.math.imag(c)


def _complex_op(transform: Any) -> Any:
    return lambda x: _parts(transform(_complex(x)))


fft, fft2, ifft2 = (_complex_op(f) for f in (tf.signal.fft, tf.signal.fft2d, tf.signal.ifft2d))


def rfft(x: Any, fft_length: int | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    return _parts(tf.signal.rfft(_t(x), None if fft_length is None else [fft_length]))


def irfft(x: Any, fft_length: int | None = None) -> tf.Tensor:
    return tf.signal.irfft(_complex(x), None if fft_length is None else [fft_length])


linspace, norm, extract_patches = plugin.composed_ops(sys.modules[__name__])  # plugin's


class GradientTape:
    """``dl.GradientTape`` on TensorFlow: a ``tf.GradientTape`` watching every trainable
    variable read inside the block."""

    def __enter__(self) -> GradientTape:
        self._tape = tf.GradientTape()
        self._tape.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tape.__exit__(*exc)

    def gradient(self, target: Any, sources: list[Any]) -> list[Any]:
        return [
            None if g is None else tf.convert_to_tensor(g)  # IndexedSlices (Embedding) too
            for g in self._tape.gradient(target, sources)
        ]


def host_draw(fn: Any, dims: Sequence[Any], dtype: str, inputs: Sequence[Any] = ()) -> tf.Tensor:
    """``dl.random``'s hook: ``fn(shape, *input_arrays)`` (a numpy draw) run now when eager,
    and at each execution inside a traced function (``tf.numpy_function``), so a draw is not
    frozen into the trace and a ``SeedGenerator`` advances once per run. ``dims`` may hold
    scalar tensors (a traced batch size)."""
    if tf.executing_eagerly():
        arrays = [_t(a).numpy() for a in inputs]
        return tf.convert_to_tensor(fn(tuple(int(d) for d in dims), *arrays))
    size = tf.stack([tf.cast(d, tf.int64) for d in dims]) if dims else tf.zeros((0,), tf.int64)

    def run(s: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        return fn(tuple(int(v) for v in s), *arrays)

    out = tf.numpy_function(run, [size, *[_t(a) for a in inputs]], _dtype(dtype), stateful=True)
    out.set_shape([d if isinstance(d, int) else None for d in dims])
    return out


def assign_variable(variable: tf.Variable, value: Any, mode: str) -> None:
    """``Variable.assign`` / ``assign_add`` / ``assign_sub`` on the ``tf.Variable`` (an op
    of the traced step when called inside one)."""
    v = tf.cast(_t(value), variable.dtype)
    if mode == "assign":
        variable.assign(tf.broadcast_to(v, tf.shape(variable)))
    elif mode == "add":
        variable.assign_add(tf.broadcast_to(v, tf.shape(variable)))
    else:
        variable.assign_sub(tf.broadcast_to(v, tf.shape(variable)))
