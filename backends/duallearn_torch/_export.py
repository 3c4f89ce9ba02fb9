"""Export on torch: TorchScript, ``torch.export`` programs and ONNX (docs/export.md).

Each function builds the torch runtime from the front-end graph and canonical weights (so the
model may have been trained on any backend), writes the artifact, loads it back with the
runtime that deployment would use, runs it on the probe inputs and returns its outputs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from duallearn.errors import BackendError
from duallearn.plugin import GraphSpec

from ._runtime import TorchRuntime

FORMATS = ("onnx", "torchscript", "torch_export")


class Serving(nn.Module):
    """The graph in inference mode with positional tensor inputs (what exporters trace)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *xs: torch.Tensor) -> Any:
        outs = self.net(list(xs), False, None)
        return outs[0] if len(outs) == 1 else tuple(outs)


def _outputs(value: Any) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        return [np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for v in value]
    return [value.detach().numpy()]


def export(
    graph: GraphSpec,
    path: str,
    fmt: str,
    probe: Sequence[np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> list[np.ndarray]:
    """Write ``fmt`` to ``path`` and return the artifact's outputs on ``probe``. Called
    under ``duallearn.variables.detached()``: the modules hold copies of the weights."""
    runtime = TorchRuntime(graph)
    module = Serving(runtime.net).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    xs = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in probe)
    with warnings.catch_warnings():
        # Framework deprecation notices about the exporters themselves are not ours to raise.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        if fmt == "torchscript":
            return _torchscript(module, xs, path)
        if fmt == "torch_export":
            return _torch_export(module, xs, path)
        if fmt == "onnx":
            return _onnx(module, xs, path, input_names, output_names)
    raise BackendError(f"The torch backend cannot export {fmt!r}; it exports {FORMATS}.")


def _torchscript(module: nn.Module, xs: tuple[torch.Tensor, ...], path: str) -> list[np.ndarray]:
    with torch.no_grad(), warnings.catch_warnings():
        # Shapes read in Python become constants of the trace: the model's input shapes are
        # fixed but for the batch, which no layer reads as a Python int.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, xs, check_trace=False)
    traced.save(path)
    loaded = torch.jit.load(path)
    with torch.no_grad():
        return _outputs(loaded(*xs))


def _dynamic(xs: tuple[torch.Tensor, ...]) -> tuple[dict[int, Any], ...]:
    return tuple({0: torch.export.Dim.DYNAMIC} for _ in xs)


def _torch_export(module: nn.Module, xs: tuple[torch.Tensor, ...], path: str) -> list[np.ndarray]:
    program = torch.export.export(module, xs, dynamic_shapes=(_dynamic(xs),))
    with warnings.catch_warnings():
        # Parameters that are views of one storage (channels-last conv kernels) make the
        # archive note that it stores the first view; the values are verified below.
        warnings.filterwarnings("ignore", message="No complete tensor found in the group")
        torch.export.save(program, path)
        loaded = torch.export.load(path).module()
    with torch.no_grad():
        return _outputs(loaded(*xs))


def _onnx(
    module: nn.Module,
    xs: tuple[torch.Tensor, ...],
    path: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> list[np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendError(
            "ONNX export is verified with onnxruntime, which is not installed. "
            "Fix: pip install 'duallearn[export]'  (or: pip install onnx onnxscript onnxruntime)"
        ) from None
    import logging

    quiet = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch.export")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        torch.onnx.export(
            module,
            xs,
            path,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_shapes=(_dynamic(xs),),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs, strict=True)}
    return [np.asarray(o) for o in session.run(None, feeds)]


def artifact_files(path: str) -> list[str]:
    return [path] if os.path.exists(path) else []
