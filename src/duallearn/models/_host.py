"""A model's **host prefix**: the host-side preprocessing layers (``TextVectorization``,
``StringLookup``, ``IntegerLookup``, ``Hashing``, ``CategoryEncoding``, ``Discretization``,
any layer with ``host_side = True``) that its inputs feed directly, or through other such
layers.

They compute in numpy (strings cannot enter a torch tensor), so the model splits its graph
in two (:func:`split`): the prefix runs on the host, per batch, in the data adapter
(``models/_adapter.py``), and the backend runtime is built over the rest, the **core**, whose
inputs are the prefix's outputs (shape from ``compute_output_shape``, dtype from
``output_dtype``) and any model input a native layer takes directly. Both backends therefore
see the same numbers. A host-side layer anywhere else (after a native layer) and a string
input that feeds a native layer are :class:`~duallearn.errors.ConfigError` at construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, DuallearnError
from ..layers._embedding import _embeddings_fed_by
from ..layers._input import CallArgs, FNode, SymbolicTensor
from ..layers._layer import Layer
from ..layers._preprocessing_host import as_host_array
from ._functional import Graph


@dataclass
class HostPrefix:
    """The host prefix of a graph and the core graph the runtime is built on."""

    nodes: list[FNode]  # host nodes, in execution order
    inputs: list[SymbolicTensor]  # the model's inputs
    core: Graph  # the rest: the native runtime's graph
    keep_dtype: list[bool]  # per core input: keep its dtype (ids, masks) or take the float one
    names: list[str]  # per core input: how errors name it
    static: bool  # every host output the core takes has a known shape: rows are independent

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The core's input arrays from the model's input arrays (one batch, or all rows when
        :attr:`static`): every host node's ``host_call`` in order, numpy only."""
        values: dict[int, Any] = {id(t): a for t, a in zip(self.inputs, arrays, strict=True)}
        for node in self.nodes:
            layer = node.layer
            xs = [as_host_array(values[id(t)]) for t in node.inputs]
            kwargs = {k: v for k, v in node.kwargs.items() if k not in ("training", "mask")}
            try:
                if node.call_args:
                    call = CallArgs.rebuild(node.call_args, xs)
                    out = layer.host_call(*call.args, **call.kwargs)  # type: ignore[attr-defined]
                else:
                    x: Any = xs if node.list_input else xs[0]
                    out = layer.host_call(x, **kwargs)  # type: ignore[attr-defined]
            except DuallearnError:
                raise
            except Exception as exc:  # the layer's numpy code on unexpected data
                raise DataError(
                    f"Host-side layer {layer.name!r} ({type(layer).__name__}) failed on the "
                    f"model's data: {type(exc).__name__}: {exc}. Expected: what the layer "
                    "takes when called alone (e.g. strings for StringLookup). Fix: check the "
                    "data with layer(x) outside the model."
                ) from exc
            outs = out if len(node.outputs) > 1 else [out]
            for t, o in zip(node.outputs, outs, strict=True):
                values[id(t)] = np.asarray(o)
        return [values[id(t)] for t in self.core.inputs]

    def dtypes(self, float_dtype: str) -> list[str]:
        """What each core input is cast to: ids and masks keep their integer dtype when they
        feed an Embedding (or are model inputs), everything else takes ``float_dtype``."""
        return [
            t.dtype if keep else float_dtype
            for t, keep in zip(self.core.inputs, self.keep_dtype, strict=True)
        ]


def is_host(layer: Layer) -> bool:
    return bool(getattr(layer, "host_side", False))


def _producer(t: SymbolicTensor) -> str:
    layer = t.node.layer if t.node is not None else None
    return (
        "an unknown tensor" if layer is None else f"layer {layer.name!r} ({type(layer).__name__})"
    )


def split(graph: Graph) -> HostPrefix | None:
    """Split ``graph`` into its host prefix and its core (None: no host-side layer). Refuses
    a host-side layer fed by a native one, a string tensor fed to a native layer, and a nested
    model holding host-side layers."""
    input_ids = {id(t) for t in graph.inputs}
    on_host = set(input_ids)
    host_nodes: list[FNode] = []
    core_nodes: list[FNode] = []
    for node in graph.nodes:
        layer = node.layer
        if is_host(layer):
            late = [t for t in node.inputs if id(t) not in on_host]
            if late:
                raise ConfigError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) is a host-side "
                    "preprocessing layer (it computes in numpy, on the host), so in a model "
                    "it must come right after the model's Input (or after another such "
                    f"layer). Received: it is called on the output of {_producer(late[0])}, "
                    "a native layer. Fix: put it right after the Input, or apply it in the "
                    "data pipeline (layer(x), or dl.data.Dataset.map(layer)) and feed the "
                    "model its output."
                )
            host_nodes.append(node)
            on_host.update(id(t) for t in node.outputs)
            continue
        for t in node.inputs:
            if t.dtype == "string":
                who = f"model input {t.name!r}" if id(t) in input_ids else _producer(t)
                raise ConfigError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) cannot take strings: its "
                    f"input comes from {who}, of dtype 'string'. Strings can only go to the "
                    "host-side preprocessing layers (TextVectorization, StringLookup, "
                    "Hashing). Fix: put one of them between the Input and this layer, e.g. "
                    "x = dl.layers.StringLookup(vocabulary=...)(inp)."
                )
        inner = getattr(layer, "_graph", None)
        if inner is not None and any(is_host(sub) for sub in inner.layers):
            hosts = [sub.name for sub in inner.layers if is_host(sub)]
            raise ConfigError(
                f"Nested model {layer.name!r} holds host-side preprocessing layers {hosts}, "
                "which only run as the first layers of the outermost model. Fix: call those "
                "layers on the outer model's Input, and nest a model that starts after them."
            )
        core_nodes.append(node)
    if not host_nodes:
        return None
    host_ids = {id(n.layer) for n in host_nodes}
    core_ids = {id(n.layer) for n in core_nodes}
    if host_ids & core_ids:  # cannot happen: a host layer's nodes are all on the host
        raise ConfigError("A host-side layer is also called on native tensors.")
    # the core's inputs: host tensors (model inputs included) that a native node or an
    # output takes, in tensor order
    wanted = {id(t) for n in core_nodes for t in n.inputs} | {id(t) for t in graph.outputs}
    tensors: dict[int, SymbolicTensor] = {id(t): t for t in graph.inputs}
    for n in host_nodes:
        tensors.update((id(t), t) for t in n.outputs)
    core_inputs = [
        t for i, t in tensors.items() if i in wanted and i in on_host and t.dtype != "string"
    ]
    for t in graph.outputs:
        if id(t) in on_host and t.dtype == "string":
            raise ConfigError(
                f"Model output {_producer(t)} gives strings, which a model cannot return. "
                "Fix: end the model with a numeric layer (an inverted StringLookup belongs "
                "after predict(), applied to its result)."
            )
    tensor_ids: dict[int, int] = {}
    for t in core_inputs:
        tensor_ids.setdefault(id(t), len(tensor_ids))
    for n in core_nodes:
        for t in n.outputs:
            tensor_ids.setdefault(id(t), len(tensor_ids))
    layers = [layer for layer in graph.layers if id(layer) in core_ids]
    core = Graph(core_inputs, list(graph.outputs), layers, core_nodes, tensor_ids)
    keep = [
        id(t) in input_ids or ("float" not in t.dtype and bool(_embeddings_fed_by(core, t)))
        for t in core_inputs
    ]
    names = [
        t.name if id(t) in input_ids else f"{t.node.layer.name}'s output"  # type: ignore[union-attr]
        for t in core_inputs
    ]
    static = all(
        all(d is not None for d in t.shape[1:]) for t in core_inputs if id(t) not in input_ids
    )
    return HostPrefix(host_nodes, list(graph.inputs), core, keep, names, static)
