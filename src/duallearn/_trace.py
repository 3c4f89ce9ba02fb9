"""The host side of a traced custom step (``compile(jit_compile=True)`` with an overridden
``train_step`` / ``test_step`` on TensorFlow: Keras's ``tf.function`` of the step).

A traced function runs its Python once, at trace time; every later call replays only the
native ops. The front-end keeps three kinds of state on the host that a step touches:

- ``optimizer.iterations`` (a Python int, +1 per ``apply``) and the learning rate, the
  schedule's value at ``iterations`` (a Python float);
- the running sums of the built-in metrics (``Metric._pending``: a native delta added per
  ``update_state``, read by ``result()``);
- the seeds of training-mode calls (``model(x, training=True)``): a function of the noise
  stream and ``iterations`` for the model being fit, a fresh draw of the global seed stream
  for any other model.

While a step is traced, a :class:`StepTrace` is active: ``apply`` takes its learning rate from
an input of the traced function and counts the call instead of bumping ``iterations``;
``update_state`` hands its delta to the trace (returned as an output); a training-mode call
takes its seed from an input and records how it was drawn; a built-in metric's ``result()``
is a :class:`Deferred` placeholder, read on the host after the call. The caller
(``models/_steps.TracedSteps``) then replays, per call, exactly what the eager step would
have done on the host: the same learning rates and seeds before the call, the same
``iterations`` increments and metric sums after it. Numbers are those of the eager step.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

_ACTIVE: contextvars.ContextVar[StepTrace | None] = contextvars.ContextVar(
    "duallearn_step_trace", default=None
)
MAX_SEEDS = 8  # training-mode calls per traced step (a GAN makes 2-3)


@dataclass
class SeedDraw:
    """How the eager step would draw seed ``k``: for ``model`` being fit (``own``), keyed
    by its noise stream and ``iterations + applied`` (applies made earlier in the step), or a
    fresh draw of the global stream (``own=False``)."""

    model: Any
    own: bool
    applied: int


@dataclass
class StepTrace:
    """What one trace of a step recorded (see the module docstring)."""

    lrs: dict[int, Any]  # id(optimizer) -> the traced learning-rate input
    optimizers: list[Any]
    seeds: Any  # the traced int64 seed vector (MAX_SEEDS,)
    applied: dict[int, int] = field(default_factory=dict)  # id(optimizer) -> apply calls
    deltas: list[tuple[Any, Any, Any]] = field(default_factory=list)  # (metric, nm, delta)
    draws: list[SeedDraw] = field(default_factory=list)
    structure: Any = None  # the step's logs, tensors replaced by output indices
    host_draws: int = 0  # dl.random draws (run on the host at each execution)

    def learning_rate(self, optimizer: Any) -> Any:
        key = id(optimizer)
        if key not in self.lrs:
            raise ConfigError(
                f"optimizer {type(optimizer).__name__} was applied in a compiled step but is "
                "not held by the model. Expected: the model's optimizer, or one held as an "
                "attribute of the model (a GAN's d_optimizer). Fix: hold it as an attribute, "
                "or compile(jit_compile=False) to run the step eagerly."
            )
        if self.applied.get(key, 0) and _has_schedule(optimizer):
            raise ConfigError(
                f"optimizer {type(optimizer).__name__} with a learning-rate schedule is applied "
                "twice in one compiled step; its second learning rate would be the schedule's "
                "value one iteration later, which the traced step does not feed. Fix: one "
                "apply per optimizer per step, or compile(jit_compile=False)."
            )
        return self.lrs[key]

    def count_apply(self, optimizer: Any) -> None:
        key = id(optimizer)
        self.applied[key] = self.applied.get(key, 0) + 1

    def seed(self, model: Any, own: bool) -> Any:
        k = len(self.draws)
        if k >= MAX_SEEDS:
            raise ConfigError(
                f"a compiled step made more than {MAX_SEEDS} training-mode model calls. "
                "Fix: compile(jit_compile=False) to run this step eagerly."
            )
        opt = getattr(model, "optimizer", None)
        applied = self.applied.get(id(opt), 0) if own else 0
        self.draws.append(SeedDraw(model, own, applied))
        return self.seeds[k]


class Deferred:
    """A built-in metric's ``result()`` inside a traced step: read on the host after the
    call (the traced step returns it in its logs). Any other use is an error."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def _refuse(self, *_: Any) -> Any:
        raise ConfigError(
            f"metric {self.metric.name!r}: result() inside a compiled step can only be "
            "returned in the step's logs (it is read after the step runs). Received: an "
            "arithmetic or conversion use of it. Fix: return it as is, or "
            "compile(jit_compile=False) to run the step eagerly."
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __neg__ = __float__ = __bool__ = __array__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = _refuse


def refuse_host_update(metric: Any) -> None:
    """A metric updated with host values (numpy, Python numbers) inside a traced step: that
    update would run once, at trace time. Refused."""
    if _ACTIVE.get() is not None:
        raise ConfigError(
            f"metric {metric.name!r} was updated with host values (numpy arrays or Python "
            "numbers) inside a compiled step, where that update would run only once, when the "
            "step is traced. Expected: native tensors (the step's y, y_pred, loss). Fix: pass "
            "tensors, or compile(jit_compile=False) to run the step eagerly."
        )


def active() -> StepTrace | None:
    """The trace being recorded, or None (eager code)."""
    return _ACTIVE.get()


def activate(trace: StepTrace) -> contextvars.Token[StepTrace | None]:
    return _ACTIVE.set(trace)


def deactivate(token: contextvars.Token[StepTrace | None]) -> None:
    _ACTIVE.reset(token)


def _has_schedule(optimizer: Any) -> bool:
    return callable(getattr(optimizer, "learning_rate", None))
