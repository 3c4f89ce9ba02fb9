"""Keras's one-batch methods: ``train_on_batch`` and ``test_on_batch``.

Each call runs one step on the whole batch it is given (the step ``fit`` / ``evaluate`` run:
compiled, or an overridden ``train_step`` / ``test_step``). As in Keras 3 (3.15) the metrics are
reset before each call, so the logs are this batch's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from . import _adapter
from ._steps import CompiledSteps, steps_for

if TYPE_CHECKING:
    from ._model import Model


class OnBatchMixin:
    """``train_on_batch`` / ``test_on_batch`` of :class:`~duallearn.Model`."""

    def train_on_batch(
        self: Any,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One training step on the batch ``(x, y, sample_weight)`` (Keras 3).

        Returns this batch's logs (the metrics are reset first, as Keras 3): a dict with
        ``return_dict=True``, else Keras's flat order (the loss, then each metric; a scalar
        when there is only the loss)."""
        return _on_batch(self, "train", x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(
        self: Any,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One evaluation step on the batch (Keras 3); logs as :meth:`train_on_batch`."""
        return _on_batch(self, "test", x, y, sample_weight, None, return_dict)


def _rows(x: Any) -> int:
    first = next(iter(x.values())) if isinstance(x, dict) else x
    if isinstance(first, (list, tuple)) and first and not np.isscalar(first[0]):
        first = first[0]
    return max(1, len(_adapter.leaf(first, "inputs", True)))


def _on_batch(
    model: Model,
    kind: str,
    x: Any,
    y: Any,
    sample_weight: Any,
    class_weight: Any,
    return_dict: bool,
) -> Any:
    if not model.compiled:
        raise ConfigError(
            f"{kind}_on_batch needs a compiled model; model {model.name!r} is not compiled. "
            "Fix: model.compile(optimizer=..., loss=...) first."
        )
    feed = _adapter.DataAdapter.create(
        model, x, y, sample_weight, class_weight, batch_size=_rows(x), shuffle=False
    )
    model.reset_metrics()  # Keras 3: each call's logs are its batch's
    cache = model.__dict__.setdefault("_on_batch", {})
    steps = cache.get(kind)
    if steps is None or steps[0] is not model._compile_args:
        steps = cache[kind] = (model._compile_args, steps_for(model, kind))
    impl = steps[1]
    impl.x_keys = feed.x_keys
    if feed.arrays is not None and isinstance(impl, CompiledSteps):
        model._ensure_train_spec(feed.arrays[1])
    try:
        for _, (bx, by, bw) in feed.batches(0, "training" if kind == "train" else "evaluation"):
            impl.begin(by, feed.static_batch)
            if kind == "train":
                impl.train(bx, by, bw)
            else:
                impl.test(bx, by, bw)
    finally:
        feed.finish()
    # kept for the next call (a custom step's begin resets the metrics, which drops it)
    model.__dict__.setdefault("_on_batch", {})[kind] = steps
    logs = impl.logs(reset=True)  # the compiled step's accumulators start the next call empty
    if return_dict:
        return logs
    return _flatten_in_order(model, logs)


def _flatten_in_order(model: Model, logs: dict[str, Any]) -> Any:
    """Keras's ``_flatten_metrics_in_order``: the metrics' names first, then the other keys
    sorted; a single value alone."""
    names = [m.name for m in model.metrics]
    out = [logs[n] for n in names if n in logs]
    out += [logs[k] for k in sorted(logs) if k not in names]
    return out[0] if len(out) == 1 else out
