"""The object model (ARCHITECTURE.md, contract 7): a layer owns its variables, one native
storage per backend, shared by every model, runtime and eager call containing the layer.

Each scenario is run on every backend beside real Keras 3 (in-process, as in
``test_keras_oracle.py``) as the oracle: the same graph is built with the same code on
``dl`` and on ``keras``, our initial weights are copied into Keras (``set_weights``, same
layout), both train on the same batches (``shuffle=False``), and the results are compared
with the float32 tolerance table. A runtime that kept its own copy of the weights (per model)
fails these tests: the other models containing the layer would not see the training.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import BackendError, ConfigError, ShapeError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

F32 = "float32"
BATCH = 8


# ---- helpers ---------------------------------------------------------------------------------
def _data(n: int, shapes: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, d)).astype(F32) for d in shapes]


def _fit(model: Any, x: Any, y: Any, epochs: int = 2) -> Any:
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)


def _pred(model: Any, x: Any) -> Any:
    return model.predict(x, verbose=0)


def _close(label: str, ours: Any, theirs: Any, kind: str = "params_10") -> None:
    """Lists of arrays (or one array) equal within the float32 table."""
    if isinstance(ours, (list, tuple)):
        theirs = list(theirs)
        assert len(ours) == len(theirs), f"{label}: {len(ours)} arrays vs {len(theirs)}"
        assert [np.shape(a) for a in ours] == [tuple(np.shape(b)) for b in theirs], label
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(f"{label} [{i}]", a, np.asarray(b), F32, kind)
    else:
        assert_close(label, ours, np.asarray(theirs), F32, kind)


def _moved(label: str, after: np.ndarray, before: np.ndarray, at_least: float = 1e-4) -> None:
    diff = float(np.max(np.abs(np.asarray(after) - np.asarray(before))))
    assert diff > at_least, f"{label}: did not change (max |diff| {diff:.2e})"


def _others(backend: str) -> list[str]:
    return [b for b in BACKENDS if b != backend]


def _sgd(lib: Any, momentum: float = 0.0) -> Any:
    return lib.optimizers.SGD(0.1, momentum=momentum)


def _adam(lib: Any) -> Any:
    return lib.optimizers.Adam(0.02)


def _check_save_load(
    model: Any,
    x: Any,
    y: Any,
    tmp_path: Any,
    backend: str,
    before_continue: Callable[[Any], None] | None = None,
) -> None:
    """Contract 7 + 3: the saved file gives the same predictions and, continuing ``fit``, the
    same weights as the original, on this backend and on every other one."""
    path = str(tmp_path / f"{model.name}.dlm")
    model.save(path)
    expected = _pred(model, x)
    loaded = {backend: dl.load_model(path)}
    for other in _others(backend):
        loaded[other] = dl.load_model(path, backend=other)
    for where, m in loaded.items():
        assert m.backend_name == where
        got = _pred(m, x)
        if where == backend:  # same engine, same weights, same kernels: identical
            for a, b in zip(_as_list(got), _as_list(expected), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"loaded on {where}: predictions")
        else:
            _close(f"loaded on {where}: predictions", _as_list(got), _as_list(expected), "forward")
        assert [w.shape for w in m.weights] == [w.shape for w in model.weights]
    if before_continue is not None:
        before_continue(model)
    _fit(model, x, y, epochs=1)
    for where, m in loaded.items():
        _fit(m, x, y, epochs=1)
        _close(
            f"continued fit, loaded on {where} vs original on {backend}",
            m.get_weights(),
            model.get_weights(),
        )


def _as_list(a: Any) -> list[np.ndarray]:
    return list(a) if isinstance(a, (list, tuple)) else [a]


# ---- 1. shared layers across functional models -----------------------------------------------
def _autoencoder(lib: Any) -> tuple[Any, Any]:
    L = lib.layers
    x = lib.Input((6,))
    h = L.Dense(3, activation="tanh", name="enc")(x)
    ae = lib.Model(x, L.Dense(6, name="dec")(h), name="ae")
    encoder = lib.Model(x, h, name="encoder")
    return ae, encoder


def _trained_autoencoder() -> tuple[Any, Any, Any, Any, np.ndarray, np.ndarray]:
    dl.set_random_seed(11)
    (x,) = _data(24, [6])
    ae, encoder = _autoencoder(dl)
    kae, kenc = _autoencoder(keras)
    kae.set_weights(ae.get_weights())
    # the encoder's runtime exists (its native storage is bound) before the autoencoder trains
    before = _pred(encoder, x)
    ae.compile(optimizer=_sgd(dl, 0.9), loss="mse")
    kae.compile(optimizer=_sgd(keras, 0.9), loss="mse")
    _fit(ae, x, x)
    _fit(kae, x, x)
    return ae, encoder, kae, kenc, x, before


def test_shared_layer_autoencoder_encoder_sees_training(backend):
    ae, encoder, kae, kenc, x, before = _trained_autoencoder()
    assert len(encoder.weights) == 2 and len(ae.weights) == 4
    assert encoder.weights[0] is ae.get_layer("enc").kernel  # one variable, not a copy
    after = _pred(encoder, x)
    _moved("encoder predictions after ae.fit", after, before)
    _close("encoder.get_weights() vs Keras", encoder.get_weights(), kenc.get_weights())
    _close("encoder.predict vs Keras", after, _pred(kenc, x), "forward")
    _close("ae.get_weights() vs Keras", ae.get_weights(), kae.get_weights())
    for a, b in zip(encoder.get_weights(), ae.get_weights()[:2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_shared_layer_autoencoder_save_load(backend, tmp_path):
    ae, encoder, _, _, x, _ = _trained_autoencoder()
    _check_save_load(ae, x, x, tmp_path, backend)
    # the original encoder still shares the original ae's (continued) weights
    np.testing.assert_array_equal(encoder.get_weights()[0], ae.get_weights()[0])


# ---- 2. a layer called eagerly, then trained in a model --------------------------------------
def test_eager_layer_then_trained_in_sequential(backend):
    dl.set_random_seed(2)
    x, y = _data(16, [4, 3])
    d = dl.layers.Dense(3, activation="tanh", name="eager_dense")
    y0 = d(x)
    assert isinstance(y0, np.ndarray) and y0.shape == (16, 3)
    kd = keras.layers.Dense(3, activation="tanh", name="eager_dense")
    kd(x)
    kd.set_weights(d.get_weights())
    _close("eager call vs Keras before training", y0, kd(x), "forward")
    m = dl.Sequential([dl.Input((4,)), d])
    km = keras.Sequential([keras.Input((4,)), kd])
    m.compile(optimizer=_sgd(dl), loss="mse")
    km.compile(optimizer=_sgd(keras), loss="mse")
    _fit(m, x, y)
    _fit(km, x, y)
    _moved("d(x) after training", d(x), y0)
    _close("d.get_weights() vs Keras", d.get_weights(), kd.get_weights())
    _close("d(x) after fit vs Keras", d(x), kd(x), "forward")
    # the same storage (a compiled predict and an eager call may round differently: 1 ulp)
    _close("d(x) vs the model's predict", d(x), _pred(m, x), "layer")


# ---- 3. nested models ------------------------------------------------------------------------
def _nested(lib: Any) -> tuple[Any, Any, Any]:
    """A Sequential inside a Sequential, and a functional model that uses a Sequential as a
    layer *and* one of that Sequential's layers directly (each variable counted once)."""
    L = lib.layers
    inner = lib.Sequential(
        [lib.Input((5,)), L.Dense(4, activation="tanh", name="in1"), L.Dense(3, name="in2")],
        name="inner",
    )
    seq = lib.Sequential([lib.Input((5,)), inner, L.Dense(2, name="seq_top")], name="outer_seq")
    x = lib.Input((5,))
    cat = L.Concatenate(name="cat")([inner(x), inner.get_layer("in1")(x)])
    func = lib.Model(x, L.Dense(2, name="func_top")(cat), name="outer_func")
    return inner, seq, func


def test_nested_models_share_weights_and_count_each_once(backend):
    dl.set_random_seed(3)
    x, y = _data(16, [5, 2])
    inner, seq, func = _nested(dl)
    kinner, kseq, kfunc = _nested(keras)
    for ours, theirs in [(inner, kinner), (seq, kseq), (func, kfunc)]:
        assert len(ours.weights) == len(theirs.weights), ours.name
        assert [w.shape for w in ours.get_weights()] == [
            tuple(w.shape) for w in theirs.get_weights()
        ], ours.name
    assert len(inner.weights) == 4 and len(seq.weights) == 6 and len(func.weights) == 6
    assert len({id(w) for w in func.weights}) == len(func.weights)
    assert all(a is b for a, b in zip(func.weights[:4], inner.weights, strict=True))
    kinner.set_weights(inner.get_weights())
    kseq.set_weights(seq.get_weights())
    kfunc.set_weights(func.get_weights())
    inner_before = _pred(inner, x)
    # train the Sequential-in-Sequential, then the functional one: the inner model is the
    # same storage for both, so the second starts where the first ended (Keras the same)
    for ours, theirs in [(seq, kseq), (func, kfunc)]:
        ours.compile(optimizer=_sgd(dl, 0.9), loss="mse")
        theirs.compile(optimizer=_sgd(keras, 0.9), loss="mse")
        _fit(ours, x, y)
        _fit(theirs, x, y)
        _close(f"{ours.name} weights vs Keras", ours.get_weights(), theirs.get_weights())
    _moved("inner predictions after outer fits", _pred(inner, x), inner_before)
    _close("inner weights vs Keras", inner.get_weights(), kinner.get_weights())
    _close("inner predictions vs Keras", _pred(inner, x), _pred(kinner, x), "forward")
    for a, b in zip(seq.get_weights()[:4], inner.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---- 4. siamese towers -----------------------------------------------------------------------
def _siamese(lib: Any, tower_kind: str) -> Any:
    L = lib.layers
    if tower_kind == "dense":
        tower = L.Dense(4, activation="tanh", name="tower")
    else:
        tower = lib.Sequential(
            [lib.Input((5,)), L.Dense(4, activation="tanh", name="tower_d")], name="tower"
        )
    a, b = lib.Input((5,), name="a"), lib.Input((5,), name="b")
    ta, tb = tower(a), tower(b)
    merged = L.Concatenate(name="merge")([ta, tb, L.Subtract(name="diff")([ta, tb])])
    return lib.Model([a, b], L.Dense(1, name="score")(merged), name="siamese")


def _trained_siamese(tower_kind: str) -> tuple[Any, Any, list[np.ndarray], np.ndarray]:
    dl.set_random_seed(4)
    xa, xb, y = _data(24, [5, 5, 1])
    m, km = _siamese(dl, tower_kind), _siamese(keras, tower_kind)
    assert len(m.weights) == len(km.weights) == 4  # one tower, one set of weights
    km.set_weights(m.get_weights())
    m.compile(optimizer=_adam(dl), loss="mse")
    km.compile(optimizer=_adam(keras), loss="mse")
    _fit(m, [xa, xb], y)
    _fit(km, [xa, xb], y)
    return m, km, [xa, xb], y


@pytest.mark.parametrize("tower_kind", ["dense", "sequential"])
def test_siamese_tower_gradients_summed(backend, tower_kind):
    m, km, xs, _ = _trained_siamese(tower_kind)
    _close(f"siamese ({tower_kind}) weights vs Keras", m.get_weights(), km.get_weights())
    _close("siamese predictions vs Keras", _pred(m, xs), _pred(km, xs), "forward")


def test_siamese_save_load(backend, tmp_path):
    m, _, xs, y = _trained_siamese("dense")
    _check_save_load(m, xs, y, tmp_path, backend)


# ---- 5. feature extractor --------------------------------------------------------------------
def _mlp(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential(
        [lib.Input((4,)), L.Dense(6, activation="relu", name="h"), L.Dense(2, name="out")],
        name="mlp",
    )


def test_feature_extractor_sees_trained_weights(backend):
    dl.set_random_seed(5)
    x, y = _data(16, [4, 2])
    m, km = _mlp(dl), _mlp(keras)
    km.set_weights(m.get_weights())
    early = dl.Model(m.inputs, m.get_layer("h").output)
    kfeat = keras.Model(km.inputs, km.get_layer("h").output)
    before = _pred(early, x)  # built before training
    _close("features vs Keras before training", before, _pred(kfeat, x), "forward")
    m.compile(optimizer=_sgd(dl, 0.9), loss="mse")
    km.compile(optimizer=_sgd(keras, 0.9), loss="mse")
    _fit(m, x, y)
    _fit(km, x, y)
    late = dl.Model(m.inputs, m.get_layer("h").output)  # built after training
    _moved("features after training", _pred(early, x), before)
    _close("early extractor vs Keras", _pred(early, x), _pred(kfeat, x), "forward")
    np.testing.assert_array_equal(_pred(early, x), _pred(late, x))
    _close("extractor weights vs Keras", early.get_weights(), kfeat.get_weights())
    assert len(early.weights) == 2


# ---- 6. freezing and unfreezing --------------------------------------------------------------
def _base_head(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential(
        [lib.Input((4,)), L.Dense(5, activation="tanh", name="base"), L.Dense(2, name="head")],
        name="base_head",
    )


def _pair() -> tuple[Any, Any, np.ndarray, np.ndarray]:
    dl.set_random_seed(6)
    x, y = _data(16, [4, 2])
    m, km = _base_head(dl), _base_head(keras)
    km.set_weights(m.get_weights())
    return m, km, x, y


def _freeze_recompile_new_optimizer() -> tuple[Any, Any, np.ndarray, np.ndarray, list]:
    m, km, x, y = _pair()
    m.compile(optimizer=_adam(dl), loss="mse")
    km.compile(optimizer=_adam(keras), loss="mse")
    _fit(m, x, y, 1)
    _fit(km, x, y, 1)
    frozen = m.get_layer("base").get_weights()
    m.get_layer("base").trainable = False
    km.get_layer("base").trainable = False
    m.compile(optimizer=_sgd(dl, 0.9), loss="mse")
    km.compile(optimizer=_sgd(keras, 0.9), loss="mse")
    _fit(m, x, y)
    _fit(km, x, y)
    return m, km, x, y, frozen


def test_freeze_then_recompile_with_new_optimizer(backend):
    m, km, x, y, frozen = _freeze_recompile_new_optimizer()
    for a, b in zip(m.get_layer("base").get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="frozen base moved")
    _close("weights vs Keras after freeze + new optimizer", m.get_weights(), km.get_weights())
    assert len(m.trainable_weights) == len(km.trainable_weights) == 2


def test_freeze_then_recompile_save_load(backend, tmp_path):
    m, _, x, y, frozen = _freeze_recompile_new_optimizer()
    _check_save_load(m, x, y, tmp_path, backend)
    for a, b in zip(m.get_layer("base").get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b)
    assert dl.load_model(str(tmp_path / "base_head.dlm")).get_layer("base").trainable is False


def test_freeze_then_recompile_with_same_optimizer_keeps_slots(backend):
    m, km, x, y = _pair()
    opt, kopt = _adam(dl), _adam(keras)
    m.compile(optimizer=opt, loss="mse")
    km.compile(optimizer=kopt, loss="mse")
    _fit(m, x, y, 1)
    _fit(km, x, y, 1)
    frozen = m.get_layer("base").get_weights()
    m.get_layer("base").trainable = False
    km.get_layer("base").trainable = False
    m.compile(optimizer=opt, loss="mse")
    km.compile(optimizer=kopt, loss="mse")
    _fit(m, x, y)
    _fit(km, x, y)
    assert int(opt.iterations) == int(kopt.iterations) == 6
    for a, b in zip(m.get_layer("base").get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b)
    # Adam's moments and step count of the head carried over: a fresh optimizer (or slots
    # re-keyed by position: the head's would become the base's) would end elsewhere
    _close("weights vs Keras after freeze + same Adam", m.get_weights(), km.get_weights())


def _freeze_without_recompile() -> tuple[Any, Any, np.ndarray, np.ndarray, list]:
    m, km, x, y = _pair()
    m.compile(optimizer=_adam(dl), loss="mse")
    km.compile(optimizer=_adam(keras), loss="mse")
    _fit(m, x, y, 1)
    _fit(km, x, y, 1)
    before = m.get_layer("base").get_weights()
    m.get_layer("base").trainable = False
    km.get_layer("base").trainable = False
    with pytest.warns(UserWarning, match="trainable flags changed since compile"):
        _fit(m, x, y, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whatever Keras says about it is not under test
        _fit(km, x, y, 1)
    return m, km, x, y, before


def test_freeze_without_recompile_warns_and_trains_compiled_set(backend):
    m, km, x, y, before = _freeze_without_recompile()
    # Keras's documented rule: a trainable change takes effect at the next compile(). Keras's
    # own behaviour here differs by backend (torch-Keras applies it at once, TF-Keras when the
    # train function is retraced, i.e. after compile); we follow the documented rule, so the
    # compiled set, base included, still trains.
    _moved(
        "base kernel (compiled set still trains)", m.get_layer("base").get_weights()[0], before[0]
    )
    if keras.backend.backend() == "tensorflow":  # the Keras that matches the documented rule
        _close("weights vs TF-Keras after freeze w/o recompile", m.get_weights(), km.get_weights())
    # the warning is given once per compile: fitting again is silent (filterwarnings=error)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _fit(m, x, y, 1)
    assert not [w for w in seen if "trainable" in str(w.message)]
    # recompiling applies the change
    frozen = m.get_layer("base").get_weights()
    m.compile(optimizer=_sgd(dl), loss="mse")
    _fit(m, x, y, 1)
    for a, b in zip(m.get_layer("base").get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b)


def test_freeze_without_recompile_save_load(backend, tmp_path):
    m, _, x, y, _ = _freeze_without_recompile()

    # The file holds the flags (base frozen) and Adam's slots for every variable; a loaded
    # model compiles from the file, so it trains the head only, with the head's slots and the
    # step count. The original does the same once it applies the change: compile() with the
    # same optimizer (the slots of the remaining variables are kept).
    def apply_flags(model: Any) -> None:
        model.compile(optimizer=model.optimizer, loss="mse")

    _check_save_load(m, x, y, tmp_path, backend, before_continue=apply_flags)
    assert dl.load_model(str(tmp_path / "base_head.dlm")).get_layer("base").trainable is False


def test_unfreeze_with_new_optimizer_trains_base(backend):
    m, km, x, y = _pair()
    for model in (m, km):
        model.get_layer("base").trainable = False
    m.compile(optimizer=_sgd(dl, 0.9), loss="mse")
    km.compile(optimizer=_sgd(keras, 0.9), loss="mse")
    start = m.get_layer("base").get_weights()
    _fit(m, x, y, 1)
    _fit(km, x, y, 1)
    for a, b in zip(m.get_layer("base").get_weights(), start, strict=True):
        np.testing.assert_array_equal(a, b)
    for model in (m, km):
        model.get_layer("base").trainable = True
    m.compile(optimizer=_adam(dl), loss="mse")
    km.compile(optimizer=_adam(keras), loss="mse")
    _fit(m, x, y)
    _fit(km, x, y)
    _moved("base kernel after unfreezing", m.get_layer("base").get_weights()[0], start[0])
    _close("weights vs Keras after unfreeze + new optimizer", m.get_weights(), km.get_weights())


def test_unfreeze_with_same_optimizer_is_unknown_variables(backend):
    m, km, x, y = _pair()
    opt, kopt = _sgd(dl), _sgd(keras)
    for model in (m, km):
        model.get_layer("base").trainable = False
    m.compile(optimizer=opt, loss="mse")
    km.compile(optimizer=kopt, loss="mse")
    _fit(m, x, y, 1)
    _fit(km, x, y, 1)
    for model in (m, km):
        model.get_layer("base").trainable = True
    # the oracle: Keras 3 refuses too
    km.compile(optimizer=kopt, loss="mse")
    with pytest.raises(ValueError, match="Unknown variable"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TF-Keras formatting its message
        _fit(km, x, y, 1)
    with pytest.raises(ConfigError, match="Unknown variables") as info:
        m.compile(optimizer=opt, loss="mse")
        _fit(m, x, y, 1)
    assert "base/kernel" in str(info.value)
    assert "head/kernel" not in str(info.value)


def test_one_optimizer_cannot_serve_two_models(backend):
    m1, _, x, y = _pair()
    m2 = _base_head(dl)
    opt = _sgd(dl)
    m1.compile(optimizer=opt, loss="mse")
    _fit(m1, x, y, 1)
    with pytest.raises(ConfigError, match="cannot share it"):
        m2.compile(optimizer=opt, loss="mse")
        _fit(m2, x, y, 1)


def _counted(lib: Any, reuse_inner_layer: bool) -> tuple[Any, Any]:
    L = lib.layers
    inner = lib.Sequential(
        [
            lib.Input((5,)),
            L.Dense(4, name="c_in1"),
            L.BatchNormalization(name="c_bn"),
            L.Dense(3, name="c_in2"),
        ],
        name="c_inner",
    )
    x = lib.Input((5,))
    h = inner(x)
    if reuse_inner_layer:  # one of the nested model's layers also used directly
        h = L.Concatenate(name="c_cat")([h, inner.get_layer("c_in1")(x)])
    return inner, lib.Model(x, L.Dense(2, name="c_top")(h), name="c_outer")


def _names(weights: list[Any]) -> list[str]:
    # Keras 3.x prefixes paths with the enclosing model's name; compare "layer/variable"
    return ["/".join(w.path.split("/")[-2:]) for w in weights]


def _check_lists(state: str, pairs: list[tuple[Any, Any]]) -> None:
    for ours, theirs in pairs:
        for attr in ("weights", "trainable_weights", "non_trainable_weights"):
            a, b = _names(getattr(ours, attr)), _names(getattr(theirs, attr))
            assert len(a) == len(b), f"{state}: {ours.name}.{attr}: {a} vs Keras {b}"
            assert sorted(a) == sorted(b), f"{state}: {ours.name}.{attr}: {a} vs Keras {b}"


def test_trainable_weight_lists_match_keras_in_each_state(backend):
    inner, outer = _counted(dl, reuse_inner_layer=False)
    kinner, kouter = _counted(keras, reuse_inner_layer=False)
    pairs = [(inner, kinner), (outer, kouter)]

    def toggle(name: str, value: bool) -> None:
        for model in (inner, kinner):
            model.get_layer(name).trainable = value

    _check_lists("all trainable", pairs)  # BatchNormalization: 2 trainable, 2 not
    assert len(outer.trainable_weights) == 8 and len(outer.non_trainable_weights) == 2
    inner.trainable = kinner.trainable = False
    _check_lists("nested model frozen", pairs)
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 8
    inner.trainable = kinner.trainable = True
    toggle("c_in1", False)
    _check_lists("one inner layer frozen", pairs)
    assert len(outer.trainable_weights) == 6
    toggle("c_in1", True)
    outer.get_layer("c_top").trainable = kouter.get_layer("c_top").trainable = False
    _check_lists("top frozen", pairs)
    outer.trainable = kouter.trainable = False
    # (what this does to the nested model's own flags: the next test)
    _check_lists("whole model frozen", [(outer, kouter)])
    assert len(outer.trainable_weights) == 0 and len(outer.non_trainable_weights) == 10


def test_freezing_a_model_freezes_its_layers_like_keras(backend):
    """Keras 3: ``model.trainable = value`` sets every sublayer's flag to ``value``, so a
    layer of a frozen nested model is frozen wherever else it is used, and unfreezing the
    model unfreezes a layer frozen on its own before."""
    dl.set_random_seed(10)
    inner, outer = _counted(dl, reuse_inner_layer=True)
    kinner, kouter = _counted(keras, reuse_inner_layer=True)
    pairs = [(inner, kinner), (outer, kouter)]
    _check_lists("all trainable", pairs)
    inner.trainable = kinner.trainable = False
    _check_lists("nested model frozen, one of its layers reused", pairs)
    flags = [layer.trainable for layer in inner.layers]
    assert flags == [layer.trainable for layer in kinner.layers] == [False, False, False]
    # training follows the lists: the reused layer stays put
    x, y = _data(16, [5, 2])
    kouter.set_weights(outer.get_weights())
    outer.compile(optimizer=_sgd(dl), loss="mse")
    kouter.compile(optimizer=_sgd(keras), loss="mse")
    _fit(outer, x, y, 1)
    _fit(kouter, x, y, 1)
    _close("weights vs Keras, nested model frozen", outer.get_weights(), kouter.get_weights())
    inner.get_layer("c_in2").trainable = kinner.get_layer("c_in2").trainable = False
    inner.trainable = kinner.trainable = True
    assert [layer.trainable for layer in inner.layers] == [True, True, True]
    _check_lists("nested model unfrozen", pairs)
    # freezing the outer model freezes the nested one (and its layers) too
    outer.trainable = kouter.trainable = False
    assert inner.trainable is kinner.trainable is False
    _check_lists("outer model frozen", pairs)
    assert inner.trainable_weights == []


# ---- 8. a layer bound to one backend, used by the other --------------------------------------
@both()
@pytest.mark.parametrize("home, other", [("torch", "tensorflow"), ("tensorflow", "torch")])
def test_layer_living_on_one_backend_refused_by_the_other(home, other):
    (x,) = _data(4, [3])
    with dl.use_backend(home):
        d = dl.layers.Dense(2, name="homebound")
        d(x)
    assert d.kernel.backend == home
    with dl.use_backend(other):
        m = dl.Sequential([dl.Input((3,)), d])
        with pytest.raises(BackendError, match=f"lives on the {home} backend"):
            _pred(m, x)
        with pytest.raises(BackendError, match=f"lives on the {home} backend"):
            d(x)
    # the layer still works where it lives, unchanged
    with dl.use_backend(home):
        _close("home backend still serves the layer", d(x), x @ d.kernel.numpy() + d.bias.numpy())


# ---- 9. the Variable API ---------------------------------------------------------------------
def _native_type(backend: str) -> type:
    if backend == "torch":
        import torch

        return torch.Tensor
    import tensorflow as tf

    return tf.Variable


def test_variable_api(backend):
    dl.set_random_seed(9)
    (x,) = _data(6, [4])
    d = dl.layers.Dense(3, name="var_dense")
    m1 = dl.Sequential([dl.Input((4,)), d], name="m1")
    inp = dl.Input((4,))
    m2 = dl.Model(inp, dl.layers.Dense(2, name="other_head")(d(inp)), name="m2")
    k = d.kernel
    assert k.path == "var_dense/kernel" and d.bias.path == "var_dense/bias"
    assert k.shape == (4, 3) and k.dtype == F32 and k.trainable
    assert [w.path for w in m2.weights] == [
        "var_dense/kernel",
        "var_dense/bias",
        "other_head/kernel",
        "other_head/bias",
    ]
    # before any backend built the layer: numpy
    assert k.backend is None and isinstance(k.value, np.ndarray)
    initial = k.numpy()
    k.assign(initial * 2)
    np.testing.assert_array_equal(k.numpy(), initial * 2)
    _pred(m1, x)
    _pred(m2, x)
    assert k.backend == backend
    native = k.value
    assert isinstance(native, _native_type(backend)), type(native)
    # the value set before binding was written into the native storage
    np.testing.assert_array_equal(k.numpy(), initial * 2)
    copy = k.numpy()
    copy += 100.0
    np.testing.assert_array_equal(k.numpy(), initial * 2)  # numpy() is a copy
    # assign on the shared layer's variable: every model containing it sees it
    kernel = np.arange(12, dtype=F32).reshape(4, 3) / 10
    bias = np.array([1.0, -1.0, 0.5], F32)
    k.assign(kernel)
    d.bias.assign(bias)
    assert k.value is native  # assigned in place: one storage
    expected = x @ kernel + bias
    _close("m1 after assign", _pred(m1, x), expected, "layer")
    head = m2.get_layer("other_head")
    _close(
        "m2 after assign",
        _pred(m2, x),
        expected @ head.kernel.numpy() + head.bias.numpy(),
        "layer",
    )
    _close("eager d(x) after assign", d(x), expected, "layer")
    d.bias.assign_add(np.ones(3, F32))
    np.testing.assert_array_equal(d.bias.numpy(), bias + 1)
    _close("m1 after assign_add", _pred(m1, x), expected + 1, "layer")
    np.testing.assert_array_equal(m2.get_weights()[1], bias + 1)
    with pytest.raises(ShapeError, match="has shape"):
        k.assign(np.zeros((3, 4), F32))
    # training through m1 writes the same storage
    m1.compile(optimizer=_sgd(dl), loss="mse")
    _fit(m1, x, np.zeros((6, 3), F32), 1)
    assert k.value is native
    _moved("kernel after m1.fit", k.numpy(), kernel)
    _close("m2 sees m1's training", m2.get_weights()[0], k.numpy(), "layer")
