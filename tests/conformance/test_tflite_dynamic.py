"""TF Lite exports keep an open batch dimension (as a Keras-exported model does): the TF Lite
interpreter resizes the input to batch 1, 3 and 7 and the outputs match ``model.predict``,
for an MLP, a CNN (which XNNPack refused to reshape when the batch was fixed), recurrent
models (LSTM, stacked GRU/SimpleRNN with Bidirectional, a masked Embedding → LSTM), and an
LSTM over a variable number of time steps. Each model is trained on the *other* framework
when both are installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close
from tests.conftest import BACKENDS

pytestmark = pytest.mark.skipif(
    "tensorflow" not in BACKENDS, reason="TF Lite export needs the tensorflow framework"
)
L = dl.layers
SOURCE = next((b for b in BACKENDS if b != "tensorflow"), "tensorflow")


def _build(name: str) -> dl.Model:
    if name == "mlp":
        return dl.Sequential(
            [dl.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")]
        )
    if name == "cnn":
        return dl.Sequential(
            [
                dl.Input((8, 8, 2)),
                L.Conv2D(4, 3, padding="same", activation="relu"),
                L.BatchNormalization(),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dense(3),
            ]
        )
    if name == "lstm":
        return dl.Sequential([dl.Input((5, 3)), L.LSTM(4), L.Dense(2)])
    if name == "rnn_stack":
        return dl.Sequential(
            [
                dl.Input((5, 3)),
                L.Bidirectional(L.GRU(4, return_sequences=True)),
                L.SimpleRNN(3, go_backwards=True),
                L.Dense(2),
            ]
        )
    if name == "masked_ids":
        return dl.Sequential(
            [
                dl.Input((6,), dtype="int32"),
                L.Embedding(10, 4, mask_zero=True),
                L.LSTM(3, return_sequences=True),
                L.LSTM(2),
            ]
        )
    assert name == "variable_time"
    return dl.Sequential([dl.Input((None, 3)), L.LSTM(4, return_sequences=True), L.Dense(2)])


def _data(model: dl.Model, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (batch, *[4 + batch if s is None else s for s in model.inputs[0].shape[1:]])
    if model.inputs[0].dtype == "int32":
        ids = rng.integers(1, 10, shape).astype("int32")
        ids[:, : batch % 3] = 0  # leading padding, a different amount per batch size
        return ids
    return rng.standard_normal(shape).astype("float32")


def _trained(name: str) -> dl.Model:
    with dl.use_backend(SOURCE):
        dl.set_random_seed(11)
        model = _build(name)
        x = _data(model, 8, 0)
        y = np.asarray(model.predict(x, verbose=0))
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y + 0.1, epochs=2, batch_size=4, verbose=0)
    return model


def _interpreter(path: str):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return tf.lite.Interpreter(model_path=path)


@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm", "rnn_stack", "masked_ids", "variable_time"])
def test_tflite_resizes_to_any_batch(tmp_path, name):
    model = _trained(name)
    path = str(tmp_path / f"{name}.tflite")
    result = model.export(path, format="tflite")
    assert result.passed and result.probe_shapes[0][0] == 3
    interp = _interpreter(path)
    (detail,) = interp.get_input_details()
    assert detail["shape_signature"][0] == -1, detail["shape_signature"]  # open batch
    want_sig = [-1 if s is None else s for s in model.inputs[0].shape]
    assert list(detail["shape_signature"]) == want_sig
    for batch in (1, 3, 7):
        x = _data(model, batch, seed=batch)
        interp.resize_tensor_input(detail["index"], x.shape)
        interp.allocate_tensors()
        interp.set_tensor(detail["index"], x)
        interp.invoke()
        out = interp.get_tensor(interp.get_output_details()[0]["index"])
        ref = np.asarray(model.predict(x, verbose=0))
        assert out.shape == ref.shape
        assert_close(f"tflite {name} b={batch}", out, ref, "float32", "forward")


def test_tflite_signature_runner_takes_other_batches(tmp_path):
    """The signature runner (what docs/export.md shows) resizes by itself."""
    model = _trained("cnn")
    path = str(tmp_path / "cnn.tflite")
    model.export(path, format="tflite")
    runner = _interpreter(path).get_signature_runner("serving_default")
    for batch in (1, 7):
        x = _data(model, batch, seed=10 + batch)
        (out,) = runner(**{runner.get_input_details().popitem()[0]: x}).values()
        assert_close(f"tflite runner b={batch}", out, model.predict(x, verbose=0), "float32",
                     "forward")  # fmt: skip
