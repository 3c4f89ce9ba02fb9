"""Keras 3's stateful metric API beyond compile(): ``update_state`` on native tensors of either
backend (a custom train step), ``Mean`` as a loss tracker, user-defined ``Metric`` subclasses
with variables, and function metrics (standalone and in the compiled fit). Real Keras 3 is the
oracle; the compiled fit's numbers are checked against the eager ones."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, DuallearnError, ShapeError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from .test_metrics import CASES, _batches

keras = importlib.import_module("keras")
M = dl.metrics
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

# one case per family (the full table is checked on numpy inputs in test_metrics.py)
NATIVE_CASES = [
    "accuracy",
    "binary_accuracy",
    "sparse_categorical_accuracy",
    "top_k",
    "precision_thresholds",
    "recall_class_id",
    "auc_pr",
    "f1_macro",
    "mae",
    "rmse",
    "r2",
    "mean_iou",
]


def _native(backend, a, grad=False):
    """``a`` as a native tensor of ``backend`` (float32 for floats; requiring grad when
    asked, as a model's output in a custom train step)."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(np.float32)
    if backend == "torch":
        import torch

        return torch.tensor(a, requires_grad=grad and a.dtype.kind == "f")
    import tensorflow as tf

    return tf.constant(a)


def _f32(a):
    return None if a is None else (a.astype(np.float32) if a.dtype.kind == "f" else a)


def _keras_result(name, batches):
    _, kname, kkw, _, _ = CASES[name]
    kdtype = "float32" if "top_k" in name and "precision" not in name else "float64"
    theirs = getattr(keras.metrics, kname)(dtype=kdtype, **kkw)
    for y, p, w in batches:
        theirs.update_state(y, p.astype(kdtype), sample_weight=w)
    return np.asarray(theirs.result(), np.float64)


@pytest.mark.parametrize("name", NATIVE_CASES)
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_builtin_metric_on_native_tensors_matches_keras(name, backend_name):
    """Three update calls with sample weights, y_pred requiring grad (torch): Keras's value
    (fed the same float32 numbers), and the numpy path's state."""
    factory, _, _, kind, _ = CASES[name]
    batches = [(_f32(y), _f32(p), w) for y, p, w in _batches(kind, 7, True, n=3)]
    ours, ref = factory(), factory()
    for y, p, w in batches:
        ours.update_state(
            _native(backend_name, y), _native(backend_name, p, grad=True), _native(backend_name, w)
        )
        ref.update_state(y, p.astype(np.float64), w)
    if ours._pending is not None:  # the running sum stays native, out of autograd
        assert not getattr(ours._pending, "requires_grad", False)
    got = np.asarray(ours.result(), np.float64)
    assert_close(f"{name} {backend_name} vs numpy path", got, ref.result(), "float32", "forward")
    want = _keras_result(
        name, [(y, p, None if w is None else w.astype(np.float32)) for y, p, w in batches]
    )
    # Keras computes in float32 here: the float32 row of the table
    assert_close(f"{name} {backend_name} vs Keras", got, want, "float32", "forward")
    np.testing.assert_array_equal(np.asarray(ours.result(), np.float64), got)  # repeatable
    ours.reset_state()
    assert ours._pending is None
    assert np.all(np.asarray(ours.result()) == 0) or np.isnan(np.asarray(ours.result())).all()


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_mixed_numpy_and_native_updates_accumulate(backend_name):
    r = np.random.default_rng(3)
    ours, ref = M.MeanSquaredError(), M.MeanSquaredError()
    for i in range(4):
        y, p = r.standard_normal((5, 3)), r.standard_normal((5, 3)).astype(np.float32)
        ref.update_state(y.astype(np.float32), p)
        if i % 2:
            ours.update_state(y.astype(np.float32), p)  # numpy
        else:  # numpy targets with native predictions
            ours.update_state(y.astype(np.float32), _native(backend_name, p, grad=True))
    assert_close("mse mixed", ours.result(), ref.result(), "float32", "forward")


@pytest.mark.parametrize("backend_name", [*BACKENDS, "numpy"])
def test_mean_as_loss_tracker_matches_keras(backend_name):
    """``Mean.update_state(loss, sample_weight=batch_size)`` (Keras's loss tracker), and
    per-sample values with weights."""
    ours, theirs = M.Mean(name="loss"), keras.metrics.Mean(name="loss")
    for loss, n in [(0.5, 32), (1.25, 32), (2.0, 7)]:
        v = loss if backend_name == "numpy" else _native(backend_name, np.float32(loss), True)
        ours.update_state(v, sample_weight=n)
        theirs.update_state(np.float32(loss), sample_weight=n)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    vals, w = np.array([1.0, 3.0, 5.0, 7.0]), np.array([1.0, 1.0, 0.0, 0.5])
    ours.update_state(vals if backend_name == "numpy" else _native(backend_name, vals), w)
    theirs.update_state(vals, sample_weight=w)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    s, ks = M.Sum(), keras.metrics.Sum()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    ks.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert float(s.result()) == float(ks.result()) == 4.0
    ours.reset_state()
    assert float(ours.result()) == 0.0


# ---- user-defined metrics ------------------------------------------------------------------
def _ctp_class(lib, base):
    """Keras's guide example (keras.io, "Training & evaluation"), written against ``lib``."""
    ops = lib.ops

    class CategoricalTruePositives(base):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = ops.cast(sample_weight, "float32")
                values = ops.multiply(values, ops.reshape(sample_weight, (-1, 1)))
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    return CategoricalTruePositives


def _rate_class(lib, base):
    """A ratio of two variables, an op in result(), the default reset_state, add_weight, and
    ``variable + tensor`` inside update_state."""
    ops = lib.ops

    class PositiveRate(base):
        def __init__(self, name="positive_rate", **kwargs):
            super().__init__(name=name, **kwargs)
            self.hits = self.add_weight(shape=(3,), name="hits", initializer="zeros")
            self.count = self.add_variable((), "zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            pos = ops.cast(ops.greater(y_pred, 0.5), "float32")
            self.hits.assign(self.hits + ops.sum(pos, axis=0))
            self.count.assign_add(ops.cast(ops.shape(y_pred)[0], "float32"))

        def result(self):
            return ops.divide(ops.sum(self.hits), self.count * 3.0)

    return PositiveRate


def _inputs(kind, backend_name, seed):
    r = np.random.default_rng(seed)
    if kind == "ctp":
        y = r.integers(0, 3, (6, 1))
        p = r.uniform(size=(6, 3)).astype(np.float32)
        w = r.uniform(0.5, 2.0, (6,)).astype(np.float32)
    else:
        y, p, w = None, r.uniform(size=(6, 3)).astype(np.float32), None
    if backend_name == "numpy":
        return y, p, w
    return _native(backend_name, y), _native(backend_name, p, True), _native(backend_name, w)


@pytest.mark.parametrize("kind", ["ctp", "rate"])
@pytest.mark.parametrize("backend_name", ["numpy", *BACKENDS])
def test_user_metric_subclass_matches_keras(kind, backend_name):
    make = _ctp_class if kind == "ctp" else _rate_class
    ours, theirs = make(dl, dl.metrics.Metric)(), make(keras, keras.metrics.Metric)()
    assert [v.path for v in ours.variables] == (
        ["categorical_true_positives/ctp"]
        if kind == "ctp"
        else ["positive_rate/hits", "positive_rate/count"]
    )
    for seed in range(3):
        y, p, w = _inputs(kind, backend_name, seed)
        ky, kp, kw = _inputs(kind, "numpy", seed)
        ours.update_state(y, p, w)
        theirs.update_state(ky, kp, kw)
    got, want = float(ours.result()), float(theirs.result())
    assert got == pytest.approx(want, rel=1e-6) and want > 0
    assert np.asarray(ours.variables[0]).shape == tuple(ours.variables[0].shape)
    ours.reset_state()  # the class's own (ctp) or the default: every variable to zeros
    theirs.reset_state()
    assert [v.numpy().tolist() for v in ours.variables] == [
        np.asarray(v).tolist() for v in theirs.variables
    ]
    assert not dl.metrics.needs_eager_update(M.MeanSquaredError())
    assert dl.metrics.needs_eager_update(ours)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_user_metric_inside_a_native_call(backend_name):
    """What a custom train_step sees: dl.ops bound to the model's backend, native tensors;
    the variables are usable in dl.ops there and the results convert with float()."""
    ops_module = dl.plugin.get_backend(backend_name).ops
    ours, tracker = _rate_class(dl, dl.metrics.Metric)(), M.Mean(name="loss")
    theirs = _rate_class(keras, keras.metrics.Metric)()
    with dl.ops.native_call(ops_module):
        for seed in range(2):
            _, p, _ = _inputs("rate", backend_name, seed)
            ours.update_state(None, p)
            tracker.update_state(dl.ops.mean(p), sample_weight=6)
        logs = {m.name: m.result() for m in (ours, tracker)}
        floats = {k: float(v) for k, v in logs.items()}
    for seed in range(2):
        theirs.update_state(None, _inputs("rate", "numpy", seed)[1])
    assert floats["positive_rate"] == pytest.approx(float(theirs.result()), rel=1e-6)
    assert floats["loss"] == pytest.approx(
        np.mean([_inputs("rate", "numpy", s)[1].mean() for s in range(2)]), rel=1e-6
    )


def test_user_metric_errors():
    class NoSuper(dl.metrics.Metric):
        def __init__(self):
            self.v = self.add_variable((), "zeros")

    with pytest.raises(ConfigError, match=r"super\(\).__init__"):
        NoSuper()
    m = _ctp_class(dl, dl.metrics.Metric)()
    with pytest.raises(ShapeError, match=r"has shape \(\).*Received a value of shape \(2,\)"):
        m.true_positives.assign(np.zeros(2))


# ---- Variable: native values ---------------------------------------------------------------
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_variable_assign_takes_native_tensors(backend_name):
    v = dl.Variable("v", (2,), "float32", dl.initializers.get("zeros"), trainable=False)
    v.assign(_native(backend_name, np.array([1.0, 2.0]), grad=True))
    v.assign_add(_native(backend_name, np.array([0.5, 0.5]), grad=True))
    w = dl.Variable("w", (2,), "float32", dl.initializers.get("ones"), trainable=False)
    v.assign_sub(w)
    np.testing.assert_array_equal(np.asarray(v), [0.5, 1.5])
    assert np.asarray(v).dtype == np.float32
    s = dl.Variable("s", (), "float32", dl.initializers.get("ones"), trainable=False)
    assert float(s) == 1.0 and int(s) == 1
    with pytest.raises(ShapeError, match="Fix"):
        v.assign(_native(backend_name, np.zeros(3)))


# ---- function metrics ----------------------------------------------------------------------
def _abs_err(lib):
    def my_abs_err(y_true, y_pred):
        return lib.ops.mean(lib.ops.abs(y_true - y_pred), axis=-1)

    return my_abs_err


@pytest.mark.parametrize("backend_name", ["numpy", *BACKENDS])
def test_function_metric_standalone_matches_keras(backend_name):
    ours = M.MeanMetricWrapper(_abs_err(dl))
    theirs = keras.metrics.MeanMetricWrapper(_abs_err(keras))
    assert ours.name == "mean_metric_wrapper"
    r = np.random.default_rng(4)
    for _ in range(3):
        y = r.standard_normal((5, 3)).astype(np.float32)
        p = r.standard_normal((5, 3)).astype(np.float32)
        w = r.uniform(0.1, 2.0, 5).astype(np.float32)
        if backend_name == "numpy":
            ours.update_state(y, p, w)
        else:
            ours.update_state(*(_native(backend_name, a, True) for a in (y, p, w)))
        theirs.update_state(y, p, sample_weight=w)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    assert not M.needs_eager_update(ours)
    assert M.get(_abs_err(dl)).name == "my_abs_err"
    with pytest.raises(ConfigError, match="fn must be a function"):
        M.MeanMetricWrapper("mae")


def _regressor(lib):
    return lib.Sequential([lib.layers.Input((4,)), lib.layers.Dense(3)])


def _regression_data():
    r = np.random.default_rng(8)
    x = r.standard_normal((20, 4)).astype(np.float32)
    y = r.standard_normal((20, 3)).astype(np.float32)
    return x, y, r.uniform(0.2, 2.0, 20).astype(np.float32)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_function_metric_in_compiled_fit_matches_keras(backend_name):
    """``compile(metrics=[fn], weighted_metrics=[fn])``: the compiled step runs ``fn`` with
    dl.ops on the backend; History equals Keras's."""
    x, y, sw = _regression_data()
    km = _regressor(keras)
    km.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss="mse",
        metrics=[_abs_err(keras)],
        weighted_metrics=[_abs_err(keras)],
    )
    with dl.use_backend(backend_name):
        ours = _regressor(dl)
        ours.set_weights(km.get_weights())
        ours.compile(
            optimizer=dl.optimizers.SGD(0.05),
            loss="mse",
            metrics=[_abs_err(dl)],
            weighted_metrics=[_abs_err(dl)],
        )
        oh = ours.fit(x, y, sample_weight=sw, batch_size=6, epochs=2, shuffle=False, verbose=0)
        ev = ours.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    kh = km.fit(x, y, sample_weight=sw, batch_size=6, epochs=2, shuffle=False, verbose=0)
    kev = km.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert set(oh.history) == set(kh.history) == {"loss", "my_abs_err", "weighted_my_abs_err"}
    for key in kh.history:
        assert_close(
            f"{backend_name} {key}", oh.history[key], kh.history[key], "float32", "forward"
        )
    assert_close(
        f"{backend_name} evaluate", ev["my_abs_err"], kev["my_abs_err"], "float32", "forward"
    )


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_user_metric_subclass_in_compile_is_updated_on_every_batch(backend_name):
    """A user ``Metric`` subclass in ``compile`` runs through the Python step (its own
    ``update_state`` on each batch): ``evaluate`` reports what the metric says when updated
    batch by batch on the model's predictions."""
    x, y, _ = _regression_data()
    rate = _rate_class(dl, dl.metrics.Metric)
    with dl.use_backend(backend_name):
        model = _regressor(dl)
        model.compile(optimizer="sgd", loss="mse", metrics=[rate()])
        got = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        pred = model.predict(x, verbose=0)
    want = rate()
    for start in range(0, len(x), 8):
        want.update_state(y[start : start + 8], pred[start : start + 8])
    assert got["positive_rate"] == pytest.approx(float(want.result()), abs=1e-6)
    assert 0.0 < got["positive_rate"] < 1.0


# ---- which metrics need an eager step; errors --------------------------------------------------
def test_needs_eager_update():
    class Renamed(M.MeanSquaredError):
        def __init__(self):
            super().__init__(name="renamed_mse")

    class OwnResult(M.MeanSquaredError):
        def result(self):
            return 2 * super().result()

    assert not any(
        M.needs_eager_update(m)
        for m in (
            M.MeanSquaredError(),
            M.AUC(),
            M.get("accuracy"),
            Renamed(),
            M.MeanMetricWrapper(_abs_err(dl)),
        )
    )
    assert all(
        M.needs_eager_update(m)
        for m in (OwnResult(), M.Mean(), M.Sum(), _ctp_class(dl, dl.metrics.Metric)())
    )
    m = OwnResult()
    m.update_state(np.ones((2, 2)), np.zeros((2, 2)))
    assert m.result() == 2.0


@pytest.mark.parametrize("backend_name", ["numpy", *BACKENDS])
def test_update_state_shape_errors(backend_name):
    def t(a):
        return a if backend_name == "numpy" else _native(backend_name, a, True)

    cases = [
        (M.MeanSquaredError(), np.zeros((4, 3)), np.zeros((4, 2)), None, "one value per"),
        (M.SparseCategoricalAccuracy(), np.zeros((4, 3)), np.zeros((4, 3)), None, "labels"),
        (M.CategoricalAccuracy(), np.zeros((3, 3)), np.zeros((4, 3)), None, "one-hot"),
        (M.Precision(), np.zeros((4, 2)), np.zeros((4, 3)), None, "broadcastable"),
        (M.MeanAbsoluteError(), np.zeros((4, 3)), np.zeros((4, 3)), np.ones(5), "sample_weight"),
        (M.MeanIoU(3), np.zeros(4), np.zeros(5), None, "one true label"),
    ]
    for metric, y, p, w, what in cases:
        with pytest.raises(ShapeError, match=what) as err:
            metric.update_state(t(y), t(p), None if w is None else t(w))
        msg = str(err.value)
        assert "Received" in msg and "Fix" in msg and isinstance(err.value, DuallearnError)
    with pytest.raises(ShapeError, match=r"sample_weight.shape=\(3,\)"):
        M.Mean().update_state(t(np.zeros(4)), t(np.ones(3)))


# ---- the function-defined built-ins (Keras formulas, written once with dl.ops) -------------
# id -> (class name, options, data kind)
FUNCTION_CASES = {
    "mape": ("MeanAbsolutePercentageError", {}, "real"),
    "msle": ("MeanSquaredLogarithmicError", {}, "positive"),
    "logcosh": ("LogCoshError", {}, "real"),
    "cosine": ("CosineSimilarity", {}, "real"),
    "hinge_01": ("Hinge", {}, "binary"),
    "hinge_signs": ("Hinge", {}, "signs"),
    "squared_hinge": ("SquaredHinge", {}, "binary"),
    "categorical_hinge": ("CategoricalHinge", {}, "onehot"),
    "kld": ("KLDivergence", {}, "probs"),
    "poisson": ("Poisson", {}, "positive"),
    "bce": ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    "bce_logits": ("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    "cce": ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot"),
    "cce_logits": ("CategoricalCrossentropy", {"from_logits": True}, "onehot_logits"),
    "scce": ("SparseCategoricalCrossentropy", {}, "sparse"),
    "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
}


def _function_batch(kind, r, b=5, c=4):
    p = r.uniform(0.05, 1.0, (b, c))
    if kind in ("probs", "onehot", "sparse"):
        p = p / p.sum(-1, keepdims=True)
    if kind.endswith("logits") or kind in ("real", "signs"):
        p = r.standard_normal((b, c)) * 2
    if kind in ("real", "positive"):
        y = r.standard_normal((b, c)) if kind == "real" else r.uniform(0.0, 3.0, (b, c))
    elif kind == "probs":
        y = r.dirichlet(np.ones(c), b)
    elif kind.startswith("binary"):
        y = r.integers(0, 2, (b, c)).astype(float)
    elif kind == "signs":
        y = r.choice([-1.0, 1.0], (b, c))
    elif kind.startswith("onehot"):
        y = np.eye(c)[r.integers(0, c, b)]
    else:
        y = r.integers(0, c, (b, 1))
    return _f32(y), p.astype(np.float32), r.uniform(0.2, 2.0, b).astype(np.float32)


@pytest.mark.parametrize("case", sorted(FUNCTION_CASES))
@pytest.mark.parametrize("backend_name", ["numpy", *BACKENDS])
def test_function_defined_metric_matches_keras(case, backend_name):
    cls, options, kind = FUNCTION_CASES[case]
    ours = getattr(M, cls)(**options)
    theirs = getattr(keras.metrics, cls)(**options)
    assert not M.needs_eager_update(ours)
    r = np.random.default_rng(12)
    for _ in range(3):
        y, p, w = _function_batch(kind, r)
        if backend_name == "numpy":
            ours.update_state(y, p, w)
        else:
            ours.update_state(*(_native(backend_name, a, True) for a in (y, p, w)))
        theirs.update_state(y, p, sample_weight=w)
    got, want = float(ours.result()), float(theirs.result())
    assert got == pytest.approx(want, rel=2e-6, abs=1e-6), (case, got, want)
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_function_defined_metrics_in_compiled_fit_match_keras(backend_name):
    x, y, sw = _regression_data()
    names = ["mape", "msle", "log_cosh_error", "cosine_similarity", "kl_divergence"]
    km = _regressor(keras)
    km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", weighted_metrics=names)
    with dl.use_backend(backend_name):
        ours = _regressor(dl)
        ours.set_weights(km.get_weights())
        ours.compile(optimizer=dl.optimizers.SGD(0.05), loss="mse", weighted_metrics=names)
        oh = ours.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kh = km.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert set(oh.history) == set(kh.history)
    for key in kh.history:
        assert_close(
            f"{backend_name} {key}", oh.history[key], kh.history[key], "float32", "forward"
        )


def test_metric_configs_rebuild_with_custom_objects():
    fn = _abs_err(dl)
    cfg = M.serialize(M.get(fn))
    assert cfg == {
        "class_name": "MeanMetricWrapper",
        "config": {"name": "my_abs_err", "dtype": None, "fn": "my_abs_err"},
    }
    with pytest.raises(ConfigError, match=r"custom_objects=\{'my_abs_err'"):
        M.get(cfg)
    again = M.get(cfg, custom_objects={"my_abs_err": fn})
    assert again.name == "my_abs_err" and not M.needs_eager_update(again)
    cls = _ctp_class(dl, dl.metrics.Metric)
    ctp = M.get(M.serialize(cls(name="tp")), custom_objects={"CategoricalTruePositives": cls})
    assert type(ctp) is cls and ctp.name == "tp"
    assert M.get("mape").name == "mape" and M.get(M.CosineSimilarity).name == "cosine_similarity"
