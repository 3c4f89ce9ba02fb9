"""Public features no other test touched (issue 19): FBetaScore, weighted Mean and R2Score
with regressors vs ``keras.metrics``; truncated_normal / randint / shuffle (cross-backend
bit identity, Keras shapes and dtypes, distribution); ``fit(validation_batch_size=)``;
``save_model`` / ``load_model`` round trip."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS, need_backends

M = dl.metrics
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _np(x):
    return np.asarray(dl.ops.convert_to_numpy(x))


def _keras():
    return importlib.import_module("keras")


# ---------------------------------------------------------------------------------------------
# 1. metrics vs keras.metrics, several batches, sample weights
# ---------------------------------------------------------------------------------------------


def _class_batches(seed: int, n_batches: int = 3, c: int = 4):
    r = np.random.default_rng(seed)
    out = []
    for b in (7, 5, 9)[:n_batches]:
        y = np.eye(c)[r.integers(0, c, b)].astype("float32")
        p = r.uniform(0, 1, (b, c)).astype("float32")
        w = r.uniform(0.2, 2.0, b).astype("float32")
        out.append((y, p, w))
    return out


@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
@pytest.mark.parametrize(("beta", "threshold"), [(1.0, None), (0.5, 0.4), (2.0, 0.6)])
def test_fbeta_score_vs_keras(backend, average, beta, threshold):
    keras = _keras()
    ours = M.FBetaScore(average=average, beta=beta, threshold=threshold)
    theirs = keras.metrics.FBetaScore(average=average, beta=beta, threshold=threshold)
    for y, p, w in _class_batches(11):
        ours.update_state(y, p, w)
        theirs.update_state(y, p, sample_weight=w)
    got, want = _np(ours.result()), np.asarray(theirs.result())
    assert got.shape == want.shape
    assert_close(f"FBetaScore {average} {beta} {threshold}", got, want, "float32", "forward")


def test_mean_weighted_vs_keras(backend):
    keras = _keras()
    r = np.random.default_rng(3)
    ours, theirs = M.Mean(), keras.metrics.Mean()
    vals = []
    for b in (6, 4, 9):
        v = r.normal(size=(b,)).astype("float32")
        w = r.uniform(0.0, 3.0, b).astype("float32")
        ours.update_state(v, sample_weight=w)
        theirs.update_state(v, sample_weight=w)
        vals.append(v)
    got, want = _np(ours.result()), np.asarray(theirs.result())
    # the weights change the answer (the check is sensitive to ignoring them)
    assert abs(float(want) - float(np.mean(np.concatenate(vals)))) > 1e-3
    assert_close("Mean weighted", got, want, "float32", "forward")


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
def test_r2_score_num_regressors_vs_keras(backend, aggregation):
    keras = _keras()
    r = np.random.default_rng(8)
    ours = M.R2Score(num_regressors=2, class_aggregation=aggregation)
    theirs = keras.metrics.R2Score(num_regressors=2, class_aggregation=aggregation)
    plain = M.R2Score(num_regressors=0, class_aggregation=aggregation)
    for b in (8, 6, 10):
        y = r.normal(size=(b, 3)).astype("float32")
        p = (y + 0.5 * r.normal(size=(b, 3))).astype("float32")
        w = r.uniform(0.2, 2.0, (b, 1)).astype("float32")
        ours.update_state(y, p, w)
        plain.update_state(y, p, w)
        theirs.update_state(y, p, sample_weight=w)
    got, want = _np(ours.result()), np.asarray(theirs.result())
    assert got.shape == want.shape
    # num_regressors=2 must change the result (adjusted R²)
    assert np.all(np.abs(got - _np(plain.result())) > 1e-4)
    assert_close(f"R2Score adjusted {aggregation}", got, want, "float32", "forward")


# ---------------------------------------------------------------------------------------------
# 2. random: truncated_normal, randint, shuffle
# ---------------------------------------------------------------------------------------------


def _draws(name: str):
    x = np.arange(60, dtype="float32").reshape(6, 10)
    return {
        "truncated_normal": lambda: dl.random.truncated_normal((50, 7), 1.0, 3.0, seed=42),
        "randint": lambda: dl.random.randint((50, 7), -3, 9, seed=42),
        "shuffle": lambda: dl.random.shuffle(x, axis=1, seed=42),
    }[name]


@need_backends("torch", "tensorflow")
@pytest.mark.parametrize("name", ["truncated_normal", "randint", "shuffle"])
def test_random_same_seed_bit_identical_across_backends(name):
    outs = {}
    for b in ("torch", "tensorflow"):
        with dl.use_backend(b):
            outs[b] = _np(_draws(name)())
            again = _np(_draws(name)())
            np.testing.assert_array_equal(outs[b], again)  # the same seed, the same numbers
    assert outs["torch"].dtype == outs["tensorflow"].dtype
    np.testing.assert_array_equal(outs["torch"], outs["tensorflow"])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("truncated_normal", {"shape": (3, 5)}),
        ("truncated_normal", {"shape": (4,), "dtype": "float64"}),
        ("truncated_normal", {"shape": (2, 2, 3), "dtype": "float16"}),
        ("randint", {"shape": (3, 5), "minval": 0, "maxval": 4}),
        ("randint", {"shape": (6,), "minval": -2, "maxval": 2, "dtype": "int64"}),
    ],
)
def test_random_shape_dtype_match_keras(backend, name, kwargs):
    keras = _keras()
    got = _np(getattr(dl.random, name)(seed=1, **kwargs))
    want = np.asarray(getattr(keras.random, name)(seed=1, **kwargs))
    assert got.shape == want.shape
    assert got.dtype == want.dtype


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64", "float64"])
def test_shuffle_shape_dtype_match_keras(backend, dtype):
    keras = _keras()
    x = np.arange(24).reshape(4, 6).astype(dtype)
    for axis in (0, 1):
        got = _np(dl.random.shuffle(x, axis=axis, seed=3))
        want = np.asarray(keras.random.shuffle(x, axis=axis, seed=3))
        assert got.shape == want.shape
        assert got.dtype == want.dtype


def test_truncated_normal_distribution(backend):
    mean, std, n = 3.0, 2.0, 100_000
    v = _np(dl.random.truncated_normal((n,), mean, std, dtype="float64", seed=9))
    assert v.shape == (n,)
    assert v.min() >= mean - 2 * std and v.max() <= mean + 2 * std
    # truncation at ±2σ: mean unchanged (symmetric), variance factor 1 − 2·φ(2)/(Φ(2) − Φ(−2))
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    theo_std = std * math.sqrt(1 - 2 * 2 * phi2 / mass)
    assert abs(v.mean() - mean) <= 0.01 * mean
    assert abs(v.std() - theo_std) <= 0.01 * theo_std
    # ... and it is not the untruncated normal (whose std is 2.0, 13% above)
    assert abs(v.std() - std) > 0.05 * std


def test_randint_range_and_coverage(backend):
    v = _np(dl.random.randint((20_000,), -4, 7, seed=5))
    assert v.min() >= -4 and v.max() < 7
    assert set(np.unique(v).tolist()) == set(range(-4, 7))
    counts = np.bincount(v + 4)
    assert counts.min() > 0.8 * 20_000 / 11  # roughly uniform


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_shuffle_is_a_permutation_along_axis(backend, axis):
    x = np.arange(3 * 5 * 7, dtype="float32").reshape(3, 5, 7)
    got = _np(dl.random.shuffle(x, axis=axis, seed=17))
    assert got.shape == x.shape
    ax = axis % 3
    # one permutation of the slices along `axis`, each slice intact
    moved, ref = np.moveaxis(got, ax, 0), np.moveaxis(x, ax, 0)
    idx = [int(np.flatnonzero((ref == s).all(axis=tuple(range(1, 3))))[0]) for s in moved]
    assert sorted(idx) == list(range(x.shape[ax]))
    # a non-trivial permutation for a long enough axis (seeded; checked once)
    if x.shape[ax] >= 5:
        assert idx != list(range(x.shape[ax]))


# ---------------------------------------------------------------------------------------------
# 3. fit(validation_batch_size=k)
# ---------------------------------------------------------------------------------------------


def _batch_centered_model() -> dl.Model:
    """Outputs depend on the batch (each batch is centered), so the batch size matters."""
    dl.set_random_seed(3)
    m = dl.Sequential([
        dl.Input((4,)),
        dl.layers.Lambda(lambda t: t - dl.ops.mean(t, axis=0, keepdims=True)),
        dl.layers.Dense(5, activation="tanh"),
        dl.layers.Dense(1),
    ])  # fmt: skip
    m.compile(dl.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return m


class _Record(dl.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights: list[list[np.ndarray]] = []
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])
        self.logs.append(dict(logs or {}))


@pytest.mark.parametrize("k", [3, 7])
def test_fit_validation_batch_size_equals_evaluate(backend, k):
    r = np.random.default_rng(1)
    x = r.normal(size=(24, 4)).astype("float32") + 2.0
    y = r.normal(size=(24, 1)).astype("float32")
    xv = r.normal(size=(17, 4)).astype("float32") * 2 + 1.0
    yv = r.normal(size=(17, 1)).astype("float32")
    m = _batch_centered_model()
    rec = _Record()
    dl.set_random_seed(7)
    h = m.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        validation_data=(xv, yv),
        validation_batch_size=k,
        callbacks=[rec],
        verbose=0,
        shuffle=False,
    )
    twin = _batch_centered_model()
    for epoch in range(2):
        twin.set_weights(rec.weights[epoch])
        ev = twin.evaluate(xv, yv, batch_size=k, verbose=0, return_dict=True)
        other = twin.evaluate(xv, yv, batch_size=17, verbose=0, return_dict=True)
        # the batch size changes the answer, so the check below sees which one fit used
        assert abs(other["loss"] - ev["loss"]) > 1e-4 * abs(ev["loss"])
        for key in ("loss", "mae"):
            assert_close(
                f"val_{key} epoch {epoch} k={k}",
                h.history[f"val_{key}"][epoch],
                ev[key],
                "float32",
                "forward",
            )
            assert rec.logs[epoch][f"val_{key}"] == h.history[f"val_{key}"][epoch]


# ---------------------------------------------------------------------------------------------
# 4. save_model / load_model
# ---------------------------------------------------------------------------------------------


def test_save_model_load_model_round_trip(backend, tmp_path):
    assert hasattr(dl.saving, "save_model") and hasattr(dl.saving, "load_model")
    dl.set_random_seed(2)
    m = dl.Sequential([
        dl.Input((4,)), dl.layers.Dense(6, activation="relu"), dl.layers.Dense(3)
    ])  # fmt: skip
    m.compile(dl.optimizers.Adam(0.01), "mse")
    r = np.random.default_rng(4)
    x = r.normal(size=(10, 4)).astype("float32")
    m.fit(x, r.normal(size=(10, 3)).astype("float32"), epochs=1, verbose=0)
    path = tmp_path / "model.dlm"
    dl.saving.save_model(m, str(path))
    loaded = dl.saving.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the other backend reads the same file to the same predictions (within float32 forward)
    for other in BACKENDS:
        if other != backend:
            with dl.use_backend(other):
                again = dl.saving.load_model(str(path))
                assert_close(
                    f"load on {other}",
                    again.predict(x, verbose=0),
                    m.predict(x, verbose=0),
                    "float32",
                    "forward",
                )
