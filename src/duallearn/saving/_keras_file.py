"""Real Keras 3 files: ``.keras`` archives and ``.weights.h5`` weights, both ways.

A ``.keras`` file is a zip of ``metadata.json``, ``config.json`` (the model config and its
``compile_config``) and ``model.weights.h5`` (keras/src/saving/saving_lib.py). Reading checks
the archive before parsing anything (member names, count, sizes, compression ratio), parses
JSON strictly, reads the weights through :mod:`._keras_h5`'s checks, builds the model from the
registries (:mod:`._keras_config`) under a weight budget set by the bytes the file holds, then
assigns every weight by its Keras path after checking names and shapes. Writing produces what
Keras writes, atomically, so ``keras.saving.load_model`` reads it without duallearn.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from typing import Any

import numpy as np

from .. import __version__
from ..errors import BackendError, ConfigError, DuallearnError, SerializationError
from ..variables import allocation_budget
from ._container import MAX_MEMBERS, _check_name, atomic_write, parse_json
from ._keras_compile import (
    compile_from_keras,
    compile_to_keras,
    load_optimizer_vars,
    optimizer_vars_to_keras,
)
from ._keras_config import model_from_keras
from ._keras_h5 import (
    HDF5_SIGNATURE,
    group_names,
    has_legacy_layout,
    is_keras3_weights,
    model_paths,
    read_datasets,
    write_datasets,
)
from ._keras_writer import model_to_keras

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MAX_EXPANSION = 100  # a deflated member may expand this much (Keras itself writes stored)
SLACK = 1 << 20
# metadata.json's keras_version: the format's Keras major version. Keras's loader does not
# read it (only its KerasFileEditor shows it); files are tested with Keras 3.15.1.
KERAS_VERSION = "3.0.0"


def is_keras_archive(raw: bytes, label: str) -> bool:
    """Whether ``raw`` is a Keras ``.keras`` zip (not a ``.dlm``): no ``manifest.json``, and
    a ``model.weights.h5`` member (or a ``.keras`` name with a ``config.json``)."""
    if raw[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                return label.endswith(".keras")
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return False
    except Exception:  # a corrupt directory: the .dlm reader reports it in its words
        return False
    if "manifest.json" in names:
        return False
    return (
        WEIGHTS in names
        or "model.weights.npz" in names
        or (label.endswith(".keras") and CONFIG in names and "model.safetensors" not in names)
    )


def read_archive(raw: bytes, label: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """``(config, metadata, model.weights.h5 bytes)`` of a ``.keras`` file, after the checks
    of the module docstring."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except Exception as exc:  # zipfile raises many types on hostile directories
        raise SerializationError(f"{label} is a corrupt zip archive: {exc}.") from None
    if len(infos) > MAX_MEMBERS:
        raise SerializationError(
            f"{label} holds {len(infos)} members; a Keras file holds 3. Refused."
        )
    names = [i.filename for i in infos]
    for name in names:
        _check_name(name, label, "it could write or read outside the archive")
    if len(set(names)) != len(names):
        raise SerializationError(f"{label} repeats member names: a member could be shadowed.")
    if "model.weights.npz" in names:
        raise SerializationError(
            f"{label} keeps its weights as model.weights.npz; duallearn reads the h5 format "
            "(Keras's default). Fix: save from Keras with weights_format='h5'."
        )
    assets = [n for n in names if n.startswith("assets")]
    if assets:
        raise SerializationError(
            f"{label} holds assets ({assets[:3]}: vocabularies, lookup tables), which "
            "duallearn does not read. Fix: give those layers their vocabulary in the "
            "constructor, or rebuild them in duallearn and adapt them."
        )
    unexpected = sorted(set(names) - {CONFIG, METADATA, WEIGHTS})
    if unexpected:
        raise SerializationError(
            f"{label} has unexpected members {unexpected[:5]}. Expected a Keras 3 file: "
            f"{CONFIG}, {METADATA}, {WEIGHTS}."
        )
    if CONFIG not in names:
        raise SerializationError(f"{label} lacks its {CONFIG} member: not a Keras model file.")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise SerializationError(f"{label}: member {info.filename!r} is encrypted.")
        if info.compress_type == zipfile.ZIP_STORED:
            ok = info.compress_size == info.file_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            ok = info.file_size <= MAX_EXPANSION * info.compress_size + SLACK
        else:
            raise SerializationError(
                f"{label}: member {info.filename!r} uses compression method "
                f"{info.compress_type}; Keras files are stored or deflated."
            )
        total += info.compress_size
        if not ok or total > len(raw) or info.header_offset + info.compress_size > len(raw):
            raise SerializationError(
                f"{label}: member {info.filename!r} declares {info.file_size} bytes from "
                f"{info.compress_size} stored in a {len(raw)}-byte file: a zip bomb, or "
                "truncated. Refused before decompressing."
            )
    members: dict[str, bytes] = {}
    for info in infos:
        try:
            members[info.filename] = zf.read(info)
        except Exception as exc:  # CRC errors, truncation, bad headers
            raise SerializationError(f"{label}: cannot read {info.filename!r}: {exc}.") from None
    config = parse_json(members[CONFIG], f"{label}: {CONFIG}")
    metadata = parse_json(members[METADATA], f"{label}: {METADATA}") if METADATA in members else {}
    if "keras_version" in metadata and not isinstance(metadata["keras_version"], str):
        raise SerializationError(f"{label}: {METADATA} has a non-string keras_version.")
    return config, metadata, members.get(WEIGHTS, b"")


def load_keras_model(
    raw: bytes,
    label: str,
    custom_objects: dict[str, Any],
    compile: bool,
    backend: str | None,
) -> Any:
    """A duallearn model from the bytes of a Keras 3 ``.keras`` file (see module docstring)."""
    config, _, h5 = read_archive(raw, label)
    tensors = read_datasets(h5, f"{label}: {WEIGHTS}") if h5 else {}
    budget = 2 * sum(int(t.nbytes) for t in tensors.values()) + 4096
    model = _build(config, custom_objects, budget, label)
    if backend is not None:
        model.backend_name = backend
    assign_keras_weights(model, tensors, label)
    if compile and compile_from_keras(model, config.get("compile_config"), custom_objects, label):
        load_optimizer_vars(model, tensors, label)
    return model


def _build(config: dict[str, Any], custom_objects: dict[str, Any], budget: int, label: str) -> Any:
    try:
        with allocation_budget(budget):
            return model_from_keras(config, custom_objects, f"{label}: {CONFIG}")
    except SerializationError as exc:
        raise SerializationError(str(exc) if label in str(exc) else f"{label}: {exc}") from None
    except BackendError:
        raise
    except DuallearnError as exc:
        raise SerializationError(f"{label}: the Keras model config is invalid: {exc}") from None
    except (RecursionError, MemoryError):
        raise SerializationError(f"{label}: the model config is too large or deep.") from None
    except Exception as exc:  # a hostile config must never escape as a foreign error
        raise SerializationError(
            f"{label}: the Keras model config cannot be built: {type(exc).__name__}: {exc}"
        ) from None


def assign_keras_weights(
    model: Any, tensors: dict[str, np.ndarray], label: str, skip_mismatch: bool = False
) -> None:
    """Assign the layer weights of a Keras 3 weights file to ``model`` by path.

    Every path the model expects must be in the file with the same shape, and the file may
    hold no other layer weights (``skip_mismatch=True``: missing or mis-shaped weights keep
    their value, extra ones are ignored). Nothing is assigned unless all checks pass."""
    tensors = {
        ("layers/" + k[len("_layer_checkpoint_dependencies/") :])
        if k.startswith("_layer_checkpoint_dependencies/")
        else k: v
        for k, v in tensors.items()
    }
    entries = model_paths(model)
    held = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
    wanted = {path for path, _, _ in entries}
    missing = sorted(wanted - set(held))
    extra = sorted(set(held) - wanted)
    if (missing or extra) and not skip_mismatch:
        raise SerializationError(
            f"{label}: the weights do not fit model {model.name!r}: "
            + (f"missing {missing[:4]}{' ...' if len(missing) > 4 else ''}; " if missing else "")
            + (f"not in the model {extra[:4]}{' ...' if len(extra) > 4 else ''}; " if extra else "")
            + "the file's config and weights disagree, or the model has other layers. Fix: "
            "load into a model with the same layers (skip_mismatch=True for a partial load)."
        )
    values: dict[int, np.ndarray] = {}
    for path, layer, var in entries:
        if path not in held:
            continue
        value = held[path]
        if tuple(value.shape) != tuple(var.shape):
            if skip_mismatch:
                continue
            raise SerializationError(
                f"{label}: weight {path!r} of layer {layer.name!r} has shape "
                f"{tuple(value.shape)}, but the model's {var.name!r} is {tuple(var.shape)}. "
                "Fix: build the layer with the arguments the file was saved from."
            )
        values[id(var)] = value
    current = model.get_weights()
    model.set_weights(
        [
            values[id(w)].astype(cur.dtype, copy=False) if id(w) in values else cur
            for w, cur in zip(model.weights, current, strict=True)
        ]
    )


def keras_weights_h5(model: Any) -> bytes:
    """The bytes of a Keras 3 ``.weights.h5`` file for ``model`` (its optimizer's variables
    too, where they are carried)."""
    values = model.get_weights()
    by_id = {id(w): v for w, v in zip(model.weights, values, strict=True)}
    tensors = {path: by_id[id(var)] for path, _, var in model_paths(model)}
    tensors.update(optimizer_vars_to_keras(model))
    names = group_names(model)
    if any(k.startswith("optimizer/") for k in tensors):
        names["optimizer/vars"] = str(model.optimizer.name)
    return write_datasets(tensors, names)


def keras_archive(model: Any) -> bytes:
    """The bytes of a Keras 3 ``.keras`` file for ``model``."""
    config = model_to_keras(model)
    compile_config = compile_to_keras(model)
    config["compile_config"] = compile_config
    try:
        config_json = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"Model {model.name!r} has a config that is not JSON: {exc}."
        ) from None
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "duallearn_version": __version__,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in (
            (METADATA, json.dumps(metadata).encode()),
            (CONFIG, config_json.encode()),
            (WEIGHTS, keras_weights_h5(model)),
        ):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def save_keras_model(model: Any, filepath: str, overwrite: bool) -> None:
    atomic_write(filepath, keras_archive(model), overwrite)


def save_keras_weights(model: Any, filepath: str, overwrite: bool) -> None:
    atomic_write(filepath, keras_weights_h5(model), overwrite)


def load_keras_weights(
    model: Any, raw: bytes, label: str, skip_mismatch: bool, by_name: bool
) -> None:
    """``load_weights`` from Keras weights: a ``.keras`` archive, a Keras 3 ``.weights.h5``
    (by path, as Keras; ``by_name`` is refused as Keras refuses it), or a legacy ``.h5``
    (by layer name, else by the order of the weighted layers, as Keras 2)."""
    if raw[:8] == HDF5_SIGNATURE:
        tensors = read_datasets(raw, label)  # the safety checks, for either layout
        if has_legacy_layout(raw):
            if skip_mismatch:
                raise ConfigError(
                    f"skip_mismatch=True is not supported for legacy .h5 weights ({label}). "
                    "Fix: load into a model with the layers the file was saved from."
                )
            from ..applications._weights import load_legacy_h5

            load_legacy_h5(model, label)
            return
        if not is_keras3_weights(tensors) and tensors:
            raise SerializationError(
                f"{label} is an HDF5 file without Keras's layout (neither 'layers/...' groups "
                "nor a 'layer_names' attribute). Expected: a Keras .weights.h5 or legacy .h5."
            )
    else:
        _, _, h5 = read_archive(raw, label)
        tensors = read_datasets(h5, f"{label}: {WEIGHTS}") if h5 else {}
    if by_name:
        raise ConfigError(
            f"by_name=True is not supported for Keras 3 weights ({label}); they are matched by "
            "the model's structure, as in Keras. Fix: drop by_name (skip_mismatch=True keeps "
            "weights that do not fit)."
        )
    assign_keras_weights(model, tensors, label, skip_mismatch)
    if model.optimizer is not None and model._compile_args is not None:
        load_optimizer_vars(model, tensors, label)
