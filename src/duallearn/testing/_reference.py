"""Running a whole model in numpy: forward, backward and optimizer steps from the
references that sit beside each layer, loss and optimizer (the test oracle)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _layer_weights(model: Any, values: Sequence[np.ndarray]) -> dict[int, list[np.ndarray]]:
    out: dict[int, list[np.ndarray]] = {}
    k = 0
    for layer in model.layers:
        n = len(layer.weights)
        out[id(layer)] = list(values[k : k + n])
        k += n
    return out


def forward(
    model: Any,
    weights: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    training: bool = False,
    noise: dict[int, np.ndarray] | None = None,
) -> tuple[list[np.ndarray], dict[int, Any]]:
    """Numpy forward of a functional/sequential model; returns outputs and every tensor."""
    graph = model.graph
    spec = graph.spec(model._dtype())
    lw = _layer_weights(model, weights)
    vals: dict[int, Any] = dict(zip(spec.inputs, inputs, strict=True))
    for k, node in enumerate(spec.nodes):
        layer = spec.layers[node.layer]
        arg = [vals[i] for i in node.inputs] if node.list_input else vals[node.inputs[0]]
        out = layer.reference(lw[id(layer)], arg, training, (noise or {}).get(k))
        outs = out if len(node.outputs) > 1 else [out]
        for i, o in zip(node.outputs, outs, strict=True):
            vals[i] = o
    return [vals[i] for i in spec.outputs], vals


def backward(
    model: Any,
    weights: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    output_grads: Sequence[np.ndarray],
    training: bool = False,
    noise: dict[int, np.ndarray] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Numpy VJP: ``(dL/dinputs, dL/dtrainable weights)`` for given ``dL/doutputs``."""
    graph = model.graph
    spec = graph.spec(model._dtype())
    lw = _layer_weights(model, weights)
    _, vals = forward(model, weights, inputs, training, noise)
    grads: dict[int, Any] = {
        i: np.asarray(g) for i, g in zip(spec.outputs, output_grads, strict=True)
    }
    wgrads: dict[int, list[np.ndarray]] = {}
    for k in reversed(range(len(spec.nodes))):
        node = spec.nodes[k]
        layer = spec.layers[node.layer]
        if not any(o in grads for o in node.outputs):
            continue
        dy = [grads.get(o, np.zeros_like(vals[o])) for o in node.outputs]
        arg = [vals[i] for i in node.inputs] if node.list_input else vals[node.inputs[0]]
        y = [vals[o] for o in node.outputs]
        dx, dws = layer.reference_backward(
            lw[id(layer)],
            arg,
            y if len(y) > 1 else y[0],
            dy if len(dy) > 1 else dy[0],
            training,
            (noise or {}).get(k),
        )
        if layer.trainable_weights:
            prev = wgrads.get(id(layer))
            wgrads[id(layer)] = (
                dws if prev is None else [a + b for a, b in zip(prev, dws, strict=True)]
            )
        dxs = dx if node.list_input else [dx]
        for i, g in zip(node.inputs, dxs, strict=True):
            grads[i] = grads[i] + g if i in grads else g
    flat = []
    for layer in model.layers:
        if layer.trainable_weights:
            flat += wgrads.get(id(layer), [np.zeros(w.shape) for w in layer.trainable_weights])
    return [
        grads.get(i, np.zeros_like(np.asarray(x))) for i, x in zip(spec.inputs, inputs, strict=True)
    ], flat


def loss_and_grads(
    model: Any,
    weights: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    losses: Sequence[Any],
    sample_weights: Sequence[np.ndarray | None] | None = None,
    loss_weights: Sequence[float] | None = None,
    training: bool = True,
    noise: dict[int, np.ndarray] | None = None,
) -> tuple[float, list[np.ndarray]]:
    """Total loss and its gradient for every trainable weight, in numpy."""
    outs, _ = forward(model, weights, inputs, training, noise)
    sws = sample_weights or [None] * len(outs)
    lws = loss_weights or [1.0] * len(outs)
    total = 0.0
    dys = []
    for loss, y, p, sw, w in zip(losses, targets, outs, sws, lws, strict=True):
        total += w * float(loss.reference(y, p, sw))
        dys.append(w * loss.reference_grad(y, p, sw))
    _, grads = backward(model, weights, inputs, dys, training, noise)
    return total, grads


def train_steps(
    model: Any,
    weights: Sequence[np.ndarray],
    optimizer: Any,
    loss: Any,
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
    lr_fn: Any = None,
) -> tuple[list[np.ndarray], list[float]]:
    """Run the optimizer's numpy reference (``reference_apply``: weight decay, clipping,
    EMA and accumulation included) over ``batches``; returns final weights and losses."""
    w = [np.array(v, dtype=np.float64) for v in weights]
    trainable_idx, names = [], []
    k = 0
    for layer in model.layers:
        ids = {id(t) for t in layer.trainable_weights}
        for wt in layer.weights:
            if id(wt) in ids:
                trainable_idx.append(k)
                names.append(wt.name)
            k += 1
    slots = [
        {s: optimizer.init_slot(s, w[i]) for s in optimizer.slot_names()} for i in trainable_idx
    ]
    losses = []
    for it, (x, y) in enumerate(batches):
        lval, grads = loss_and_grads(model, w, [x], [y], [loss])
        losses.append(lval)
        lr = optimizer.current_learning_rate(it) if lr_fn is None else lr_fn(it)
        new_w, slots = optimizer.reference_apply(
            [w[i] for i in trainable_idx], grads, slots, it, lr, names
        )
        for i, v in zip(trainable_idx, new_w, strict=True):
            w[i] = v
    if getattr(optimizer, "use_ema", False):  # Keras overwrites weights with EMA after fit
        for i, s in zip(trainable_idx, slots, strict=True):
            w[i] = s["average"].copy()
    return w, losses
