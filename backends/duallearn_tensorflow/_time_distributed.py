"""``TimeDistributed`` on TensorFlow: one ``tf.reshape`` around the inner layer, with the
batch size read at run time (``tf.shape``) so a traced step keeps it unknown."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from duallearn.plugin import TimeDistributedMixin

from ._layers import TFLayer, implements, native_layer


def _dims(t: tf.Tensor, start: int) -> list[Any]:
    """``t``'s dimensions from ``start``: static ones as ints, the others as scalars."""
    dynamic = tf.shape(t)
    return [d if d is not None else dynamic[i] for i, d in enumerate(t.shape) if i >= start]


@implements("TimeDistributed")
class TFTimeDistributed(TimeDistributedMixin, TFLayer):
    """``tf.reshape`` to (batch·time, ...), the wrapped layer's module, and back."""

    def __init__(self, layer: Any) -> None:
        tf.Module.__init__(self, name=None)
        self._init_wrapper(layer, native_layer)

    def merge_time(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, [-1, *_dims(x, 2)])

    def split_time(self, y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(y, [*_dims(x, 0)[:2], *_dims(y, 1)])
