"""Keras's ``compile(steps_per_execution=k)``: the batch hooks of callbacks run once per
execution of ``k`` steps.

Keras 3 (TensorFlow backend; its torch backend refuses ``k > 1``) runs ``k`` batches per
call of its compiled step and calls, for the execution that starts at batch ``s`` (a multiple
of ``k`` within the epoch):

    on_*_batch_begin(s)            before the first of its steps
    on_*_batch_end(s + k - 1, logs)  after the last, ``s + k - 1`` also for a shorter last one

with the logs after its last step (predict: the outputs of all its batches). duallearn calls
the hooks at the same points on both engines; the numbers are those of ``k = 1`` (every step
is the same step). One difference, kept on purpose: where a data source of unknown length runs
out, Keras also calls ``on_*_batch_begin`` for the execution that found no batch; duallearn
calls hooks only for executions that ran a step.
"""

from __future__ import annotations


class Executions:
    """Which batch indices open and close an execution of ``k`` steps."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.start: int | None = None  # first batch of the open execution

    def begins(self, batch: int) -> bool:
        """Whether ``batch`` opens an execution (then ``self.start`` is its index)."""
        if self.start is None or batch % self.k == 0:
            self.start = batch - batch % self.k
            return True
        return False

    def ends(self, batch: int) -> int | None:
        """The index the end hook receives if ``batch`` completes the open execution."""
        if (batch + 1) % self.k == 0:
            return self.close()
        return None

    def close(self) -> int | None:
        """End the open execution early (the data ran out, or training stopped): the index
        for its end hook, or None if none is open."""
        if self.start is None:
            return None
        end, self.start = self.start + self.k - 1, None
        return end
