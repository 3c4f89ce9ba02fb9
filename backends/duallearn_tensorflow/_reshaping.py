"""Flatten on TensorFlow."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ._layers import TFLayer, implements


@implements("Flatten")
class TFFlatten(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None) -> tf.Tensor:
        return tf.reshape(x, [tf.shape(x)[0], -1])
