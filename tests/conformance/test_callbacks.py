"""Each callback's behaviour on every backend (issue 6)."""

from __future__ import annotations

import csv
import glob
import importlib
import os

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ._training_utils import Script, Snapshots, data, model

CURVE = [1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6, 0.5]


def test_early_stopping_scripted_curve_and_restore(backend):
    x, y = data()
    m = model()
    snaps = Snapshots()
    es = dl.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=8, verbose=0, callbacks=[Script("val_loss", CURVE), snaps, es])
    # best 0.8 at epoch 1; epochs 2 and 3 do not improve: stop at epoch 3 (0-based)
    assert h.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best == 0.8 and es.best_epoch == 1
    for a, b in zip(m.get_weights(), snaps.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_min_delta_baseline_start_from_epoch(backend):
    x, y = data()
    # min_delta=0.15: 0.9 -> 0.8 is not an improvement; stops at epoch 1 with patience=1
    m = model()
    es = dl.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.15, patience=1)
    h = m.fit(x, y, epochs=5, verbose=0, callbacks=[Script("val_loss", [0.9, 0.8, 0.7]), es])
    assert h.epoch == [0, 1]
    # baseline never beaten: the wait is not reset by improvements (epoch 3 without it)
    curve = [0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
    es = dl.callbacks.EarlyStopping(monitor="acc_x", mode="max", baseline=0.99, patience=2)
    h = m.fit(x, y, epochs=6, verbose=0, callbacks=[Script("acc_x", curve), es])
    assert h.epoch == [0, 1, 2]
    es = dl.callbacks.EarlyStopping(monitor="acc_x", patience=2)  # "auto": max for acc
    h = m.fit(x, y, epochs=6, verbose=0, callbacks=[Script("acc_x", curve), es])
    assert h.epoch == [0, 1, 2, 3]
    # epochs before start_from_epoch are ignored
    es = dl.callbacks.EarlyStopping(patience=0, start_from_epoch=3)
    h = m.fit(x, y, epochs=6, verbose=0, callbacks=[Script("val_loss", [5, 6, 7, 1, 2, 3]), es])
    assert h.epoch == [0, 1, 2, 3, 4]


def test_model_checkpoint_keeps_best_and_formats_names(backend, tmp_path):
    x, y = data()
    m = model()
    best = tmp_path / "best.dlm"
    snaps = Snapshots()
    cbs = [
        Script("val_loss", [0.5, 0.4, 0.6, 0.3, 0.35]),
        snaps,
        dl.callbacks.ModelCheckpoint(str(best), save_best_only=True),
        dl.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}-{val_loss:.2f}.dlm")),
        dl.callbacks.ModelCheckpoint(str(tmp_path / "w.safetensors"), save_weights_only=True),
    ]
    m.fit(x, y, epochs=5, verbose=0, callbacks=cbs)
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "e*.dlm")))
    assert names == ["e01-0.50.dlm", "e02-0.40.dlm", "e03-0.60.dlm", "e04-0.30.dlm", "e05-0.35.dlm"]
    loaded = dl.load_model(str(best))
    for a, b in zip(loaded.get_weights(), snaps.weights[3], strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.iterations == 4 * 2  # 48 samples / batch 32 = 2 steps per epoch
    assert loaded._training_state()["epoch"] == 4
    m2 = model()
    m2.load_weights(str(tmp_path / "w.safetensors"))
    for a, b in zip(m2.get_weights(), snaps.weights[4], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not glob.glob(str(tmp_path / ".dltmp-*"))  # atomic writes leave no temp files
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_model_checkpoint_every_n_batches(backend, tmp_path):
    x, y = data()
    m = model()
    ck = dl.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.dlm"), save_freq=2)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[ck])  # 3 batches per epoch
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*.dlm")))
    assert names == ["m-1-2.dlm", "m-2-1.dlm", "m-2-3.dlm"]
    assert dl.load_model(str(tmp_path / "m-2-1.dlm")).optimizer.iterations == 4


def test_unwritable_checkpoint_folder_fails_before_training(backend, tmp_path):
    x, y = data()
    m = model()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    w0 = m.get_weights()
    for cb in (
        dl.callbacks.ModelCheckpoint(str(blocker / "sub" / "m.dlm")),
        dl.callbacks.BackupAndRestore(str(blocker / "backup")),
        dl.callbacks.TensorBoard(str(blocker / "tb")),
        dl.callbacks.CSVLogger(str(blocker / "x" / "log.csv")),
    ):
        with pytest.raises(ConfigError, match="cannot write to .*before training starts"):
            m.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert m.optimizer.iterations == 0
    for a, b in zip(m.get_weights(), w0, strict=True):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_and_scheduler(backend):
    x, y = data()
    m = model(lr=0.1)
    snaps = Snapshots()
    rl = dl.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.02)
    curve = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    h = m.fit(x, y, epochs=6, verbose=0, callbacks=[Script("val_loss", curve), rl, snaps])
    # epoch0 best; epoch1 wait 1 -> 0.05 (cooldown 2, counted down before the check as
    # Keras); epoch2 cooling; epoch3 -> 0.025;
    # epoch4 cooling; epoch5 -> max(0.0125, 0.02)
    # halving is exact in binary floating point: the rates are exactly these numbers
    assert snaps.lrs == [0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    assert h.history["learning_rate"] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    m = model(lr=0.1)
    seen = []
    sched = dl.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    lam = dl.callbacks.LambdaCallback(
        on_train_batch_begin=lambda b, logs: seen.append(m.optimizer.current_learning_rate())
    )
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[sched, lam])
    assert h.history["learning_rate"] == [0.1, 0.05, 0.025]
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    m = model(lr=0.1)
    m.compile(
        dl.optimizers.SGD(dl.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
        "sparse_categorical_crossentropy",
    )
    with pytest.raises(ConfigError, match="schedule"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[dl.callbacks.ReduceLROnPlateau()])


def test_csv_logger_terminate_on_nan_lambda(backend, tmp_path):
    x, y = data()
    m = model()
    path = tmp_path / "log.csv"
    events = []
    lam = dl.callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda e, logs: events.append(("epoch", e, round(logs["loss"], 6))),
        on_batch_end=lambda b, logs: events.append(("batch", b)),
        on_train_end=lambda logs: events.append("end"),
    )
    h = m.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        validation_split=0.25,
        callbacks=[dl.callbacks.CSVLogger(str(path)), lam],
    )
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [float(r["loss"]) for r in rows] == h.history["loss"]
    assert events[0] == "begin" and events[-1] == "end"
    assert events[1:4] == [("batch", 0), ("batch", 1), ("epoch", 0, round(h.history["loss"][0], 6))]
    dl.callbacks.CSVLogger(str(path), append=True)  # constructing does not touch the file
    m.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        validation_split=0.25,
        callbacks=[dl.callbacks.CSVLogger(str(path), append=True)],
    )
    assert len(list(csv.DictReader(path.open()))) == 3
    # TerminateOnNaN: a NaN loss (here from a NaN sample weight; TF's relu maps NaN inputs
    # to 0) stops training without an error, mid-epoch
    sw = np.ones(len(x), "float32")
    sw[40] = np.nan
    m = model()
    h = m.fit(
        x,
        y,
        sample_weight=sw,
        epochs=3,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[dl.callbacks.TerminateOnNaN()],
    )
    assert h.epoch == [0] and np.isnan(h.history["loss"][0])
    # stopped at the batch holding row 40 (batch 5), whose update fit's guard skipped
    assert m.optimizer.iterations == 5
    with pytest.raises(dl.errors.TrainingError, match="TerminateOnNaN"):
        model().fit(x, y, sample_weight=sw, epochs=1, batch_size=8, verbose=0)


def test_tensorboard_event_files(backend, tmp_path):
    tf = pytest.importorskip("tensorflow")
    x, y = data()
    m = model()
    tb = dl.callbacks.TensorBoard(str(tmp_path), histogram_freq=1, update_freq=1)
    h = m.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[tb])
    found: dict[str, dict[tuple[str, int], float]] = {"train": {}, "validation": {}}
    histos = {}
    for sub in found:
        (path,) = glob.glob(str(tmp_path / sub / "events.out.tfevents.*"))
        for ev in tf.compat.v1.train.summary_iterator(path):
            for v in ev.summary.value:
                if v.HasField("histo"):
                    histos[(v.tag, ev.step)] = v.histo
                else:
                    found[sub][(v.tag, ev.step)] = v.simple_value
    # an event file stores float32 scalars: exactly the logged values rounded to float32
    for e in range(2):
        assert found["train"][("epoch_loss", e)] == np.float32(h.history["loss"][e])
        val_accuracy = np.float32(h.history["val_accuracy"][e])
        assert found["validation"][("epoch_accuracy", e)] == val_accuracy
        assert found["train"][("epoch_learning_rate", e)] == np.float32(0.01)
    assert ("batch_loss", 1) in found["train"] and ("batch_loss", 4) in found["train"]
    k = m.get_weights()[0]
    hk = histos[("dense/kernel", 1)]
    assert hk.num == k.size and hk.min == k.min() and hk.max == k.max()
    # a sum whose terms may cancel: rounding follows sum|k|, not the sum itself
    assert_close("histogram sum", hk.sum, k.astype(np.float64).sum(), "float32", "layer",
                 scale=float(np.abs(k).sum()))  # fmt: skip
    assert sum(hk.bucket) == k.size


def test_callback_hooks_and_params(backend):
    x, y = data()
    calls = []

    class Recorder(dl.callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", self.params["epochs"], self.params["steps"]))

        def on_test_begin(self, logs=None):
            calls.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            calls.append(("test_batch", batch, sorted(logs)))

        def on_predict_batch_end(self, batch, logs=None):
            calls.append(("predict_batch", batch, logs["outputs"].shape))

    m = model()
    m.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[Recorder()])
    m.evaluate(x, y, batch_size=32, verbose=0, callbacks=[Recorder()])
    m.predict(x, batch_size=40, verbose=0, callbacks=[Recorder()])
    assert calls == [
        ("train_begin", 1, 3),
        "test_begin",
        ("test_batch", 0, ["accuracy", "loss"]),
        ("test_batch", 1, ["accuracy", "loss"]),
        ("predict_batch", 0, (40, 2)),
        ("predict_batch", 1, (8, 2)),
    ]


def test_tensorboard_files_read_by_the_tensorboard_package(backend, tmp_path):
    """The `tensorboard` package itself (what `tensorboard --logdir` uses) reads the files."""
    ea_mod = importlib.import_module("tensorboard.backend.event_processing.event_accumulator")
    x, y = data()
    m = model()
    tb = dl.callbacks.TensorBoard(str(tmp_path), histogram_freq=1)
    h = m.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[tb])
    acc = ea_mod.EventAccumulator(
        str(tmp_path / "train"), size_guidance={"scalars": 0, "histograms": 0}
    )
    acc.Reload()
    tags = acc.Tags()
    assert {"epoch_loss", "epoch_learning_rate"} <= set(tags["scalars"])
    assert "dense/kernel" in tags["histograms"]
    losses = [e.value for e in acc.Scalars("epoch_loss")]
    np.testing.assert_array_equal(losses, np.float32(h.history["loss"]))  # float32 on file
    assert [e.step for e in acc.Scalars("epoch_loss")] == [0, 1, 2]
    val = ea_mod.EventAccumulator(str(tmp_path / "validation"))
    val.Reload()
    np.testing.assert_array_equal(
        [e.value for e in val.Scalars("epoch_loss")], np.float32(h.history["val_loss"])
    )
