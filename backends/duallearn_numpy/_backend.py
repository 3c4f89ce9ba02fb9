"""The numpy reference backend plugin."""

from __future__ import annotations

import numpy as np

from duallearn.plugin import Backend, GraphSpec

from ._runtime import NumpyRuntime, check_device


class NumpyBackend(Backend):
    """Runs duallearn models with the numpy references beside each layer, loss, metric and
    optimizer, in float64 on the CPU (the test oracle as a real plugin)."""

    name = "numpy"
    # a reference backend: selectable by name, never the default, not in available_backends()
    reference = True

    def build(self, graph: GraphSpec, device: str | None = None) -> NumpyRuntime:
        if device is not None:
            check_device(device)
        return NumpyRuntime(graph)

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def devices(self) -> list[str]:
        return ["cpu"]
