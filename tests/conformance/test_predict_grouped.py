"""``predict`` on in-memory arrays computes groups of batches per runtime call
(``Runtime.predict_many``; TensorFlow loops over the batches inside one ``tf.function``): the
outputs are bit-identical to the one-call-per-batch path (taken when a callback hooks predict
batches), for several inputs and outputs, Keras masks, recurrent, convolution and BatchNorm
layers and mixed precision, with a last partial batch and with several groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

import duallearn as dl
from duallearn import config
from duallearn.models import _training
from duallearn.testing import assert_close

L = dl.layers


class BatchHook(dl.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_predict_batch_begin(self, batch, logs=None):
        self.batches += 1


def _mlp_bn():
    return dl.Sequential([L.Input((6,)), L.Dense(12), L.BatchNormalization(), L.Dense(3)])


def _two_in_two_out():
    a = L.Input((5,), name="a")
    t = L.Input((7,), dtype="int64", name="t")
    h = L.LSTM(6)(L.Embedding(20, 4, mask_zero=True)(t))
    h = L.Concatenate()([h, L.Dense(4)(a)])
    return dl.Model([a, t], [L.Dense(2)(h), L.Dense(1, activation="sigmoid")(h)])


def _conv():
    return dl.Sequential(
        [L.Input((8, 8, 2)), L.Conv2D(3, 3), L.MaxPooling2D(), L.Flatten(), L.Dense(2)]
    )


def _data(name, n, rng):
    if name == "two_in_two_out":
        t = rng.integers(0, 20, (n, 7))
        t[:, 5:] = 0  # padded tails: a Keras mask reaches the LSTM
        return [rng.normal(size=(n, 5)).astype("float32"), t]
    shape = (n, 8, 8, 2) if name == "conv" else (n, 6)
    return rng.normal(size=shape).astype("float32")


MODELS = {"mlp_bn": _mlp_bn, "two_in_two_out": _two_in_two_out, "conv": _conv}


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("name", list(MODELS))
def test_grouped_predict_equals_per_batch_predict(backend, name, policy, monkeypatch):
    n, bs = 23, 5
    x = _data(name, n, np.random.default_rng(0))
    hook = BatchHook()
    # a model takes the global policy when its runtime is built: at its first predict
    config.set_dtype_policy(policy)
    try:
        m = MODELS[name]()
        per_batch = m.predict(x, batch_size=bs, verbose=0, callbacks=[hook])
    finally:
        config.set_dtype_policy("float32")
    assert hook.batches == math.ceil(n / bs)
    assert m.dtype_policy.name == policy
    if policy != "float32":  # really computed in bfloat16: off the float32 twin by its rounding
        twin = MODELS[name]()
        twin.set_weights(m.get_weights())
        want = twin.predict(x, batch_size=bs, verbose=0)
        assert twin.dtype_policy.name == "float32"
        for got, ref in zip(*(v if isinstance(v, list) else [v] for v in (per_batch, want)),
                            strict=True):  # fmt: skip
            assert got.dtype == ref.dtype == np.float32  # outputs return in float32
            assert not np.array_equal(got, ref), f"{name}: {policy} gave the float32 numbers"
            assert_close(f"{name} {policy} vs float32", got, ref, "float32", policy)
    row = sum(a[:1].nbytes for a in (x if isinstance(x, list) else [x]))
    # one group, one batch per group, two batches per group (the last group partial)
    for group_bytes in (_training.PREDICT_GROUP_BYTES, 1, 2 * bs * row):
        monkeypatch.setattr(_training, "PREDICT_GROUP_BYTES", group_bytes)
        grouped = m.predict(x, batch_size=bs, verbose=0)
        outs = grouped if isinstance(grouped, list) else [grouped]
        refs = per_batch if isinstance(per_batch, list) else [per_batch]
        assert len(outs) == len(refs)
        for o, r in zip(outs, refs, strict=True):
            assert o.shape[0] == n and o.dtype == r.dtype
            np.testing.assert_array_equal(o, r)


def test_grouped_predict_counts_every_batch_in_the_progress_bar(backend, monkeypatch, capsys):
    """The progress bar advances by every batch of a group: ``step(last batch, n=batches)``."""
    import duallearn.models._progress as progress

    counts = []
    real = progress.Progress.step

    def step(self, batch, logs, n=1):
        counts.append((batch, n))
        return real(self, batch, logs, n)

    monkeypatch.setattr(progress.Progress, "step", step)
    monkeypatch.setattr(_training, "PREDICT_GROUP_BYTES", 2 * 4 * 6 * 4)  # two batches of 4
    m = _mlp_bn()
    m.predict(np.zeros((11, 6), "float32"), batch_size=4, verbose=0)
    assert counts == [(1, 2), (2, 1)]  # batches 0-1, then batch 2 (3 rows)
