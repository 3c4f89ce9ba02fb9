"""``fit`` stops on the first non-finite loss or gradient (docs/training.md, "Non-finite
values"; issue 17).

The runtime checks every step on the device and skips the update of a non-finite step and of
every later one until ``fit`` reads the flag at a logging point; ``fit`` then raises
``TrainingError`` naming the epoch, the batch and the cause, or stops quietly with
``TerminateOnNaN``. Oracle: the weights and optimizer state recorded before each batch by a
callback (``on_train_batch_begin`` reads no logs, so the flag is read at the epoch end only):
after the stop they must equal, bit for bit, those recorded before the bad batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import TrainingError

from ..conftest import BACKENDS

ENGINES = [b for b in ("torch", "tensorflow") if b in BACKENDS]
pytestmark = pytest.mark.skipif(not ENGINES, reason="neither torch nor tensorflow installed")

N, B = 64, 8  # 8 batches per epoch
BAD_ROW = 37  # batch 4 of every epoch without shuffling
GRADIENT = "a gradient was NaN or infinite while the loss was finite"
ALL_FINITE = "the batch's inputs, targets and sample weights are all finite"


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (np.abs(rng.standard_normal((N, 4))) + 0.1).astype("float32")
    y = rng.standard_normal((N, 1)).astype("float32")
    return x, y


def _model(*first: Any, lr: float = 1e-2, activation: str = "relu") -> dl.Model:
    dl.set_random_seed(0)
    layers = [dl.layers.Input((4,)), *first, dl.layers.Dense(8, activation=activation)]
    m = dl.Sequential([*layers, dl.layers.Dense(1)])
    m.compile(dl.optimizers.Adam(lr), "mse")
    return m


def _state(m: Any) -> dict[str, np.ndarray]:
    """The optimizer state (slots by variable path, ``iterations``) of the model's runtime."""
    return {} if m._runtime is None else dict(m._runtime.optimizer_state())


class Recorder(dl.callbacks.Callback):
    """Weights and optimizer state before each batch, keyed ``(epoch, batch)``."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: dict[tuple[int, int], list[np.ndarray]] = {}
        self.states: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.weights[self.epoch, batch] = self.model.get_weights()
        self.states[self.epoch, batch] = _state(self.model)


def _assert_as_before(m: Any, rec: Recorder, epoch: int, batch: int) -> None:
    """Weights and optimizer state equal (bit for bit) those before ``batch`` of ``epoch``."""
    for k, (a, b) in enumerate(zip(m.get_weights(), rec.weights[epoch, batch], strict=True)):
        assert np.array_equal(a, b), f"weight {k} changed after the bad step"
        # finiteness is the property here (array_equal holds for equal infinities)
        assert np.isfinite(a).all()
    state, want = _state(m), rec.states[epoch, batch]
    assert sorted(state) == sorted(want)
    for key in want:
        assert np.array_equal(state[key], want[key]), f"optimizer state {key!r} changed"


def _fit(m: Any, x: Any, y: Any = None, **kw: Any) -> Any:
    kw = {"epochs": 3, "batch_size": B, "shuffle": False, "verbose": 0, **kw}
    return m.fit(x, y, **kw)


# ---- non-finite data ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "where,value", [("x", np.nan), ("x", np.inf), ("y", np.inf), ("sample_weight", np.nan)]
)
def test_non_finite_data_stops_at_its_batch_with_the_weights_before(backend, where, value):
    x, y = _data()
    sw = np.ones(N, "float32")
    arrays = {"x": x, "y": y, "sample_weight": sw}
    arrays[where].reshape(N, -1)[BAD_ROW, 0] = value  # a view: sets the row
    m, rec = _model(), Recorder()
    label = {
        "x": "input 'input_layer'",
        "y": "the target of output 'dense_1'",
        "sample_weight": "the sample_weight of output 'dense_1'",
    }
    with pytest.raises(TrainingError) as err:
        _fit(m, x, y, sample_weight=sw, callbacks=[rec])
    msg = str(err.value)
    assert "Training stopped in epoch 1, batch 4 (0-based)" in msg
    assert f"{label[where]} has NaN/inf in samples [{BAD_ROW}]" in msg
    assert "Expected: a finite loss" in msg and "Fix:" in msg
    _assert_as_before(m, rec, 0, 4)
    assert m.optimizer.iterations == _state(m)["iterations"] == 4  # skipped steps do not count


def test_shuffled_data_names_the_sample_and_its_batch(backend):
    x, y = _data()
    x[BAD_ROW, 2] = np.nan
    m, rec = _model(), Recorder()
    with pytest.raises(TrainingError, match=rf"NaN/inf in samples \[{BAD_ROW}\]") as err:
        _fit(m, x, y, shuffle=True, callbacks=[rec])
    batch = int(re.search(r"epoch 1, batch (\d+)", str(err.value)).group(1))
    _assert_as_before(m, rec, 0, batch)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow not installed")
def test_tensorflow_fused_dense_relu_hiding_a_nan_is_caught():
    # the issue: TF's fused Dense+ReLU maps NaN to 0, the loss stays finite, and the kernel
    # became NaN silently. The gradient check catches it.
    x, y = _data()
    x[BAD_ROW, 1] = np.nan
    with dl.use_backend("tensorflow"):
        m, rec = _model(), Recorder()
        with pytest.raises(TrainingError) as err:
            _fit(m, x, y, callbacks=[rec])
    msg = str(err.value)
    assert "epoch 1, batch 4 (0-based): " + GRADIENT in msg
    assert f"input 'input_layer' has NaN/inf in samples [{BAD_ROW}]" in msg
    _assert_as_before(m, rec, 0, 4)


# ---- a layer's output, a gradient ----------------------------------------------------------------
class Log(dl.layers.Layer):
    """``log(x)``: NaN for a negative input (data finite, the forward makes the NaN)."""

    def call(self, inputs):
        return ops.log(inputs)


class SqrtScale(dl.layers.Layer):
    """``sqrt(|x|·w)``: finite forward, but ``∂/∂w = |x|/(2·sqrt(|x|·w))`` is 0·inf = NaN at
    ``x = 0`` (the backward makes the NaN)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, inputs):
        return ops.sqrt(ops.abs(inputs) * self.w)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_layer_output_nan_stops_at_its_batch(engine):
    x, y = _data()
    x[21, 0] = -1.0  # finite data: log makes the NaN, in batch 2
    with dl.use_backend(engine):
        m, rec = _model(Log(), activation="tanh"), Recorder()  # tanh keeps the NaN
        with pytest.raises(TrainingError) as err:
            _fit(m, x, y, callbacks=[rec])
    msg = str(err.value)
    assert "epoch 1, batch 2 (0-based): the loss was NaN or infinite" in msg
    assert ALL_FINITE in msg
    _assert_as_before(m, rec, 0, 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gradient_nan_with_a_finite_loss_stops_at_its_batch(engine):
    x, y = _data()
    x[21, 1] = 0.0  # sqrt at 0 in the backward, in batch 2
    with dl.use_backend(engine):
        m, rec = _model(SqrtScale()), Recorder()
        with pytest.raises(TrainingError) as err:
            _fit(m, x, y, callbacks=[rec])
    msg = str(err.value)
    assert "epoch 1, batch 2 (0-based): " + GRADIENT in msg and ALL_FINITE in msg
    _assert_as_before(m, rec, 0, 2)


# ---- the epoch and batch of a later epoch; TerminateOnNaN ------------------------------------
def _stream(bad_at: int, x: np.ndarray, y: np.ndarray) -> Iterator[tuple[Any, Any]]:
    """Batches in order, forever; batch number ``bad_at`` (counted over epochs) holds a NaN."""
    k = 0
    while True:
        i = k % (N // B)
        bx = x[i * B : (i + 1) * B].copy()
        if k == bad_at:
            bx[0, 0] = np.nan
        yield bx, y[i * B : (i + 1) * B]
        k += 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bad_batch_in_a_later_epoch_names_that_epoch(engine):
    x, y = _data()
    with dl.use_backend(engine):
        m, rec = _model(), Recorder()
        with pytest.raises(TrainingError) as err:
            _fit(m, _stream(8 + 3, x, y), steps_per_epoch=N // B, callbacks=[rec])
    msg = str(err.value)
    assert "Training stopped in epoch 2, batch 3 (0-based)" in msg
    assert "the data source cannot be read again" in msg  # found at the epoch end
    _assert_as_before(m, rec, 1, 3)
    assert m.optimizer.iterations == 8 + 3


@pytest.mark.parametrize("engine", ENGINES)
def test_terminate_on_nan_stops_without_error_with_the_weights_before(engine, capsys):
    x, y = _data()
    with dl.use_backend(engine):
        m, rec = _model(), Recorder()
        h = _fit(
            m,
            _stream(8 + 3, x, y),
            steps_per_epoch=N // B,
            callbacks=[rec, dl.callbacks.TerminateOnNaN()],
        )
    assert h.epoch == [0, 1]
    _assert_as_before(m, rec, 1, 3)
    assert m.optimizer.iterations == 8 + 3
    # a NaN hidden from the loss (the backward makes it): stopped too, said once
    x2, y2 = _data()
    x2[21, 1] = 0.0
    with dl.use_backend(engine):
        m, rec = _model(SqrtScale()), Recorder()
        h = _fit(m, x2, y2, callbacks=[rec, dl.callbacks.TerminateOnNaN()])
    assert h.epoch == [0]
    _assert_as_before(m, rec, 0, 2)
    assert capsys.readouterr().out.count("Batch 2: " + GRADIENT) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_clean_run_after_the_error_trains_normally(engine):
    x, y = _data()
    bad = x.copy()
    bad[BAD_ROW, 0] = np.nan
    with dl.use_backend(engine):
        m = _model()
        w0 = m.get_weights()
        with pytest.raises(TrainingError, match="batch 4"):
            _fit(m, bad, y)
        m.set_weights(w0)
        h = _fit(m, x, y, epochs=2)
        # the same as a model that never met the NaN, from the same weights and slots
        ref = _model()
        _fit(ref, x[: 4 * B], y[: 4 * B], epochs=1)
        ref.set_weights(w0)
        h_ref = _fit(ref, x, y, epochs=2)
    assert m.optimizer.iterations == ref.optimizer.iterations == 4 + 16
    np.testing.assert_array_equal(h.history["loss"], h_ref.history["loss"])
    for a, b in zip(m.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert h.history["loss"][1] < h.history["loss"][0]


# ---- every way an optimizer keeps state, on every path of the guard -------------------------
OPTIMIZERS = {
    "nadam": lambda: dl.optimizers.Nadam(1e-2),  # its mu product is state too
    "sgd_torch_momentum": lambda: dl.optimizers.SGD(1e-2, momentum=0.9, formula="torch"),
    "adam_accumulate_ema": lambda: dl.optimizers.Adam(
        1e-2, gradient_accumulation_steps=2, use_ema=True, ema_overwrite_frequency=3
    ),
    "rmsprop_centered": lambda: dl.optimizers.RMSprop(1e-2, momentum=0.5, centered=True),
}
PATHS = [("torch", "host"), ("torch", "masked"), ("tensorflow", "cond"), ("tensorflow", "xla")]


@pytest.mark.parametrize("engine,path", [p for p in PATHS if p[0] in BACKENDS])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_every_optimizer_state_stays_as_before(engine, path, opt, monkeypatch):
    # torch "masked": the GPU path (update undone on the device), forced on the CPU;
    # TF "xla": jit_compile, where the update's assignments are masked instead of a tf.cond
    if path == "masked":
        from duallearn_torch._optimizers import TorchOptimizer

        monkeypatch.setattr(TorchOptimizer, "mask_on_device", True)
    x, y = _data()
    x[21, 1] = 0.0  # a NaN gradient in batch 2
    with dl.use_backend(engine):
        m, rec = _model(SqrtScale()), Recorder()
        m.compile(OPTIMIZERS[opt](), "mse", jit_compile=path == "xla")
        with pytest.raises(TrainingError, match=r"epoch 1, batch 2 \(0-based\): " + GRADIENT):
            _fit(m, x, y, callbacks=[rec])
    _assert_as_before(m, rec, 0, 2)
    assert m.optimizer.iterations == _state(m)["iterations"] == 2


# ---- torch on a GPU: the update is masked on the device (forced here on the CPU) --------------
@pytest.mark.skipif("torch" not in BACKENDS, reason="torch not installed")
def test_torch_device_masked_update_keeps_the_weights_before(monkeypatch):
    from duallearn_torch._optimizers import TorchOptimizer

    runs = {}
    for masked in (True, False):
        monkeypatch.setattr(TorchOptimizer, "mask_on_device", masked)
        x, y = _data()
        x[21, 1] = 0.0
        with dl.use_backend("torch"):
            m, rec = _model(SqrtScale()), Recorder()
            with pytest.raises(TrainingError, match="epoch 1, batch 2 \\(0-based\\): " + GRADIENT):
                _fit(m, x, y, callbacks=[rec])
            _assert_as_before(m, rec, 0, 2)
            assert m.optimizer.iterations == 2  # counted on the host, set back when read
            assert m.optimizer._dl_native.iterations == 2
            x2, y2 = _data()
            h = _fit(m, x2, y2, epochs=1)  # the flag was cleared: it trains again
        assert m.optimizer.iterations == 2 + 8
        runs[masked] = (h.history["loss"], m.get_weights())
    # ... exactly as the host-checked update does: a masked update that passes is the update
    assert runs[True][0] == runs[False][0]
    for a, b in zip(runs[True][1], runs[False][1], strict=True):
        np.testing.assert_array_equal(a, b)


# ---- a custom train_step: optimizer.apply is guarded inside fit -----------------------------
class PortableStep(dl.Model):
    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with dl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        self._loss_tracker.update_state(loss)
        return {"loss": self._loss_tracker.result()}


@pytest.mark.parametrize("engine", ENGINES)
def test_custom_train_step_apply_is_guarded(engine):
    x, y = _data()
    x[BAD_ROW, 3] = np.nan
    with dl.use_backend(engine):
        dl.set_random_seed(0)
        i = dl.Input((4,))
        m = PortableStep(i, dl.layers.Dense(1)(dl.layers.Dense(8, activation="relu")(i)))
        m.compile(dl.optimizers.Adam(1e-2), "mse")
        rec = Recorder()
        with pytest.raises(TrainingError) as err:
            _fit(m, x, y, callbacks=[rec])
    msg = str(err.value)
    assert "epoch 1, batch 4 (0-based): a gradient given to optimizer.apply was NaN" in msg
    assert f"has NaN/inf in samples [{BAD_ROW}]" in msg
    _assert_as_before(m, rec, 0, 4)
    assert m.optimizer.iterations == 4


@pytest.mark.parametrize("engine", ENGINES)
def test_optimizer_apply_outside_fit_is_not_guarded(engine):
    # Keras's behaviour outside fit: the update is applied as given (no flag, no freeze)
    with dl.use_backend(engine):
        m = _model()
        _fit(m, *_data(), epochs=1)
        weights = m.trainable_weights
        nan = m._runtime.to_native([np.full(w.shape, np.nan, "float32") for w in weights])
        m.optimizer.apply(nan, weights)
        assert all(np.isnan(w.numpy()).all() for w in weights)
        assert m.optimizer.iterations == 8 + 1


# ---- mixed precision: the loss scaler keeps its rule; a non-finite loss still stops fit -------
@pytest.mark.parametrize("engine", ENGINES)
def test_loss_scaling_skips_overflow_quietly_but_stops_on_a_nan_loss(engine):
    x, y = _data()
    try:
        dl.mixed_precision.set_global_policy("mixed_float16")
        with dl.use_backend(engine):
            m = _model()
            # a huge sample weight overflows the scaled float16 gradients: skipped, no error
            m.fit(x[:B], y[:B], sample_weight=np.full(B, 1e4, "float32"), verbose=0)
            assert m.optimizer.iterations == 1
            x[BAD_ROW, 0] = np.nan  # tanh keeps the NaN: the loss itself is NaN
            m, rec = _model(activation="tanh"), Recorder()
            with pytest.raises(TrainingError, match=r"epoch 1, batch 4 \(0-based\): the loss"):
                _fit(m, x, y, callbacks=[rec])
    finally:
        dl.mixed_precision.set_global_policy(None)
    _assert_as_before(m, rec, 0, 4)
