"""Preprocessing layers in ``tf.data`` pipelines (``dataset.map(layer)``), as Keras allows.

Oracles: the same layer called on numpy arrays (ours), and real Keras 3's layer mapped over the
same ``tf.data`` pipeline. Runs whichever duallearn backend is active (the pipeline is
TensorFlow's either way).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS

tf = pytest.importorskip("tensorflow")  # tf.data itself (backend not installed: skipped)
keras = importlib.import_module("keras")

IMAGES = np.random.default_rng(0).uniform(0, 255, (6, 12, 10, 3)).astype("float32")
TEXTS = ["the cat sat", "a dog ran far", "the dog sat", "cats and dogs", "far far away", "a cat"]

IMAGE_CASES = [
    ("Rescaling", lambda lib: lib.layers.Rescaling(1 / 127.5, offset=-1)),
    ("Resizing", lambda lib: lib.layers.Resizing(6, 5)),
    ("CenterCrop", lambda lib: lib.layers.CenterCrop(8, 8)),
    ("Normalization", lambda lib: lib.layers.Normalization(mean=100.0, variance=400.0)),
]


def _mapped(layer, data, batch=4, **call):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch)
    return np.concatenate([np.asarray(b) for b in ds.map(lambda b: layer(b, **call))])


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name, make", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_image_layer_in_tf_data_equals_arrays_and_keras(name, make, backend_name):
    with dl.use_backend(backend_name):
        ours = make(dl)
        piped = _mapped(ours, IMAGES)
        direct = np.asarray(make(dl)(IMAGES))
    theirs = _mapped(make(keras), IMAGES)
    assert piped.shape == direct.shape == theirs.shape
    assert_close(f"{name} tf.data vs arrays", piped, direct, "float32", "layer")
    assert_close(f"{name} tf.data vs Keras", piped, theirs, "float32", "layer")


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_random_layers_in_tf_data_are_seeded_and_identity_at_inference(backend_name):
    with dl.use_backend(backend_name):
        runs = [
            _mapped(dl.layers.RandomRotation(0.2, seed=5), IMAGES, training=True) for _ in range(2)
        ]
        still = _mapped(dl.layers.RandomRotation(0.2, seed=5), IMAGES, training=False)
        flipped = _mapped(dl.layers.RandomFlip("horizontal", seed=1), IMAGES, training=True)
    np.testing.assert_array_equal(runs[0], runs[1])  # the same seed, the same augmented data
    assert not np.allclose(runs[0], IMAGES)  # it augmented
    np.testing.assert_array_equal(still, IMAGES)  # identity at inference, as Keras
    for got, img in zip(flipped, IMAGES, strict=True):  # each image unchanged or mirrored
        assert np.array_equal(got, img) or np.array_equal(got, img[:, ::-1])


TEXT_CASES = [
    ("TextVectorization-int", lambda lib: lib.layers.TextVectorization(output_sequence_length=5)),
    (
        "TextVectorization-multi_hot",
        lambda lib: lib.layers.TextVectorization(output_mode="multi_hot"),
    ),
    ("TextVectorization-tf_idf", lambda lib: lib.layers.TextVectorization(output_mode="tf_idf")),
]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name, make", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_layer_in_tf_data_equals_arrays_and_keras(name, make, backend_name):
    with dl.use_backend(backend_name):
        ours = make(dl)
        ours.adapt(TEXTS)
        piped = _mapped(ours, TEXTS, batch=3)
        direct = np.asarray(ours(np.array(TEXTS)))
    theirs_layer = make(keras)
    theirs_layer.adapt(TEXTS)
    theirs = _mapped(theirs_layer, TEXTS, batch=3)
    assert piped.shape == direct.shape == theirs.shape
    assert_close(f"{name} tf.data vs arrays", piped, direct, "float32", "layer")
    assert_close(f"{name} tf.data vs Keras", piped, theirs, "float32", "layer")


def test_lookup_hashing_and_discretization_in_tf_data():
    words = np.array([["cat"], ["dog"], ["emu"], ["cat"]])
    lookup = dl.layers.StringLookup(vocabulary=["cat", "dog"])
    klookup = keras.layers.StringLookup(vocabulary=["cat", "dog"])
    np.testing.assert_array_equal(_mapped(lookup, words, 2), _mapped(klookup, words, 2))
    hashing, khashing = dl.layers.Hashing(7), keras.layers.Hashing(7)
    np.testing.assert_array_equal(_mapped(hashing, words, 2), _mapped(khashing, words, 2))
    values = np.array([[0.1], [1.5], [2.7], [-3.0]], "float32")
    disc = dl.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    kdisc = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    np.testing.assert_array_equal(_mapped(disc, values, 2), _mapped(kdisc, values, 2))


def test_a_layer_returning_strings_is_refused_in_tf_data():
    inverse = dl.layers.StringLookup(vocabulary=["cat", "dog"], invert=True)
    ds = tf.data.Dataset.from_tensor_slices(np.array([1, 2], "int64")).batch(2)
    # tf.data wraps errors raised while it traces the function (StagingError): our message
    with pytest.raises(Exception, match="ConfigError: .*returns strings.*inside a tf.data"):
        ds.map(inverse)
