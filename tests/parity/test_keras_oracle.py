"""Real Keras 3 as an oracle: same configs + set_weights -> same outputs, and Keras's own
fit on the same batches ends at the same weights (Keras formulas and defaults)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close, set_keras_weights_and_compare

from ..conftest import BACKENDS

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def keras_mlp(activation="relu"):
    return keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(16, activation=activation),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


def dl_mlp(activation="relu"):
    return dl.Sequential(
        [
            dl.layers.Input((12,)),
            dl.layers.Dense(16, activation=activation),
            dl.layers.Dropout(0.2),
            dl.layers.Dense(5, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("activation", ["relu", "gelu", "selu", "leaky_relu", "swish"])
def test_predictions_match_keras_through_set_weights(backend, activation):
    x = np.random.default_rng(0).standard_normal((32, 12)).astype("float32")
    km = keras_mlp(activation)
    err = set_keras_weights_and_compare(dl_mlp(activation), km, x, "float32", "forward")
    assert err < 1e-5


def test_weight_order_and_shapes_match_keras():
    km, ours = keras_mlp(), dl_mlp()
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    assert [layer.name for layer in ours.layers] == ["dense", "dropout", "dense_1"]


@pytest.mark.parametrize(
    "make_keras, make_dl",
    [
        (
            lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
            lambda: dl.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        ),
        (lambda: keras.optimizers.Adam(0.01), lambda: dl.optimizers.Adam(0.01)),
        (
            lambda: keras.optimizers.Adam(0.01, amsgrad=True),
            lambda: dl.optimizers.Adam(0.01, amsgrad=True),
        ),
    ],
)
def test_fit_trajectory_matches_keras(backend, make_keras, make_dl):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 12)).astype("float32")
    y = rng.integers(0, 5, 96)
    km = keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(5)]
    )
    ours = dl.Sequential(
        [dl.layers.Input((12,)), dl.layers.Dense(16, activation="tanh"), dl.layers.Dense(5)]
    )
    ours.set_weights(km.get_weights())
    km.compile(
        optimizer=make_keras(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    ours.compile(
        optimizer=make_dl(), loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    kh = km.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    oh = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for i, (a, b) in enumerate(zip(ours.get_weights(), km.get_weights(), strict=True)):
        assert_close(f"{backend} weight {i} after 12 steps vs Keras", a, b, "float32", "params_10")
    np.testing.assert_allclose(oh.history["loss"], kh.history["loss"], rtol=1e-5)
