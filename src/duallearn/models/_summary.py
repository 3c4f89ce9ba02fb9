"""``model.summary()`` text: layers in ``model.layers`` order with output shapes and
parameter counts, plus Keras's "Connected to" column for functional graphs."""

from __future__ import annotations

import math
from typing import Any


def _connections(model: Any, layer: Any) -> str:
    graph = getattr(model, "_graph", None)
    if graph is None:
        return ""
    parts = []
    for node in graph.nodes:
        if node.layer is not layer:
            continue
        for t in node.inputs:
            src = t.node.layer if t.node is not None else None
            if src is None:
                continue
            k = next((i for i, n in enumerate(src._inbound_nodes) if n is t.node), 0)
            j = t.node.outputs.index(t) if t in t.node.outputs else 0
            parts.append(f"{src.name}[{k}][{j}]")
    return ", ".join(parts)


def summary_text(model: Any) -> str:
    functional = type(model).__name__ != "Sequential"
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    rows = [header]
    for layer in model.layers:
        row = [
            f"{layer.name} ({type(layer).__name__})",
            str(layer.output_shape),
            f"{layer.count_params():,}",
        ]
        if functional:
            row.append(_connections(model, layer) or "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(header))]
    line = "─" * sum(widths)
    out = [f'Model: "{model.name}"  (backend: {model.backend_name})', line]
    for i, r in enumerate(rows):
        out.append("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            out.append(line)
    total = model.count_params()
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    out += [
        line,
        f" Total params: {total:,}",
        f" Trainable params: {trainable:,}",
        f" Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(out)
