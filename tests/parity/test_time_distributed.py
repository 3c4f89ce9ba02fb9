"""TimeDistributed: forward and gradients vs the numpy reference and across backends, vs
real Keras 3 (Dense and Conv2D inside, same weights), a short fit vs Keras, weights, configs,
saving, masks and errors."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close, check_layer

from ..conftest import BACKENDS
from . import _draw
from ._draw import DTYPES, SEEDS
from ._keras_compare import compare_with_keras

keras = importlib.import_module("keras")  # the oracle (in the test extra; never absent in CI)
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

# name, factory over a layers namespace (dl.layers or keras.layers), input shape
CASES = [
    ("dense", lambda L: L.TimeDistributed(L.Dense(4, activation="tanh")), (3, 5, 6)),
    ("dense_rank4", lambda L: L.TimeDistributed(L.Dense(3)), (2, 4, 3, 5)),
    (
        "conv2d_same_s2",
        lambda L: L.TimeDistributed(L.Conv2D(3, 3, strides=2, padding="same", activation="relu")),
        (2, 3, 7, 7, 2),
    ),
    ("conv2d_valid", lambda L: L.TimeDistributed(L.Conv2D(2, (2, 3))), (2, 2, 5, 6, 3)),
    ("flatten", lambda L: L.TimeDistributed(L.Flatten()), (2, 3, 4, 2)),
    ("max_pool", lambda L: L.TimeDistributed(L.MaxPooling2D(2)), (2, 3, 6, 6, 2)),
    ("prelu", lambda L: L.TimeDistributed(L.PReLU(alpha_initializer="ones")), (2, 3, 4)),
]
IDS = [c[0] for c in CASES]


def _x(seed, shape):
    x = np.random.default_rng(seed).standard_normal(shape)
    return x + np.sign(x) * 0.05  # off the kinks of relu / max


@pytest.mark.parametrize("case", CASES, ids=IDS)
@given(data=st.data(), batch=st.integers(1, 2), dtype=DTYPES, seed=SEEDS)
def test_matches_numpy_and_other_backend(case, data, batch, dtype, seed):
    """Drawn inputs (tests/parity/_draw.py): magnitudes 1, 1e-2, 1e3, exact zeros (ReLU's kink
    at 0 kept: every engine gives 0), batches of one. Max pooling reads a maximum: its inputs
    are distinct (the tie rule)."""
    name, make, shape = case
    shape = (batch, *shape[1:])
    draw_x = _draw.distinct if name == "max_pool" else _draw.values
    # tanh saturates at 1e3 (its gradient 1 − y² is then a rounding residue): 1 and 1e-2
    scales = (1.0, 1e-2) if name == "dense" else _draw.SCALES
    x = draw_x(data.draw, shape, scales, dtype=dtype)
    if name == "prelu":
        # PReLU at exactly 0: the reference's gradient is α, Keras's and the engines' 0
        # (test_activation_layers.py::test_gradient_at_a_point records it): 0 moves to 2e-3
        x = x + (x == 0) * 2e-3
    check_layer(lambda: make(dl.layers), x, dtype=dtype, seed=seed)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_keras(case, backend):
    name, make, shape = case
    dl.set_random_seed(4)
    compare_with_keras(
        name, lambda: make(dl.layers), lambda: make(keras.layers), _x(3, shape).astype("float32"),
        backend,
    )  # fmt: skip


def test_weights_are_the_inner_layers_as_keras():
    dense = dl.layers.Dense(4)
    td = dl.layers.TimeDistributed(dense)
    model = dl.Sequential([dl.Input((3, 5)), td])
    kmodel = keras.Sequential(
        [keras.Input((3, 5)), keras.layers.TimeDistributed(keras.layers.Dense(4))]
    )
    assert [w.path for w in td.weights] == [w.path for w in dense.weights]
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in kmodel.weights]
    assert [w.name for w in model.weights] == [w.name for w in kmodel.weights] == ["kernel", "bias"]
    assert td.count_params() == kmodel.layers[0].count_params() == 24
    assert model.layers[0].output_shape == (None, 3, 4)
    td.trainable = False
    assert td.trainable_weights == [] and dense.trainable is False
    assert len(td.non_trainable_weights) == 2
    frozen = dl.layers.TimeDistributed(dl.layers.Dense(2), trainable=False)
    assert frozen.layer.trainable is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_matches_keras(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, (32, 4))

    def build(lib):
        return lib.Sequential(
            [
                lib.Input((4, 6, 6, 1)),
                lib.layers.TimeDistributed(lib.layers.Conv2D(2, 3, activation="relu")),
                lib.layers.TimeDistributed(lib.layers.Flatten()),
                lib.layers.TimeDistributed(lib.layers.Dense(3)),
            ]
        )

    with dl.use_backend(backend):
        ours = build(dl)
    theirs = build(keras)
    theirs.set_weights(ours.get_weights())
    ours.compile(
        optimizer=dl.optimizers.SGD(0.1),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    theirs.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    oh = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kh = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
        assert_close(f"{backend} weight {i} after 8 steps vs Keras", a, b, "float32", "params_10")
    # float32 epoch losses of the same training run: the loss row
    assert_close("epoch losses vs Keras", oh.history["loss"], kh.history["loss"], "float32", "loss")


@pytest.mark.parametrize("backend", BACKENDS)
def test_saving_and_config_round_trip(backend, tmp_path):
    with dl.use_backend(backend):
        model = dl.Sequential(
            [
                dl.Input((3, 6, 6, 2)),
                dl.layers.TimeDistributed(dl.layers.Conv2D(2, 3, name="conv"), name="td_conv"),
                dl.layers.TimeDistributed(dl.layers.Flatten()),
                dl.layers.TimeDistributed(dl.layers.Dense(2, activation="softmax")),
            ]
        )
        x = _x(1, (2, 3, 6, 6, 2)).astype("float32")
        want = model.predict(x, verbose=0)
        model.save(str(tmp_path / "td.dlm"))
        again = dl.load_model(str(tmp_path / "td.dlm"))
        np.testing.assert_array_equal(again.predict(x, verbose=0), want)
    cfg = model.layers[0].get_config()
    assert cfg["layer"]["class_name"] == "Conv2D" and cfg["layer"]["config"]["name"] == "conv"
    kcfg = keras.layers.TimeDistributed(keras.layers.Conv2D(2, 3)).get_config()
    assert kcfg["layer"]["class_name"] == cfg["layer"]["class_name"]
    clone = dl.layers.TimeDistributed.from_config(json.loads(json.dumps(cfg)))
    assert clone.get_config() == cfg and type(clone.layer).__name__ == "Conv2D"
    assert [w.path for w in again.layers[0].weights] == ["conv/kernel", "conv/bias"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dropout_inside_uses_the_deterministic_mask(dtype):
    x = _x(2, (3, 4, 5))
    td = dl.layers.TimeDistributed(dl.layers.Dropout(0.4))
    shape = td.noise_shape_for(x.shape)
    assert shape == (12, 5)
    mask = td.draw_noise(np.random.default_rng(0), shape)
    check_layer(
        lambda: dl.layers.TimeDistributed(dl.layers.Dropout(0.4)),
        x,
        dtype=dtype,
        training=True,
        noise={0: mask},
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_mask_passes_through(backend):
    with dl.use_backend(backend):
        inp = dl.Input((4,), dtype="int32")
        h = dl.layers.Embedding(10, 3, mask_zero=True)(inp)
        h = dl.layers.TimeDistributed(dl.layers.Dense(2))(h)
        out = dl.layers.LSTM(2)(h)
        model = dl.Model(inp, out)
    kin = keras.Input((4,), dtype="int32")
    kh = keras.layers.Embedding(10, 3, mask_zero=True)(kin)
    kh = keras.layers.TimeDistributed(keras.layers.Dense(2))(kh)
    kmodel = keras.Model(kin, keras.layers.LSTM(2)(kh))
    kmodel.set_weights(model.get_weights())
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]], "int32")
    assert_close(
        f"{backend} masked TimeDistributed vs Keras",
        model.predict(ids, verbose=0),
        np.asarray(kmodel.predict(ids, verbose=0)),
        "float32",
        "forward",
    )


def test_errors_name_expected_received_and_fix():
    with pytest.raises(ShapeError, match=r"at least 3 dimensions.*\(None, 5\).*Fix"):
        dl.layers.TimeDistributed(dl.layers.Dense(2))(dl.Input((5,)))
    with pytest.raises(ConfigError, match=r"layer instance.*Received: layer=3.*Fix"):
        dl.layers.TimeDistributed(3)
    with pytest.raises(ConfigError, match=r"cannot wrap BatchNormalization.*Fix"):
        dl.layers.TimeDistributed(dl.layers.BatchNormalization())
