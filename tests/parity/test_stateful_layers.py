"""A custom layer that updates a non-trainable weight in ``call`` (keras.io's "Making new
layers and models via subclassing": ``ComputeSum``): eager calls, predict in a model (a
traced TensorFlow step records the update) and training, beside real Keras 3."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.testing import assert_close

from ..conftest import BACKENDS

keras = importlib.import_module("keras")


def compute_sum(lib: Any, lib_ops: Any) -> type:
    class ComputeSum(lib.layers.Layer):
        """Accumulates the column sums of everything it sees; returns the running total
        added to its input."""

        def __init__(self, input_dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.total = self.add_weight(
                initializer="zeros", shape=(input_dim,), trainable=False, name="total"
            )

        def call(self, inputs: Any) -> Any:
            self.total.assign_add(lib_ops.sum(inputs, axis=0))
            return inputs + self.total

    return ComputeSum


@pytest.mark.parametrize("backend", BACKENDS)
def test_eager_calls_accumulate_as_keras(backend: str) -> None:
    x = np.arange(6, dtype="float32").reshape(3, 2)
    theirs = compute_sum(keras, keras.ops)(2)
    with dl.use_backend(backend):
        ours = compute_sum(dl, ops)(2)
        for k in range(3):
            got, want = np.asarray(ours(x)), keras.ops.convert_to_numpy(theirs(x))
            assert_close(f"call {k}", got, want, "float32", "forward")
    assert_close("total", ours.total.numpy(), theirs.total.numpy(), "float32", "forward")
    assert ours.total.numpy().tolist() == [18.0, 27.0]  # 3 calls of sums [6, 9]
    assert [w.name for w in ours.non_trainable_weights] == ["total"]


def _model(lib: Any, lib_ops: Any, **kw: Any) -> Any:
    i = lib.Input((2,))
    h = compute_sum(lib, lib_ops)(2, name="sum")(i)
    return lib.Model(i, lib.layers.Dense(1, name="out")(h), **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_a_model_predict_and_fit_update_the_weight_as_keras(backend: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 2)).astype("float32")
    y = rng.standard_normal((8, 1)).astype("float32")
    ours = _model(dl, ops, backend=backend)
    theirs = _model(keras, keras.ops)
    theirs.set_weights(ours.get_weights())
    for _ in range(2):  # predict in batches of 4: two updates per call
        assert_close(
            "predict",
            ours.predict(x, batch_size=4, verbose=0),
            theirs.predict(x, batch_size=4, verbose=0),
            "float32",
            "forward",
        )
    ours.compile(dl.optimizers.SGD(0.01), "mse")
    theirs.compile(keras.optimizers.SGD(0.01), "mse")
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for k, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
        assert_close(f"weight {k}", a, b, "float32", "params_10")
    assert np.abs(ours.get_layer("sum").total.numpy()).sum() > 0
