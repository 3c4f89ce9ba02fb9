"""The torch backend plugin."""

from __future__ import annotations

from typing import Any

import torch

from duallearn.plugin import Backend, GraphSpec, load_families

from . import _ops
from ._optimizers import TorchOptimizer
from ._runtime import TorchRuntime

load_families(__package__)  # importing the families registers their native layers


class TorchBackend(Backend):
    """Runs duallearn models as ``torch.nn.Module``s with eager native kernels."""

    name = "torch"
    ops = _ops  # the dl.ops implementation (duallearn/ops)
    optimizer_class = TorchOptimizer  # optimizer.apply in custom steps (Backend.native_optimizer)

    def __init__(self) -> None:
        self.torch = torch

    def build(self, graph: GraphSpec, device: str | None = None) -> TorchRuntime:
        runtime = TorchRuntime(graph)
        if device is not None:
            runtime.to_device(device)
        return runtime

    # torch.compile keeps the step's Python effects (Dynamo replays them, or breaks the graph
    # and runs them), so the front-end records nothing for it
    python_runs_once = False

    def compile_step(self, fn: Any, jit_compile: bool) -> Any:
        return torch.compile(fn)

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def devices(self) -> list[str]:
        return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
