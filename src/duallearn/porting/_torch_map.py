"""The one PyTorch mapping table: per duallearn layer type, torch's parameter names, the
layout change and the gate reorder (docs/porting_torch.md, "The mapping table").

Pure numpy: :func:`layer_to_torch` turns a layer's canonical arrays into torch's named
tensors, :func:`layer_from_torch` the reverse. ``from_torch`` (set the imported weights),
``torch_state_dict`` / ``load_torch_weights`` and ``to_torch`` all go through these two, so
the three can never disagree.

Names: a layer is named after its torch module path (``features.0``). A torch module that
becomes several duallearn layers names the extra ones ``<path>@<part>``: ``rnn@l1`` is layer
1 of a stacked ``nn.LSTM`` (torch keys ``rnn.weight_ih_l1``...), ``features.3@pad`` the
padding before a convolution. Layers made from a function call (``torch.cat``, ``+``) are
named ``@<fx node name>``. Any other layer name is its own module path, so an ordinary model's
``dense_1`` maps to ``dense_1.weight``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError

SEP = "@"
NUM_BATCHES = "num_batches_tracked"  # torch's BatchNorm counter: optional on load
_LAYER_PART = re.compile(r"l(\d+)")


def part_name(path: str, part: str) -> str:
    """The name of an extra duallearn layer made from torch module ``path``."""
    return f"{path}{SEP}{part}"


def module_path(layer_name: str) -> tuple[str, int]:
    """``(torch module path, recurrent layer index)`` of a duallearn layer name:
    ``"rnn@l1"`` → ``("rnn", 1)``, ``"features.0"`` → ``("features.0", 0)``."""
    path, sep, part = layer_name.partition(SEP)
    match = _LAYER_PART.fullmatch(part) if sep else None
    if sep and path and match:
        return path, int(match.group(1))
    return layer_name, 0


# ---- per-type conversions ----------------------------------------------------------------------


def _move_kernel_to_torch(k: np.ndarray) -> np.ndarray:
    """Conv / conv-transpose kernel ``(*k, a, b)`` → torch ``(b, a, *k)``."""
    r = k.ndim - 2
    return np.ascontiguousarray(k.transpose(r + 1, r, *range(r)))


def _move_kernel_from_torch(w: np.ndarray) -> np.ndarray:
    """torch ``(b, a, *k)`` → canonical ``(*k, a, b)``."""
    r = w.ndim - 2
    return np.ascontiguousarray(w.transpose(*range(2, r + 2), 1, 0))


def _gru_blocks(a: np.ndarray, units: int, axis: int) -> np.ndarray:
    """Swap the first two gate blocks (Keras z|r|h ↔ torch r|z|n; its own inverse)."""
    blocks = np.split(a, 3, axis=axis) if a.shape[axis] == 3 * units else None
    if blocks is None:
        raise ConfigError(f"GRU weights of shape {a.shape} do not hold 3·{units} gate rows.")
    return np.ascontiguousarray(np.concatenate([blocks[1], blocks[0], blocks[2]], axis=axis))


Arrays = dict[str, np.ndarray]


def _named(layer: Any) -> dict[str, Any]:
    return {w.name: w for w in layer._weights}


def _rnn_to_torch(layer: Any, v: Arrays, k: int, suffix: str) -> Arrays:
    kind = type(layer).__name__
    if kind == "GRU" and not layer.reset_after:
        raise ConfigError(
            f"Layer {layer.name!r} (GRU) has reset_after=False, which nn.GRU cannot compute. "
            "Expected: reset_after=True (Keras's default, torch's formula). Fix: rebuild the "
            "layer with reset_after=True."
        )
    h = layer.units
    gru = kind == "GRU"

    def order(a: np.ndarray, axis: int) -> np.ndarray:
        return _gru_blocks(a, h, axis) if gru else np.ascontiguousarray(a)

    out = {
        f"weight_ih_l{k}{suffix}": order(v["kernel"].T, 0),
        f"weight_hh_l{k}{suffix}": order(v["recurrent_kernel"].T, 0),
    }
    if layer.use_bias:
        b = v["bias"]
        if gru:
            out[f"bias_ih_l{k}{suffix}"] = order(b[0], 0)
            out[f"bias_hh_l{k}{suffix}"] = order(b[1], 0)
        else:
            out[f"bias_ih_l{k}{suffix}"] = np.ascontiguousarray(b)
            rec = v.get("recurrent_bias")
            out[f"bias_hh_l{k}{suffix}"] = (
                np.ascontiguousarray(rec) if rec is not None else np.zeros_like(b)
            )
    return out


def _rnn_from_torch(layer: Any, t: Arrays, k: int, suffix: str) -> Arrays:
    h = layer.units
    gru = type(layer).__name__ == "GRU"

    def order(a: np.ndarray, axis: int) -> np.ndarray:
        return _gru_blocks(a, h, axis) if gru else a

    out = {
        "kernel": order(t[f"weight_ih_l{k}{suffix}"], 0).T,
        "recurrent_kernel": order(t[f"weight_hh_l{k}{suffix}"], 0).T,
    }
    if layer.use_bias:
        b_ih, b_hh = t[f"bias_ih_l{k}{suffix}"], t[f"bias_hh_l{k}{suffix}"]
        if gru:
            out["bias"] = np.stack([order(b_ih, 0), order(b_hh, 0)])
        elif layer.use_recurrent_bias:
            out["bias"], out["recurrent_bias"] = b_ih, b_hh
        else:  # one Keras bias: the forward pass of b_ih + b_hh (docs: training differs)
            out["bias"] = b_ih + b_hh
    return out


def _mha_dims(layer: Any, v: Arrays) -> tuple[int, int, int, int, int, int]:
    dq, h, kd = v["query_kernel"].shape
    dk, dv, vd = v["key_kernel"].shape[0], v["value_kernel"].shape[0], v["value_kernel"].shape[2]
    out = v["output_kernel"].shape[2]
    if h * kd != dq or vd != kd or out != dq:
        raise ConfigError(
            f"Layer {layer.name!r} (MultiHeadAttention) has query dim {dq}, {h} heads of "
            f"key_dim {kd}, value_dim {vd} and output dim {out}; nn.MultiheadAttention needs "
            "heads·key_dim = query dim = output dim and value_dim = key_dim. Fix: build it "
            f"with key_dim={dq // h if dq % h == 0 else '<query dim / heads>'} and no "
            "value_dim or output_shape."
        )
    return dq, dk, dv, h, kd, out


def _mha_to_torch(layer: Any, v: Arrays) -> Arrays:
    e, dk, dv, _, _, _ = _mha_dims(layer, v)
    w = {
        n: v[f"{n}_kernel"].reshape(v[f"{n}_kernel"].shape[0], e).T
        for n in ("query", "key", "value")
    }
    out: Arrays = {}
    if dk == e and dv == e:
        out["in_proj_weight"] = np.concatenate([w["query"], w["key"], w["value"]])
    else:
        out.update(q_proj_weight=w["query"], k_proj_weight=w["key"], v_proj_weight=w["value"])
    if layer.use_bias:
        out["in_proj_bias"] = np.concatenate(
            [v[f"{n}_bias"].reshape(-1) for n in ("query", "key", "value")]
        )
    out["out_proj.weight"] = v["output_kernel"].reshape(e, e).T
    if layer.use_bias:
        out["out_proj.bias"] = v["output_bias"]
    return {k: np.ascontiguousarray(a) for k, a in out.items()}


def _mha_from_torch(layer: Any, t: Arrays, shapes: dict[str, tuple[int, ...]]) -> Arrays:
    dq, h, kd = shapes["query_kernel"]
    e = dq
    if "in_proj_weight" in t:
        wq, wk, wv = np.split(t["in_proj_weight"], 3)
    else:
        wq, wk, wv = t["q_proj_weight"], t["k_proj_weight"], t["v_proj_weight"]
    out: Arrays = {
        "query_kernel": wq.T.reshape(-1, h, kd),
        "key_kernel": wk.T.reshape(-1, h, kd),
        "value_kernel": wv.T.reshape(-1, h, kd),
        "output_kernel": t["out_proj.weight"].T.reshape(h, kd, e),
    }
    if layer.use_bias:
        bq, bk, bv = np.split(t["in_proj_bias"], 3)
        out.update(
            query_bias=bq.reshape(h, kd),
            key_bias=bk.reshape(h, kd),
            value_bias=bv.reshape(h, kd),
            output_bias=t["out_proj.bias"],
        )
    return out


_SIMPLE: dict[str, dict[str, str]] = {  # canonical weight name → torch name
    "Dense": {"bias": "bias"},
    "Embedding": {"embeddings": "weight"},
    "LayerNormalization": {"gamma": "weight", "beta": "bias"},
    "GroupNormalization": {"gamma": "weight", "beta": "bias"},
    "BatchNormalization": {
        "gamma": "weight",
        "beta": "bias",
        "moving_mean": "running_mean",
        "moving_variance": "running_var",
    },
    "PReLU": {},
}
_CONV = {
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
}  # fmt: skip
_RNN = {"SimpleRNN", "LSTM", "GRU"}
SUPPORTED = sorted({*_SIMPLE, *_CONV, *_RNN, "Bidirectional", "MultiHeadAttention"})


def _unsupported(layer: Any) -> ConfigError:
    return ConfigError(
        f"Layer {layer.name!r} ({type(layer).__name__}) has weights but no PyTorch mapping: "
        f"supported layers with weights are {', '.join(SUPPORTED)}. Fix: replace the layer, "
        "or convert its weights by hand (dl.porting docs, 'The mapping table')."
    )


def layer_to_torch(layer: Any, values: Arrays | None = None) -> Arrays:
    """Torch's tensors (relative names, torch layouts) of one duallearn layer.

    Args:
        layer: a built duallearn layer with weights.
        values: canonical arrays by weight name (default: the layer's current values).

    Returns:
        ``{relative torch name: array}``, e.g. ``{"weight": W, "bias": b}`` for a Dense layer
        (``W = kernel.T``), ``{"weight_ih_l1": ...}`` for layer 1 of a stacked LSTM.

    Raises:
        ConfigError: the layer type has no torch equivalent.
    """
    kind = type(layer).__name__
    _, index = module_path(layer.name)
    if kind == "Bidirectional":
        out = layer_to_torch_rnn(layer.forward_layer, index, "")
        out.update(layer_to_torch_rnn(layer.backward_layer, index, "_reverse"))
        return out
    v = values if values is not None else {n: w.numpy() for n, w in _named(layer).items()}
    if kind in _RNN:
        return _rnn_to_torch(layer, v, index, "")
    if kind in _CONV:
        out = {"weight": _move_kernel_to_torch(v["kernel"])}
        if "bias" in v:
            out["bias"] = v["bias"]
        return out
    if kind == "Dense":
        out = {"weight": np.ascontiguousarray(v["kernel"].T)}
        if "bias" in v:
            out["bias"] = v["bias"]
        return out
    if kind == "MultiHeadAttention":
        return _mha_to_torch(layer, v)
    if kind == "PReLU":
        return {"weight": np.ascontiguousarray(v["alpha"].reshape(-1))}
    if kind in _SIMPLE:
        table = _SIMPLE[kind]
        out = {table[n]: a for n, a in v.items() if n in table}
        if kind == "BatchNormalization":
            out[NUM_BATCHES] = np.asarray(getattr(layer, "_torch_num_batches_tracked", 0), np.int64)
        return out
    raise _unsupported(layer)


def layer_to_torch_rnn(layer: Any, index: int, suffix: str) -> Arrays:
    """:func:`layer_to_torch` of one direction of a recurrent layer."""
    v = {n: w.numpy() for n, w in _named(layer).items()}
    return _rnn_to_torch(layer, v, index, suffix)


def layer_from_torch(layer: Any, tensors: Arrays) -> list[tuple[Any, np.ndarray]]:
    """``[(variable, canonical array)]`` for one layer from its torch tensors (relative names,
    as :func:`layer_to_torch` gives them; ``num_batches_tracked`` optional)."""
    kind = type(layer).__name__
    _, index = module_path(layer.name)
    if kind == "Bidirectional":
        pairs = []
        for sub, suffix in ((layer.forward_layer, ""), (layer.backward_layer, "_reverse")):
            named = _named(sub)
            pairs += [
                (named[n], a) for n, a in _rnn_from_torch(sub, tensors, index, suffix).items()
            ]
        return pairs
    named = _named(layer)
    if kind in _RNN:
        arrays = _rnn_from_torch(layer, tensors, index, "")
    elif kind in _CONV:
        arrays = {"kernel": _move_kernel_from_torch(tensors["weight"])}
        if "bias" in named:
            arrays["bias"] = tensors["bias"]
    elif kind == "Dense":
        arrays = {"kernel": tensors["weight"].T}
        if "bias" in named:
            arrays["bias"] = tensors["bias"]
    elif kind == "MultiHeadAttention":
        shapes = {n: tuple(w.shape) for n, w in named.items()}
        arrays = _mha_from_torch(layer, tensors, shapes)
    elif kind == "PReLU":
        arrays = {"alpha": tensors["weight"].reshape(named["alpha"].shape)}
    elif kind in _SIMPLE:
        inverse = {t: n for n, t in _SIMPLE[kind].items()}
        arrays = {inverse[t]: a for t, a in tensors.items() if t in inverse and inverse[t] in named}
        if kind == "BatchNormalization" and NUM_BATCHES in tensors:
            layer._torch_num_batches_tracked = int(np.asarray(tensors[NUM_BATCHES]))
    else:
        raise _unsupported(layer)
    return [(named[n], np.ascontiguousarray(a)) for n, a in arrays.items()]


def weighted_layers(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(torch key prefix, layer)`` for every layer with weights, nested models included
    (their layers get ``<model name>.`` in front)."""
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and hasattr(layer, "graph"):
            yield from weighted_layers(layer, f"{prefix}{layer.name}.")
            continue
        if not layer.weights:
            continue
        path, _ = module_path(layer.name)
        yield f"{prefix}{path}.", layer


def expected_keys(model: Any) -> dict[str, tuple[Any, str]]:
    """``{full torch key: (layer, relative name)}`` of a model, in layer order."""
    out: dict[str, tuple[Any, str]] = {}
    for prefix, layer in weighted_layers(model):
        for rel in layer_to_torch(layer):
            out[prefix + rel] = (layer, rel)
    return out
