"""The torch backend's Adam and SGD updates alone: torch's fused kernels vs the ``_foreach``
path.

Usage: .venv/bin/python benchmarks/optimizer_update.py [--rounds 3] [--steps 2000]
    [--optimizer adam|sgd]   (sgd: momentum 0.9, ``formula="torch"``, the fused case)

Both paths update the benchmark MLP's parameters (784-256-256-10) on one thread, in
alternating rounds of one process; the line per round prints microseconds per update and the
ratio foreach / fused measured in that round (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import importlib
import time
from typing import Any

SHAPES = [(784, 256), (256,), (256, 256), (256,), (256, 10), (10,)]


def _time(topt: Any, spec: Any, fused: bool, steps: int) -> float:
    import torch

    update = topt.sgd if type(spec).__name__ == "SGD" else topt.adam
    params = [torch.randn(*s) for s in SHAPES]
    grads = [torch.randn(*s) for s in SHAPES]
    slots = {n: [torch.zeros_like(p) for p in params] for n in ("momentum", "velocity")}
    real = topt._fusable
    topt._fusable = real if fused else (lambda *a: False)
    try:
        start = time.perf_counter()
        for step in range(1, steps + 1):
            update(spec, params, grads, slots, 1e-3, step)
        return (time.perf_counter() - start) / steps * 1e6
    finally:
        topt._fusable = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    args = parser.parse_args()
    import torch

    import duallearn as dl

    torch.set_num_threads(1)
    topt = importlib.import_module("duallearn_torch._optimizers")
    if args.optimizer == "sgd":
        spec: Any = dl.optimizers.SGD(1e-3, momentum=0.9, formula="torch")
    else:
        spec = dl.optimizers.Adam(1e-3)
    for r in range(args.rounds):
        foreach = _time(topt, spec, False, args.steps)
        fused = _time(topt, spec, True, args.steps)
        print(f"round {r}: foreach {foreach:.1f} us  fused {fused:.1f} us  "
              f"ratio {foreach / fused:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
