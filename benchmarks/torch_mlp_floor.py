"""The torch MLP's float32 floor on this machine, beside duallearn and the native loop.

Usage: .venv/bin/python benchmarks/torch_mlp_floor.py [--rounds 12] [--scale 0.25]

Four systems train the benchmark MLP (784-256-256-10, batch 128, Adam 1e-3, the benchmark's
data) epoch by epoch, interleaved in one process (the order rotates each round):

- ``duallearn``: ``model.fit``, default options (what ``benchmarks/run.py`` times);
- ``floor``: the leanest autograd step we could write: ``addmm`` + in-place ``relu_``,
  ``F.cross_entropy``, ``torch.autograd.grad``, ``torch._fused_adam_``; no guard, no
  accumulators, no Python beyond the loop;
- ``manual``: no autograd at all: the backward written out (the 8 GEMMs, ReLU masks, bias
  sums into preallocated gradients), then the fused Adam;
- ``native``: the anchors' hand-written loop (``nn`` + ``torch.optim.Adam``).

Prints samples/s at the best round and the per-round speed relative to the native loop
(median and min over rounds): how far above the native loop any eager float32 step gets
here, and where duallearn sits under it (docs/benchmarks.md, "The torch MLP ceiling").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DUALLEARN_BACKEND", "torch")

import _workloads as W  # noqa: E402

SIZES = [(784, 256), (256,), (256, 256), (256,), (256, 10), (10,)]


def _lean_steps(d: W.Data, manual: bool) -> Callable[[], None]:
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    p = [torch.randn(*s, generator=g) * 0.05 if len(s) == 2 else torch.zeros(s) for s in SIZES]
    m, v = [torch.zeros_like(t) for t in p], [torch.zeros_like(t) for t in p]
    steps = [torch.zeros(()) for _ in p]
    grads = [torch.empty_like(t) for t in p]
    batches = [
        (torch.from_numpy(d.x[i : i + d.bs]), torch.from_numpy(d.y[i : i + d.bs]))
        for i in range(0, d.n, d.bs)
    ]
    if not manual:
        for t in p:
            t.requires_grad_(True)

    def adam(gs: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for s in steps:
                s.add_(1)
            torch._fused_adam_(p, gs, m, v, [], steps, lr=1e-3, beta1=0.9, beta2=0.999,
                               weight_decay=0.0, eps=1e-7, amsgrad=False,
                               maximize=False)  # fmt: skip

    def autograd_epoch() -> None:
        for xb, yb in batches:
            h = torch.addmm(p[1], xb, p[0]).relu_()
            h = torch.addmm(p[3], h, p[2]).relu_()
            loss = F.cross_entropy(torch.addmm(p[5], h, p[4]), yb)
            adam(list(torch.autograd.grad(loss, p)))

    def dlogits(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """d(mean cross-entropy)/d(logits) = (softmax − one-hot) / batch."""
        dz = torch.softmax(logits, 1)
        dz[torch.arange(len(yb)), yb] -= 1
        return dz.div_(len(yb))

    def backward(xb: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor, dz: torch.Tensor) -> None:
        """The gradients of the 3 layers from d(loss)/d(logits), into ``grads``."""
        for layer, a in ((2, h2), (1, h1), (0, xb)):  # a: the layer's input
            torch.mm(a.t(), dz, out=grads[2 * layer])  # weights p[2·layer]
            torch.sum(dz, 0, out=grads[2 * layer + 1])  # bias p[2·layer + 1]
            if layer:  # back through the input and the ReLU that made it
                dz = torch.mm(dz, p[2 * layer].t()).mul_(a > 0)

    @torch.no_grad()
    def manual_epoch() -> None:
        for xb, yb in batches:
            h1 = torch.addmm(p[1], xb, p[0]).relu_()
            h2 = torch.addmm(p[3], h1, p[2]).relu_()
            backward(xb, h1, h2, dlogits(torch.addmm(p[5], h2, p[4]), yb))
            adam(grads)

    def check() -> None:
        """The hand-written backward gives autograd's gradients (first batch)."""
        xb, yb = batches[0]
        q = [t.detach().requires_grad_(True) for t in p]
        h1 = torch.addmm(q[1], xb, q[0]).relu()
        h2 = torch.addmm(q[3], h1, q[2]).relu()
        want = torch.autograd.grad(F.cross_entropy(torch.addmm(q[5], h2, q[4]), yb), q)
        with torch.no_grad():
            backward(xb, h1.detach(), h2.detach(), dlogits(torch.addmm(p[5], h2, p[4]), yb))
        for g, w in zip(grads, want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)

    if manual:
        check()
    return manual_epoch if manual else autograd_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--scale", type=float, default=0.25)
    args = parser.parse_args()
    d = W.Data("mlp", False, args.scale)
    W.set_threads_torch()
    systems: dict[str, Callable[[], object]] = {
        "duallearn": W.build_duallearn(d, "torch")[0],
        "floor": _lean_steps(d, manual=False),
        "manual": _lean_steps(d, manual=True),
        "native": W.build_torch(d)[0],
    }
    for fn in systems.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in systems}
    names = list(systems)
    for r in range(args.rounds):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            systems[k]()
            times[k].append(time.perf_counter() - start)
    native = np.array(times["native"])
    print(f"torch MLP, {d.n} samples per epoch, {args.rounds} interleaved rounds")
    print("| system | samples/s (best round) | x native median | x native min |")
    print("|---|---|---|---|")
    for k, ts in times.items():
        ratio = native / np.array(ts)
        print(f"| {k} | {d.n / min(ts):,.0f} | {np.median(ratio):.3f} | {ratio.min():.3f} |")


if __name__ == "__main__":
    main()
