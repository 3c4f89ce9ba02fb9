"""``model.summary()`` text."""

from __future__ import annotations

from typing import Any


def summary_text(model: Any) -> str:
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for layer in model.layers:
        shape = layer.output_shape
        rows.append(
            (f"{layer.name} ({type(layer).__name__})", str(shape), f"{layer.count_params():,}")
        )
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
    line = "─" * sum(widths)
    out = [f'Model: "{model.name}"  (backend: {model.backend_name})', line]
    for i, r in enumerate(rows):
        out.append("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            out.append(line)
    total = model.count_params()
    trainable = sum(int(__import__("math").prod(w.shape)) for w in model.trainable_weights)
    out += [
        line,
        f" Total params: {total:,}",
        f" Trainable params: {trainable:,}",
        f" Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(out)
