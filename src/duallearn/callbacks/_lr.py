"""Learning-rate callbacks: ``ReduceLROnPlateau`` and ``LearningRateScheduler``.

The front-end passes the learning rate to the backend at every step, so setting
``model.optimizer.learning_rate`` (a float) takes effect at the next step on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ._callback import Callback
from ._util import missing_monitor, monitor_op


def _float_lr(model: Any, who: str) -> float:
    opt = model.optimizer
    if opt is None:
        raise ConfigError(f"{who} needs a compiled model (model.compile(optimizer=...)).")
    if callable(opt.learning_rate):
        raise ConfigError(
            f"{who} cannot change a learning rate that is a schedule "
            f"({type(opt.learning_rate).__name__}). Fix: compile with a float learning_rate, "
            "or drop the schedule or the callback."
        )
    return float(opt.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved (by more
    than ``min_delta``) for ``patience`` epochs; wait ``cooldown`` epochs after a reduction;
    never go below ``min_lr``. Adds ``learning_rate`` to the epoch logs. Keras 3's rule."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ConfigError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}."
            )
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.min_delta = verbose, float(min_delta)
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        op = monitor_op(mode, monitor, "ReduceLROnPlateau")
        self._max = bool(op(1.0, 0.0))
        self._reset()

    def _reset(self) -> None:
        self.best = float("-inf") if self._max else float("inf")
        self.cooldown_counter = 0
        self.wait = 0

    def _better(self, a: float, b: float) -> bool:
        return a > b + self.min_delta if self._max else a < b - self.min_delta

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs if logs is not None else {}
        lr = _float_lr(self.model, "ReduceLROnPlateau")
        logs["learning_rate"] = lr
        current = logs.get(self.monitor)
        if current is None:
            missing_monitor("ReduceLROnPlateau", self.monitor, logs)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new_lr
                if self.verbose:
                    print(
                        f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
                        flush=True,
                    )
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or
    ``schedule(epoch)``); adds ``learning_rate`` to the epoch logs. Keras 3's rule."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        lr = _float_lr(self.model, "LearningRateScheduler")
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        if isinstance(new, bool) or not isinstance(new, (int, float)) or new != new:
            raise ConfigError(
                f"LearningRateScheduler: the schedule must return a float. Received: {new!r} "
                f"at epoch {epoch}."
            )
        self.model.optimizer.learning_rate = float(new)
        if self.verbose:
            print(
                f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.",
                flush=True,
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _float_lr(self.model, "LearningRateScheduler")
