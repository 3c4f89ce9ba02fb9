"""Embedding: forward and embedding-table gradients vs numpy and across backends, mask_zero
masks on both backends, initializer, errors, Keras 3 outputs with copied weights."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn import config
from duallearn.errors import ConfigError, UnknownNameError
from duallearn.testing import assert_close, check_layer, reference, set_keras_weights_and_compare

from ..conftest import BACKENDS, both
from ._draw import DTYPES, SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers


@st.composite
def id_arrays(draw):
    """Drawn ids (hypothesis): repeats, all-equal rows, every id 0 (with mask_zero: a fully
    masked input), the last id of the vocabulary, batches of one."""
    vocab = draw(st.integers(1, 9))
    shape = draw(st.sampled_from([(1,), (3,), (2, 5), (1, 4), (3, 2, 3)]))
    int_dtype = draw(st.sampled_from(["int32", "int64"]))
    return vocab, draw(hnp.arrays(int_dtype, shape, elements=st.integers(0, vocab - 1)))


@given(
    case=id_arrays(),
    dim=st.integers(1, 5),
    mask_zero=st.booleans(),
    dtype=DTYPES,
    training=st.booleans(),
    seed=SEEDS,
)
def test_embedding(case, dim, mask_zero, dtype, training, seed):
    vocab, ids = case
    errors = check_layer(
        lambda: L.Embedding(vocab, dim, mask_zero=mask_zero),
        ids,
        dtype=dtype,
        training=training,
        seed=seed,
    )
    assert "torch/dw" in errors or "tensorflow/dw" in errors  # the table's gradient is checked


def test_repeated_ids_accumulate_gradient():
    layer = L.Embedding(4, 2)
    ids = np.array([[1, 1, 3]])
    table = np.arange(8.0).reshape(4, 2)
    dy = np.ones((1, 3, 2))
    dx, (dw,) = layer.reference_backward([table], ids, None, dy)
    np.testing.assert_array_equal(dw, [[0, 0], [2, 2], [0, 0], [1, 1]])
    assert not dx.any()


def test_initializer_is_keras_uniform():
    dl.set_random_seed(0)
    layer = L.Embedding(500, 40)
    dl.Sequential([L.Input((3,), dtype="int32"), layer])
    w = layer.get_weights()[0]
    assert w.shape == (500, 40) and w.dtype == np.float32
    assert -0.05 <= w.min() < -0.049 and 0.049 < w.max() <= 0.05
    assert layer.get_config()["embeddings_initializer"]["config"]["minval"] == -0.05


@both()
def test_mask_zero_produces_mask_on_both_backends():
    ids = np.array([[3, 0, 1, 0], [0, 2, 2, 5]], dtype="int32")
    layer = L.Embedding(6, 3, mask_zero=True)
    assert layer.produces_mask and not L.Embedding(6, 3).produces_mask
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    config.set_floatx("float64")
    outs = {}
    for b in ("torch", "tensorflow"):
        dl.set_random_seed(1)
        emb = L.Embedding(6, 3, mask_zero=True)
        model = dl.Sequential(
            [L.Input((4,), dtype="int32"), emb, L.LayerNormalization(), L.Dropout(0.5)],
            backend=b,
        )
        native = model.native.layers_[0]
        assert np.array_equal(np.asarray(native.compute_mask(_native(b, ids), None)), ids != 0)
        assert native.compute_mask(_native(b, ids), None) is not None
        outs[b] = model.predict(ids, verbose=0)
        ref, _ = reference.forward(model, model.get_weights(), [ids])
        assert_close(
            f"{b} Embedding+LayerNormalization with a mask", outs[b], ref[0], "float64", "forward"
        )
    assert_close("tensorflow vs torch", outs["tensorflow"], outs["torch"], "float64", "forward")


def _native(backend, a):
    if backend == "torch":
        import torch

        return torch.from_numpy(a)
    import tensorflow as tf

    return tf.constant(a)


@both()
def test_fit_trains_the_table_identically():
    config.set_floatx("float64")
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 7, (24, 5)).astype("int64")
    y = rng.standard_normal((24, 5, 2))
    finals = {}
    for b in ("torch", "tensorflow"):
        dl.set_random_seed(2)
        model = dl.Sequential(
            [L.Input((5,), dtype="int64"), L.Embedding(7, 3), L.Dense(2)], backend=b
        )
        init = model.get_weights()
        model.compile(optimizer=dl.optimizers.Adam(0.05), loss="mse")
        model.fit(ids, y, batch_size=6, shuffle=False, verbose=0)
        finals[b] = model.get_weights()
    batches = [(ids[i : i + 6], y[i : i + 6]) for i in range(0, 24, 6)]
    ref, _ = reference.train_steps(
        model, init, dl.optimizers.Adam(0.05), dl.losses.MeanSquaredError(), batches
    )
    for i, r in enumerate(ref):
        for b in ("torch", "tensorflow"):
            assert_close(f"{b} weight {i} after 4 steps", finals[b][i], r, "float64", "params_10")


@pytest.mark.parametrize(
    ("make", "msg"),
    [
        (lambda: L.Embedding(0, 3), "input_dim must be a positive integer"),
        (lambda: L.Embedding(5, -1), "output_dim must be a positive integer"),
        (lambda: L.Embedding(5, 2.5), "output_dim must be a positive integer"),
        (lambda: L.Embedding(5, 2, embeddings_initializer="nope"), "nope"),
        (lambda: L.Embedding(5, 2, lora_rank=4), "lora_rank=4 is not supported"),
    ],
)
def test_config_errors(make, msg):
    with pytest.raises((ConfigError, UnknownNameError), match=msg):
        make()


def test_config_round_trip():
    layer = L.Embedding(10, 4, mask_zero=True)
    cfg = layer.get_config()
    clone = L.Embedding.from_config(cfg)
    assert clone.get_config() == cfg and clone.produces_mask


@pytest.fixture(scope="module")
def keras():
    return importlib.import_module("keras")


def test_matches_keras_with_copied_weights(keras):
    ids = np.random.default_rng(0).integers(0, 11, (4, 6)).astype("int32")
    km = keras.Sequential(
        [keras.Input((6,), dtype="int32"), keras.layers.Embedding(11, 5, mask_zero=True)]
    )
    for b in BACKENDS:
        model = dl.Sequential(
            [L.Input((6,), dtype="int32"), L.Embedding(11, 5, mask_zero=True)], backend=b
        )
        assert set_keras_weights_and_compare(model, km, ids, "float32", "layer") == 0.0


@pytest.mark.parametrize(("name", "kw"), [("GlobalAveragePooling1D", {}), ("LSTM", {"units": 3})])
def test_mask_reaches_consumers_as_in_keras(keras, name, kw):
    """Embedding(mask_zero) -> a mask-consuming layer: padded steps are ignored as in Keras."""
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [1, 2, 3, 1]], "int32")
    km = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(5, 3, mask_zero=True),
            getattr(keras.layers, name)(**kw),
        ]
    )
    for b in BACKENDS:
        model = dl.Sequential(
            [
                L.Input((4,), dtype="int32"),
                L.Embedding(5, 3, mask_zero=True),
                getattr(L, name)(**kw),
            ],
            backend=b,
        )
        set_keras_weights_and_compare(model, km, ids, "float32", "forward")
    # the mask matters: without it the padded steps would change the output
    unmasked = dl.Sequential(
        [L.Input((4,), dtype="int32"), L.Embedding(5, 3), getattr(L, name)(**kw)]
    )
    unmasked.set_weights(km.get_weights())
    assert not np.allclose(unmasked.predict(ids, verbose=0), km.predict(ids, verbose=0))
