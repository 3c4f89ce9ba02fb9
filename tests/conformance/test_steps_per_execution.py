"""compile(steps_per_execution=k): the callbacks' batch hooks run where Keras 3 runs them
(its TensorFlow backend: its torch backend refuses k > 1), on both engines, with the
numbers of k = 1; and fit's validation calls the test hooks, as Keras's fit does."""

from __future__ import annotations

import os

import numpy as np
import pytest

import duallearn as dl
from duallearn._seed import step_seed
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

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


@pytest.mark.parametrize("jit", ["auto", True])
def test_the_numbers_are_those_of_one_step_per_execution(backend, jit):
    """torch runs the steps one by one: bitwise. TensorFlow runs an execution as one graph
    (a while loop of the step), which grappler optimizes apart from the single-step graph
    (a batch's logged loss was measured 1.6e-8 apart, the weights identical): the float32
    table's rows."""
    if backend == "torch" and jit is True:
        jit = False  # torch.compile here would compare compile against itself
    x, y = data(37)
    runs = []
    for k in (1, 3):
        dl.set_random_seed(7)
        model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(4, activation="relu"),
                               dl.layers.Dense(1)])  # fmt: skip
        lr = dl.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
        model.compile(dl.optimizers.Adam(lr), "mse", steps_per_execution=k, jit_compile=jit)
        history = model.fit(x, y, batch_size=5, epochs=3, verbose=0, shuffle=True)
        assert model.optimizer.iterations == 24  # 8 batches (the last of 2 rows) x 3
        runs.append((model.get_weights(), history.history["loss"], model.predict(x, verbose=0)))
    (w1, loss1, p1), (w3, loss3, p3) = runs
    if backend == "torch":
        for a, b in zip(w1, w3, strict=True):
            np.testing.assert_array_equal(a, b)
        assert loss1 == loss3
        np.testing.assert_array_equal(p1, p3)
        return
    for a, b in zip(w1, w3, strict=True):
        assert_close("weights", b, a, "float32", "params_10")
    assert_close("losses", np.array(loss3), np.array(loss1), "float32", "loss")
    assert_close("predictions", p3, p1, "float32", "forward")


def test_tensorflow_runs_an_execution_in_one_call():
    """The speed part: one native call per execution of equal batches, plus one for the
    shorter last batch (a different shape), counted on the runtime."""
    with dl.use_backend("tensorflow"):
        x, y = data(37)
        model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
        model.compile("sgd", "mse", steps_per_execution=4)
        model.fit(x, y, batch_size=5, epochs=1, verbose=0, shuffle=False)
        runtime = model._get_runtime()
        calls = []
        many, one = runtime.train_many, runtime.train_batch
        runtime.train_many = lambda b, lrs: (calls.append(("many", len(b))), many(b, lrs))[1]
        runtime.train_batch = lambda *a, **k: (calls.append(("one", 1)), one(*a, **k))[1]
        model.fit(x, y, batch_size=5, epochs=1, verbose=0, shuffle=False)
    # the shorter last batch too: every batch of a grouping call runs the loop
    assert calls == [("many", 4), ("many", 3), ("many", 1)]


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
        calls: list = []

        class Spy(lib.callbacks.ModelCheckpoint):
            seen = calls

            def _save_model(self, epoch, batch, logs):  # Keras's method
                self.seen.append((epoch, batch))

            def _save(self, epoch, batch, logs):  # ours
                self.seen.append((epoch, batch))

        suffix = ".keras" if lib is keras else ".dlm"
        spy = Spy(str(tmp_path / f"{name}{suffix}"), save_freq=3)
        model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[spy], shuffle=False)
        saved[name] = calls
    assert saved["duallearn"] == saved["keras"]
    assert saved["duallearn"] == [(0, 3), (1, 1), (1, 5)]


def _models():
    """Models whose step has state, several outputs, weights and masks."""

    def bn_metrics():
        m = dl.Sequential([dl.Input((6,)), dl.layers.Dense(8), dl.layers.BatchNormalization(),
                           dl.layers.Activation("relu"), dl.layers.Dense(3)])  # fmt: skip
        m.compile("adam", dl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # fmt: skip
        return m, "classes"

    def two_outputs():
        inp = dl.Input((6,))
        h = dl.layers.Dense(5, activation="tanh")(inp)
        m = dl.Model(inp, [dl.layers.Dense(1, name="a")(h), dl.layers.Dense(2, name="b")(h)])
        m.compile("rmsprop", ["mse", "mae"], loss_weights=[1.0, 0.5], metrics=[["mae"], []])
        return m, "two"

    def masked_lstm():
        m = dl.Sequential([dl.Input((5,), dtype="int32"),
                           dl.layers.Embedding(7, 3, mask_zero=True), dl.layers.LSTM(4),
                           dl.layers.Dense(1)])  # fmt: skip
        m.compile("sgd", "mse")
        return m, "ids"

    return {"bn_metrics": bn_metrics, "two_outputs": two_outputs, "masked_lstm": masked_lstm}


@pytest.mark.parametrize("name", sorted(_models()))
def test_stateful_multi_output_and_masked_models_train_alike(backend, name):
    rng = np.random.default_rng(3)
    n = 23
    x6 = rng.normal(size=(n, 6)).astype("float32")
    ids = rng.integers(0, 7, size=(n, 5)).astype("int32")
    ids[:, 3:] = 0  # padding
    sw = rng.uniform(0.5, 2.0, size=n).astype("float32")
    results = []
    for k in (1, 4):
        dl.set_random_seed(11)
        model, kind = _models()[name]()
        model.compile(**{**_compile_kwargs(model), "steps_per_execution": k})
        if kind == "classes":
            args = (x6, np.arange(n) % 3)
            kw = {"sample_weight": sw}
        elif kind == "two":
            args = (x6, [x6[:, :1], x6[:, 1:3]])
            kw = {}
        else:
            args = (ids, x6[:, :1])
            kw = {"sample_weight": sw}
        h = model.fit(*args, batch_size=4, epochs=2, verbose=0, shuffle=False, **kw)
        results.append((model.get_weights(), h.history))
    (w1, h1), (w4, h4) = results
    assert sorted(h1) == sorted(h4)
    assert sorted(h1) == sorted(h4)
    for a, b in zip(w1, w4, strict=True):
        assert_close(f"{name} weights", b, a, "float32", "params_10")
    for key in h1:
        assert_close(f"{name} {key}", np.array(h4[key]), np.array(h1[key]), "float32", "loss")


def _compile_kwargs(model):
    args = model._compile_args
    return {"optimizer": model.optimizer, "loss": args["loss"],
            "loss_weights": args["loss_weights"], "metrics": args["metrics"]}  # fmt: skip


def test_a_non_finite_batch_inside_an_execution_is_named_and_skipped(backend):
    """fit's guard inside an execution: the error names the batch, and the weights are
    those before it (the later steps of the execution are skipped too)."""
    x, y = data(20)
    x[9, 0] = np.nan  # batch 4 of batch size 2, inside the execution of batches 4..7
    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=4)
    reference = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    reference.compile("sgd", "mse")
    reference.set_weights(model.get_weights())
    with pytest.raises(dl.errors.TrainingError) as err:
        model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert "batch 4 (0-based)" in str(err.value)
    reference.fit(x[:8], y[:8], batch_size=2, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        assert_close("weights before the bad batch", a, b, "float32", "params_10")
    assert model.optimizer.iterations == 4


def test_unwatched_batches_are_grouped_on_tensorflow_with_the_same_numbers():
    """steps_per_execution=1, no callback watching batches and at least 64 steps: fit
    trains up to 16 batches (8 MiB of inputs) per native call; a callback with a batch hook
    makes it one call per batch. The same numbers within float32 rounding."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 3)).astype("float32")
    y = rng.normal(size=(600, 1)).astype("float32")

    class Watch(dl.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            pass

    results = {}
    with dl.use_backend("tensorflow"):
        for watched in (False, True):
            dl.set_random_seed(2)
            model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(4, activation="tanh"),
                                   dl.layers.Dense(1)])  # fmt: skip
            model.compile(dl.optimizers.Adam(0.01), "mse", metrics=["mae"])
            model.fit(x[:4], y[:4], verbose=0)  # builds the runtime
            runtime = model._get_runtime()
            calls = []
            many = runtime.train_many
            runtime.train_many = lambda b, lrs, many=many, calls=calls: (
                calls.append(len(b)),
                many(b, lrs),
            )[1]
            cbs = [Watch()] if watched else []
            h = model.fit(x, y, batch_size=2, epochs=2, verbose=0, shuffle=True, callbacks=cbs)
            results[watched] = (model.get_weights(), h.history, calls)
    (w0, h0, calls0), (w1, h1, calls1) = results[False], results[True]
    assert calls0 == ([16] * 18 + [12]) * 2  # 300 batches per epoch
    small = []
    with dl.use_backend("tensorflow"):
        runtime.train_many = lambda b, lrs, many=many: (small.append(len(b)), many(b, lrs))[1]
        model.fit(x[:62], y[:62], batch_size=2, epochs=2, verbose=0)  # 62 steps: one by one
        assert small == []
        model.fit(x[:64], y[:64], batch_size=2, epochs=2, verbose=0)  # 64 steps: grouped
    assert small == [16, 16] * 2
    assert calls1 == []  # one train_batch per batch
    for a, b in zip(w0, w1, strict=True):
        assert_close("weights", a, b, "float32", "params_10")
    for key in h0:
        assert_close(key, np.array(h0[key]), np.array(h1[key]), "float32", "loss")


def test_torch_is_not_grouped():
    """The plugin's default train_many is a loop of train_batch: nothing to gain, not used."""
    x, y = data(12)
    with dl.use_backend("torch"):
        model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
        model.compile("sgd", "mse")
        model.fit(x[:2], y[:2], verbose=0)
        runtime = model._get_runtime()
        calls = []
        one = runtime.train_batch
        runtime.train_batch = lambda *a, **k: (calls.append(1), one(*a, **k))[1]
        runtime.train_many = lambda *a: pytest.fail("train_many called")
        model.fit(x, y, batch_size=2, verbose=0)
    assert calls == [1] * 6


def test_unwatched_evaluation_is_grouped_on_tensorflow_with_the_same_numbers():
    """evaluate (and fit's validation) run up to 16 test batches per native call when no
    callback watches test batches and there are at least 64; a test batch hook makes it one
    call per batch; the same results within float32 rounding."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(600, 3)).astype("float32")
    y = rng.integers(0, 2, size=600)

    class Watch(dl.callbacks.Callback):
        def on_test_batch_begin(self, batch, logs=None):
            pass

    with dl.use_backend("tensorflow"):
        model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
        model.compile("sgd", dl.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy", "sparse_categorical_crossentropy"])  # fmt: skip
        model.evaluate(x[:4], y[:4], verbose=0)  # builds the runtime
        runtime = model._get_runtime()
        calls = []
        many, one = runtime.test_many, runtime.test_batch
        runtime.test_many = lambda b, many=many: (calls.append(len(b)), many(b))[1]
        grouped = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
        assert calls == [16] * 18 + [12]
        calls.clear()
        watched = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True,
                                 callbacks=[Watch()])  # fmt: skip
        assert calls == []  # one test_batch per batch
        assert runtime.test_batch == one
    for key in grouped:
        assert_close(key, np.array(grouped[key]), np.array(watched[key]), "float32", "loss")
    small = []
    with dl.use_backend("tensorflow"):
        runtime.test_many = lambda b, many=many: (small.append(len(b)), many(b))[1]
        model.evaluate(x[:126], y[:126], batch_size=2, verbose=0)  # 63 batches: not grouped
        assert small == []
        model.evaluate(x[:128], y[:128], batch_size=2, verbose=0)  # 64 batches: grouped
    assert small == [16] * 4


@pytest.mark.parametrize("hook", ["on_train_batch_begin", "on_batch_begin", "on_test_batch_end",
                                  "on_predict_batch_end"])  # fmt: skip
def test_lambda_callback_batch_hooks_are_called(backend, hook):
    """LambdaCallback sets its functions on the instance: they count as overridden hooks
    (they were missed for test/predict batch ends, and fit grouped batches under them)."""
    x, y = data(8)
    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    model.compile(dl.optimizers.SGD(dl.optimizers.schedules.PiecewiseConstantDecay(
        [1], [0.1, 0.05])), "mse")  # fmt: skip
    seen = []
    cb = dl.callbacks.LambdaCallback(
        **{hook: lambda b, logs=None: seen.append((b, model.optimizer.current_learning_rate()))}
    )
    if "test" in hook:
        model.evaluate(x, y, batch_size=2, verbose=0, callbacks=[cb])
    elif "predict" in hook:
        model.predict(x, batch_size=2, verbose=0, callbacks=[cb])
    else:
        model.fit(x, y, batch_size=2, verbose=0, shuffle=False, callbacks=[cb])
    rates = [0.1, 0.1, 0.05, 0.05] if "begin" in hook else [0.1] * 4
    assert seen == list(zip(range(4), rates, strict=True))


@pytest.mark.parametrize(("backend", "jit"), [("tensorflow", "auto"), ("tensorflow", True),
                                            ("torch", "auto")])  # fmt: skip
def test_grouped_steps_with_dropout_draw_each_steps_masks(backend, jit):
    """A model with step noise (Dropout, GaussianNoise) groups too: each step of a grouped
    call reseeds the native generator with its own step's seed, so the masks, and the
    numbers, are those of one call per step (a batch hook makes it one call per step; on
    torch, steps_per_execution=1); the seeds reach train_many in step order."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(160, 6)).astype("float32")
    y = rng.integers(0, 3, size=160)

    class Watch(dl.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    results = {}
    for watched in (False, True):
        dl.set_random_seed(4)
        with dl.use_backend(backend):
            model = dl.Sequential([
                dl.Input((6,)),
                dl.layers.Dense(16, activation="relu"),
                dl.layers.Dropout(0.4),
                dl.layers.GaussianNoise(0.3),
                dl.layers.Dense(3),
            ])  # fmt: skip
        # torch groups only under steps_per_execution (the plugin's loop of train_batch)
        kw = {"steps_per_execution": 8} if backend == "torch" and not watched else {}
        model.compile(dl.optimizers.Adam(0.01),
                      dl.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit, **kw)  # fmt: skip
        model.fit(x[:4], y[:4], batch_size=4, verbose=0)  # builds the runtime (1 step)
        runtime = model._get_runtime()
        calls = []
        many = runtime.train_many
        runtime.train_many = lambda b, lrs, seeds=None, many=many, calls=calls: (
            calls.append((len(b), seeds)),
            many(b, lrs, seeds),
        )[1]
        cbs = [Watch()] if watched else []
        h = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=cbs)
        results[watched] = (model.get_weights(), h.history["loss"], calls, model)
    (w0, l0, calls0, m0), (w1, l1, calls1, _) = results[False], results[True]
    assert calls1 == []  # one train_batch per step
    per_epoch = [16, 16, 8] if backend == "tensorflow" else [8] * 5  # 40 steps per epoch
    assert [n for n, _ in calls0] == per_epoch * 2
    seeds = [s for _, ss in calls0 for s in ss]
    stream = m0._noise_stream
    assert seeds == [step_seed(stream, step) for step in range(1, 81)]  # after the first step
    for a, b in zip(w0, w1, strict=True):
        assert_close("weights grouped vs one call per step", a, b, "float32", "params_10")
    assert_close("loss grouped vs one call per step", np.array(l0), np.array(l1), "float32",
                 "loss")  # fmt: skip
    if backend == "torch":  # the plugin's loop of train_batch: bit for bit
        for a, b in zip(w0, w1, strict=True):
            np.testing.assert_array_equal(a, b)
