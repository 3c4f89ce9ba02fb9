"""Mixed precision across layer families: conv, normalization, pooling, recurrent, attention and
embedding models train under mixed_float16 / mixed_bfloat16 on both engines, keep float32
variables, and predict close to the float32 model with the same weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import duallearn as dl

L = dl.layers


def cnn():
    return [
        L.Input((8, 8, 3)),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.SeparableConv2D(4, 3),
        L.GlobalAveragePooling2D(),
        L.Dense(3),
    ]


def rnn():
    return [
        L.Input((6, 4)),
        L.Conv1D(4, 2, padding="causal"),
        L.LSTM(5, return_sequences=True),
        L.Bidirectional(L.GRU(3, return_sequences=True)),
        L.LayerNormalization(),
        L.SimpleRNN(4),
        L.Dense(3),
    ]


def attention():
    inp = dl.Input((6,), dtype="int32")
    h = L.Embedding(10, 8)(inp)
    h = L.MultiHeadAttention(2, 4)([h, h])
    out = L.Dense(3)(L.GlobalAveragePooling1D()(h))
    return inp, out


def build(kind):
    if kind == "attention":
        inp, out = attention()
        return dl.Model(inp, out)
    return dl.Sequential({"cnn": cnn, "rnn": rnn}[kind]())


@pytest.mark.parametrize("policy, tol", [("mixed_bfloat16", 0.1), ("mixed_float16", 0.02)])
@pytest.mark.parametrize("kind", ["cnn", "rnn", "attention"])
def test_family_trains_under_mixed_policy(backend, kind, policy, tol):
    rng = np.random.default_rng(0)
    x = {
        "cnn": rng.standard_normal((16, 8, 8, 3)),
        "rnn": rng.standard_normal((16, 6, 4)),
        "attention": rng.integers(0, 10, (16, 6)),
    }[kind]
    x = x.astype("int32" if kind == "attention" else "float32")
    y = rng.integers(0, 3, 16)
    reference = build(kind)
    ref_pred = reference.predict(x, verbose=0)
    dl.mixed_precision.set_global_policy(policy)
    try:
        model = build(kind)
        model.set_weights(reference.get_weights())
        pred = model.predict(x, verbose=0)
        model.compile(
            optimizer="adam", loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    finally:
        dl.mixed_precision.set_global_policy("float32")
    assert all(math.isfinite(v) for v in hist.history["loss"])
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert pred.dtype == np.float32
    scale = float(np.abs(ref_pred).max())
    err = float(np.abs(pred - ref_pred).max()) / scale
    assert 0 < err < tol  # low precision is really used, and stays close
