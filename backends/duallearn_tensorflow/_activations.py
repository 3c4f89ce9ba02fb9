"""Activations on TensorFlow, by canonical name, with dtype-correct constants (no
``tf.nn.gelu``, whose constant goes through float32)."""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from duallearn.activations import LEAKY_RELU_SLOPE


def _gelu(x: tf.Tensor) -> tf.Tensor:
    half = tf.constant(0.5, dtype=x.dtype)
    return (
        half
        * x
        * (
            tf.constant(1.0, dtype=x.dtype)
            + tf.math.erf(x * tf.constant(1.0 / math.sqrt(2.0), dtype=x.dtype))
        )
    )


ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "linear": lambda x: x,
    "relu": tf.nn.relu,
    "sigmoid": tf.sigmoid,
    "tanh": tf.tanh,
    "softmax": lambda x: tf.nn.softmax(x, axis=-1),
    "gelu": _gelu,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "softplus": tf.math.softplus,
    "silu": lambda x: x * tf.sigmoid(x),
    # tf.nn.leaky_relu stores alpha as a float32 attribute: 1e-8 off in float64.
    "leaky_relu": lambda x: tf.where(x > 0, x, x * tf.constant(LEAKY_RELU_SLOPE, dtype=x.dtype)),
}


def get(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    return ACTIVATIONS[name]
