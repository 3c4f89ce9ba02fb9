"""The TensorFlow backend plugin."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from duallearn.plugin import Backend, GraphSpec, load_families  # noqa: E402

from . import _ops  # noqa: E402
from ._optimizers import TFOptimizer  # noqa: E402
from ._runtime import TFRuntime  # noqa: E402

load_families(__package__)  # importing the families registers their native layers


class TensorFlowBackend(Backend):
    """Runs duallearn models as ``tf.Module``s with ``tf.function``-compiled steps."""

    name = "tensorflow"
    ops = _ops  # the dl.ops implementation (duallearn/ops)
    optimizer_class = TFOptimizer  # optimizer.apply in custom steps (Backend.native_optimizer)

    def __init__(self) -> None:
        self.tf = tf

    def build(self, graph: GraphSpec, device: str | None = None) -> TFRuntime:
        return TFRuntime(graph, device)

    def versions(self) -> dict[str, str]:
        return {"tensorflow": tf.__version__}

    def devices(self) -> list[str]:
        gpus = tf.config.list_physical_devices("GPU")
        return ["cpu"] + [f"cuda:{i}" for i in range(len(gpus))]
