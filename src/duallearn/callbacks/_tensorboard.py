"""``TensorBoard``: scalars, learning rate and weight histograms, without TensorFlow."""

from __future__ import annotations

import os
from typing import Any

from ..distribution._data_parallel import writes_files
from ..errors import ConfigError
from ._callback import Callback
from ._events import EventFileWriter
from ._util import check_writable


class TensorBoard(Callback):
    """Write TensorBoard event files under ``log_dir`` (Keras's layout and tag names).

    ``log_dir/train``: ``epoch_<metric>`` per epoch (``epoch_loss``, ``epoch_accuracy``...),
    ``epoch_learning_rate``, and with ``update_freq`` = "batch" or N, ``batch_<metric>``
    every N batches (running epoch averages, as Keras 3; one device read each);
    ``log_dir/validation``: the ``val_*`` logs under the same ``epoch_<metric>`` tags;
    ``histogram_freq`` = k > 0: a histogram of every weight (tag ``<layer>/<weight>``) every
    k epochs. The writer is pure Python (``callbacks/_events.py``): event files are
    identical whichever backend trains and never import TensorFlow.
    Differs from Keras: no graph, image, profiler or embedding output (arguments accepted
    for compatibility, ``write_graph`` ignored; the others must stay off). Under a
    distribution only process 0 writes (the logs are reduced over every process).
    """

    def __init__(
        self,
        log_dir: str = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: Any = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ) -> None:
        super().__init__()
        if write_images or profile_batch or embeddings_freq:
            raise ConfigError(
                "TensorBoard: write_images, profile_batch and embeddings_freq are not supported "
                "by duallearn. Fix: leave them at their defaults."
            )
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1
        ):
            raise ConfigError(
                f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer. "
                f"Received: {update_freq!r}."
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = update_freq
        self._wants_batch_logs = update_freq != "epoch"
        self._train: EventFileWriter | None = None
        self._val: EventFileWriter | None = None
        self._step = 0

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._train = self._val = None
        if not writes_files():  # data-parallel: process 0 writes
            return
        check_writable(self.log_dir, "TensorBoard")
        self._train = EventFileWriter(os.path.join(self.log_dir, "train"))
        self._step = int(getattr(self.model.optimizer, "iterations", 0) or 0)

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self._step += 1
        if self.update_freq == "epoch" or self._train is None:
            return
        if self._step % self.update_freq == 0:
            self._train.scalars(self._step, {f"batch_{k}": v for k, v in (logs or {}).items()})

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self._train is None:
            return
        logs = logs or {}
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
        opt = self.model.optimizer
        if opt is not None and "epoch_learning_rate" not in train:
            train["epoch_learning_rate"] = opt.current_learning_rate()
        self._train.scalars(epoch, train)
        val = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
        if val:
            if self._val is None:
                self._val = EventFileWriter(os.path.join(self.log_dir, "validation"))
            self._val.scalars(epoch, val)
            self._val.flush()
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            weights = self.model.get_weights()
            names = [f"{layer.name}/{w.name}" for layer in self.model.layers for w in layer.weights]
            self._train.histograms(epoch, dict(zip(names, weights, strict=True)))
        self._train.flush()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        for w in (self._train, self._val):
            if w is not None:
                w.close()
        self._train = self._val = None
