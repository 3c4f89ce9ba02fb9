"""One process of a data-parallel run (started by ``duallearn launch`` in test_data_parallel.py),
or the one-process reference run of the same script.

Usage: python _worker.py BACKEND OUT.npz MODE [BATCH]

MODE (with a "-sum" suffix: the loss has reduction="sum"): "single" (no distribution), "sync" (DataParallel, synchronized BatchNormalization),
"mirrored" / "mirrored-replica" (one process, DataParallel over 2 logical CPU devices:
TensorFlow's MirroredStrategy; synchronized / per-replica BatchNormalization),
"mirrored-gpu" (one process, DataParallel over gpu:0 and gpu:1),
"replica" (DataParallel(sync_batch_norm=False)), "kill" (process 1 SIGKILLs itself in
epoch 2 while process 0 writes a checkpoint and a BackupAndRestore backup after every
batch), "hang" (process 1 stops answering in epoch 2; the collectives of process 0 time out
after 5 s), "resume" (BackupAndRestore without the kill: continues from the backup).

Process 0 (or the single process) saves the final weights, History, evaluate() and predict()
(of arrays and of a generator) to OUT.npz; every other process saves its weights to OUT.npz.rank<R>.npz.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

EPOCHS = 2  # 10 steps
BATCH = 11  # the global batch: shards of 6 and 5 rows
N = 50  # validation_split=0.1 leaves 45: 5 batches an epoch, the last of 1 row (fewer rows
# than processes: each process takes it whole) and 5 validation rows (shards of 3 and 2)


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 4, 6)).astype("float32")
    s = x[:, :, 0].sum(axis=1) + 0.5 * x[:, 0, 1] - x[:, 2, 3]
    return x, (s > 0).astype("int64")


def model(dl, reduction: str = "sum_over_batch_size"):
    m = dl.Sequential(
        [
            dl.Input((4, 6)),
            dl.layers.Dense(16, use_bias=False),  # (a bias before BN has no gradient)
            dl.layers.BatchNormalization(momentum=0.9),
            dl.layers.Activation("relu"),
            dl.layers.Dropout(0.25),
            dl.layers.Flatten(),
            dl.layers.Dense(2),
        ]
    )
    m.compile(
        dl.optimizers.Adam(0.01),
        dl.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction),
        metrics=["accuracy"],
    )
    return m


def batches(x, y=None, size=7):
    """A one-shot data source (a generator) of global batches: 7 of 7 rows, then 1 row."""
    for i in range(0, len(x), size):
        yield x[i : i + size] if y is None else (x[i : i + size], y[i : i + size])


def stop_process_1(dl, m, mode: str):
    """A callback: in epoch 2, process 1 kills itself (``kill``) or stops answering."""
    rank = dl.distribution.process_index()

    def at_batch(batch, logs):
        if rank == 1 and m._epochs_done == 1 and batch == 2:
            print(f"stopping at {time.time():.3f}", flush=True)  # the test times the rest
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(600)

    return dl.callbacks.LambdaCallback(on_train_batch_begin=at_batch)


def main(backend: str, out: str, mode: str, batch: int = BATCH) -> None:
    if (
        mode.startswith("mirrored") and mode != "mirrored-gpu"
    ):  # 2 logical CPU devices, made before TensorFlow runs
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    import duallearn as dl

    dl.set_backend(backend)
    dl.config.set_deterministic(True)
    rank = dl.distribution.process_index()
    reduction = "sum" if mode.endswith("sum") else "sum_over_batch_size"
    mode = mode.removesuffix("-sum")
    if mode != "single":
        timeout = 5 if mode == "hang" else 30
        devices = ["cpu:0", "cpu:1"] if mode.startswith("mirrored") else None
        if mode == "mirrored-gpu":
            devices = ["gpu:0", "gpu:1"]
        plan = dl.distribution.DataParallel(
            devices, sync_batch_norm=mode not in ("replica", "mirrored-replica"), timeout=timeout
        )
        dl.distribution.set_distribution(plan)
    # process 0 builds the single run's model; the others other weights, which fit replaces
    dl.set_random_seed(0 if rank == 0 else 100 + rank)
    x, y = data()
    m = model(dl, reduction)
    # the batch order and mask stream of the single run; process 0's must win
    m._shuffle_seed, m._noise_stream = (11, 22) if rank == 0 else (99, 98)
    callbacks = []
    epochs = EPOCHS
    if mode in ("kill", "hang"):
        folder = os.path.join(os.path.dirname(out), "ckpt")
        path = os.path.join(folder, f"written-by-{rank}-epoch-{{epoch}}.dlm")
        callbacks.append(dl.callbacks.ModelCheckpoint(path, save_freq=1))
    if mode == "hang":  # the run must outlast the 5 s timeout
        epochs = 50
    if mode in ("kill", "resume"):
        backup = os.path.join(os.path.dirname(out), "backup")
        callbacks.append(dl.callbacks.BackupAndRestore(backup, save_freq=1))
    if mode in ("kill", "hang"):
        callbacks.append(stop_process_1(dl, m, mode))
    hist = m.fit(
        x,
        y,
        batch_size=batch,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
        validation_split=0.1,
    )
    ev = m.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)
    pred = m.predict(x, batch_size=4, verbose=0)
    ev_source = m.evaluate(batches(x, y), verbose=0, return_dict=True)
    pred_source = m.predict(batches(x), verbose=0)
    arrays = {f"w{i}": w for i, w in enumerate(m.get_weights())}
    if rank != 0:  # every replica's weights, to prove they stayed identical
        np.savez(f"{out}.rank{rank}.npz", **arrays)
        return
    for k, v in hist.history.items():
        arrays[f"h_{k}"] = np.asarray(v)
    for k, v in ev.items():
        arrays[f"e_{k}"] = np.asarray(v)
    arrays["pred"] = pred
    arrays["pred_source"] = pred_source
    for k, v in ev_source.items():
        arrays[f"s_{k}"] = np.asarray(v)
    np.savez(out + ".tmp.npz", **arrays)
    os.replace(out + ".tmp.npz", out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:]))
