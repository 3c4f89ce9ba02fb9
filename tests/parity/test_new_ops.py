"""The ``dl.ops`` added for keras.io notebooks (linspace, slice, stop_gradient, cond, norm,
image.extract_patches, activations, shape ops): each against the numpy reference and across
backends (forward; gradients across backends and vs a float64 central difference, through
``test_ops``'s table checker), against real ``keras.ops`` (float32 forward and gradient), on
symbolic tensors, and their argument errors."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn import ops
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from . import _draw
from ._draw import DTYPES, SEEDS
from .test_ops import _DRAWN, _check, _drawn_inputs, distinct, pos, x

keras = importlib.import_module("keras")  # the oracle (in the test extra; never absent in CI)
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

U, B = [x], [x, x]


def far(rng, s):
    """Positive values away from 1, where a log's value is small next to the rounding of a
    float32 input."""
    return rng.uniform(2.0, 8.0, s)


_DRAWN["far"] = lambda draw, shape, dtype: _draw.between(draw, shape, 2.0, 8.0)


def _half(o, a):
    """Per-axis (start, size) of the second half of ``a`` (``ops.slice`` arguments)."""
    dims = [int(d) for d in o.shape(a)]
    return [d // 2 for d in dims], [d - d // 2 for d in dims]


def _square(o, a):
    return o.multiply(o.expand_dims(a, -1), o.expand_dims(a, -2))


# name, fn(ops, *inputs) (called with dl.ops, the numpy ops and keras.ops alike), input
# makers, differentiable, tolerance kind
ROWS = [
    ("elu", lambda o, a: o.elu(a, 0.7), U, True, "activation"),
    ("selu", lambda o, a: o.selu(a), U, True, "activation"),
    ("celu", lambda o, a: o.celu(a, 1.5), U, True, "activation"),
    ("softsign", lambda o, a: o.softsign(a), U, True, "activation"),
    ("hard_sigmoid", lambda o, a: o.hard_sigmoid(o.multiply(a, 3.0)), U, True, "activation"),
    ("hard_silu", lambda o, a: o.hard_silu(o.multiply(a, 3.0)), U, True, "activation"),
    ("hard_swish", lambda o, a: o.hard_swish(o.multiply(a, 3.0)), U, True, "activation"),
    ("log_sigmoid", lambda o, a: o.log_sigmoid(a), U, True, "activation"),
    ("swish", lambda o, a: o.swish(a), U, True, "activation"),
    ("tan", lambda o, a: o.tan(o.multiply(a, 0.5)), U, True, "activation"),
    ("log2", lambda o, a: o.log2(a), [far], True, "activation"),
    ("log10", lambda o, a: o.log10(a), [far], True, "activation"),
    ("isinf", lambda o, a: o.isinf(o.log(o.abs(o.round(a)))), U, False, "activation"),
    ("logaddexp", lambda o, a, b: o.logaddexp(a, b), B, True, "activation"),
    ("outer", lambda o, a, b: o.outer(a, b), B, True, "activation"),
    ("full_like", lambda o, a: o.multiply(a, o.full_like(a, 2.5)), U, True, "activation"),
    ("moveaxis", lambda o, a: o.moveaxis(o.expand_dims(a, 0), 0, -1), U, True, "activation"),
    ("tril", lambda o, a: o.tril(_square(o, a), 1), U, True, "activation"),
    ("triu", lambda o, a: o.triu(_square(o, a), -1), U, True, "activation"),
    ("cumprod", lambda o, a: o.cumprod(a, axis=-1), U, True, "layer"),
    ("cumprod_flat", lambda o, a: o.cumprod(a), U, True, "layer"),
    ("unstack", lambda o, a: o.unstack(a, axis=0)[-1], U, True, "activation"),
    ("absolute", lambda o, a: o.absolute(a), U, True, "activation"),
    ("amax", lambda o, a: o.amax(a, axis=-1), [distinct], True, "layer"),
    ("amin", lambda o, a: o.amin(a, axis=0), [distinct], True, "layer"),
    ("true_divide", lambda o, a, b: o.true_divide(a, b), [x, pos], True, "activation"),
    (
        "linspace",
        lambda o, a: o.add(a, o.linspace(-1.0, 2.0, int(o.shape(a)[-1]), dtype=o.dtype(a))),
        U,
        True,
        "activation",
    ),
    (
        "linspace_tensor_ends",
        lambda o, a: o.linspace(o.min(a), o.max(a), 5, endpoint=False),
        [distinct],
        True,
        "layer",
    ),
    (
        "linspace_array_axis",
        lambda o, a: o.linspace(a, o.add(a, 1.0), 3, axis=-1),
        U,
        True,
        "layer",
    ),
    ("slice", lambda o, a: o.slice(a, *_half(o, a)), U, True, "activation"),
    ("stop_gradient", lambda o, a: o.multiply(o.stop_gradient(a), 2.0), U, False, "activation"),
    ("norm", lambda o, a: o.norm(a), U, True, "layer"),
    ("norm_axis", lambda o, a: o.norm(a, axis=-1), U, True, "layer"),
    ("norm_l1", lambda o, a: o.norm(a, ord=1, axis=-1, keepdims=True), U, True, "layer"),
    ("norm_p3", lambda o, a: o.norm(a, ord=3, axis=0), U, True, "layer"),
    ("norm_inf", lambda o, a: o.norm(a, ord=math.inf, axis=-1), [distinct], True, "layer"),
    ("norm_neg_inf", lambda o, a: o.norm(a, ord=-math.inf, axis=0), [distinct], True, "layer"),
    ("norm_0", lambda o, a: o.norm(a, ord=0, axis=-1), U, False, "layer"),
]
IDS = [r[0] for r in ROWS]

# every op this file covers, for test_ops.test_every_op_is_in_the_table
COVERED = {r[0] for r in ROWS} | {
    "get_item",
    "cond",
    "extract_patches",
}


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), dtype=DTYPES)
def test_op(row, data, shape, dtype):
    """Drawn inputs: test_ops's makers drawn by hypothesis, with its kink rule."""
    name, fn, makers, grad, kind = row
    arrays = _drawn_inputs(data.draw, name, makers, shape, dtype)
    _check(name, fn, arrays, grad, kind, dtype, data.draw(SEEDS))


def _keras_run(fn, arrays, cot_seed, grad):
    import tensorflow as tf

    ts = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        out = fn(keras.ops, *ts)
        res = np.asarray(out)
        if not grad:
            return res, None
        cot = np.random.default_rng(cot_seed).standard_normal(res.shape).astype(res.dtype)
        s = tf.reduce_sum(out * tf.constant(cot))
    return res, [np.asarray(g) for g in tape.gradient(s, ts)]


def _ours_run(fn, arrays, backend, cot_seed, grad):
    from .test_ops import _run

    return _run(fn, arrays, backend, "float32", cot_seed, grad)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_op_matches_keras(row):
    name, fn, makers, grad, kind = row
    rng = np.random.default_rng(3)
    arrays = [m(rng, (3, 4)).astype("float32") for m in makers]
    want, kgrads = _keras_run(fn, arrays, 9, grad)
    for be in BACKENDS:
        got, grads = _ours_run(fn, arrays, be, 9, grad)
        if want.dtype.kind == "f":
            assert_close(f"{name} {be} vs keras.ops", got, want, "float32", kind)
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {be} vs keras.ops")
        if grad:
            for i, (a, b) in enumerate(zip(grads, kgrads, strict=True)):
                assert_close(f"{name} {be} d(input {i}) vs keras.ops", a, b, "float32", "gradient")


# ---- matrix norms and patches: fixed shapes ---------------------------------------------------
MATRIX_NORMS = [
    ("fro", {"ord": "fro"}),
    ("none_axes", {"axis": (1, 2)}),
    ("nuc", {"ord": "nuc", "axis": (-2, -1)}),
    ("two", {"ord": 2, "axis": (1, 2)}),
    ("minus_two", {"ord": -2, "axis": (2, 1)}),
    ("one", {"ord": 1, "axis": (1, 2), "keepdims": True}),
    ("minus_one", {"ord": -1, "axis": (2, 1)}),
    ("inf", {"ord": math.inf, "axis": (1, 2)}),
    ("minus_inf", {"ord": -math.inf, "axis": (1, 2), "keepdims": True}),
]


@pytest.mark.parametrize("name, kw", MATRIX_NORMS, ids=[m[0] for m in MATRIX_NORMS])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matrix_norm(name, kw, dtype):
    rng = np.random.default_rng(5)
    m = rng.standard_normal((2, 4, 3)) + np.eye(4, 3) * 2.0  # distinct singular values
    m[:, 0, 0] += 0.37  # and distinct row/column sums
    if kw.get("ord") == "fro":
        m = m[0]

    def fn(o, a):
        return o.norm(a, **kw)

    _check(f"norm_{name}", fn, [m], True, "layer", dtype, 5)
    want, kg = _keras_run(fn, [m.astype("float32")], 9, True)
    for be in BACKENDS:
        got, g = _ours_run(fn, [m.astype("float32")], be, 9, True)
        assert_close(f"norm {name} {be} vs keras.ops", got, want, "float32", "layer")
        assert_close(f"norm {name} {be} gradient vs keras.ops", g[0], kg[0], "float32", "gradient")


PATCHES = [
    ("valid", (2, 7, 7, 2), {"size": (3, 3)}),
    ("same_s2", (2, 7, 6, 3), {"size": (2, 3), "strides": 2, "padding": "same"}),
    ("dilated", (1, 8, 8, 1), {"size": 2, "strides": 1, "dilation_rate": 2}),
    ("unbatched", (6, 6, 2), {"size": 2}),
    ("volumes", (1, 4, 5, 4, 2), {"size": (2, 2, 2), "strides": (1, 2, 2)}),
]


@pytest.mark.parametrize("name, shape, kw", PATCHES, ids=[p[0] for p in PATCHES])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extract_patches(name, shape, kw, dtype):
    images = distinct(np.random.default_rng(6), shape)

    def fn(o, a):
        return o.image.extract_patches(a, **kw)

    _check(f"extract_patches_{name}", fn, [images], True, "layer", dtype, 6)
    want, kg = _keras_run(fn, [images.astype("float32")], 9, True)
    for be in BACKENDS:
        got, g = _ours_run(fn, [images.astype("float32")], be, 9, True)
        assert_close(f"extract_patches {name} {be} vs Keras", got, want, "float32", "layer")
        assert_close(
            f"extract_patches {name} {be} grad vs Keras", g[0], kg[0], "float32", "gradient"
        )


def test_extract_patches_order_is_row_column_channel():
    img = np.arange(4 * 4 * 2, dtype="float64").reshape(4, 4, 2)
    with ops.numpy_mode():
        p = ops.image.extract_patches(img, 2)
    assert p.shape == (2, 2, 8)
    np.testing.assert_array_equal(
        p[0, 1], np.concatenate([img[0, 2], img[0, 3], img[1, 2], img[1, 3]])
    )
    np.testing.assert_array_equal(p, keras.ops.image.extract_patches(img, 2))


# ---- stop_gradient and cond ---------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_gradient_blocks_the_gradient(backend):
    a = np.array([1.0, -2.0, 3.0])
    got, g = _ours_run(
        lambda o, t: o.add(o.multiply(o.stop_gradient(t), t), t), [a], backend, 0, True
    )
    np.testing.assert_allclose(got, a * a + a)
    cot = np.random.default_rng(0).standard_normal(3)
    # not 2a + 1; one float32 multiply-add per entry: the activation row
    assert_close("d(stop_gradient(t)·t + t)", g[0], cot.astype("float32") * (a + 1.0), "float32",
                 "activation")  # fmt: skip


class _Gate(dl.layers.Layer):
    """Uses ops.cond on a tensor: inside a traced TF step it must become tf.cond."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return ops.cond(ops.greater(ops.sum(x), 0.0), lambda: x * self.w, lambda: x * self.w * -2.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_in_a_custom_layer_picks_the_branch_and_trains(backend):
    pos_x = np.ones((2, 3), "float32")
    with dl.use_backend(backend):
        model = dl.Sequential([dl.Input((3,)), _Gate()])
        np.testing.assert_allclose(model.predict(pos_x, verbose=0), pos_x)
        np.testing.assert_allclose(model.predict(-pos_x, verbose=0), 2 * pos_x)
        model.compile(optimizer=dl.optimizers.SGD(0.5), loss="mse")
        model.fit(-pos_x, np.zeros((2, 3), "float32"), epochs=1, batch_size=2, verbose=0)
        # y = −2·w·x = 2w at x = −1; mse over 6 entries: dL/dw_j = Σ_rows (2y/6)·2 = 8/3
        # the weights after one float32 SGD step: the step row (lr 0.5)
        assert_close("w after one step", model.get_weights()[0], np.full(3, 1 - 0.5 * 8 / 3),
                     "float32", "step", lr=0.5)  # fmt: skip
    with ops.numpy_mode():
        assert ops.cond(np.array(False), lambda: 1, lambda: 2) == 2
    assert ops.cond(True, lambda: "t", lambda: "f") == "t"


def test_cond_on_symbolic_pred_explains_the_fix():
    inp = dl.Input((3,))
    with pytest.raises(ConfigError, match=r"cannot be recorded.*Received: a symbolic.*Fix"):
        ops.cond(ops.greater(ops.sum(inp), 0.0), lambda: inp, lambda: inp)
    # a Python bool picks the branch while the graph is built, as in Keras
    out = ops.cond(False, lambda: inp * 2.0, lambda: inp * 3.0)
    m = dl.Model(inp, out)
    np.testing.assert_allclose(m.predict(np.ones((1, 3), "float32"), verbose=0), [[3.0] * 3])


# ---- symbolic graphs and saving -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_new_ops_on_symbolic_tensors_match_keras_and_save(backend, tmp_path):
    imgs = distinct(np.random.default_rng(8), (2, 6, 6, 2)).astype("float32")

    def graph(lib, inp):
        o = lib.ops
        p = o.image.extract_patches(inp, 3)  # (B, 2, 2, 18)
        flat = o.reshape(p, (-1, 4, 18))
        n = o.norm(flat, axis=-1, keepdims=True)
        top = o.slice(flat, [0, 1, 0], [2, 3, 18])
        head = o.unstack(o.moveaxis(top, 1, 0), axis=0)[0]
        return o.stop_gradient(o.elu(flat / n, 0.5)), o.log_sigmoid(head)

    with dl.use_backend(backend):
        inp = dl.Input((6, 6, 2), batch_size=2)
        model = dl.Model(inp, list(graph(dl, inp)))
        got = model.predict(imgs, verbose=0)
        model.save(str(tmp_path / "ops.dlm"))
        again = dl.load_model(str(tmp_path / "ops.dlm")).predict(imgs, verbose=0)
    kin = keras.Input((6, 6, 2), batch_size=2)
    want = keras.Model(kin, list(graph(keras, kin))).predict(imgs, verbose=0)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert_close(
            f"{backend} symbolic output {i} vs Keras", a, np.asarray(b), "float32", "layer"
        )
    for a, b in zip(again, got, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- argument errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.linspace(0.0, 1.0, -1), r"num must be a non-negative integer.*num=-1.*Fix"),
        (lambda: ops.norm(np.ones((2, 2)), ord="fro", axis=0), r"ord.*vector norm.*'fro'.*Fix"),
        (lambda: ops.norm(np.ones((2, 2)), ord=3), r"matrix norm.*ord=3.*Expected"),
        (lambda: ops.norm(np.ones((2, 2, 2)), ord=1), r"axis=None and ord=1.*rank 3.*Fix"),
        (lambda: ops.norm(np.ones(3), axis=2), r"axis must be.*\[-1, 1\).*axis=2.*Fix"),
        (lambda: ops.norm(np.ones((2, 2)), axis=(0, 0)), r"two axes must differ"),
        (lambda: ops.image.extract_patches(np.ones((1, 4, 4, 1)), (2, 2, 2, 2)), r"size.*Fix"),
        (
            lambda: ops.image.extract_patches(np.ones((1, 4, 4, 1)), 2, strides=2, dilation_rate=2),
            r"dilation_rate > 1.*strides > 1.*Fix",
        ),
        (
            lambda: ops.image.extract_patches(
                np.ones((1, 4, 4, 1)), 2, data_format="channels_first"
            ),
            r"channels-last.*Fix",
        ),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.parametrize("backend", [*BACKENDS, "numpy"])
def test_slice_and_unstack_argument_errors(backend):
    ctx = ops.numpy_mode() if backend == "numpy" else dl.use_backend(backend)
    with ctx:
        with pytest.raises(ConfigError, match=r"unstack: num.*Expected: num=3.*num=2.*Fix"):
            ops.unstack(np.ones((3, 2)), num=2)
        with pytest.raises(ConfigError, match=r"one entry per axis.*rank 2.*Fix"):
            ops.slice(np.ones((3, 2)), [0], [1, 1])
        with pytest.raises(ConfigError, match=r"one entry per axis.*rank 2.*Fix"):
            ops.slice(np.ones((3, 2)), [0, 0], [1])
