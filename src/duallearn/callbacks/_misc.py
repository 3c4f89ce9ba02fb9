"""``CSVLogger``, ``TerminateOnNaN`` and ``LambdaCallback`` (Keras 3's behaviour)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from typing import Any

from ..distribution._data_parallel import writes_files
from ._callback import Callback
from ._util import check_writable


class CSVLogger(Callback):
    """Stream epoch results to a CSV file: a header ``epoch,<sorted log keys>`` then one row
    per epoch (flushed). ``append=True`` continues an existing file (e.g. after a resume).
    Under a distribution only process 0 writes."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None
        self._file: Any = None
        self._writer: Any = None

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._file = None
        if not writes_files():  # data-parallel: process 0 writes
            return
        check_writable(os.path.dirname(self.filename) or ".", "CSVLogger")
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._has_header = bool(exists)
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys, self._writer = None, None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self._file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self.keys], delimiter=self.sep
            )
            if not self._has_header:
                self._writer.writeheader()
        row = {"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}}
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """Stop training (without an error) at the first batch whose running loss is NaN or
    infinite, or whose gradients are (a NaN the forward hid: fit's guard, docs/training.md
    "Non-finite values"). Reads the logs after every batch (one device read per step).

    Differs from Keras: the weights and optimizer state are those before that batch (its
    update was skipped), and ``optimizer.iterations`` does not count it. Without this
    callback ``fit`` raises ``TrainingError`` naming the epoch, the batch and the cause."""

    _stops_on_nan = True

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch,
    logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_train_batch_begin(batch,
    logs)``, ``on_train_batch_end(batch, logs)`` (also Keras's ``on_batch_begin`` /
    ``on_batch_end``), and any other hook by keyword."""

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        super().__init__()
        aliases = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
        for name, fn in hooks.items():
            name = aliases.get(name, name)
            if not name.startswith("on_") or not hasattr(Callback, name):
                from ..errors import ConfigError

                raise ConfigError(f"LambdaCallback: unknown hook {name!r}.")
            setattr(self, name, fn)
        self._wants_batch_logs = "on_train_batch_end" in {aliases.get(h, h) for h in hooks}
