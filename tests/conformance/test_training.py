"""compile / fit / evaluate / predict / save on each installed backend."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError, TrainingError
from duallearn.testing import assert_close


def blobs(n=256, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)) * 3
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, d))).astype("float32")
    return x, y


def mlp(d=8, classes=3, dropout=0.0):
    layers = [dl.layers.Input((d,)), dl.layers.Dense(16, activation="relu")]
    if dropout:
        layers.append(dl.layers.Dropout(dropout))
    layers.append(dl.layers.Dense(classes))
    return dl.Sequential(layers)


def compiled(**kw):
    model = mlp(**kw)
    model.compile(
        optimizer=dl.optimizers.Adam(0.01),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_fit_history_evaluate_predict(backend):
    x, y = blobs()
    model = compiled(dropout=0.1)
    assert model.backend_name == backend
    hist = model.fit(x, y, batch_size=32, epochs=4, validation_split=0.25, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in hist.history.values())
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["val_accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == {"loss": loss, "accuracy": acc}
    probs = model.predict(x, verbose=0)
    assert probs.shape == (256, 3) and probs.dtype == np.float32
    # accuracy is a count over a count: exact
    assert acc == float((probs.argmax(-1) == y).mean())
    # inference does not depend on the batch size (kernels picked by batch shape may round
    # differently: a full-forward tolerance)
    assert_close("predict batch 7 vs 32", model.predict(x, batch_size=7, verbose=0), probs,
                 "float32", "forward")  # fmt: skip


def test_evaluate_loss_matches_numpy_loss(backend):
    x, y = blobs(64)
    model = compiled()
    probs = model.predict(x, verbose=0)
    ref = dl.losses.SparseCategoricalCrossentropy(from_logits=True).reference(
        y, probs.astype(np.float64)
    )
    loss = model.evaluate(x, y, batch_size=64, verbose=0)[0]
    assert_close("evaluate loss vs numpy", loss, float(ref), "float32", "loss")


def test_sample_weight_and_class_weight(backend):
    x, y = blobs(64)
    model = compiled()
    sw = np.where(y == 0, 2.0, 0.5)
    logs = model.evaluate(x, y, sample_weight=sw, batch_size=64, verbose=0, return_dict=True)
    probs = model.predict(x, verbose=0).astype(np.float64)
    ref = dl.losses.SparseCategoricalCrossentropy(from_logits=True).reference(y, probs, sw)
    assert_close("weighted evaluate loss vs numpy", logs["loss"], float(ref), "float32", "loss")
    twin = compiled()
    twin.set_weights(model.get_weights())
    hist = model.fit(
        x,
        y,
        class_weight={0: 2.0, 1: 0.5, 2: 0.5},
        epochs=1,
        verbose=0,
        shuffle=False,
        batch_size=64,
    )
    # one full batch: fit's loss is the weighted loss before the step, and class weights are
    # the per-class sample weights (a twin given them as sample_weight steps identically)
    assert_close("class-weighted fit loss", hist.history["loss"][0], float(ref), "float32", "loss")
    again = twin.fit(x, y, sample_weight=sw, epochs=1, verbose=0, shuffle=False, batch_size=64)
    assert again.history["loss"] == hist.history["loss"]
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match=r"class_weight has no entry for classes \[2\]"):
        model.fit(x, y, class_weight={0: 1.0, 1: 1.0}, epochs=1, verbose=0)


def test_wrong_input_shape_names_layer(backend):
    model = compiled()
    with pytest.raises(
        ShapeError,
        match=r"feeds layer 'dense' \(Dense\), which expects input shape \(None, 8\)\. Received: \(None, 5\)",
    ):
        model.predict(np.zeros((2, 5), "float32"), verbose=0)
    with pytest.raises(ShapeError, match=r"y has 3 samples but x has 4"):
        model.fit(np.zeros((4, 8), "float32"), np.zeros(3, "int64"), verbose=0)


def test_non_finite_loss_stops_training(backend):
    model = dl.Sequential([dl.layers.Input((2,)), dl.layers.Dense(1)])
    model.compile(optimizer=dl.optimizers.SGD(1e30), loss="mse")
    x = np.full((8, 2), 1e30, "float32")
    with pytest.raises(
        TrainingError,
        match=r"Training stopped in epoch 1, batch 0 \(0-based\): the loss was NaN or "
        r"infinite.*lower the learning rate",
    ):
        model.fit(x, np.ones((8, 1), "float32"), epochs=3, verbose=0)


def test_deferred_build_from_data(backend):
    model = dl.Sequential([dl.layers.Dense(4, activation="tanh"), dl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).standard_normal((32, 3)).astype("float32")
    hist = model.fit(x, x.sum(1, keepdims=True), epochs=2, verbose=0)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 1), (1,)]
    assert set(hist.history) == {"loss", "mae"}


def test_save_load_same_backend_continues_training(backend, tmp_path):
    x, y = blobs(128)
    model = compiled()
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "m.dlm"
    model.save(str(path))
    clone = dl.load_model(str(path))
    assert clone.backend_name == backend
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert clone.optimizer.iterations == model.optimizer.iterations == 4
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    clone.fit(x, y, epochs=1, verbose=0, shuffle=False)
    # same weights, optimizer state, backend and batches: bit for bit the same steps
    for a, b in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layer_call_on_arrays(backend):
    layer = dl.layers.Dense(3, activation="relu")
    x = np.random.default_rng(0).standard_normal((4, 2)).astype("float32")
    out = layer(x)
    k, b = layer.get_weights()
    assert_close("Dense(relu) vs numpy", out, np.maximum(x @ k + b, 0), "float32", "layer")


def test_native_module(backend):
    model = compiled()
    native = model.native
    expected = {"torch": "Module", "tensorflow": "Module"}[backend]
    assert any(c.__name__ == expected for c in type(native).__mro__)


def test_metrics_ignore_sample_weight_weighted_metrics_use_it(backend, tmp_path):
    """Keras: `metrics` are unweighted, `weighted_metrics` see sample/class weights; a
    weighted metric whose name is taken is logged as weighted_<name>."""
    x, y = blobs(60)
    model = mlp()
    model.compile(
        optimizer="sgd",
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    sw = np.where(y == 0, 3.0, 0.0)
    logs = model.evaluate(x, y, sample_weight=sw, batch_size=60, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy", "weighted_accuracy"}
    pred = model.predict(x, verbose=0).argmax(-1)
    # counts over counts (float64 in the logs): exact
    assert logs["accuracy"] == float((pred == y).mean())
    assert logs["weighted_accuracy"] == float((pred == y)[y == 0].mean())
    path = tmp_path / "w.dlm"
    model.save(str(path))
    again = dl.load_model(str(path)).evaluate(
        x, y, sample_weight=sw, batch_size=60, verbose=0, return_dict=True
    )
    assert again == logs  # the same weights on the same backend: the same numbers


def _cnn():
    dl.set_random_seed(0)
    m = dl.Sequential(
        [
            dl.layers.Input((12, 12, 3)),
            dl.layers.Conv2D(8, 3, padding="same", activation="relu"),
            dl.layers.MaxPooling2D(),
            dl.layers.BatchNormalization(),
            dl.layers.Flatten(),
            dl.layers.Dense(2),
        ]
    )
    m.compile(dl.optimizers.Adam(0.01), dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


class _PerBatch(dl.callbacks.Callback):
    """Hooks predict batches, so predict takes the one-call-per-batch path."""

    def on_predict_batch_end(self, batch, logs=None):
        pass


def test_results_do_not_depend_on_earlier_batch_sizes(backend):
    """TensorFlow compiles a step with a static batch dimension for the call's batch_size and
    an open one for other sizes; the two may round differently (1 ulp on this CNN), so which
    one a batch takes depends only on the call's arguments: after calls whose first batch was
    small, fit / evaluate / predict give bit-identical results to a fresh model's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 2, 40)
    fresh = _cnn()
    w_init = fresh.get_weights()
    fresh.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    ref = (
        fresh.get_weights(),
        fresh.predict(x, batch_size=16, verbose=0, callbacks=[_PerBatch()]),
        fresh.evaluate(x, y, batch_size=16, verbose=0),
    )
    m = _cnn()
    m.fit(x[:5], y[:5], batch_size=16, epochs=1, verbose=0)  # first batches: 5 samples
    m.predict(x[:5], batch_size=16, verbose=0, callbacks=[_PerBatch()])
    m.evaluate(x[:5], y[:5], batch_size=16, verbose=0)
    m.set_weights(w_init)
    m.compile(dl.optimizers.Adam(0.01), dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), ref[0], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        m.predict(x, batch_size=16, verbose=0, callbacks=[_PerBatch()]), ref[1]
    )
    assert m.evaluate(x, y, batch_size=16, verbose=0) == ref[2]
