"""Dense, Activation, Flatten and Dropout: forward and gradients vs numpy and across backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.testing import assert_close, check_layer

from ..conftest import BACKENDS
from . import _draw
from ._draw import DTYPES, SEEDS

ACTS = dl.activations.names()
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


# Activations whose engines disagree at a point (tests/parity/test_ops.py AT_POINT_DEFECTS,
# recorded there as strict xfails): the drawn pre-activations keep off these points.
AT_POINT_DEFECTS = {
    "relu6": (0.0, 6.0),
    "leaky_relu": (0.0,),
    "softplus": (0.0,),
    "celu": (0.0,),
    "selu": (0.0,),
}
# Kinks of the other activations (the reference's one-sided derivative, which every engine
# takes there: drawn exactly on them, kept; near them, moved off by the rule of _draw.py)
KINKS = (-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0)
# Natural-scale rule (the oracles'): an activation whose output is a cancellation for small
# inputs is judged by check_layer against the largest output, while its rounding follows the
# cancelled terms: tanh_shrink(x) = x − tanh(x) (a relative error eps/x², float64 included);
# ELU/SELU/CELU's negative branch, e^x − 1 on the TF engine (TF's kernels) and expm1 in the
# reference (eps·1 absolute). test_activation keeps one input at least this large in each such
# example (its output sets the scale the small entries' rounding is judged by); Dense, whose
# pre-activations are not drawn directly, does not draw these.
CANCELLING = {"tanh_shrink": 3.0, "elu": 1.0, "selu": 1.0, "celu": 1.0}
# Saturation: through tanh(10) the gradient is 1 − y² of a y within eps of 1. Dense inputs of
# magnitude 10 go to piecewise-linear activations only (the others: 1 and 1e-2).
PIECEWISE_LINEAR = {"linear", "relu", "relu6", "leaky_relu", "hard_tanh", "hard_shrink",
                    "soft_shrink", "sparse_sigmoid", "hard_sigmoid"}  # fmt: skip


@st.composite
def dense_cases(draw):
    activation = draw(st.sampled_from([a for a in ACTS if a not in CANCELLING]))
    rank3 = draw(st.booleans())
    batch, fan_in, units = draw(st.integers(1, 5)), draw(st.integers(1, 9)), draw(st.integers(1, 7))
    shape = (batch, draw(st.integers(1, 3)), fan_in) if rank3 else (batch, fan_in)
    dtype = draw(DTYPES)
    # magnitudes up to 10 (exponential(10^3·w) overflows), 10 for piecewise-linear activations
    scales = (1.0, 1e-2, 10.0) if activation in PIECEWISE_LINEAR else (1.0, 1e-2)
    x = _draw.values(draw, shape, scales, dtype=dtype)
    # an all-zero input row gives a pre-activation of exactly 0 without a bias: an activation
    # in AT_POINT_DEFECTS gets a random bias (never exactly 0), as the oracles' SELU rule
    if activation in AT_POINT_DEFECTS:
        use_bias, bias = True, "random_normal"
    else:
        use_bias, bias = draw(st.booleans()), draw(st.sampled_from(["zeros", "random_normal"]))
    return x, units, activation, use_bias, bias, dtype


@given(case=dense_cases(), seed=SEEDS)
def test_dense(case, seed):
    x, units, activation, use_bias, bias, dtype = case
    kind = "gelu" if activation == "gelu" and dtype == "float32" else "layer"
    check_layer(
        lambda: dl.layers.Dense(
            units, activation=activation, use_bias=use_bias, bias_initializer=bias
        ),
        x,
        dtype=dtype,
        kind=kind,
        seed=seed,
    )


@st.composite
def activation_cases(draw):
    activation = draw(st.sampled_from(ACTS))
    dtype = draw(DTYPES)
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)))
    # [-8, 8] (every kink inside, exp(8) finite in float32) or tiny
    x = _draw.values(draw, shape, (8.0, 1e-2), dtype=dtype)
    x = _draw.off_kinks(x, KINKS, 1e-3)
    if activation in CANCELLING:
        assume(float(np.max(np.abs(x))) >= CANCELLING[activation])
    points = AT_POINT_DEFECTS.get(activation, ())
    x = _draw.off_kinks(x, points, 1e-3) + sum((x == p) * 2e-3 for p in points)
    return activation, x, dtype


@given(case=activation_cases(), seed=SEEDS)
def test_activation(case, seed):
    activation, x, dtype = case
    kind = "gelu" if activation == "gelu" else "activation"
    check_layer(lambda: dl.layers.Activation(activation), x, dtype=dtype, kind=kind, seed=seed)


def test_flatten_keeps_channels_last_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    check_layer(lambda: dl.layers.Flatten(), x)


@given(
    rate=st.floats(0.05, 0.9),
    x=_draw.arrays(st.tuples(st.integers(1, 4), st.integers(1, 6))),
    seed=SEEDS,
)
def test_dropout_deterministic_masks_are_identical(rate, x, seed):
    layer = dl.layers.Dropout(rate)
    mask = layer.draw_noise(np.random.default_rng(seed), x.shape)
    assert set(np.unique(mask)) <= {0.0, 1.0 / (1.0 - rate)}
    check_layer(lambda: dl.layers.Dropout(rate), x, training=True, noise={0: mask})
    check_layer(lambda: dl.layers.Dropout(rate), x, training=False)


def test_dropout_fast_mode_statistics(backend):
    model = dl.Sequential([dl.layers.Input((20000,)), dl.layers.Dropout(0.3)])
    out = model._get_runtime().forward([np.ones((2, 20000), np.float32)], training=True)[0]
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.02
    # one float32 multiplication per kept entry: the activation row
    assert_close("kept entries × 1/(1 − rate)", out[kept], np.full(kept.sum(), 1 / 0.7),
                 "float32", "activation")  # fmt: skip
