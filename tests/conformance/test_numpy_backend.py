"""The numpy reference backend (backends/duallearn_numpy): a real plugin, float64, that trains
the same trajectories as the native backends and is never in the default backend lists."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn import config
from duallearn.errors import BackendError
from duallearn.testing import _reference as ref
from duallearn.testing._tolerances import assert_close

NATIVE = dl.available_backends()


@pytest.fixture(autouse=True)
def _float64_deterministic():
    config.set_floatx("float64")
    config.set_deterministic(True)
    yield


def _data(n: int = 24, shape: tuple[int, ...] = (5,), out: int = 3):
    rng = np.random.default_rng(7)
    return rng.normal(size=(n, *shape)), rng.normal(size=(n, out))


def _mlp(backend: str, optimizer: str):
    dl.set_random_seed(11)
    model = dl.Sequential(
        [
            dl.Input((5,)),
            dl.layers.Dense(8, activation="relu"),
            dl.layers.Dropout(0.25),
            dl.layers.BatchNormalization(),
            dl.layers.Dense(3),
        ],
        backend=backend,
    )
    opt = dl.optimizers.SGD(0.05, momentum=0.9) if optimizer == "sgd" else dl.optimizers.Adam(0.01)
    model.compile(optimizer=opt, loss="mse", metrics=["mae"])
    return model


def _cnn(backend: str):
    dl.set_random_seed(5)
    model = dl.Sequential(
        [
            dl.Input((6, 6, 2)),
            dl.layers.Conv2D(3, 3, padding="same", activation="relu"),
            dl.layers.Flatten(),
            dl.layers.Dense(3),
        ],
        backend=backend,
    )
    model.compile(optimizer=dl.optimizers.Adam(0.01), loss="mse")
    return model


# ---- registration ---------------------------------------------------------------------------
def test_reference_backend_is_listed_only_when_asked():
    assert "numpy" not in dl.available_backends()
    assert "numpy" in dl.available_backends(include_reference=True)
    assert "numpy" in dl.plugin.registered_backends()
    assert dl.plugin.backend_name() != "numpy"  # never the default
    with dl.use_backend("numpy") as backend:
        assert backend.name == "numpy" and backend.reference is True
        assert dl.plugin.backend_name() == "numpy"
        x, _ = _data()
        model = dl.Sequential([dl.Input((5,)), dl.layers.Dense(2)])
        assert model.backend_name == "numpy"
        assert model.predict(x, verbose=0).shape == (24, 2)


# ---- training parity ----------------------------------------------------------------------
@pytest.mark.parametrize("other", NATIVE)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_trains_like_native_backends(other, optimizer):
    x, y = _data()
    runs = {}
    for b in ("numpy", other):
        model = _mlp(b, optimizer)
        hist = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        runs[b] = (model.get_weights(), model.predict(x, verbose=0), hist.history, model)
    for i, (a, c) in enumerate(zip(runs["numpy"][0], runs[other][0], strict=True)):
        assert_close(f"weight {i} numpy vs {other}", a, c, "float64", "params_10")
    assert_close(
        f"predict numpy vs {other}", runs["numpy"][1], runs[other][1], "float64", "forward"
    )
    for key in ("loss", "mae"):
        assert_close(key, runs["numpy"][2][key], runs[other][2][key], "float64", "loss")
    ev = [m.evaluate(x, y, verbose=0) for m in (runs["numpy"][3], runs[other][3])]
    assert_close("evaluate", ev[0], ev[1], "float64", "loss")


@pytest.mark.parametrize("other", NATIVE)
def test_conv_model_trains_like_native_backends(other):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 6, 6, 2)), rng.normal(size=(8, 3))
    out = {}
    for b in ("numpy", other):
        model = _cnn(b)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        out[b] = (model.get_weights(), model.predict(x, verbose=0))
    for i, (a, c) in enumerate(zip(out["numpy"][0], out[other][0], strict=True)):
        assert_close(f"conv weight {i}", a, c, "float64", "params_10")
    assert_close("conv predict", out["numpy"][1], out[other][1], "float64", "forward")


def test_fast_mode_dropout_is_seeded_by_the_step():
    config.set_deterministic(False)
    x, y = _data()
    weights = []
    for _ in range(2):
        model = _mlp("numpy", "sgd")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- gradients against the oracle --------------------------------------------------------------
def test_gradients_equal_the_numpy_oracle():
    x, y = _data()
    model = _mlp("numpy", "adam")
    w = model.get_weights()
    loss = dl.losses.get("mse")
    model._ensure_train_spec([y])
    runtime = model._get_runtime()
    got_loss, got = runtime.gradients([x], [y], [None], training=False)
    want_loss, want = ref.loss_and_grads(model, w, [x], [y], [loss], training=False)
    assert_close("loss", got_loss, want_loss, "float64", "loss")
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert_close(f"gradient {i}", a, b, "float64", "gradient")
    # the VJP of the outputs, training mode with a fixed dropout mask
    noise = {1: (np.random.default_rng(0).random((24, 8)) > 0.25) / 0.75}
    dy = np.random.default_rng(1).normal(size=(24, 3))
    dx, dw = runtime.input_gradients([x], [dy], True, dl.plugin.StepNoise(masks=noise))
    rdx, rdw = ref.backward(model, model.get_weights(), [x], [dy], True, noise)
    assert_close("dx", dx[0], rdx[0], "float64", "gradient")
    for i, (a, b) in enumerate(zip(dw, rdw, strict=True)):
        assert_close(f"vjp weight {i}", a, b, "float64", "gradient")


# ---- variables, saving ---------------------------------------------------------------------
def test_shared_layer_shares_storage():
    x, y = _data()
    with dl.use_backend("numpy"):
        dense = dl.layers.Dense(3)
        inp = dl.Input((5,))
        a = dl.Model(inp, dense(inp))
        inp2 = dl.Input((5,))
        b = dl.Model(inp2, dl.layers.Activation("tanh")(dense(inp2)))
    a.compile(optimizer=dl.optimizers.SGD(0.1), loss="mse")
    before = b.predict(x, verbose=0)
    holders_a = a._get_runtime().native
    holders_b = b._get_runtime().native
    assert all(h1 is h2 for h1, h2 in zip(holders_a, holders_b, strict=True))
    a.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = b.predict(x, verbose=0)
    assert not np.array_equal(before, after)  # the shared kernel moved ...
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    k, bias = a.get_weights()  # ... and b computes with exactly a's new weights
    assert_close("b after a's fit", after, np.tanh(x @ k + bias), "float32", "layer")


def test_save_load_round_trip(tmp_path):
    x, y = _data()
    model = _mlp("numpy", "adam")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "m.dlm")
    model.save(path)
    loaded = dl.load_model(path, backend="numpy")
    assert loaded.backend_name == "numpy"
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    state, state2 = (m._get_runtime().optimizer_state() for m in (model, loaded))
    assert sorted(state) == sorted(state2)
    # training continues identically after the round trip
    for m in (model, loaded):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert_close("resumed", a, b, "float64", "params_10")


@pytest.mark.parametrize("other", NATIVE)
def test_file_from_native_backend_loads_on_numpy(tmp_path, other):
    x, y = _data()
    model = _mlp(other, "adam")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "m.dlm")
    model.save(path)
    loaded = dl.load_model(path, backend="numpy")
    assert_close(
        "predict", loaded.predict(x, verbose=0), model.predict(x, verbose=0), "float64", "forward"
    )


# ---- errors ----------------------------------------------------------------------------------
def test_mixed_precision_and_devices_are_clear_errors():
    model = _mlp("numpy", "sgd")
    runtime = model._get_runtime()
    with pytest.raises(BackendError, match="float64 only"):
        runtime.set_precision("float16", True)
    with pytest.raises(BackendError, match="CPU only"):
        runtime.to_device("cuda:0")
    runtime.to_device("cpu")
    runtime.set_precision(None)
    with pytest.raises(BackendError, match="CPU only"):
        dl.plugin.get_backend("numpy").build(model.graph.spec("float64"), "cuda:0")
    assert dl.plugin.get_backend("numpy").devices() == ["cpu"]


def test_layer_without_reference_is_a_clear_error():
    class NoRef(dl.layers.Layer):
        pass

    from duallearn_numpy._runtime import _check_layer

    with pytest.raises(BackendError, match="NoRef"):
        _check_layer(NoRef())
