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
from ..errors import BackendError, DuallearnError, SerializationError, ShapeError
from ..variables import allocation_budget
from . import _safetensors
from ._config import model_from_config, registered_name
from ._container import (
    FORMAT_VERSION,
    atomic_write,
    pack,
    parse_json,
    read_file,
    unpack_bytes,
)
from ._registration import CustomObjectScope as CustomObjectScope
from ._registration import custom_object_scope as custom_object_scope
from ._registration import get_custom_objects as get_custom_objects
from ._registration import get_registered_name as get_registered_name
from ._registration import get_registered_object as get_registered_object
from ._registration import known_objects
from ._registration import register_keras_serializable as register_keras_serializable
from ._schema import check_config, check_keys, check_metadata

T = TypeVar("T")
MEMBERS = {
    "metadata.json",
    "config.json",
    "model.safetensors",
    "optimizer.safetensors",
    "training.json",  # fit's resume state (shuffle seed, noise stream, epoch): models/_training
}


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Register a custom layer class so that configs naming it can be loaded:
    ``@dl.saving.register_serializable(package="my_pkg")`` registers ``"my_pkg>MyLayer"``
    (the same as :func:`register_keras_serializable`, Keras's name)."""
    return register_keras_serializable(package, name)


def _weight_key(i: int, layer: str, weight: str) -> str:
    return f"{i:05d}/{layer}/{weight}"


def _auto_named(name: str) -> bool:
    """Whether ``name`` is one of ``add_weight``'s automatic names (``variable``,
    ``variable_1``...)."""
    head, _, tail = name.partition("_")
    return head == "variable" and (not tail or tail.isdigit())


def _weight_names(model: Any) -> list[tuple[str, str]]:
    """``(layer name, weight name)`` of each of ``model.weights`` (a variable reached twice,
    through a shared layer, counts once, as in ``model.weights``)."""
    seen: set[int] = set()
    out = []
    for layer in model.layers:
        for w in layer.weights:
            if id(w) not in seen:
                seen.add(id(w))
                out.append((layer.name, w.name))
    return out


def _weights_blob(model: Any) -> bytes:
    values = model.get_weights()
    names = _weight_names(model)
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
    if model._compile_args.get("steps_per_execution", 1) != 1:  # files before it: 1
        cfg["steps_per_execution"] = model._compile_args["steps_per_execution"]
    if spec is not None:
        unweighted = [[m for m in ms if not getattr(m, "weighted", False)] for ms in spec.metrics]
        weighted = [[m for m in ms if getattr(m, "weighted", False)] for ms in spec.metrics]
        cfg["metrics"] = [[_metrics.serialize(m) for m in ms] for ms in unweighted]
        if any(weighted):
            cfg["weighted_metrics"] = [[_metrics.serialize(m) for m in ms] for ms in weighted]
    else:
        cfg["metrics_raw"] = model._compile_args["metrics"]
        cfg["weighted_metrics_raw"] = model._compile_args.get("weighted_metrics")
    return cfg


def _dtype_policy(model: Any) -> dict[str, str] | None:
    if not model.built:
        return None
    dtype = model._dtype()
    policy = None
    try:
        policy = getattr(model, "dtype_policy", None)
    except Exception:  # the policy module is optional to this writer
        policy = None
    if policy is not None and hasattr(policy, "compute_dtype"):
        return {
            "name": str(policy.name),
            "compute_dtype": str(policy.compute_dtype),
            "variable_dtype": str(policy.variable_dtype),
        }
    return {"name": dtype, "compute_dtype": dtype, "variable_dtype": dtype}


def _is_keras_name(filepath: str) -> bool:
    return filepath.lower().endswith(".keras")


def save_model(model: Any, filepath: str, overwrite: bool = True) -> None:
    """Write ``model`` to ``filepath`` atomically (formats: docs/format.md).

    A name ending in ``.keras`` gets a real Keras 3 file (``config.json`` + ``model.weights.h5``
    in a zip), which ``keras.saving.load_model`` reads without duallearn; any other name
    (``.dlm`` by convention) gets duallearn's own format, which keeps everything (training
    state, duallearn-only arguments).

    Args:
        model: a Sequential or functional model (subclassed and custom layers: ``.dlm`` only).
        filepath: where to write; the folder must exist.
        overwrite: ``False`` refuses to replace an existing file.

    Raises:
        SerializationError: the file cannot be written, or the model holds something the
            chosen format cannot express (the message names it and says to use ``.dlm``).

    Example:
        >>> model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
        >>> dl.saving.save_model(model, "model.keras")  # Keras 3 reads it
        >>> model.save("model.dlm")                     # duallearn's format
        >>> dl.load_model("model.keras").layers[0].units
        2
    """
    from ..plugin import get_backend

    filepath = os.fspath(filepath)
    if _is_keras_name(filepath):
        from ._keras_file import save_keras_model

        save_keras_model(model, filepath, overwrite)
        return
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
            state,
            {"format": "duallearn-optimizer", "optimizer": type(model.optimizer).__name__},
        )
    versions = get_backend(model.backend_name).versions() if model._runtime is not None else {}
    metadata = {
        "format_version": FORMAT_VERSION,
        "duallearn_version": __version__,
        "backend": model.backend_name,
        "framework_versions": versions,
        "dtype": model._dtype() if model.built else None,
        "dtype_policy": _dtype_policy(model),
    }
    members["metadata.json"] = json.dumps(metadata, indent=1).encode()
    if model._compile_args is not None and hasattr(model, "_training_state"):
        members["training.json"] = json.dumps(model._training_state()).encode()
    atomic_write(filepath, pack(members), overwrite)


def _build(config: dict[str, Any], custom_objects: Any, budget: int, label: str) -> Any:
    try:
        with allocation_budget(budget):
            return model_from_config(config.get("model"), custom_objects)
    except SerializationError as exc:
        raise SerializationError(f"{label}: {exc}") from None
    except BackendError:  # the selection (e.g. DUALLEARN_BACKEND), not the file, is wrong
        raise
    except DuallearnError as exc:
        raise SerializationError(f"{label}: the model config is invalid: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise SerializationError(f"{label}: the model config is malformed: {exc!r}.") from None
    except (RecursionError, MemoryError):
        raise SerializationError(f"{label}: the model config is too large or deep.") from None
    except Exception as exc:  # a hostile config must never escape as a foreign error
        raise SerializationError(
            f"{label}: the model config cannot be built: {type(exc).__name__}: {exc}"
        ) from None


def read_model_file(
    filepath: str, digests: dict[str, bool] | None = None, raw: bytes | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray], int, dict[str, bytes]]:
    """Open and verify a ``.dlm`` file without building anything:
    ``(config, metadata, weight tensors, format version, members)``; ``raw``: its bytes,
    when already read."""
    label = os.fspath(filepath)
    data = read_file(label) if raw is None else raw
    members, version = unpack_bytes(data, MEMBERS, label, digests)
    needed = ["config.json", "model.safetensors"] + (["metadata.json"] if version >= 2 else [])
    for name in needed:
        if name not in members:
            raise SerializationError(f"{label} lacks its {name} member.")
    config = parse_json(members["config.json"], f"{label}: config.json")
    check_config(config, label)
    if config.get("format_version") != version:
        raise SerializationError(
            f"{label}: config.json says format version {config.get('format_version')!r} but "
            f"the manifest says {version}: the file is inconsistent."
        )
    metadata = (
        parse_json(members["metadata.json"], f"{label}: metadata.json")
        if "metadata.json" in members
        else {}
    )
    check_metadata(metadata, version, label)
    tensors, _ = _safetensors.loads(members["model.safetensors"], f"{label}: model.safetensors")
    return config, metadata, tensors, version, members


def load_model(
    filepath: str,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    backend: str | None = None,
) -> Any:
    """Load a ``.dlm`` file, or a real Keras 3 ``.keras`` file, on the active backend (or
    ``backend=``), whichever wrote it (the format is told from the content, not the name).

    The file is verified (member names, sizes, SHA-256 digests, safetensors headers; for a
    Keras file: member names and sizes, compression ratio, HDF5 links and dataset sizes)
    before anything is built; class names resolve only against duallearn's registries and
    ``custom_objects`` (registered objects are known too: :func:`register_keras_serializable`);
    nothing a file names is imported or executed (a Keras ``Lambda`` is refused). A Keras
    file's ``compile_config`` is restored where duallearn has its optimizer, losses and
    metrics (else the model loads uncompiled, with a ``CompileSkipped`` warning), and the
    optimizer's slots for SGD, Adam, AdamW, RMSprop and Adagrad (docs/format.md).

    Args:
        filepath: the file.
        custom_objects: name → class or function, for registered custom objects.
        compile: restore the training setup (optimizer, losses, metrics, optimizer state).
        backend: run the model on this backend instead of the active one.

    Returns:
        The model.

    Raises:
        SerializationError: any problem with the file (the message names it).

    Example:
        >>> dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, name="d")]).save("m.keras")
        >>> model = dl.load_model("m.keras")
        >>> [layer.name for layer in model.layers]
        ['d']
    """
    label = os.fspath(filepath)
    raw = read_file(label)
    from ._keras_file import is_keras_archive

    if is_keras_archive(raw, label):
        from ._keras_file import load_keras_model

        return load_keras_model(raw, label, known_objects(custom_objects), compile, backend)
    config, _, tensors, _, members = read_model_file(label, raw=raw)
    custom_objects = known_objects(custom_objects)  # + dl.saving.register_keras_serializable's
    budget = sum(t.nbytes for t in tensors.values())
    model = _build(config, custom_objects, budget, label)
    if backend is not None:
        model.backend_name = backend
    keys = sorted(tensors)
    variables = [w for layer in model.layers for w in layer.weights]
    expected = [(layer.name, w.name, w.shape) for layer in model.layers for w in layer.weights]
    if len(keys) != len(expected):
        raise SerializationError(
            f"{label} holds {len(keys)} weight arrays but its config builds a model with "
            f"{len(expected)}: the file is inconsistent."
        )
    values = []
    for i, (key, (ln, wn, shape)) in enumerate(zip(keys, expected, strict=True)):
        stored = key[len(_weight_key(i, ln, "")) :]
        if key != _weight_key(i, ln, wn) and _auto_named(wn) and _auto_named(stored):
            # add_weight's automatic names ("variable_3") depend on what the session created
            # before: the file's name is kept, so paths (optimizer slots) stay the same
            variables[i].name, wn = stored, stored
        if key != _weight_key(i, ln, wn) or tensors[key].shape != shape:
            raise SerializationError(
                f"{label}: weight {i} is {key!r} {tensors[key].shape}, but the config expects "
                f"{_weight_key(i, ln, wn)!r} {shape}."
            )
        values.append(tensors[key])
    model.set_weights(values)
    state = None
    if "training.json" in members and hasattr(model, "_training_state"):
        state = parse_json(members["training.json"], f"{label}: training.json")
        check_keys(state, model._training_state(), label, "training.json")  # what save writes
    comp = config.get("compile")
    if compile and comp:
        _restore_compile(model, comp, members.get("optimizer.safetensors"), label, custom_objects)
        if state is not None and hasattr(model, "_restore_training_state"):
            try:
                model._restore_training_state(state)
            except Exception as exc:  # hostile or stale resume state: refuse, don't crash
                raise SerializationError(
                    f"{label}: training.json is invalid: {type(exc).__name__}: {exc}"
                ) from None
    return model


def _restore_compile(
    model: Any,
    comp: Any,
    opt_blob: bytes | None,
    filepath: str,
    custom_objects: dict[str, Any] | None = None,
) -> None:
    try:
        optimizer = _optimizers.get(comp["optimizer"])
        losses = [None if l is None else _losses.get(l, custom_objects) for l in comp["loss"]]
        metrics = comp.get("metrics")
        metric_objs = (
            [[_metrics.get(m, custom_objects=custom_objects) for m in ms] for ms in metrics]
            if metrics is not None
            else comp.get("metrics_raw")
        )
        wm = comp.get("weighted_metrics")
        weighted_objs = (
            [[_metrics.get(m, custom_objects=custom_objects) for m in ms] for ms in wm]
            if wm is not None
            else comp.get("weighted_metrics_raw")
        )
        lw = comp.get("loss_weights")
        single = len(losses) == 1
        model.compile(
            optimizer=optimizer,
            loss=losses if len(losses) > 1 else losses[0],
            loss_weights=lw[0] if isinstance(lw, list) and len(lw) == 1 else lw,
            metrics=metric_objs[0]
            if (metric_objs is not None and single and metrics is not None)
            else metric_objs,
            weighted_metrics=weighted_objs[0]
            if (weighted_objs is not None and single and metrics is not None)
            else weighted_objs,
            steps_per_execution=comp.get("steps_per_execution", 1),
        )
    except DuallearnError as exc:
        raise SerializationError(f"{filepath}: the compile config is invalid: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise SerializationError(f"{filepath}: the compile config is malformed: {exc!r}.") from None
    if opt_blob is not None and metrics is not None:
        state, _ = _safetensors.loads(opt_blob, f"{filepath}: optimizer.safetensors")
        try:
            model._ensure_train_spec(None)
        except DuallearnError as exc:
            raise SerializationError(f"{filepath}: the compile config is invalid: {exc}") from None
        runtime = model._get_runtime()
        fresh = runtime.optimizer_state()
        state = _slots_by_path(state, model._train_spec.trainable)
        want = {k: v.shape for k, v in fresh.items()}
        have = {k: v.shape for k, v in state.items()}
        # Slots are keyed by variable path. The file may also hold the slots of variables
        # of this model that were frozen after the compile that made them (saved before a
        # recompile): those are the only extra keys accepted.
        slots = {k.partition("/")[0] for k in want if "/" in k}
        shapes = {w.path: w.shape for w in model.weights}
        extra = {
            k: v
            for k, v in have.items()
            if k not in want
            and not (k.partition("/")[0] in slots and shapes.get(k.partition("/")[2]) == v)
        }
        wrong = sorted(set(want.items()) - set(have.items())) + sorted(extra.items())
        if wrong:
            raise SerializationError(
                f"{filepath}: the optimizer state does not fit the model's optimizer "
                f"(differences in slot name/shape: {wrong[:4]}; the optimizer needs "
                f"{sorted(want)[:4]}...)."
            )
        runtime.load_optimizer_state({k: state[k] for k in want})
        model.optimizer.iterations = int(state.get("iterations", np.zeros(())).item())


def _slots_by_path(state: dict[str, np.ndarray], trainable: list[Any]) -> dict[str, np.ndarray]:
    """Files of format 1-2 key slots by the trainable weight's position (``"momentum/3"``);
    today's by its path (``"momentum/dense/kernel"``). Old keys are mapped through the
    loaded model's trainable weights, which are the same list in the same order."""
    out = {}
    for k, v in state.items():
        name, _, rest = k.partition("/")
        if rest.isdigit() and int(rest) < len(trainable):
            k = f"{name}/{trainable[int(rest)].path}"
        out[k] = v
    return out


def save_weights(model: Any, filepath: str, overwrite: bool = True) -> None:
    """Write the weights only, atomically.

    A name ending in ``.weights.h5`` gets a real Keras 3 weights file (Keras's
    ``model.load_weights`` reads it); any other name (``.safetensors`` by convention) a plain
    safetensors file, readable by the ``safetensors`` package.

    Args:
        model: the model.
        filepath: where to write.
        overwrite: ``False`` refuses to replace an existing file.

    Raises:
        SerializationError: the file cannot be written.

    Example:
        >>> model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
        >>> model.save_weights("w.weights.h5")     # Keras 3 layout
        >>> model.save_weights("w.safetensors")    # duallearn's
        >>> open("w.weights.h5", "rb").read(4)
        b'\\x89HDF'
    """
    filepath = os.fspath(filepath)
    if filepath.lower().endswith(".weights.h5"):
        from ._keras_file import save_keras_weights

        save_keras_weights(model, filepath, overwrite)
        return
    atomic_write(filepath, _weights_blob(model), overwrite)


_TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def _load_torch_weights(model: Any, source: Any) -> None:
    from ..porting._torch_weights import load_torch_weights

    load_torch_weights(model, source)


def load_weights(
    model: Any, filepath: Any, skip_mismatch: bool = False, by_name: bool = False
) -> None:
    """Load weights into ``model``; the source's kind is told from its content.

    - duallearn's safetensors file (:func:`save_weights`) or ``.dlm`` file: by default in
      file order (keys sorted, as written), every shape matching; ``by_name=True`` matches
      ``"<layer name>/<weight name>"`` and leaves weights the file lacks untouched;
      ``skip_mismatch=True`` keeps a weight whose shape differs instead of raising.
    - a Keras 3 ``.weights.h5`` or ``.keras`` file: by the model's structure, as Keras does
      (``by_name`` refused); a legacy Keras ``.h5`` weights file: by layer name, else by the
      order of the weighted layers (Keras 2's rule). The optimizer's slots are loaded too
      when the model is compiled and the file holds them.
    - PyTorch weights: a ``state_dict`` (a mapping), a ``.pt`` / ``.pth`` / ``.bin`` path, or
      a ``.safetensors`` file with torch's names (no duallearn metadata, no ``/`` in its
      keys), mapped by :func:`duallearn.porting.load_torch_weights`.

    Args:
        model: the model to fill.
        filepath: a path, or a torch ``state_dict`` / ``nn.Module``.
        skip_mismatch: keep weights that do not fit instead of raising.
        by_name: match duallearn files by layer and weight names.

    Raises:
        SerializationError: an unreadable or hostile file; ShapeError: weights that do not
            fit (duallearn files).

    Example:
        >>> model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
        >>> model.save_weights("w.weights.h5")
        >>> other = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
        >>> other.load_weights("w.weights.h5")
        >>> bool(np.array_equal(other.get_weights()[0], model.get_weights()[0]))
        True
    """
    if not isinstance(filepath, (str, os.PathLike)):
        _load_torch_weights(model, filepath)  # a state_dict or an nn.Module
        return
    label = os.fspath(filepath)
    if label.lower().endswith(_TORCH_SUFFIXES):
        _load_torch_weights(model, label)
        return
    raw = read_file(label, "weights file")
    from ._keras_file import is_keras_archive
    from ._keras_h5 import HDF5_SIGNATURE

    if raw[:8] == HDF5_SIGNATURE or is_keras_archive(raw, label):
        from ._keras_file import load_keras_weights

        load_keras_weights(model, raw, label, skip_mismatch, by_name)
        return
    if raw[:4] == b"PK\x03\x04":
        members, _ = unpack_bytes(raw, MEMBERS, label)
        if "model.safetensors" not in members:
            raise SerializationError(f"{label} lacks its model.safetensors member.")
        raw = members["model.safetensors"]
    tensors, meta = _safetensors.loads(raw, label)
    if meta.get("format") != "duallearn-weights" and tensors and not any("/" in k for k in tensors):
        _load_torch_weights(model, label)  # torch names ("fc.weight") never hold a "/"
        return
    current = model.get_weights()
    slots = _weight_names(model)
    # "00003/dense/kernel" (duallearn) or "dense/kernel" (other writers) -> "dense/kernel"
    by_key = {
        (k.split("/", 1)[1] if k.split("/", 1)[0].isdigit() and "/" in k else k): v
        for k, v in tensors.items()
    }
    ordered = [tensors[k] for k in sorted(tensors)]
    if not by_name and not skip_mismatch and len(ordered) != len(slots):
        raise ShapeError(
            f"{label} holds {len(ordered)} weight arrays; model {model.name!r} has {len(slots)}. "
            "Fix: load into a model with the same layers, or pass by_name=True / "
            "skip_mismatch=True for a partial transfer."
        )
    new = []
    for i, ((ln, wn), cur) in enumerate(zip(slots, current, strict=True)):
        v = by_key.get(f"{ln}/{wn}") if by_name else (ordered[i] if i < len(ordered) else None)
        if v is None or v.shape != cur.shape:
            if skip_mismatch or (by_name and v is None):
                new.append(cur)
                continue
            raise ShapeError(
                f"Weight {ln}/{wn} expects shape {cur.shape}; {label} has "
                f"{None if v is None else v.shape}. Fix: pass skip_mismatch=True to keep it."
            )
        new.append(v)
    model.set_weights(new)


def inspect_model_file(filepath: str) -> dict[str, Any]:
    """What ``duallearn inspect`` prints: format version, metadata, layers with parameter
    counts, and whether every member passes its SHA-256 check. Builds no model."""
    from ._keras_file import is_keras_archive

    raw = read_file(os.fspath(filepath))
    if is_keras_archive(raw, os.fspath(filepath)):
        raise SerializationError(
            f"{os.fspath(filepath)} is a Keras 3 .keras file; inspect reads duallearn's .dlm "
            "files. Fix: dl.load_model(path).summary() shows its layers."
        )
    digests: dict[str, bool] = {}
    config, metadata, tensors, version, members = read_model_file(filepath, digests, raw)
    model_cfg = config.get("model")
    inner = model_cfg.get("config") if isinstance(model_cfg, dict) else None
    layer_cfgs = inner.get("layers", []) if isinstance(inner, dict) else []
    params: dict[str, int] = {}
    for key, t in sorted(tensors.items()):
        parts = key.split("/")
        layer = parts[1] if len(parts) == 3 else key
        params[layer] = params.get(layer, 0) + int(t.size)
    layers = []
    for c in layer_cfgs if isinstance(layer_cfgs, list) else []:
        cfg = c.get("config", {}) if isinstance(c, dict) else {}
        name = cfg.get("name") if isinstance(cfg, dict) else None
        layers.append(
            {
                "name": name,
                "class_name": c.get("class_name") if isinstance(c, dict) else None,
                "params": params.get(str(name), 0),
            }
        )
    return {
        "format_version": version,
        "model_class": model_cfg.get("class_name") if isinstance(model_cfg, dict) else None,
        "name": inner.get("name") if isinstance(inner, dict) else None,
        "metadata": metadata,
        "layers": layers,
        "total_params": int(sum(t.size for t in tensors.values())),
        "compiled": bool(config.get("compile")),
        "optimizer_state": "optimizer.safetensors" in members,
        "digests": digests,
    }


__all__ = [
    "FORMAT_VERSION",
    "CustomObjectScope",
    "custom_object_scope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "inspect_model_file",
    "load_model",
    "load_weights",
    "read_model_file",
    "register_keras_serializable",
    "register_serializable",
    "save_model",
    "save_weights",
]
