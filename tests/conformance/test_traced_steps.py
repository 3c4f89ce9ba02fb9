"""Overridden steps compiled by the engine: ``compile(jit_compile=True)`` traces a custom
``train_step`` / ``test_step`` / ``predict_step`` (``tf.function(jit_compile=True)`` on
TensorFlow, ``torch.compile`` on torch), as Keras does.

Oracles: the same step run eagerly (``jit_compile=False``); the default compiled step with
``jit_compile=True``, which a step doing the same thing must match (dropout included: XLA's
generator is not TensorFlow's kernel generator, so with dropout the traced step is compared
with the default XLA step, not with the eager one); and real Keras 3, which traces its own
overridden ``train_step`` with ``tf.function``.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import ConfigError
from duallearn.models._steps import steps_for
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from .test_custom_steps import (
    BATCH,
    EPOCHS,
    KerasLowLevel,
    KerasStep,
    LowLevel,
    N,
    PortableStep,
    _data,
    _fit,
    _graph,
    _history,
    _same,
)

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
TF = [b for b in BACKENDS if b == "tensorflow"]  # the host-effect replay is TensorFlow's


def _portable(backend: str, jit: bool, start: list[np.ndarray] | None = None) -> Any:
    with dl.use_backend(backend):
        m = PortableStep(*_graph(dl))
    if start is not None:
        m.set_weights(start)
    m.compile(dl.optimizers.Adam(0.02), "mse", metrics=["mae"], jit_compile=jit)
    return m


@pytest.mark.parametrize("backend", BACKENDS)
def test_traced_portable_step_matches_eager_and_keras(backend: str) -> None:
    x, y = _data()
    eager = _portable(backend, False)
    start = eager.get_weights()
    traced = _portable(backend, True, start)
    theirs = KerasStep(*_graph(keras))
    theirs.set_weights(start)
    theirs.compile(keras.optimizers.Adam(0.02), "mse", metrics=["mae"], jit_compile=True)
    h_eager, h_traced, h_keras = _fit(eager, x, y), _fit(traced, x, y), _fit(theirs, x, y)
    assert type(steps_for(traced, "train")).__name__ == "TracedSteps"
    _history("traced vs eager", h_traced.history, h_eager.history)
    _history("traced vs keras (its own tf.function step)", h_traced.history, h_keras.history)
    _same("weights traced vs eager", traced.get_weights(), eager.get_weights())
    _same("weights traced vs keras", traced.get_weights(), theirs.get_weights())
    assert traced.optimizer.iterations == eager.optimizer.iterations == EPOCHS * N // BATCH
    assert np.abs(traced.get_weights()[0] - start[0]).max() > 1e-3  # it trained


class SuperSteps(dl.Model):
    """Overrides that do what the default steps do."""

    def train_step(self, data: Any) -> dict[str, Any]:
        return super().train_step(data)  # type: ignore[no-any-return]

    def test_step(self, data: Any) -> dict[str, Any]:
        return super().test_step(data)  # type: ignore[no-any-return]


def _dropout_graph() -> tuple[Any, Any]:
    i = dl.Input((5,))
    h = dl.layers.Dense(12, activation="relu")(i)
    h = dl.layers.Dropout(0.3)(h)
    return i, dl.layers.Dense(3)(h)


@pytest.mark.parametrize("backend", BACKENDS)
def test_traced_override_with_dropout_and_schedule_matches_the_default_jit_step(
    backend: str,
) -> None:
    """Dropout seeds, a learning-rate schedule, validation and a compiled metric: the traced
    override and the default step (both jit_compile=True) give the same numbers."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((54, 5)).astype("float32")  # 54 = 3 full batches + 6 (a retrace)
    y = rng.integers(0, 3, 54)
    runs = {}
    for cls in (SuperSteps, dl.Model):
        dl.set_random_seed(11)
        with dl.use_backend(backend):
            m = cls(*_dropout_graph())
        schedule = dl.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.7)
        m.compile(
            dl.optimizers.SGD(schedule, momentum=0.9),
            dl.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=True,
        )
        h = m.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
        ev = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        runs[cls.__name__] = (h.history, m.get_weights(), m.optimizer.iterations, ev)
    (h1, w1, it1, ev1), (h2, w2, it2, ev2) = runs["SuperSteps"], runs["Model"]
    _history("traced override vs default jit step", h1, h2)
    _same("weights", w1, w2)
    assert it1 == it2 == 3 * 3  # 43 training rows: 3 batches of 16 (the last one 11)
    assert sorted(ev1) == sorted(ev2) == ["accuracy", "loss"]
    for k in ev1:  # evaluated after 9 steps, as the weights above
        assert_close(f"evaluate {k}", ev1[k], ev2[k], "float32", "params_10")


@pytest.mark.parametrize("backend", TF)
def test_traced_low_level_step_with_own_trackers_matches_keras(backend: str) -> None:
    x, y = _data(2)
    with dl.use_backend(backend):
        traced, eager = LowLevel(*_graph(dl)), LowLevel(*_graph(dl))
    eager.set_weights(traced.get_weights())
    theirs = KerasLowLevel(*_graph(keras))
    theirs.set_weights(traced.get_weights())
    traced.compile(dl.optimizers.RMSprop(0.01), jit_compile=True)
    eager.compile(dl.optimizers.RMSprop(0.01))
    theirs.compile(keras.optimizers.RMSprop(0.01))
    h_t, h_e, h_k = _fit(traced, x, y), _fit(eager, x, y), _fit(theirs, x, y)
    _history("traced vs eager", h_t.history, h_e.history)
    _history("traced vs keras", h_t.history, h_k.history)
    _same("weights", traced.get_weights(), theirs.get_weights())


class TwoOptimizers(dl.Model):
    """A GAN-shaped step: two sub-models, two optimizers, one training-mode call of a model
    other than the one being fit (fresh noise), one metric per loss."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.critic = dl.Sequential([dl.Input((4,)), dl.layers.Dense(6, activation="tanh"),
                                     dl.layers.Dense(1)])  # fmt: skip
        self.maker = dl.Sequential([dl.Input((3,)), dl.layers.Dense(4),
                                    dl.layers.Dropout(rate)])  # fmt: skip

    def compile(self, c_opt: Any, m_opt: Any, **kw: Any) -> None:  # type: ignore[override]
        super().compile(**kw)
        self.c_opt, self.m_opt = c_opt, m_opt
        self.c_loss = dl.metrics.Mean(name="c_loss")
        self.m_loss = dl.metrics.Mean(name="m_loss")

    @property
    def metrics(self) -> list[Any]:
        return [self.c_loss, self.m_loss]

    def train_step(self, data: Any) -> dict[str, Any]:
        z, real = data["z"], data["real"]
        fake = self.maker(z, training=True)
        with dl.GradientTape() as tape:
            c = ops.mean(self.critic(fake)) - ops.mean(self.critic(real))
        cw = self.critic.trainable_weights
        self.c_opt.apply(tape.gradient(c, cw), cw)
        with dl.GradientTape() as tape:
            m = -ops.mean(self.critic(self.maker(z, training=True)))
        mw = self.maker.trainable_weights
        self.m_opt.apply(tape.gradient(m, mw), mw)
        self.c_loss.update_state(c)
        self.m_loss.update_state(m)
        return {"c_loss": self.c_loss.result(), "m_loss": self.m_loss.result()}


def _two(
    backend: str, jit: bool, rate: float, epochs: int = 2, batch: int = 10
) -> tuple[Any, dict[str, Any]]:
    dl.set_random_seed(5)
    rng = np.random.default_rng(0)
    data = {"z": rng.standard_normal((40, 3)).astype("float32"),
            "real": rng.standard_normal((40, 4)).astype("float32")}  # fmt: skip
    with dl.use_backend(backend):
        model = TwoOptimizers(rate)
        model.critic.build((None, 4))
        model.maker.build((None, 3))
    model.compile(dl.optimizers.Adam(0.01), dl.optimizers.SGD(0.05), jit_compile=jit)
    history = model.fit(data, batch_size=batch, epochs=epochs, verbose=0, shuffle=False)
    return model, history.history


@pytest.mark.parametrize("backend", TF)
def test_traced_step_with_two_optimizers_replays_their_iterations_and_seeds(backend: str) -> None:
    traced, h_traced = _two(backend, True, 0.0)
    eager, h_eager = _two(backend, False, 0.0)
    _history("two optimizers, traced vs eager", h_traced, h_eager)
    _same("weights", traced.get_weights(), eager.get_weights())
    assert traced.c_opt.iterations == traced.m_opt.iterations == eager.c_opt.iterations == 8
    # with dropout in the other model: each training-mode call is keyed by a fresh draw of
    # the global seed stream, drawn per step on the host exactly as the eager step draws it
    # (the masks themselves are XLA's, which TensorFlow's kernels do not reproduce)
    traced, _ = _two(backend, True, 0.5)
    after_traced = dl.random.randint((), 0, 2**30)
    traced_key = traced.maker._runtime.rng.seed.numpy()
    eager, _ = _two(backend, False, 0.5)
    after_eager = dl.random.randint((), 0, 2**30)
    np.testing.assert_array_equal(traced_key, eager.maker._runtime.rng.seed.numpy())
    assert int(after_traced) == int(after_eager)  # the same number of draws of the stream
    again, _ = _two(backend, True, 0.5)
    _same("the traced run repeats", again.get_weights(), traced.get_weights(), "step")


class PredictTwice(dl.Model):
    def predict_step(self, data: Any) -> Any:
        return self(data, training=False) * 2.0


@pytest.mark.parametrize("backend", TF)
def test_traced_predict_and_test_steps(backend: str) -> None:
    x, y = _data(4)
    with dl.use_backend(backend):
        traced, eager = PredictTwice(*_graph(dl)), PredictTwice(*_graph(dl))
    eager.set_weights(traced.get_weights())
    traced.compile("sgd", "mse", jit_compile=True)
    eager.compile("sgd", "mse")
    _same("predict", [traced.predict(x, batch_size=7, verbose=0)],
          [eager.predict(x, batch_size=7, verbose=0)], "forward")  # fmt: skip
    with dl.use_backend(backend):
        plain = dl.Model(*_graph(dl))
    plain.set_weights(traced.get_weights())
    _same("predict = 2 x forward", [traced.predict(x, verbose=0)],
          [2.0 * plain.predict(x, verbose=0)], "forward")  # fmt: skip
    traced_ev = traced.evaluate(x, y, batch_size=7, verbose=0)
    plain.compile("sgd", "mse")
    plain_ev = plain.evaluate(x, y, batch_size=7, verbose=0)
    assert_close("traced evaluate vs plain", traced_ev, plain_ev, "float32", "loss")


class ResultArithmetic(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        logs = super().train_step(data)
        return {"loss_pct": self.metrics[0].result() * 100.0, **logs}


class HostUpdate(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        self.extra = getattr(self, "extra", None) or dl.metrics.Mean(name="extra")
        self.extra.update_state(np.float32(1.0))
        return super().train_step(data)  # type: ignore[no-any-return]


class RandomStep(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        noisy = x + dl.random.normal(ops.shape(x), stddev=0.1)
        return super().train_step((noisy, y))  # type: ignore[no-any-return]


class TwiceScheduled(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        super().train_step(data)
        return super().train_step(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "cls, optimizer, words",
    [
        (ResultArithmetic, "sgd", "result() inside a compiled step can only be returned"),
        (HostUpdate, "sgd", "updated with host values"),
        (RandomStep, "sgd", "XLA (compile(jit_compile=True) on TensorFlow) cannot compile"),
        (TwiceScheduled, "schedule", "applied twice in one compiled step"),
    ],
)
@pytest.mark.parametrize("backend", TF)
def test_what_a_traced_step_cannot_replay_is_refused(
    backend: str, cls: type, optimizer: str, words: str
) -> None:
    x, y = _data(5)
    with dl.use_backend(backend):
        m = cls(*_graph(dl))
    start = m.get_weights()
    opt = (
        dl.optimizers.SGD(dl.schedules.ExponentialDecay(0.1, 2, 0.5))
        if optimizer == "schedule"
        else optimizer
    )
    m.compile(opt, "mse", jit_compile=True)
    with pytest.raises(ConfigError, match="Fix: ") as err:
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert words in str(err.value)
    _same("nothing was trained", m.get_weights(), start, "step")
    assert m.optimizer.iterations == 0


@pytest.mark.parametrize("backend", TF)
def test_deterministic_mode_is_refused_in_a_traced_step(backend: str) -> None:
    x, y = _data(6)
    with dl.use_backend(backend):
        m = SuperSteps(*_dropout_graph())
    m.compile("sgd", dl.losses.MeanSquaredError(), jit_compile=True)
    dl.config.set_deterministic(True)
    try:
        with pytest.raises(ConfigError, match="draws dropout masks on the host"):
            m.fit(x, np.zeros((N, 3), "float32"), batch_size=BATCH, epochs=1, verbose=0)
    finally:
        dl.config.set_deterministic(False)


def test_run_eagerly_disables_jit_compile_with_keras_warning() -> None:
    """Keras's rule, checked against Keras itself: both flags True keeps run_eagerly."""
    import warnings

    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        k = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        k.compile("sgd", "mse", run_eagerly=True, jit_compile=True)
    with pytest.warns(UserWarning) as ours:
        m = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
        m.compile("sgd", "mse", run_eagerly=True, jit_compile=True)
    keras_texts = [str(w.message) for w in theirs]
    assert [str(w.message) for w in ours] == [t for t in keras_texts if "jit_compile" in t]
    assert m._compile_args["jit_compile"] is False and k.jit_compile is False


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "torch"])
def test_torch_compiled_two_optimizer_step_with_dropout_equals_eager(backend: str) -> None:
    """torch.compile keeps the step's Python effects (iterations, seeds, metric sums) and
    the native generator's draws: the compiled GAN-shaped step is the eager one."""
    # few steps: torch.compile recompiles while the step's Python ints change (seconds each)
    traced, h_traced = _two(backend, True, 0.5, epochs=1, batch=20)
    eager, h_eager = _two(backend, False, 0.5, epochs=1, batch=20)
    _history("torch.compile vs eager", h_traced, h_eager)
    _same("weights", traced.get_weights(), eager.get_weights())
    assert traced.c_opt.iterations == traced.m_opt.iterations == 2
