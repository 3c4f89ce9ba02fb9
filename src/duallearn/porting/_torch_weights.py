"""PyTorch checkpoints for duallearn models: :func:`torch_state_dict` and
:func:`load_torch_weights`, by name through the mapping table (``_torch_map``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import NotBuiltError, SerializationError, ShapeError
from ._torch_map import NUM_BATCHES, expected_keys, layer_from_torch, weighted_layers

_TORCH_FILES = (".pt", ".pth", ".bin")


def torch_state_dict(model: Any) -> dict[str, np.ndarray]:
    """The model's weights under torch's names and in torch's layouts.

    Each layer is named after its torch module path (a model from :func:`dl.from_torch`) or
    is its own path (``dense_1`` → ``dense_1.weight``); the layouts follow the mapping table
    (Dense kernel transposed, conv kernels ``(out, in, *k)``, GRU gates r|z|n, BatchNorm
    ``running_var``...).

    Args:
        model: a built duallearn model.

    Returns:
        An ordered ``{torch key: numpy array}``; ``torch.from_numpy`` each value (or
        ``to_torch(model).state_dict()``) to get tensors.

    Raises:
        NotBuiltError: the model has no weights yet.
        ConfigError: a layer with weights has no torch equivalent.

    Example:
        >>> import duallearn as dl
        >>> m = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, name="fc")])
        >>> sorted((k, v.shape) for k, v in dl.porting.torch_state_dict(m).items())
        [('fc.bias', (2,)), ('fc.weight', (2, 3))]
    """
    _require_built(model)
    from ._torch_map import layer_to_torch

    out: dict[str, np.ndarray] = {}
    for prefix, layer in weighted_layers(model):
        for rel, arr in layer_to_torch(layer).items():
            out[prefix + rel] = arr
    return out


def load_torch_weights(model: Any, source: Any) -> None:
    """Load PyTorch weights into ``model`` by name, through the same mapping.

    Every key the model expects must be present with torch's shape, and no other key may be
    (``num_batches_tracked`` is optional); nothing is assigned unless everything matches.

    Args:
        model: a built duallearn model (e.g. from :func:`dl.from_torch`).
        source: a ``state_dict`` (a mapping of names to tensors or numpy arrays), an
            ``nn.Module`` (its ``state_dict()``), a ``.pt`` / ``.pth`` / ``.bin`` path (read with
            ``torch.load(path, weights_only=True)``: no pickle code runs) or a
            ``.safetensors`` path holding torch names.

    Raises:
        SerializationError: missing, unexpected or mis-shaped keys (all listed), an
            unreadable file or an unknown source type.
        NotBuiltError: the model has no weights yet.

    Example:
        >>> import duallearn as dl, numpy as np
        >>> m = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, name="fc")])
        >>> dl.porting.load_torch_weights(m, {"fc.weight": np.ones((2, 3)), "fc.bias": np.zeros(2)})
        >>> m.get_weights()[0].shape
        (3, 2)
    """
    _require_built(model)
    tensors = read_torch_source(source)
    assign_torch_tensors(model, tensors, strict=True)


def assign_torch_tensors(model: Any, tensors: Mapping[str, np.ndarray], strict: bool) -> None:
    """Check ``tensors`` against the model's expected keys, then assign them all.
    ``strict=False`` ignores keys the model does not expect (``from_torch``: parameters of
    modules that its forward never calls)."""
    expected = expected_keys(model)
    problems: list[str] = []
    missing = [k for k in expected if k not in tensors and not k.endswith("." + NUM_BATCHES)]
    unexpected = [k for k in tensors if k not in expected]
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected and strict:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    shapes = _expected_shapes(model)
    wrong = [
        f"{k}: expected {shapes[k]}, received {tuple(np.shape(tensors[k]))}"
        for k in expected
        if k in tensors and tuple(np.shape(tensors[k])) != shapes[k]
    ]
    if wrong:
        problems.append(f"mis-shaped keys: {'; '.join(wrong)}")
    if problems:
        raise SerializationError(
            "The PyTorch weights do not match the model: " + ". ".join(problems) + ". "
            f"Expected keys (torch names and shapes): "
            f"{', '.join(f'{k} {shapes[k]}' for k in expected)}. Fix: load the state_dict of "
            "the torch module this model was made from (dl.from_torch names each layer after "
            "its module path), or rename the keys to match."
        )
    assignments: list[tuple[Any, np.ndarray]] = []
    for prefix, layer in weighted_layers(model):
        mine = {
            k[len(prefix) :]: np.asarray(v)
            for k, v in tensors.items()
            if k.startswith(prefix) and expected.get(k, (None,))[0] is layer
        }
        assignments += layer_from_torch(layer, mine)
    for var, value in assignments:
        if tuple(value.shape) != tuple(var.shape):  # pragma: no cover - shapes checked above
            raise ShapeError(f"{var.path}: expected {var.shape}, received {value.shape}.")
    for var, value in assignments:
        var.assign(value.astype(var.dtype, copy=False))


def _expected_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    from ._torch_map import layer_to_torch

    out: dict[str, tuple[int, ...]] = {}
    for prefix, layer in weighted_layers(model):
        for rel, arr in layer_to_torch(layer).items():
            out[prefix + rel] = tuple(arr.shape)
    return out


def _require_built(model: Any) -> None:
    layers = getattr(model, "layers", None)
    if layers is None or any(not layer.built for layer in layers):
        raise NotBuiltError(
            "The model is not built yet, so it has no weights to map to torch names. "
            "Expected: a model whose layers know their input shapes. Fix: give it an Input "
            "(or call it on data) first."
        )


def read_torch_source(source: Any) -> dict[str, np.ndarray]:
    """A checkpoint as ``{torch key: numpy array}`` (see :func:`load_torch_weights`)."""
    if isinstance(source, (str, os.PathLike)):
        return _read_file(os.fspath(source))
    if hasattr(source, "state_dict") and callable(source.state_dict):
        source = source.state_dict()
    if not isinstance(source, Mapping):
        raise SerializationError(
            "load_torch_weights expects a state_dict (a mapping of names to tensors or "
            f"arrays), an nn.Module or a path. Received: {type(source).__name__}. Fix: pass "
            "module.state_dict(), or the path of a .pt/.pth/.safetensors file."
        )
    out: dict[str, np.ndarray] = {}
    for key, value in source.items():
        if not isinstance(key, str):
            raise SerializationError(
                f"A state_dict's keys are strings. Received the key {key!r}. Fix: pass "
                "module.state_dict()."
            )
        out[key] = _to_numpy(key, value)
    return out


def _to_numpy(key: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        t = value.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()  # type: ignore[no-any-return]
    if isinstance(value, Mapping):
        raise SerializationError(
            f"The state_dict entry {key!r} is a nested mapping, not a tensor. Fix: pass the "
            f"inner state_dict (e.g. checkpoint[{key!r}]) if it holds the weights."
        )
    try:
        return np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - reported with the key
        raise SerializationError(
            f"The state_dict entry {key!r} is not a tensor or array "
            f"({type(value).__name__}: {exc}). Fix: pass only tensors."
        ) from None


def _read_file(path: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise SerializationError(
            f"No such file: {path}. Fix: pass the path of a .pt, .pth or .safetensors file."
        )
    lower = path.lower()
    if lower.endswith(".safetensors"):
        from safetensors import safe_open

        try:
            with safe_open(path, framework="np") as f:
                return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except Exception as exc:  # noqa: BLE001 - corrupt or bf16 files
            if "bf16" in str(exc).lower() or "bfloat16" in str(exc).lower():
                return _read_safetensors_torch(path)
            raise SerializationError(
                f"Cannot read {path} as safetensors: {exc}. Fix: check the file is complete."
            ) from None
    if lower.endswith(_TORCH_FILES):
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - report the reason and the safe-load rule
            reason = _first_line(str(exc))
            raise SerializationError(
                f"Cannot read {path} with torch.load(weights_only=True): only tensors and "
                f"plain containers are read, no pickled code is run ({reason}). Fix: save it "
                "with torch.save(module.state_dict(), path)."
            ) from None
        if isinstance(obj, Mapping) and not any(hasattr(v, "detach") for v in obj.values()):
            inner = [k for k, v in obj.items() if isinstance(v, Mapping)]
            raise SerializationError(
                f"{path} holds a mapping without tensors at its top level (keys: "
                f"{', '.join(map(str, list(obj)[:8]))}). Fix: pass the state_dict inside it, "
                f"e.g. torch.load(path, weights_only=True)[{inner[0] if inner else 'KEY'!r}]."
            )
        return read_torch_source(obj)
    raise SerializationError(
        f"Unknown PyTorch checkpoint type: {path}. Expected a name ending in .pt, .pth, .bin "
        "or .safetensors. Fix: rename the file, or load it yourself and pass the state_dict."
    )


def _first_line(text: str) -> str:
    """Why torch refused a file, in one short line (its message is long and colored)."""
    import re

    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if unsafe:
        return f"it holds {unsafe.group(1)}, which is not a tensor"
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).strip().splitlines()
    line = lines[0] if lines else "unknown reason"
    return line[:200] + ("..." if len(line) > 200 else "")


def _read_safetensors_torch(path: str) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    return read_torch_source(load_file(path))
