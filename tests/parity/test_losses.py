"""Every loss: per-sample values, reductions and gradients vs the numpy reference, vs
``keras.losses`` (float64), and across backends, with sample and class weights."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close

from ..conftest import BACKENDS

L = dl.losses
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _probs(r, shape):
    p = r.uniform(0.05, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _onehot(r, shape):
    return np.eye(shape[-1])[r.integers(0, shape[-1], shape[:-1])]


# name -> (duallearn factory, keras class name, keras kwargs, target kind, prediction kind)
CASES = {
    "mse": (lambda: L.MeanSquaredError(), "MeanSquaredError", {}, "real", "real"),
    "mae": (lambda: L.MeanAbsoluteError(), "MeanAbsoluteError", {}, "real", "real"),
    "mape": (
        lambda: L.MeanAbsolutePercentageError(),
        "MeanAbsolutePercentageError",
        {},
        "real",
        "real",
    ),
    "msle": (
        lambda: L.MeanSquaredLogarithmicError(),
        "MeanSquaredLogarithmicError",
        {},
        "positive",
        "positive",
    ),
    "huber": (lambda: L.Huber(delta=0.7), "Huber", {"delta": 0.7}, "real", "real"),
    "log_cosh": (lambda: L.LogCosh(), "LogCosh", {}, "real", "real"),
    "cosine": (lambda: L.CosineSimilarity(), "CosineSimilarity", {}, "real", "real"),
    "hinge": (lambda: L.Hinge(), "Hinge", {}, "binary", "real"),
    "hinge_pm1": (lambda: L.Hinge(), "Hinge", {}, "pm1", "real"),
    "squared_hinge": (lambda: L.SquaredHinge(), "SquaredHinge", {}, "binary", "real"),
    "categorical_hinge": (lambda: L.CategoricalHinge(), "CategoricalHinge", {}, "onehot", "real"),
    "bce": (
        lambda: L.BinaryCrossentropy(label_smoothing=0.1),
        "BinaryCrossentropy",
        {"label_smoothing": 0.1},
        "binary",
        "unit",
    ),
    "bce_logits": (
        lambda: L.BinaryCrossentropy(from_logits=True),
        "BinaryCrossentropy",
        {"from_logits": True},
        "binary",
        "real",
    ),
    "cce": (
        lambda: L.CategoricalCrossentropy(label_smoothing=0.2),
        "CategoricalCrossentropy",
        {"label_smoothing": 0.2},
        "onehot",
        "probs",
    ),
    "cce_logits": (
        lambda: L.CategoricalCrossentropy(from_logits=True),
        "CategoricalCrossentropy",
        {"from_logits": True},
        "onehot",
        "real",
    ),
    "scce": (
        lambda: L.SparseCategoricalCrossentropy(),
        "SparseCategoricalCrossentropy",
        {},
        "sparse",
        "probs",
    ),
    "scce_logits_ignore": (
        lambda: L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": 0},
        "sparse",
        "real",
    ),
    "binary_focal": (
        lambda: L.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.3, gamma=1.5, label_smoothing=0.1
        ),
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5, "label_smoothing": 0.1},
        "binary",
        "unit",
    ),
    "binary_focal_logits": (
        lambda: L.BinaryFocalCrossentropy(from_logits=True),
        "BinaryFocalCrossentropy",
        {"from_logits": True},
        "binary",
        "real",
    ),
    "categorical_focal": (
        lambda: L.CategoricalFocalCrossentropy(gamma=2.5, label_smoothing=0.1),
        "CategoricalFocalCrossentropy",
        {"gamma": 2.5, "label_smoothing": 0.1},
        "onehot",
        "probs",
    ),
    "categorical_focal_logits": (
        lambda: L.CategoricalFocalCrossentropy(alpha=0.5, from_logits=True),
        "CategoricalFocalCrossentropy",
        {"alpha": 0.5, "from_logits": True},
        "onehot",
        "real",
    ),
    "kld": (lambda: L.KLDivergence(), "KLDivergence", {}, "probs", "probs"),
    "poisson": (lambda: L.Poisson(), "Poisson", {}, "positive", "positive"),
}


# Keras computes these constants in float32 even for float64 losses (PARITY.md §7, §10);
# duallearn builds them in the data's dtype. (bound per element, reason)
KERAS_F32_CONSTANTS = {"log_cosh": (4e-9, "keras log_cosh: ops.log(2.0) evaluated in float32")}


def _data(kind_y, kind_p, batch, width, seed):
    r = np.random.default_rng(seed)
    shape = (batch, width)
    y = {
        "real": lambda: r.standard_normal(shape),
        "positive": lambda: r.uniform(0.1, 3.0, shape),
        "binary": lambda: r.integers(0, 2, shape).astype(np.float64),
        "pm1": lambda: r.choice([-1.0, 1.0], shape),
        "onehot": lambda: _onehot(r, shape),
        "probs": lambda: _probs(r, shape),
        "sparse": lambda: r.integers(0, width, (batch,)),
    }[kind_y]()
    p = {
        "real": lambda: r.standard_normal(shape) * 1.5,
        "positive": lambda: r.uniform(0.1, 3.0, shape),
        "unit": lambda: r.uniform(0.03, 0.97, shape),
        "probs": lambda: _probs(r, shape),
    }[kind_p]()
    if kind_y == "real" and kind_p == "real":
        # keep |y - p| off Huber's and MAE's kinks and y off MAPE's clip
        y = np.where(np.abs(y) < 0.05, 0.5, y)
    sw = r.uniform(0.0, 2.0, (batch,))
    return y, p, sw


def _backend_value_and_grad(backend, spec, y, p, sw):
    if backend == "torch":
        import torch
        from duallearn_torch._losses import LossFn

        pt = torch.tensor(p, requires_grad=True)
        yt = torch.tensor(y)
        swt = None if sw is None else torch.tensor(sw, dtype=pt.dtype)
        v = LossFn(spec)(yt, pt, swt)
        (g,) = torch.autograd.grad(v, pt)
        return v.detach().numpy(), g.numpy()
    import tensorflow as tf
    from duallearn_tensorflow._losses import LossFn as TFLossFn

    pt = tf.constant(p)
    with tf.GradientTape() as tape:
        tape.watch(pt)
        v = TFLossFn(spec)(tf.constant(y), pt, None if sw is None else tf.constant(sw, pt.dtype))
    return v.numpy(), tape.gradient(v, pt).numpy()


@settings(max_examples=6)
@given(
    name=st.sampled_from(sorted(CASES)),
    batch=st.sampled_from([1, 3, 5]),
    width=st.sampled_from([2, 3, 5]),
    seed=st.integers(0, 2**16),
    weighted=st.booleans(),
    reduction=st.sampled_from(["sum_over_batch_size", "sum", "mean_with_sample_weight"]),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_loss_vs_reference_backends(name, batch, width, seed, weighted, reduction, dtype):
    factory, _, _, ky, kp = CASES[name]
    y, p, sw = _data(ky, kp, batch, width, seed)
    spec = factory()
    spec.reduction = reduction
    p = p.astype(dtype)
    y = y if ky == "sparse" else y.astype(dtype)
    w = sw if weighted else None
    ref = spec.reference(y.astype(np.float64) if ky != "sparse" else y, p.astype(np.float64), w)
    gref = spec.reference_grad(
        y.astype(np.float64) if ky != "sparse" else y, p.astype(np.float64), w
    )
    got = {}
    for b in BACKENDS:
        got[b] = _backend_value_and_grad(b, spec, y, p, None if w is None else w.astype(dtype))
        assert_close(f"{name} {b} value", got[b][0], ref, dtype, "loss")
        assert_close(f"{name} {b} grad", got[b][1], gref, dtype, "gradient")
    if len(got) == 2:
        assert_close(f"{name} torch vs tf", got["torch"][0], got["tensorflow"][0], dtype, "loss")


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_vs_keras(name):
    """The numpy reference equals keras.losses.X in float64, for every reduction."""
    keras = importlib.import_module("keras")
    factory, kname, kkw, ky, kp = CASES[name]
    y, p, sw = _data(ky, kp, 5, 4, 7)
    for reduction in ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]:
        for w in (None, sw):
            spec = factory()
            spec.reduction = reduction
            k = getattr(keras.losses, kname)(reduction=reduction, dtype="float64", **kkw)
            ref = k(y, p, sample_weight=w)
            got = spec.reference(y, p, w)
            label = f"{name} {reduction} w={w is not None}"
            if name in KERAS_F32_CONSTANTS:
                # recorded difference: Keras builds this constant in float32 (reason below)
                err = np.max(np.abs(got - np.asarray(ref)))
                assert err <= KERAS_F32_CONSTANTS[name][0] * max(1.0, np.max(np.abs(got))), label
            else:
                assert_close(label, got, np.asarray(ref), kind="loss")


def test_reduction_divisor_and_aliases():
    """Keras's divisor: sum_over_batch_size divides Σw·l by the count, not Σw."""
    y = np.array([[0.0], [1.0], [1.0]])
    p = np.array([[0.2], [0.6], [0.9]])
    w = np.array([0.5, 2.0, 0.0])
    l = L.MeanSquaredError().reference_values(y, p)
    assert float(L.MeanSquaredError()(y, p, w)) == pytest.approx(float((w * l).sum() / 3))
    assert float(L.MeanSquaredError(reduction="mean_with_sample_weight")(y, p, w)) == (
        pytest.approx(float((w * l).sum() / w.sum()))
    )
    for alias, cls in [
        ("mse", L.MeanSquaredError),
        ("MAE", L.MeanAbsoluteError),
        ("mape", L.MeanAbsolutePercentageError),
        ("msle", L.MeanSquaredLogarithmicError),
        ("kld", L.KLDivergence),
        ("bce", L.BinaryCrossentropy),
        ("huber", L.Huber),
        ("log_cosh", L.LogCosh),
        ("categorical_focal_crossentropy", L.CategoricalFocalCrossentropy),
        ("categorical_hinge", L.CategoricalHinge),
        ("CosineSimilarity", L.CosineSimilarity),
    ]:
        assert type(L.get(alias)) is cls


def test_bad_loss_input():
    with pytest.raises(ConfigError, match="reduction"):
        L.MeanSquaredError(reduction="average")
    with pytest.raises(ConfigError, match="label_smoothing"):
        L.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ConfigError, match="delta"):
        L.Huber(delta=-1.0)
    with pytest.raises(ShapeError, match=r"y_true.shape=\(4, 3\).*y_pred.shape=\(4, 5\)"):
        L.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"labels must be in \[0, 3\).*label 7"):
        L.SparseCategoricalCrossentropy()(np.array([0, 7]), np.full((2, 3), 1 / 3))
    with pytest.raises(ShapeError, match="integer class labels"):
        L.SparseCategoricalCrossentropy()(np.array([0.5, 1.0]), np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_fit_weights_and_label_check(backend_name):
    """fit/evaluate: class_weight and sample_weight reach the loss with Keras's divisor, and
    out-of-range sparse labels are refused before the batch reaches the backend."""
    dl.config.set_floatx("float64")
    r = np.random.default_rng(3)
    x = r.standard_normal((7, 4))
    y = r.integers(0, 3, (7,))
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(3)])
        model.compile(
            optimizer=dl.optimizers.SGD(0.0),
            loss=L.SparseCategoricalCrossentropy(from_logits=True),
        )
        logits = model.predict(x, verbose=0)
        per = L.SparseCategoricalCrossentropy(from_logits=True).reference_values(y, logits)
        cw = {0: 0.5, 1: 2.0, 2: 1.5}
        h = model.fit(x, y, batch_size=7, epochs=1, class_weight=cw, verbose=0, shuffle=False)
        w = np.array([cw[int(c)] for c in y])
        assert h.history["loss"][0] == pytest.approx(float((w * per).sum() / 7), rel=1e-12)
        sw = r.uniform(0, 2, 7)
        got = model.evaluate(x, y, sample_weight=sw, batch_size=7, verbose=0)
        assert got == pytest.approx(float((sw * per).sum() / 7), rel=1e-12)
        with pytest.raises(ShapeError, match=r"labels must be in \[0, 3\).*label 5"):
            model.fit(x, np.where(y == 0, 5, y), epochs=1, verbose=0)
