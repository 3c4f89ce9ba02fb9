"""Data-parallel training on ``torch.distributed`` (docs/distributed.md).

One replica per process. The processes join one process group (gloo on the CPU, nccl on
CUDA) from the rendezvous variables of ``torchrun`` / ``duallearn launch``; each trains on its
rows of the front-end's global batch. What crosses processes, all in torch's own collectives:

* gradients: one bucketed all-reduce (flat buffers of up to ``BUCKET_BYTES``) of
  ``(rows_p / B)·∇loss_p``, so every process applies the gradient of the mean loss over the
  whole global batch ``B``;
* BatchNormalization (``sync_batch_norm``, the default): the batch moments are sums over all
  processes (two all-reduces per layer and step, differentiable: :class:`AllReduceSum`);
  per replica, the moving statistics are averaged after each step instead;
* metric and loss accumulators at each logging read; predictions, weights and seeds.

Every collective waits at most the distribution's ``timeout``; a peer that died or hangs
makes it fail, re-raised as ``TrainingError`` naming this process and what it waited for.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from duallearn.distribution._replicas import collective_failure
from duallearn.errors import BackendError, TrainingError

from ._normalization import TorchBatchNormalization

BUCKET_BYTES = 25 << 20  # gradient bucket size (DDP's default)
RENDEZVOUS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")


class TorchGroup:
    """The process group as the front-end sees it: rank, size and collectives on numpy
    values and native tensors, each bounded by ``timeout`` and raising ``TrainingError``."""

    def __init__(self, timeout: float, device: torch.device | None) -> None:
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()
        self.timeout = timeout
        self.device = device  # None: the CPU (gloo)
        # the step's batch is whole on every process (fewer rows than processes)
        self.replicated = False

    # ---- failures ----------------------------------------------------------------------------
    def guard(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Run a collective; a failure (peer gone, timeout) becomes a ``TrainingError``."""
        return _failures(
            lambda reason: collective_failure(self.rank, self.size, what, self.timeout, reason)
        )

    # ---- native tensors ----------------------------------------------------------------------
    def all_reduce_(self, tensor: torch.Tensor, what: str) -> torch.Tensor:
        """Sum ``tensor`` over processes, in place."""
        with self.guard(what):
            dist.all_reduce(tensor)
        return tensor

    def reduce_gradients(self, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Σ over processes of each gradient (in place): one all-reduce per bucket."""
        out = list(grads)
        _in_buckets(out, lambda flat: self.all_reduce_(flat, "gradient all-reduce"))
        return out

    def average_(self, tensors: Sequence[torch.Tensor], what: str) -> None:
        """Replace each tensor by its mean over processes."""
        _in_buckets(tensors, lambda flat: self.all_reduce_(flat, what).div_(self.size))

    def broadcast_tensors_(self, tensors: Sequence[torch.Tensor], what: str) -> None:
        """Process 0's values of ``tensors``, in place on every process."""

        def broadcast(flat: torch.Tensor) -> None:
            with self.guard(what):
                dist.broadcast(flat, src=0)

        _in_buckets(tensors, broadcast)

    # ---- numpy and Python values (the front-end's side) --------------------------------------
    def all_reduce(self, array: np.ndarray) -> np.ndarray:
        """Σ over processes of ``array`` (same shape and dtype on every process)."""
        a = np.ascontiguousarray(array)
        t = torch.from_numpy(a.copy())
        if self.device is not None:
            t = t.to(self.device)
        self.all_reduce_(t, "sum")
        return t.cpu().numpy()

    def all_gather(self, obj: Any) -> list[Any]:
        """``obj`` of every process, in process order (pickled)."""
        out: list[Any] = [None] * self.size
        with self.guard("gather of results"):
            dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Process 0's ``obj`` (pickled)."""
        box = [obj]
        with self.guard("broadcast from process 0"):
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every process is here."""
        with self.guard("barrier"):
            dist.barrier()


@contextlib.contextmanager
def _failures(explain: Callable[[str], str | TrainingError]) -> Iterator[None]:
    """A failed collective or rendezvous (``RuntimeError``, ``ValueError``) re-raised as the
    ``TrainingError`` ``explain(reason)`` gives (or one with it as its message)."""
    try:
        yield
    except TrainingError:
        raise
    except (RuntimeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        error = explain(reason)
        raise (error if isinstance(error, TrainingError) else TrainingError(error)) from exc


@torch.no_grad()
def _in_buckets(tensors: Sequence[torch.Tensor], op: Callable[[torch.Tensor], Any]) -> None:
    """``op`` on flat buckets of ``tensors`` (one dtype and device, up to ``BUCKET_BYTES``
    each), the results copied back in place."""
    for bucket in _buckets(list(tensors)):
        flat = torch.cat([tensors[i].reshape(-1) for i in bucket])
        op(flat)
        pos = 0
        for i in bucket:
            n = tensors[i].numel()
            tensors[i].copy_(flat[pos : pos + n].view_as(tensors[i]))
            pos += n


def _buckets(tensors: list[torch.Tensor]) -> list[list[int]]:
    """Indices of ``tensors`` in flat buckets of one dtype and device, in order."""
    buckets: list[list[int]] = []
    open_: dict[tuple[Any, Any], tuple[list[int], int]] = {}
    for i, t in enumerate(tensors):
        key = (t.dtype, t.device)
        idx, size = open_.get(key, ([], 0))
        nbytes = t.numel() * t.element_size()
        if idx and size + nbytes > BUCKET_BYTES:
            buckets.append(idx)
            idx, size = [], 0
        idx.append(i)
        open_[key] = (idx, size + nbytes)
    buckets.extend(idx for idx, _ in open_.values() if idx)
    return buckets


def join(plan: Any, device: torch.device | None) -> TorchGroup:
    """Join the process group of this run (once per process): gloo on the CPU, nccl on CUDA,
    rendezvous from ``MASTER_ADDR``/``MASTER_PORT``/``RANK``/``WORLD_SIZE``."""
    if not dist.is_available():
        raise BackendError(
            "This torch build has no torch.distributed, which data-parallel training needs. "
            "Fix: install a torch wheel from pytorch.org (they all include it)."
        )
    if not dist.is_initialized():
        missing = [v for v in RENDEZVOUS if not os.environ.get(v)]
        if missing:
            raise BackendError(
                f"Data-parallel training on torch needs the rendezvous variables "
                f"{', '.join(RENDEZVOUS)}; missing: {', '.join(missing)}. Fix: start the "
                "processes with `duallearn launch --nproc N script.py` or `torchrun "
                "--nproc-per-node N script.py`, which set them."
            )
        kind = "nccl" if device is not None and device.type == "cuda" else "gloo"
        if device is not None and device.type == "cuda":
            torch.cuda.set_device(device)
        env = os.environ
        with _failures(
            lambda reason: (
                f"Process {env.get('RANK')} could not join the {kind} process group at "
                f"{env.get('MASTER_ADDR')}:{env.get('MASTER_PORT')} within "
                f"timeout={plan.timeout:g}s ({reason}). Expected: {env.get('WORLD_SIZE')} "
                "processes started together. Fix: start every process (duallearn launch "
                "does), and check that MASTER_ADDR:MASTER_PORT is reachable from each machine."
            )
        ):
            dist.init_process_group(
                kind, timeout=datetime.timedelta(seconds=plan.timeout), device_id=device
            )
        atexit.register(_leave)
    group = TorchGroup(plan.timeout, device)
    if group.size != plan.num_processes:
        raise BackendError(
            f"The torch process group has {group.size} processes but the run has "
            f"{plan.num_processes} (WORLD_SIZE). Fix: create the group from the same "
            "WORLD_SIZE, or let duallearn create it."
        )
    return group


def _leave() -> None:
    """At exit: leave the process group (a group left to the interpreter's teardown can
    abort the process once a peer has gone)."""
    if dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


class AllReduceSum(torch.autograd.Function):
    """``Σ_p t_p`` over processes, differentiable: the gradient of each process's input is
    the sum of the gradients every process computed for the result (the chain rule for a
    value all processes share)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: TorchGroup) -> torch.Tensor:  # type: ignore[override]
        ctx.group = group
        return group.all_reduce_(tensor.clone(), "BatchNormalization statistics")

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return ctx.group.all_reduce_(grad.clone(), "BatchNormalization gradients"), None


class SyncedBatchNormalization(TorchBatchNormalization):
    """BatchNormalization whose batch moments are those of the whole global batch (all
    processes): ``μ = Σ_p Σ x / N``, ``σ² = Σ_p Σ (x − μ)² / N`` (biased; masked: weights
    ``mask[..., None]`` and ``N = Σ w + 1e-7``, as the layer), the moving statistics updated
    with them. Without batch statistics (inference, not trainable) it is the layer itself."""

    group: TorchGroup

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        if not spec.uses_batch_statistics(training):
            return super().forward(x, training, noise, mask)
        axis = self.axis
        dims = [i for i in range(x.dim()) if i != axis]
        shape = [1] * x.dim()
        shape[axis] = x.shape[axis]
        channels = x.shape[axis]
        if mask is None:
            w = None
            s1 = x.sum(dim=dims)
            count = x.new_full((channels,), float(x.numel() // max(channels, 1)))
        else:
            w = mask.unsqueeze(-1).to(x.dtype).expand_as(x)
            s1 = (w * x).sum(dim=dims)
            count = w.sum(dim=dims)
        group = self.group
        total = AllReduceSum.apply(torch.cat([s1, count]), group)
        n = total[channels:]
        if group.replicated:  # every process holds the same rows: sums counted size times
            total = total / group.size
            n = n / group.size
        denom = n if w is None else n + spec.MASK_EPSILON
        mean = total[:channels] / denom
        d = x - mean.reshape(shape)
        sq = d * d if w is None else w * d * d
        s2 = AllReduceSum.apply(sq.sum(dim=dims), group)
        var = (s2 / group.size if group.replicated else s2) / denom
        y = d * torch.rsqrt(var + spec.epsilon).reshape(shape)
        if self.gamma is not None:
            y = y * self.gamma.reshape(shape)
        if self.beta is not None:
            y = y + self.beta.reshape(shape)
        with torch.no_grad():
            v = var.detach()
            if spec.unbiased_moving_variance:
                nn_ = n.detach()
                v = v * nn_ / torch.clamp(nn_ - 1, min=1)
            self._update(mean.detach(), v)
        return y


def sync_batch_norm(net: torch.nn.Module, group: TorchGroup | None) -> None:
    """Make every BatchNormalization of ``net`` synchronized over ``group`` (None: back to
    per-process statistics)."""
    for m in net.modules():
        if isinstance(m, TorchBatchNormalization):
            if group is None:
                m.__class__ = TorchBatchNormalization
            else:
                m.__class__ = SyncedBatchNormalization
                m.group = group  # type: ignore[assignment]


def moving_statistics(net: torch.nn.Module) -> list[torch.Tensor]:
    """The moving mean and variance of every BatchNormalization of ``net``, each once."""
    seen: dict[int, torch.Tensor] = {}
    for m in net.modules():
        if isinstance(m, TorchBatchNormalization):
            for t in (m.moving_mean, m.moving_variance):
                seen.setdefault(id(t), t)
    return list(seen.values())
