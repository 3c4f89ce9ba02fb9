"""Native randomness on TensorFlow (fast mode): stateless ops keyed by one seed variable per
runtime.

The runtime assigns the front-end's ``StepNoise.seed`` (``step_seed(noise stream, step)``) to
``TFRng.seed`` before each training step; a layer's draw ``tag`` uses the key
``fold_in(fold_in(seed, layer id), tag)`` (``tf.random.experimental.stateless_fold_in``), so
the masks of a step depend only on (stream, step, layer, tag), inside or outside a traced
function, and a run resumed from a checkpoint draws the same masks as the uninterrupted run.
Each runtime owns its seed variable, so models trained at once in several threads never share
native random state, and ``tf.random.set_seed`` changes nothing in ``fit``
(tests/conformance/test_threads.py). Only a native layer used outside any runtime (``rng``
None) uses TensorFlow's stateful ops.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


class TFRng:
    """The seed variable ``[seed, call]`` (int64) of one runtime."""

    def __init__(self, seed: int = 0) -> None:
        # TensorFlow's global generator is left alone: every step and every call from the
        # front-end reseeds this one
        with tf.init_scope():
            self.seed = tf.Variable([seed, 0], dtype=tf.int64, trainable=False, name="rng_seed")
        self._base, self._calls = seed, 0

    def reseed(self, seed: Any) -> None:
        """Key the next draws by a training step's seed (an int, or a traced int64 scalar
        inside a compiled custom step, which leaves the eager key base as it was)."""
        if not tf.is_tensor(seed):
            self._base, self._calls = seed, 0
        self.seed.assign(tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)]))

    def advance(self) -> None:
        """Fresh keys for a training-mode call that has no step seed (outside ``fit``)."""
        self._calls += 1
        self.seed.assign([self._base, self._calls])

    def key(self, layer_id: int, tag: int) -> tf.Tensor:
        return tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(self.seed, layer_id), tag
        )


def _key(layer: Any, tag: int) -> tf.Tensor | None:
    rng: TFRng | None = layer.rng
    return None if rng is None else rng.key(layer.rng_id, tag)


def dropout(layer: Any, x: tf.Tensor, rate: float, noise_shape: Any = None, tag: int = 0) -> Any:
    """Inverted dropout ``x · m / (1 - rate)``, ``m ~ Bernoulli(1 - rate)`` of ``noise_shape``
    (default: ``x``'s shape) broadcast over ``x``."""
    key = _key(layer, tag)
    if key is None:
        return tf.nn.dropout(x, rate=rate, noise_shape=noise_shape)
    return tf.nn.experimental.stateless_dropout(x, rate, seed=key, noise_shape=noise_shape)


def uniform(layer: Any, shape: Any, dtype: tf.DType, tag: int = 0) -> tf.Tensor:
    """U[0, 1) samples."""
    key = _key(layer, tag)
    if key is None:
        return tf.random.uniform(shape, dtype=dtype)
    return tf.random.stateless_uniform(shape, seed=key, dtype=dtype)


def normal(layer: Any, shape: Any, dtype: tf.DType, stddev: float, tag: int = 0) -> tf.Tensor:
    """N(0, stddev²) samples."""
    key = _key(layer, tag)
    std = tf.constant(stddev, dtype)
    if key is None:
        return tf.random.normal(shape, stddev=std, dtype=dtype)
    return tf.random.stateless_normal(shape, seed=key, stddev=std, dtype=dtype)
