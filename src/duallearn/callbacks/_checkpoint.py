"""``ModelCheckpoint`` and ``BackupAndRestore``: files written atomically, and exact resume.

A whole-model checkpoint (``.dlm``) holds the weights, the optimizer slots and step counter,
the compile config (so a learning rate changed by ``ReduceLROnPlateau`` is kept) and fit's
training state (``training.json``: the shuffle seed, the deterministic-mode noise stream and
the number of finished epochs). Array data are shuffled per epoch by
``Philox(shuffle_seed, epoch, iterations)``, so resuming from the file at epoch ``e`` replays
exactly the batches, learning rates and dropout masks of the uninterrupted run.

Under a distribution (``duallearn.distribution``) only process 0 writes and deletes files;
every process reads a backup to resume (the folder is shared), and ``fit`` then gives every
process process 0's weights, optimizer state and position.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..distribution._data_parallel import writes_files
from ..errors import ConfigError
from ._callback import Callback
from ._util import check_writable, missing_monitor, monitor_op


def restore_checkpoint(model: Any, path: str) -> dict[str, Any]:
    """Load a ``.dlm`` file written by ``model.save`` into ``model`` (same architecture):
    weights, optimizer state, step counter, learning rate and training state. Works across
    backends (the file is canonical). Returns the training state."""
    from ..saving import _safetensors, read_model_file
    from ..saving._container import parse_json

    config, _, tensors, _, members = read_model_file(path)
    model.set_weights([tensors[k] for k in sorted(tensors)])
    opt = model.optimizer
    comp = config.get("compile") or {}
    lr = ((comp.get("optimizer") or {}).get("config") or {}).get("learning_rate")
    if opt is not None and isinstance(lr, (int, float)) and not callable(opt.learning_rate):
        opt.learning_rate = float(lr)
    if opt is not None and "optimizer.safetensors" in members:
        state, _ = _safetensors.loads(members["optimizer.safetensors"], path)
        opt.iterations = int(np.asarray(state.get("iterations", 0)))
        model._pending_optimizer_state = state
        if model._runtime is not None and model._train_spec is not None:
            model._apply_pending_optimizer_state()
    training = parse_json(members["training.json"], path) if "training.json" in members else {}
    model._restore_training_state(training)
    return training


class BatchCount:
    """Keras's count of the batches trained since the last save, from the indices
    ``on_train_batch_end`` receives: under ``compile(steps_per_execution=k)`` one call covers
    ``k`` batches. An index not above the last one starts a new epoch."""

    def __init__(self) -> None:
        self.since = 0
        self.last: int | None = None

    def due(self, batch: int, every: int) -> bool:
        """Count up to ``batch``; True (and restart) once ``every`` batches are counted."""
        new_epoch = self.last is None or batch <= self.last
        self.since += batch + 1 if new_epoch else batch - (self.last or 0)
        self.last = batch
        if self.since >= every:
            self.since = 0
            return True
        return False


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of epochs.

    ``filepath`` may contain ``{epoch}`` (1-based) and any log key, e.g.
    ``"ckpt/model-{epoch:02d}-{val_loss:.3f}.dlm"``. ``save_best_only`` saves only when
    ``monitor`` improves on the best so far (``initial_value_threshold`` seeds the best); with
    a fixed file name the file then always holds the best model. ``save_weights_only`` writes
    a safetensors weights file (``model.save_weights``), else a full ``.dlm``. Writes are
    atomic (temp file + rename): a crash leaves the previous checkpoint intact. The folder is
    checked for writing when training starts. ``save_freq``: "epoch" or an integer number of
    batches. Under a distribution only process 0 writes (the others keep the same "best").
    Differs from Keras: no required file suffix.
    """

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Any = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.monitor_op = monitor_op(mode, monitor, "ModelCheckpoint")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ConfigError(
                f"ModelCheckpoint: save_freq must be 'epoch' or a positive integer. "
                f"Received: save_freq={save_freq!r}."
            )
        self.save_freq = save_freq
        self._wants_batch_logs = save_freq != "epoch"
        self.best = initial_value_threshold
        self._batches = BatchCount()
        self._epoch = 0

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        if writes_files():
            check_writable(os.path.dirname(self.filepath) or ".", "ModelCheckpoint")

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self.save_freq == "epoch":
            return
        if self._batches.due(batch, self.save_freq):
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _path(self, epoch: int, batch: int | None, logs: dict[str, float]) -> str:
        try:
            if batch is None:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as exc:
            raise ConfigError(
                f"ModelCheckpoint: the file name {self.filepath!r} uses {exc}, which is not "
                f"in the logs. Available keys: epoch, {', '.join(sorted(logs))}."
            ) from None

    def _save(self, epoch: int, batch: int | None, logs: dict[str, float]) -> None:
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                missing_monitor("ModelCheckpoint", self.monitor, logs)
                return
            if self.best is not None and not self.monitor_op(current, self.best):
                if self.verbose and writes_files():
                    print(
                        f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}",
                        flush=True,
                    )
                return
            if self.verbose and writes_files():
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                    f"{current:.5f}, saving model to {path}",
                    flush=True,
                )
            self.best = current
        elif self.verbose and writes_files():
            print(f"Epoch {epoch + 1}: saving model to {path}", flush=True)
        if not writes_files():  # data-parallel: process 0 writes
            return
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class BackupAndRestore(Callback):
    """Back up the training at the end of every epoch, and resume from the backup when
    ``fit`` is started again after an interruption (a crash, SIGKILL, preemption).

    The backup is ``<backup_dir>/latest.dlm`` (written atomically): weights, optimizer slots and
    step counter, learning rate, shuffle seed, deterministic-mode noise stream and the number
    of finished epochs. On ``fit`` start an existing backup is loaded and training continues
    at the next epoch: the final weights are bit-identical to an uninterrupted run on the same
    backend with array data or ``dl.data.Dataset`` (same order, masks and learning rates). The
    backup is deleted when ``fit`` completes (``delete_checkpoint=True``). Not restored:
    other callbacks' state (as Keras), native RNGs of fast-mode dropout (use
    ``dl.config.set_deterministic()`` for exact resume with dropout), and the position
    inside a torch ``DataLoader``/generator. ``save_freq=N`` also backs up every N batches; a
    resume inside an epoch skips the batches already trained (same order: exact for array
    data and ``dl.data.Dataset``), and that epoch's logs cover only the batches after it.
    Under a distribution process 0 writes and deletes the backup, and a resumed run takes
    process 0's weights, optimizer state and position on every process.
    """

    FILE = "latest.dlm"

    def __init__(
        self,
        backup_dir: str,
        save_freq: Any = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ConfigError("BackupAndRestore: backup_dir must be a folder path.")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ConfigError(
                f"BackupAndRestore: save_freq must be 'epoch' or a positive integer (batches). "
                f"Received: save_freq={save_freq!r}."
            )
        self.save_freq = save_freq
        self._wants_batch_logs = False
        self._seen = BatchCount()
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self.double_checkpoint = double_checkpoint
        self._completed = False

    @property
    def path(self) -> str:
        return os.path.join(self.backup_dir, self.FILE)

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        if writes_files():
            check_writable(self.backup_dir, "BackupAndRestore")
        self._completed = False
        found = next((p for p in (self.path, self.path + ".prev") if os.path.exists(p)), None)
        if found is not None:
            state = restore_checkpoint(self.model, found)
            self.model._resume_epoch = int(state.get("epoch", 0))
            self.model._resume_batch = int(state.get("batch", 0))

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self.save_freq != "epoch" and self._seen.due(batch, self.save_freq):
            self._save()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._save()

    def _save(self) -> None:
        if not writes_files():  # data-parallel: process 0 writes
            return
        if self.double_checkpoint and os.path.exists(self.path):
            os.replace(self.path, self.path + ".prev")
        self.model.save(self.path, overwrite=True)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.delete_checkpoint and writes_files():
            for p in (self.path, self.path + ".prev"):
                if os.path.exists(p):
                    os.unlink(p)
