"""Dropout on TensorFlow: the front-end's mask in deterministic mode, TF's RNG otherwise."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ._layers import TFLayer, implements


@implements("Dropout")
class TFDropout(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None) -> tf.Tensor:
        if not training or self.spec.rate == 0:
            return x
        if noise is not None:
            return x * noise
        return tf.nn.dropout(x, rate=self.spec.rate)
