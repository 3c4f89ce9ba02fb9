"""The confusion-count, ``*At*``, IoU-family and correlation metrics (issue 14) against real
Keras 3: standalone over several batches (with and without sample weights, after a reset),
natively on each backend vs the numpy reference, inside ``compile`` + ``evaluate`` vs Keras's
evaluate on the same weights, through save/load, and their argument errors.

Recorded differences: Keras keeps confusion counts in float32 (its ``dtype`` argument does not
change that) and computes IoU results in float32; duallearn accumulates in float64, so the
Keras comparisons use the float32 rows of the tolerance table. Keras's IoU metrics default to
an integer confusion matrix (float sample weights truncated, with a warning); duallearn's is
float64, so the comparisons give Keras ``dtype="float64"``.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, DuallearnError, ShapeError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from .test_metrics import _backend_state

keras = importlib.import_module("keras")
M = dl.metrics
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

# name -> (keras class, kwargs (the same for both), data kind)
CASES = {
    "tp": ("TruePositives", {}, "binary"),
    "tp_thresholds": ("TruePositives", {"thresholds": [0.2, 0.5, 0.9]}, "binary"),
    "fp": ("FalsePositives", {}, "binary"),
    "fp_thresholds": ("FalsePositives", {"thresholds": [0.3, 0.7]}, "binary"),
    "tn": ("TrueNegatives", {"thresholds": 0.4}, "binary"),
    "tn_even": ("TrueNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "binary_wide"),
    "fn": ("FalseNegatives", {}, "binary"),
    "fn_one_list": ("FalseNegatives", {"thresholds": [0.6]}, "binary"),
    "precision_at_recall": ("PrecisionAtRecall", {"recall": 0.6}, "binary"),
    "precision_at_recall_class": (
        "PrecisionAtRecall",
        {"recall": 0.4, "num_thresholds": 30, "class_id": 2},
        "binary",
    ),
    "recall_at_precision": ("RecallAtPrecision", {"precision": 0.5}, "binary"),
    "recall_at_precision_n1": (
        "RecallAtPrecision",
        {"precision": 0.3, "num_thresholds": 1},
        "binary",
    ),
    "sensitivity_at_specificity": (
        "SensitivityAtSpecificity",
        {"specificity": 0.5, "num_thresholds": 50},
        "binary_wide",
    ),
    "sensitivity_at_specificity_class": (
        "SensitivityAtSpecificity",
        {"specificity": 0.7, "class_id": 0},
        "binary",
    ),
    "specificity_at_sensitivity": (
        "SpecificityAtSensitivity",
        {"sensitivity": 0.8},
        "binary",
    ),
    "specificity_at_sensitivity_class": (
        "SpecificityAtSensitivity",
        {"sensitivity": 0.5, "num_thresholds": 10, "class_id": 1},
        "binary",
    ),
    "iou": ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "ids"),
    "iou_one": ("IoU", {"num_classes": 4, "target_class_ids": [1]}, "ids"),
    "iou_dense": (
        "IoU",
        {
            "num_classes": 4,
            "target_class_ids": [1, 3],
            "sparse_y_true": False,
            "sparse_y_pred": False,
        },
        "onehot",
    ),
    "iou_ignore": (
        "IoU",
        {"num_classes": 4, "target_class_ids": [0, 1, 2], "ignore_class": 0},
        "ids",
    ),
    "binary_iou": ("BinaryIoU", {}, "binary_flat"),
    "binary_iou_one": ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary_flat"),
    "one_hot_iou": ("OneHotIoU", {"num_classes": 4, "target_class_ids": [0, 3]}, "onehot"),
    "one_hot_iou_sparse_pred": (
        "OneHotIoU",
        {"num_classes": 4, "target_class_ids": [2], "sparse_y_pred": True},
        "onehot_ids",
    ),
    "one_hot_mean_iou": ("OneHotMeanIoU", {"num_classes": 4}, "onehot"),
    "one_hot_mean_iou_ignore": (
        "OneHotMeanIoU",
        {"num_classes": 4, "ignore_class": 1},
        "onehot",
    ),
    "pearson": ("PearsonCorrelation", {}, "real"),
    "pearson_axis0": ("PearsonCorrelation", {"axis": 0}, "real_square"),
    "concordance": ("ConcordanceCorrelation", {}, "real"),
}
IOU = ("IoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU")


def _batch(kind, r, b=8, c=3):
    if kind.startswith("binary"):
        y = r.integers(0, 2, (b, c)).astype(float)
        p = r.uniform(size=(b, c))
        if kind == "binary_wide":  # outside [0, 1] and exactly on thresholds
            p = np.concatenate([p[:, :-1] * 1.6 - 0.3, np.full((b, 1), 0.5)], axis=1)
        if kind == "binary_flat":  # BinaryIoU: one weight per prediction
            return y, p, r.uniform(0.1, 2.0, (b, c))
        return y, p, r.uniform(0.1, 2.0, (b,))
    if kind in ("ids", "onehot", "onehot_ids"):
        labels = r.integers(0, 4, (b,))
        scores = r.uniform(size=(b, 4))
        y = labels if kind == "ids" else np.eye(4)[labels]
        p = scores.argmax(-1) if kind in ("ids", "onehot_ids") else scores
        if kind == "ids":
            p = np.where(r.uniform(size=b) < 0.5, labels, p)
        return y, p, r.uniform(0.1, 2.0, (b,))
    d = b if kind == "real_square" else 5
    y = r.standard_normal((b, d))
    return y, y + 0.8 * r.standard_normal((b, d)), r.uniform(0.1, 2.0, (b,) if d != b else (d,))


def _batches(kind, seed, n=3):
    r = np.random.default_rng(seed)
    return [_batch(kind, r) for _ in range(n)]


def _ours(name):
    kname, kw, _ = CASES[name]
    return getattr(M, kname)(**kw)


def _keras(name):
    kname, kw, _ = CASES[name]
    extra = {"dtype": "float64"} if kname in IOU else {}
    return getattr(keras.metrics, kname)(**kw, **extra)


def _keras_run(name, batches, weighted):
    m = _keras(name)
    for y, p, w in batches:
        m.update_state(y, p, sample_weight=w if weighted else None)
    return np.asarray(m.result(), np.float64)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vs_keras_batches_weights_reset(name):
    """Several batches, with and without weights; after reset_state, the same again."""
    batches = _batches(CASES[name][2], 7)
    ours = _ours(name)
    for weighted in (False, True):
        for _ in range(2):  # the second round runs after reset_state()
            for y, p, w in batches:
                ours.update_state(y, p, w if weighted else None)
            want = _keras_run(name, batches, weighted)
            assert_close(f"{name} w={weighted}", ours.result(), want, "float32", "forward")
            ours.reset_state()
            assert np.all(np.asarray(ours.result()) == 0), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip(name):
    m = _ours(name)
    cfg = m.get_config()
    assert set(cfg) == set(_keras(name).get_config()), name
    again = type(m).from_config(cfg)
    assert again.get_config() == cfg
    restored = M.get(M.serialize(m))
    assert type(restored) is type(m) and restored.get_config() == cfg
    batches = _batches(CASES[name][2], 3)
    for y, p, w in batches:
        m.update_state(y, p, w)
        restored.update_state(y, p, w)
    np.testing.assert_array_equal(np.asarray(restored.result()), np.asarray(m.result()))


def _native(backend, a):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(np.float32)
    if backend == "torch":
        import torch

        return torch.tensor(a)
    import tensorflow as tf

    return tf.constant(a)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_backend_state_vs_reference(backend_name, name):
    """The backend's delta (compiled: under tf.function on TensorFlow) and update_state on
    native tensors, summed over batches, vs the numpy reference on the same float32 values."""
    batches = [
        tuple(
            None if a is None else (a.astype(np.float32) if a.dtype.kind == "f" else a) for a in b
        )
        for b in _batches(CASES[name][2], 5)
    ]
    ref = _ours(name)
    for y, p, w in batches:
        ref.update_state(y, p.astype(np.float64), w.astype(np.float64))
    spec = _ours(name)
    spec.build_shapes(batches[0][0].shape, batches[0][1].shape)
    state = _backend_state(backend_name, spec, batches, "float32")
    assert_close(f"{name} {backend_name} state", state, ref._state, "float32", "forward")
    eager = _ours(name)
    for y, p, w in batches:
        eager.update_state(
            _native(backend_name, y), _native(backend_name, p), _native(backend_name, w)
        )
    assert_close(f"{name} {backend_name} eager", eager.result(), ref.result(), "float32", "forward")


def _model_data(kind, r, n=29):
    x = r.standard_normal((n, 4)).astype(np.float32)
    if kind == "binary":  # no constant row (its Pearson coefficient is NaN, as Keras's)
        y = r.integers(0, 2, (n, 3)).astype(np.float32)
        y[:, 2] = 1 - y[:, 0]
        return x, y
    return x, np.eye(4, dtype=np.float32)[r.integers(0, 4, n)]


# the metrics given to compile: (weighted metrics, unweighted metrics), per model kind
EVAL_METRICS = {
    "binary": (
        [
            "tp",
            "fp_thresholds",
            "tn",
            "fn",
            "precision_at_recall",
            "recall_at_precision",
            "sensitivity_at_specificity_class",
            "specificity_at_sensitivity",
            "pearson",
            "concordance",
        ],
        ["binary_iou", "tp_thresholds"],
    ),
    "onehot": (
        ["iou_dense", "one_hot_iou", "one_hot_mean_iou", "one_hot_mean_iou_ignore"],
        ["one_hot_iou"],
    ),
}


def _compile_lists(make, kind):
    weighted, plain = EVAL_METRICS[kind]
    return (
        [make(n, n) for n in weighted],
        [make(n, f"plain_{n}") for n in plain],
    )


def _dl_metric(name, label):
    kname, kw, _ = CASES[name]
    return getattr(M, kname)(**kw, name=label)


def _keras_metric(name, label):
    kname, kw, _ = CASES[name]
    extra = {"dtype": "float32"} if kname in IOU else {}
    return getattr(keras.metrics, kname)(**kw, name=label, **extra)


@pytest.mark.parametrize("kind", sorted(EVAL_METRICS))
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_evaluate_vs_keras(backend_name, kind, tmp_path):
    """compile(weighted_metrics=[...], metrics=[...]) + evaluate with sample weights over
    several batches equals Keras's evaluate with the same weights; so does the model after
    save and load."""
    r = np.random.default_rng(3)
    x, y = _model_data(kind, r)
    sw = r.uniform(0.2, 2.0, len(x)).astype(np.float32)
    act, width = ("sigmoid", 3) if kind == "binary" else ("softmax", 4)
    loss = "binary_crossentropy" if kind == "binary" else "categorical_crossentropy"
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(width, activation=act)])
        weighted, plain = _compile_lists(_dl_metric, kind)
        model.compile(optimizer="sgd", loss=loss, weighted_metrics=weighted, metrics=plain)
        logs = model.evaluate(x, y, sample_weight=sw, batch_size=8, return_dict=True, verbose=0)
        path = tmp_path / "m.dlm"
        model.save(str(path))
        loaded = dl.load_model(str(path))
        again = loaded.evaluate(x, y, sample_weight=sw, batch_size=8, return_dict=True, verbose=0)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(width, activation=act)])
    kmodel.set_weights(model.get_weights())
    kweighted, kplain = _compile_lists(_keras_metric, kind)
    kmodel.compile(optimizer="sgd", loss=loss, weighted_metrics=kweighted, metrics=kplain)
    klogs = kmodel.evaluate(x, y, sample_weight=sw, batch_size=8, return_dict=True, verbose=0)
    names = [m.name for m in weighted + plain]
    for label in names:
        assert_close(f"{label} {backend_name}", logs[label], klogs[label], "float32", "forward")
        assert_close(
            f"{label} {backend_name} loaded", again[label], logs[label], "float32", "forward"
        )


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_string_names_in_compile(backend_name):
    """The names Keras resolves without arguments, in compile(metrics=[...])."""
    names = [
        "true_positives",
        "false_positives",
        "true_negatives",
        "false_negatives",
        "binary_io_u",
        "pearson_correlation",
        "concordance_correlation",
    ]
    r = np.random.default_rng(4)
    x, y = _model_data("binary", r)
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(3, activation="sigmoid")])
        model.compile(optimizer="sgd", loss="mse", metrics=names)
        logs = model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(optimizer="sgd", loss="mse", metrics=names)
    klogs = kmodel.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    for n in names:
        key = n if n in klogs else next(k for k in klogs if k.startswith(n))
        assert_close(f"{n} {backend_name}", logs[n], klogs[key], "float32", "forward")


def test_correlation_functions_vs_keras():
    r = np.random.default_rng(8)
    y, p = r.standard_normal((6, 5)), r.standard_normal((6, 5))
    for fn in ("pearson_correlation", "concordance_correlation"):
        for axis in (-1, 0):
            got = getattr(M, fn)(y, p, axis=axis)
            want = getattr(keras.metrics, fn)(y, p, axis=axis)
            assert_close(f"{fn} axis={axis}", got, np.asarray(want), "float64", "forward")


def test_docstring_examples_match_keras():
    tp = M.TruePositives()
    tp.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert tp.result() == 2.0
    iou = M.IoU(num_classes=2, target_class_ids=[0])
    iou.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    k = keras.metrics.IoU(num_classes=2, target_class_ids=[0])
    k.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert iou.result() == pytest.approx(float(k.result()), rel=1e-6)


BAD = [
    (lambda: M.TruePositives(thresholds=1.5), ConfigError, "thresholds.*Received: thresholds=1.5"),
    (lambda: M.FalseNegatives(thresholds=[]), ConfigError, "non-empty list"),
    (lambda: M.FalsePositives(thresholds=["a"]), ConfigError, "Fix:"),
    (lambda: M.PrecisionAtRecall(recall=1.2), ConfigError, "recall.*Received: recall=1.2"),
    (lambda: M.RecallAtPrecision(precision=-0.1), ConfigError, "precision as a number"),
    (
        lambda: M.SensitivityAtSpecificity(0.5, num_thresholds=0),
        ConfigError,
        "num_thresholds as an integer > 0.*Received: num_thresholds=0",
    ),
    (lambda: M.SpecificityAtSensitivity(0.5, class_id=-1), ConfigError, "class_id"),
    (lambda: M.IoU(3, target_class_ids=[3]), ConfigError, r"target_class_ids.*\[0, 3\)"),
    (lambda: M.IoU(3, target_class_ids=[]), ConfigError, "non-empty"),
    (lambda: M.IoU(0, target_class_ids=[0]), ConfigError, "num_classes as a positive"),
    (lambda: M.OneHotIoU(3, [0], axis=1), ConfigError, "axis=-1"),
    (lambda: M.OneHotMeanIoU(-2), ConfigError, "num_classes"),
    (lambda: M.BinaryIoU(threshold="high"), ConfigError, "threshold as a number"),
    (lambda: M.BinaryIoU(target_class_ids=[2]), ConfigError, "target_class_ids"),
    (lambda: M.PearsonCorrelation(axis="last"), ConfigError, "axis as an integer"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments(i):
    make, exc, pattern = BAD[i]
    with pytest.raises(exc, match=pattern) as info:
        make()
    assert isinstance(info.value, DuallearnError)
    assert "Received" in str(info.value) and "Fix" in str(info.value)


def test_bad_shapes():
    m = M.OneHotIoU(3, [0])
    with pytest.raises(ShapeError, match="OneHotIoU.*Received: y_true.shape"):
        m.update_state(np.eye(3)[:2], np.eye(3)[:3])
    with pytest.raises(ShapeError, match="TruePositives"):
        M.TruePositives().update_state(np.zeros((4, 3)), np.zeros((4, 2)))


def _fn_data(name, r, b=7, c=5):
    p = r.uniform(size=(b, c))
    if name == "binary_accuracy":
        return r.integers(0, 2, (b, c)).astype(float), p
    if name in ("categorical_accuracy", "top_k_categorical_accuracy"):
        return np.eye(c)[r.integers(0, c, b)], p
    if name.startswith("sparse"):
        return r.integers(0, c, (b, 1)).astype(float), p
    if "crossentropy" in name or name == "kl_divergence":
        return np.eye(c)[r.integers(0, c, b)] if "sparse" not in name else None, p
    return r.standard_normal((b, c)), r.standard_normal((b, c))


FUNCTIONS = [
    ("binary_accuracy", {"threshold": 0.3}),
    ("categorical_accuracy", {}),
    ("sparse_categorical_accuracy", {}),
    ("top_k_categorical_accuracy", {"k": 2}),
    ("sparse_top_k_categorical_accuracy", {"k": 3}),
    ("pearson_correlation", {}),
    ("concordance_correlation", {}),
    ("mean_squared_error", {}),
    ("categorical_crossentropy", {}),
    ("huber", {}),
]


@pytest.mark.parametrize("name, kw", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_metric_functions_vs_keras(name, kw):
    """Keras's functional metrics: per-sample values on numpy, and as compile(metrics=[fn])
    in evaluate on each backend (the weighted mean of those values, as Keras)."""
    r = np.random.default_rng(9)
    y, p = _fn_data(name, r)
    want = np.asarray(getattr(keras.metrics, name)(y, p.astype(np.float32), **kw))
    with dl.ops.numpy_mode():
        got = np.asarray(getattr(M, name)(y, p.astype(np.float32), **kw))
    assert_close(f"{name} values", got, want, "float32", "forward")
    if name.endswith("_error") or name in ("categorical_crossentropy", "huber"):
        assert getattr(M, name) is getattr(dl.losses, name)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_metric_functions_in_evaluate(backend_name):
    """Accuracy functions in compile(metrics=[...]) run natively: equal to Keras's evaluate."""
    r = np.random.default_rng(10)
    x = r.standard_normal((21, 4)).astype(np.float32)
    labels = r.integers(0, 5, 21)
    y = np.eye(5, dtype=np.float32)[labels]
    fns = ["categorical_accuracy", "top_k_categorical_accuracy", "pearson_correlation"]
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(5, activation="softmax")])
        model.compile(optimizer="sgd", loss="mse", metrics=[getattr(M, n) for n in fns])
        logs = model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="softmax")])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(optimizer="sgd", loss="mse", metrics=[getattr(keras.metrics, n) for n in fns])
    klogs = kmodel.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    for n in fns:
        assert_close(f"{n} {backend_name}", logs[n], klogs[n], "float32", "forward")


def test_deserialize():
    m = M.FalsePositives(thresholds=[0.2, 0.8], name="fp")
    again = M.deserialize(M.serialize(m))
    assert type(again) is M.FalsePositives and again.get_config() == m.get_config()
    with pytest.raises(ConfigError, match="Received: 'fp'.*Fix"):
        M.deserialize("fp")


def test_sparse_top_k_from_sorted_ids():
    r = np.random.default_rng(12)
    labels = r.integers(0, 6, (9,))
    ids = np.stack([r.permutation(6) for _ in range(9)]).astype(np.float32)
    for y in (labels, labels[:, None]):
        want = keras.metrics.sparse_top_k_categorical_accuracy(y, ids, k=3, from_sorted_ids=True)
        with dl.ops.numpy_mode():
            got = M.sparse_top_k_categorical_accuracy(y, ids, k=3, from_sorted_ids=True)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_fit_vs_keras(backend_name):
    """The metrics accumulate inside the compiled train step: one epoch of SGD, unshuffled,
    from the same weights, logs the values Keras's fit logs."""
    r = np.random.default_rng(13)
    x, y = _model_data("binary", r)
    names = ["tp_thresholds", "fn", "recall_at_precision", "binary_iou", "concordance"]
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(3, activation="sigmoid")])
        model.compile(
            optimizer=dl.optimizers.SGD(0.1),
            loss="binary_crossentropy",
            metrics=[_dl_metric(n, n) for n in names],
        )
        kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
        kmodel.set_weights(model.get_weights())
        hist = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    kmodel.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="binary_crossentropy",
        metrics=[_keras_metric(n, n) for n in names],
    )
    khist = kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    for n in names:
        assert_close(f"{n} {backend_name} fit", hist[n][0], khist[n][0], "float32", "forward")
