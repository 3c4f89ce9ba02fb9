"""Every data source trains on every backend, with the same History for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError, TrainingError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, need_backends
from ._training_utils import data, model

X, Y = data(40)
XV, YV = data(16, seed=1)


class Seq:
    """A Keras PyDataset / Sequence-style source."""

    def __init__(self, x, y, batch):
        self.x, self.y, self.batch, self.epochs = x, y, batch, 0

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, i):
        s = slice(i * self.batch, (i + 1) * self.batch)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs += 1


def _forever(x, y, batch):
    while True:
        for i in range(0, len(x), batch):
            yield x[i : i + batch], y[i : i + batch]


def _source(kind: str, x, y, batch: int = 16, train: bool = True):
    if kind == "arrays":
        return (x, y) if not train else ((x, y), {})
    if kind == "dict":
        return ({"features": x}, y) if not train else (({"features": x}, y), {})
    if kind == "dl.data":
        ds = dl.data.Dataset.from_tensor_slices((x, y))
        if train:
            ds = ds.shuffle(seed=3).map(lambda a, b: (a * 2.0, b))
        else:
            ds = ds.map(lambda a, b: (a * 2.0, b))
        return ds.batch(batch).prefetch(2) if not train else (ds.batch(batch).prefetch(2), {})
    if kind == "torch":
        torch = pytest.importorskip("torch")
        tds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        g = torch.Generator().manual_seed(5)
        loader = torch.utils.data.DataLoader(tds, batch_size=batch, shuffle=train, generator=g)
        return loader if not train else (loader, {})
    if kind == "tf.data":
        tf = pytest.importorskip("tensorflow")
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if train:
            ds = ds.shuffle(64, seed=5, reshuffle_each_iteration=True)
        ds = ds.batch(batch).prefetch(2)
        return ds if not train else (ds, {})
    if kind == "generator":
        gen = _forever(x, y, batch)
        return gen if not train else (gen, {"steps_per_epoch": 3})
    if kind == "sequence":
        seq = Seq(x, y, batch)
        return seq if not train else (seq, {})
    raise AssertionError(kind)


KINDS = ["arrays", "dict", "dl.data", "torch", "tf.data", "generator", "sequence"]


def _history(backend: str, kind: str) -> tuple[dict, np.ndarray, float]:
    with dl.use_backend(backend):
        dl.set_random_seed(7)
        m = model()
        src, kw = _source(kind, X, Y)
        if kind in ("arrays", "dict"):
            h = m.fit(*src, batch_size=16, epochs=2, verbose=0, validation_data=(XV, YV), **kw)
        else:
            val = _source(kind if kind != "generator" else "sequence", XV, YV, train=False)
            h = m.fit(src, epochs=2, verbose=0, validation_data=val, **kw)
        ev = m.evaluate(_source("sequence", XV, YV, train=False), verbose=0)
        pred = m.predict(_source("dl.data", XV, YV, train=False), verbose=0)
        return h.history, pred, ev[0]


@need_backends("torch", "tensorflow")
@pytest.mark.parametrize("kind", KINDS)
def test_same_history_on_both_backends(kind):
    results = {be: _history(be, kind) for be in BACKENDS}
    (h_t, p_t, e_t), (h_f, p_f, e_f) = results["torch"], results["tensorflow"]
    assert sorted(h_t) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(h_t["loss"]) == 2
    for key in h_t:
        assert_close(f"{kind} {key}", h_f[key], h_t[key], "float32", "params_10")
    assert_close(f"{kind} predict", p_f, p_t, "float32", "params_10")
    assert_close(f"{kind} evaluate", e_f, e_t, "float32", "params_10")


def test_dl_data_order_depends_only_on_seed_and_epoch():
    ds = dl.data.Dataset.from_tensor_slices(np.arange(10)).shuffle(seed=1).batch(4)
    e0 = [b.tolist() for b in ds.iterate(0)]
    assert [b.tolist() for b in ds.iterate(0)] == e0
    assert sorted(sum(e0, [])) == list(range(10)) and [len(b) for b in e0] == [4, 4, 2]
    assert [b.tolist() for b in ds.iterate(1)] != e0
    assert [b.tolist() for b in iter(ds)] == e0  # iter() counts epochs from 0
    assert len(ds) == 3 and len(ds.take(2)) == 2
    assert len(dl.data.Dataset.from_tensor_slices(np.arange(10)).batch(4, True)) == 2
    with pytest.raises(ConfigError, match="shuffle must come before batch"):
        dl.data.Dataset.from_tensor_slices(np.arange(10)).batch(2).shuffle(seed=0)


class KerasPyDataset(Seq):
    """Keras 3's PyDataset exposes num_batches (its __len__ may be absent)."""

    num_batches = 2


def test_sequence_epoch_end_and_steps(backend):
    m = model()
    m.fit(KerasPyDataset(X, Y, 16), epochs=1, verbose=0)
    assert m.optimizer.iterations == 2

    seq = Seq(X, Y, 16)
    m = model()
    h = m.fit(seq, epochs=3, verbose=0)
    assert seq.epochs == 3 and m.optimizer.iterations == 9
    m.fit(seq, epochs=1, steps_per_epoch=2, verbose=0)
    assert m.optimizer.iterations == 11
    assert len(h.history["loss"]) == 3


def test_sample_and_class_weight_initial_epoch_validation_freq(backend):
    # sample weights 2 everywhere = class weights 2 for both classes = weighted loss x2
    a = model()
    b = model()
    b.set_weights(a.get_weights())
    la = a.evaluate(X, Y, sample_weight=np.full(len(X), 2.0), verbose=0)[0]
    lb = b.evaluate(X, Y, verbose=0)[0]
    # weights of 2 scale every term by a power of two, which is exact in binary floating point
    assert la == 2 * lb
    h1 = a.fit(X, Y, sample_weight=np.full(len(X), 2.0), epochs=1, shuffle=False, verbose=0)
    h2 = b.fit(X, Y, class_weight={0: 2.0, 1: 2.0}, epochs=1, shuffle=False, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]  # the same per-sample weights either way
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    m = model()
    h = m.fit(X, Y, epochs=5, initial_epoch=2, validation_split=0.25, validation_freq=2, verbose=0)
    assert h.epoch == [2, 3, 4]
    assert len(h.history["loss"]) == 3 and len(h.history["val_loss"]) == 1  # epoch 3 (0-based)
    assert m.optimizer.iterations == 3  # 30 training samples: one batch per epoch


def test_generators_for_training_and_validation_are_read_in_order(backend):
    seen = []

    def numbered(start):
        i = start
        while True:
            seen.append(i)
            yield X[:8] + i, Y[:8]
            i += 1

    m = model()
    h = m.fit(
        numbered(0),
        steps_per_epoch=2,
        epochs=3,
        verbose=0,
        validation_data=numbered(1000),
        validation_steps=2,
    )
    assert len(h.history["val_loss"]) == 3
    train = [i for i in seen if i < 1000]
    val = [i for i in seen if i >= 1000]
    assert train[:6] == list(range(6)) and val[:6] == list(range(1000, 1006))
    # one prefetching reader per generator for the whole fit: at most 3 batches read ahead
    # (one in flight + a queue of 2) in total, none dropped between epochs
    assert len(train) <= 6 + 3 and len(val) <= 6 + 3


def test_bad_inputs_fail_clearly(backend):
    m = model()

    def broken():
        for i in range(5):
            if i == 3:
                raise KeyError("record 51 is corrupt")
            yield X[:8], Y[:8]

    with pytest.raises(
        TrainingError, match=r"raised KeyError while producing batch 3 .*epoch 1.*corrupt"
    ):
        m.fit(broken(), epochs=1, verbose=0)
    with pytest.raises(ShapeError, match="sample_weight has 39 samples but x has 40"):
        m.fit(X, Y, sample_weight=np.ones(39), verbose=0)
    with pytest.raises(ConfigError, match=r"class_weight has no entry for classes \[1\]"):
        m.fit(X, Y, class_weight={0: 1.0}, verbose=0)
    ds = dl.data.Dataset.from_tensor_slices((X, Y)).batch(16)
    with pytest.raises(ConfigError, match="ran out after 3 batches in epoch 1, but steps=5"):
        m.fit(ds, steps_per_epoch=5, verbose=0)
    gen = (b for b in [(X[:8], Y[:8])] * 2)
    with pytest.raises(ConfigError, match="produced no batches in epoch 2"):
        m.fit(gen, epochs=2, verbose=0)
    with pytest.raises(ConfigError, match="y must be None when x is a dl.data source"):
        m.fit(ds, Y, verbose=0)
    with pytest.raises(ConfigError, match="validation_split is only supported for array"):
        m.fit(ds, validation_split=0.2, verbose=0)
    with pytest.raises(ConfigError, match="inputs without targets"):
        m.fit(dl.data.Dataset.from_tensor_slices(X).batch(8), verbose=0)
    with pytest.raises(ConfigError, match="Unsupported data type"):
        m.fit(object(), verbose=0)
