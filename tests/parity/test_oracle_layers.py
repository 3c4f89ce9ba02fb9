"""Independent oracles for every layer family with a formula (issue 19): our layer on each
duallearn engine against real Keras 3 on its TensorFlow backend and, where PyTorch has the same
layer, against ``torch.nn.functional`` with ``torch.autograd``: the outputs, the gradients of
``Σ y·cot`` for every float input and every trainable weight, and the moving statistics a
training call updates. Weights are set in the canonical (Keras) layout; the torch oracle maps
them to torch's layout inside the differentiated function (shared/PARITY.md §1), so its
gradients come back in canonical layout. Everything runs in float64 (Keras layers built with
floatx float64, torch tensors float64) and is judged by the float64 rows of the one tolerance
table.

Hypothesis draws the configuration (shapes, units, kernel sizes, strides, padding, dilation,
activation, use_bias, ...) and the input values themselves (``hnp.arrays``, so a failure
shrinks toward small shapes and simple values), at three magnitudes (1e-2, 1, 1e3) and with
batches of one. Weights and cotangents are drawn by numpy from a drawn seed.

Ties: where a layer takes a maximum (max pooling, Maximum/Minimum), the frameworks may route
the gradient of equal candidates differently, which is not a formula difference. Rule: the
drawn values are made distinct before the call (``distinct``): the i-th entry in a drawn order
gets ``i·δ`` added (δ = 1e-3 of the magnitude), and examples that still have an exact tie are
rejected. Max is exact in floating point, so distinct inputs leave no room for rounding to
pick another winner.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl

from ..conftest import both
from ._keras_compare import Pass, assert_passes_match, keras_pass, ours_pass, torch_pass

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

pytestmark = both()
BACKENDS = ["torch", "tensorflow"]
L = dl.layers

# Entries below 1e-100 in magnitude become 0: TF flushes subnormals to zero and torch does not
# (shared/PARITY.md §10), and a tiny entry times a magnitude or squared could turn subnormal.
FLOATS = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(
    lambda v: 0.0 if abs(v) < 1e-100 else v
)
SCALES = st.sampled_from([1.0, 1e-2, 1e3])
ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]


def activation_kw(draw: st.DrawFn) -> dict:
    """A drawn activation and use_bias. Kink rule: SELU's derivative jumps at 0 (scale·α on
    the left, scale on the right); Keras and both engines take the right side there (see
    test_selu_gradient_at_zero) but the torch oracle's F.selu the left one, so a SELU layer
    always gets a bias: its pre-activation is then never exactly 0. ReLU's kink at 0 is kept:
    every engine and oracle gives 0 there."""
    act = draw(st.sampled_from(ACTIVATIONS))
    return {"activation": act, "use_bias": True if act == "selu" else draw(st.booleans())}


# ---- drawing ----------------------------------------------------------------------------------


def values(draw: st.DrawFn, shape: tuple[int, ...], scale: float | None = None) -> np.ndarray:
    """Hypothesis-drawn float64 entries in [-1, 1], times a drawn magnitude."""
    s = draw(SCALES) if scale is None else scale
    return draw(hnp.arrays(np.float64, shape, elements=FLOATS)) * s


def distinct(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Drawn values without ties (the module docstring's rule)."""
    s = draw(SCALES)
    x = draw(hnp.arrays(np.float64, shape, elements=FLOATS))
    order = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(x.size)
    x = x.reshape(-1)
    x[order] += np.arange(x.size) * 1e-3
    x = x.reshape(shape) * s
    assume(np.unique(x).size == x.size)
    return x


SEEDS = st.integers(0, 2**16)


def torch_act(name: str | None):
    """The same activation as a torch function (Keras's definitions)."""
    import torch
    import torch.nn.functional as F

    return {
        None: lambda z: z,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "elu": F.elu,
        "selu": F.selu,
        # Keras softplus is log(1 + e^z) everywhere; F.softplus switches to z above 20
        "softplus": lambda z: torch.logaddexp(z, torch.zeros_like(z)),
        "swish": F.silu,
    }[name]


def same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TF 'SAME' (tensorflow/core/framework/kernel_shape_util.cc): the extra pixel at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def torch_pad(x, pads: list[tuple[int, int]], value: float = 0.0):
    """``F.pad`` of the trailing ``len(pads)`` dims of ``x`` by (before, after) each."""
    import torch.nn.functional as F

    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return F.pad(x, flat, value=value)


# TF computes ELU/SELU's negative branch as exp(z) − 1, torch as expm1(z): for |z| ≪ 1 they
# differ by eps·1 absolute (the subtracted 1), a relative error of eps/|z|. The absolute term of
# those outputs is therefore scaled by 1, the magnitude of that constant, not by max|y| alone.
EXPM1_SCALE = 1.0


def norm_scale(x: np.ndarray, epsilon: float) -> float:
    """The natural magnitude of a normalized output: a group of equal values (variance 0) has
    x − mean = a rounding residue of |x|, amplified by 1/√ε, where the exact result is 0."""
    return float(np.max(np.abs(x), initial=0.0)) / np.sqrt(epsilon)


def check(
    label: str,
    backend: str,
    make,
    make_keras,
    inputs: list[np.ndarray],
    seed: int,
    torch_run=None,
    training: bool = False,
    call=None,
    keras_state: bool = False,
    torch_state: bool = False,
    keras_dtype: str = "float64",
    activation: str | None = None,
    out_scale: float | None = None,
    keras_rows: str | None = None,
    keras_grads: bool = True,
    grad_scale: float | None = None,
) -> Pass:
    """Ours on ``backend`` vs Keras (unless ``make_keras`` is None: no Keras kernel) and vs
    torch (when ``torch_run`` is given). ``keras_dtype="float32"`` where TF has no float64
    kernel: Keras then runs on the float32-rounded inputs and weights, judged by the float32
    rows. ``keras_rows="float32"`` keeps Keras in float64 but judges it by the float32 rows
    (Keras rounds a constant of that layer through float32). ``keras_grads=False``: Keras
    judges the outputs only (its gradient kernel is wrong there; torch judges them)."""
    assert make_keras is not None or torch_run is not None, f"{label}: no oracle"
    ours, weights, trainable, cots = ours_pass(make, inputs, backend, seed, training)
    if activation in ("elu", "selu"):
        out_scale = EXPM1_SCALE
    if make_keras is not None:

        def cast(arrays):
            return [a.astype(keras_dtype) if a.dtype.kind == "f" else a for a in arrays]

        theirs = keras_pass(make_keras, cast(inputs), cast(weights), cast(cots), training, call,
                            keras_dtype)  # fmt: skip
        assert_passes_match(f"{label} on {backend} vs Keras", ours, theirs,
                            keras_rows or keras_dtype, state=keras_state, cots=cots,
                            out_scale=out_scale, grads=keras_grads,
                            grad_scale=grad_scale)  # fmt: skip
    if torch_run is not None:
        t = torch_pass(torch_run, inputs, weights, trainable, cots)
        assert_passes_match(
            f"{label} on {backend} vs torch",
            ours,
            t,
            state=torch_state,
            cots=cots,
            out_scale=out_scale,
            grad_scale=grad_scale,
        )
    return ours


def keras_layers():
    import keras

    return keras.layers


# ---- Dense ------------------------------------------------------------------------------------


@st.composite
def dense_cases(draw):
    rank = draw(st.sampled_from([2, 3]))
    shape = (draw(st.integers(1, 3)),) + (draw(st.integers(1, 4)),) * (rank - 2)
    shape += (draw(st.integers(1, 6)),)
    kw = {
        "units": draw(st.integers(1, 6)),
        **activation_kw(draw),
    }
    return kw, values(draw, shape), draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=dense_cases())
def test_dense(backend, case):
    kw, x, seed = case

    def run(xs, ws):
        import torch.nn.functional as F

        return torch_act(kw["activation"])(
            F.linear(xs[0], ws[0].T, ws[1] if kw["use_bias"] else None)
        )

    check(f"Dense{kw}", backend, lambda: L.Dense(**kw), lambda: keras_layers().Dense(**kw), [x],
          seed, run, activation=kw["activation"])  # fmt: skip


# ---- convolutions -----------------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    rank = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"] + (["causal"] if rank == 1 else [])))
    kmax = 4 if rank < 3 else 3
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    # Keras refuses strides > 1 together with dilation > 1
    strides = (
        (1,) * rank if max(dilation) > 1 else tuple(draw(st.integers(1, 3)) for _ in range(rank))
    )
    nmax = 7 if rank < 3 else 5
    sizes = tuple(
        (k - 1) * d + 1 + draw(st.integers(0, 3))
        if padding == "valid"
        else draw(st.integers(1, nmax))
        for k, d in zip(kernel, dilation, strict=True)
    )
    kw = {
        "filters": filters,
        "kernel_size": kernel,
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "groups": groups,
        **activation_kw(draw),
    }
    x = values(draw, (draw(st.integers(1, 2)), *sizes, cin))
    return rank, kw, x, draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=conv_cases())
def test_conv(backend, case):
    """Conv1D/2D/3D: valid, TF-'same' (extra pixel at the end) and causal padding."""
    rank, kw, x, seed = case
    name = f"Conv{rank}D"

    def run(xs, ws):
        import torch.nn.functional as F

        xc = xs[0].movedim(-1, 1)
        n = xs[0].shape[1:-1]
        if kw["padding"] == "same":
            pads = [same_pads(n[i], kw["kernel_size"][i], kw["strides"][i], kw["dilation_rate"][i])
                    for i in range(rank)]  # fmt: skip
        elif kw["padding"] == "causal":
            pads = [((kw["kernel_size"][0] - 1) * kw["dilation_rate"][0], 0)]
        else:
            pads = [(0, 0)] * rank
        xc = torch_pad(xc, pads)
        w = (
            ws[0].permute(rank + 1, rank, *range(rank)).contiguous()
        )  # (k.., in/g, out) -> (out, in/g, k..)
        conv = getattr(F, f"conv{rank}d")
        y = conv(xc, w, ws[1] if kw["use_bias"] else None, kw["strides"], 0,
                 kw["dilation_rate"], kw["groups"])  # fmt: skip
        return torch_act(kw["activation"])(y.movedim(1, -1))

    # Keras runs a grouped convolution on CPU through tf.function(jit_compile=True), compiled
    # again for every drawn shape (a retracing storm, ~0.5 s each): torch judges groups > 1
    make_keras = (lambda: getattr(keras_layers(), name)(**kw)) if kw["groups"] == 1 else None
    check(f"{name}{kw}", backend, lambda: getattr(L, name)(**kw), make_keras, [x], seed, run,
          activation=kw["activation"])  # fmt: skip


def transpose_length(n: int, k: int, s: int, d: int, padding: str, output_padding) -> int:
    """Keras's output length of a transposed convolution (conv_utils)."""
    keff = (k - 1) * d + 1
    if output_padding is None:
        return n * s + max(keff - s, 0) if padding == "valid" else n * s
    pad = keff // 2 if padding == "same" else 0
    return (n - 1) * s + keff - 2 * pad + output_padding


def _maps_back(n: int, k: int, s: int, d: int, padding: str, op: int) -> bool:
    """Whether a forward convolution of Keras's output length gives the input length back (TF
    and duallearn refuse other output_padding values)."""
    out = transpose_length(n, k, s, d, padding, op)
    keff = (k - 1) * d + 1
    back = -(-out // s) if padding == "same" else -(-(out - keff + 1) // s)
    return out >= 1 and back == n


@st.composite
def conv_transpose_cases(draw):
    rank = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    strides = (
        (1,) * rank if max(dilation) > 1 else tuple(draw(st.integers(1, 3)) for _ in range(rank))
    )
    output_padding = None
    if draw(st.booleans()):
        output_padding = tuple(draw(st.integers(0, s - 1)) for s in strides)
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    if output_padding is not None and not all(
        _maps_back(n, k, s, d, padding, op)
        for n, k, s, d, op in zip(sizes, kernel, strides, dilation, output_padding, strict=True)
    ):
        output_padding = None  # an output length no forward convolution maps back to the input
    kw = {
        "filters": draw(st.integers(1, 3)),
        "kernel_size": kernel,
        "strides": strides,
        "padding": padding,
        "output_padding": output_padding,
        "dilation_rate": dilation,
        **activation_kw(draw),
    }
    x = values(draw, (draw(st.integers(1, 2)), *sizes, draw(st.integers(1, 3))))
    return rank, kw, x, draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=conv_transpose_cases())
def test_conv_transpose(backend, case):
    """Conv1DTranspose/Conv2DTranspose; torch: the full (padding 0) transposed convolution,
    then TF's crop: ``[pb : pb + out]``, pb = ⌊max(full − out, 0)/2⌋ for 'same', 0 for 'valid'
    (zeros appended when Keras's length exceeds the full one)."""
    rank, kw, x, seed = case
    name = f"Conv{rank}DTranspose"

    def run(xs, ws):
        import torch.nn.functional as F

        xc = xs[0].movedim(-1, 1)
        n = xs[0].shape[1:-1]
        op = kw["output_padding"]
        outs, crops, extra = [], [], []
        for i in range(rank):
            k, s, d = kw["kernel_size"][i], kw["strides"][i], kw["dilation_rate"][i]
            out = transpose_length(n[i], k, s, d, kw["padding"], None if op is None else op[i])
            full = (n[i] - 1) * s + (k - 1) * d + 1
            extra.append(max(out - full, 0))
            pb = max(full - out, 0) // 2 if kw["padding"] == "same" else 0
            outs.append(out)
            crops.append(pb)
        w = (
            ws[0].permute(rank + 1, rank, *range(rank)).contiguous()
        )  # (k.., out, in) -> (in, out, k..)
        conv_t = getattr(F, f"conv_transpose{rank}d")
        y = conv_t(xc, w, None, kw["strides"], 0, tuple(extra), 1, kw["dilation_rate"])
        for i in range(rank):
            y = y.narrow(2 + i, crops[i], outs[i])
        if kw["use_bias"]:
            y = y + ws[1].reshape(-1, *([1] * rank))
        return torch_act(kw["activation"])(y.movedim(1, -1))

    # TF's CPU kernels refuse a dilated transposed convolution: torch is the oracle there
    dilated = max(kw["dilation_rate"]) > 1
    make_keras = None if dilated else (lambda: getattr(keras_layers(), name)(**kw))
    check(f"{name}{kw}", backend, lambda: getattr(L, name)(**kw), make_keras, [x], seed, run,
          activation=kw["activation"])  # fmt: skip


@st.composite
def depthwise_cases(draw, separable: bool, unequal_strides: bool = False):
    padding = draw(st.sampled_from(["valid", "same"]))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    if unequal_strides:
        dilation = (1, 1)
        first = draw(st.integers(1, 3))
        strides = (first, draw(st.integers(1, 3).filter(lambda v: v != first)))
    else:
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        # TF's depthwise kernel takes equal row/column strides only (test_*_unequal_strides)
        strides = (1, 1) if max(dilation) > 1 else (draw(st.integers(1, 3)),) * 2
    sizes = tuple(
        (k - 1) * d + 1 + draw(st.integers(0, 3)) if padding == "valid" else draw(st.integers(1, 6))
        for k, d in zip(kernel, dilation, strict=True)
    )
    kw = {
        "kernel_size": kernel,
        "strides": strides,
        "padding": padding,
        "depth_multiplier": draw(st.integers(1, 2)),
        "dilation_rate": dilation,
        **activation_kw(draw),
    }
    if separable:
        kw["filters"] = draw(st.integers(1, 3))
    x = values(draw, (draw(st.integers(1, 2)), *sizes, draw(st.integers(1, 3))))
    return kw, x, draw(SEEDS)


def _torch_depthwise(xc, w, kw):
    """NCHW depthwise convolution (groups = channels) with TF-'same' padding."""
    import torch.nn.functional as F

    kh, kw_, cin, mult = w.shape
    if kw["padding"] == "same":
        pads = [same_pads(xc.shape[2 + i], kw["kernel_size"][i], kw["strides"][i],
                          kw["dilation_rate"][i]) for i in range(2)]  # fmt: skip
        xc = torch_pad(xc, pads)
    wt = w.reshape(kh, kw_, cin * mult).permute(2, 0, 1)[:, None].contiguous()
    return F.conv2d(xc, wt, None, kw["strides"], 0, kw["dilation_rate"], cin)


def _depthwise_run(kw):
    def run(xs, ws):
        y = _torch_depthwise(xs[0].movedim(-1, 1), ws[0], kw).movedim(1, -1)
        return torch_act(kw["activation"])(y + ws[1] if kw["use_bias"] else y)

    return run


def _separable_run(kw):
    """Depthwise (strides, padding, dilation) then a 1×1 pointwise convolution, then bias."""

    def run(xs, ws):
        import torch.nn.functional as F

        y = _torch_depthwise(xs[0].movedim(-1, 1), ws[0], kw)
        y = F.conv2d(y, ws[1].permute(3, 2, 0, 1).contiguous(), ws[2] if kw["use_bias"] else None)
        return torch_act(kw["activation"])(y.movedim(1, -1))

    return run


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=depthwise_cases(separable=False))
def test_depthwise_conv2d(backend, case):
    kw, x, seed = case
    check(f"DepthwiseConv2D{kw}", backend, lambda: L.DepthwiseConv2D(**kw),
          lambda: keras_layers().DepthwiseConv2D(**kw), [x], seed, _depthwise_run(kw),
          activation=kw["activation"])  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=depthwise_cases(separable=True))
def test_separable_conv2d(backend, case):
    kw, x, seed = case
    check(f"SeparableConv2D{kw}", backend, lambda: L.SeparableConv2D(**kw),
          lambda: keras_layers().SeparableConv2D(**kw), [x], seed, _separable_run(kw),
          activation=kw["activation"])  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=depthwise_cases(separable=False, unequal_strides=True))
def test_depthwise_conv2d_unequal_strides(backend, case):
    """Unequal strides: torch is the oracle (TF's kernel refuses them, Keras's included); the
    TensorFlow engine computes them as a sliced stride-1 convolution (see also
    test_unequal_strides_on_tensorflow_engine)."""
    kw, x, seed = case
    check(f"DepthwiseConv2D{kw}", backend, lambda: L.DepthwiseConv2D(**kw), None, [x], seed,
          _depthwise_run(kw), activation=kw["activation"])  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=depthwise_cases(separable=True, unequal_strides=True))
def test_separable_conv2d_unequal_strides(backend, case):
    kw, x, seed = case
    check(f"SeparableConv2D{kw}", backend, lambda: L.SeparableConv2D(**kw), None, [x], seed,
          _separable_run(kw), activation=kw["activation"])  # fmt: skip


@pytest.mark.parametrize("layer", ["DepthwiseConv2D", "SeparableConv2D"])
def test_unequal_strides_on_tensorflow_engine(layer):
    """Was a parity bug: tf.nn.depthwise_conv2d's CPU kernel refuses unequal row/column
    strides (a raw InvalidArgumentError); the TensorFlow engine now runs the stride-1
    convolution of the SAME-padded input, sliced, and matches torch."""
    kw = {"kernel_size": (2, 2), "strides": (1, 2), "padding": "valid", "depth_multiplier": 1,
          "dilation_rate": (1, 1), "activation": None, "use_bias": True}  # fmt: skip
    if layer == "SeparableConv2D":
        kw["filters"] = 2
    run = _depthwise_run(kw) if layer == "DepthwiseConv2D" else _separable_run(kw)
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 2))
    check(f"{layer}{kw}", "tensorflow", lambda: getattr(L, layer)(**kw), None, [x], 0, run)


# ---- pooling ----------------------------------------------------------------------------------


@st.composite
def pool_cases(draw):
    rank = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Max", "Average"]))
    padding = draw(st.sampled_from(["valid", "same"]))
    pool = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(rank))
    nmax = 7 if rank < 3 else 5
    sizes = tuple(p + draw(st.integers(0, 3)) if padding == "valid" else draw(st.integers(1, nmax))
                  for p in pool)  # fmt: skip
    shape = (draw(st.integers(1, 2)), *sizes, draw(st.integers(1, 2)))
    x = distinct(draw, shape) if kind == "Max" else values(draw, shape)
    kw = {"pool_size": pool, "strides": strides, "padding": padding}
    return rank, kind, kw, x


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases())
def test_pooling(backend, case):
    """Max/AveragePooling1D/2D/3D. torch: max pooling of the −inf-padded input; average
    pooling 'same' divides by the count of valid entries: avg(zero-padded x) / avg(padded 1)."""
    rank, kind, kw, x = case
    name = f"{kind}Pooling{rank}D"

    def run(xs, ws):
        import torch
        import torch.nn.functional as F

        xc = xs[0].movedim(-1, 1)
        strides = kw["strides"] or kw["pool_size"]
        pads = [(0, 0)] * rank
        if kw["padding"] == "same":
            pads = [same_pads(xc.shape[2 + i], kw["pool_size"][i], strides[i], 1)
                    for i in range(rank)]  # fmt: skip
        if kind == "Max":
            y = getattr(F, f"max_pool{rank}d")(
                torch_pad(xc, pads, -np.inf), kw["pool_size"], strides
            )
        else:
            avg = getattr(F, f"avg_pool{rank}d")
            y = avg(torch_pad(xc, pads), kw["pool_size"], strides)
            y = y / avg(torch_pad(torch.ones_like(xc), pads), kw["pool_size"], strides)
        return y.movedim(1, -1)

    # TF has no float64 MaxPool3D/AvgPool3D kernel: Keras checks 3D pooling in float32. And
    # TF's float32 MaxPool3DGrad sends the gradient to every entry near the maximum (measured:
    # window [8e-5, 1e-4, 9e-5] routes it to 1e-4 and 9e-5): Keras judges MaxPooling3D's
    # outputs only, torch (float64) its gradients.
    kdtype = "float32" if rank == 3 else "float64"
    check(f"{name}{kw}", backend, lambda: getattr(L, name)(**kw),
          lambda: getattr(keras_layers(), name)(**kw), [x], 0, run, keras_dtype=kdtype,
          keras_grads=name != "MaxPooling3D")  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_average_pooling3d_smaller_than_the_pool(backend):
    kw = {"pool_size": (1, 1, 3), "strides": None, "padding": "same"}
    x = np.array([0.5, -2.0]).reshape(1, 1, 1, 1, 2)

    def run(xs, ws):
        import torch
        import torch.nn.functional as F

        xc, pads = xs[0].movedim(-1, 1), [(0, 0), (0, 0), (1, 1)]
        y = F.avg_pool3d(torch_pad(xc, pads), (1, 1, 3), (1, 1, 3))
        y = y / F.avg_pool3d(torch_pad(torch.ones_like(xc), pads), (1, 1, 3), (1, 1, 3))
        return y.movedim(1, -1)

    check("AveragePooling3D smaller than the pool", backend, lambda: L.AveragePooling3D(**kw),
          lambda: keras_layers().AveragePooling3D(**kw), [x], 0, run,
          keras_dtype="float32")  # fmt: skip


@st.composite
def global_pool_cases(draw):
    rank = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Max", "Average"]))
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    shape = (draw(st.integers(1, 2)), *sizes, draw(st.integers(1, 3)))
    x = distinct(draw, shape) if kind == "Max" else values(draw, shape)
    return rank, kind, draw(st.booleans()), x


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=global_pool_cases())
def test_global_pooling(backend, case):
    rank, kind, keepdims, x = case
    name = f"Global{kind}Pooling{rank}D"

    def run(xs, ws):
        dims = tuple(range(1, rank + 1))
        if kind == "Max":
            return xs[0].amax(dim=dims, keepdim=keepdims)
        return xs[0].mean(dim=dims, keepdim=keepdims)

    check(f"{name}(keepdims={keepdims})", backend, lambda: getattr(L, name)(keepdims=keepdims),
          lambda: getattr(keras_layers(), name)(keepdims=keepdims), [x], 0, run)  # fmt: skip


# ---- normalization ----------------------------------------------------------------------------


@st.composite
def batch_norm_cases(draw):
    rank = draw(st.sampled_from([2, 4]))
    shape = (draw(st.integers(1, 3)),) + tuple(draw(st.integers(1, 3)) for _ in range(rank - 1))
    kw = {
        "axis": draw(st.sampled_from([-1, 1] if rank == 4 else [-1])),
        "momentum": draw(st.sampled_from([0.0, 0.5, 0.9, 0.99])),
        "epsilon": draw(st.sampled_from([1e-3, 1e-5, 0.5])),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
    }
    unbiased, training = draw(st.booleans()), draw(st.booleans())
    return kw, unbiased, training, values(draw, shape), draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=batch_norm_cases())
def test_batch_normalization(backend, case):
    """Training (batch moments, biased; the moving statistics updated once) and inference
    (moving statistics). Keras checks the moving statistics with its biased variance; torch
    (momentum 1 − m, unbiased running variance) checks them with unbiased_moving_variance."""
    kw, unbiased, training, x, seed = case
    axis = kw["axis"] % x.ndim
    # batch statistics of one value per channel (test_batch_norm_of_one_value): F.batch_norm
    # refuses them, so Keras alone is the oracle there
    one_value = training and x.size == x.shape[axis]

    def run(xs, ws):
        import torch.nn.functional as F

        it = iter(ws)
        gamma = next(it) if kw["scale"] else None
        beta = next(it) if kw["center"] else None
        mean, var = next(it), next(it)
        y = F.batch_norm(xs[0].movedim(axis, 1), mean, var, gamma, beta, training,
                         1.0 - kw["momentum"], kw["epsilon"])  # fmt: skip
        return y.movedim(1, axis)

    check(f"BatchNormalization{kw} unbiased={unbiased} training={training}", backend,
          lambda: L.BatchNormalization(**kw, unbiased_moving_variance=unbiased),
          lambda: keras_layers().BatchNormalization(**kw), [x], seed,
          None if one_value else run, training=training, keras_state=not unbiased,
          torch_state=unbiased, out_scale=norm_scale(x, kw["epsilon"]))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_norm_of_one_value(backend):
    kw = {"axis": -1, "momentum": 0.9, "epsilon": 1e-3, "center": True, "scale": True}
    x = np.array([[0.5, -2.0, 3.0]])
    check("BatchNormalization one value per channel", backend,
          lambda: L.BatchNormalization(**kw), lambda: keras_layers().BatchNormalization(**kw),
          [x], 0, training=True, keras_state=True)  # fmt: skip


@st.composite
def layer_norm_cases(draw):
    rank = draw(st.integers(2, 4))
    shape = (draw(st.integers(1, 3)),) + tuple(draw(st.integers(1, 4)) for _ in range(rank - 1))
    axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    kw = {
        "axis": sorted(axes) if len(axes) > 1 or draw(st.booleans()) else axes[0] - rank,
        "epsilon": draw(st.sampled_from([1e-3, 1e-6, 0.5])),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
    }
    return kw, values(draw, shape), draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=layer_norm_cases())
def test_layer_normalization(backend, case):
    """Over any sorted set of axes; torch: ``F.layer_norm`` with those axes moved last."""
    kw, x, seed = case
    axes = [kw["axis"] % x.ndim] if isinstance(kw["axis"], int) else kw["axis"]
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = rest + axes
    inverse = list(np.argsort(perm))

    def run(xs, ws):
        import torch.nn.functional as F

        it = iter(ws)
        gamma = next(it) if kw["scale"] else None
        beta = next(it) if kw["center"] else None
        shape = tuple(x.shape[a] for a in axes)
        y = F.layer_norm(xs[0].permute(*perm), shape, gamma, beta, kw["epsilon"])
        return y.permute(*inverse)

    check(f"LayerNormalization{kw}", backend, lambda: L.LayerNormalization(**kw),
          lambda: keras_layers().LayerNormalization(**kw), [x], seed, run,
          out_scale=norm_scale(x, kw["epsilon"]))  # fmt: skip


@st.composite
def group_norm_cases(draw):
    rank = draw(st.sampled_from([3, 4]))
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 2))
    shape = (draw(st.integers(1, 3)),) + tuple(draw(st.integers(1, 3)) for _ in range(rank - 2))
    kw = {
        "groups": groups,
        "epsilon": draw(st.sampled_from([1e-3, 1e-5, 0.5])),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
    }
    return kw, values(draw, (*shape, channels)), draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=group_norm_cases())
def test_group_normalization(backend, case):
    kw, x, seed = case

    def run(xs, ws):
        import torch
        import torch.nn.functional as F

        it = iter(ws)
        c = x.shape[-1]
        # constant 1 and 0 for an absent gamma/beta (torch 2.13's group_norm backward fails
        # with a bias but no weight)
        gamma = next(it) if kw["scale"] else torch.ones(c, dtype=torch.float64)
        beta = next(it) if kw["center"] else torch.zeros(c, dtype=torch.float64)
        y = F.group_norm(xs[0].movedim(-1, 1), kw["groups"], gamma, beta, kw["epsilon"])
        return y.movedim(1, -1)

    # a batch of one whose groups hold one value each (test_group_of_one_value): F.group_norm
    # refuses it, so Keras alone is the oracle there
    one_value = x.size == kw["groups"]
    check(f"GroupNormalization{kw}", backend, lambda: L.GroupNormalization(**kw),
          lambda: keras_layers().GroupNormalization(**kw), [x], seed, None if one_value else run,
          out_scale=norm_scale(x, kw["epsilon"]))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_group_of_one_value(backend):
    kw = {"groups": 2, "epsilon": 1e-3, "center": True, "scale": True}
    x = np.array([[[0.5, -2.0]]])
    check("GroupNormalization one value per group", backend,
          lambda: L.GroupNormalization(**kw), lambda: keras_layers().GroupNormalization(**kw),
          [x], 0)  # fmt: skip


@st.composite
def unit_norm_cases(draw):
    rank = draw(st.integers(2, 4))
    shape = (draw(st.integers(1, 3)),) + tuple(draw(st.integers(1, 4)) for _ in range(rank - 1))
    axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    axis = sorted(axes) if len(axes) > 1 else axes[0]
    x = values(draw, shape)
    # an all-zero vector is test_unit_normalization_of_zero's case: its entries become 0.5
    x = np.where(np.all(x == 0, axis=tuple(axes), keepdims=True), 0.5, x)
    return axis, x


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=unit_norm_cases())
def test_unit_normalization(backend, case):
    """x·rsqrt(max(Σx², 1e-12)). torch's ``F.normalize`` divides by max(‖x‖, 1e-12): the same
    function where ‖x‖ ≥ 1e-6, so it is the oracle for one axis and such norms (below, Keras's
    floor gives 1e6·x and torch's 1e12·x: a different definition, not checked against torch)."""
    axis, x = case
    norms = np.sqrt(np.sum(x * x, axis=axis if isinstance(axis, int) else tuple(axis)))

    def run(xs, ws):
        import torch.nn.functional as F

        return F.normalize(xs[0], dim=axis)

    torch_ok = isinstance(axis, int) and bool(np.all(norms >= 1e-6))
    # the Jacobian of x/‖x‖ has entries of 1/‖x‖ that cancel along x: the rounding residue of
    # a gradient follows 1/‖x‖ (times the cotangent, drawn N(0, 1))
    gscale = 4.0 / float(np.min(norms))
    check(f"UnitNormalization(axis={axis})", backend, lambda: L.UnitNormalization(axis=axis),
          lambda: keras_layers().UnitNormalization(axis=axis), [x], 0,
          run if torch_ok else None, grad_scale=gscale)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_unit_normalization_of_zero(backend):
    x = np.array([[0.0, 0.0, 0.0], [0.3, -0.4, 1.2]])
    check("UnitNormalization of a zero vector", backend, lambda: L.UnitNormalization(),
          lambda: keras_layers().UnitNormalization(), [x], 0)  # fmt: skip


# ---- Embedding --------------------------------------------------------------------------------


@st.composite
def embedding_cases(draw):
    vocab = draw(st.integers(1, 8))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)))
    ids = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, vocab - 1)))
    return vocab, draw(st.integers(1, 4)), ids, draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=embedding_cases())
def test_embedding(backend, case):
    """Rows of the table; the gradient w.r.t. the table sums the cotangents of repeated ids."""
    vocab, dim, ids, seed = case

    def run(xs, ws):
        import torch.nn.functional as F

        return F.embedding(xs[0], ws[0])

    check(f"Embedding({vocab}, {dim})", backend, lambda: L.Embedding(vocab, dim),
          lambda: keras_layers().Embedding(vocab, dim), [ids], seed, run)  # fmt: skip


# ---- recurrent --------------------------------------------------------------------------------


@st.composite
def rnn_cases(draw):
    kind = draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"]))
    merge = draw(st.sampled_from([None, "concat", "sum", "mul", "ave"]))
    kw = {
        "units": draw(st.integers(1, 4)),
        "return_sequences": draw(st.booleans()),
        # Keras's Bidirectional refuses a forward layer with go_backwards=True
        "go_backwards": False if merge else draw(st.booleans()),
        "use_bias": draw(st.booleans()),
    }
    if kind == "SimpleRNN":
        kw["activation"] = draw(st.sampled_from(["tanh", "relu", "sigmoid"]))
    else:
        kw["activation"] = draw(st.sampled_from(["tanh", "tanh", "relu"]))
        kw["recurrent_activation"] = draw(st.sampled_from(["sigmoid", "sigmoid", "hard_sigmoid"]))
    if kind == "GRU":
        kw["reset_after"] = draw(st.booleans())
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 3)))
    scale = draw(st.sampled_from([1.0, 1e-2, 1e2]))  # 1e3 saturates every gate at once
    return kind, kw, merge, values(draw, shape, scale), draw(SEEDS)


def _torch_rnn(kind: str, kw: dict, x, ws: list, backwards: bool):
    """One direction through ``torch.nn.RNN/LSTM/GRU`` (``torch.func.functional_call`` with
    the canonical weights mapped: W_ih = kernelᵀ, W_hh = recurrent_kernelᵀ; LSTM and SimpleRNN
    b_hh = 0; GRU blocks z|r|h → r|z|n and bias rows → (b_ih, b_hh))."""
    import torch
    from torch import nn
    from torch.func import functional_call

    units, feat = kw["units"], x.shape[-1]
    cls = {"SimpleRNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
    extra = {"nonlinearity": kw["activation"]} if kind == "SimpleRNN" else {}
    mod = cls(feat, units, bias=kw["use_bias"], batch_first=True, dtype=torch.float64, **extra)

    def gates(m):  # GRU: Keras z|r|h -> torch r|z|n along the last axis
        if kind != "GRU":
            return m
        return torch.cat([m[..., units : 2 * units], m[..., :units], m[..., 2 * units :]], -1)

    params = {"weight_ih_l0": gates(ws[0]).T, "weight_hh_l0": gates(ws[1]).T}
    if kw["use_bias"]:
        if kind == "GRU":
            params["bias_ih_l0"], params["bias_hh_l0"] = gates(ws[2][0]), gates(ws[2][1])
        else:
            params["bias_ih_l0"] = ws[2]
            params["bias_hh_l0"] = torch.zeros_like(ws[2])
    seq, _ = functional_call(mod, params, (x.flip(1) if backwards else x,))
    return seq if kw["return_sequences"] else seq[:, -1]


def torch_has_rnn(kind: str, kw: dict) -> bool:
    """torch.nn has the cell: tanh/sigmoid gates (SimpleRNN tanh or relu), GRU reset_after."""
    if kind == "SimpleRNN":
        return kw["activation"] in ("tanh", "relu")
    ok = kw["activation"] == "tanh" and kw["recurrent_activation"] == "sigmoid"
    return ok and (kind != "GRU" or kw["reset_after"])


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=rnn_cases())
def test_recurrent(backend, case):
    """SimpleRNN/LSTM/GRU, return_sequences, go_backwards (Keras returns the reversed-time
    sequence as produced), and Bidirectional (the backward copy runs with go_backwards
    flipped; its sequence is reversed back before merging)."""
    kind, kw, merge, x, seed = case
    n = 3 if kw["use_bias"] else 2  # weights per direction

    def run(xs, ws):
        import torch

        if merge is None:
            return _torch_rnn(kind, kw, xs[0], ws, kw["go_backwards"])
        fwd = _torch_rnn(kind, kw, xs[0], ws[:n], kw["go_backwards"])
        bwd = _torch_rnn(kind, kw, xs[0], ws[n:], not kw["go_backwards"])
        if kw["return_sequences"]:
            bwd = bwd.flip(1)
        if merge == "concat":
            return torch.cat([fwd, bwd], -1)
        return {"sum": fwd + bwd, "mul": fwd * bwd, "ave": (fwd + bwd) / 2}[merge]

    def make():
        inner = getattr(L, kind)(**kw)
        return inner if merge is None else L.Bidirectional(inner, merge_mode=merge)

    def make_keras():
        inner = getattr(keras_layers(), kind)(**kw)
        return inner if merge is None else keras_layers().Bidirectional(inner, merge_mode=merge)

    # out_scale 1: a saturated gate's complement 1 − z (|x| = 1e2) is a cancellation of
    # magnitude 1, so an output of 1e-8 carries an absolute rounding error of 1e-16·1
    check(f"{kind}{kw} merge={merge}", backend, make, make_keras, [x], seed,
          run if torch_has_rnn(kind, kw) else None, out_scale=1.0)  # fmt: skip


# ---- attention --------------------------------------------------------------------------------


def att_values(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Attention inputs at magnitudes 1e-2 and 1: at 1e3 the logits reach 1e5 and a gradient
    is a cancellation of 1e8-size terms in the softmax Jacobian (measured: exactly 0 in Keras
    and both engines, 1.6e-8 in torch), beyond any fixed relative bound."""
    return values(draw, shape, draw(st.sampled_from([1.0, 1e-2])))


@st.composite
def mha_cases(draw):
    heads = draw(st.integers(1, 3))
    key_dim = draw(st.integers(1, 4))
    torch_shaped = draw(st.booleans())  # the shapes torch.nn.MultiheadAttention can hold
    dq = heads * key_dim if torch_shaped else draw(st.integers(1, 4))
    kw = {
        "num_heads": heads,
        "key_dim": key_dim,
        "value_dim": None if torch_shaped else draw(st.sampled_from([None, 1, 2])),
        "output_shape": None if torch_shaped else draw(st.sampled_from([None, 3])),
        "use_bias": draw(st.booleans()),
    }
    causal = draw(st.booleans())
    b, tq, tv = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    q = att_values(draw, (b, tq, dq))
    v = att_values(draw, (b, tv, draw(st.integers(1, 3))))
    inputs = [q, v]
    if draw(st.booleans()):
        inputs.append(att_values(draw, (b, tv, draw(st.integers(1, 3)))))
    assume(mha_torch_ok(kw, inputs) or not keras_bias_bug(kw, inputs))  # one oracle at least
    return kw, causal, inputs, draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=mha_cases())
def test_multi_head_attention(backend, case):
    """Keras MultiHeadAttention (query, value[, key]); torch ``F.multi_head_attention_forward``
    with separate projections when E = heads·key_dim equals the query and output width:
    W_q = query_kernel.reshape(Dq, E)ᵀ (heads contiguous), W_o = output_kernel.reshape(E, E)ᵀ.
    The key bias has an identically zero gradient (softmax is shift-invariant per row): judged
    against the layer's largest gradient, as every gradient here."""
    kw, causal, inputs, seed = case
    torch_ok = mha_torch_ok(kw, inputs)

    def run(xs, ws):
        import torch
        import torch.nn.functional as F

        q, v = xs[0], xs[1]
        k = xs[2] if len(xs) > 2 else v
        e = kw["num_heads"] * kw["key_dim"]
        if kw["use_bias"]:
            qk, qb, kk, kb, vk, vb, ok, ob = ws
            in_bias = torch.cat([qb.reshape(e), kb.reshape(e), vb.reshape(e)])
        else:
            (qk, kk, vk, ok), in_bias, ob = ws, None, None
        mask = None
        if causal:
            tq, tv = q.shape[1], k.shape[1]
            mask = ~torch.ones(tq, tv, dtype=torch.bool).tril()
        y, _ = F.multi_head_attention_forward(
            q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), e, kw["num_heads"],
            None, in_bias, None, None, False, 0.0, ok.reshape(e, -1).T, ob,
            training=False, need_weights=False, attn_mask=mask, use_separate_proj_weight=True,
            q_proj_weight=qk.reshape(qk.shape[0], e).T, k_proj_weight=kk.reshape(kk.shape[0], e).T,
            v_proj_weight=vk.reshape(vk.shape[0], e).T,
        )  # fmt: skip
        return y.transpose(0, 1)

    def keras_call(layer, xs, **call):
        return layer(xs[0], xs[1], xs[2] if len(xs) > 2 else None, use_causal_mask=causal, **call)

    # Keras multiplies the query by ops.cast(1/√key_dim, float64) of a Python float, which it
    # converts through float32 first (measured: outputs 1e-9 and query gradients 1.7e-8 away
    # from float64 finite differences, where torch and both engines agree to 1e-16). Where
    # 1/√key_dim is exact in float32 (key_dim 1 or 4) Keras is judged by the float64 rows.
    rows = "float64" if kw["key_dim"] in (1, 4) else "float32"
    make_keras = (
        None if keras_bias_bug(kw, inputs) else lambda: keras_layers().MultiHeadAttention(**kw)
    )
    check(f"MultiHeadAttention{kw} causal={causal}", backend,
          lambda: L.MultiHeadAttention(**kw, use_causal_mask=causal), make_keras, inputs, seed,
          run if torch_ok else None, call=keras_call, keras_rows=rows)  # fmt: skip


def mha_torch_ok(kw: dict, inputs: list[np.ndarray]) -> bool:
    """torch.nn.MultiheadAttention holds the layer: E = heads·key_dim is the query width, the
    value width per head and the output width."""
    ok = kw["value_dim"] is None and kw["output_shape"] is None
    return ok and inputs[0].shape[-1] == kw["num_heads"] * kw["key_dim"]


def keras_bias_bug(kw: dict, inputs: list[np.ndarray]) -> bool:
    """Keras 3.15's TF ``ops.add`` treats a bias that squeezes to one axis as ``tf.nn.bias_add``
    over axis 1 when that axis has the bias's length: a projection bias of shape (heads, 1)
    (key_dim or value_dim 1, heads > 1) is then added along the sequence axis when the sequence
    length equals the number of heads, a wrong broadcast (measured: zeros((1, 2, 2, 1)) +
    [[1], [2]] gives [1, 1, 2, 2]). Keras is no oracle there; torch is, where it holds the
    layer."""
    if not kw["use_bias"] or kw["num_heads"] == 1:
        return False
    h = kw["num_heads"]
    value_dim = kw["value_dim"] or kw["key_dim"]
    tq, tv = inputs[0].shape[1], inputs[1].shape[1]
    return (kw["key_dim"] == 1 and h in (tq, tv)) or (value_dim == 1 and h == tv)


@st.composite
def attention_cases(draw):
    kw = {
        "use_scale": draw(st.booleans()),
        "score_mode": draw(st.sampled_from(["dot", "concat"])),
    }
    causal = draw(st.booleans())
    b, tq, tv, d = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                    draw(st.integers(1, 3)))  # fmt: skip
    inputs = [att_values(draw, (b, tq, d)), att_values(draw, (b, tv, draw(st.integers(1, 3))))]
    if draw(st.booleans()):
        inputs.append(att_values(draw, (b, tv, d)))
    elif inputs[1].shape[-1] != d:
        inputs[1] = att_values(draw, (b, tv, d))  # the value is the key: same width as the query
    return kw, causal, inputs, draw(SEEDS)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=attention_cases())
def test_attention(backend, case):
    """Luong (dot) and Bahdanau (concat) scores; torch ``F.scaled_dot_product_attention`` with
    scale 1 for dot scores without a learned scale."""
    kw, causal, inputs, seed = case

    def run(xs, ws):
        import torch.nn.functional as F

        k = xs[2] if len(xs) > 2 else xs[1]
        return F.scaled_dot_product_attention(xs[0], k, xs[1], is_causal=causal, scale=1.0)

    torch_ok = kw["score_mode"] == "dot" and not kw["use_scale"]

    def keras_call(layer, xs, **call):
        return layer(xs, use_causal_mask=causal, **call)

    check(f"Attention{kw} causal={causal}", backend,
          lambda: L.Attention(**kw, use_causal_mask=causal),
          lambda: keras_layers().Attention(**kw), inputs, seed, run if torch_ok else None,
          call=keras_call)  # fmt: skip


# ---- merging ----------------------------------------------------------------------------------


@st.composite
def merge_cases(draw):
    kind = draw(st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                                 "Concatenate", "Dot"]))  # fmt: skip
    b = draw(st.integers(1, 3))
    n = 2 if kind in ("Subtract", "Dot") else draw(st.integers(2, 3))
    kw: dict = {}
    if kind == "Concatenate":
        rank = draw(st.integers(2, 4))
        base = [draw(st.integers(1, 3)) for _ in range(rank - 1)]
        axis = draw(st.integers(1, rank - 1))
        kw["axis"] = axis if draw(st.booleans()) else axis - rank
        shapes = []
        for _ in range(n):
            s = list(base)
            s[axis - 1] = draw(st.integers(1, 3))
            shapes.append((b, *s))
        return kind, kw, [values(draw, s) for s in shapes]
    if kind == "Dot":
        kw["normalize"] = draw(st.booleans())
        if draw(st.booleans()):
            f = draw(st.integers(1, 4))
            kw["axes"] = draw(st.sampled_from([1, -1]))
            shapes = [(b, f), (b, f)]
        else:
            t1, t2, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
            if draw(st.booleans()):
                kw["axes"] = (2, 2)
                shapes = [(b, t1, f), (b, t2, f)]
            else:
                kw["axes"] = (1, 1)
                shapes = [(b, f, t1), (b, f, t2)]
        return kind, kw, [values(draw, s) for s in shapes]
    shape = (b,) + tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 2))))
    if kind in ("Maximum", "Minimum"):
        # distinct across the inputs too: draw them as one array, then split
        both = distinct(draw, (n, *shape))
        return kind, kw, [both[i] for i in range(n)]
    return kind, kw, [values(draw, shape) for _ in range(n)]


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=merge_cases())
def test_merging(backend, case):
    """Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot (normalize: l2
    over the contracted axis) vs Keras (torch has no merge layers)."""
    kind, kw, inputs = case
    check(f"{kind}{kw}", backend, lambda: getattr(L, kind)(**kw),
          lambda: getattr(keras_layers(), kind)(**kw), inputs, 0)  # fmt: skip


# ---- reshaping --------------------------------------------------------------------------------


@st.composite
def reshape_cases(draw):
    kind = draw(st.sampled_from(["Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D",
                                 "Cropping2D", "ZeroPadding1D", "ZeroPadding2D", "UpSampling1D",
                                 "UpSampling2D"]))  # fmt: skip
    b = draw(st.integers(1, 2))
    kw: dict = {}
    if kind in ("Flatten", "Reshape", "Permute"):
        dims = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 3))))
        if kind == "Reshape":
            target = list(reversed(dims)) if draw(st.booleans()) else [int(np.prod(dims))]
            if draw(st.booleans()):
                target[draw(st.integers(0, len(target) - 1))] = -1
            kw["target_shape"] = tuple(target)
        if kind == "Permute":
            kw["dims"] = tuple(int(i) + 1 for i in draw(st.permutations(range(len(dims)))))
        shape = (b, *dims)
    elif kind == "RepeatVector":
        kw["n"] = draw(st.integers(1, 3))
        shape = (b, draw(st.integers(1, 3)))
    elif kind.endswith("1D"):
        t, f = draw(st.integers(2, 6)), draw(st.integers(1, 2))
        if kind == "Cropping1D":
            first = draw(st.integers(0, t - 1))
            kw["cropping"] = (first, draw(st.integers(0, t - 1 - first)))
        elif kind == "ZeroPadding1D":
            kw["padding"] = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        else:
            kw["size"] = draw(st.integers(1, 3))
        shape = (b, t, f)
    else:
        h, w, c = draw(st.integers(2, 5)), draw(st.integers(2, 5)), draw(st.integers(1, 2))
        if kind == "Cropping2D":
            ch = draw(st.integers(0, h - 1))
            cw = draw(st.integers(0, w - 1))
            kw["cropping"] = ((ch, draw(st.integers(0, h - 1 - ch))),
                              (cw, draw(st.integers(0, w - 1 - cw))))  # fmt: skip
        elif kind == "ZeroPadding2D":
            kw["padding"] = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in "hw")
        else:
            kw["size"] = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            kw["interpolation"] = draw(st.sampled_from(["nearest", "bilinear"]))
        shape = (b, h, w, c)
    return kind, kw, values(draw, shape)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=reshape_cases())
def test_reshaping(backend, case):
    """The reshaping layers with a gradient (a permutation, copy, crop or pad of entries;
    UpSampling2D bilinear interpolates) vs Keras."""
    kind, kw, x = case
    # Keras resizes bilinearly with tf.image.resize, which computes in float32: judged by the
    # float32 rows (measured 1.6e-8 relative on a float64 gradient)
    rows = "float32" if kw.get("interpolation") == "bilinear" else None
    check(f"{kind}{kw}", backend, lambda: getattr(L, kind)(**kw),
          lambda: getattr(keras_layers(), kind)(**kw), [x], 0, keras_rows=rows)  # fmt: skip


# ---- recorded kink difference -----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_selu_gradient_at_zero(backend):
    """A Dense(selu) whose pre-activation is exactly 0 (zero input, no bias) vs Keras."""
    kw = {"units": 2, "activation": "selu", "use_bias": False}
    check("Dense(selu) at 0", backend, lambda: L.Dense(**kw), lambda: keras_layers().Dense(**kw),
          [np.zeros((2, 3))], 0)  # fmt: skip
