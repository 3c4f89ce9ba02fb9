"""Every metric: additive device state vs the numpy reference, across backends, and the
result vs ``keras.metrics`` (float64), with sample weights; and through fit/evaluate."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS

M = dl.metrics
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _onehot(r, b, c):
    return np.eye(c)[r.integers(0, c, b)]


def _distinct(r, shape):
    """Scores with distinct values per row (argmax / top-k without ties)."""
    return r.permutation(np.prod(shape)).reshape(shape) / np.prod(shape) + r.uniform(0, 1e-3)


# name -> (duallearn factory, keras class, keras kwargs, data kind, keras result tolerance).
# Recorded differences: Keras keeps Precision/Recall/AUC/R2Score state in float32 whatever
# the metric dtype (bound F32 = 3e-7 relative); in_top_k needs float32 scores (top-k cases
# are compared with Keras in float32, exact counts). duallearn accumulates in float64.
F32 = 3e-7
CASES = {
    "accuracy": (lambda: M.Accuracy(), "Accuracy", {}, "equal", 1e-12),
    "binary_accuracy": (
        lambda: M.BinaryAccuracy(threshold=0.4),
        "BinaryAccuracy",
        {"threshold": 0.4},
        "binary",
        1e-12,
    ),
    "categorical_accuracy": (
        lambda: M.CategoricalAccuracy(),
        "CategoricalAccuracy",
        {},
        "onehot",
        1e-12,
    ),
    "sparse_categorical_accuracy": (
        lambda: M.SparseCategoricalAccuracy(),
        "SparseCategoricalAccuracy",
        {},
        "sparse",
        1e-12,
    ),
    "top_k": (
        lambda: M.TopKCategoricalAccuracy(k=2),
        "TopKCategoricalAccuracy",
        {"k": 2},
        "onehot",
        F32,
    ),
    "sparse_top_k": (
        lambda: M.SparseTopKCategoricalAccuracy(k=3),
        "SparseTopKCategoricalAccuracy",
        {"k": 3},
        "sparse",
        F32,
    ),
    "precision": (lambda: M.Precision(), "Precision", {}, "binary", F32),
    "precision_thresholds": (
        lambda: M.Precision(thresholds=[0.3, 0.6]),
        "Precision",
        {"thresholds": [0.3, 0.6]},
        "binary",
        F32,
    ),
    "precision_top_k": (
        lambda: M.Precision(top_k=2),
        "Precision",
        {"top_k": 2},
        "multihot",
        F32,
    ),
    "recall_class_id": (
        lambda: M.Recall(class_id=1),
        "Recall",
        {"class_id": 1},
        "multihot",
        F32,
    ),
    "auc_roc": (lambda: M.AUC(num_thresholds=50), "AUC", {"num_thresholds": 50}, "binary", F32),
    "auc_pr": (
        lambda: M.AUC(num_thresholds=30, curve="PR"),
        "AUC",
        {"num_thresholds": 30, "curve": "PR"},
        "binary",
        F32,
    ),
    "auc_pr_majoring": (
        lambda: M.AUC(num_thresholds=20, curve="PR", summation_method="majoring"),
        "AUC",
        {"num_thresholds": 20, "curve": "PR", "summation_method": "majoring"},
        "binary",
        F32,
    ),
    "auc_logits": (
        lambda: M.AUC(from_logits=True),
        "AUC",
        {"from_logits": True},
        "binary_logits",
        F32,
    ),
    "f1_macro": (
        lambda: M.F1Score(average="macro"),
        "F1Score",
        {"average": "macro"},
        "onehot",
        1e-6,
    ),
    "f1_none": (lambda: M.F1Score(), "F1Score", {}, "onehot", 1e-6),
    "f1_micro_threshold": (
        lambda: M.F1Score(average="micro", threshold=0.5),
        "F1Score",
        {"average": "micro", "threshold": 0.5},
        "multihot",
        1e-6,
    ),
    "f1_weighted": (
        lambda: M.F1Score(average="weighted"),
        "F1Score",
        {"average": "weighted"},
        "onehot",
        1e-6,
    ),
    "mae": (lambda: M.MeanAbsoluteError(), "MeanAbsoluteError", {}, "real", 1e-12),
    "mse": (lambda: M.MeanSquaredError(), "MeanSquaredError", {}, "real", 1e-12),
    "rmse": (lambda: M.RootMeanSquaredError(), "RootMeanSquaredError", {}, "real", 1e-12),
    "r2": (lambda: M.R2Score(), "R2Score", {}, "real", F32),
    "r2_variance": (
        lambda: M.R2Score(class_aggregation="variance_weighted_average"),
        "R2Score",
        {"class_aggregation": "variance_weighted_average"},
        "real",
        F32,
    ),
    "mean_iou": (
        lambda: M.MeanIoU(num_classes=4, sparse_y_pred=False),
        "MeanIoU",
        {"num_classes": 4, "sparse_y_pred": False},
        "sparse4",
        1e-6,  # keras casts the confusion counts to float32 in result()
    ),
    "mean_iou_ignore": (
        lambda: M.MeanIoU(num_classes=4, ignore_class=0, sparse_y_pred=False),
        "MeanIoU",
        {"num_classes": 4, "ignore_class": 0, "sparse_y_pred": False},
        "sparse4",
        1e-6,
    ),
}


def _batch(kind, b, c, r):
    if kind == "sparse4":
        c = 4
    p = _distinct(r, (b, c))
    if kind == "equal":
        y = np.where(r.uniform(size=(b, c)) < 0.5, p, r.integers(0, 3, (b, c)).astype(float))
        return y, p
    if kind in ("binary", "binary_logits"):
        y = r.integers(0, 2, (b, c)).astype(float)
        return y, (p * 8 - 4 if kind == "binary_logits" else p)
    if kind == "multihot":
        return r.integers(0, 2, (b, c)).astype(float), p
    if kind == "onehot":
        return _onehot(r, b, c), p
    if kind in ("sparse", "sparse4"):
        return r.integers(0, c, (b,)), p
    return r.standard_normal((b, c)), r.standard_normal((b, c))


def _batches(kind, seed, weighted, n=2, b=5, c=4):
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y, p = _batch(kind, b, c, r)
        out.append((y, p, r.uniform(0.1, 2.0, (b,)) if weighted else None))
    return out


def _backend_state(backend, spec, batches, dtype):
    if backend == "torch":
        import torch
        from duallearn_torch._metrics import delta

        tot = None
        for y, p, w in batches:
            d = delta(
                spec,
                torch.tensor(y),
                torch.tensor(p.astype(dtype)),
                None if w is None else torch.tensor(w.astype(dtype)),
            ).numpy()
            tot = d if tot is None else tot + d
        return tot
    import tensorflow as tf
    from duallearn_tensorflow._metrics import delta as tf_delta

    fn = tf.function(lambda y, p, w: tf_delta(spec, y, p, w), autograph=False)
    tot = None
    for y, p, w in batches:
        d = fn(
            tf.constant(y), tf.constant(p.astype(dtype)), None if w is None else tf.constant(w)
        ).numpy()
        tot = d if tot is None else tot + d
    return tot


@settings(max_examples=8)
@given(
    name=st.sampled_from(sorted(CASES)),
    seed=st.integers(0, 2**16),
    weighted=st.booleans(),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_metric_state_vs_reference_backends(name, seed, weighted, dtype):
    factory, _, _, kind, _ = CASES[name]
    batches = _batches(kind, seed, weighted)
    ref = factory()
    # the reference sees the values the backends see (targets and scores rounded to dtype)
    batches = [
        (y if y.dtype.kind != "f" else y.astype(dtype).astype(np.float64), p, w)
        for y, p, w in batches
    ]
    for y, p, w in batches:
        ref.update_state(y, p.astype(dtype).astype(np.float64), w)
    states = {}
    for b in BACKENDS:
        spec = factory()
        spec.build_shapes(batches[0][0].shape, batches[0][1].shape)
        spec.reset_state()
        states[b] = _backend_state(b, spec, batches, dtype)
        assert_close(f"{name} {b} state", states[b], ref._state, dtype, "forward")
        got, want = spec.result_from_state(states[b]), ref.result()
        assert_close(f"{name} {b} result", got, want, dtype, "forward")
    if len(states) == 2:
        assert_close(f"{name} torch vs tf", states["torch"], states["tensorflow"], dtype, "forward")


@pytest.mark.parametrize("name", sorted(CASES))
def test_metric_vs_keras(name):
    keras = importlib.import_module("keras")
    factory, kname, kkw, kind, tol = CASES[name]
    for weighted in (False, True):
        batches = _batches(kind, 11, weighted)
        ours = factory()
        kdtype = "float32" if "top_k" in name and "precision" not in name else "float64"
        theirs = getattr(keras.metrics, kname)(dtype=kdtype, **kkw)
        for y, p, w in batches:
            ours.update_state(y, p, w)
            theirs.update_state(y, p.astype(kdtype), sample_weight=w)
        got = np.asarray(ours.result(), np.float64)
        want = np.asarray(theirs.result(), np.float64)
        err = np.max(np.abs(got - want)) if got.size else 0.0
        assert err <= tol * max(1.0, np.max(np.abs(want))), (name, weighted, got, want)
        ours.reset_state()
        empty = np.asarray(ours.result())
        assert np.all((empty == 0) | np.isnan(empty))  # R2Score: 0/0 as Keras


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_metrics_through_evaluate(backend_name):
    """Metrics accumulate on the device over several batches; evaluate equals the reference."""
    dl.config.set_floatx("float64")
    r = np.random.default_rng(5)
    x = r.standard_normal((23, 4))
    y = r.integers(0, 3, (23,))
    yo = np.eye(3)[y]
    sw = r.uniform(0.2, 2.0, 23)
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(3, activation="softmax")])
        mets = [
            "accuracy",
            M.TopKCategoricalAccuracy(k=2),
            M.Precision(),
            M.Recall(),
            M.AUC(),
            M.F1Score(average="macro"),
            M.R2Score(),
            M.RootMeanSquaredError(),
            M.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False),
        ]
        # Keras: `weighted_metrics` see the sample weights, `metrics` do not.
        model.compile(
            optimizer="sgd",
            loss="categorical_crossentropy",
            weighted_metrics=mets,
            metrics=[M.CategoricalAccuracy(name="plain_accuracy")],
        )
        logs = model.evaluate(x, yo, sample_weight=sw, batch_size=6, return_dict=True, verbose=0)
        p = model.predict(x, verbose=0)
    plain = float((p.argmax(-1) == y).mean())
    assert logs["plain_accuracy"] == pytest.approx(plain, rel=1e-12)
    refs = [
        M.CategoricalAccuracy(name="accuracy"),
        M.TopKCategoricalAccuracy(k=2),
        M.Precision(),
        M.Recall(),
        M.AUC(),
        M.F1Score(average="macro"),
        M.R2Score(),
        M.RootMeanSquaredError(),
        M.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False),
    ]
    for m in refs:
        for s in range(0, 23, 6):
            m.update_state(yo[s : s + 6], p[s : s + 6], sw[s : s + 6])
        assert logs[m.name] == pytest.approx(m.result(), rel=1e-10, abs=1e-12), m.name


def test_bad_metric_config():
    with pytest.raises(ConfigError, match="curve"):
        M.AUC(curve="XY")
    with pytest.raises(ConfigError, match="thresholds"):
        M.Precision(thresholds=[1.5])
    with pytest.raises(ConfigError, match="average"):
        M.F1Score(average="mean")
    with pytest.raises(ConfigError, match="num_classes"):
        M.MeanIoU(0)
    with pytest.raises(ConfigError, match="k must"):
        M.TopKCategoricalAccuracy(k=0)
