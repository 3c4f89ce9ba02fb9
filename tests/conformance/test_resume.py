"""Exact resume: a run SIGKILLed mid-epoch and resumed (BackupAndRestore, or a ModelCheckpoint
file + initial_epoch) ends with bit-identical weights to an uninterrupted run on the same
backend, in deterministic mode with dropout, an Adam optimizer and a decaying learning-rate
schedule; a checkpoint written on one backend continues the trajectory on the other."""

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


def _fresh():
    _naming.reset_names()
    return setup()


def _killed_run(backend: str, workdir: str, *extra: str) -> None:
    proc = subprocess.run(
        [sys.executable, WORKER, backend, workdir, str(KILL[0]), str(KILL[1]), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def _uninterrupted(backend: str) -> list[np.ndarray]:
    with dl.use_backend(backend):
        m, x, y = _fresh()
        m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0)
        return m.get_weights()


@pytest.mark.parametrize("backend_name", dl.available_backends())
def test_sigkill_then_resume_is_bit_identical(backend_name, tmp_path):
    workdir = str(tmp_path)
    _killed_run(backend_name, workdir)
    assert os.path.exists(os.path.join(workdir, "backup", "latest.dlm"))
    assert sorted(f for f in os.listdir(workdir) if f.endswith(".dlm")) == [
        "ckpt-1.dlm",
        "ckpt-2.dlm",
    ]
    reference = _uninterrupted(backend_name)
    with dl.use_backend(backend_name):
        # 1. BackupAndRestore: the same script run again continues at epoch 3
        m, x, y = _fresh()
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


@pytest.mark.parametrize("backend_name", dl.available_backends())
def test_mid_epoch_backup_resumes_inside_the_epoch(backend_name, tmp_path):
    """BackupAndRestore(save_freq=1): the backup after batch 0 of epoch 3 resumes at batch 1."""
    workdir = str(tmp_path)
    _killed_run(backend_name, workdir, "1")
    reference = _uninterrupted(backend_name)
    with dl.use_backend(backend_name):
        m, x, y = _fresh()
        cbs = callbacks(workdir, None, save_freq=1)
        h = m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=cbs)
        assert h.epoch == [2, 3, 4] and m.optimizer.iterations == EPOCHS * 3
        for a, b in zip(m.get_weights(), reference, strict=True):
            np.testing.assert_array_equal(a, b)
