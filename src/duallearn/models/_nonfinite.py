"""``fit``'s stop on a non-finite training step (docs/training.md, "Non-finite values").

The runtime checks the loss and the gradients of every step on the device and skips the
update of a non-finite step and of every step after it until a logging read finds the flag
(``Runtime.nonfinite_step``; ``CompiledSteps``/``CustomSteps.nonfinite``). Here, once the flag
is found, the batch is named, its data checked on the host for the cause, and ``fit`` either
raises :class:`~duallearn.errors.TrainingError` or, with ``TerminateOnNaN``, stops without
an error. Either way the weights and optimizer state are those before that batch.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TrainingError

if TYPE_CHECKING:
    from ._model import Model


def check(
    model: Model,
    steps: Any,
    epoch: int,
    batch_now: int,
    feed: Any,
    key: tuple[int, ...],
    stops_on_nan: bool,
    current: tuple[int, Any] | None = None,
) -> None:
    """After a logging read of ``fit``: when ``steps`` found a non-finite step, raise the
    error naming it, or (``TerminateOnNaN``) set ``model.stop_training``.

    ``batch_now``: the batch (0-based, in ``epoch``) of the last train call; ``feed``/``key``
    replay the epoch's batches (array data); ``current``: ``(batch, data)`` of the batch
    just trained (other sources cannot be replayed)."""
    found = getattr(steps, "nonfinite", None)
    if found is None:
        return
    steps.nonfinite = None  # handled once
    calls_ago, what = found
    batch = max(0, batch_now - calls_ago)
    model._batches_done = batch  # that batch and any later one did not update anything
    if stops_on_nan:
        if not model.stop_training:  # (TerminateOnNaN already said so for a NaN loss)
            print(
                f"Batch {batch}: {what}; terminating training",
                flush=True,
            )
        model.stop_training = True
        return
    cause = _cause(model, _batch_data(model, feed, epoch, key, batch, current))
    raise TrainingError(
        f"Training stopped in epoch {epoch + 1}, batch {batch} (0-based): {what}. "
        f"Expected: a finite loss and finite gradients. {cause} The weights and "
        "optimizer state are those before this batch (its update and those of any later "
        "batch were skipped). Fix: remove or repair the non-finite data (e.g. np.nan_to_num), "
        "lower the learning rate, or add dl.callbacks.TerminateOnNaN() to stop without an "
        "error."
    )


def _batch_data(
    model: Model, feed: Any, epoch: int, key: tuple[int, ...], batch: int, current: Any
) -> tuple[Any, np.ndarray | None] | None:
    """``((xs, ys, sws), sample indices or None)`` of ``batch``, or None when the data
    source cannot be read again. Array data is replayed in the epoch's order (an index
    feed with the same order gives the samples' positions)."""
    if feed.arrays is not None:
        idx_feed = type(feed)(
            model,
            "arrays",
            arrays=([np.arange(feed.n)], [], []),
            batch_size=feed.batch_size,
            shuffle=feed.shuffle,
        )
        got = next(itertools.islice(idx_feed.epoch(epoch, key), batch, None), None)
        if got is None:
            return None
        rows = got[0][0]
        xs, ys, sws = feed.arrays
        return (
            [a[rows] for a in xs],
            [a[rows] for a in ys],
            [s if s is None else s[rows] for s in sws],
        ), rows
    if current is not None and current[0] == batch:
        return current[1], None
    return None


def _cause(model: Model, data: tuple[Any, np.ndarray | None] | None) -> str:
    """Which array of the batch held NaN or inf (checked on the host), or why none did."""
    if data is None:
        return (
            "Cause not checked: the data source cannot be read again (check that batch for "
            "NaN/inf)."
        )
    (xs, ys, sws), samples = data
    try:
        in_names = list(model.input_names)
        out_names = list(model.output_names)
    except Exception:  # a model without a graph (custom train_step)
        in_names, out_names = [], []
    groups = (
        ("input", in_names, xs),
        ("the target of output", out_names, ys),
        ("the sample_weight of output", out_names, sws),
    )
    bad = []
    for label, names, arrays in groups:
        for i, a in enumerate(arrays):
            a = None if a is None else np.asarray(a)
            if a is None or a.dtype.kind not in "fc" or a.ndim == 0:
                continue
            rows = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
            if not rows.size:
                continue
            name = names[i] if i < len(names) else str(i)
            where = rows if samples is None else samples[rows]
            more = "..." if where.size > 8 else ""
            unit = "rows of the batch" if samples is None else "samples"
            bad.append(f"{label} {name!r} has NaN/inf in {unit} {where[:8].tolist()}{more}")
    if bad:
        return "Received: " + "; ".join(bad) + "."
    return (
        "Received: the batch's inputs, targets and sample weights are all finite, so a "
        "layer's output or a gradient became NaN/inf (e.g. log or sqrt of 0, a division by "
        "0, an overflow from too high a learning rate)."
    )
