"""Reshape, Permute, RepeatVector, ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D: forward
and gradients vs numpy and across backends, construction errors, and Keras 3 outputs."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close, check_layer, set_keras_weights_and_compare

from ..conftest import BACKENDS
from . import _draw
from ._draw import SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers
DTYPES = st.sampled_from(["float64", "float32"])
SIZES = st.integers(1, 5)


@st.composite
def case(draw):
    """(layer factory, input shape) over every shape layer, odd sizes and asymmetric args."""
    b = draw(st.integers(1, 3))
    kind = draw(
        st.sampled_from(
            ["reshape", "permute", "repeat", "zp1", "zp2", "crop1", "crop2", "up1", "up2"]
        )
    )
    fmt = draw(st.sampled_from(["channels_last", "channels_first"]))
    if kind == "reshape":
        h, w, c = draw(SIZES), draw(SIZES), draw(SIZES)
        target = draw(st.sampled_from([(h * w, c), (-1,), (h, -1), (c, w, h), (-1, 1, c)]))
        return (lambda: L.Reshape(target)), (b, h, w, c)
    if kind == "permute":
        dims = draw(st.permutations([1, 2, 3]))
        return (lambda: L.Permute(dims)), (b, draw(SIZES), draw(SIZES), draw(SIZES))
    if kind == "repeat":
        n = draw(SIZES)
        return (lambda: L.RepeatVector(n)), (b, draw(SIZES))
    if kind == "zp1":
        pad = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3))))
        return (lambda: L.ZeroPadding1D(pad)), (b, draw(SIZES), draw(SIZES))
    if kind == "zp2":
        p = st.integers(0, 3)
        pad = draw(st.one_of(p, st.tuples(p, p), st.tuples(st.tuples(p, p), st.tuples(p, p))))
        return (lambda: L.ZeroPadding2D(pad, data_format=fmt)), (b, *(draw(SIZES) for _ in "hwc"))
    if kind == "crop1":
        t = draw(st.integers(3, 7))
        lo = draw(st.integers(0, t - 1))
        hi = draw(st.integers(0, t - 1 - lo))
        return (lambda: L.Cropping1D((lo, hi))), (b, t, draw(SIZES))
    if kind == "crop2":
        h, w = draw(st.integers(3, 6)), draw(st.integers(3, 6))
        top, left = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        crop = (
            (top, draw(st.integers(0, 0 if top == 2 else 1))),
            (left, draw(st.integers(0, 1 - left // 2))),
        )
        shape = (b, 2, h, w) if fmt == "channels_first" else (b, h, w, 2)
        return (lambda: L.Cropping2D(crop, data_format=fmt)), shape
    if kind == "up1":
        size = draw(SIZES)
        return (lambda: L.UpSampling1D(size)), (b, draw(SIZES), draw(SIZES))
    size2 = draw(st.one_of(SIZES, st.tuples(SIZES, SIZES)))
    interp = draw(st.sampled_from(["nearest", "bilinear"]))
    return (lambda: L.UpSampling2D(size2, data_format=fmt, interpolation=interp)), (
        b,
        *(draw(SIZES) for _ in "hwc"),
    )


@given(c=case(), dtype=DTYPES, training=st.booleans(), data=st.data(), seed=SEEDS)
def test_shape_layers(c, dtype, training, data, seed):
    make, shape = c
    x = _draw.values(data.draw, shape, dtype=dtype)  # drawn values (tests/parity/_draw.py)
    check_layer(make, x, dtype=dtype, training=training, seed=seed)


def test_bilinear_matrix_known_values():
    from duallearn.layers._reshaping import bilinear_matrix

    np.testing.assert_allclose(bilinear_matrix(2, 2), [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    assert np.allclose(bilinear_matrix(5, 3).sum(axis=1), 1.0)


def test_known_values():
    x = np.arange(1.0, 7.0).reshape(1, 3, 2)
    up = L.UpSampling1D(2).reference([], x)
    np.testing.assert_array_equal(up[0, :, 0], [1, 1, 3, 3, 5, 5])
    pad = L.ZeroPadding1D((1, 2)).reference([], x)
    np.testing.assert_array_equal(pad[0, :, 1], [0, 2, 4, 6, 0, 0])
    crop = L.Cropping1D((1, 1)).reference([], x)
    np.testing.assert_array_equal(crop, [[[3, 4]]])
    rep = L.RepeatVector(2).reference([], x[:, 0])
    np.testing.assert_array_equal(rep, [[[1, 2], [1, 2]]])
    # Keras 2D padding forms
    assert L.ZeroPadding2D(2).pads == ((2, 2), (2, 2))
    assert L.ZeroPadding2D((1, 3)).pads == ((1, 1), (3, 3))
    assert L.Cropping2D(((1, 0), (2, 3))).crops == ((1, 0), (2, 3))


def test_output_shapes_and_reshape_inference():
    assert L.Reshape((-1, 3))(L.Input((4, 6))).shape == (None, 8, 3)
    assert L.Permute((2, 1))(L.Input((4, 6))).shape == (None, 6, 4)
    assert L.RepeatVector(5)(L.Input((3,))).shape == (None, 5, 3)
    assert L.UpSampling2D((2, 3))(L.Input((4, 5, 2))).shape == (None, 8, 15, 2)
    assert L.Cropping2D(((1, 0), (0, 2)))(L.Input((4, 5, 2))).shape == (None, 3, 3, 2)
    assert L.ZeroPadding2D(((1, 0), (0, 2)), data_format="channels_first")(
        L.Input((2, 4, 5))
    ).shape == (None, 2, 5, 7)


CONFIG_ERRORS = [
    (lambda: L.Reshape((2, -1, -1)), "at most one -1"),
    (lambda: L.Reshape((0, 3)), "positive ints"),
    (lambda: L.Reshape(6), "target_shape must be a tuple"),
    (lambda: L.Permute((1, 3)), "permutation of 1..rank-1"),
    (lambda: L.Permute((0, 1)), "permutation of 1..rank-1"),
    (lambda: L.RepeatVector(0), "n must be a positive integer"),
    (lambda: L.ZeroPadding1D(-1), "padding must be a non-negative int"),
    (lambda: L.ZeroPadding2D(((1, 2), (3,))), "tuple of 2 tuples"),
    (lambda: L.ZeroPadding2D(1, data_format="NHWC"), "data_format must be"),
    (lambda: L.Cropping1D((1, 2, 3)), "cropping must be a non-negative int"),
    (lambda: L.Cropping2D("all"), "cropping must be a non-negative int"),
    (lambda: L.UpSampling1D(0), "size must be a positive integer"),
    (lambda: L.UpSampling2D((2, 0)), "size must be a positive int"),
    (lambda: L.UpSampling2D(interpolation="bicubic"), "interpolation='bicubic' is not supported"),
]


@pytest.mark.parametrize(("make", "msg"), CONFIG_ERRORS)
def test_config_errors(make, msg):
    with pytest.raises(ConfigError, match=msg):
        make()


SHAPE_ERRORS = [
    (lambda: L.Reshape((5, -1)), (4, 3), "12 is not a multiple of 5"),
    (lambda: L.Reshape((5, 2)), (4, 3), "same product"),
    (lambda: L.Permute((2, 1)), (4, 3, 2), "expects a rank-3 input"),
    (lambda: L.RepeatVector(2), (4, 3), "expects a rank-2 input"),
    (lambda: L.ZeroPadding1D(), (4, 3, 2), "expects a rank-3 input"),
    (lambda: L.ZeroPadding2D(), (4, 3), "expects a rank-4 input"),
    (lambda: L.Cropping1D((2, 2)), (4, 3), "leaves nothing of input shape"),
    (lambda: L.Cropping2D(((0, 0), (3, 0))), (4, 3, 2), "leaves nothing"),
    (lambda: L.UpSampling2D(), (4, 3), "expects a rank-4 input"),
]


@pytest.mark.parametrize(("make", "shape", "msg"), SHAPE_ERRORS)
def test_shape_errors(make, shape, msg):
    layer = make()
    with pytest.raises(ShapeError, match=msg) as info:
        layer(L.Input(shape))
    assert repr(layer.name) in str(info.value) and type(layer).__name__ in str(info.value)


@pytest.fixture(scope="module")
def keras():
    return importlib.import_module("keras")


KERAS_CASES = [
    ("Reshape", {"target_shape": (-1, 2)}, (3, 4, 2)),
    ("Permute", {"dims": (3, 1, 2)}, (3, 4, 2)),
    ("RepeatVector", {"n": 3}, (5,)),
    ("ZeroPadding1D", {"padding": (1, 2)}, (5, 3)),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 3))}, (3, 4, 2)),
    ("Cropping1D", {"cropping": (2, 1)}, (6, 3)),
    ("Cropping2D", {"cropping": ((1, 0), (0, 2))}, (4, 5, 2)),
    ("UpSampling1D", {"size": 3}, (4, 2)),
    ("UpSampling2D", {"size": (2, 3)}, (3, 4, 2)),
    ("UpSampling2D", {"size": (3, 2), "interpolation": "bilinear"}, (3, 4, 2)),
    ("Flatten", {}, (3, 4, 2)),
]


@pytest.mark.parametrize(("name", "kw", "shape"), KERAS_CASES)
def test_matches_keras(keras, name, kw, shape):
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    km = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kw)])
    for b in BACKENDS:
        model = dl.Sequential([L.Input(shape), getattr(L, name)(**kw)], backend=b)
        err = set_keras_weights_and_compare(model, km, x, "float32", "layer")
        assert err == 0.0 or kw.get("interpolation") == "bilinear"  # arithmetic: rounding


VARIABLE_LENGTH = [
    lambda: L.Cropping1D((1, 2)),
    lambda: L.ZeroPadding1D((2, 1)),
    lambda: L.UpSampling1D(2),
    lambda: L.Permute((2, 1)),
    lambda: L.Reshape((-1,)),
    lambda: L.GroupNormalization(3),
    lambda: L.LayerNormalization(),
]


@pytest.mark.parametrize("make", VARIABLE_LENGTH)
def test_variable_length_time_axis_in_one_trace(backend, make):
    """Input((None, C)): one native trace (TF: one tf.function with an open time axis) serves
    every length, and matches numpy."""
    model = dl.Sequential([L.Input((None, 6)), make()])
    net = model.native
    layer = model.layers[0]
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, None, 6), tf.float32)
        fn = tf.function(lambda x: net([x], False)[0], input_signature=[spec], autograph=False)
    else:
        import torch

        def fn(x):
            return net([torch.from_numpy(x)], False)[0].detach()

    for t in (5, 8):
        x = np.random.default_rng(t).standard_normal((2, t, 6)).astype("float32")
        ref = layer.reference(
            [w.astype("float64") for w in model.get_weights()], x.astype("float64")
        )
        assert_close(f"{backend} length {t}", np.asarray(fn(x)), ref, "float32", "layer")
