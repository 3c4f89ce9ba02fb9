"""``EarlyStopping``: stop when a monitored quantity stops improving (Keras 3's rule)."""

from __future__ import annotations

from typing import Any

from ._callback import Callback
from ._util import missing_monitor, monitor_op


class EarlyStopping(Callback):
    """Stop training after ``patience`` epochs without an improvement of ``monitor``.

    An improvement is ``current - min_delta`` below the best ("min") or ``current + min_delta``
    above it ("max"). ``baseline``: the wait counter only resets once the value beats it.
    ``restore_best_weights`` puts back the weights of the best epoch when training ends (also
    when ``patience`` was never exhausted, as Keras 3). ``start_from_epoch``: epochs before it
    are ignored (warm-up). Same arguments and behaviour as ``keras.callbacks.EarlyStopping``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.monitor_op = monitor_op(mode, monitor, "EarlyStopping")
        self.min_delta = abs(float(min_delta)) * (1 if self.monitor_op(1.0, 0.0) else -1)
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: Any = None
        self.best_epoch = 0

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def _improved(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            missing_monitor("EarlyStopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.",
                    flush=True,
                )
            self.model.set_weights(self.best_weights)
