"""A training run that SIGKILLs itself mid-epoch (run as a subprocess by test_resume.py).

Usage: python _resume_worker.py BACKEND WORKDIR KILL_EPOCH KILL_BATCH MODE [BACKUP_EVERY_N_BATCHES]

MODE: "deterministic" (front-end dropout masks) or "fast" (the backend's native generator).
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

EPOCHS = 5
BATCH = 16


def setup(mode: str = "deterministic"):
    import duallearn as dl

    dl.config.set_deterministic(mode == "deterministic")
    dl.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6)).astype("float32")
    y = (x[:, 0] - x[:, 2] > 0).astype("int64")
    m = dl.Sequential(
        [
            dl.Input((6,), name="features"),
            dl.layers.Dense(16, activation="relu"),
            dl.layers.Dropout(0.3),
            dl.layers.Dense(2),
        ]
    )
    lr = dl.optimizers.schedules.ExponentialDecay(0.02, decay_steps=4, decay_rate=0.7)
    m.compile(
        dl.optimizers.Adam(lr),
        dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return m, x, y


def callbacks(workdir: str, kill_at: tuple[int, int] | None, save_freq: str | int = "epoch"):
    import duallearn as dl

    cbs = [
        dl.callbacks.BackupAndRestore(os.path.join(workdir, "backup"), save_freq=save_freq),
        dl.callbacks.ModelCheckpoint(os.path.join(workdir, "ckpt-{epoch}.dlm")),
    ]
    if kill_at is not None:

        def maybe_kill(batch, logs):
            m = cbs[0].model
            if (m._epochs_done, batch) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        cbs.append(dl.callbacks.LambdaCallback(on_train_batch_begin=maybe_kill))
    return cbs


if __name__ == "__main__":
    import duallearn as dl

    backend, workdir, epoch, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5]
    save_freq: str | int = int(sys.argv[6]) if len(sys.argv) > 6 else "epoch"
    if backend == "tensorflow":
        import torch  # noqa: F401  (torch before tensorflow in one process)
    dl.set_backend(backend)
    m, x, y = setup(mode)
    m.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        verbose=0,
        callbacks=callbacks(workdir, (epoch, batch), save_freq),
    )
    sys.exit(3)  # not reached: the process kills itself
