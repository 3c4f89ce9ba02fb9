"""compile(steps_per_execution=k): the callbacks' batch hooks run where Keras 3 runs them
(its TensorFlow backend: its torch backend refuses k > 1), on both engines, with the
numbers of k = 1; and fit's validation calls the test hooks, as Keras's fit does."""

from __future__ import annotations

import os

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def recorder(base):
    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.events = []

        def on_train_batch_begin(self, batch, logs=None):
            self.events.append(("train_begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            self.events.append(("train_end", batch, sorted(logs)))

        def on_test_begin(self, logs=None):
            self.events.append(("test",))

        def on_test_end(self, logs=None):
            self.events.append(("test_done", sorted(logs)))

        def on_test_batch_begin(self, batch, logs=None):
            self.events.append(("test_begin", batch))

        def on_test_batch_end(self, batch, logs=None):
            self.events.append(("test_end", batch, sorted(logs)))

        def on_predict_batch_begin(self, batch, logs=None):
            self.events.append(("predict_begin", batch))

        def on_predict_batch_end(self, batch, logs=None):
            self.events.append(("predict_end", batch, np.shape(logs["outputs"])))

        def on_epoch_end(self, epoch, logs=None):
            self.events.append(("epoch", epoch, sorted(logs)))

    return Recorder()


def data(n=10):
    x = (np.arange(2 * n, dtype="float32").reshape(n, 2) / n).astype("float32")
    return x, np.ones((n, 1), "float32")


def run(lib, k, n, batch, validation):
    """Every hook call of fit (+ validation), evaluate and predict, and the final weights."""
    x, y = data(n)
    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"], steps_per_execution=k)
    events = {}
    cb = recorder(lib.callbacks.Callback)
    val = (x, y) if validation else None
    model.fit(x, y, batch_size=batch, epochs=2, verbose=0, callbacks=[cb], shuffle=False,
              validation_data=val)  # fmt: skip
    events["fit"] = cb.events
    cb = recorder(lib.callbacks.Callback)
    model.evaluate(x, y, batch_size=batch, verbose=0, callbacks=[cb])
    events["evaluate"] = cb.events
    cb = recorder(lib.callbacks.Callback)
    model.predict(x, batch_size=batch, verbose=0, callbacks=[cb])
    events["predict"] = cb.events
    return events


@pytest.mark.parametrize(
    "k, n, batch, validation",
    [(1, 10, 4, True), (2, 10, 2, True), (3, 10, 2, False), (2, 8, 2, False), (4, 10, 3, True)],
)
def test_batch_hooks_run_where_keras_runs_them(backend, k, n, batch, validation):
    import keras

    theirs = run(keras, k, n, batch, validation)
    ours = run(dl, k, n, batch, validation)
    assert ours == theirs
    # and the calls are the ones documented (models/_execution.py): not a vacuous equality
    steps = -(-n // batch)
    ends = [s + k - 1 for s in range(0, steps, k)]
    assert [e[1] for e in ours["evaluate"] if e[0] == "test_end"] == ends
    assert [e[1] for e in ours["predict"] if e[0] == "predict_begin"] == list(range(0, steps, k))


def test_the_numbers_are_those_of_one_step_per_execution(backend):
    x, y = data(37)
    weights = []
    for k in (1, 3):
        dl.set_random_seed(7)
        model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(4, activation="relu"),
                               dl.layers.Dense(1)])  # fmt: skip
        model.compile(dl.optimizers.Adam(0.01), "mse", steps_per_execution=k)
        history = model.fit(x, y, batch_size=5, epochs=3, verbose=0, shuffle=True)
        weights.append((model.get_weights(), history.history["loss"], model.predict(x, verbose=0)))
    for a, b in zip(weights[0][0], weights[1][0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert weights[0][1] == weights[1][1]
    np.testing.assert_array_equal(weights[0][2], weights[1][2])


def test_a_generator_calls_hooks_only_for_executions_that_ran(backend):
    """The documented difference: Keras also opens an execution that finds no batch."""
    x, y = data(10)
    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=3)
    cb = recorder(dl.callbacks.Callback)

    def batches():
        for i in range(0, 10, 2):
            yield x[i : i + 2], y[i : i + 2]

    model.fit(batches(), epochs=1, verbose=0, callbacks=[cb])
    assert cb.events == [
        ("train_begin", 0), ("train_end", 2, ["loss"]), ("train_begin", 3),
        ("train_end", 5, ["loss"]), ("epoch", 0, ["loss"]),
    ]  # fmt: skip


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "auto"])
def test_steps_per_execution_must_be_a_positive_integer(bad):
    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    with pytest.raises(ConfigError) as err:
        model.compile("sgd", "mse", steps_per_execution=bad)
    assert str(err.value) == (
        f"steps_per_execution must be a positive integer. Received: "
        f"steps_per_execution={bad!r}. Fix: pass e.g. steps_per_execution=1 or more."
    )


@pytest.mark.parametrize("suffix", [".dlm", ".keras"])
def test_saved_files_keep_steps_per_execution(backend, tmp_path, suffix):
    import keras

    x, y = data(10)
    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=3)
    model.fit(x, y, batch_size=2, verbose=0)
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    loaded = dl.saving.load_model(path)
    assert loaded._compile_args["steps_per_execution"] == 3
    cb = recorder(dl.callbacks.Callback)
    loaded.evaluate(x, y, batch_size=2, verbose=0, callbacks=[cb])
    assert [e[1] for e in cb.events if e[0] == "test_end"] == [2, 5]
    if suffix == ".keras":  # Keras reads the value we wrote
        assert keras.saving.load_model(path).steps_per_execution == 3


def test_checkpoints_count_the_batches_of_an_execution(backend, tmp_path):
    """ModelCheckpoint(save_freq=N) counts batches as Keras does (by the indices the hook
    receives), so k batches per call save where k = 1 saves, rounded up to an execution."""
    import keras

    x, y = data(12)
    saved = {}
    for name, lib in (("keras", keras), ("duallearn", dl)):
        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
        model.compile("sgd", "mse", steps_per_execution=2)
        calls = []

        class Spy(lib.callbacks.ModelCheckpoint):
            def _save_model(self, epoch, batch, logs):  # Keras's method
                calls.append((epoch, batch))

            def _save(self, epoch, batch, logs):  # ours
                calls.append((epoch, batch))

        suffix = ".keras" if lib is keras else ".dlm"
        spy = Spy(str(tmp_path / f"{name}{suffix}"), save_freq=3)
        model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[spy], shuffle=False)
        saved[name] = calls
    assert saved["duallearn"] == saved["keras"]
    assert saved["duallearn"] == [(0, 3), (1, 1), (1, 5)]
