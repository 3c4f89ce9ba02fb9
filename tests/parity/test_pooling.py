"""Pooling layers: forward and input gradients vs the numpy reference and across backends,
TensorFlow's SAME average (valid elements only), masks, construction errors from a data table,
and Keras 3 equivalence."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close, check_layer

from ..conftest import BACKENDS
from . import _draw
from ._draw import SEEDS

L = dl.layers
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
DTYPES = st.sampled_from(["float64", "float32"])


def _distinct(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct values (no max ties), well separated (numpy: the fixed cases)."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.37 - n * 0.15


def _x(draw, mode, shape, dtype):
    """Drawn inputs (tests/parity/_draw.py): max pooling reads a maximum, so its inputs are
    distinct (the tie rule); average pooling takes any values, exact zeros and repeats
    included. Magnitudes 1, 1e-2, 1e3; batches of one."""
    if mode == "max":
        return _draw.distinct(draw, shape, dtype=dtype)
    return _draw.values(draw, shape, dtype=dtype)


def _example(kw, mode, shape, dtype, seed):
    return example(case=(kw, mode, _distinct(seed, shape), dtype), seed=seed)


@st.composite
def pooling2d_cases(draw):
    pool = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    kw = dict(pool_size=pool,
              strides=draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3)))),
              padding=draw(st.sampled_from(["valid", "same"])))  # fmt: skip
    extra = draw(st.tuples(st.integers(0, 4), st.integers(0, 4)))
    mode, dtype = draw(st.sampled_from(["max", "avg"])), draw(DTYPES)
    shape = (draw(st.integers(1, 2)), pool[0] + extra[0], pool[1] + extra[1], 3)
    return kw, mode, _x(draw, mode, shape, dtype), dtype


def _kw(pool, strides, padding):
    return dict(pool_size=pool, strides=strides, padding=padding)


@given(case=pooling2d_cases(), seed=SEEDS)
@_example(_kw((3, 3), (2, 2), "same"), "avg", (2, 7, 6, 3), "float64", 0)  # asymmetric SAME avg
@_example(_kw((2, 2), None, "same"), "avg", (2, 5, 2, 3), "float64", 1)  # odd size, pad after
@_example(_kw((4, 1), (1, 1), "same"), "avg", (2, 4, 3, 3), "float32", 2)  # even window, stride 1
@_example(_kw((3, 2), (2, 1), "same"), "max", (2, 7, 4, 3), "float64", 3)
@_example(_kw((2, 3), None, "valid"), "max", (2, 3, 5, 3), "float32", 4)
def test_pooling2d(case, seed):
    kw, mode, x, dtype = case
    cls = L.MaxPooling2D if mode == "max" else L.AveragePooling2D
    check_layer(lambda: cls(**kw), x, dtype=dtype, seed=seed)


@st.composite
def pooling1d_cases(draw):
    pool = draw(st.integers(1, 4))
    kw = dict(pool_size=pool, strides=draw(st.one_of(st.none(), st.integers(1, 3))),
              padding=draw(st.sampled_from(["valid", "same"])))  # fmt: skip
    mode, dtype = draw(st.sampled_from(["max", "avg"])), draw(DTYPES)
    shape = (draw(st.integers(1, 2)), pool + draw(st.integers(0, 5)), 3)
    return kw, mode, _x(draw, mode, shape, dtype), dtype


@given(case=pooling1d_cases(), seed=SEEDS)
@_example(_kw(4, 3, "same"), "avg", (2, 7, 3), "float64", 0)
@_example(_kw(2, None, "same"), "max", (2, 5, 3), "float64", 1)
@_example(_kw(3, 2, "same"), "avg", (2, 7, 3), "float32", 2)
def test_pooling1d(case, seed):
    kw, mode, x, dtype = case
    cls = L.MaxPooling1D if mode == "max" else L.AveragePooling1D
    check_layer(lambda: cls(**kw), x, dtype=dtype, seed=seed)


def test_same_average_counts_valid_elements_only():
    """The PARITY.md §2 case: TF's last row, which Keras 3's torch backend gets wrong."""
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1) * 4 + 30
    layer = L.AveragePooling2D(3, 1, "same")
    y = layer.reference([], x)
    # last row: windows over rows 2..3 only (2 valid rows), divided by the valid count
    expected_last = [
        (x[0, 2:4, 0:2, 0]).mean(),
        *[x[0, 2:4, j - 1 : j + 2, 0].mean() for j in (1, 2)],
    ]
    np.testing.assert_allclose(y[0, 3, :3, 0], expected_last)
    check_layer(lambda: L.AveragePooling2D(3, 1, "same"), x)
    check_layer(lambda: L.AveragePooling2D(2, 2, "same"), x[:, :3, :3])


@st.composite
def global_cases(draw):
    rank, mode, dtype = (
        draw(st.sampled_from([1, 2])),
        draw(st.sampled_from(["max", "avg"])),
        draw(DTYPES),
    )
    b = draw(st.integers(1, 2))
    sides = st.integers(1, 5)
    shape = (b, draw(sides), 3) if rank == 1 else (b, draw(sides), draw(sides), 4)
    return rank, mode, _x(draw, mode, shape, dtype), dtype


@given(case=global_cases(), keepdims=st.booleans(), seed=SEEDS)
def test_global_pooling(case, keepdims, seed):
    rank, mode, x, dtype = case
    cls = {
        (1, "max"): L.GlobalMaxPooling1D,
        (2, "max"): L.GlobalMaxPooling2D,
        (1, "avg"): L.GlobalAveragePooling1D,
        (2, "avg"): L.GlobalAveragePooling2D,
    }[(rank, mode)]
    check_layer(lambda: cls(keepdims=keepdims), x, dtype=dtype, seed=seed)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_1d_honours_mask(backend, keepdims):
    """A Keras mask arriving at GlobalAveragePooling1D weights the steps (forward and VJP)."""
    x = np.random.default_rng(0).standard_normal((3, 6, 4))
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0]], dtype=bool)
    layer = L.GlobalAveragePooling1D(keepdims=keepdims, dtype="float64")
    layer._ensure_built((None, 6, 4))
    ref = layer.reference([], x, mask=mask)
    np.testing.assert_allclose(np.squeeze(ref, 1) if keepdims else ref, [
        x[0, :3].mean(0), x[1].mean(0), x[2, ::2].mean(0)
    ])  # fmt: skip
    dy = np.random.default_rng(1).standard_normal(ref.shape)
    ref_dx, _ = layer.reference_backward([], x, ref, dy, mask=mask)
    if backend == "torch":
        import torch
        from duallearn_torch._layers import native_layer

        mod = native_layer(layer)
        xt = torch.tensor(x, requires_grad=True)
        y = mod.forward(xt, False, None, mask=torch.tensor(mask))
        (y * torch.tensor(dy)).sum().backward()
        out, dx = y.detach().numpy(), xt.grad.numpy()
        assert mod.compute_mask(xt, torch.tensor(mask)) is None
    else:
        import tensorflow as tf
        from duallearn_tensorflow._layers import native_layer

        mod = native_layer(layer)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = mod.forward(xt, False, None, mask=tf.constant(mask))
            s = tf.reduce_sum(y * dy)
        out, dx = y.numpy(), tape.gradient(s, xt).numpy()
        assert mod.compute_mask(xt, tf.constant(mask)) is None
    assert_close(f"{backend} masked GAP1D", out, ref, "float64")
    assert_close(f"{backend} masked GAP1D dx", dx, ref_dx, "float64", "gradient")


# ---- construction and build errors (data table) ----------------------------------------------
ERRORS = [
    ("unknown-padding", lambda: L.MaxPooling2D(padding="full"), None, ConfigError,
     r"MaxPooling2D: unknown padding 'full'. Expected one of: 'valid', 'same'"),
    ("causal-pool", lambda: L.AveragePooling1D(padding="causal"), None, ConfigError,
     r"AveragePooling1D: unknown padding 'causal'"),
    ("pool-zero", lambda: L.AveragePooling2D(0), None, ConfigError,
     r"pool_size must be a positive integer"),
    ("strides-len", lambda: L.MaxPooling1D(2, (1, 2)), None, ConfigError,
     r"strides must be an int or a tuple of 1 ints"),
    ("data-format", lambda: L.GlobalAveragePooling2D(data_format="NCHW"), None,
     ConfigError, r"GlobalAveragePooling2D: unknown data_format 'NCHW'"),
    ("pool-too-big", lambda: L.MaxPooling2D((3, 5)), (None, 4, 4, 2), ShapeError,
     r"MaxPooling2D\): the pool_size .*larger than the valid-padded input.*\(None, 4, 4, 2\)"),
    ("pool1d-too-big", lambda: L.AveragePooling1D(4), (None, 3, 2), ShapeError,
     r"AveragePooling1D\): the pool_size"),
    ("rank-2d", lambda: L.MaxPooling2D(), (None, 8, 3), ShapeError,
     r"MaxPooling2D\) expects inputs of rank 4.*Received input shape \(None, 8, 3\)"),
    ("rank-1d", lambda: L.AveragePooling1D(), (None, 8, 8, 3), ShapeError,
     r"expects inputs of rank 3, shape \(batch, steps, channels\)"),
    ("rank-global", lambda: L.GlobalMaxPooling2D(), (None, 8, 3), ShapeError,
     r"GlobalMaxPooling2D\) expects inputs of rank 4"),
    ("rank-global-1d", lambda: L.GlobalAveragePooling1D(), (None, 8), ShapeError,
     r"GlobalAveragePooling1D\) expects inputs of rank 3"),
]  # fmt: skip


@pytest.mark.parametrize(
    "make,shape,error,pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_construction_errors(make, shape, error, pattern):
    with pytest.raises(error, match=pattern):
        layer = make()
        layer(dl.layers.Input(shape[1:]))


def test_defaults_follow_keras():
    assert L.MaxPooling2D().get_config()["pool_size"] == (2, 2)
    assert L.MaxPooling2D(3).strides == (3, 3)
    assert L.AveragePooling1D().pool_size == (2,)
    assert L.GlobalAveragePooling2D().keepdims is False


# ---- Keras 3 equivalence ---------------------------------------------------------------------
KERAS_CASES = [
    ("max2d-same", lambda m: m.MaxPooling2D(3, 2, padding="same"), (7, 6, 2)),
    ("avg2d-same", lambda m: m.AveragePooling2D(3, 2, padding="same"), (7, 8, 2)),
    ("avg2d-same-s1", lambda m: m.AveragePooling2D((2, 3), 1, padding="same"), (4, 5, 2)),
    ("max1d-valid", lambda m: m.MaxPooling1D(3, 2), (9, 2)),
    ("avg1d-same", lambda m: m.AveragePooling1D(4, 3, padding="same"), (9, 2)),
    ("gmax1d", lambda m: m.GlobalMaxPooling1D(keepdims=True), (5, 3)),
    ("gmax2d", lambda m: m.GlobalMaxPooling2D(), (5, 4, 3)),
    ("gavg1d", lambda m: m.GlobalAveragePooling1D(), (5, 3)),
    ("gavg2d", lambda m: m.GlobalAveragePooling2D(keepdims=True), (5, 4, 3)),
]


@pytest.mark.parametrize(
    "make,shape", [c[1:] for c in KERAS_CASES], ids=[c[0] for c in KERAS_CASES]
)
def test_matches_keras(make, shape, backend):
    keras = importlib.import_module("keras")
    from duallearn.testing import set_keras_weights_and_compare

    km = keras.Sequential([keras.Input(shape), make(keras.layers)])
    dm = dl.Sequential([L.Input(shape), make(L)])
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype("float32")
    set_keras_weights_and_compare(dm, km, x, "float32", "layer")  # float32 both sides


def test_masked_global_average_matches_keras(backend):
    """The mask from ``Embedding(mask_zero=True)`` reaches GlobalAveragePooling1D (as Keras)."""
    keras = importlib.import_module("keras")
    from duallearn.testing import set_keras_weights_and_compare

    x = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5], [7, 0, 0, 0, 0]], dtype="int32")
    km = keras.Sequential([
        keras.Input((5,), dtype="int32"),
        keras.layers.Embedding(10, 4, mask_zero=True),
        keras.layers.GlobalAveragePooling1D(),
    ])  # fmt: skip
    dm = dl.Sequential([
        L.Input((5,), dtype="int32"),
        L.Embedding(10, 4, mask_zero=True),
        L.GlobalAveragePooling1D(),
    ])  # fmt: skip
    set_keras_weights_and_compare(dm, km, x, "float32", "layer")  # float32 both sides


# ---- data_format="channels_first" ------------------------------------------------------------
CHANNELS_FIRST = [
    ("max2d-same", lambda m: m.MaxPooling2D(3, 2, "same", data_format="channels_first"), (2, 7, 6)),
    ("avg2d-same", lambda m: m.AveragePooling2D(3, 2, "same", data_format="channels_first"),
     (2, 7, 8)),
    ("max1d", lambda m: m.MaxPooling1D(2, data_format="channels_first"), (3, 9)),
    ("avg1d-same", lambda m: m.AveragePooling1D(4, 3, "same", data_format="channels_first"),
     (3, 9)),
    ("gmax2d", lambda m: m.GlobalMaxPooling2D(data_format="channels_first", keepdims=True),
     (3, 4, 5)),
    ("gavg1d", lambda m: m.GlobalAveragePooling1D(data_format="channels_first"), (3, 5)),
]  # fmt: skip


@pytest.mark.parametrize(
    "make,shape", [c[1:] for c in CHANNELS_FIRST], ids=[c[0] for c in CHANNELS_FIRST]
)
def test_channels_first(make, shape, backend):
    keras = importlib.import_module("keras")
    from duallearn.testing import set_keras_weights_and_compare

    x = _distinct(3, (2, *shape))
    check_layer(lambda: make(L), x, dtype="float64", backends=[backend])
    km = keras.Sequential([keras.Input(shape), make(keras.layers)])
    dm = dl.Sequential([L.Input(shape), make(L)])
    set_keras_weights_and_compare(dm, km, x.astype("float32"), "float32", "layer")
