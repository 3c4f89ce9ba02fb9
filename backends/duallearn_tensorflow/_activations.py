"""Activations on TensorFlow, by canonical name, with dtype-correct constants (no
``tf.nn.gelu``, whose constant goes through float32), and the activation layers (``ReLU``,
``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax``) as their formula over this backend's ops."""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from duallearn.activations import LEAKY_RELU_SLOPE
from duallearn.plugin import FormulaLayer, activation_getter

from . import _ops
from ._layers import TFLayer, implements


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
    "relu6": tf.nn.relu6,
    "softsign": tf.nn.softsign,
    "log_sigmoid": tf.math.log_sigmoid,
    "log_softmax": lambda x: tf.nn.log_softmax(x, axis=-1),
}


@implements("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
class TFActivationLayer(FormulaLayer, TFLayer):
    """Each activation layer's ``apply`` (duallearn/layers/_activations.py) run with
    TensorFlow's ops (``tf.nn.relu``, ``tf.nn.elu``, ``tf.nn.softmax``...), constants in
    the input's dtype."""

    ops = _ops


# names without a kernel above: duallearn.activations.NATIVE's formula over _ops
get = activation_getter(ACTIVATIONS, _ops)
