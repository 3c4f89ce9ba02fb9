"""Mixed precision across layer families: conv, normalization, pooling, recurrent, attention and
embedding models train under mixed_float16 / mixed_bfloat16 on both engines, keep float32
variables, and predict close to the float32 model with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

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


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("kind", ["cnn", "rnn", "attention"])
def test_family_trains_under_mixed_policy(backend, kind, policy):
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
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        trained_pred = model.predict(x, verbose=0)
        trained_loss = model.evaluate(x, y, verbose=0)
    finally:
        dl.mixed_precision.set_global_policy("float32")
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert pred.dtype == np.float32
    assert_close(f"{kind} {policy} vs float32", pred, ref_pred, "float32", policy)
    assert np.abs(pred - ref_pred).max() > 0  # low precision is really used
    # after training: the float32 model with the trained weights agrees, and so does the loss
    # evaluate() reports (cross-entropy moves at most 2x the logits' error: scale max|logits|)
    twin = build(kind)
    twin.set_weights(model.get_weights())
    logits = twin.predict(x, verbose=0)
    assert_close(f"trained {kind} {policy} vs float32", trained_pred, logits, "float32", policy)
    ref_loss = dl.losses.SparseCategoricalCrossentropy(from_logits=True).reference(
        y, logits.astype(np.float64)
    )
    assert_close(f"trained {kind} {policy} loss", trained_loss, float(ref_loss), "float32", policy,
                 scale=float(np.abs(logits).max()))  # fmt: skip
