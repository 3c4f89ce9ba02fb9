"""Device selection, verbose resolution, progress output and the prefetching thread (no
framework needed)."""

from __future__ import annotations

import time

import pytest

from duallearn import config
from duallearn.data._dataset import prefetched
from duallearn.errors import ConfigError
from duallearn.models._progress import Progress, resolve_verbose


@pytest.fixture(autouse=True)
def _no_device(monkeypatch):
    monkeypatch.delenv(config.DEVICE_ENV, raising=False)
    config.set_device(None)
    yield
    config.set_device(None)


def test_device_resolution_order(monkeypatch):
    assert config.resolve_device(gpu_count=0) == "cpu"
    assert config.resolve_device(gpu_count=2) == "cuda:0"  # default: the GPU when present
    monkeypatch.setenv(config.DEVICE_ENV, "cpu")
    assert config.resolve_device(gpu_count=2) == "cpu"
    config.set_device("cuda:1")  # set_device beats the variable
    assert config.resolve_device(gpu_count=2) == "cuda:1"
    assert config.resolve_device("CUDA", gpu_count=2) == "cuda:0"  # the argument beats both
    assert config.resolve_device("gpu:1", gpu_count=2) == "cuda:1"
    assert config.resolve_device("auto", gpu_count=0) == "cpu"


def test_device_errors(monkeypatch):
    with pytest.raises(ConfigError, match="Unknown device 'tpu'"):
        config.set_device("tpu")
    with pytest.raises(ConfigError, match="'cuda:1' was requested but this machine has 1 GPU"):
        config.resolve_device("cuda:1", gpu_count=1)
    monkeypatch.setenv(config.DEVICE_ENV, "cuda")
    with pytest.raises(ConfigError, match="has no GPU.*unset DUALLEARN_DEVICE"):
        config.resolve_device(gpu_count=0)
    monkeypatch.setenv(config.DEVICE_ENV, "cuda:x")
    with pytest.raises(ConfigError, match="Unknown device"):
        config.resolve_device(gpu_count=0)


def test_verbose_values():
    assert [resolve_verbose(v) for v in ("auto", 0, 1, 2)] == [1, 0, 1, 2]
    for bad in (3, True, "yes"):
        with pytest.raises(ConfigError, match="verbose must be 0, 1, 2 or 'auto'"):
            resolve_verbose(bad)


def test_progress_plain_lines_when_not_a_terminal(capsys):
    # pytest's captured stdout is not a terminal: verbose=1 prints one line per epoch
    p = Progress("train", 1, 3, 2)
    assert not p.bar_used
    p.start_epoch(0)
    for b in range(3):
        p.step(b, lambda: {"loss": 1.0})
    p.end_epoch(0, {"loss": 0.5, "accuracy": 0.25})
    p.close()
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/2 - ") and out.endswith("s - loss: 0.5000 - accuracy: 0.2500\n")
    Progress("train", 0, 3, 2).end_epoch(0, {"loss": 1.0})
    assert capsys.readouterr().out == ""


def test_progress_bar_reads_metrics_at_most_every_refresh(monkeypatch, capsys):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    monkeypatch.setattr("sys.stdout", out)
    reads = []
    p = Progress("train", 1, 200, 1)
    assert p.bar_used
    p.start_epoch(0)
    for b in range(200):
        p.step(b, lambda: reads.append(1) or {"loss": 0.5})
    p.end_epoch(0, {"loss": 0.25})
    text = out.getvalue()
    assert "Epoch 1/1" in text and "200/200" in text and "loss: 0.2500" in text
    assert len(reads) <= 2  # 200 fast steps: the device is read at most every 0.5 s


def test_prefetch_runs_ahead_and_reraises():
    produced = []

    def source():
        for i in range(10):
            produced.append(i)
            yield i

    it = prefetched(source(), 2)
    assert next(it) == 0
    deadline = time.time() + 5
    while len(produced) < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert len(produced) >= 3  # the thread produced ahead while we did not consume
    assert list(it) == list(range(1, 10))

    def failing():
        yield 1
        raise KeyError("bad record")

    it = prefetched(failing(), 2)
    assert next(it) == 1
    with pytest.raises(KeyError, match="bad record"):
        next(it)


def test_callback_argument_errors():
    from duallearn import callbacks as cb

    with pytest.raises(ConfigError, match="does not support a factor >= 1.0"):
        cb.ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ConfigError, match="mode must be 'auto', 'min' or 'max'"):
        cb.EarlyStopping(mode="up")
    with pytest.raises(ConfigError, match="save_freq must be 'epoch' or a positive integer"):
        cb.ModelCheckpoint("m.dlm", save_freq=0)
    with pytest.raises(ConfigError, match="save_freq must be 'epoch' or a positive integer"):
        cb.BackupAndRestore("backup", save_freq="batch")
    with pytest.raises(ConfigError, match="write_images, profile_batch and embeddings_freq"):
        cb.TensorBoard(profile_batch=2)
    with pytest.raises(ConfigError, match="update_freq must be 'epoch', 'batch'"):
        cb.TensorBoard(update_freq=-1)
    with pytest.raises(ConfigError, match="unknown hook 'on_epoch_finish'"):
        cb.LambdaCallback(on_epoch_finish=print)
    # "auto" mode: max for accuracy-like names, min otherwise (Keras's rule)
    assert cb.EarlyStopping(monitor="val_accuracy").monitor_op(2.0, 1.0)
    assert cb.EarlyStopping(monitor="val_loss").monitor_op(1.0, 2.0)
