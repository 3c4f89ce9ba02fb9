"""Keras 3's HDF5 weights layout (``model.weights.h5`` inside a ``.keras`` file, and
``*.weights.h5`` files), read and written with h5py, plus the safety checks a file from
elsewhere needs.

Layout (keras/src/saving/saving_lib.py ``_save_state``): every saveable object has a group at
its attribute path, and its own variables are the datasets ``<path>/vars/0``, ``1``... in its
``save_own_variables`` order. A model's layers sit in the container ``layers``, each named by
its class in snake case, numbered in the order of ``model.layers`` (``dense``, ``dense_1``;
a functional model counts its ``InputLayer`` s too); sublayers sit at their attribute name
(``lstm/cell``, ``bidirectional/forward_layer/cell``, ``multi_head_attention/query_dense``,
``time_distributed/layer``, a nested model's ``layers/...``). The optimizer's variables are
``optimizer/vars/N``. :func:`layer_paths` is the table from a duallearn layer's weights (in
``layer.weights`` order, which is Keras's ``get_weights`` order) to those paths.

Reading refuses links (soft, external), external and virtual datasets, non-numeric dtypes,
more than :data:`MAX_OBJECTS` objects, and any dataset declaring more bytes than it stores
(beyond :data:`SMALL_BYTES`): so nothing outside the file is read and nothing is allocated
beyond what the file holds.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._naming import snake_case
from ..errors import ConfigError, SerializationError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_OBJECTS = 200_000
MAX_DEPTH = 64
MAX_RANK = 32
SMALL_BYTES = 1 << 16  # a dataset may declare this much more than it stores (fill values)
_KINDS = "fiub"  # float, signed, unsigned, bool


def h5py_module() -> Any:
    """h5py, imported on first use (a clear error when it is missing)."""
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is installed where tests run
        raise ConfigError(
            "Reading and writing Keras files (.keras, .weights.h5, .h5) needs h5py, which is "
            "not installed. Fix: pip install h5py"
        ) from exc
    return h5py


def keras_key(class_name: str, used: dict[str, int]) -> str:
    """The name Keras gives a saveable in a container: its class in snake case, then
    ``_1``, ``_2``... for later ones of the same class (saving_lib ``_get_unique_name``)."""
    base = snake_case(class_name)
    if base in used:
        used[base] += 1
        return f"{base}_{used[base]}"
    used[base] = 0
    return base


def keras_layers(model: Any) -> list[Any]:
    """``model.layers`` as Keras lists them: a functional model's ``InputLayer`` s included
    (in Keras's order), a Sequential's not."""
    graph = getattr(model, "graph", None)
    if type(model).__name__ != "Sequential" and graph is not None:
        all_layers = getattr(graph, "all_layers", None)
        if all_layers is not None:
            return list(all_layers)
    return list(model.layers)


def keras_class(layer: Any) -> str:
    """The Keras class name of a duallearn layer (a functional model is Keras's
    ``Functional``)."""
    name = type(layer).__name__
    return "Functional" if name == "Model" else name


def _is_model(layer: Any) -> bool:
    return hasattr(layer, "layers") and hasattr(layer, "get_weights") and hasattr(layer, "fit")


def layer_paths(layer: Any) -> list[str]:
    """The Keras paths (relative to the layer's group) of ``layer.weights``, in that order.

    Raises:
        SerializationError: a layer whose weights Keras keeps somewhere this table does not
            know (a custom layer with sublayers).
    """
    name = type(layer).__name__
    n = len(layer.weights)
    if _is_model(layer):
        out = []
        used: dict[str, int] = {}
        for sub in keras_layers(layer):
            key = keras_key(keras_class(sub), used)
            out += [f"layers/{key}/{p}" for p in layer_paths(sub)]
        return out
    if name in ("LSTM", "GRU", "SimpleRNN"):
        return [f"cell/vars/{i}" for i in range(n)]
    if name == "Bidirectional":
        fwd = [f"forward_layer/{p}" for p in layer_paths(layer.forward_layer)]
        bwd = [f"backward_layer/{p}" for p in layer_paths(layer.backward_layer)]
        return fwd + bwd
    if name == "TimeDistributed":
        return [f"layer/{p}" for p in layer_paths(layer.layer)]
    if name == "MultiHeadAttention":
        per = n // 4
        return [
            f"{part}_dense/vars/{i}"
            for part in ("query", "key", "value", "output")
            for i in range(per)
        ]
    own = len(getattr(layer, "_weights", layer.weights))
    if own != n:
        raise SerializationError(
            f"Layer {layer.name!r} ({name}) keeps weights in sublayers; the Keras file layout "
            "of such a custom layer is not known to duallearn. Fix: save as .dlm."
        )
    return [f"vars/{i}" for i in range(n)]


def model_paths(model: Any) -> list[tuple[str, Any, Any]]:
    """``(path in the file, layer, variable)`` for every weight of ``model``, in
    ``model.weights`` order per layer (Keras's layer order)."""
    out = []
    used: dict[str, int] = {}
    seen: set[int] = set()
    for layer in keras_layers(model):
        key = keras_key(keras_class(layer), used)
        for rel, var in zip(layer_paths(layer), layer.weights, strict=True):
            if id(var) in seen:
                continue
            seen.add(id(var))
            out.append((f"layers/{key}/{rel}", layer, var))
    return out


def group_names(model: Any) -> dict[str, str]:
    """``group path → object name`` of the ``vars`` groups Keras writes (its ``name``
    attribute), for the model and each layer."""
    out = {"vars": str(model.name)}
    used: dict[str, int] = {}
    for layer in keras_layers(model):
        key = keras_key(keras_class(layer), used)
        out[f"layers/{key}/vars"] = str(layer.name)
    return out


# ---- reading ------------------------------------------------------------------------------
def read_datasets(data: bytes, label: str) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file held in memory, by path, after the safety checks of
    this module's docstring.

    Raises:
        SerializationError: not an HDF5 file, or one that breaks a rule (the message names
            the object and the rule).
    """
    h5py = h5py_module()
    if data[:8] != HDF5_SIGNATURE:
        raise SerializationError(
            f"{label} is not an HDF5 file (it lacks the HDF5 signature). Expected: Keras "
            "weights written by h5py. Fix: pass a .weights.h5 / .keras file Keras wrote."
        )
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise SerializationError(f"{label} is a corrupt HDF5 file: {exc}.") from None
    try:
        out: dict[str, np.ndarray] = {}
        budget = [len(data) + SMALL_BYTES]
        for path, obj in _walk(h5py, f, label):
            out[path] = _read_dataset(h5py, obj, path, label, budget)
        return out
    except SerializationError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise SerializationError(f"{label}: cannot read the HDF5 file: {exc}.") from None
    finally:
        f.close()


def _walk(h5py: Any, root: Any, label: str) -> Iterator[tuple[str, Any]]:
    """Datasets under ``root``, depth first, refusing links and bounding the object count
    and depth."""
    stack: list[tuple[str, Any, int]] = [("", root, 0)]
    count = 0
    while stack:
        prefix, group, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SerializationError(
                f"{label}: HDF5 groups nest deeper than {MAX_DEPTH} levels; Keras files do not."
            )
        for name in sorted(group.keys(), reverse=True):
            count += 1
            if count > MAX_OBJECTS:
                raise SerializationError(
                    f"{label}: the HDF5 file holds more than {MAX_OBJECTS} objects; refused."
                )
            path = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise SerializationError(
                    f"{label}: HDF5 object {path!r} is a {type(link).__name__}; links may "
                    "point outside the file, so they are refused."
                )
            obj = group[name]
            if isinstance(obj, h5py.Group):
                stack.append((f"{path}/", obj, depth + 1))
            elif isinstance(obj, h5py.Dataset):
                yield path, obj
            else:  # pragma: no cover - named datatypes
                raise SerializationError(f"{label}: HDF5 object {path!r} is not a dataset.")


def _read_dataset(h5py: Any, ds: Any, path: str, label: str, budget: list[int]) -> np.ndarray:
    if ds.external:
        raise SerializationError(
            f"{label}: dataset {path!r} keeps its data in an external file; refused."
        )
    if ds.is_virtual:
        raise SerializationError(f"{label}: dataset {path!r} is a virtual dataset; refused.")
    dtype = ds.dtype
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise SerializationError(
            f"{label}: dataset {path!r} has dtype {dtype}; weights are numbers "
            "(float, int, uint, bool)."
        )
    shape = ds.shape
    if shape is None or len(shape) > MAX_RANK or any(d < 0 for d in shape):
        raise SerializationError(f"{label}: dataset {path!r} has an invalid shape {shape}.")
    declared = math.prod(shape) * dtype.itemsize
    stored = int(ds.id.get_storage_size())
    if declared > stored + SMALL_BYTES or declared > budget[0]:
        raise SerializationError(
            f"{label}: dataset {path!r} declares shape {tuple(shape)} ({declared} bytes) but "
            f"stores {stored} bytes: a shape or decompression bomb; refused before reading."
        )
    budget[0] -= declared
    value = np.empty(shape, dtype=dtype.newbyteorder("=") if dtype.itemsize > 1 else dtype)
    if value.size:
        ds.read_direct(value)
    elif shape == ():
        value = np.asarray(ds[()], dtype=value.dtype)
    return value


def is_keras3_weights(tensors: dict[str, np.ndarray]) -> bool:
    return any(p.startswith(("layers/", "_layer_checkpoint_dependencies/")) for p in tensors)


def has_legacy_layout(data: bytes) -> bool:
    """Whether an HDF5 file has the legacy (Keras 2 / ``.h5``) layout: a ``layer_names``
    attribute on the root or on ``model_weights``."""
    h5py = h5py_module()
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            groups = [f]
            link = f.get("model_weights", getlink=True)
            if isinstance(link, h5py.HardLink) and isinstance(f["model_weights"], h5py.Group):
                groups.append(f["model_weights"])
            return any("layer_names" in g.attrs or "layer_names0" in g.attrs for g in groups)
    except (OSError, ValueError, RuntimeError):
        return False


# ---- writing ------------------------------------------------------------------------------
def write_datasets(tensors: dict[str, np.ndarray], names: dict[str, str]) -> bytes:
    """An HDF5 file in memory with each ``path → array`` as a dataset (contiguous, no
    compression, as Keras writes) and a ``name`` attribute on each group of ``names``."""
    h5py = h5py_module()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for group, name in names.items():
            f.require_group(group).attrs["name"] = name
        for path, value in tensors.items():
            parent, _, leaf = path.rpartition("/")
            g = f.require_group(parent) if parent else f
            value = np.asarray(value)  # (np.ascontiguousarray would make scalars 1-d)
            g.create_dataset(leaf, data=value if value.flags.c_contiguous else value.copy())
    return buf.getvalue()
