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

    def spec(self, dtype: str) -> GraphSpec:
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        nodes = [
            Node(
                layer=index[id(n.layer)],
                inputs=tuple(self.tensor_ids[id(t)] for t in n.inputs),
                outputs=tuple(self.tensor_ids[id(t)] for t in n.outputs),
                list_input=n.list_input,
            )
            for n in self.nodes
        ]
        return GraphSpec(
            layers=list(self.layers),
            nodes=nodes,
            inputs=[self.tensor_ids[id(t)] for t in self.inputs],
            outputs=[self.tensor_ids[id(t)] for t in self.outputs],
            dtype=dtype,
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
    layers: list[Layer] = []
    for n in order:
        if all(layer is not n.layer for layer in layers):
            layers.append(n.layer)
    return Graph(list(inputs), list(outputs), layers, order, tensor_ids)
