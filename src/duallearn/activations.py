"""Activation functions: Keras 3 names and formulas, with a numpy reference and derivative.

Every backend implements each name natively (``duallearn_*/_activations.py``). Defaults follow
``keras.activations``: ``leaky_relu`` slope 0.2, ``elu`` alpha 1, ``gelu`` exact (erf),
``softmax`` over the last axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .errors import ConfigError, unknown_name

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_RELU_SLOPE = 0.2

_erf = np.vectorize(math.erf, otypes=[np.float64])


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


# name -> (forward, derivative given (x, y, dy) -> dx), formula
_TABLE: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[..., np.ndarray], str]] = {
    "linear": (lambda x: x, lambda x, y, dy: dy, "f(x) = x"),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x, y, dy: dy * (x > 0), "f(x) = max(x, 0)"),
    "sigmoid": (_sigmoid, lambda x, y, dy: dy * y * (1 - y), "f(x) = 1 / (1 + exp(-x))"),
    "tanh": (np.tanh, lambda x, y, dy: dy * (1 - y * y), "f(x) = tanh(x)"),
    "softmax": (
        _softmax,
        lambda x, y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True)),
        "f(x)_i = exp(x_i) / sum_j exp(x_j) over the last axis",
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
    "selu": (
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        lambda x, y, dy: (
            dy * SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
        ),
        "f(x) = scale * (x if x > 0 else alpha (exp(x) - 1)), alpha=1.67326, scale=1.05070",
    ),
    "softplus": (_softplus, lambda x, y, dy: dy * _sigmoid(x), "f(x) = log(1 + exp(x))"),
    "silu": (
        lambda x: x * _sigmoid(x),
        lambda x, y, dy: dy * (_sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
        "f(x) = x * sigmoid(x)",
    ),
    "leaky_relu": (
        lambda x: np.where(x > 0, x, LEAKY_RELU_SLOPE * x),
        lambda x, y, dy: dy * np.where(x > 0, 1.0, LEAKY_RELU_SLOPE),
        "f(x) = x if x > 0 else 0.2 x",
    ),
}
ALIASES = {"swish": "silu", None: "linear"}


def canonical_name(activation: object) -> str:
    """Resolve a name, alias or None to the canonical activation name (or raise)."""
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        raise ConfigError(
            f"An activation must be given by name. Received: {activation!r}. "
            f"Fix: use one of {', '.join(sorted(_TABLE))}, or a Layer for custom activations."
        )
    name = ALIASES.get(activation, activation)
    if name not in _TABLE:
        raise unknown_name("activation", activation, list(_TABLE) + ["swish"])
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


def get(identifier: object) -> str:
    """Keras-style ``activations.get``: returns the canonical name."""
    return canonical_name(identifier)
