"""Dense and Activation on TensorFlow."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from . import _activations
from ._layers import TFLayer, implements


@implements("Dense")
class TFDense(TFLayer):
    """``act(x @ kernel + bias)``; kernel in canonical (in, out) layout."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)
        self.use_bias = layer.use_bias

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None) -> tf.Tensor:
        if x.shape.rank == 2:
            z = tf.matmul(x, self.kernel)
        else:
            z = tf.tensordot(x, self.kernel, axes=[[x.shape.rank - 1], [0]])
        if self.use_bias:
            z = tf.nn.bias_add(z, self.bias)
        return self.act(z)


@implements("Activation")
class TFActivation(TFLayer):
    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.act = _activations.get(layer.activation)

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None) -> tf.Tensor:
        return self.act(x)
