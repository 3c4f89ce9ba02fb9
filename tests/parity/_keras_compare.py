"""Helpers for checking a duallearn layer against real Keras 3 (TensorFlow backend): the
forward output and the gradients of ``sum(y · cot)`` with respect to the input and to each
trainable weight."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from duallearn.testing import assert_close, build_single


def keras_forward_grads(
    layer: Any, x: np.ndarray, cot: np.ndarray, **call: Any
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(y, dL/dx, [dL/dw])`` of a built Keras ``layer`` on ``x`` (tf.GradientTape)."""
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, **call)
        s = tf.reduce_sum(y * tf.constant(cot, dtype=y.dtype))
    grads = tape.gradient(s, [xt, *layer.trainable_weights])
    return np.asarray(y), np.asarray(grads[0]), [np.asarray(g) for g in grads[1:]]


def compare_with_keras(
    label: str,
    make: Callable[[], Any],
    make_keras: Callable[[], Any],
    x: np.ndarray,
    backend: str,
    kind: str = "layer",
    seed: int = 0,
    **call: Any,
) -> None:
    """Our layer alone in a model on ``backend`` vs the Keras layer holding the same weights
    (ours, copied into Keras): the output and the gradients of ``sum(y · cot)`` for the input
    and each trainable weight, float32 rows of the tolerance table."""
    model = build_single(make, [x], backend)
    runtime = model._get_runtime()
    y = runtime.forward([x], False, None)[0]
    cot = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(x.dtype)
    dx, dw = runtime.input_gradients([x], [cot], False, None)
    klayer = make_keras()
    klayer.build(x.shape)
    if model.get_weights():
        klayer.set_weights(model.get_weights())
    ky, kdx, kdw = keras_forward_grads(klayer, x, cot, **call)
    assert_close(f"{label} {backend} output vs Keras", y, ky, "float32", kind)
    scale = max([float(np.max(np.abs(g))) for g in [kdx, *kdw] if g.size] or [0.0])
    assert_close(
        f"{label} {backend} d(input) vs Keras", dx[0], kdx, "float32", "gradient", scale=scale
    )
    assert len(dw) == len(kdw), f"{label}: {len(dw)} weight gradients, Keras has {len(kdw)}"
    for i, (a, b) in enumerate(zip(dw, kdw, strict=True)):
        assert_close(
            f"{label} {backend} d(weight {i}) vs Keras", a, b, "float32", "gradient", scale=scale
        )


# ---- independent oracles on drawn configurations (issue 19) -----------------------------------
# One pass of a layer: its outputs, the gradients of sum(Σ y·cot) for each input (None for an
# integer input) and each trainable weight, and every weight after the pass (the moving
# statistics a training call updates). Ours, Keras 3 (TensorFlow backend) and torch each give
# one, from the same inputs, weights and cotangents, so the three can be compared entry by entry.


class Pass(NamedTuple):
    outputs: list[np.ndarray]
    dx: list[np.ndarray | None]
    dw: list[np.ndarray]
    state: list[np.ndarray]


def draw_weights(named_shapes: list[tuple[str, tuple[int, ...]]], seed: int) -> list[np.ndarray]:
    """Weights for a drawn configuration: N(0, 0.5²) entries, variances in [0.5, 2]."""
    r = np.random.default_rng(seed)
    out = []
    for name, shape in named_shapes:
        if "variance" in name:
            out.append(r.uniform(0.5, 2.0, shape))
        else:
            out.append(r.standard_normal(shape) * 0.5)
    return out


def ours_pass(
    make: Callable[[], Any],
    inputs: list[np.ndarray],
    backend: str,
    seed: int,
    training: bool = False,
    dtype: str = "float64",
) -> tuple[Pass, list[np.ndarray], list[bool], list[np.ndarray]]:
    """Our layer alone in a model on ``backend`` (floatx ``dtype``), with weights drawn from
    ``seed``: ``(pass, weights before the pass, their trainable flags, cotangents)``. The
    forward runs once (one moving-statistics update when training), then the gradients are
    taken."""
    from duallearn import config

    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        model = build_single(make, inputs, backend)
        weights = draw_weights([(w.name, tuple(w.shape)) for w in model.weights], seed)
        weights = [w.astype(dtype) for w in weights]
        trainable = [bool(w.trainable) for w in model.weights]
        model.set_weights(weights)
        runtime = model._get_runtime()
        outs = runtime.forward(inputs, training, None)
        state = [np.array(w) for w in model.get_weights()]
        r = np.random.default_rng(seed + 1)
        cots = [r.standard_normal(o.shape).astype(dtype) for o in outs]
        dx, dw = runtime.input_gradients(inputs, cots, training, None)
    finally:
        config.set_floatx(previous)
    dxs = [g if a.dtype.kind == "f" else None for a, g in zip(inputs, dx, strict=True)]
    return Pass(list(outs), dxs, list(dw), state), weights, trainable, cots


@contextlib.contextmanager
def keras_floatx(dtype: str) -> Iterator[None]:
    """Keras layers built inside take ``dtype`` as their default (restored after). Keras
    caches its global dtype policy on first use, so the policy is set too, not only floatx."""
    import keras

    previous, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)
        keras.config.set_dtype_policy(policy)


def keras_pass(
    make_keras: Callable[[], Any],
    inputs: list[np.ndarray],
    weights: list[np.ndarray],
    cots: list[np.ndarray],
    training: bool = False,
    call: Callable[[Any, list[Any]], Any] | None = None,
    dtype: str = "float64",
) -> Pass:
    """The same pass through a real Keras 3 layer (TensorFlow backend, ``tf.GradientTape``)
    holding ``weights`` (``set_weights``, Keras's own order and layout). The layer is built by
    one inference call; ``call(layer, xs)`` calls it (default ``layer(xs[0])`` or
    ``layer(xs)``)."""
    import tensorflow as tf

    def run(layer: Any, xs: list[Any], **kw: Any) -> Any:
        if call is not None:
            return call(layer, xs, **kw)
        return layer(xs[0] if len(xs) == 1 else xs, **kw)

    with keras_floatx(dtype):
        layer = make_keras()
        xs = [tf.constant(a) for a in inputs]
        run(layer, xs)
        if weights:
            layer.set_weights(weights)
        with tf.GradientTape() as tape:
            for x in xs:
                if x.dtype.is_floating:
                    tape.watch(x)
            out = run(layer, xs, training=True) if training else run(layer, xs)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            s = tf.add_n(
                [
                    tf.reduce_sum(o * tf.constant(c, o.dtype))
                    for o, c in zip(outs, cots, strict=True)
                ]
            )
        float_x = [x for x in xs if x.dtype.is_floating]
        grads = tape.gradient(s, float_x + list(layer.trainable_weights))
    dense = [None if g is None else np.asarray(tf.convert_to_tensor(g)) for g in grads]
    gx = iter(dense[: len(float_x)])
    dx = [next(gx) if x.dtype.is_floating else None for x in xs]
    dx = [
        np.zeros(a.shape) if g is None and a.dtype.kind == "f" else g
        for a, g in zip(inputs, dx, strict=True)
    ]
    dw = [
        np.zeros(tuple(v.shape)) if g is None else g
        for v, g in zip(layer.trainable_weights, dense[len(float_x) :], strict=True)
    ]
    state = [np.asarray(w) for w in layer.get_weights()]
    return Pass([np.asarray(o) for o in outs], dx, dw, state)


def torch_pass(
    run: Callable[[list[Any], list[Any]], Any],
    inputs: list[np.ndarray],
    weights: list[np.ndarray],
    trainable: list[bool],
    cots: list[np.ndarray],
) -> Pass:
    """The same pass through torch (``torch.nn.functional`` kernels, ``torch.autograd``).
    ``run(xs, ws)`` receives the inputs and the weights in duallearn's canonical layout (Keras's)
    and maps them to torch's layout itself, so autograd returns gradients in canonical layout.
    The state is every weight after the call (a running statistic updated in place)."""
    import torch

    xs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    ws = [torch.tensor(w, requires_grad=t) for w, t in zip(weights, trainable, strict=True)]
    out = run(xs, ws)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    s = sum((o * torch.tensor(c, dtype=o.dtype)).sum() for o, c in zip(outs, cots, strict=True))
    wanted = [x for x in xs if x.requires_grad] + [w for w in ws if w.requires_grad]
    grads = torch.autograd.grad(s, wanted, allow_unused=True)
    filled = [
        np.zeros(tuple(t.shape)) if g is None else g.numpy()
        for t, g in zip(wanted, grads, strict=True)
    ]
    it = iter(filled)
    dx = [next(it) if x.requires_grad else None for x in xs]
    dw = [next(it) for w in ws if w.requires_grad]
    return Pass([o.detach().numpy() for o in outs], dx, dw, [w.detach().numpy().copy() for w in ws])


def assert_passes_match(
    label: str,
    got: Pass,
    want: Pass,
    dtype: str = "float64",
    kind: str = "layer",
    state: bool = False,
    cots: list[np.ndarray] | None = None,
    out_scale: float | None = None,
    grad_dtype: str | None = None,
    grads: bool = True,
    grad_scale: float | None = None,
) -> None:
    """Outputs within ``kind``, every gradient within ``gradient``, and, when ``state``, every
    weight after the pass within ``kind``.

    The absolute term of every gradient is scaled by the largest gradient of the oracle or the
    largest cotangent, whichever is larger: an entry summed from cancelling terms keeps their
    rounding error, and a derivative through a saturated activation (1 − tanh², σ(1 − σ) at
    |z| ≈ 1e3) is exactly 0 in one framework and a rounding residue of |cot| in another.
    ``out_scale`` does the same for the outputs (``assert_close``'s ``scale``), and, times the
    largest cotangent, for the gradients; ``grad_scale`` sets a floor for the gradients'
    absolute term directly (a Jacobian whose entries are larger than the gradient: x/‖x‖);
    ``grad_dtype``
    judges the gradients by another dtype's row (an oracle known to be less precise);
    ``grads=False`` compares the outputs (and state) only (an oracle whose gradient kernel is
    known to be wrong)."""
    gdtype = grad_dtype or dtype
    assert len(got.outputs) == len(want.outputs), f"{label}: output count"
    for i, (a, b) in enumerate(zip(got.outputs, want.outputs, strict=True)):
        assert_close(f"{label} output {i}", a, b, dtype, kind, scale=out_scale)
    if state:
        for i, (a, b) in enumerate(zip(got.state, want.state, strict=True)):
            assert_close(f"{label} weight {i} after the pass", a, b, dtype, kind)
    if not grads:
        return
    grads = [g for g in [*want.dx, *want.dw, *(cots or [])] if g is not None and g.size]
    scale = max([float(np.max(np.abs(g))) for g in grads] or [0.0])
    if out_scale is not None and cots:
        # a weight gradient sums cot·(output-like terms): their natural magnitude bounds it
        scale = max(scale, out_scale * max(float(np.max(np.abs(c), initial=0.0)) for c in cots))
    scale = max(scale, grad_scale or 0.0)
    assert len(got.dx) == len(want.dx), f"{label}: input count"
    for i, (a, b) in enumerate(zip(got.dx, want.dx, strict=True)):
        if b is not None:
            assert a is not None, f"{label}: no gradient for input {i}"
            assert_close(f"{label} d(input {i})", a, b, gdtype, "gradient", scale=scale)
    assert len(got.dw) == len(want.dw), (
        f"{label}: {len(got.dw)} weight gradients, the oracle has {len(want.dw)}"
    )
    for i, (a, b) in enumerate(zip(got.dw, want.dw, strict=True)):
        assert_close(f"{label} d(weight {i})", a, b, gdtype, "gradient", scale=scale)
