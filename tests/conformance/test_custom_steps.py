"""Customizing what ``fit`` does (Keras's ``train_step`` / ``test_step`` / ``predict_step``
overrides), written once with ``dl.GradientTape`` or in each engine's native style.

Oracles: real Keras 3 running the same pattern (its own train_step with ``tf.GradientTape``)
after ``set_weights`` from our model; and our default compiled path, which a step doing the
same thing must match. Numbers are compared with the float32 tolerance table.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import ConfigError, TrainingError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, need_backends

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

F32 = "float32"
N, BATCH, EPOCHS = 48, 16, 3


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, 5)).astype(F32)
    y = (x[:, :2] * 0.5 + rng.standard_normal((N, 2)) * 0.1).astype(F32)
    return x, y


def _graph(lib: Any) -> tuple[Any, Any]:
    i = lib.Input((5,))
    h = lib.layers.Dense(8, activation="tanh")(i)
    return i, lib.layers.Dense(2)(h)


def _fit(model: Any, x: Any, y: Any, **kw: Any) -> Any:
    return model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, **kw)


def _same(label: str, ours: Any, theirs: Any, kind: str = "params_10") -> None:
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs), label
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(f"{label}[{k}]", np.asarray(a), np.asarray(b), F32, kind)


def _history(label: str, ours: dict[str, list[float]], theirs: dict[str, list[float]]) -> None:
    assert sorted(ours) == sorted(theirs), f"{label}: {sorted(ours)} vs {sorted(theirs)}"
    for k in theirs:
        assert_close(f"{label} {k}", np.array(ours[k]), np.array(theirs[k]), F32, "params_10")


# ---- the step, written once with dl.ops --------------------------------------------------------
class PortableStep(dl.Model):
    """keras.io's first customization, in our portable form."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with dl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        for m in self.metrics:
            if m.name == "loss":
                m.update_state(loss)
            else:
                m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class KerasStep(keras.Model):
    """The same step as keras.io writes it for TensorFlow (the oracle)."""

    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        for m in self.metrics:
            if m.name == "loss":
                m.update_state(loss)
            else:
                m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _pair(ours_cls: type, keras_cls: type, backend: str) -> tuple[Any, Any]:
    with dl.use_backend(backend):
        ours = ours_cls(*_graph(dl))
    theirs = keras_cls(*_graph(keras))
    theirs.set_weights(ours.get_weights())
    return ours, theirs


@pytest.mark.parametrize("backend", BACKENDS)
def test_portable_train_step_matches_keras_and_the_default_path(backend: str) -> None:
    x, y = _data()
    ours, theirs = _pair(PortableStep, KerasStep, backend)
    start = ours.get_weights()
    ours.compile(dl.optimizers.Adam(0.02), "mse", metrics=["mae"])
    theirs.compile(keras.optimizers.Adam(0.02), "mse", metrics=["mae"])
    h_ours, h_theirs = _fit(ours, x, y), _fit(theirs, x, y)
    # the compiled metric reports itself as one metric, as in Keras: names match
    assert ours.metrics_names == theirs.metrics_names == ["loss", "compile_metrics"]
    _history("custom step vs keras", h_ours.history, h_theirs.history)
    _same("weights vs keras", ours.get_weights(), theirs.get_weights())

    with dl.use_backend(backend):  # the default compiled step from the same start
        default = dl.Model(*_graph(dl))
    default.set_weights(start)
    default.compile(dl.optimizers.Adam(0.02), "mse", metrics=["mae"])
    h_default = _fit(default, x, y)
    _history("custom step vs default", h_ours.history, h_default.history)
    _same("weights vs default", ours.get_weights(), default.get_weights())
    assert np.abs(ours.get_weights()[0] - start[0]).max() > 1e-3  # it trained


class SuperStep(dl.Model):
    calls = 0

    def train_step(self, data: Any) -> dict[str, Any]:
        type(self).calls += 1
        return super().train_step(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", BACKENDS)
def test_override_is_called_and_super_matches_default(backend: str) -> None:
    x, y = _data(1)
    with dl.use_backend(backend):
        ours = SuperStep(*_graph(dl))
        default = dl.Model(*_graph(dl))
    default.set_weights(ours.get_weights())
    for m in (ours, default):
        m.compile(dl.optimizers.SGD(0.05, momentum=0.9), "mse")
    SuperStep.calls = 0
    h1, h2 = _fit(ours, x, y), _fit(default, x, y)
    assert SuperStep.calls == EPOCHS * N // BATCH  # every batch went through the override
    _history("super().train_step", h1.history, h2.history)
    _same("weights", ours.get_weights(), default.get_weights())
    assert ours.optimizer.iterations == default.optimizer.iterations == EPOCHS * N // BATCH


class LowLevel(dl.Model):
    """No compiled loss: own trackers, ``metrics`` overridden (keras.io's lower-level form)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_tracker = dl.metrics.Mean(name="loss")
        self.mae_metric = dl.metrics.MeanAbsoluteError(name="mae")

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with dl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = ops.mean(ops.square(y - y_pred))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker, self.mae_metric]


class KerasLowLevel(keras.Model):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = keras.ops.mean(keras.ops.square(y - y_pred))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker, self.mae_metric]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lower_level_step_without_compiled_loss_matches_keras(backend: str) -> None:
    x, y = _data(2)
    ours, theirs = _pair(LowLevel, KerasLowLevel, backend)
    ours.compile(optimizer=dl.optimizers.SGD(0.1))
    theirs.compile(optimizer=keras.optimizers.SGD(0.1))
    _history("low-level", _fit(ours, x, y).history, _fit(theirs, x, y).history)
    _same("weights", ours.get_weights(), theirs.get_weights())
    assert ours.metrics_names == theirs.metrics_names == ["loss", "mae"]
    # (Keras resets the trackers each epoch: per-epoch History values above depend on it)
    plain = dl.Model(*_graph(dl))
    plain.compile(optimizer="sgd")  # compiling without a loss is allowed, as in Keras
    with pytest.raises(ConfigError, match="No loss to compute"):
        plain.fit(x, y, verbose=0)  # but the default step has nothing to minimise


class WeightedTestStep(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sw = data
        with dl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sw)
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        return self.compute_metrics(x, y, y_pred, sw) | {"loss": loss}

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        self._loss_tracker.update_state(loss)
        return self.compute_metrics(x, y, y_pred, None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_weights_and_test_step_match_the_default_path(backend: str) -> None:
    x, y = _data(3)
    sw = np.random.default_rng(3).uniform(0.2, 2.0, N).astype(F32)
    with dl.use_backend(backend):
        ours = WeightedTestStep(*_graph(dl))
        default = dl.Model(*_graph(dl))
    default.set_weights(ours.get_weights())
    for m in (ours, default):
        m.compile(dl.optimizers.Adam(0.01), "mse", weighted_metrics=["mae"])
    _fit(ours, x, y, sample_weight=sw)
    _fit(default, x, y, sample_weight=sw)
    _same("weights", ours.get_weights(), default.get_weights())
    ev_ours = ours.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    ev_default = default.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    _history(
        "evaluate", {k: [v] for k, v in ev_ours.items()}, {k: [v] for k, v in ev_default.items()}
    )


class TwoTimesPredict(dl.Model):
    def predict_step(self, data: Any) -> Any:
        x, _, _ = dl.utils.unpack_x_y_sample_weight(data)
        return self(x, training=False) * 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_step_override(backend: str) -> None:
    x, _ = _data(4)
    with dl.use_backend(backend):
        ours = TwoTimesPredict(*_graph(dl))
        plain = dl.Model(*_graph(dl))
    plain.set_weights(ours.get_weights())
    got = ours.predict(x, batch_size=BATCH, verbose=0)
    assert_close("predict_step", got, 2.0 * plain.predict(x, verbose=0), F32, "forward")


# ---- native styles -------------------------------------------------------------------------------
class TorchStyle(dl.Model):
    """keras.io's torch guide: zero_grad, backward, v.value.grad, apply under no_grad."""

    def train_step(self, data: Any) -> dict[str, Any]:
        import torch

        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        weights = list(self.trainable_weights)
        grads = [v.value.grad for v in weights]
        with torch.no_grad():
            self.optimizer.apply(grads, weights)
        self._loss_tracker.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


class TFStyle(dl.Model):
    """keras.io's TensorFlow guide: tf.GradientTape and apply_gradients."""

    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        self._loss_tracker.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


@pytest.mark.parametrize(
    ("backend", "cls"),
    [
        pytest.param("torch", TorchStyle, marks=need_backends("torch")),
        pytest.param("tensorflow", TFStyle, marks=need_backends("tensorflow")),
    ],
)
def test_native_style_step_matches_default(backend: str, cls: type) -> None:
    x, y = _data(5)
    with dl.use_backend(backend):
        ours = cls(*_graph(dl))
        default = dl.Model(*_graph(dl))
    default.set_weights(ours.get_weights())
    for m in (ours, default):
        m.compile(dl.optimizers.RMSprop(0.01), "mse")
    _history("native style", _fit(ours, x, y).history, _fit(default, x, y).history)
    _same("weights", ours.get_weights(), default.get_weights())


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_eagerly_runs_the_python_step_with_the_same_numbers(backend: str) -> None:
    x, y = _data(6)
    with dl.use_backend(backend):
        eager = SuperStep(*_graph(dl))
        default = dl.Model(*_graph(dl))
    default.set_weights(eager.get_weights())
    eager.compile(dl.optimizers.Adam(0.01), "mse", run_eagerly=True)
    default.compile(dl.optimizers.Adam(0.01), "mse")
    SuperStep.calls = 0
    _history("run_eagerly", _fit(eager, x, y).history, _fit(default, x, y).history)
    assert SuperStep.calls > 0


# ---- errors --------------------------------------------------------------------------------------
class ReturnsList(dl.Model):
    def train_step(self, data: Any) -> Any:
        return [1.0]


class Unconnected(dl.Model):
    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.spare = dl.layers.Dense(3)

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with dl.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        weights = self.trainable_weights
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        return {"loss": loss}


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_errors_are_clear(backend: str) -> None:
    x, y = _data(7)
    with dl.use_backend(backend):
        bad = ReturnsList(*_graph(dl))
    bad.compile("sgd", "mse")
    with pytest.raises(TrainingError, match="must return a dict of logs.*Received: list"):
        bad.fit(x, y, verbose=0)
    with dl.use_backend(backend):
        m = SuperStep(*_graph(dl))
    m.compile("sgd")  # no loss: compute_loss has nothing to compute
    with pytest.raises(ConfigError, match="No loss to compute"):
        m.fit(x, y, verbose=0)
    opt = dl.optimizers.SGD()
    with pytest.raises(ConfigError, match="2 gradients for 1 variables"):
        opt.apply([np.zeros(1), np.zeros(1)], [m.trainable_weights[0]])
    with pytest.raises(TrainingError, match="No gradient for variables"):
        opt.apply([None], [m.trainable_weights[0]])


class Tracked(dl.Model):
    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.t = dl.metrics.Mean(name="t")


class KerasTracked(keras.Model):
    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.t = keras.metrics.Mean(name="t")


def test_metrics_names_follow_keras_in_every_state() -> None:
    ours, theirs = dl.Model(*_graph(dl)), keras.Model(*_graph(keras))
    assert ours.metrics_names == theirs.metrics_names == []  # not compiled
    ours.compile("sgd", "mse")
    theirs.compile("sgd", "mse")
    assert ours.metrics_names == theirs.metrics_names == ["loss"]
    ours.compile("sgd", "mse", weighted_metrics=["mae"])
    theirs.compile("sgd", "mse", weighted_metrics=["mae"])
    assert ours.metrics_names == theirs.metrics_names == ["loss", "compile_metrics"]
    ours_t, theirs_t = Tracked(*_graph(dl)), KerasTracked(*_graph(keras))
    assert ours_t.metrics_names == theirs_t.metrics_names == ["t"]
    ours_t.compile("sgd")
    theirs_t.compile("sgd")
    assert ours_t.metrics_names == theirs_t.metrics_names == ["loss", "t"]


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_in_a_custom_step_draws_the_default_steps_masks(
    backend: str, deterministic: bool
) -> None:
    """``self(x, training=True)`` in a step draws the noise ``fit`` draws for that step."""
    x, y = _data(8)
    dl.config.set_deterministic(deterministic)

    def graph() -> tuple[Any, Any]:
        i = dl.Input((5,))
        h = dl.layers.Dropout(0.4)(dl.layers.Dense(16, activation="relu")(i))
        return i, dl.layers.Dense(2)(h)

    with dl.use_backend(backend):
        ours, default = PortableStep(*graph()), dl.Model(*graph())
    default.set_weights(ours.get_weights())
    hist = {}
    for label, m in (("custom", ours), ("default", default)):
        m.compile(dl.optimizers.SGD(0.05), "mse")
        dl.set_random_seed(7)  # the same shuffle seed and noise stream for both
        hist[label] = _fit(m, x, y).history
    _history("dropout", hist["custom"], hist["default"])
    _same("weights", ours.get_weights(), default.get_weights())


class TruePositives(dl.metrics.Metric):
    """keras.io's CategoricalTruePositives, written with dl.ops."""

    def __init__(self, name: str = "ctp", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        hit = ops.cast(
            ops.equal(ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1)), ops.cast(y_true, "int64")),
            "float32",
        )
        self.true_positives.assign_add(ops.sum(hit))

    def result(self) -> Any:
        return self.true_positives

    def reset_state(self) -> None:
        self.true_positives.assign(0.0)


class KerasTruePositives(keras.metrics.Metric):
    def __init__(self, name: str = "ctp", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        k = keras.ops
        hit = k.cast(
            k.equal(k.reshape(k.argmax(y_pred, axis=1), (-1, 1)), k.cast(y_true, "int64")),
            "float32",
        )
        self.true_positives.assign_add(k.sum(hit))

    def result(self) -> Any:
        return self.true_positives

    def reset_state(self) -> None:
        self.true_positives.assign(0.0)


# Keras's own Variable.__array__ (read when the Keras oracle logs its metric) lacks numpy 2's
# `copy` keyword: a warning from the oracle, not from duallearn.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_user_metric_subclass_in_compile_runs_through_the_python_step(backend: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((N, 5)).astype(F32)
    y = (x[:, 0] > 0).astype("int64")[:, None] + (x[:, 1] > 0).astype("int64")[:, None]

    def graph(lib: Any) -> tuple[Any, Any]:
        i = lib.Input((5,))
        h = lib.layers.Dense(8, activation="relu")(i)
        return i, lib.layers.Dense(3, activation="softmax")(h)

    with dl.use_backend(backend):
        ours = dl.Model(*graph(dl))
    theirs = keras.Model(*graph(keras))
    theirs.set_weights(ours.get_weights())
    loss = "sparse_categorical_crossentropy"
    ours.compile(dl.optimizers.Adam(0.02), loss, metrics=[TruePositives(), "accuracy"])
    theirs.compile(keras.optimizers.Adam(0.02), loss, metrics=[KerasTruePositives(), "accuracy"])
    h_ours, h_theirs = _fit(ours, x, y), _fit(theirs, x, y)
    _history("user metric", h_ours.history, h_theirs.history)
    assert h_ours.history["ctp"][-1] > 0  # counted, not ignored
    _same("weights", ours.get_weights(), theirs.get_weights())


def test_float64_custom_step_equals_the_default_step_on_both_backends() -> None:
    """float64: the portable step, the default step, torch and TensorFlow all agree to the
    tight float64 table (an optimizer.apply learning rate rounded through float32 on
    TensorFlow was 2e-9 off: this catches it)."""
    dl.config.set_floatx("float64")
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((N, 5)), rng.standard_normal((N, 2))

    class Step(dl.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            xb, yb = data
            with dl.GradientTape() as tape:
                loss = self.compute_loss(y=yb, y_pred=self(xb, training=True))
            self.optimizer.apply(
                tape.gradient(loss, self.trainable_weights), self.trainable_weights
            )
            return {"loss": loss}

    results = {}
    for backend in BACKENDS:
        for cls in (dl.Model, Step):
            dl.set_random_seed(3)
            with dl.use_backend(backend):
                m = cls(*_graph(dl))
            m.compile(dl.optimizers.Adam(0.01), "mse")
            _fit(m, x, y)
            results[(backend, cls.__name__)] = m.get_weights()
    base = results[(BACKENDS[0], "Model")]
    for key, weights in results.items():
        _same_f64 = [np.asarray(w) for w in weights]
        for k, (a, b) in enumerate(zip(_same_f64, base, strict=True)):
            assert_close(f"{key}[{k}]", a, b, "float64", "params_10")


class Recorder(dl.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[dict[str, float]] = []
        self.epochs: list[dict[str, float]] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.batches.append(dict(logs or {}))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epochs.append(dict(logs or {}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_callbacks_validation_and_steps_per_epoch_around_a_custom_step(backend: str) -> None:
    x, y = _data(11)
    with dl.use_backend(backend):
        ours = SuperStep(*_graph(dl))
        default = dl.Model(*_graph(dl))
    default.set_weights(ours.get_weights())
    logs = {}
    for label, m in (("custom", ours), ("default", default)):
        m.compile(dl.optimizers.Adam(0.01), "mse", metrics=["mae"])
        rec = Recorder()
        h = m.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            steps_per_epoch=4,
            validation_data=(x[:16], y[:16]),
            callbacks=[rec],
            shuffle=False,
            verbose=0,
        )
        logs[label] = (h.history, rec)
    (h_c, rec_c), (h_d, rec_d) = logs["custom"], logs["default"]
    assert sorted(h_c) == ["loss", "mae", "val_loss", "val_mae"]
    _history("history with validation", h_c, h_d)
    assert len(rec_c.batches) == len(rec_d.batches) == 8  # steps_per_epoch honoured
    for k, (a, b) in enumerate(zip(rec_c.batches, rec_d.batches, strict=True)):
        _history(f"batch {k} logs", {n: [v] for n, v in a.items()}, {n: [v] for n, v in b.items()})
    assert rec_c.epochs[-1]["val_loss"] == h_c["val_loss"][-1]  # one number, logged twice


class Built(dl.Model):
    def __init__(self) -> None:
        super().__init__()
        self.inner = dl.Sequential([dl.layers.Input((5,)), dl.layers.Dense(2)])
        self.built = True  # keras.io sets this on models without call()

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with dl.GradientTape() as tape:
            loss = ops.mean(ops.square(self.inner(x, training=True) - y))
        weights = self.inner.trainable_weights
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        # not "loss": Keras reports its (untouched) loss tracker under that name instead
        return {"step_loss": loss}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_without_call_trains_its_submodel(backend: str) -> None:
    x, y = _data(12)
    with dl.use_backend(backend):
        outer = Built()
    before = outer.inner.get_weights()
    outer.compile(dl.optimizers.SGD(0.1))
    h = outer.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    assert outer.built is True
    assert [w.path for w in outer.trainable_weights] == [w.path for w in outer.inner.weights]
    assert h.history["step_loss"][1] < h.history["step_loss"][0]
    assert np.abs(outer.inner.get_weights()[0] - before[0]).max() > 1e-3


class CallsALayer(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        x, _ = data
        return {"out": self.layers[1](x)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bare_layer_called_in_a_step_is_a_clear_error(backend: str) -> None:
    from duallearn.errors import BackendError

    x, y = _data(13)
    with dl.use_backend(backend):
        m = CallsALayer(*_graph(dl))
    m.compile("sgd", "mse")
    with pytest.raises(BackendError, match="called directly inside a custom train/test/pred"):
        m.fit(x, y, verbose=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_sequence_outputs_in_a_custom_step_match_the_default(backend: str) -> None:
    """Keras masks reach compute_loss and the compiled metrics in a custom step as in the
    compiled one (padded time steps weigh nothing)."""
    rng = np.random.default_rng(14)
    tokens = rng.integers(1, 20, (N, 6))
    tokens[:, 4:] = 0  # padding
    y = rng.standard_normal((N, 6, 2)).astype(F32)

    def graph() -> tuple[Any, Any]:
        i = dl.Input((6,), dtype="int64")
        h = dl.layers.Embedding(20, 4, mask_zero=True)(i)
        h = dl.layers.SimpleRNN(5, return_sequences=True)(h)
        return i, dl.layers.Dense(2)(h)

    with dl.use_backend(backend):
        ours, default = PortableStep(*graph()), dl.Model(*graph())
    default.set_weights(ours.get_weights())
    for m in (ours, default):
        m.compile(dl.optimizers.Adam(0.01), "mse", metrics=["mae"])
    _history("masked", _fit(ours, tokens, y).history, _fit(default, tokens, y).history)
    _same("weights", ours.get_weights(), default.get_weights())


# ---- Keras 2 spellings kept by Keras 3 as deprecated shims ---------------------------------------
class ShimStep(dl.Model):
    """A Keras-2-era step (keras.io's metric-learning pattern): compiled_loss and
    compiled_metrics.update_state."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with dl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        self.compiled_metrics.update_state(y, y_pred)
        return self.get_metrics_result()


class KerasShimStep(keras.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.compiled_metrics.update_state(y, y_pred)
        return self.get_metrics_result()


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_loss_and_compiled_metrics_shims_match_keras(backend: str) -> None:
    x, y = _data(4)
    ours, theirs = _pair(ShimStep, KerasShimStep, backend)
    ours.compile(dl.optimizers.SGD(0.05), "mse", metrics=["mae"])
    theirs.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    with pytest.warns(UserWarning, match=r"`model.compiled_loss\(\)` is deprecated"):
        with pytest.warns(UserWarning, match=r"`model.compiled_metrics\(\)` is deprecated"):
            h_ours = _fit(ours, x, y)
    h_theirs = _fit(theirs, x, y)
    # Keras's shim updates the loss tracker (a Mean) with y_pred: "loss" is mean(y_pred)
    _history("shim step vs keras", h_ours.history, h_theirs.history)
    _same("weights vs keras", ours.get_weights(), theirs.get_weights())
