"""``dl.ops``: backend-agnostic tensor operations with ``keras.ops`` names and semantics.

Each function dispatches once to the active implementation (docs/ops.md):

* inside a custom layer's ``call`` run by a model, the model's backend (torch or TensorFlow),
  on native tensors, so gradients flow natively;
* inside :func:`numpy_mode`, the numpy reference (float64-exact formulas; the test oracle and
  the shape inference of custom layers);
* otherwise the active backend (``dl.use_backend``); the result is a native tensor
  (``convert_to_numpy`` turns it into numpy);
* on symbolic tensors (``dl.Input``), the call is recorded as a node of the functional graph.

Semantics follow numpy/``keras.ops``: broadcasting, ``axis=None`` reduces every axis, integer
division of ints is true division, etc. Differences from PyTorch/TensorFlow are noted per op.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from . import _dispatch
from ._dispatch import current as _current
from ._dispatch import native_call as native_call

_SYM: Any = None


def _sym_type() -> Any:
    global _SYM
    if _SYM is None:
        from ..layers._input import SymbolicTensor

        _SYM = SymbolicTensor
    return _SYM


def _has_symbolic(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    st = _sym_type()
    for a in (*args, *kwargs.values()):
        if isinstance(a, st):
            return True
        if isinstance(a, (list, tuple)) and builtins.any(isinstance(b, st) for b in a):
            return True
    return False


def _d(name: str, *args: Any, **kwargs: Any) -> Any:
    impl = _dispatch._impl.get()
    if impl is None:
        if _has_symbolic(args, kwargs):
            from ._symbolic import symbolic_call

            return symbolic_call(name, args, kwargs)
        impl = _current()
    return getattr(impl, name)(*args, **kwargs)


@contextlib.contextmanager
def numpy_mode() -> Iterator[None]:
    """Run ``dl.ops`` calls (and custom layers' ``call``) with the numpy reference."""
    from . import _numpy

    with native_call(_numpy, None):
        yield


# ---- conversion -------------------------------------------------------------------------------
def convert_to_tensor(x: Any, dtype: str | None = None) -> Any:
    """A native tensor of the active implementation holding ``x`` (numpy, list, scalar,
    Weight or tensor), cast to ``dtype`` when given."""
    return _d("convert_to_tensor", x, dtype)


def convert_to_numpy(x: Any) -> Any:
    """The value of a tensor as a numpy array (a host copy)."""
    return _d("convert_to_numpy", x)


def cast(x: Any, dtype: str) -> Any:
    """``x`` converted to ``dtype`` (float→int truncates toward zero, as numpy)."""
    return _d("cast", x, dtype)


def shape(x: Any) -> tuple[int, ...]:
    """The static shape of ``x`` as a tuple of ints."""
    return _d("shape", x)  # type: ignore[no-any-return]


def dtype(x: Any) -> str:
    """The dtype name of ``x`` (``"float32"``, ``"int64"``...)."""
    return _d("dtype", x)  # type: ignore[no-any-return]


# ---- creation ---------------------------------------------------------------------------------
def zeros(shape: Sequence[int] | int, dtype: str | None = None) -> Any:
    """A tensor of zeros (dtype default: ``dl.config.floatx()``)."""
    return _d("zeros", shape, dtype)


def ones(shape: Sequence[int] | int, dtype: str | None = None) -> Any:
    """A tensor of ones (dtype default: ``dl.config.floatx()``)."""
    return _d("ones", shape, dtype)


def full(shape: Sequence[int] | int, fill_value: float, dtype: str | None = None) -> Any:
    """A tensor filled with ``fill_value`` (dtype default: floatx)."""
    return _d("full", shape, fill_value, dtype)


def zeros_like(x: Any, dtype: str | None = None) -> Any:
    """Zeros with the shape (and dtype, unless given) of ``x``."""
    return _d("zeros_like", x, dtype)


def ones_like(x: Any, dtype: str | None = None) -> Any:
    """Ones with the shape (and dtype, unless given) of ``x``."""
    return _d("ones_like", x, dtype)


def arange(
    start: float, stop: float | None = None, step: float = 1, dtype: str | None = None
) -> Any:
    """``[start, stop)`` by ``step`` (numpy's ``arange``; ints give int64 unless ``dtype``)."""
    return _d("arange", start, stop, step, dtype)


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> Any:  # noqa: N803
    """An ``N×M`` matrix with ones on diagonal ``k``."""
    return _d("eye", N, M, k, dtype)


# ---- elementwise: unary -----------------------------------------------------------------------
def abs(x: Any) -> Any:  # noqa: A001
    """``|x|`` (gradient 0 at 0 on both backends)."""
    return _d("abs", x)


def negative(x: Any) -> Any:
    """``-x``."""
    return _d("negative", x)


def exp(x: Any) -> Any:
    """``e**x``."""
    return _d("exp", x)


def log(x: Any) -> Any:
    """Natural logarithm (``-inf`` at 0, ``nan`` below)."""
    return _d("log", x)


def log1p(x: Any) -> Any:
    """``log(1 + x)``, accurate near 0."""
    return _d("log1p", x)


def expm1(x: Any) -> Any:
    """``exp(x) - 1``, accurate near 0."""
    return _d("expm1", x)


def sqrt(x: Any) -> Any:
    """Square root."""
    return _d("sqrt", x)


def rsqrt(x: Any) -> Any:
    """``1 / sqrt(x)``."""
    return _d("rsqrt", x)


def square(x: Any) -> Any:
    """``x * x``."""
    return _d("square", x)


def reciprocal(x: Any) -> Any:
    """``1 / x``."""
    return _d("reciprocal", x)


def sin(x: Any) -> Any:
    """Sine."""
    return _d("sin", x)


def cos(x: Any) -> Any:
    """Cosine."""
    return _d("cos", x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return _d("tanh", x)


def erf(x: Any) -> Any:
    """The error function."""
    return _d("erf", x)


def sign(x: Any) -> Any:
    """-1, 0 or 1 (gradient 0)."""
    return _d("sign", x)


def floor(x: Any) -> Any:
    """Largest integer ≤ x (gradient 0)."""
    return _d("floor", x)


def ceil(x: Any) -> Any:
    """Smallest integer ≥ x (gradient 0)."""
    return _d("ceil", x)


def round(x: Any) -> Any:  # noqa: A001
    """Round half to even (numpy's rule; torch and TF use the same)."""
    return _d("round", x)


# ---- elementwise: binary (numpy broadcasting) -------------------------------------------------
def add(x1: Any, x2: Any) -> Any:
    """``x1 + x2``."""
    return _d("add", x1, x2)


def subtract(x1: Any, x2: Any) -> Any:
    """``x1 - x2``."""
    return _d("subtract", x1, x2)


def multiply(x1: Any, x2: Any) -> Any:
    """``x1 * x2``."""
    return _d("multiply", x1, x2)


def divide(x1: Any, x2: Any) -> Any:
    """True division ``x1 / x2``."""
    return _d("divide", x1, x2)


def power(x1: Any, x2: Any) -> Any:
    """``x1 ** x2``."""
    return _d("power", x1, x2)


def maximum(x1: Any, x2: Any) -> Any:
    """Elementwise maximum (at ties both backends send the gradient to ``x1``... see
    docs/ops.md: ties are kept out of parity tests)."""
    return _d("maximum", x1, x2)


def minimum(x1: Any, x2: Any) -> Any:
    """Elementwise minimum."""
    return _d("minimum", x1, x2)


def floor_divide(x1: Any, x2: Any) -> Any:
    """``floor(x1 / x2)`` (numpy's ``//``)."""
    return _d("floor_divide", x1, x2)


def mod(x1: Any, x2: Any) -> Any:
    """Remainder with the sign of the divisor (numpy's ``%``; torch's ``remainder``)."""
    return _d("mod", x1, x2)


# ---- comparison and logic ---------------------------------------------------------------------
def equal(x1: Any, x2: Any) -> Any:
    """``x1 == x2`` (bool)."""
    return _d("equal", x1, x2)


def not_equal(x1: Any, x2: Any) -> Any:
    """``x1 != x2`` (bool)."""
    return _d("not_equal", x1, x2)


def less(x1: Any, x2: Any) -> Any:
    """``x1 < x2`` (bool)."""
    return _d("less", x1, x2)


def less_equal(x1: Any, x2: Any) -> Any:
    """``x1 <= x2`` (bool)."""
    return _d("less_equal", x1, x2)


def greater(x1: Any, x2: Any) -> Any:
    """``x1 > x2`` (bool)."""
    return _d("greater", x1, x2)


def greater_equal(x1: Any, x2: Any) -> Any:
    """``x1 >= x2`` (bool)."""
    return _d("greater_equal", x1, x2)


def logical_and(x1: Any, x2: Any) -> Any:
    """Elementwise AND of truth values."""
    return _d("logical_and", x1, x2)


def logical_or(x1: Any, x2: Any) -> Any:
    """Elementwise OR of truth values."""
    return _d("logical_or", x1, x2)


def logical_xor(x1: Any, x2: Any) -> Any:
    """Elementwise XOR of truth values."""
    return _d("logical_xor", x1, x2)


def logical_not(x: Any) -> Any:
    """Elementwise NOT."""
    return _d("logical_not", x)


def isnan(x: Any) -> Any:
    """True where ``x`` is NaN."""
    return _d("isnan", x)


def isfinite(x: Any) -> Any:
    """True where ``x`` is finite."""
    return _d("isfinite", x)


def where(condition: Any, x1: Any, x2: Any) -> Any:
    """``x1`` where ``condition`` else ``x2`` (broadcast)."""
    return _d("where", condition, x1, x2)


def clip(x: Any, x_min: float, x_max: float) -> Any:
    """``min(max(x, x_min), x_max)``; gradient 1 inside ``[x_min, x_max]`` (bounds
    included, on both backends), 0 outside."""
    return _d("clip", x, x_min, x_max)


# ---- reductions -------------------------------------------------------------------------------
Axis = int | Sequence[int] | None


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    return _d("sum", x, axis, keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis``."""
    return _d("mean", x, axis, keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Maximum over ``axis``; ties split the gradient evenly on both backends (torch
    ``amax``, TF ``reduce_max``)."""
    return _d("max", x, axis, keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Minimum over ``axis`` (ties split the gradient)."""
    return _d("min", x, axis, keepdims)


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Product over ``axis``."""
    return _d("prod", x, axis, keepdims)


def var(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Biased variance (divides by N, numpy's default; torch's default divides by N−1)."""
    return _d("var", x, axis, keepdims)


def std(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Biased standard deviation ``sqrt(var)`` (numpy's ``ddof=0``)."""
    return _d("std", x, axis, keepdims)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(x)))`` computed stably (max subtracted)."""
    return _d("logsumexp", x, axis, keepdims)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where every element along ``axis`` is true."""
    return _d("all", x, axis, keepdims)


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where some element along ``axis`` is true."""
    return _d("any", x, axis, keepdims)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the first maximum along ``axis`` (flattened when None), int64."""
    return _d("argmax", x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the first minimum along ``axis``, int64."""
    return _d("argmin", x, axis, keepdims)


def cumsum(x: Any, axis: int | None = None) -> Any:
    """Cumulative sum along ``axis`` (of the flattened tensor when None)."""
    return _d("cumsum", x, axis)


def sort(x: Any, axis: int = -1) -> Any:
    """Values sorted ascending along ``axis``."""
    return _d("sort", x, axis)


def argsort(x: Any, axis: int = -1) -> Any:
    """Indices that sort ``x`` ascending along ``axis`` (stable), int64."""
    return _d("argsort", x, axis)


def top_k(x: Any, k: int, sorted: bool = True) -> tuple[Any, Any]:  # noqa: A002
    """``(values, indices)`` of the ``k`` largest entries along the last axis, largest
    first (ties: the lower index first)."""
    return _d("top_k", x, k, sorted)  # type: ignore[no-any-return]


# ---- linear algebra ---------------------------------------------------------------------------
def matmul(x1: Any, x2: Any) -> Any:
    """Matrix product with numpy's batching rules (1-D operands are promoted)."""
    return _d("matmul", x1, x2)


def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    return _d("einsum", subscripts, *operands)


def tensordot(x1: Any, x2: Any, axes: int | Sequence[Any] = 2) -> Any:
    """Sum of products over ``axes`` (numpy's ``tensordot``)."""
    return _d("tensordot", x1, x2, axes)


def dot(x1: Any, x2: Any) -> Any:
    """numpy's ``dot`` for 1-D and 2-D operands (``matmul`` otherwise)."""
    return _d("matmul", x1, x2)


# ---- shape manipulation -----------------------------------------------------------------------
def reshape(x: Any, newshape: Sequence[int] | int) -> Any:
    """The same data with shape ``newshape`` (one ``-1`` allowed), C order."""
    return _d("reshape", x, newshape)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute axes (reversed when None)."""
    return _d("transpose", x, axes)


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Exchange two axes."""
    return _d("swapaxes", x, axis1, axis2)


def expand_dims(x: Any, axis: int) -> Any:
    """Insert a size-1 axis at ``axis``."""
    return _d("expand_dims", x, axis)


def squeeze(x: Any, axis: int | None = None) -> Any:
    """Remove size-1 axes (only ``axis`` when given)."""
    return _d("squeeze", x, axis)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis."""
    return _d("concatenate", xs, axis)


def stack(x: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along a new axis."""
    return _d("stack", x, axis)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Any]:
    """numpy's ``split``: ``n`` equal sections, or cut points (not torch's sizes)."""
    return _d("split", x, indices_or_sections, axis)  # type: ignore[no-any-return]


def take(x: Any, indices: Any, axis: int | None = None) -> Any:
    """Elements at integer ``indices`` along ``axis`` (flattened when None)."""
    return _d("take", x, indices, axis)


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> Any:
    """numpy's ``take_along_axis``: ``indices`` has ``x``'s rank."""
    return _d("take_along_axis", x, indices, axis)


def pad(
    x: Any, pad_width: Any, mode: str = "constant", constant_values: float | None = None
) -> Any:
    """Pad with ``pad_width`` ((before, after) per axis, numpy's form); modes ``constant``,
    ``reflect``, ``symmetric``."""
    return _d("pad", x, pad_width, mode, constant_values)


def tile(x: Any, repeats: Sequence[int] | int) -> Any:
    """Repeat the whole tensor ``repeats`` times per axis."""
    return _d("tile", x, repeats)


def repeat(x: Any, repeats: int, axis: int | None = None) -> Any:
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None)."""
    return _d("repeat", x, repeats, axis)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """Broadcast ``x`` to ``shape``."""
    return _d("broadcast_to", x, shape)


def getitem(x: Any, key: Any) -> Any:
    """``x[key]`` with basic indexing (ints, slices, ``...``, ``None``); what ``x[...]``
    does on symbolic tensors and weights."""
    return _d("getitem", x, key)


def flip(x: Any, axis: Axis = None) -> Any:
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    return _d("flip", x, axis)


# ---- neural-network ops -----------------------------------------------------------------------
def relu(x: Any) -> Any:
    """``max(x, 0)``; gradient 0 at 0 on both backends."""
    return _d("relu", x)


def relu6(x: Any) -> Any:
    """``min(max(x, 0), 6)``."""
    return _d("relu6", x)


def sigmoid(x: Any) -> Any:
    """``1 / (1 + exp(-x))``."""
    return _d("sigmoid", x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))`` exactly (torch's ``F.softplus`` switches to ``x`` above 20: not
    used)."""
    return _d("softplus", x)


def silu(x: Any) -> Any:
    """``x * sigmoid(x)``."""
    return _d("silu", x)


def gelu(x: Any, approximate: bool = True) -> Any:
    """GELU. ``approximate=True`` (the ``keras.ops`` default, unlike ``keras.activations``
    and torch): ``0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))``; False: ``0.5x(1 + erf(x/√2))``.
    Constants are built in the input's dtype (``tf.nn.gelu`` is not used, PARITY.md §10)."""
    return _d("gelu", x, approximate)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Any:
    """``x`` if ``x >= 0`` else ``negative_slope * x`` (keras.ops default 0.2; torch 0.01)."""
    return _d("leaky_relu", x, negative_slope)


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (always explicit: torch's
    ``nn.Softmax()`` without ``dim`` guesses)."""
    return _d("softmax", x, axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x, axis)``."""
    return _d("log_softmax", x, axis)


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: str | None = None) -> Any:
    """One-hot encoding of integer ``x`` (dtype default floatx; out-of-range ids give zeros)."""
    return _d("one_hot", x, num_classes, axis, dtype)


def conv(
    inputs: Any,
    kernel: Any,
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | Sequence[int] = 1,
) -> Any:
    """N-D cross-correlation (1-3 spatial dims), channels-last: ``inputs`` (batch,
    *spatial, in), ``kernel`` (*k, in, out) (Keras layout). ``padding="same"`` pads as
    TensorFlow: total = max((⌈n/s⌉−1)s + (k−1)d + 1 − n, 0), the extra pixel after (torch's
    symmetric ``padding`` differs for even kernels/stride 2). Only
    ``data_format="channels_last"``."""
    return _d("conv", inputs, kernel, strides, padding, data_format, dilation_rate)


def max_pool(
    inputs: Any,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Any:
    """N-D max pooling, channels-last (``strides`` default ``pool_size``; 'same' pads with
    −inf as TensorFlow)."""
    return _d("max_pool", inputs, pool_size, strides, padding, data_format)


def average_pool(
    inputs: Any,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Any:
    """N-D average pooling, channels-last; 'same' divides by the count of valid elements
    (TensorFlow's rule, not torch's ``count_include_pad``)."""
    return _d("average_pool", inputs, pool_size, strides, padding, data_format)


def layer_normalization(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: int | Sequence[int] = -1,
    epsilon: float = 1e-3,
) -> Any:
    """``(x − mean) / sqrt(var + epsilon) · gamma + beta`` over ``axis`` (biased variance;
    Keras's epsilon 1e-3, torch's 1e-5: pass it explicitly)."""
    return _d("layer_normalization", x, gamma, beta, axis, epsilon)


layer_norm = layer_normalization


def normalize(x: Any, axis: int = -1, epsilon: float = 1e-7) -> Any:
    """L2 normalization ``x / max(‖x‖₂, epsilon)`` along ``axis`` (keras.ops ``order=2``)."""
    return _d("normalize", x, axis, epsilon)


def dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    bias: Any = None,
    mask: Any = None,
    scale: float | None = None,
    is_causal: bool = False,
) -> Any:
    """``softmax(q·kᵀ·scale + bias, masked) · v`` with Keras's layout: query (B, T, N, H),
    key/value (B, S, N, H) → (B, T, N, H); ``scale`` default ``1/sqrt(H)``; ``mask`` (bool,
    broadcast to (B, N, T, S)) keeps True positions; ``is_causal`` keeps ``s <= t``.
    torch's ``scaled_dot_product_attention`` wants (B, N, T, H): the backend transposes."""
    return _d("dot_product_attention", query, key, value, bias, mask, scale, is_causal)


scaled_dot_product_attention = dot_product_attention


# ---- more activations (keras.ops names) ------------------------------------------------------
def elu(x: Any, alpha: float = 1.0) -> Any:
    """``x`` if ``x > 0`` else ``alpha · (exp(x) − 1)``."""
    return _d("elu", x, alpha)


def selu(x: Any) -> Any:
    """``scale · (x if x > 0 else alpha · (exp(x) − 1))``, alpha ≈ 1.67326, scale ≈ 1.05070."""
    return _d("selu", x)


def celu(x: Any, alpha: float = 1.0) -> Any:
    """``max(x, 0) + alpha · (exp(min(x, 0) / alpha) − 1)``."""
    return _d("celu", x, alpha)


def softsign(x: Any) -> Any:
    """``x / (1 + |x|)``."""
    return _d("softsign", x)


def hard_sigmoid(x: Any) -> Any:
    """``relu6(x + 3) / 6`` (Keras 3's; torch ``hardsigmoid``)."""
    return _d("hard_sigmoid", x)


def hard_silu(x: Any) -> Any:
    """``x · relu6(x + 3) / 6`` (torch ``hardswish``)."""
    return _d("hard_silu", x)


def log_sigmoid(x: Any) -> Any:
    """``log(sigmoid(x)) = −softplus(−x)``, computed stably."""
    return _d("log_sigmoid", x)


swish = silu
hard_swish = hard_silu


# ---- more elementwise, shape and creation ops (keras.ops names) --------------------------------
absolute = abs
amax = max
amin = min
true_divide = divide
get_item = getitem


def tan(x: Any) -> Any:
    """Tangent."""
    return _d("tan", x)


def log2(x: Any) -> Any:
    """Base-2 logarithm."""
    return _d("log2", x)


def log10(x: Any) -> Any:
    """Base-10 logarithm."""
    return _d("log10", x)


def isinf(x: Any) -> Any:
    """True where ``x`` is ±inf."""
    return _d("isinf", x)


def logaddexp(x1: Any, x2: Any) -> Any:
    """``log(exp(x1) + exp(x2))`` computed stably."""
    return _d("logaddexp", x1, x2)


def outer(x1: Any, x2: Any) -> Any:
    """Outer product of the flattened inputs: ``(x1.size, x2.size)``."""
    return _d("outer", x1, x2)


def full_like(x: Any, fill_value: float, dtype: str | None = None) -> Any:
    """``fill_value`` with the shape (and dtype, unless given) of ``x``."""
    return _d("full_like", x, fill_value, dtype)


def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    """Move axes ``source`` to positions ``destination`` (numpy's ``moveaxis``)."""
    return _d("moveaxis", x, source, destination)


def tril(x: Any, k: int = 0) -> Any:
    """Zero above diagonal ``k`` of the last two axes."""
    return _d("tril", x, k)


def triu(x: Any, k: int = 0) -> Any:
    """Zero below diagonal ``k`` of the last two axes."""
    return _d("triu", x, k)


def cumprod(x: Any, axis: int | None = None) -> Any:
    """Cumulative product along ``axis`` (of the flattened tensor when None)."""
    return _d("cumprod", x, axis)


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list[Any]:
    """The slices of ``x`` along ``axis``, as a list (``num``, when given, must be that
    axis' size)."""
    return _d("unstack", x, num, axis)  # type: ignore[no-any-return]


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: str | None = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced values from ``start`` to ``stop`` (included when ``endpoint``),
    numpy's formula ``start + i · step`` with the last value exactly ``stop``; ``retstep``
    also returns ``step``. ``start``/``stop`` may be arrays (the samples then run along
    ``axis``). Dtype default: floatx (Keras's)."""
    from ._numpy import check_linspace

    check_linspace(num)
    return _d("linspace", start, stop, int(num), bool(endpoint), bool(retstep), dtype, axis)


def slice(inputs: Any, start_indices: Any, shape: Any) -> Any:  # noqa: A001
    """The block of ``inputs`` of size ``shape`` starting at ``start_indices`` (one entry per
    axis): ``inputs[s0:s0 + n0, s1:s1 + n1, ...]`` (Keras's ``ops.slice``); a size of -1
    takes the rest of its axis. ``start_indices`` may hold scalar tensors."""
    from ._numpy import check_slice

    check_slice(_rank(inputs), start_indices, shape)
    return _d("slice", inputs, start_indices, shape)


def stop_gradient(variable: Any) -> Any:
    """The same value, with no gradient flowing back through it (torch ``detach``,
    ``tf.stop_gradient``)."""
    return _d("stop_gradient", variable)


def cond(pred: Any, true_fn: Any, false_fn: Any) -> Any:
    """``true_fn()`` if ``pred`` else ``false_fn()`` (Keras's ``ops.cond``): a Python bool
    or an eager scalar tensor picks one branch; inside a traced TensorFlow step a tensor
    ``pred`` becomes ``tf.cond`` (both branches must give the same structure)."""
    import numpy as np

    if isinstance(pred, (bool, np.bool_)):
        return true_fn() if pred else false_fn()
    if isinstance(pred, _sym_type()):
        from ..errors import ConfigError

        raise ConfigError(
            "ops.cond cannot be recorded in a functional graph: its branches are Python "
            "functions. Expected: a Python bool, or a tensor pred inside a custom layer's "
            "call(). Received: a symbolic tensor pred. Fix: put the cond in the call() of a "
            "custom layer, or use ops.where to pick values elementwise."
        )
    impl = _dispatch._impl.get() or _current()
    return impl.cond(pred, true_fn, false_fn)


def norm(x: Any, ord: Any = None, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector or matrix norm (numpy's ``linalg.norm``, Keras's ``ops.norm``). One axis:
    ``ord`` None/2 (Euclidean), inf, −inf, 0 (count of non-zeros) or any p
    (``(Σ|x|^p)^(1/p)``); two axes: None/"fro", "nuc", 1, −1, 2, −2, inf, −inf.
    ``axis=None``: every axis (vector norm of a 1-D input, matrix norm of a 2-D one; with
    ``ord=None`` the Euclidean norm of the flattened input of any rank). Integer inputs are
    cast to floatx."""
    from ._numpy import norm_axes

    norm_axes(_rank(x), ord, axis)  # raises early with Keras's message on bad arguments
    return _d("norm", x, ord, axis, keepdims)


def _rank(x: Any) -> int | None:
    if isinstance(x, _sym_type()):
        return len(x.shape)
    shp = getattr(x, "shape", None)
    return len(shp) if shp is not None else None


def extract_patches(
    images: Any,
    size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    dilation_rate: int | Sequence[int] = 1,
    padding: str = "valid",
    data_format: str | None = None,
) -> Any:
    """``dl.ops.image.extract_patches`` (Keras's ``ops.image.extract_patches``): each
    ``size`` patch of channels-last ``images`` ((batch,) H, W, C; or volumes with a 3-tuple
    ``size``) flattened into the channels axis in (row, column, channel) order, taken every
    ``strides`` (default ``size``) with ``dilation_rate`` and ``padding`` as ``conv``."""
    from ._numpy import patch_args

    size_t, strides_t, dil_t = patch_args(size, strides, dilation_rate, padding, data_format)
    return _d("extract_patches", images, size_t, strides_t, dil_t, padding)


# ---- Fourier transforms (Keras's (real, imag) tuple convention) --------------------------------
def _complex_parts(what: str, x: Any) -> None:
    """Keras's check of a complex input: a (real, imag) pair of float tensors, same shape."""
    from ..errors import ConfigError, ShapeError

    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ConfigError(
            f"ops.{what} takes a tuple of two tensors (real, imaginary). Received: "
            f"{type(x).__name__}. Fix: pass (real, imag), e.g. (x, dl.ops.zeros_like(x))."
        )
    shapes = [tuple(getattr(p, "shape", ())) for p in x]
    if shapes[0] != shapes[1]:
        raise ShapeError(
            f"ops.{what}: the real and imaginary parts must have the same shape. Received: "
            f"x[0].shape={shapes[0]}, x[1].shape={shapes[1]}. Fix: broadcast them first."
        )


def fft(x: tuple[Any, Any]) -> tuple[Any, Any]:
    """Discrete Fourier transform over the last axis of the complex ``x = (real, imag)``:
    ``X[k] = Σ_n x[n]·exp(−2πi·kn/N)``; returns ``(real, imag)`` (Keras's ``ops.fft``)."""
    _complex_parts("fft", x)
    return _d("fft", x)  # type: ignore[no-any-return]


def fft2(x: tuple[Any, Any]) -> tuple[Any, Any]:
    """2D discrete Fourier transform over the last two axes of ``x = (real, imag)``;
    returns ``(real, imag)`` (Keras's ``ops.fft2``)."""
    _complex_parts("fft2", x)
    return _d("fft2", x)  # type: ignore[no-any-return]


def ifft2(x: tuple[Any, Any]) -> tuple[Any, Any]:
    """Inverse of :func:`fft2`: ``x[m,n] = Σ_{k,l} X[k,l]·exp(2πi(km/H + ln/W)) / (H·W)``;
    returns ``(real, imag)`` (Keras's ``ops.ifft2``)."""
    _complex_parts("ifft2", x)
    return _d("ifft2", x)  # type: ignore[no-any-return]


def rfft(x: Any, fft_length: int | None = None) -> tuple[Any, Any]:
    """Fourier transform of the real ``x`` over its last axis (zero-padded or cropped to
    ``fft_length``, default its length ``N``): the ``N//2 + 1`` non-negative frequencies, as
    ``(real, imag)`` (Keras's ``ops.rfft``)."""
    return _d("rfft", x, fft_length)  # type: ignore[no-any-return]


def irfft(x: tuple[Any, Any], fft_length: int | None = None) -> Any:
    """Inverse of :func:`rfft`: the real signal of length ``fft_length`` (default
    ``2·(n − 1)`` for ``n`` frequencies) whose non-negative frequencies are ``x = (real,
    imag)``; the imaginary parts of the zero (and Nyquist) frequencies are ignored
    (Keras's ``ops.irfft``)."""
    _complex_parts("irfft", x)
    return _d("irfft", x, fft_length)


NAMES: tuple[str, ...] = ()  # filled below: every public op name


def _names() -> tuple[str, ...]:
    import inspect

    skip = {"numpy_mode", "native_call"}
    return tuple(
        n
        for n, f in globals().items()
        if inspect.isfunction(f) and not n.startswith("_") and n not in skip
    )


NAMES = _names()

from . import image as image  # noqa: E402  (dl.ops.image, Keras's ops.image)
from . import nn as nn  # noqa: E402  (dl.ops.nn, Keras's ops.nn)
from . import numpy as numpy  # noqa: E402  (dl.ops.numpy, Keras's ops.numpy)
