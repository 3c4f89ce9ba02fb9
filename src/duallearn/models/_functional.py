"""Turning symbolic tensors into a call graph (the functional API's core)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..layers._input import FNode, InputLayer, SymbolicTensor
from ..layers._layer import Layer
from ..plugin import GraphSpec, Node


@dataclass
class Graph:
    """The traced graph: layers in Keras order (inputs excluded) and nodes in execution
    order, with every tensor numbered."""

    inputs: list[SymbolicTensor]
    outputs: list[SymbolicTensor]
    layers: list[Layer]
    nodes: list[FNode]
    tensor_ids: dict[int, int]  # id(SymbolicTensor) -> tensor number
    all_layers: list[Layer] | None = None  # Keras's Functional.layers: InputLayers included

    def spec(self, dtype: str) -> GraphSpec:
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        nodes = [
            Node(
                layer=index[id(n.layer)],
                inputs=tuple(self.tensor_ids[id(t)] for t in n.inputs),
                outputs=tuple(self.tensor_ids[id(t)] for t in n.outputs),
                list_input=n.list_input,
                call_args=n.call_args,
            )
            for n in self.nodes
        ]
        return GraphSpec(
            layers=list(self.layers),
            nodes=nodes,
            inputs=[self.tensor_ids[id(t)] for t in self.inputs],
            outputs=[self.tensor_ids[id(t)] for t in self.outputs],
            dtype=dtype,
            input_shapes=[tuple(t.shape) for t in self.inputs],
            output_shapes=[tuple(t.shape) for t in self.outputs],
        )


def trace(inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]) -> Graph:
    """Collect every call between ``inputs`` and ``outputs`` in a valid execution order."""
    for t in [*inputs, *outputs]:
        if not isinstance(t, SymbolicTensor):
            raise ConfigError(
                f"Model inputs and outputs must be symbolic tensors (from dl.Input and layer "
                f"calls). Received: {t!r}."
            )
    input_ids = {id(t) for t in inputs}
    order: list[FNode] = []
    seen: set[int] = set()
    visiting: set[int] = set()

    def visit(t: SymbolicTensor) -> None:
        if id(t) in input_ids:
            return
        node = t.node
        if node is None or isinstance(node.layer, InputLayer):
            raise ConfigError(
                f"Output tensor {t.name!r} depends on an input that is not among the model's "
                "inputs. Fix: pass every dl.Input the outputs use in Model(inputs=...)."
            )
        if id(node) in seen:
            return
        if id(node) in visiting:
            raise ConfigError("The graph has a cycle.")
        visiting.add(id(node))
        for parent in node.inputs:
            visit(parent)
        visiting.discard(id(node))
        seen.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    tensor_ids: dict[int, int] = {}
    for t in inputs:
        tensor_ids.setdefault(id(t), len(tensor_ids))
    for n in order:
        for t in n.outputs:
            tensor_ids.setdefault(id(t), len(tensor_ids))
    ordered = keras_layer_order(inputs, outputs)
    layers = [layer for layer in ordered if not isinstance(layer, InputLayer)]
    return Graph(list(inputs), list(outputs), layers, order, tensor_ids, ordered)


def keras_layer_order(
    inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]
) -> list[Layer]:
    """Layers in Keras 3's ``Functional.layers`` order (keras/src/ops/function.py
    ``map_graph``): by decreasing depth from the outputs, ties broken by the order in which a
    depth-first walk from each output first reaches each layer. This order fixes
    ``get_weights()``, so ``set_weights(keras_model.get_weights())`` lines up."""
    input_ids = {id(t) for t in inputs}
    finished: set[int] = set()
    post: list[FNode] = []
    first_seen: dict[int, int] = {}

    def walk(t: SymbolicTensor) -> None:
        node = t.node
        if node is None or id(node) in finished:
            return
        is_input = isinstance(node.layer, InputLayer)
        if not is_input and id(t) in input_ids:
            finished.add(id(node))
            return
        first_seen.setdefault(id(node.layer), len(first_seen))
        if not is_input:
            for parent in node.inputs:
                walk(parent)
        finished.add(id(node))
        post.append(node)

    for t in outputs:
        walk(t)
    in_graph = {id(n) for n in post}
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    by_id: dict[int, Layer] = {}
    for node in reversed(post):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        by_id[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for parent in node.inputs:
            pn = parent.node
            if pn is None or id(pn) not in in_graph:
                continue
            node_depth[id(pn)] = max(depth + 1, node_depth.get(id(pn), 0))
    for t in inputs:  # inputs that no output uses are still listed (depth 0)
        if t.node is not None and isinstance(t.node.layer, InputLayer):
            lid = id(t.node.layer)
            if lid not in layer_depth:
                layer_depth[lid], first_seen[lid], by_id[lid] = 0, -1, t.node.layer
    return sorted(by_id.values(), key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))


def reorder_like_attributes(graph: Graph, owner: object) -> None:
    """Subclassed models: Keras tracks layers in attribute-assignment order, and that order
    (not the call order) fixes ``get_weights()``. Layers reached only through ``dl.ops``
    calls (weightless ``OpLayer``s) follow."""
    tracked: list[Layer] = []

    def add(v: object) -> None:
        if isinstance(v, Layer) and all(v is not t for t in tracked):
            tracked.append(v)
        elif isinstance(v, (list, tuple)):
            for a in v:
                add(a)
        elif isinstance(v, dict):
            for a in v.values():
                add(a)

    for k, v in vars(owner).items():
        if not k.startswith("_"):
            add(v)
    used = [l for l in tracked if any(l is g for g in graph.layers)]
    rest = [g for g in graph.layers if all(g is not l for l in used)]
    graph.layers = used + rest
    inputs = [l for l in (graph.all_layers or []) if isinstance(l, InputLayer)]
    graph.all_layers = inputs + graph.layers
