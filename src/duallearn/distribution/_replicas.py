"""How ``fit`` / ``evaluate`` / ``predict`` run under a distribution (front-end side).

The front-end owns the batch order, so it owns the sharding too: every process builds the
same seeded global batch and keeps rows ``[lo, hi)`` of it (:class:`Shard`, ``np.array_split``
sizes). Everything that must cross processes goes through the backend runtime, which
implements this optional part of the runtime contract:

* ``runtime.distribute(plan) -> group``: join the engine's process group (once) and make the
  runtime's steps data-parallel; ``group`` has ``rank``, ``size`` and numpy-level
  collectives ``all_reduce(array)`` (sum), ``all_gather(obj)``, ``broadcast(obj)`` (from
  process 0) and ``barrier()``, each raising ``TrainingError`` when a peer is gone;
* ``runtime.undistribute()``: back to one replica;
* ``runtime.broadcast_state(optimizer)``: weights (and optimizer slots) from process 0;
* ``runtime.set_global_batch(n)``: the rows of the global batch of the next training step
  (each process's loss is weighted ``rows / n`` before the gradients are summed).

A runtime without ``distribute`` cannot run data-parallel: a clear ``BackendError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendError, ConfigError, TrainingError
from . import _data_parallel, _env

if TYPE_CHECKING:
    from ._data_parallel import DataParallel


@dataclass(frozen=True)
class Shard:
    """This process's part of every global batch: rows ``[lo, hi)`` of ``n`` by
    ``np.array_split`` (the first ``n % size`` processes take one row more)."""

    rank: int
    size: int

    def bounds(self, n: int) -> tuple[int, int]:
        base, extra = divmod(n, self.size)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    def blocks(self, n: int, batch_size: int) -> tuple[int, int]:
        """Rows ``[lo, hi)`` of whole batches of ``batch_size`` (predict: each process
        computes a run of batches, so every batch is the one a single process computes)."""
        batches = -(-n // batch_size)
        lo, hi = self.bounds(batches)
        return min(n, lo * batch_size), min(n, hi * batch_size)


def plan_for(model: Any) -> DataParallel | None:
    """The distribution ``model`` runs under, or None for one replica (no distribution, or
    one process with one device)."""
    plan = _data_parallel.distribution()
    if plan is None:
        return None
    if _env.num_processes() == 1 and plan.local_replicas == 1:
        return None
    return plan


def shard_of(plan: DataParallel | None) -> Shard | None:
    return None if plan is None else Shard(_env.process_index(), _env.num_processes())


def check_supported(model: Any, plan: DataParallel, custom: bool) -> None:
    """Refuse what would silently train replicas apart."""
    if custom:
        raise ConfigError(
            f"Model {model.name!r} trains through its own train_step/test_step (or "
            "run_eagerly=True, or a metric the compiled step cannot run), which "
            f"data-parallel training does not support yet. Received: {plan!r} with "
            f"{plan.num_processes} processes. Fix: use the compiled step (no override, "
            "run_eagerly=False), or dl.distribution.set_distribution(None)."
        )
    policy = model.dtype_policy
    if getattr(policy, "loss_scaling", False):
        raise ConfigError(
            f"Model {model.name!r} uses the dtype policy {policy.name!r} with loss scaling, "
            "which data-parallel training does not support yet. Fix: the 'mixed_bfloat16' "
            "policy (no loss scaling) or float32."
        )


def attach(model: Any, runtime: Any) -> Any:
    """Join ``runtime`` to the current distribution (once per runtime and distribution);
    returns the process group, or None (one replica: a previous join is undone)."""
    plan = plan_for(model)
    current = getattr(runtime, "_dl_plan", None)
    if plan is None:
        if current is not None:
            runtime.undistribute()
            runtime._dl_plan = runtime._dl_group = None
        return None
    if current is plan:
        return runtime._dl_group
    distribute = getattr(runtime, "distribute", None)
    if distribute is None:
        raise BackendError(
            f"The {model.backend_name} backend cannot train data-parallel: its runtime has no "
            f"distribute(). Received: {plan!r} with {plan.num_processes} processes. Fix: use "
            "the torch backend, or dl.distribution.set_distribution(None)."
        )
    group = distribute(plan)
    runtime._dl_plan, runtime._dl_group = plan, group
    return group


# what ``fit`` takes from process 0 besides the weights: the seeds of the batch order and
# of the dropout masks, and the position (a BackupAndRestore resume)
_FIT_STATE = (
    "_shuffle_seed",
    "_noise_stream",
    "_resume_epoch",
    "_resume_batch",
    "_epoch_start_iterations",
    "_epochs_done",
    "_batches_done",
)


def start(model: Any, runtime: Any, group: Any, optimizer: bool) -> None:
    """Start of fit (``optimizer``) or evaluate/predict: every process takes process 0's
    weights, and for fit its optimizer slots, step counter, learning rate, seeds and resume
    position, so replicas are identical however each process built or restored its model."""
    runtime.broadcast_state(optimizer)
    if not optimizer:
        return
    from .. import _seed

    if model._shuffle_seed is None:
        model._shuffle_seed = _seed.draw_seed()
    if model._noise_stream is None:
        model._noise_stream = _seed.draw_seed()
    opt = model.optimizer
    state = {k: getattr(model, k, None) for k in _FIT_STATE}
    if opt is not None:
        state["iterations"] = int(opt.iterations)
        if not callable(opt.learning_rate):
            state["learning_rate"] = opt.learning_rate
    state = group.broadcast(state)
    for k in _FIT_STATE:
        setattr(model, k, state[k])
    if opt is not None:
        opt.iterations = state["iterations"]
        if "learning_rate" in state:
            opt.learning_rate = state["learning_rate"]


def before_step(model: Any, runtime: Any, shard: tuple[int, int, int] | None) -> None:
    """Before a step: the global batch of the step (``(n, lo, hi)``) for the runtime's
    loss weighting and (training: ``model`` given) for the deterministic dropout masks."""
    if model is not None:
        model._dist_step = shard
    if shard is not None:
        runtime.set_global_batch(shard[0])


def gather_rows(group: Any, outputs: list[np.ndarray] | None) -> list[np.ndarray]:
    """Every process's outputs (runs of whole batches, in process order; None: no rows)
    concatenated."""
    parts = [p for p in group.all_gather(outputs) if p is not None]
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def gather_batches(group: Any, chunks: Sequence[list[np.ndarray] | None]) -> list[list[np.ndarray]]:
    """Per-batch outputs of every process's shard (None: no rows of that batch), joined
    row-wise batch by batch."""
    parts = group.all_gather(chunks)
    if len({len(p) for p in parts}) != 1:
        raise ConfigError(
            "predict under a distribution: the processes produced different numbers of "
            f"batches ({[len(p) for p in parts]}). Fix: give every process the same data."
        )
    out = []
    for b in range(len(parts[0])):
        got = [p[b] for p in parts if p[b] is not None]
        out.append([np.concatenate([g[i] for g in got]) for i in range(len(got[0]))])
    return out


def replica_device(model: Any, device: str) -> str:
    """The device of this process's replica: on a GPU machine, the GPU of the process's
    ``LOCAL_RANK`` (or the one ``DataParallel(devices=[...])`` names), else ``device``."""
    plan = plan_for(model)
    if plan is None or not device.startswith("cuda"):
        return device
    if plan._devices is not None:
        kind, _, index = plan._devices[0].partition(":")
        return f"cuda:{index or 0}" if kind in ("gpu", "cuda") else "cpu"
    return f"cuda:{_env.local_process_index()}"


def is_first(plan: DataParallel) -> bool:
    """Whether this is process 0 of ``plan``'s processes."""
    return plan.process_index == 0


def collective_failure(
    rank: int, size: int, what: str, timeout: float, reason: str
) -> TrainingError:
    """The error of a collective that failed on process ``rank`` (a peer died, hangs, or the
    ``timeout`` passed), the same on every backend."""
    return TrainingError(
        f"Process {rank} of {size}: the {what} across processes failed ({reason}). "
        f"Expected: every process of the run to reach the same step within "
        f"timeout={timeout:g}s; another process stopped (crashed, was killed) or hangs. Fix: "
        "read the other processes' output (duallearn launch prefixes each line with its "
        "rank), then restart the run (BackupAndRestore resumes it where the last backup "
        "left it)."
    )
