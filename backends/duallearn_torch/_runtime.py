"""The torch runtime: native modules, eager train step, device-side metric accumulators."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from duallearn.plugin import GraphSpec, GraphWalk, NativeRuntime, StepNoise, TrainSpec, WalkedNet

from . import _distributed, _losses, _metrics
from ._layers import DTYPES, TorchLayer, native_layer
from ._optimizers import TorchOptimizer
from ._rng import TorchRng


class Net(WalkedNet, nn.Module):
    """The whole graph as one ``nn.Module`` (what ``model.native`` returns)."""

    def __init__(self, graph: GraphSpec) -> None:
        super().__init__()
        self.graph = graph
        self.layers_ = nn.ModuleList([native_layer(layer) for layer in graph.layers])
        self._walk = GraphWalk(graph, list(self.layers_))

    def forward(
        self,
        inputs: Sequence[torch.Tensor],
        training: bool = False,
        noise: Mapping[int, torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        return self._walk.run(inputs, training, noise)


_NO_AUTOCAST = contextlib.nullcontext()  # reusable: entering it does nothing


def _t(a: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """numpy -> torch without a copy on the CPU; one (non-blocking) transfer otherwise."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t if device is None else t.to(device, non_blocking=True)


class TorchRuntime(NativeRuntime):
    backend_name = "torch"
    optimizer_class = TorchOptimizer
    loss_fn_class = _losses.LossFn
    metric_delta = staticmethod(_metrics.delta)

    def __init__(self, graph: GraphSpec) -> None:
        self.graph = graph
        # the native modules bind (or reuse) the layers' variables: no weight is copied
        self.net = Net(graph)
        self._use_trainable(graph.trainable)
        self._spec: TrainSpec | None = None
        self._opt: TorchOptimizer | None = None
        self.device: torch.device | None = None  # None: the CPU (no transfers at all)
        self._give_rng(TorchRng.seeded())
        # the forward that fit/evaluate/predict run: eager, or torch.compile(jit_compile=True)
        # (eager: the bound forward, skipping Module.__call__'s hook dispatch per step)
        self._fwd: Any = self.net.forward

    def _use_trainable(self, variables: Sequence[Any]) -> None:
        super()._use_trainable(variables)
        for p in self.params:
            if not p.requires_grad:  # a variable made trainable after it was built
                p.requires_grad_(True)

    @property
    def native(self) -> nn.Module:
        return self.net

    def _give_rng(self, rng: TorchRng) -> None:
        """Every native layer (nested models' too) draws its fast-mode noise from ``rng``."""
        self.rng = rng
        for m in self.net.modules():
            if isinstance(m, TorchLayer):
                m.rng = rng

    @torch.no_grad()
    def to_device(self, device: str) -> None:
        """Place weights, optimizer slots and accumulators on ``device`` ("cpu", "cuda:N");
        batches are then transferred once per step and results copied back at reads."""
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", 0)
        self.net.to(dev)  # moves parameters and buffers in place (same Parameter objects)
        if self._opt is not None:
            for tensors in self._opt.slots.values():
                for t in tensors:
                    t.data = t.data.to(dev)
        if hasattr(self, "_acc"):
            self._acc = self._acc.to(dev)
        if self.rng.generator is not None and self.rng.generator.device != dev:
            self._give_rng(self.rng.to(dev))
        self.device = None if dev.type == "cpu" else dev

    # ---- forward -------------------------------------------------------------------------
    def _inputs(self, arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [_t(a, self.device) for a in arrays]

    def _noise(self, noise: StepNoise | None) -> dict[int, torch.Tensor] | None:
        """The step's front-end masks on the device; in fast mode, reseed the generator."""
        if noise is None:
            return None
        if noise.seed is not None:
            self.rng.reseed(noise.seed)
        if not noise.masks:
            return None
        return {k: _t(v, self.device) for k, v in noise.masks.items()}

    @torch.inference_mode()
    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        with self._precision():
            outs = self._fwd(self._inputs(inputs), False, None)
        return [o.cpu().numpy() for o in self._cast_out(outs)]

    @torch.inference_mode()
    def predict_many(self, inputs: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
        """:meth:`predict` of every ``batch_size`` slice of ``inputs``, concatenated: the
        inputs converted once (``from_numpy``, no copy on the CPU; one transfer to the
        device), each batch a view of them through the same forward, the outputs kept as
        tensors and concatenated once per output, then read back once (one device sync per
        group, not per batch). Bit-identical to one :meth:`predict` per batch."""
        xs = self._inputs(inputs)
        chunks = []
        with self._precision():
            for i in range(0, xs[0].shape[0], batch_size):
                outs = self._fwd([x[i : i + batch_size] for x in xs], False, None)
                chunks.append(self._cast_out(outs))
        return [
            (c[0] if len(c) == 1 else torch.cat(c)).cpu().numpy() for c in zip(*chunks, strict=True)
        ]

    def forward(
        self, inputs: Sequence[np.ndarray], training: bool, noise: StepNoise | None = None
    ) -> list[np.ndarray]:
        with torch.no_grad():
            outs = self.net(self._inputs(inputs), training, self._noise(noise))
        return [o.cpu().numpy() for o in outs]

    # ---- custom steps (duallearn.plugin.Runtime) -----------------------------------------
    def to_native(self, arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return self._inputs(arrays)

    def call(
        self, inputs: Sequence[Any], training: bool, noise: StepNoise | None = None
    ) -> list[torch.Tensor]:
        with self._precision():
            outs = self.net(list(inputs), training, self._noise(noise))
        return self._cast_out(outs)

    # ---- training ------------------------------------------------------------------------
    def compile(self, spec: TrainSpec) -> None:
        self._spec = spec
        # eager by default (torch.compile costs seconds to minutes on CPU and gains ~10% at
        # best on the benchmark workloads, docs/benchmarks.md); jit_compile=True compiles
        jit = getattr(spec, "jit_compile", "auto")
        self._fwd = torch.compile(self.net) if jit is True else self.net.forward
        self._compile_common(spec)
        # loss sums then metric states, float64 on the device; the sample counts of the loss
        # slots are known on the host and kept there (results() interleaves them)
        size = self._n_loss_slots + sum(m.state_size() for _, m in self._metric_specs)
        self._acc = torch.zeros(size, dtype=torch.float64, device=self.device)
        self._acc_loss = self._acc[: self._n_loss_slots]  # views made once: no per-step ops
        self._acc_metrics = self._acc[self._n_loss_slots :]
        self._count = 0.0

    def _mask_weight(self, sw: Any, mask: Any, dtype: Any) -> torch.Tensor:
        """Keras's ``apply_mask`` for metrics: an output's mask folded into the sample
        weights (the losses fold and rescale it themselves)."""
        m = mask.to(dtype)
        if sw is None:
            return m
        w = sw.to(dtype)
        while w.dim() > m.dim() and w.shape[-1] == 1:
            w = w.squeeze(-1)
        while w.dim() < m.dim():
            w = w.unsqueeze(-1)
        return w * m

    def _zero_loss(self, p: Any) -> torch.Tensor:
        return torch.zeros((), dtype=p.dtype)

    def _detach(self, t: torch.Tensor) -> torch.Tensor:
        return t.detach()

    def _to_numpy(self, t: Any) -> np.ndarray:
        return t.cpu().numpy()  # type: ignore[no-any-return]

    @torch.no_grad()
    def _accumulate(
        self,
        loss: torch.Tensor,
        parts: list[torch.Tensor],
        ys: list[torch.Tensor],
        outs: list[torch.Tensor],
        sws: list[torch.Tensor | None],
        batch: int,
    ) -> None:
        b = float(batch)
        self._count += b
        # one in-place op (computed in float64) for the loss; a cat + add for several outputs
        if self._n_loss_slots > 1:
            self._acc_loss.add_(torch.stack([loss.detach(), *parts]), alpha=b)
        else:
            self._acc_loss.add_(loss.detach(), alpha=b)
        if self._metric_specs:
            deltas = self._metric_deltas(ys, outs, sws)
            self._acc_metrics.add_(torch.cat(deltas) if len(deltas) > 1 else deltas[0])

    def _batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
    ) -> tuple[Any, Any, Any]:
        return (
            self._inputs(inputs),
            [_t(a, self.device) for a in targets],
            [None if s is None else _t(s, self.device) for s in sample_weights],
        )

    def train_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        learning_rate: float,
        noise: StepNoise | None = None,
    ) -> None:
        assert self._opt is not None
        xs, ys, sws = self._batch(inputs, targets, sample_weights)
        if self._group is not None:
            self._replica_step(xs, ys, sws, learning_rate, noise)
            return
        with self._precision():
            outs = self._fwd(xs, True, self._noise(noise))
        outs = self._cast_out(outs)
        loss, parts = self._loss(ys, outs, sws)
        if self._scale is not None:
            self._scaled_apply(loss, learning_rate)
        elif self.params:
            grads = torch.autograd.grad(loss, self.params)
            self._opt.apply(list(grads), learning_rate, loss, check=True)  # fit's guard
        self._accumulate(loss, parts, ys, outs, sws, xs[0].shape[0])

    @torch.inference_mode()
    def test_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
    ) -> None:
        n = len(inputs[0])
        if self._group is not None and n == 0:
            return  # no rows of this batch here (inference runs no collective)
        xs, ys, sws = self._batch(inputs, targets, sample_weights)
        with self._precision():
            outs = self._fwd(xs, False, None)
        outs = self._cast_out(outs)
        loss, parts = self._loss(ys, outs, sws)
        full, self._global_batch = self._global_batch, None
        if self._group is not None and full:  # values whose sum over processes is global
            _, loss, parts = self._share(loss, parts, n / full)
        self._accumulate(loss, parts, ys, outs, sws, n)

    # ---- mixed precision (dtype policy of the front-end; models/_training.py) -------------
    _autocast: Any = None
    _scale: list[float] | None = None

    def set_precision(self, compute_dtype: str | None, loss_scale: bool = False) -> None:
        """Run forwards under ``torch.autocast(dtype=compute_dtype)`` (variables keep their
        dtype; outputs return in it for the loss). ``loss_scale``: dynamic loss scaling as
        Keras's LossScaleOptimizer (scale 2**15; halve and skip the step on inf/NaN
        gradients; double after 2000 finite steps)."""
        self._autocast = None if compute_dtype is None else getattr(torch, compute_dtype)
        self._scale = [2.0**15, 0] if loss_scale else None

    def _precision(self) -> Any:
        if self._autocast is None:
            return _NO_AUTOCAST
        device = self.params[0].device.type if self.params else "cpu"
        return torch.autocast(device, dtype=self._autocast)

    def _cast_out(self, outs: list[torch.Tensor]) -> list[torch.Tensor]:
        if self._autocast is None:
            return outs
        dt = DTYPES[self.graph.dtype]
        return [o.to(dt) if o.is_floating_point() and o.dtype != dt else o for o in outs]

    def _scaled_apply(self, loss: torch.Tensor, learning_rate: float) -> None:
        assert self._opt is not None and self._scale is not None
        if self._opt.nonfinite_step() is not None:  # fit's guard: a flagged step came before
            return
        if not math.isfinite(loss.item()):  # not the scaler's business: recorded (fit stops)
            self._opt.record_nonfinite(False)
            return
        scale = self._scale[0]
        grads = [g / scale for g in torch.autograd.grad(loss * scale, self.params)]
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if not finite:  # one host read per step, float16 only
            self._scale[0], self._scale[1] = scale / 2.0, 0
            return
        self._opt.apply(grads, learning_rate)
        self._scale[1] += 1
        if self._scale[1] >= 2000:
            self._scale[0], self._scale[1] = scale * 2.0, 0

    def results(self, reset: bool = True) -> np.ndarray:
        acc, n, count = self._acc.cpu().numpy(), self._n_loss_slots, self._count
        if self._group is not None:  # sums over every process's rows
            total = self._group.all_reduce(np.append(acc, count))
            acc, count = total[:-1], float(total[-1])
        out = np.empty(acc.shape[0] + n, dtype=np.float64)
        out[0 : 2 * n : 2], out[1 : 2 * n : 2], out[2 * n :] = acc[:n], count, acc[n:]
        if reset:
            self._acc.zero_()
            self._count = 0.0
        return out

    # ---- data-parallel (duallearn.distribution; _distributed.py) ------------------------
    _group: _distributed.TorchGroup | None = None
    _global_batch: int | None = None
    _replica_stats: list[torch.Tensor] = []  # noqa: RUF012 - per-replica BN: averaged

    def distribute(self, plan: Any) -> _distributed.TorchGroup:
        """Join the run's process group and make the steps data-parallel (one replica per
        process); BatchNormalization synchronized unless ``plan.sync_batch_norm`` is False."""
        if plan.local_replicas > 1:
            from duallearn.errors import ConfigError

            raise ConfigError(
                f"The torch backend runs one replica per process. Received: {plan!r} (devices "
                f"{plan.devices} in one process). Fix: start one process per device with "
                "`duallearn launch --nproc N script.py` and leave devices=None."
            )
        group = _distributed.join(plan, self.device)
        self._group = group
        _distributed.sync_batch_norm(self.net, group if plan.sync_batch_norm else None)
        self._replica_stats = (
            [] if plan.sync_batch_norm else _distributed.moving_statistics(self.net)
        )
        return group

    def undistribute(self) -> None:
        """Back to one replica (the process group stays joined)."""
        _distributed.sync_batch_norm(self.net, None)
        self._group, self._replica_stats, self._global_batch = None, [], None

    def set_global_batch(self, n: int) -> None:
        """Rows of the global batch of the next training step (all processes together)."""
        self._global_batch = int(n)

    def broadcast_state(self, optimizer: bool = True) -> None:
        """Process 0's weights (every variable of the graph) and, with ``optimizer``, its
        optimizer slots and step counter, on every process."""
        group = self._group
        if group is None:
            return
        tensors = [t.data for t in self._state_tensors(optimizer)]
        group.broadcast_tensors_(tensors, "broadcast of the weights")
        if optimizer and self._opt is not None:
            self._opt.iterations = int(group.broadcast(self._opt.iterations))

    def _replica_step(
        self, xs: Any, ys: Any, sws: Any, learning_rate: float, noise: StepNoise | None
    ) -> None:
        """One data-parallel step on this process's rows ``n`` of the global batch ``B``: its
        share of the global loss, ``(n / B)·loss(rows)`` (a ``reduction="sum"`` output
        ``loss_o(rows)`` itself), is differentiated (through the BatchNormalization
        all-reduces), the gradients are summed over the processes, and every process applies
        the same update. A batch with fewer rows than processes is given whole to each
        (``n = B``): each then weighs ``1 / processes`` and process 0 alone counts it in the
        logs."""
        assert self._opt is not None and self._group is not None
        group = self._group
        n = xs[0].shape[0]
        full = self._global_batch or n
        self._global_batch = None
        replicated = n == full and group.size > 1
        group.replicated = replicated  # (the moments' row count: synchronized BN)
        with self._precision():
            outs = self._fwd(xs, True, self._noise(noise))
        outs = self._cast_out(outs)
        loss, parts = self._loss(ys, outs, sws)
        objective, logged, logged_parts = (
            self._share(loss, parts, 1.0, group.size) if replicated
            else self._share(loss, parts, n / full)
        )  # fmt: skip
        if self.params:
            got = torch.autograd.grad(objective, self.params, allow_unused=True)
            grads = [
                torch.zeros_like(p) if g is None else g
                for p, g in zip(self.params, got, strict=True)
            ]
            self._opt.apply(group.reduce_gradients(grads), learning_rate, loss.detach(), check=True)
        if self._replica_stats:
            group.average_(self._replica_stats, "moving statistics average")
        if not replicated or group.rank == 0:  # (a whole batch is counted once)
            self._accumulate(logged, logged_parts, ys, outs, sws, n)

    def gradients(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        training: bool = True,
        noise: StepNoise | None = None,
    ) -> tuple[float, list[np.ndarray]]:
        xs, ys, sws = self._batch(inputs, targets, sample_weights)
        outs = self.net(xs, training, self._noise(noise))
        loss, _ = self._loss(ys, outs, sws)
        grads = torch.autograd.grad(loss, self.params)
        return float(loss.detach()), self._canonical(self._trainable_vars, grads)

    def input_gradients(
        self,
        inputs: Sequence[np.ndarray],
        output_grads: Sequence[np.ndarray],
        training: bool = False,
        noise: StepNoise | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """VJP of the outputs: ``(dL/dinputs, dL/dweights)`` for given ``dL/doutputs``."""
        xs = [_t(a, self.device).clone().requires_grad_(a.dtype.kind == "f") for a in inputs]
        outs = self.net(xs, training, self._noise(noise))
        s = sum((o * _t(g, self.device)).sum() for o, g in zip(outs, output_grads, strict=True))
        diff = [x for x in xs if x.requires_grad]  # integer inputs (token ids) have no gradient
        got = list(torch.autograd.grad(s, diff + self.params, allow_unused=True))
        gx = iter(got[: len(diff)])
        grads = [next(gx) if x.requires_grad else None for x in xs] + got[len(diff) :]
        dx = [
            np.zeros_like(a) if g is None else g.cpu().numpy()
            for a, g in zip(inputs, grads, strict=False)
        ]
        return dx, self._canonical(self._trainable_vars, grads[len(xs) :])
