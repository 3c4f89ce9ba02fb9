"""Verified export to deployment formats (docs/export.md).

``model.export(path, format=...)`` builds the *target* framework's runtime from the model's
graph and canonical weights (so a model trained on torch exports to a TF SavedModel with only
TensorFlow needed for the artifact), writes the artifact, loads it back the way deployment
would, runs it on probe inputs and compares with the source model. The measured error is
returned in an :class:`ExportResult`; above the tolerance, :class:`ExportError` is raised
carrying the same result.

This module imports no framework: the backend plugin that writes a format is loaded when it
is used (``<plugin package>._export``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DuallearnError
from ..testing._tolerances import max_errors, tolerance
from ..variables import detached

#: format → backend plugin that writes and verifies it.
FORMATS: dict[str, str] = {
    "onnx": "torch",
    "torchscript": "torch",
    "torch_export": "torch",
    "saved_model": "tensorflow",
    "tflite": "tensorflow",
}
_SUFFIX = {"torch_export": ".pt2"}
_EXT = {"onnx": ".onnx", "torchscript": ".pt", "torch_export": ".pt2", "tflite": ".tflite"}


class ExportError(DuallearnError, RuntimeError):
    """An export failed, or its artifact disagrees with the source model beyond the
    tolerance (``.result`` holds the measured errors)."""

    def __init__(self, message: str, result: ExportResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class ExportResult:
    """What an export measured: the artifact's outputs on the probe inputs against the source
    model's, as max absolute and max relative-to-max|ref| errors over every output."""

    path: str
    format: str
    backend: str
    source_backend: str
    max_abs_error: float
    max_rel_error: float
    rtol: float
    atol: float
    passed: bool
    probe_shapes: list[tuple[int, ...]] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "OK" if self.passed else "FAILED"
        return (
            f"{self.format} -> {self.path}: max abs error {self.max_abs_error:.3e}, max rel "
            f"error {self.max_rel_error:.3e} vs the {self.source_backend} model "
            f"(tolerance rtol={self.rtol:g}, atol={self.atol:.3e}) {verdict}"
        )


def probe_inputs(model: Any, batch: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Deterministic probe inputs for ``model``: standard normal floats, small integers for
    integer inputs (ids), batch ``batch``."""
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = (batch, *[1 if s is None else int(s) for s in t.shape[1:]])
        dtype = np.dtype(t.dtype or "float32")
        if dtype.kind in "iu":
            out.append(rng.integers(0, 2, size=shape).astype(dtype))
        elif dtype.kind == "b":
            out.append(rng.random(shape) < 0.5)
        else:
            out.append(rng.standard_normal(shape).astype(dtype))
    return out


def _plugin_module(backend_name: str) -> Any:
    from ..plugin import get_backend

    backend = get_backend(backend_name)
    package = type(backend).__module__.split(".")[0]
    try:
        return importlib.import_module(f"{package}._export")
    except ImportError:
        raise ExportError(f"The {backend_name} backend plugin has no exporter.") from None


def check_target(filepath: str, format: str) -> str:
    """Validate an export destination (format name, file suffix, folder); returns the path."""
    if format not in FORMATS:
        raise ConfigError(
            f"Unknown export format {format!r}. Expected one of: {', '.join(FORMATS)}."
        )
    path = os.fspath(filepath)
    suffix = _SUFFIX.get(format)
    if suffix and not path.endswith(suffix):
        raise ConfigError(
            f"A {format} file must end in {suffix} (torch.export.load requires it). "
            f"Received: {path!r}. Fix: e.g. {os.path.splitext(path)[0] + suffix!r}."
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(
            f"Cannot export to {path}: the folder {directory} does not exist. Fix: create it."
        )
    if format == "saved_model":
        if os.path.exists(path) and not os.path.isdir(path):
            raise ConfigError(
                f"Cannot export a SavedModel to {path}: it is a file, and a SavedModel is a "
                "folder. Fix: name a new folder (or an old SavedModel folder to replace)."
            )
        if os.path.isdir(path) and os.listdir(path) and not _is_saved_model(path):
            raise ConfigError(
                f"Cannot export a SavedModel to {path}: the folder exists and holds other "
                "files (no saved_model.pb), which the export would delete. Fix: name a new or "
                "empty folder, or an old SavedModel folder to replace."
            )
    elif os.path.isdir(path):
        raise ConfigError(
            f"Cannot export {format} to {path}: it is a folder; the {format} artifact is one "
            f"file. Fix: name a file, e.g. {os.path.join(path, 'model' + _EXT[format])!r}."
        )
    return path


def _is_saved_model(path: str) -> bool:
    """Whether folder ``path`` holds a SavedModel (what an export may replace)."""
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def export_model(
    model: Any,
    filepath: str,
    format: str = "saved_model",
    inputs: Sequence[np.ndarray] | np.ndarray | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> ExportResult:
    """Export ``model`` to ``filepath`` in ``format`` and verify the artifact.

    ``inputs``: probe inputs (default: :func:`probe_inputs`). ``rtol``/``atol``: the check
    ``|artifact − model| ≤ atol + rtol·|model|`` elementwise; the defaults are the "forward"
    row of the tolerance table for the model's dtype (``atol = atol_s · max|model|``).
    """
    path = check_target(filepath, format)
    target = FORMATS[format]
    prefix = model._host_prefix() if hasattr(model, "_host_prefix") else None
    if prefix is not None:
        hosts = ", ".join(f"{n.layer.name!r} ({type(n.layer).__name__})" for n in prefix.nodes)
        raise ConfigError(
            f"Model {model.name!r} starts with host-side preprocessing layers ({hosts}), "
            f"which compute in numpy and cannot be written to {format}. Expected: a model "
            "of native layers only. Fix: apply those layers before the exported model: "
            "export the core, a model built on Inputs shaped like their outputs (e.g. "
            "dl.Model(dl.Input(shape, dtype='int64'), ...) calling the same layers), and run "
            "the preprocessing layers on the data first."
        )
    from ..plugin import available_backends

    if target not in available_backends():
        raise ExportError(
            f"Exporting {format} needs the {target} backend's framework, which is not "
            f"installed. Fix: pip install 'duallearn[{target}]'. (The training backend is not "
            "needed: the model is rebuilt from its canonical weights.)"
        )
    dtype = model._dtype()
    if inputs is None:
        probe = probe_inputs(model)
    else:
        probe = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    reference = model.predict(probe if len(probe) > 1 else probe[0], verbose=0)
    if isinstance(reference, dict):
        refs = [np.asarray(reference[n]) for n in model.output_names]
    else:
        refs = [np.asarray(r) for r in (reference if isinstance(reference, list) else [reference])]
    module = _plugin_module(target)
    try:
        with detached():  # the artifact gets copies: nothing it does reaches the model
            outs = module.export(
                model.graph.spec(dtype),
                path,
                format,
                probe,
                list(model.input_names),
                list(model.output_names),
            )
    except DuallearnError:
        raise
    except Exception as exc:  # a framework exporter failing: say which, keep the reason
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(
            f"Exporting model {model.name!r} to {format} with {target} failed: "
            f"{type(exc).__name__}: {first[:500]}"
        ) from exc
    if len(outs) != len(refs):
        raise ExportError(
            f"The exported {format} artifact of model {model.name!r} returned {len(outs)} "
            f"outputs on the probe inputs. Expected: {len(refs)}, one per model output "
            f"{list(model.output_names)}. Fix (backend authors): the {target} backend's "
            "export() returns one array per model output, in the model's order."
        )
    tol = tolerance("forward", dtype if dtype in ("float32", "float64") else "float32")
    r_tol = tol.rtol if rtol is None else float(rtol)
    worst_abs = worst_rel = 0.0
    passed = True
    scale = max((float(np.max(np.abs(r))) if r.size else 0.0) for r in refs) if refs else 0.0
    a_tol = tol.atol_s * scale if atol is None else float(atol)
    for out, ref in zip(outs, refs, strict=True):
        out = np.asarray(out, np.float64).reshape(np.shape(ref)) if out.size == ref.size else out
        if np.shape(out) != np.shape(ref):
            passed = False
            worst_abs = worst_rel = float("inf")
            continue
        err, rel = max_errors(out, ref)
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, rel)
        diff = np.abs(np.asarray(out, np.float64) - np.asarray(ref, np.float64))
        bound = a_tol + r_tol * np.abs(np.asarray(ref, np.float64))
        if not bool(np.all(diff <= bound)):
            passed = False
    result = ExportResult(
        path=path,
        format=format,
        backend=target,
        source_backend=model.backend_name,
        max_abs_error=worst_abs,
        max_rel_error=worst_rel,
        rtol=r_tol,
        atol=a_tol,
        passed=passed,
        probe_shapes=[tuple(a.shape) for a in probe],
    )
    if not passed:
        raise ExportError(
            f"The exported {format} artifact disagrees with model {model.name!r}: "
            f"{result.summary()}. Fix: check the layers' {target} implementation, or pass "
            "rtol=/atol= if this precision is acceptable.",
            result,
        )
    return result


__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "check_target",
    "export_model",
    "probe_inputs",
]
