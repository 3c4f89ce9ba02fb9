"""Saving and loading: one ``.dlm`` file (config JSON + safetensors weights + optimizer
state), and weights-only safetensors files. No pickle anywhere."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .. import __version__
from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..errors import ConfigError, SerializationError, ShapeError
from ..layers._layer import REGISTRY as LAYERS
from . import _safetensors
from ._config import model_from_config, registered_name
from ._container import FORMAT_VERSION, atomic_write, pack, parse_json, unpack

T = TypeVar("T")
MEMBERS = {"metadata.json", "config.json", "model.safetensors", "optimizer.safetensors"}


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Register a custom layer class so that configs naming it can be loaded:
    ``@dl.saving.register_serializable(package="my_pkg")`` registers ``"my_pkg>MyLayer"``."""

    def wrap(cls: T) -> T:
        key = f"{package}>{name or cls.__name__}"  # type: ignore[attr-defined]
        LAYERS.add(key, cls)
        cls._registered_name = key  # type: ignore[attr-defined]
        return cls

    return wrap


def _weight_key(i: int, layer: str, weight: str) -> str:
    return f"{i:05d}/{layer}/{weight}"


def _weights_blob(model: Any) -> bytes:
    values = model.get_weights()
    names = [(layer.name, w.name) for layer in model.layers for w in layer.weights]
    tensors = {
        _weight_key(i, ln, wn): v for i, ((ln, wn), v) in enumerate(zip(names, values, strict=True))
    }
    return _safetensors.dumps(tensors, {"format": "duallearn-weights", "count": str(len(values))})


def _compile_config(model: Any) -> dict[str, Any] | None:
    if model.optimizer is None or model._compile_args is None:
        return None
    spec = model._train_spec
    losses = (
        spec.losses
        if spec is not None
        else [
            _losses.get(l) if l is not None else None
            for l in model._per_output(model._compile_args["loss"], "loss")
        ]
    )
    cfg: dict[str, Any] = {
        "optimizer": _optimizers.serialize(model.optimizer),
        "loss": [None if l is None else _losses.serialize(l) for l in losses],
        "loss_weights": spec.loss_weights
        if spec is not None
        else model._compile_args["loss_weights"],
    }
    if spec is not None:
        cfg["metrics"] = [[_metrics.serialize(m) for m in ms] for ms in spec.metrics]
    else:
        cfg["metrics_raw"] = model._compile_args["metrics"]
    return cfg


def save_model(model: Any, filepath: str, overwrite: bool = True) -> None:
    """Write ``model`` to ``filepath`` atomically (see docs/format.md)."""
    from ..plugin import get_backend

    filepath = os.fspath(filepath)
    model_cfg = {
        "class_name": registered_name(model)
        if type(model).__name__ not in ("Sequential", "Model")
        else type(model).__name__,
        "config": model.get_config(),
    }
    config = {
        "format_version": FORMAT_VERSION,
        "model": model_cfg,
        "compile": _compile_config(model),
    }
    try:
        config_bytes = json.dumps(config, indent=1, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"Model {model.name!r} has a config that is not JSON: {exc}."
        ) from None
    members = {"config.json": config_bytes, "model.safetensors": _weights_blob(model)}
    if model._runtime is not None and model._train_spec is not None:
        state = model._runtime.optimizer_state()
        members["optimizer.safetensors"] = _safetensors.dumps(
            state, {"format": "duallearn-optimizer"}
        )
    versions = get_backend(model.backend_name).versions() if model._runtime is not None else {}
    metadata = {
        "duallearn_version": __version__,
        "backend": model.backend_name,
        "framework_versions": versions,
        "dtype": model._dtype() if model.built else None,
    }
    members["metadata.json"] = json.dumps(metadata, indent=1).encode()
    atomic_write(filepath, pack(members), overwrite)


def load_model(
    filepath: str,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    backend: str | None = None,
) -> Any:
    """Load a ``.dlm`` file on the active backend (or ``backend=``), whichever wrote it."""
    members = unpack(os.fspath(filepath), MEMBERS)
    for needed in ("config.json", "model.safetensors"):
        if needed not in members:
            raise SerializationError(f"{filepath} lacks its {needed} member.")
    config = parse_json(members["config.json"], f"{filepath}: config.json")
    tensors, _ = _safetensors.loads(members["model.safetensors"], f"{filepath}: model.safetensors")
    model = model_from_config(config.get("model"), custom_objects)
    if backend is not None:
        model.backend_name = backend
    keys = sorted(tensors)
    expected = [(layer.name, w.name, w.shape) for layer in model.layers for w in layer.weights]
    if len(keys) != len(expected):
        raise SerializationError(
            f"{filepath} holds {len(keys)} weight arrays but its config builds a model with "
            f"{len(expected)}: the file is inconsistent."
        )
    values = []
    for i, (key, (ln, wn, shape)) in enumerate(zip(keys, expected, strict=True)):
        if key != _weight_key(i, ln, wn) or tensors[key].shape != shape:
            raise SerializationError(
                f"{filepath}: weight {i} is {key!r} {tensors[key].shape}, but the config expects "
                f"{_weight_key(i, ln, wn)!r} {shape}."
            )
        values.append(tensors[key])
    model.set_weights(values)
    comp = config.get("compile")
    if compile and comp:
        _restore_compile(model, comp, members.get("optimizer.safetensors"), filepath)
    return model


def _restore_compile(
    model: Any, comp: dict[str, Any], opt_blob: bytes | None, filepath: str
) -> None:
    try:
        optimizer = _optimizers.get(comp["optimizer"])
        losses = [None if l is None else _losses.get(l) for l in comp["loss"]]
        metrics = comp.get("metrics")
        metric_objs = (
            [[_metrics.get(m) for m in ms] for ms in metrics]
            if metrics is not None
            else comp.get("metrics_raw")
        )
    except (KeyError, TypeError) as exc:
        raise SerializationError(f"{filepath}: the compile config is malformed: {exc!r}.") from None
    lw = comp.get("loss_weights")
    model.compile(
        optimizer=optimizer,
        loss=losses if len(losses) > 1 else losses[0],
        loss_weights=lw[0] if isinstance(lw, list) and len(lw) == 1 else lw,
        metrics=metric_objs if (metric_objs is None or len(losses) > 1) else metric_objs[0],
    )
    if opt_blob is not None and metrics is not None:
        state, _ = _safetensors.loads(opt_blob, f"{filepath}: optimizer.safetensors")
        model._ensure_train_spec(None)
        runtime = model._get_runtime()
        runtime.load_optimizer_state(state)
        model.optimizer.iterations = int(state.get("iterations", np.zeros(())).item())


def save_weights(model: Any, filepath: str, overwrite: bool = True) -> None:
    """Weights only, as a plain safetensors file (readable by the ``safetensors`` package)."""
    atomic_write(os.fspath(filepath), _weights_blob(model), overwrite)


def load_weights(
    model: Any, filepath: str, skip_mismatch: bool = False, by_name: bool = False
) -> None:
    """Load a weights file written by :func:`save_weights` (order, or ``by_name``)."""
    try:
        with open(os.fspath(filepath), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SerializationError(f"No such weights file: {filepath}.") from None
    tensors, _ = _safetensors.loads(raw, str(filepath))
    current = model.get_weights()
    slots = [(layer.name, w.name) for layer in model.layers for w in layer.weights]
    by_key = {k.split("/", 1)[1]: v for k, v in tensors.items()}
    ordered = [tensors[k] for k in sorted(tensors)]
    new = []
    for i, ((ln, wn), cur) in enumerate(zip(slots, current, strict=True)):
        v = by_key.get(f"{ln}/{wn}") if by_name else (ordered[i] if i < len(ordered) else None)
        if v is None or v.shape != cur.shape:
            if skip_mismatch or (by_name and v is None):
                new.append(cur)
                continue
            raise ShapeError(
                f"Weight {ln}/{wn} expects shape {cur.shape}; the file has "
                f"{None if v is None else v.shape}. Fix: pass skip_mismatch=True to keep it."
            )
        new.append(v)
    if not by_name and not skip_mismatch and len(ordered) != len(slots):
        raise ConfigError(f"{filepath} holds {len(ordered)} weights; the model has {len(slots)}.")
    model.set_weights(new)


__all__ = ["load_model", "load_weights", "register_serializable", "save_model", "save_weights"]
