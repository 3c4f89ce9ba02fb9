"""Dropout (noise_shape), SpatialDropout1D/2D, GaussianNoise: identical front-end masks on
both backends (forward and gradient vs numpy), native RNG statistics, deterministic fit,
construction errors, and Keras 3 inference outputs."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import duallearn as dl
from duallearn import config
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close, check_layer, set_keras_weights_and_compare

from ..conftest import BACKENDS, both
from . import _draw
from ._draw import SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers
DTYPES = st.sampled_from(["float64", "float32"])


@st.composite
def case(draw):
    b = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["dropout", "noise_shape", "sd1", "sd2", "sd2cf", "gauss"]))
    rate = draw(st.floats(0.05, 0.8))
    if kind == "dropout":
        return (lambda: L.Dropout(rate)), (b, draw(st.integers(1, 5)), 3)
    if kind == "noise_shape":
        ns = (None, 1, None) if draw(st.booleans()) else (None, None, 1)
        return (lambda: L.Dropout(rate, noise_shape=ns)), (b, 4, 3)
    if kind == "sd1":
        return (lambda: L.SpatialDropout1D(rate)), (b, draw(st.integers(1, 5)), 4)
    if kind == "sd2":
        return (lambda: L.SpatialDropout2D(rate)), (b, 3, draw(st.integers(1, 4)), 5)
    if kind == "sd2cf":
        return (lambda: L.SpatialDropout2D(rate, data_format="channels_first")), (b, 5, 3, 2)
    stddev = draw(st.floats(0.0, 1.0))
    return (lambda: L.GaussianNoise(stddev)), (b, 3, 2)


@given(c=case(), dtype=DTYPES, data=st.data(), seed=SEEDS)
def test_deterministic_noise_is_identical_on_both_backends(c, dtype, data, seed):
    make, shape = c
    rng = np.random.default_rng(seed)  # the noise (masks, Gaussian) is drawn by the front-end
    x = _draw.values(data.draw, shape, dtype=dtype)  # drawn values (tests/parity/_draw.py)
    layer = make()
    ns = layer.noise_shape_for(shape)
    if ns is None:  # GaussianNoise(0): no noise at all
        check_layer(make, x, dtype=dtype, training=True, seed=seed)
        return
    noise = layer.draw_noise(rng, ns).astype(dtype)
    check_layer(make, x, dtype=dtype, training=True, noise={0: noise}, seed=seed)
    check_layer(make, x, dtype=dtype, training=False, seed=seed)  # identity in inference


def test_noise_shapes():
    assert L.Dropout(0.5, noise_shape=(None, 1, None)).noise_shape_for((4, 7, 3)) == (4, 1, 3)
    assert L.Dropout(0.5).noise_shape_for((4, 7, 3)) == (4, 7, 3)
    assert L.Dropout(0.0).noise_shape_for((4, 7, 3)) is None
    assert L.SpatialDropout1D(0.5).noise_shape_for((4, 7, 3)) == (4, 1, 3)
    assert L.SpatialDropout2D(0.5).noise_shape_for((4, 7, 6, 3)) == (4, 1, 1, 3)
    assert L.SpatialDropout2D(0.5, data_format="channels_first").noise_shape_for((4, 3, 7, 6)) == (
        4,
        3,
        1,
        1,
    )
    assert L.GaussianNoise(0.1).noise_shape_for((2, 5)) == (2, 5)
    mask = L.SpatialDropout1D(0.25).draw_noise(np.random.default_rng(0), (3, 1, 4))
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.75}


@pytest.mark.parametrize(
    ("make", "shape", "check"),
    [
        (lambda: L.Dropout(0.3), (4, 5000), "elementwise"),
        (lambda: L.Dropout(0.3, noise_shape=(None, 1, None)), (40, 50, 100), "shared_axis1"),
        (lambda: L.SpatialDropout1D(0.3), (40, 50, 100), "shared_axis1"),
        (lambda: L.SpatialDropout2D(0.3), (40, 6, 5, 100), "shared_axes12"),
        (lambda: L.GaussianNoise(0.5), (4, 5000), "gaussian"),
    ],
)
def test_native_rng_statistics(backend, make, shape, check):
    """Fast mode (native RNG): the right distribution and the right sharing of the mask."""
    model = dl.Sequential([L.Input(shape[1:]), make()])
    out = model._get_runtime().forward([np.ones(shape, np.float32)], training=True)[0]
    if check == "gaussian":
        noise = out - 1.0
        assert abs(noise.mean()) < 0.03 and abs(noise.std() - 0.5) < 0.03
        return
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.03
    # one float32 multiplication per kept entry: the activation row
    assert_close("kept × 1/(1 − rate)", out[kept], np.full(kept.sum(), 1 / 0.7), "float32",
                 "activation")  # fmt: skip
    if check == "shared_axis1":
        assert (kept == kept[:, :1]).all()
    if check == "shared_axes12":
        assert (kept == kept[:, :1, :1]).all()
    inference = model._get_runtime().forward([np.ones(shape, np.float32)], training=False)[0]
    np.testing.assert_array_equal(inference, 1.0)


@both()
def test_deterministic_fit_with_spatial_dropout_and_noise_agrees():
    """Ten float32 steps in deterministic mode: same front-end masks, same weights."""
    config.set_deterministic(True)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 6, 4)).astype("float32")
    y = rng.standard_normal((40, 2)).astype("float32")
    finals = {}
    for b in ("torch", "tensorflow"):
        dl.set_random_seed(11)
        model = dl.Sequential(
            [
                L.Input((6, 4)),
                L.GaussianNoise(0.2),
                L.SpatialDropout1D(0.3),
                L.Flatten(),
                L.Dropout(0.2, noise_shape=(None, 1)),
                L.Dense(2),
            ],
            backend=b,
        )
        model.compile(optimizer=dl.optimizers.SGD(0.05), loss="mse")
        dl.set_random_seed(12)
        model.fit(x, y, batch_size=4, verbose=0)
        finals[b] = model.get_weights()
    for i, (a, c) in enumerate(zip(finals["torch"], finals["tensorflow"], strict=True)):
        assert_close(f"weight {i} after 10 deterministic steps", c, a, "float32", "params_10")


CONFIG_ERRORS = [
    (lambda: L.Dropout(1.0), "rate must be a number in \\[0, 1\\)"),
    (lambda: L.Dropout(-0.1), "rate must be a number"),
    (lambda: L.Dropout(0.5, noise_shape=(None, 0)), "noise_shape must be a tuple"),
    (lambda: L.Dropout(0.5, noise_shape=5), "noise_shape must be a tuple"),
    (lambda: L.SpatialDropout1D(True), "rate must be a number"),
    (lambda: L.SpatialDropout2D(0.5, data_format="NCHW"), "data_format must be"),
    (lambda: L.GaussianNoise(1.5), "stddev must be a number in \\[0, 1\\]"),
    (lambda: L.GaussianNoise("x"), "stddev must be a number"),
]


@pytest.mark.parametrize(("make", "msg"), CONFIG_ERRORS)
def test_config_errors(make, msg):
    with pytest.raises(ConfigError, match=msg):
        make()


SHAPE_ERRORS = [
    (lambda: L.Dropout(0.5, noise_shape=(None, 1)), (4, 3), "one entry per input axis"),
    (lambda: L.Dropout(0.5, noise_shape=(None, 2, 1)), (4, 3), "does not broadcast"),
    (lambda: L.SpatialDropout1D(0.5), (4, 3, 2), "expects a rank-3 input"),
    (lambda: L.SpatialDropout2D(0.5), (4, 3), "expects a rank-4 input"),
]


@pytest.mark.parametrize(("make", "shape", "msg"), SHAPE_ERRORS)
def test_shape_errors(make, shape, msg):
    layer = make()
    with pytest.raises(ShapeError, match=msg) as info:
        layer(L.Input(shape))
    assert repr(layer.name) in str(info.value)


def test_config_round_trip():
    for layer in (
        L.Dropout(0.3, noise_shape=(None, 1, None), seed=4),
        L.SpatialDropout1D(0.2),
        L.SpatialDropout2D(0.2, data_format="channels_first"),
        L.GaussianNoise(0.1, seed=2),
    ):
        cfg = layer.get_config()
        assert type(layer).from_config(cfg).get_config() == cfg


@pytest.fixture(scope="module")
def keras():
    return importlib.import_module("keras")


@pytest.mark.parametrize(
    ("name", "kw", "shape"),
    [
        ("Dropout", {"rate": 0.4, "noise_shape": (None, 1, None)}, (5, 3)),
        ("SpatialDropout1D", {"rate": 0.4}, (5, 3)),
        ("SpatialDropout2D", {"rate": 0.4}, (4, 5, 3)),
        ("GaussianNoise", {"stddev": 0.4}, (5, 3)),
    ],
)
def test_matches_keras_in_inference(keras, name, kw, shape):
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    km = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kw)])
    for b in BACKENDS:
        model = dl.Sequential([L.Input(shape), getattr(L, name)(**kw)], backend=b)
        assert set_keras_weights_and_compare(model, km, x, "float32", "layer") == 0.0


def _noisy_sequential():
    return dl.Sequential(
        [
            L.Input((40,)),
            L.Dense(32),
            L.Dropout(0.5),
            L.BatchNormalization(),
            L.GaussianNoise(0.3),
        ]
    )


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_training_call_outside_fit_is_identical_on_both_backends_in_deterministic_mode():
    """``model(x, training=True)`` and ``layer(x, training=True)`` on arrays run in training
    mode (Keras's eager call): dropout and noise are active, each call draws new masks, and in
    deterministic mode the masks (front-end, keyed by the global seed stream) are the same on
    both backends."""
    config.set_deterministic(True)
    x = np.random.default_rng(0).normal(size=(8, 40)).astype("float32")
    got = {}
    for name in ("torch", "tensorflow"):
        with dl.use_backend(name):
            dl.set_random_seed(5)
            m = _noisy_sequential()
            first, second = m(x, training=True), m(x, training=True)
            moving_mean = m.layers[2].get_weights()[2]
            got[name] = (first, second, m(x), L.Dropout(0.5)(x, training=True), moving_mean)
    names = ("first", "second", "inference", "layer", "moving mean")
    for what, a, b in zip(names, got["torch"], got["tensorflow"], strict=True):
        assert_close(f"{what} call torch vs tensorflow", a, b, "float32", "forward")
    first, second, inference, layer, moving_mean = got["torch"]
    assert np.abs(first - second).max() > 0.1 and np.abs(first - inference).max() > 0.1
    assert 0.3 < np.mean(layer == 0) < 0.7
    kept = layer != 0  # one float32 multiplication per kept entry: the activation row
    assert_close("Dropout(0.5) kept entries", layer[kept], 2 * x[kept], "float32", "activation")
    assert np.abs(moving_mean).max() > 1e-3  # two training calls moved BatchNorm's statistics


def test_training_call_outside_fit_in_fast_mode(backend):
    """Fast mode: the same call draws native noise, new on every call."""
    x = np.random.default_rng(1).normal(size=(8, 40)).astype("float32")
    dl.set_random_seed(5)
    m = _noisy_sequential()
    first, second, inference = m(x, training=True), m(x, training=True), m(x)
    assert np.abs(first - second).max() > 0.1 and np.abs(first - inference).max() > 0.1
    y = L.Dropout(0.25)(x, training=True)
    assert 0.1 < np.mean(y == 0) < 0.4
    kept = y != 0  # one float32 multiplication per kept entry: the activation row
    assert_close("Dropout(0.25) kept entries", y[kept], x[kept] / 0.75, "float32", "activation")
