"""BatchNormalization, LayerNormalization, GroupNormalization: forward and gradients vs numpy
and across backends, BatchNorm's moving statistics after training, construction errors, and
outputs of the same layer built in Keras 3 with copied weights."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import duallearn as dl
from duallearn import config
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import (
    assert_close,
    check_layer,
    max_errors,
    reference,
    set_keras_weights_and_compare,
)

from ..conftest import BACKENDS, both
from . import _draw
from ._draw import SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers
DTYPES = st.sampled_from(["float64", "float32"])


# Normalizing over 1 element gives y ≡ beta, dx ≡ 0; over 2, x̂ = ±1 and dx is O(ε/σ²), the
# difference of O(1) terms: its float32 relative error is unbounded (measured 6.6e-4 relative
# with n=2, ε=1e-5). Statistics are drawn over >= 3 elements.
MIN_COUNT = 3


def _x(draw, shape, dtype, stats_axes=None, epsilon=1.0):
    """Drawn inputs (tests/parity/_draw.py): magnitudes 1, 1e-2, 1e3, exact zeros and repeated
    values, batches of one where the statistics are not over the batch.

    Natural-scale rule: a group whose variance is below ε normalizes to (x − mean)/√ε, a
    rounding residue of |x| amplified by 1/√ε where the exact result is 0 (or tiny), while
    check_layer judges every output by the largest one: examples with a group of variance
    below ε over ``stats_axes`` (the statistics a training call computes) are rejected."""
    x = _draw.values(draw, shape, dtype=dtype)
    if stats_axes is not None:
        x32 = x.astype(dtype).astype(np.float64)
        assume(float(np.min(x32.var(axis=stats_axes))) >= epsilon)
    return x


def _shape(draw, rank: int) -> tuple[int, ...]:
    batch = draw(st.integers(1, 4))  # statistics over >= MIN_COUNT elements (assumed below)
    return (batch, *(draw(st.sampled_from([1, 2, 3, 5])) for _ in range(rank - 1)))


@st.composite
def bn_case(draw):
    rank = draw(st.integers(2, 4))
    shape = _shape(draw, rank)
    axis = draw(st.sampled_from([-1, *range(1, rank)]))
    assume(math.prod(shape) // shape[axis] >= MIN_COUNT)
    return shape, {
        "axis": axis,
        "momentum": draw(st.sampled_from([0.99, 0.9, 0.5])),
        "epsilon": draw(st.sampled_from([1e-3, 1e-5])),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
        "trainable": draw(st.booleans()),
        "gamma_initializer": "random_normal",
        "beta_initializer": "random_normal",
        "moving_mean_initializer": "random_normal",
        "moving_variance_initializer": dl.initializers.RandomUniform(0.5, 2.0),
        "unbiased_moving_variance": draw(st.booleans()),
    }


@given(case=bn_case(), training=st.booleans(), dtype=DTYPES, data=st.data(), seed=SEEDS)
def test_batch_normalization(case, training, dtype, data, seed):
    shape, kw = case
    axis = kw["axis"] % len(shape)
    stats = tuple(a for a in range(len(shape)) if a != axis) if training else None
    x = _x(data.draw, shape, dtype, stats, kw["epsilon"])
    check_layer(lambda: L.BatchNormalization(**kw), x, dtype=dtype, training=training, seed=seed)


@st.composite
def ln_case(draw):
    rank = draw(st.integers(2, 4))
    shape = _shape(draw, rank)
    axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    assume(math.prod(shape[a] for a in axes) >= MIN_COUNT)
    axis = axes[0] - rank if len(axes) == 1 and draw(st.booleans()) else axes
    return shape, {
        "axis": axis,
        "epsilon": draw(st.sampled_from([1e-3, 1e-5])),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
        "gamma_initializer": "random_normal",
        "beta_initializer": "random_normal",
    }


@given(case=ln_case(), training=st.booleans(), dtype=DTYPES, data=st.data(), seed=SEEDS)
def test_layer_normalization(case, training, dtype, data, seed):
    shape, kw = case
    axes = kw["axis"] if isinstance(kw["axis"], list) else [kw["axis"]]
    x = _x(data.draw, shape, dtype, tuple(a % len(shape) for a in axes), kw["epsilon"])
    check_layer(lambda: L.LayerNormalization(**kw), x, dtype=dtype, training=training, seed=seed)


@st.composite
def gn_case(draw):
    rank = draw(st.integers(3, 4))
    groups = draw(st.sampled_from([1, 2, 3, -1]))
    per = draw(st.integers(1, 3))
    channels = (groups if groups > 0 else draw(st.integers(1, 4))) * per
    shape = list(_shape(draw, rank))
    axis = draw(st.sampled_from([-1, 1]))
    shape[axis] = channels
    assume(math.prod(shape[1:]) // (channels if groups == -1 else groups) >= MIN_COUNT)
    return tuple(shape), {
        "groups": groups,
        "axis": axis,
        "epsilon": draw(st.sampled_from([1e-3, 1e-5])),
        "center": draw(st.booleans()),
        "scale": draw(st.booleans()),
        "gamma_initializer": "random_normal",
        "beta_initializer": "random_normal",
    }


@given(case=gn_case(), training=st.booleans(), dtype=DTYPES, data=st.data(), seed=SEEDS)
def test_group_normalization(case, training, dtype, data, seed):
    shape, kw = case
    x = _x(data.draw, shape, dtype)
    # statistics per (sample, group): channels moved last and split into groups
    g = kw["groups"] if kw["groups"] > 0 else shape[kw["axis"]]
    grouped = np.moveaxis(x.astype(dtype).astype(np.float64), kw["axis"], -1)
    grouped = grouped.reshape(*grouped.shape[:-1], g, -1)
    spatial = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
    # Natural-scale rule for float32, every drawn group kept: the engines compute
    # x·s − mean·s (s = γ/√(var + ε)), whose float32 rounding is eps·|x|·s where the result is
    # (x − mean)·s, so a group nearly constant next to its magnitude (hypothesis found
    # [937.5, 1000, 1000, 1000]: |x|/σ = 37, torch 1.6e-5 off on 0.577) is judged against
    # max|x|/√(var + ε) times the table's float32 term (up to 1e3/√1e-5 ≈ 3e5 for a constant
    # group, whose exact output is β). float64 checks are not scaled.
    gain = np.max(np.abs(grouped), axis=spatial) / np.sqrt(
        grouped.var(axis=spatial) + kw["epsilon"]
    )
    check_layer(
        lambda: L.GroupNormalization(**kw),
        x,
        dtype=dtype,
        training=training,
        seed=seed,
        float32_gain=max(1.0, float(np.max(gain))),
    )


# ---- BatchNorm moving statistics after fit ----------------------------------------------------


def _bn_model(backend, shape, seed, **kw):
    dl.set_random_seed(seed)
    return dl.Sequential(
        [
            L.Input(shape),
            L.BatchNormalization(momentum=0.8, moving_variance_initializer="ones", **kw),
            L.Flatten(),
            L.Dense(2),
        ],
        backend=backend,
    )


@both()
@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batchnorm_moving_statistics_after_fit(unbiased, dtype):
    """Five SGD steps: moving mean/variance (Keras momentum, biased or unbiased variance)
    agree across backends and with the numpy helper; gamma/beta/Dense agree with the numpy
    training oracle (batch statistics in training)."""
    config.set_floatx(dtype)
    rng = np.random.default_rng(7)
    batch, steps, shape = 6, 5, (3, 4)
    x = rng.normal(1.0, 2.0, (batch * steps, *shape))
    y = rng.standard_normal((batch * steps, 2))
    finals = {}
    for b in ("torch", "tensorflow"):
        model = _bn_model(b, shape, 3, unbiased_moving_variance=unbiased)
        init = model.get_weights()
        model.compile(optimizer=dl.optimizers.SGD(0.05), loss="mse")
        model.fit(x.astype(dtype), y.astype(dtype), batch_size=batch, shuffle=False, verbose=0)
        finals[b] = model.get_weights()
    bn = model.layers[0]
    w = [np.asarray(v, np.float64) for v in init[:4]]
    for i in range(steps):
        xb = x[i * batch : (i + 1) * batch]
        w[2], w[3] = bn.reference_moving_update(w, xb)
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    ref, _ = reference.train_steps(
        model, init, dl.optimizers.SGD(0.05), dl.losses.MeanSquaredError(), batches
    )
    ref[2], ref[3] = w[2], w[3]
    names = ["gamma", "beta", "moving_mean", "moving_variance", "kernel", "bias"]
    for i, name in enumerate(names):
        for b in ("torch", "tensorflow"):
            assert_close(
                f"{b} {name} after {steps} steps vs numpy", finals[b][i], ref[i], dtype, "params_10"
            )
        assert_close(
            f"tensorflow vs torch {name}",
            finals["tensorflow"][i],
            finals["torch"][i],
            dtype,
            "params_10",
        )
    # the moving statistics really moved, by Keras's rule
    assert not np.allclose(ref[2], 0.0)
    n = batch * shape[0]
    last = x[-batch:].reshape(-1, shape[1])
    if unbiased:  # the unbiased variance is larger than the biased one by n/(n-1)
        assert_close("unbiased variance", last.var(axis=0, ddof=1), last.var(axis=0) * n / (n - 1),
                     "float64", "activation")  # numpy on both sides  # fmt: skip


@both()
def test_batchnorm_not_trainable_uses_and_keeps_moving_statistics():
    """Keras: a non-trainable BatchNormalization normalizes with its moving statistics even in
    training, and fit leaves them unchanged."""
    config.set_floatx("float64")
    x = np.random.default_rng(1).normal(3.0, 2.0, (8, 3))
    for b in ("torch", "tensorflow"):
        dl.set_random_seed(0)
        bn = L.BatchNormalization(trainable=False, moving_mean_initializer="random_normal")
        model = dl.Sequential([L.Input((3,)), bn, L.Dense(1)], backend=b)
        before = model.get_weights()
        out = model._get_runtime().forward([x], training=True)[0]
        ref, _ = reference.forward(model, before, [x], training=True)
        assert_close(f"{b} frozen BN forward", out, ref[0], "float64", "forward")
        model.compile(optimizer=dl.optimizers.SGD(0.1), loss="mse")
        model.fit(x, np.zeros((8, 1)), batch_size=4, shuffle=False, verbose=0)
        after = model.get_weights()
        # Dense moved; gamma, beta, moving stats (all non-trainable) did not
        names = [w.name for w in model.weights]
        for name, a0, a1 in zip(names, before, after, strict=True):
            if name in ("gamma", "beta", "moving_mean", "moving_variance"):
                np.testing.assert_array_equal(a1, a0)


# ---- construction and shape errors (data table) ---------------------------------------------

CONFIG_ERRORS = [
    (lambda: L.BatchNormalization(momentum=1.5), ConfigError, "momentum must be in"),
    (lambda: L.BatchNormalization(epsilon=0), ConfigError, "epsilon must be > 0"),
    (lambda: L.BatchNormalization(axis="last"), ConfigError, "axis must be an integer"),
    (lambda: L.BatchNormalization(momentum="high"), ConfigError, "momentum must be a number"),
    (lambda: L.BatchNormalization(foo=1), ConfigError, "unexpected keyword arguments: foo"),
    (lambda: L.LayerNormalization(axis=[]), ConfigError, "axis must not be empty"),
    (lambda: L.LayerNormalization(epsilon=-1.0), ConfigError, "epsilon must be in"),
    (lambda: L.GroupNormalization(groups=0), ConfigError, "groups must be a positive integer"),
    (lambda: L.GroupNormalization(groups=2.5), ConfigError, "groups must be a positive integer"),
    (lambda: L.LayerNormalization(rms_scaling=True), ConfigError, "rms_scaling=True is not supp"),
    (lambda: L.BatchNormalization(renorm=True), ConfigError, "renorm=True is not supported"),
    (
        lambda: L.GroupNormalization(gamma_regularizer={"class_name": "L2", "config": {"l2": -1}}),
        ConfigError,
        "GroupNormalization: gamma_regularizer: L2: l2 must be",
    ),
]


@pytest.mark.parametrize(("make", "err", "msg"), CONFIG_ERRORS)
def test_config_errors(make, err, msg):
    with pytest.raises(err, match=msg):
        make()


SHAPE_ERRORS = [
    (lambda: L.BatchNormalization(axis=3), (4, 5), "axis 3 is out of bounds for input shape"),
    (lambda: L.BatchNormalization(axis=0), (4, 5), "cannot normalize over the batch axis"),
    (lambda: L.BatchNormalization(), (), "expects an input of rank >= 2"),
    (lambda: L.LayerNormalization(axis=[1, -2]), (4, 5), "names the same axis twice"),
    (lambda: L.GroupNormalization(groups=4), (3, 6), "cannot be split into groups=4"),
    (lambda: L.GroupNormalization(axis=1), (None, 3), "needs a known size on axis 1"),
]


@pytest.mark.parametrize(("make", "shape", "msg"), SHAPE_ERRORS)
def test_shape_errors(make, shape, msg):
    with pytest.raises((ShapeError, ConfigError), match=msg) as info:
        make()(L.Input(shape))
    assert "Normalization" in str(info.value)


def test_keras_arguments_at_their_defaults_are_accepted():
    L.BatchNormalization(beta_regularizer=None, synchronized=False, renorm=False)
    L.LayerNormalization(rms_scaling=False, gamma_constraint=None)
    L.GroupNormalization(beta_constraint=None)


def test_weights_layout_and_config_round_trip():
    bn = L.BatchNormalization(axis=1, center=False)
    dl.Sequential([L.Input((3, 4)), bn])
    assert [(w.name, w.shape, w.trainable) for w in bn.weights] == [
        ("gamma", (3,), True),
        ("moving_mean", (3,), False),
        ("moving_variance", (3,), False),
    ]
    assert [w.name for w in bn.trainable_weights] == ["gamma"]
    ln = L.LayerNormalization(axis=[2, 1])
    dl.Sequential([L.Input((3, 4, 5)), ln])
    assert [w.shape for w in ln.weights] == [(3, 4), (3, 4)]  # sorted axes, as Keras
    for layer in (bn, ln, L.GroupNormalization(groups=2, epsilon=1e-5)):
        cfg = layer.get_config()
        clone = type(layer).from_config(cfg)
        assert clone.get_config() == cfg


# ---- the same layers in Keras 3 -------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    return importlib.import_module("keras")


def _keras_random_weights(km, rng):
    km.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in km.get_weights()])


KERAS_CASES = [
    ("BatchNormalization", {"axis": -1}, (4, 5, 3)),
    ("BatchNormalization", {"axis": 1, "center": False, "epsilon": 1e-2}, (4, 5, 3)),
    ("LayerNormalization", {"axis": [1, 3]}, (4, 5, 3)),
    ("LayerNormalization", {"axis": -1, "scale": False}, (6, 3)),
    ("GroupNormalization", {"groups": 3}, (4, 5, 6)),
    ("GroupNormalization", {"groups": -1, "epsilon": 1e-5}, (7, 4)),
]


@pytest.mark.parametrize(("name", "kw", "shape"), KERAS_CASES)
def test_matches_keras_with_copied_weights(keras, name, kw, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 2.0, (5, *shape)).astype("float32")
    km = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kw)])
    _keras_random_weights(km, rng)
    for b in BACKENDS:
        model = dl.Sequential([L.Input(shape), getattr(L, name)(**kw)], backend=b)
        set_keras_weights_and_compare(model, km, x, "float32", "layer")


@both()
def test_batchnorm_moving_statistics_match_keras_fit(keras):
    """Keras's fit and ours give the same moving statistics after 3 steps (momentum 0.9)."""
    rng = np.random.default_rng(2)
    x = rng.normal(2.0, 3.0, (12, 4)).astype("float32")
    y = rng.standard_normal((12, 4)).astype("float32")
    km = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(momentum=0.9)])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    start = km.get_weights()
    km.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    for b in ("torch", "tensorflow"):
        model = dl.Sequential([L.Input((4,)), L.BatchNormalization(momentum=0.9)], backend=b)
        model.set_weights(start)
        model.compile(optimizer=dl.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
        for i, (a, k) in enumerate(zip(model.get_weights(), km.get_weights(), strict=True)):
            # float32 weights after 3 steps of the same training: the params_10 row
            assert_close(f"{b} weight {i} after fit vs Keras", a, k, "float32", "params_10")


# ---- masked batch moments (Keras: a mask from Embedding(mask_zero=True)) ------------------


def _masked_bn_model(backend, unbiased=False, flatten=False):
    dl.set_random_seed(5)
    return dl.Sequential(
        [
            L.Input((6,), dtype="int32"),
            L.Embedding(7, 3, mask_zero=True, embeddings_initializer="random_normal"),
            L.BatchNormalization(
                momentum=0.8,
                unbiased_moving_variance=unbiased,
                gamma_initializer="random_normal",
                beta_initializer="random_normal",
            ),
            *([L.Flatten()] if flatten else []),
        ],
        backend=backend,
    )


@both()
@pytest.mark.parametrize("unbiased", [False, True])
def test_batchnorm_masked_moments_match_numpy_and_across_backends(unbiased):
    config.set_floatx("float64")
    ids = np.array([[1, 2, 0, 0, 3, 4], [5, 0, 6, 6, 0, 1], [2, 3, 4, 0, 0, 0]], "int32")
    mask = ids != 0
    results = {}
    for b in ("torch", "tensorflow"):
        model = _masked_bn_model(b, unbiased)
        w = model.get_weights()
        runtime = model._get_runtime()
        out = runtime.forward([ids], training=True)[0]
        emb, bn = model.layers
        x = w[0][ids]
        ref = bn.reference_masked(w[1:], x, mask, training=True)
        assert_close(f"{b} masked BN forward vs numpy", out, ref, "float64", "forward")
        moving = model.get_weights()[3:]
        ref_moving = bn.reference_moving_update(w[1:], x, mask)
        for name, a, r in zip(("moving_mean", "moving_variance"), moving, ref_moving, strict=True):
            assert_close(f"{b} masked {name} vs numpy", a, r, "float64", "forward")
        # unmasked moments would differ: the mask really weights the statistics
        assert max_errors(moving[0], bn.reference_moving_update(w[1:], x)[0])[1] > 1e-3
        cot = np.random.default_rng(0).standard_normal(out.shape)
        results[b] = runtime.input_gradients([ids], [cot], training=True)[1]
    for i, (a, c) in enumerate(zip(results["torch"], results["tensorflow"], strict=True)):
        assert_close(f"masked BN d(weight {i}) tensorflow vs torch", c, a, "float64", "gradient")


@both()
@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_batchnorm_masked_fit_matches_keras(keras):
    """Embedding(mask_zero) -> BatchNormalization trained 3 SGD steps: every weight (table,
    gamma, beta, moving statistics) matches Keras on both backends. Flatten drops the mask
    before the loss (Keras would otherwise weight the loss by it)."""
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 7, (12, 6)).astype("int32")
    ids[:, 4:] = 0
    y = rng.standard_normal((12, 18)).astype("float32")
    km = keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(7, 3, mask_zero=True),
            keras.layers.BatchNormalization(momentum=0.8),
            keras.layers.Flatten(),
        ]
    )
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    start = km.get_weights()
    km.fit(ids, y, batch_size=4, shuffle=False, verbose=0)
    for b in ("torch", "tensorflow"):
        model = _masked_bn_model(b, flatten=True)
        model.set_weights(start)
        model.compile(optimizer=dl.optimizers.SGD(0.1), loss="mse")
        model.fit(ids, y, batch_size=4, shuffle=False, verbose=0)
        for i, (a, k) in enumerate(zip(model.get_weights(), km.get_weights(), strict=True)):
            # float32 weights after 3 steps of the same training: the params_10 row
            assert_close(f"{b} weight {i} after masked fit vs Keras", a, k, "float32", "params_10")
