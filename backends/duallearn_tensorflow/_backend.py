"""The TensorFlow backend plugin."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from duallearn.plugin import Backend, GraphSpec, load_families  # noqa: E402

from . import _distributed, _ops  # noqa: E402
from ._optimizers import TFOptimizer  # noqa: E402
from ._runtime import TFRuntime  # noqa: E402

load_families(__package__)  # importing the families registers their native layers
_distributed.startup()  # TF_CONFIG of several workers: join them now (program start)


class TensorFlowBackend(Backend):
    """Runs duallearn models as ``tf.Module``s with ``tf.function``-compiled steps."""

    name = "tensorflow"
    ops = _ops  # the dl.ops implementation (duallearn/ops)
    optimizer_class = TFOptimizer  # optimizer.apply in custom steps (Backend.native_optimizer)

    def __init__(self) -> None:
        self.tf = tf

    def build(self, graph: GraphSpec, device: str | None = None) -> TFRuntime:
        # eagerly, even when a compiled custom step first calls a sub-model while tracing:
        # its variables then hold their initial values from the start
        with tf.init_scope():
            return TFRuntime(graph, device)

    def native_optimizer(self, optimizer: Any, variables: Any) -> Any:
        # the slots are created eagerly even when the first apply is being traced (a
        # compiled custom step): they start from the weights' current values
        with tf.init_scope():
            return super().native_optimizer(optimizer, variables)

    def compile_step(self, fn: Any, jit_compile: bool) -> Any:
        # one trace per batch shape (a full batch, the last partial one): static shapes, so
        # the step's host-side shape checks see numbers
        return tf.function(fn, jit_compile=jit_compile, autograph=False)

    def versions(self) -> dict[str, str]:
        return {"tensorflow": tf.__version__}

    def devices(self) -> list[str]:
        gpus = tf.config.list_physical_devices("GPU")
        cpus = len(tf.config.list_logical_devices("CPU"))  # logical CPU devices, if made
        return ["cpu", *(f"cpu:{i}" for i in range(1, cpus))] + [
            f"cuda:{i}" for i in range(len(gpus))
        ]
