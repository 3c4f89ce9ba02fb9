"""dl.utils / dl.preprocessing helpers against real Keras 3 (values, shapes, dtypes)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError, DuallearnError

keras = importlib.import_module("keras")  # the oracle (in the test extra; never absent in CI)


def _same(ours: np.ndarray, theirs: object) -> None:
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "ids, num_classes",
    [
        ([0, 2, 1, 2], None),
        ([[0], [3], [1]], None),  # trailing axis of 1 dropped, as Keras
        ([[0, 1], [2, 0]], 4),  # 2-D ids keep their shape
        (np.array([1, 0], dtype="int8"), 5),
        (np.array([2.0, 0.0]), None),  # integral floats are ids
    ],
)
def test_to_categorical_matches_keras(ids, num_classes):
    _same(
        dl.utils.to_categorical(ids, num_classes),
        keras.utils.to_categorical(np.asarray(ids), num_classes),
    )


@given(st.lists(st.integers(0, 6), min_size=1, max_size=20), st.integers(0, 3))
def test_to_categorical_drawn(ids, extra):
    n = max(ids) + 1 + extra
    _same(dl.utils.to_categorical(ids, n), keras.utils.to_categorical(np.array(ids), n))


def test_to_categorical_refuses_ids_outside_the_classes():
    with pytest.raises(ConfigError, match=r"class ids in \[0, 3\)\. Received \[-1\]"):
        dl.utils.to_categorical([0, -1, 2], 3)  # Keras silently marks class 2 here
    with pytest.raises(ConfigError, match=r"Received \[5\]"):
        dl.utils.to_categorical([5], 3)
    with pytest.raises(ConfigError, match="integer class ids"):
        dl.utils.to_categorical([0.5, 1.0])


@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1), (-1, np.inf), (None, 2)])
def test_normalize_matches_keras(axis, order):
    x = np.random.default_rng(3).standard_normal((4, 5))
    x[2] = 0.0  # a zero row: divided by 1
    _same(dl.utils.normalize(x, axis, order), keras.utils.normalize(x, axis, order))


def test_normalize_along_axis_0_where_keras_raises():
    x = np.random.default_rng(4).standard_normal((4, 5))
    with pytest.raises(ValueError, match="broadcast"):
        keras.utils.normalize(x, 0, 2)  # Keras 3: `axis or -1` turns 0 into -1
    got = dl.utils.normalize(x, 0, 2)
    np.testing.assert_allclose(np.linalg.norm(got, axis=0), np.ones(5), rtol=1e-15)
    np.testing.assert_allclose(got, x / np.linalg.norm(x, axis=0, keepdims=True), rtol=1e-15)


CASES = [
    ([[1, 2, 3], [4, 5], [6]], {}),
    ([[1, 2, 3], [4, 5], [6]], {"maxlen": 2}),
    ([[1, 2, 3], [4, 5], [6]], {"maxlen": 2, "truncating": "post"}),
    ([[1, 2, 3], [4, 5], [6]], {"maxlen": 4, "padding": "post", "value": -1}),
    ([[1, 2, 3], [], [6]], {"dtype": "float32", "value": 0.5}),
    ([[[1, 2], [3, 4]], [[5, 6]]], {}),  # items with a shape
    ([["a", "b"], ["c"]], {"dtype": object, "value": "<pad>"}),
]


@pytest.mark.parametrize("seqs, kw", CASES)
def test_pad_sequences_matches_keras(seqs, kw):
    ours = dl.utils.pad_sequences(seqs, **kw)
    _same(ours, keras.utils.pad_sequences(seqs, **kw))
    # the older spelling is the same function
    _same(dl.preprocessing.sequence.pad_sequences(seqs, **kw), ours)
    _same(ours, keras.preprocessing.sequence.pad_sequences(seqs, **kw))


@given(
    st.lists(st.lists(st.integers(1, 9), max_size=6), min_size=1, max_size=6),
    st.one_of(st.none(), st.integers(1, 7)),
    st.sampled_from(["pre", "post"]),
    st.sampled_from(["pre", "post"]),
)
def test_pad_sequences_drawn(seqs, maxlen, padding, truncating):
    kw = {"maxlen": maxlen, "padding": padding, "truncating": truncating}
    if maxlen is None and not any(seqs):
        kw["maxlen"] = 1  # Keras: max of lengths 0 gives an empty array; kept for both below
    _same(dl.utils.pad_sequences(seqs, **kw), keras.utils.pad_sequences(seqs, **kw))


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ([[1], [2]], {"padding": "middle"}, r"padding must be 'pre' or 'post'\. Received"),
        ([[1], [2]], {"truncating": "x"}, r"truncating must be 'pre' or 'post'"),
        ([[1], 2], {}, r"Received an item 2 of type int"),
        ([["a"]], {"value": "x"}, r"dtype=object"),
        ([[[1, 2]], [[1, 2, 3]]], {}, r"sequence 1 have shape \(3,\)"),
    ],
)
def test_pad_sequences_errors_say_the_fix(args, kw, match):
    with pytest.raises(DuallearnError, match=match) as info:
        dl.utils.pad_sequences(args, **kw)
    assert isinstance(info.value, ValueError)  # Keras raises ValueError for each of these


def test_one_hot_labels_train_on_each_backend():
    """to_categorical's float64 rows feed categorical_crossentropy on every engine."""
    from ..conftest import BACKENDS

    y = dl.utils.to_categorical(np.arange(8) % 3)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    losses = {}
    for be in BACKENDS:
        dl.set_random_seed(0)
        with dl.use_backend(be):
            m = dl.Sequential([dl.Input((4,)), dl.layers.Dense(3, activation="softmax")])
            m.compile("sgd", "categorical_crossentropy")
            losses[be] = m.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False).history[
                "loss"
            ]
    for be, h in losses.items():
        np.testing.assert_allclose(h, losses[BACKENDS[0]], rtol=1e-5, err_msg=be)
        assert h[1] < h[0]
