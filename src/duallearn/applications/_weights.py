"""Pretrained weights for ``dl.applications``: fetch Keras's published file, read it, assign it.

Keras's ImageNet files are Keras-2 *legacy HDF5* weight files: a root group (or its
``model_weights`` group) whose attribute ``layer_names`` lists the layers, each layer a group
whose attribute ``weight_names`` lists its datasets in the layer's weight order (trainable
first, then non-trainable: a ``BatchNormalization`` holds gamma, beta, moving mean, moving
variance). Long attribute lists are split into ``layer_names0``, ``layer_names1``, ... (HDF5's
header limit), as Keras writes them.

Assignment is by layer name when the file's weighted layers and the model's carry the same
names (the architectures here use Keras's names); otherwise it falls back to Keras's own rule,
the order of the weighted layers (``keras.Model.load_weights`` on a ``.h5`` file), which is what
makes files whose automatic names differ (Keras 2 counted ``conv2d_1`` from one) load. Every
array's shape is checked before anything is assigned: a mismatch is a :class:`ShapeError` naming
the layer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, SerializationError, ShapeError

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_weights(
    model: Any,
    weights: str | os.PathLike[str] | None,
    *,
    file_name: str,
    origin: str,
    file_hash: str | None,
) -> None:
    """Load ``weights`` into an application model.

    Args:
        model: The ``dl.Model`` built by an architecture function (Keras's layer names).
        weights: ``None`` (keep the random initialisation), ``"imagenet"`` (fetch
            ``origin`` once into ``$DUALLEARN_HOME/models/file_name`` with
            ``dl.utils.get_file``, checking ``file_hash``, then read it), or the path of a
            weights file (a Keras legacy ``.h5`` file, or a duallearn weights file, which
            ``model.load_weights`` reads).
        file_name: The cache file name Keras uses (e.g.
            ``"resnet50_weights_tf_dim_ordering_tf_kernels.h5"``).
        origin: Keras's URL for that file.
        file_hash: Keras's md5 / sha256 of that file; ``None`` skips the check.

    Raises:
        DownloadError: ``"imagenet"`` with no network and no cached file (the message names
            the URL and where to put the file).
        ShapeError: a weight of the file does not fit the model (the layer is named).
        SerializationError: the file's layers do not match the model's.

    Example:
        >>> load_weights(model, None, file_name="x.h5", origin="https://...", file_hash=None)
    """
    if weights is None:
        return
    if isinstance(weights, str) and weights == "imagenet":
        from ..utils import get_file

        path = get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.exists(path):
            raise ConfigError(
                f"The weights file does not exist. Received: weights={path!r}. Fix: pass "
                "None, 'imagenet', or the path of an existing weights file."
            )
    else:
        raise ConfigError(
            "`weights` must be None, 'imagenet' or the path of a weights file. "
            f"Received: weights={weights!r}."
        )
    if _is_hdf5(path) and _legacy_layout(path):
        load_legacy_h5(model, path)
    else:  # duallearn weights, or a Keras 3 .weights.h5 file (dl.saving reads both)
        model.load_weights(path)


def _legacy_layout(path: str) -> bool:
    from ..saving._keras_h5 import has_legacy_layout

    with open(path, "rb") as f:
        return bool(has_legacy_layout(f.read()))


def _is_hdf5(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE


def _attribute_list(group: Any, name: str) -> list[str]:
    """An HDF5 attribute list, possibly split into ``name0``, ``name1``, ... (Keras's
    ``load_attributes_from_hdf5_group``)."""
    if name in group.attrs:
        raw = list(group.attrs[name])
    else:
        raw, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            raw.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [n.decode("utf8") if hasattr(n, "decode") else str(n) for n in raw]


def read_legacy_h5(path: str | os.PathLike[str]) -> list[tuple[str, list[np.ndarray]]]:
    """The weighted layers of a Keras legacy ``.h5`` weights (or whole-model) file, in the
    file's ``layer_names`` order: ``[(layer name, [arrays in weight_names order])]``."""
    from ..saving._keras_h5 import h5py_module

    h5py = h5py_module()
    with h5py.File(os.fspath(path), "r") as f:
        group = f
        if not _has_layer_names(f) and "model_weights" in f:
            group = f["model_weights"]  # a whole model saved with model.save("x.h5")
        if not _has_layer_names(group):
            if "layers" in f or "_layer_checkpoint_dependencies" in f:
                raise SerializationError(
                    f"{os.fspath(path)!r} is a Keras 3 '.weights.h5' file, which "
                    "dl.applications does not read. Expected a Keras legacy .h5 file (the "
                    "layout of Keras's published ImageNet weights). Fix: in Keras, save with "
                    "keras.src.legacy.saving.legacy_h5_format.save_weights_to_hdf5_group, or "
                    "load the Keras model and copy model.get_weights() into ours."
                )
            raise SerializationError(
                f"{os.fspath(path)!r} is an HDF5 file without a 'layer_names' attribute: "
                "not a Keras legacy weights file. Fix: pass the .h5 file Keras's "
                "applications use, or None / 'imagenet'."
            )
        layers = []
        for name in _attribute_list(group, "layer_names"):
            layer_group = group[name]
            weight_names = _attribute_list(layer_group, "weight_names")
            if weight_names:
                layers.append((name, [np.asarray(layer_group[w]) for w in weight_names]))
    return layers


def _has_layer_names(group: Any) -> bool:
    return "layer_names" in group.attrs or "layer_names0" in group.attrs


def load_legacy_h5(model: Any, path: str | os.PathLike[str]) -> None:
    """Assign a Keras legacy ``.h5`` file's weights to ``model``: by layer name when the
    weighted layers' names agree, else in the order of the weighted layers (Keras's rule);
    every shape is checked before any weight is written."""
    saved = read_legacy_h5(path)
    mine = [layer for layer in model.layers if layer.weights]
    where = os.fspath(path)
    saved_names = [name for name, _ in saved]
    if sorted(saved_names) == sorted(layer.name for layer in mine) and len(set(saved_names)) == len(
        saved_names
    ):
        by_name = dict(saved)
        pairs = [(layer, layer.name, by_name[layer.name]) for layer in mine]
    else:
        if len(saved) != len(mine):
            missing = sorted({layer.name for layer in mine} - set(saved_names))[:5]
            extra = sorted(set(saved_names) - {layer.name for layer in mine})[:5]
            raise SerializationError(
                f"The weights file {where!r} holds {len(saved)} layers with weights; model "
                f"{model.name!r} has {len(mine)}. Layers only in the model (first 5): "
                f"{missing}; only in the file: {extra}. Fix: build the model with the "
                "arguments the file was saved from (include_top, classes, input_shape), or "
                "pass weights=None."
            )
        pairs = [(layer, name, arrays) for layer, (name, arrays) in zip(mine, saved, strict=True)]
    for layer, saved_name, arrays in pairs:
        _check_layer(layer, saved_name, arrays, where)
    for layer, _, arrays in pairs:
        layer.set_weights(arrays)


def _check_layer(layer: Any, saved_name: str, arrays: Sequence[np.ndarray], where: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    received = [tuple(a.shape) for a in arrays]
    if expected != received:
        label = (
            repr(layer.name)
            if saved_name == layer.name
            else f"{layer.name!r} ({saved_name!r} in the file)"
        )
        raise ShapeError(
            f"Layer {label} cannot take the weights of {where!r}: expected shapes {expected}, "
            f"received {received}. Fix: build the model with the input shape, classes and "
            "include_top the file was saved with."
        )
