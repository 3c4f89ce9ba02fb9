"""Exact resume: a run SIGKILLed mid-epoch and resumed (BackupAndRestore, or a ModelCheckpoint
file + initial_epoch) ends with bit-identical weights to an uninterrupted run on the same
backend, with dropout (front-end masks in deterministic mode, the backend's native generator in
fast mode), an Adam optimizer and a decaying learning-rate schedule; a checkpoint written on one
backend continues the trajectory on the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import duallearn as dl
from duallearn import _naming
from duallearn.testing import assert_close

from ..conftest import need_backends
from ._resume_worker import BATCH, EPOCHS, callbacks, setup

WORKER = os.path.join(os.path.dirname(__file__), "_resume_worker.py")
KILL = (2, 1)  # killed at batch 1 of epoch 3 (0-based epoch 2): two epochs were finished


MODES = ["deterministic", "fast"]


def _fresh(mode: str = "deterministic"):
    _naming.reset_names()
    return setup(mode)


def _killed_run(backend: str, workdir: str, mode: str, *extra: str) -> None:
    proc = subprocess.run(
        [sys.executable, WORKER, backend, workdir, str(KILL[0]), str(KILL[1]), mode, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def _uninterrupted(backend: str, mode: str = "deterministic") -> list[np.ndarray]:
    with dl.use_backend(backend):
        m, x, y = _fresh(mode)
        m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0)
        return m.get_weights()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend_name", dl.available_backends())
def test_sigkill_then_resume_is_bit_identical(backend_name, mode, tmp_path):
    workdir = str(tmp_path)
    _killed_run(backend_name, workdir, mode)
    assert os.path.exists(os.path.join(workdir, "backup", "latest.dlm"))
    assert sorted(f for f in os.listdir(workdir) if f.endswith(".dlm")) == [
        "ckpt-1.dlm",
        "ckpt-2.dlm",
    ]
    reference = _uninterrupted(backend_name, mode)
    with dl.use_backend(backend_name):
        # 1. BackupAndRestore: the same script run again continues at epoch 3
        m, x, y = _fresh(mode)
        h = m.fit(
            x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=callbacks(workdir, None)
        )
        assert h.epoch == [2, 3, 4]
        assert m.optimizer.iterations == EPOCHS * 3
        for a, b in zip(m.get_weights(), reference, strict=True):
            np.testing.assert_array_equal(a, b)
        assert not os.path.exists(os.path.join(workdir, "backup", "latest.dlm"))
        # 2. ModelCheckpoint: load the last file and continue with initial_epoch
        _naming.reset_names()
        m = dl.load_model(os.path.join(workdir, "ckpt-2.dlm"))
        m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, initial_epoch=2, verbose=0)
        for a, b in zip(m.get_weights(), reference, strict=True):
            np.testing.assert_array_equal(a, b)


@need_backends("torch", "tensorflow")
def test_checkpoint_resumes_on_the_other_backend(tmp_path):
    """ckpt-2 written by torch during a full run; continued on TensorFlow for 9 steps."""
    workdir = str(tmp_path)
    dl.config.set_deterministic(True)
    with dl.use_backend("torch"):
        m, x, y = _fresh()
        m.fit(
            x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=callbacks(workdir, None)[1:]
        )
        reference = m.get_weights()
    _naming.reset_names()
    m = dl.load_model(os.path.join(workdir, "ckpt-2.dlm"), backend="tensorflow")
    assert m.backend_name == "tensorflow" and m.optimizer.iterations == 6
    m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, initial_epoch=2, verbose=0)
    for i, (a, b) in enumerate(zip(m.get_weights(), reference, strict=True)):
        assert_close(f"weight {i}", a, b, "float32", "params_10")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend_name", dl.available_backends())
def test_mid_epoch_backup_resumes_inside_the_epoch(backend_name, mode, tmp_path):
    """BackupAndRestore(save_freq=1): the backup after batch 0 of epoch 3 resumes at batch 1."""
    workdir = str(tmp_path)
    _killed_run(backend_name, workdir, mode, "1")
    reference = _uninterrupted(backend_name, mode)
    with dl.use_backend(backend_name):
        m, x, y = _fresh(mode)
        cbs = callbacks(workdir, None, save_freq=1)
        h = m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=cbs)
        assert h.epoch == [2, 3, 4] and m.optimizer.iterations == EPOCHS * 3
        for a, b in zip(m.get_weights(), reference, strict=True):
            np.testing.assert_array_equal(a, b)


def _noisy_model():
    dl.set_random_seed(3)
    inp = dl.Input((5, 4))
    h = dl.layers.LSTM(6, dropout=0.3, recurrent_dropout=0.2, return_sequences=True)(inp)
    h = dl.layers.MultiHeadAttention(2, 3, dropout=0.4)(h, h)
    h = dl.layers.Dropout(0.5)(dl.layers.Flatten()(h))
    out = dl.layers.GaussianNoise(0.7)(h)
    return dl.Model(inp, out)


@pytest.mark.parametrize("backend_name", dl.available_backends())
def test_fast_mode_noise_is_a_function_of_the_step_seed(backend_name):
    """Fast mode: every native draw (RNN, attention, dropout, Gaussian noise) is keyed by the
    step's seed, so the same seed redraws the same noise and another seed other noise;
    training-mode calls without a seed get fresh noise."""
    from duallearn.plugin import StepNoise

    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    with dl.use_backend(backend_name):
        runtime = _noisy_model()._get_runtime()
        a = runtime.forward([x], True, StepNoise(seed=7))[0]
        b = runtime.forward([x], True, StepNoise(seed=8))[0]
        fresh1 = runtime.forward([x], True)[0]
        fresh2 = runtime.forward([x], True)[0]
        again = runtime.forward([x], True, StepNoise(seed=7))[0]
        clean = runtime.forward([x], False)[0]
    np.testing.assert_array_equal(a, again)
    for other in (b, fresh1, fresh2, clean):
        assert np.abs(a - other).max() > 0.1
    assert np.abs(fresh1 - fresh2).max() > 0.1


@pytest.mark.parametrize("backend_name", dl.available_backends())
def test_fast_mode_fit_is_reproducible_and_uses_the_noise_stream(backend_name):
    """The same seed gives bit-identical fast-mode runs; another noise stream (the only
    difference) gives another trajectory, so dropout really is drawn from the stream."""
    runs = []
    for stream in (None, None, 12345):
        with dl.use_backend(backend_name):
            m, x, y = _fresh("fast")
            if stream is not None:
                m._noise_stream = stream
            m.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
            runs.append(m.get_weights())
    for a, b in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert max(np.abs(a - c).max() for a, c in zip(runs[0], runs[2], strict=True)) > 1e-4
