"""``dl.utils.PyDataset`` / ``Sequence``: Keras 3's class, checked beside real Keras 3.

- training on a PyDataset (in order) equals training on the same arrays, and Keras's fit on a
  ``keras.utils.PyDataset`` holding the same batches after ``set_weights``;
- the epoch hooks are called as Keras calls them (the sequences are recorded from real Keras);
- ``shuffle=True`` reads the batches in a seeded order: the same on both backends, another one
  per epoch, every batch once, and restored exactly by a resumed run's state;
- ``workers`` (threads, or processes with ``use_multiprocessing``) change nothing in the
  numbers; bad constructor arguments are clear errors.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, need_backends
from ._training_utils import data

X, Y = data(40)


class Batches(dl.utils.PyDataset):
    """Batches of in-memory arrays, recording which batches were read and the epoch hooks."""

    def __init__(self, x, y, batch, log=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch = x, y, batch
        self.log = log if log is not None else []

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, i):
        self.log.append(i)
        s = slice(i * self.batch, (i + 1) * self.batch)
        return self.x[s], self.y[s]

    def on_epoch_begin(self):
        self.log.append("begin")

    def on_epoch_end(self):
        self.log.append("end")


def _model(seed: int = 0) -> dl.Model:
    dl.set_random_seed(seed)
    m = dl.Sequential([
        dl.Input((4,)), dl.layers.Dense(8, activation="tanh"), dl.layers.Dense(2)
    ])  # fmt: skip
    m.compile(dl.optimizers.SGD(0.1), dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def test_pydataset_in_order_equals_arrays(backend):
    a = _model()
    a.fit(Batches(X, Y, 8), epochs=2, shuffle=False, verbose=0)
    b = _model()
    b.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_pydataset_fit_and_hooks_match_keras(backend):
    keras = importlib.import_module("keras")

    class KBatches(keras.utils.PyDataset):
        def __init__(self, x, y, batch, log, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch, self.log = x, y, batch, log

        def __len__(self):
            return -(-len(self.x) // self.batch)

        def __getitem__(self, i):
            s = slice(i * self.batch, (i + 1) * self.batch)
            return self.x[s], self.y[s]

        def on_epoch_begin(self):
            self.log.append("begin")

        def on_epoch_end(self):
            self.log.append("end")

    ours = _model()
    w0 = ours.get_weights()
    log: list = []
    val_log: list = []
    ours.fit(
        Batches(X, Y, 8, log), epochs=2, shuffle=False, verbose=0,
        validation_data=Batches(X[:16], Y[:16], 8, val_log),
    )  # fmt: skip
    km = keras.Sequential([
        keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)
    ])  # fmt: skip
    km.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True))
    km.set_weights(w0)
    klog: list = []
    kval_log: list = []
    km.fit(
        KBatches(X, Y, 8, klog), epochs=2, shuffle=False, verbose=0,
        validation_data=KBatches(X[:16], Y[:16], 8, kval_log),
    )  # fmt: skip
    for i, (w, kw) in enumerate(zip(ours.get_weights(), km.get_weights(), strict=True)):
        assert_close(f"weight {i} after 2 epochs", w, np.asarray(kw), "float32", "params_10")
    # each hook once per epoch, and the training batches read once per epoch, in order
    assert log == ["begin", 0, 1, 2, 3, 4, "end"] * 2
    assert val_log == ["begin", 0, 1, "end"] * 2
    # Keras calls on_epoch_begin as often; it also calls on_epoch_end once more before the
    # first epoch (its EpochIterator.reset): a documented difference (docs/training.md)
    assert klog.count("begin") == 2 and klog == ["end", *["begin", "end"] * 2]
    assert kval_log.count("begin") == 2


def test_shuffled_order_is_seeded_and_complete(backend):
    log: list = []
    m = _model()
    m.fit(Batches(X, Y, 8, log), epochs=3, verbose=0)  # shuffle=True by default, as Keras
    epochs, cur = [], []
    for e in log:
        if e == "begin":
            cur = []
        elif e == "end":
            epochs.append(cur)
        else:
            cur.append(e)
    assert len(epochs) == 3
    for order in epochs:
        assert sorted(order) == [0, 1, 2, 3, 4]  # each batch once
    assert len({tuple(o) for o in epochs}) > 1  # reshuffled per epoch
    assert any(o != sorted(o) for o in epochs)
    log2: list = []
    _model().fit(Batches(X, Y, 8, log2), epochs=3, verbose=0)
    assert log2 == log  # same seed, same order


@need_backends("torch", "tensorflow")
def test_shuffled_pydataset_trains_the_same_on_both_backends():
    logs, weights = {}, {}
    for name in ("torch", "tensorflow"):
        with dl.use_backend(name):
            log: list = []
            m = _model()
            m.fit(Batches(X, Y, 8, log), epochs=2, verbose=0)
            logs[name], weights[name] = log, m.get_weights()
    assert logs["torch"] == logs["tensorflow"]
    for i, (a, b) in enumerate(zip(weights["torch"], weights["tensorflow"], strict=True)):
        assert_close(f"weight {i}", a, b, "float32", "params_10")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workers": 3},
        {"workers": 2, "max_queue_size": 2},
        {"workers": 2, "use_multiprocessing": True},
    ],
    ids=["threads", "threads-small-queue", "processes"],
)
def test_workers_do_not_change_the_numbers(kwargs):
    with dl.use_backend(BACKENDS[0]):
        a = _model()  # (each model draws its shuffle seed at its first fit: build, then fit)
        a.fit(Batches(X, Y, 8), epochs=2, verbose=0)
        b = _model()
        ds = Batches(X, Y, 8, **kwargs)
        b.fit(ds, epochs=2, verbose=0)
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(
            a.predict(Batches(X, Y, 8), verbose=0), b.predict(ds, verbose=0)
        )


def test_endless_pydataset_with_steps_per_epoch(backend):
    class Endless(dl.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.seen = []

        @property
        def num_batches(self):
            return None

        def __getitem__(self, i):
            self.seen.append(i)
            j = i % 5
            return X[j * 8 : (j + 1) * 8], Y[j * 8 : (j + 1) * 8]

    ds = Endless()
    h = _model().fit(ds, epochs=2, steps_per_epoch=3, verbose=0)
    assert len(h.history["loss"]) == 2
    assert ds.seen[:3] == [0, 1, 2]  # an endless data set is read in order


def test_sequence_is_pydataset():
    assert dl.utils.Sequence is dl.utils.PyDataset


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"workers": 0}, "workers must be a positive integer. Received: workers=0"),
        ({"max_queue_size": -1}, "max_queue_size must be a positive integer"),
        ({"use_multiprocessing": "yes"}, "use_multiprocessing must be True or False"),
    ],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        Batches(X, Y, 8, **kwargs)


def test_y_with_a_pydataset_is_refused(backend):
    with pytest.raises(ConfigError, match="y must be None when x is a pydataset source"):
        _model().fit(Batches(X, Y, 8), Y, verbose=0)
