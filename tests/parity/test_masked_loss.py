"""Keras folds an output's mask into the loss and metric weights (``apply_mask``): masked
time steps weigh nothing and the mean runs over the valid ones. Same on both backends."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def tagger(lib):
    L = lib.layers
    inp = lib.Input((6,), dtype="int32")
    h = L.Embedding(12, 5, mask_zero=True)(inp)
    h = L.LSTM(4, return_sequences=True)(h)
    out = L.Dense(3)(h)
    return lib.Model(inp, out)


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 12, (10, 6)).astype("int32")
    lengths = rng.integers(1, 7, 10)
    for i, n in enumerate(lengths):
        x[i, n:] = 0  # padding the mask hides
    y = rng.integers(0, 3, (10, 6))
    return x, y


@pytest.mark.parametrize("weighted", [False, True])
def test_masked_sequence_loss_and_accuracy_match_keras(backend, weighted):
    x, y = data()
    sw = np.linspace(0.5, 2.0, 60).reshape(10, 6) if weighted else None
    km = tagger(keras)
    km.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    ours = tagger(dl)
    ours.set_weights(km.get_weights())
    ours.compile(
        optimizer="adam",
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    expected = km.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert got["accuracy"] == pytest.approx(expected["accuracy"], rel=1e-6)
    # and the loss really ignores padded steps: changing their targets changes nothing
    y2 = np.where(x == 0, (y + 1) % 3, y)
    again = ours.evaluate(x, y2, sample_weight=sw, batch_size=10, verbose=0, return_dict=True)
    assert again["loss"] == pytest.approx(got["loss"], rel=1e-6)
    assert again["accuracy"] == pytest.approx(got["accuracy"], rel=1e-9)


def test_masked_training_matches_keras_fit(backend):
    """SGD, not Adam: Keras-on-TensorFlow squares the *per-occurrence* rows of an Embedding's
    IndexedSlices gradient (ops.square on IndexedSlices) before duplicates are summed, so its
    Adam/RMSprop second moment for embeddings differs from the dense formula that duallearn
    (and Keras on torch) use. Recorded in docs/optimizers.md."""
    x, y = data(1)
    km = tagger(keras)
    km.compile(
        optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    ours = tagger(dl)
    ours.set_weights(km.get_weights())
    ours.compile(
        optimizer=dl.optimizers.SGD(0.5, momentum=0.9),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    kh = km.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    oh = ours.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(oh.history["loss"], kh.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _sgd_run(lib, model, loss, x, y, train):
    model.compile(optimizer=lib.optimizers.SGD(0.5), loss=loss)
    before = model.evaluate(x, y, batch_size=5, verbose=0)
    if not train:
        return np.array([before])
    history = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    after = model.evaluate(x, y, batch_size=5, verbose=0)
    return np.array([before, *history.history["loss"], after])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ignore_class", [None, 1])
def test_output_mask_with_ignore_class_matches_keras_fit_and_evaluate(backend, ignore_class, dtype):
    """Keras combines the output's mask with ignore_class's (``in_mask & out_mask``) and
    rescales the weights once by total/valid with divide_no_nan: evaluate, the fit History
    and evaluate after it equal Keras's (float32). In float64, evaluate alone, at the loss
    row's 1e-12: it catches a ``valid + 1e-7`` divisor (relative error 1e-7/valid) that
    float32 cannot see (training trajectories drift ~1e-9 apart in float64 over two epochs
    of SGD, Keras's float64 LSTM rounding its own way)."""
    x, y = data(1)
    x[0, 1:] = 0  # a sequence with one valid step
    train = dtype == "float32"
    loss_args = {"from_logits": True, "ignore_class": ignore_class}
    keras.config.set_floatx(dtype)  # the policy too: Keras caches its first one
    keras.config.set_dtype_policy(dtype)
    try:
        km = tagger(keras)
        w0 = km.get_weights()
        want = _sgd_run(
            keras, km, keras.losses.SparseCategoricalCrossentropy(**loss_args), x, y, train
        )
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")
    assert w0[0].dtype == dtype, f"Keras built {w0[0].dtype} weights, not {dtype}"
    dl.config.set_floatx(dtype)
    ours = tagger(dl)
    ours.set_weights(w0)
    got = _sgd_run(dl, ours, dl.losses.SparseCategoricalCrossentropy(**loss_args), x, y, train)
    assert_close(
        f"masked tagger, ignore_class={ignore_class}, {dtype} on {backend}: "
        + ("evaluate, fit History, evaluate" if train else "evaluate")
        + " vs Keras",
        got,
        want,
        dtype,
        "loss" if dtype == "float64" else "forward",
    )
