"""The Callback base class (Keras's hooks) and the list that dispatches to callbacks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Callback:
    """Base class: override any hook. ``self.model`` is set before training starts.

    ``logs`` hold Python floats. Batch-level hooks receive the running metrics of the epoch,
    which costs a device read per batch: duallearn only computes them when a callback
    overrides a batch-end hook.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None: ...
    def on_train_end(self, logs: dict[str, float] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Keras's alias of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Keras's alias of :meth:`on_train_batch_end`."""

    def on_test_begin(self, logs: dict[str, float] | None = None) -> None: ...
    def on_test_end(self, logs: dict[str, float] | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None: ...
    def on_predict_begin(self, logs: dict[str, float] | None = None) -> None: ...
    def on_predict_end(self, logs: dict[str, float] | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None: ...


_BATCH_HOOKS = ("on_train_batch_end", "on_test_batch_end", "on_predict_batch_end")


class CallbackList:
    """Calls each hook on every callback in order."""

    def __init__(self, callbacks: Iterable[Callback], model: Any, params: dict[str, Any]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def wants_batch_logs(self, hook: str) -> bool:
        """Whether some callback overrides ``hook`` (so batch logs must be read), in its
        class or on the instance (``LambdaCallback`` sets its functions there)."""
        alias = {"on_train_batch_end": "on_batch_end", "on_train_batch_begin": "on_batch_begin"}
        hooks = [hook, alias[hook]] if hook in alias else [hook]
        return any(
            getattr(cb, "_wants_batch_logs", False)
            or any(getattr(type(cb), h) is not getattr(Callback, h) or h in vars(cb) for h in hooks)
            for cb in self.callbacks
        )

    def __getattr__(self, hook: str) -> Any:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call
