"""Every metric: additive device state vs the numpy reference, across backends, and the
result vs ``keras.metrics`` (float64), with sample weights; and through fit/evaluate."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from ._draw import DTYPES, UNIT, assert_close_or_nan, between, distinct, values

M = dl.metrics
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _onehot(r, b, c):
    return np.eye(c)[r.integers(0, c, b)]


def _distinct(r, shape):
    """Scores with distinct values per row (argmax / top-k without ties)."""
    return r.permutation(np.prod(shape)).reshape(shape) / np.prod(shape) + r.uniform(0, 1e-3)


# name -> (duallearn factory, keras class, keras kwargs, data kind, dtype of the table row
# that judges the Keras result). Recorded differences: Keras keeps Precision/Recall/AUC/R2Score
# state in float32 whatever the metric dtype, casts MeanIoU's confusion counts and F1Score's
# result through float32, and in_top_k needs float32 scores (top-k cases run Keras in
# float32): those are judged by the float32 row. duallearn accumulates in float64.
F32 = "float32"
F64 = "float64"
CASES = {
    "accuracy": (lambda: M.Accuracy(), "Accuracy", {}, "equal", F64),
    "binary_accuracy": (
        lambda: M.BinaryAccuracy(threshold=0.625),
        "BinaryAccuracy",
        {"threshold": 0.625},
        "binary",
        F64,
    ),
    "categorical_accuracy": (
        lambda: M.CategoricalAccuracy(),
        "CategoricalAccuracy",
        {},
        "onehot",
        F64,
    ),
    "sparse_categorical_accuracy": (
        lambda: M.SparseCategoricalAccuracy(),
        "SparseCategoricalAccuracy",
        {},
        "sparse",
        F64,
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
        lambda: M.Precision(thresholds=[0.25, 0.625]),
        "Precision",
        {"thresholds": [0.25, 0.625]},
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
    "auc_roc": (lambda: M.AUC(num_thresholds=33), "AUC", {"num_thresholds": 33}, "binary", F32),
    "auc_pr": (
        lambda: M.AUC(num_thresholds=17, curve="PR"),
        "AUC",
        {"num_thresholds": 17, "curve": "PR"},
        "binary",
        F32,
    ),
    "auc_pr_majoring": (
        lambda: M.AUC(num_thresholds=9, curve="PR", summation_method="majoring"),
        "AUC",
        {"num_thresholds": 9, "curve": "PR", "summation_method": "majoring"},
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
        F32,
    ),
    "f1_none": (lambda: M.F1Score(), "F1Score", {}, "onehot", F32),
    "f1_micro_threshold": (
        lambda: M.F1Score(average="micro", threshold=0.5),
        "F1Score",
        {"average": "micro", "threshold": 0.5},
        "multihot",
        F32,
    ),
    "f1_weighted": (
        lambda: M.F1Score(average="weighted"),
        "F1Score",
        {"average": "weighted"},
        "onehot",
        F32,
    ),
    "mae": (lambda: M.MeanAbsoluteError(), "MeanAbsoluteError", {}, "real", F64),
    "mse": (lambda: M.MeanSquaredError(), "MeanSquaredError", {}, "real", F64),
    "rmse": (lambda: M.RootMeanSquaredError(), "RootMeanSquaredError", {}, "real", F64),
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
        F32,  # keras casts the confusion counts to float32 in result()
    ),
    "mean_iou_ignore": (
        lambda: M.MeanIoU(num_classes=4, ignore_class=0, sparse_y_pred=False),
        "MeanIoU",
        {"num_classes": 4, "ignore_class": 0, "sparse_y_pred": False},
        "sparse4",
        F32,
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
    """Fixed batches (numpy) for the Keras comparison below."""
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y, p = _batch(kind, b, c, r)
        out.append((y, p, r.uniform(0.1, 2.0, (b,)) if weighted else None))
    return out


def _draw_batch(draw, kind, b, c, dtype):
    """One hypothesis-drawn batch. Scores that an argmax, a top-k or a ranking reads are
    distinct after rounding to ``dtype`` (the tie rule of tests/parity/_draw.py); scores read
    against thresholds are free: they may sit exactly on a threshold (every threshold here is
    dyadic, the same number in float32 and float64), where ``>`` and ``>=`` differ."""
    if kind == "sparse4":
        c = 4
    if kind in ("binary", "binary_logits"):
        y = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0])))
        if kind == "binary_logits":
            return y, values(draw, (b, c), scales=(1.0, 4.0, 20.0), dtype=dtype)
        grid = st.sampled_from([0.0, 0.25, 0.5, 0.625, 1.0])  # on thresholds and the ends
        return y, draw(hnp.arrays(np.float64, (b, c), elements=st.one_of(UNIT, grid)))
    if kind == "real":
        return values(draw, (b, c), dtype=dtype), values(draw, (b, c), dtype=dtype)
    p = distinct(draw, (b, c), scales=(1.0,), dtype=dtype)
    if kind == "equal":
        same = draw(hnp.arrays(np.bool_, (b, c)))
        other = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0, 2.0])))
        return np.where(same, p, other), p
    if kind == "multihot":
        return draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0]))), p
    ids = draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, c - 1)))
    if kind == "onehot":
        return np.eye(c)[ids], p
    return ids, p  # sparse, sparse4


@st.composite
def metric_cases(draw, name):
    kind = CASES[name][3]
    dtype = draw(DTYPES)
    n, b, c = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    if "top_k" in name:
        c = max(c, 3)  # k (2 or 3) below the number of classes
    weighted = draw(st.booleans())
    batches = []
    for _ in range(n):
        y, p = _draw_batch(draw, kind, b, c, dtype)
        # zero weights included: a batch that counts for nothing
        w = between(draw, (b,), 0.0, 2.0, dtype) if weighted else None
        batches.append((y, p, w))
    return name, batches, dtype


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


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_metric_state_vs_reference_backends(name, data):
    """Each metric on its own drawn examples (one test per metric, as the losses)."""
    _, batches, dtype = data.draw(metric_cases(name))
    factory = CASES[name][0]
    ref = factory()
    # the reference sees the values the backends see (targets, scores, weights rounded)
    batches = [
        (
            y if y.dtype.kind != "f" else y.astype(dtype).astype(np.float64),
            p.astype(dtype).astype(np.float64),
            None if w is None else w.astype(dtype).astype(np.float64),
        )
        for y, p, w in batches
    ]
    for y, p, w in batches:
        ref.update_state(y, p, w)
    states = {}
    for b in BACKENDS:
        spec = factory()
        spec.build_shapes(batches[0][0].shape, batches[0][1].shape)
        spec.reset_state()
        states[b] = _backend_state(b, spec, batches, dtype)
        assert_close(f"{name} {b} state", states[b], ref._state, dtype, "forward")
        got, want = spec.result_from_state(states[b]), ref.result()
        assert_close_or_nan(f"{name} {b} result", got, want, dtype, "forward")
    if len(states) == 2:
        assert_close(f"{name} torch vs tf", states["torch"], states["tensorflow"], dtype, "forward")


@pytest.mark.parametrize("name", sorted(CASES))
def test_metric_vs_keras(name):
    keras = importlib.import_module("keras")
    factory, kname, kkw, kind, row = CASES[name]
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
        assert_close(f"{name} weighted={weighted} vs Keras", got, want, row, "forward")
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
    assert_close("plain_accuracy", logs["plain_accuracy"], plain, "float64", "forward")
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
        # the metric state accumulates on the device over 4 batches: the forward row
        assert_close(f"evaluate {m.name}", logs[m.name], m.result(), "float64", "forward")


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
