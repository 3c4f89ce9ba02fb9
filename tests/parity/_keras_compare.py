"""Helpers for checking a duallearn layer against real Keras 3 (TensorFlow backend): the
forward output and the gradients of ``sum(y · cot)`` with respect to the input and to each
trainable weight."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from duallearn.testing import assert_close, build_single


def keras_forward_grads(
    layer: Any, x: np.ndarray, cot: np.ndarray, **call: Any
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(y, dL/dx, [dL/dw])`` of a built Keras ``layer`` on ``x`` (tf.GradientTape)."""
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, **call)
        s = tf.reduce_sum(y * tf.constant(cot, dtype=y.dtype))
    grads = tape.gradient(s, [xt, *layer.trainable_weights])
    return np.asarray(y), np.asarray(grads[0]), [np.asarray(g) for g in grads[1:]]


def compare_with_keras(
    label: str,
    make: Callable[[], Any],
    make_keras: Callable[[], Any],
    x: np.ndarray,
    backend: str,
    kind: str = "layer",
    seed: int = 0,
    **call: Any,
) -> None:
    """Our layer alone in a model on ``backend`` vs the Keras layer holding the same weights
    (ours, copied into Keras): the output and the gradients of ``sum(y · cot)`` for the input
    and each trainable weight, float32 rows of the tolerance table."""
    model = build_single(make, [x], backend)
    runtime = model._get_runtime()
    y = runtime.forward([x], False, None)[0]
    cot = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(x.dtype)
    dx, dw = runtime.input_gradients([x], [cot], False, None)
    klayer = make_keras()
    klayer.build(x.shape)
    if model.get_weights():
        klayer.set_weights(model.get_weights())
    ky, kdx, kdw = keras_forward_grads(klayer, x, cot, **call)
    assert_close(f"{label} {backend} output vs Keras", y, ky, "float32", kind)
    scale = max([float(np.max(np.abs(g))) for g in [kdx, *kdw] if g.size] or [0.0])
    assert_close(
        f"{label} {backend} d(input) vs Keras", dx[0], kdx, "float32", "gradient", scale=scale
    )
    assert len(dw) == len(kdw), f"{label}: {len(dw)} weight gradients, Keras has {len(kdw)}"
    for i, (a, b) in enumerate(zip(dw, kdw, strict=True)):
        assert_close(
            f"{label} {backend} d(weight {i}) vs Keras", a, b, "float32", "gradient", scale=scale
        )
