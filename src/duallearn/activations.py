"""Activation functions: Keras 3 names, arguments and formulas, with a numpy reference and
derivative for each.

Every name is two things at once, as Keras's ``activations`` module is:

* a function: ``dl.activations.relu(x, negative_slope=0.0, max_value=None, threshold=0.0)``
  computes on numpy arrays, native tensors (the active backend's, or the model's inside a
  custom layer's ``call``) and symbolic tensors, dispatching each step through ``dl.ops``;
* a name: ``dl.activations.relu == "relu"`` (an :class:`ActivationFunction` is a ``str``), so
  ``Dense(8, activation=dl.activations.relu)``, ``activation="relu"`` and
  ``activations.get("relu")`` mean the same, and a layer's config holds the plain name.

Defaults follow ``keras.activations``: ``leaky_relu`` slope 0.2 (``LeakyReLU`` layer: 0.3),
``elu`` alpha 1, ``gelu`` exact (erf; ``dl.ops.gelu`` defaults to the tanh form as
``keras.ops.gelu``), ``softmax`` / ``log_softmax`` over the last axis. Layers
(``activation=``) use each function with its defaults. Every backend runs each name natively
(``duallearn_*/_activations.py``): a hand-written kernel, or the formula of :data:`NATIVE`
written once against the ``dl.ops`` names of the backend's ops.

Example:
    >>> import numpy as np
    >>> import duallearn as dl
    >>> with dl.ops.numpy_mode():
    ...     dl.activations.relu(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]), max_value=5.0).tolist()
    [0.0, 0.0, 0.0, 5.0, 5.0]
    >>> dl.activations.get("swish") == "silu"
    True
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import ops as _ops
from .errors import ConfigError, unknown_name

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_RELU_SLOPE = 0.2

_erf = np.vectorize(math.erf, otypes=[np.float64])


# ---- numpy references (the test oracle) -------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(
        x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x)))
    )


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def _d_hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 3.0, 1.0 / 6.0, 0.0)


def _mish_grad(x: np.ndarray) -> np.ndarray:
    t = np.tanh(_softplus(x))
    return t + x * (1.0 - t * t) * _sigmoid(x)


# name -> (forward, derivative given (x, y, dy) -> dx, formula)
_TABLE: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[..., np.ndarray], str]] = {
    "linear": (lambda x: x, lambda x, y, dy: dy, "f(x) = x"),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x, y, dy: dy * (x > 0), "f(x) = max(x, 0)"),
    "relu6": (
        lambda x: np.clip(x, 0.0, 6.0),
        lambda x, y, dy: dy * ((x > 0) & (x < 6)),
        "f(x) = min(max(x, 0), 6)",
    ),
    "sigmoid": (_sigmoid, lambda x, y, dy: dy * y * (1 - y), "f(x) = 1 / (1 + exp(-x))"),
    "tanh": (np.tanh, lambda x, y, dy: dy * (1 - y * y), "f(x) = tanh(x)"),
    "softmax": (
        _softmax,
        lambda x, y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True)),
        "f(x)_i = exp(x_i) / sum_j exp(x_j) over the last axis",
    ),
    "log_softmax": (
        lambda x: (
            x
            - np.log(np.sum(np.exp(x - x.max(-1, keepdims=True)), -1, keepdims=True))
            - x.max(-1, keepdims=True)
        ),
        lambda x, y, dy: dy - np.exp(y) * dy.sum(axis=-1, keepdims=True),
        "f(x)_i = x_i - log sum_j exp(x_j) over the last axis",
    ),
    "gelu": (
        _gelu,
        lambda x, y, dy: (
            dy
            * (
                0.5 * (1 + _erf(x / math.sqrt(2.0)))
                + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            )
        ),
        "f(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))  (exact, not the tanh approximation)",
    ),
    "elu": (
        _elu,
        lambda x, y, dy: dy * np.where(x > 0, 1.0, y + 1.0),
        "f(x) = x if x > 0 else exp(x) - 1",
    ),
    "celu": (
        lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
        lambda x, y, dy: dy * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
        "f(x) = max(x, 0) + alpha (exp(min(x, 0) / alpha) - 1), alpha = 1",
    ),
    "selu": (
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        lambda x, y, dy: (
            dy * SELU_SCALE * np.where(x >= 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
        ),
        "f(x) = scale * (x if x > 0 else alpha (exp(x) - 1)), alpha=1.67326, scale=1.05070",
    ),
    "softplus": (_softplus, lambda x, y, dy: dy * _sigmoid(x), "f(x) = log(1 + exp(x))"),
    "softsign": (
        lambda x: x / (1.0 + np.abs(x)),
        lambda x, y, dy: dy / (1.0 + np.abs(x)) ** 2,
        "f(x) = x / (1 + |x|)",
    ),
    "silu": (
        lambda x: x * _sigmoid(x),
        lambda x, y, dy: dy * (_sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
        "f(x) = x * sigmoid(x)",
    ),
    "hard_sigmoid": (
        _hard_sigmoid,
        lambda x, y, dy: dy * _d_hard_sigmoid(x),
        "f(x) = relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)",
    ),
    "hard_silu": (
        lambda x: x * _hard_sigmoid(x),
        lambda x, y, dy: dy * (_hard_sigmoid(x) + x * _d_hard_sigmoid(x)),
        "f(x) = x * relu6(x + 3) / 6",
    ),
    "leaky_relu": (
        lambda x: np.where(x > 0, x, LEAKY_RELU_SLOPE * x),
        lambda x, y, dy: dy * np.where(x > 0, 1.0, LEAKY_RELU_SLOPE),
        "f(x) = x if x > 0 else 0.2 x",
    ),
    "exponential": (np.exp, lambda x, y, dy: dy * y, "f(x) = exp(x)"),
    "mish": (
        lambda x: x * np.tanh(_softplus(x)),
        lambda x, y, dy: dy * _mish_grad(x),
        "f(x) = x * tanh(softplus(x))",
    ),
    "log_sigmoid": (
        lambda x: -_softplus(-x),
        lambda x, y, dy: dy * _sigmoid(-x),
        "f(x) = log(sigmoid(x)) = -softplus(-x)",
    ),
    "hard_tanh": (
        lambda x: np.clip(x, -1.0, 1.0),
        lambda x, y, dy: dy * (np.abs(x) < 1),
        "f(x) = clip(x, -1, 1)",
    ),
    "tanh_shrink": (
        lambda x: x - np.tanh(x),
        lambda x, y, dy: dy * np.tanh(x) ** 2,
        "f(x) = x - tanh(x)",
    ),
    "soft_shrink": (
        lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
        lambda x, y, dy: dy * (np.abs(x) > 0.5),
        "f(x) = x - 0.5 if x > 0.5, x + 0.5 if x < -0.5, else 0",
    ),
    "hard_shrink": (
        lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
        lambda x, y, dy: dy * (np.abs(x) > 0.5),
        "f(x) = x if |x| > 0.5 else 0",
    ),
    "sparse_plus": (
        lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, 0.25 * (x + 1) ** 2)),
        lambda x, y, dy: dy * np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, 0.5 * (x + 1))),
        "f(x) = 0 if x <= -1, x if x >= 1, else (x + 1)^2 / 4",
    ),
    "sparse_sigmoid": (
        lambda x: np.clip(0.5 * (x + 1), 0.0, 1.0),
        lambda x, y, dy: dy * np.where(np.abs(x) < 1, 0.5, 0.0),
        "f(x) = clip((x + 1) / 2, 0, 1)",
    ),
    "squareplus": (
        lambda x: 0.5 * (x + np.sqrt(x * x + 4.0)),
        lambda x, y, dy: dy * 0.5 * (1.0 + x / np.sqrt(x * x + 4.0)),
        "f(x) = (x + sqrt(x^2 + b)) / 2, b = 4",
    ),
}
ALIASES = {"swish": "silu", "hard_swish": "hard_silu", None: "linear"}


# ---- formulas written once against dl.ops names ------------------------------------------------
# ``o`` is an ops namespace: ``dl.ops`` itself (dispatching), a backend's ops module (native
# tensors, what the backends run for names without a hand-written kernel) or the numpy ops.
def relu_formula(
    o: Any, x: Any, negative_slope: float = 0.0, max_value: float | None = None,
    threshold: float = 0.0,
) -> Any:  # fmt: skip
    """Keras 3's ``ReLU`` (``keras.activations.relu``), step by step as Keras computes it:
    ``y = clip(x if x > threshold else 0, 0, max_value) − negative_slope · relu(threshold − x)``
    (``leaky_relu`` when only a slope is given, ``relu6`` for ``max_value=6``)."""
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return o.leaky_relu(x, negative_slope)
    negative_part = None
    if negative_slope != 0.0:
        negative_part = o.relu(o.subtract(threshold, x) if threshold != 0 else o.negative(x))
    clip_max = max_value is not None
    if threshold != 0:
        y = o.where(o.greater(x, threshold), x, o.zeros_like(x))
    elif max_value == 6:
        y, clip_max = o.relu6(x), False
    else:
        y = o.relu(x)
    if clip_max:
        y = o.clip(y, 0.0, float(max_value))  # type: ignore[arg-type]
    if negative_part is not None:
        y = o.subtract(y, o.multiply(negative_part, float(negative_slope)))
    return y


def _celu(o: Any, x: Any, alpha: float = 1.0) -> Any:
    return o.celu(x, alpha)


def _soft_shrink(o: Any, x: Any, threshold: float = 0.5) -> Any:
    zero = o.zeros_like(x)
    inner = o.where(o.less(x, -threshold), o.add(x, threshold), zero)
    return o.where(o.greater(x, threshold), o.subtract(x, threshold), inner)


def _hard_shrink(o: Any, x: Any, threshold: float = 0.5) -> Any:
    return o.where(o.greater(o.abs(x), threshold), x, o.zeros_like(x))


def _sparse_plus(o: Any, x: Any) -> Any:
    # (x + 1)^2 / 4 on [-1, 1], written on the clipped input so both outer branches stay finite
    c = o.clip(x, -1.0, 1.0)
    mid = o.multiply(o.square(o.add(c, 1.0)), 0.25)
    return o.where(o.greater_equal(x, 1.0), x, o.where(o.less_equal(x, -1.0), o.zeros_like(x), mid))


def _squareplus(o: Any, x: Any, b: float = 4.0) -> Any:
    return o.multiply(o.add(x, o.sqrt(o.add(o.square(x), float(b)))), 0.5)


NATIVE: dict[str, Callable[..., Any]] = {
    "linear": lambda o, x: x,
    "relu": relu_formula,
    "relu6": lambda o, x: o.relu6(x),
    "sigmoid": lambda o, x: o.sigmoid(x),
    "tanh": lambda o, x: o.tanh(x),
    "softmax": lambda o, x, axis=-1: o.softmax(x, axis),
    "log_softmax": lambda o, x, axis=-1: o.log_softmax(x, axis),
    "gelu": lambda o, x, approximate=False: o.gelu(x, approximate),
    "elu": lambda o, x, alpha=1.0: o.elu(x, alpha),
    "celu": _celu,
    "selu": lambda o, x: o.selu(x),
    "softplus": lambda o, x: o.softplus(x),
    "softsign": lambda o, x: o.softsign(x),
    "silu": lambda o, x: o.silu(x),
    "hard_sigmoid": lambda o, x: o.hard_sigmoid(x),
    "hard_silu": lambda o, x: o.hard_silu(x),
    "leaky_relu": lambda o, x, negative_slope=LEAKY_RELU_SLOPE: o.leaky_relu(x, negative_slope),
    "exponential": lambda o, x: o.exp(x),
    "mish": lambda o, x: o.multiply(x, o.tanh(o.softplus(x))),
    "log_sigmoid": lambda o, x: o.log_sigmoid(x),
    "hard_tanh": lambda o, x: o.clip(x, -1.0, 1.0),
    "tanh_shrink": lambda o, x: o.subtract(x, o.tanh(x)),
    "soft_shrink": _soft_shrink,
    "hard_shrink": _hard_shrink,
    "sparse_plus": _sparse_plus,
    "sparse_sigmoid": lambda o, x: o.clip(o.multiply(o.add(x, 1.0), 0.5), 0.0, 1.0),
    "squareplus": _squareplus,
}


def native(name: str) -> Callable[..., Any]:
    """The formula of activation ``name`` as ``f(ops, x)`` over an ops namespace (a backend
    uses it, with its own ops module, for names it has no hand-written kernel for)."""
    return NATIVE[canonical_name(name)]


# ---- the public functions ---------------------------------------------------------------------
class ActivationFunction(str):
    """A Keras activation function that is also its name: calling it computes through
    ``dl.ops``; as a string it is the canonical name layers store in their config."""

    _fn: Callable[..., Any]

    def __new__(cls, name: str, fn: Callable[..., Any]) -> ActivationFunction:
        self = super().__new__(cls, name)
        self._fn = fn
        self.__doc__ = fn.__doc__
        self.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
        return self

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return self._fn(x, *args, **kwargs)

    @property
    def __name__(self) -> str:  # a function's name, as Keras's functions have
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (get, (str(self),))

    def __copy__(self) -> ActivationFunction:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ActivationFunction:
        return self


_FUNCTIONS: dict[str, ActivationFunction] = {}


def _public(fn: Callable[..., Any]) -> ActivationFunction:
    f = ActivationFunction(fn.__name__, fn)
    _FUNCTIONS[fn.__name__] = f
    return f


@_public
def relu(
    x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> Any:
    """Rectified linear unit, Keras 3's: ``max(x, 0)`` by default; values below
    ``threshold`` are damped to ``negative_slope · (x − threshold)``, values above
    ``max_value`` clipped to it."""
    return relu_formula(_ops, x, negative_slope, max_value, threshold)


@_public
def leaky_relu(x: Any, negative_slope: float = LEAKY_RELU_SLOPE) -> Any:
    """``x`` if ``x > 0`` else ``negative_slope · x`` (slope 0.2; torch's default is 0.01,
    the ``LeakyReLU`` layer's 0.3)."""
    return _ops.leaky_relu(x, negative_slope)


@_public
def relu6(x: Any) -> Any:
    """``min(max(x, 0), 6)``."""
    return _ops.relu6(x)


@_public
def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x) / Σ exp(x)`` along ``axis`` (max subtracted first)."""
    return _ops.softmax(x, axis)


@_public
def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x − logsumexp(x)`` along ``axis``."""
    return _ops.log_softmax(x, axis)


@_public
def elu(x: Any, alpha: float = 1.0) -> Any:
    """``x`` if ``x > 0`` else ``alpha · (exp(x) − 1)``."""
    return _ops.elu(x, alpha)


@_public
def celu(x: Any, alpha: float = 1.0) -> Any:
    """``max(x, 0) + alpha · (exp(min(x, 0) / alpha) − 1)``."""
    return _ops.celu(x, alpha)


@_public
def selu(x: Any) -> Any:
    """``scale · elu(x, alpha)`` with Keras's constants alpha ≈ 1.67326, scale ≈ 1.05070."""
    return _ops.selu(x)


@_public
def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``."""
    return _ops.softplus(x)


@_public
def softsign(x: Any) -> Any:
    """``x / (1 + |x|)``."""
    return _ops.softsign(x)


@_public
def silu(x: Any) -> Any:
    """``x · sigmoid(x)`` (also ``swish``)."""
    return _ops.silu(x)


@_public
def gelu(x: Any, approximate: bool = False) -> Any:
    """Gaussian error linear unit: ``0.5x(1 + erf(x/√2))``; ``approximate=True`` uses the tanh
    form ``0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))``. Exact by default (Keras's activation;
    ``dl.ops.gelu`` defaults to the approximation, as ``keras.ops.gelu``)."""
    return _ops.gelu(x, approximate)


@_public
def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return _ops.tanh(x)


@_public
def sigmoid(x: Any) -> Any:
    """``1 / (1 + exp(−x))``."""
    return _ops.sigmoid(x)


@_public
def hard_sigmoid(x: Any) -> Any:
    """``relu6(x + 3) / 6``: 0 below −3, 1 above 3, ``x/6 + 0.5`` between (Keras 3's; Keras ≤ 2.3
    used ``0.2x + 0.5``)."""
    return _ops.hard_sigmoid(x)


@_public
def hard_silu(x: Any) -> Any:
    """``x · hard_sigmoid(x)`` (also ``hard_swish``; torch's ``hardswish``)."""
    return _ops.hard_silu(x)


@_public
def exponential(x: Any) -> Any:
    """``exp(x)``."""
    return _ops.exp(x)


@_public
def linear(x: Any) -> Any:
    """The identity: returns ``x`` unchanged."""
    return x


@_public
def mish(x: Any) -> Any:
    """``x · tanh(softplus(x))``."""
    return NATIVE["mish"](_ops, x)


@_public
def log_sigmoid(x: Any) -> Any:
    """``log(sigmoid(x)) = −softplus(−x)``."""
    return _ops.log_sigmoid(x)


@_public
def hard_tanh(x: Any) -> Any:
    """``clip(x, −1, 1)``."""
    return NATIVE["hard_tanh"](_ops, x)


@_public
def tanh_shrink(x: Any) -> Any:
    """``x − tanh(x)``."""
    return NATIVE["tanh_shrink"](_ops, x)


@_public
def soft_shrink(x: Any, threshold: float = 0.5) -> Any:
    """``x − threshold`` above ``threshold``, ``x + threshold`` below ``−threshold``, else 0."""
    return _soft_shrink(_ops, x, threshold)


@_public
def hard_shrink(x: Any, threshold: float = 0.5) -> Any:
    """``x`` where ``|x| > threshold``, else 0."""
    return _hard_shrink(_ops, x, threshold)


@_public
def sparse_plus(x: Any) -> Any:
    """0 for ``x ≤ −1``, ``x`` for ``x ≥ 1``, ``(x + 1)² / 4`` between."""
    return _sparse_plus(_ops, x)


@_public
def sparse_sigmoid(x: Any) -> Any:
    """``clip((x + 1) / 2, 0, 1)``."""
    return NATIVE["sparse_sigmoid"](_ops, x)


@_public
def squareplus(x: Any, b: float = 4.0) -> Any:
    """``(x + √(x² + b)) / 2``."""
    return _squareplus(_ops, x, b)


swish = silu  # Keras's alias: the same function (its name is "silu")
hard_swish = hard_silu


# ---- names, lookup and serialization ----------------------------------------------------------
def canonical_name(activation: object) -> str:
    """Resolve a name, alias, activation function or None to the canonical name (or raise)."""
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        raise ConfigError(
            f"An activation must be given by name or as a dl.activations function. "
            f"Received: {activation!r}. Fix: use one of {', '.join(sorted(_TABLE))} (or "
            "dl.activations.<name>); for a custom activation write a Layer with dl.ops."
        )
    name = ALIASES.get(str(activation), str(activation))
    if name not in _TABLE:
        raise unknown_name("activation", activation, [*_TABLE, "swish", "hard_swish"])
    return name


def names() -> list[str]:
    """Every canonical activation name."""
    return sorted(_TABLE)


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """Numpy reference of activation ``name`` (computed in x's dtype)."""
    return _TABLE[canonical_name(name)][0](x)


def reference_grad(name: str, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Numpy vector-Jacobian product: dL/dx given x, y = f(x) and dL/dy."""
    return _TABLE[canonical_name(name)][1](x, y, dy)


def formula(name: str) -> str:
    return _TABLE[canonical_name(name)][2]


def get(identifier: object) -> ActivationFunction:
    """Keras's ``activations.get``: the activation function for a name (aliases included),
    a function of this module, a ``serialize`` dict, or ``None`` (``linear``). The result is
    callable and is also the canonical name (a ``str``), which is what layers store."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    return _FUNCTIONS[canonical_name(identifier)]


def serialize(activation: object) -> str:
    """Keras's ``activations.serialize``: the name of a built-in activation function."""
    return str(get(activation))


def deserialize(config: object, custom_objects: dict[str, Any] | None = None) -> Any:
    """Keras's ``activations.deserialize``: a name (or Keras's function dict
    ``{"class_name": "function", "config": "relu", ...}``) back to the function;
    ``custom_objects`` may supply other callables by name (for direct calls: layers take
    the built-in names only)."""
    name = config
    if isinstance(config, dict):
        name = config.get("config", config.get("registered_name"))
    if custom_objects and isinstance(name, str) and name in custom_objects:
        return custom_objects[name]
    if not isinstance(name, str):
        raise ConfigError(
            f"activations.deserialize expects a name or a dict with a 'config' name. "
            f"Received: {config!r}. Fix: e.g. deserialize('relu')."
        )
    return get(name)


__all__ = [
    "celu",
    "deserialize",
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
]
