"""Regularizers, ``add_loss`` and ``losses`` beside real Keras 3 (the oracle).

Standalone values; models with kernel / bias / activity / embeddings / recurrent penalties
built the same way on ``dl`` and ``keras``, our initial weights copied into Keras, both
trained on the same batches (``shuffle=False``): History losses, evaluate and final weights
match within the float32 table, on every backend (the numpy reference included where it
runs the layers). A custom layer calling ``self.add_loss`` trains as in Keras; ``losses``
holds what Keras's does; bad arguments raise DuallearnErrors that name the fix.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import (
    BackendError,
    ConfigError,
    DuallearnError,
    SerializationError,
    ShapeError,
    UnknownNameError,
)
from duallearn.testing import assert_close

from ..conftest import BACKENDS

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

F32 = "float32"
BATCH = 8
WITH_NUMPY = [*BACKENDS, "numpy"]


def _close(label: str, ours: Any, theirs: Any, kind: str = "params_10") -> None:
    """Equal within the float32 table; lists of arrays share one scale (the largest entry:
    a bias that BatchNormalization cancels stays at rounding noise, ~1e-8)."""
    if isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), label
        scale = max((float(np.max(np.abs(np.asarray(b)))) for b in theirs if np.size(b)), default=0)
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(f"{label} [{i}]", a, np.asarray(b), F32, kind, scale=scale)
    else:
        assert_close(label, ours, np.asarray(theirs), F32, kind)


def _kv(t: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(t))


# ---- standalone values ------------------------------------------------------------------------
REGULARIZERS: list[tuple[str, Callable[[Any], Any]]] = [
    ("L1", lambda lib: lib.regularizers.L1(0.3)),
    ("L2", lambda lib: lib.regularizers.L2(0.1)),
    ("L1L2", lambda lib: lib.regularizers.L1L2(l1=0.01, l2=0.02)),
    ("L1L2-l2-only", lambda lib: lib.regularizers.L1L2(l2=0.05)),
    ("Orthogonal-rows", lambda lib: lib.regularizers.OrthogonalRegularizer(0.2)),
    ("Orthogonal-columns", lambda lib: lib.regularizers.OrthogonalRegularizer(0.2, "columns")),
]


@pytest.mark.parametrize(("label", "make"), REGULARIZERS, ids=[r[0] for r in REGULARIZERS])
@pytest.mark.parametrize("where", [*BACKENDS, "numpy_mode"])
def test_regularizer_values_match_keras(label, make, where):
    rng = np.random.default_rng(3)
    shapes = [(5, 4)] if label.startswith("Orthogonal") else [(5, 4), (3, 3, 2, 4), (7,)]
    for shape in shapes:
        x = rng.standard_normal(shape).astype(F32)
        theirs = _kv(make(keras)(keras.ops.convert_to_tensor(x)))
        if where == "numpy_mode":
            with dl.ops.numpy_mode():
                ours = np.asarray(make(dl)(x))
        else:
            with dl.use_backend(where):
                ours = dl.ops.convert_to_numpy(make(dl)(x))
        assert_close(f"{label} {shape} on {where}", ours, theirs, F32, "layer")


@pytest.mark.parametrize(("label", "make"), REGULARIZERS, ids=[r[0] for r in REGULARIZERS])
def test_reference_grad_is_the_gradient(label, make):
    """The numpy gradients the reference backend uses: central differences in float64."""
    reg = make(dl)
    x = np.random.default_rng(4).standard_normal((5, 4))
    grad = reg.reference_grad(x)
    eps, num = 1e-6, np.zeros_like(x)
    with dl.ops.numpy_mode():
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = eps
            num[i] = (float(reg(x + e)) - float(reg(x - e))) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)


def test_names_and_defaults_match_keras():
    for name in ("l1", "l2", "l1l2", "L1L2", "orthogonal_regularizer", "L2"):
        ours, theirs = dl.regularizers.get(name), keras.regularizers.get(name)
        assert type(ours).__name__ == type(theirs).__name__, name
        for k, v in theirs.get_config().items():
            assert np.isclose(ours.get_config()[k], v) if k != "mode" else ours.mode == v, name
    # Keras documents "l1_l2" as L1L2(0.01, 0.01) (Keras 3's get() refuses the name)
    assert dl.regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert dl.regularizers.l1_l2 is dl.regularizers.L1L2
    assert dl.regularizers.get(None) is None
    fn = lambda w: 0.0  # noqa: E731
    assert dl.regularizers.get(fn) is fn
    assert isinstance(dl.regularizers.get(dl.regularizers.L2), dl.regularizers.L2)


def test_serialize_round_trip_and_keras_configs():
    for reg in (
        dl.regularizers.L1(0.2),
        dl.regularizers.L2(0.3),
        dl.regularizers.L1L2(0.1, 0.2),
        dl.regularizers.OrthogonalRegularizer(0.5, "columns"),
    ):
        cfg = dl.regularizers.serialize(reg)
        again = dl.regularizers.deserialize(cfg)
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    # a Keras 3 config dict is understood too
    k = keras.regularizers.serialize(keras.regularizers.L2(0.25))
    assert dl.regularizers.get(k).get_config() == {"l2": 0.25}


def test_bad_input_raises_clear_errors():
    with pytest.raises(UnknownNameError, match="Unknown regularizer: 'nope'.*Expected one of"):
        dl.regularizers.get("nope")
    with pytest.raises(ConfigError, match=r"l2 must be .*non-negative.*Received: l2=-1.*Fix"):
        dl.regularizers.L2(-1)
    with pytest.raises(ConfigError, match=r"Received: l1=nan"):
        dl.regularizers.L1L2(l1=float("nan"))
    with pytest.raises(ConfigError, match="mode must be 'rows' or 'columns'.*Received"):
        dl.regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ShapeError, match="rank-2.*Received a tensor of shape"), dl.ops.numpy_mode():
        dl.regularizers.OrthogonalRegularizer()(np.ones((2, 2, 2)))
    with pytest.raises(SerializationError, match="Fix: subclass dl.regularizers.Regularizer"):
        dl.regularizers.serialize(lambda w: 0.0)
    # a layer names itself and the argument
    with pytest.raises(UnknownNameError, match="Dense: kernel_regularizer: Unknown regularizer"):
        dl.layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ConfigError, match="Conv2D: bias_regularizer: .*Received: l1=-0.5"):
        dl.layers.Conv2D(2, 3, bias_regularizer={"class_name": "L1", "config": {"l1": -0.5}})
    for e in (UnknownNameError, ConfigError, ShapeError, SerializationError):
        assert issubclass(e, DuallearnError) and issubclass(e, ValueError)


# ---- training beside Keras ---------------------------------------------------------------------
def _mlp(lib: Any) -> Any:
    inp = lib.layers.Input((6,))
    h = lib.layers.Dense(
        5,
        activation="tanh",
        kernel_regularizer=lib.regularizers.L2(0.05),
        bias_regularizer=lib.regularizers.L1(0.02),
        activity_regularizer=lib.regularizers.L1L2(0.01, 0.01),
    )(inp)
    out = lib.layers.Dense(2, kernel_regularizer=lib.regularizers.OrthogonalRegularizer(0.05))(h)
    return lib.Model(inp, out)


def _cnn(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((6, 6, 2)),
            lib.layers.Conv2D(
                3,
                3,
                activation="relu",
                kernel_regularizer=lib.regularizers.L2(0.02),
                bias_regularizer=lib.regularizers.L2(0.1),
                activity_regularizer=lib.regularizers.L1(0.001),
            ),
            lib.layers.Flatten(),
            lib.layers.Dense(2, kernel_regularizer=lib.regularizers.L1(0.01)),
        ]
    )


def _embedding(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((4,), dtype="int32"),
            lib.layers.Embedding(
                7,
                3,
                embeddings_regularizer=lib.regularizers.L2(0.05),
                activity_regularizer=lib.regularizers.L2(0.01),
            ),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]
    )


def _norms(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((5,)),
            lib.layers.Dense(4),
            lib.layers.BatchNormalization(
                gamma_regularizer=lib.regularizers.L2(0.1), beta_regularizer="l1"
            ),
            lib.layers.LayerNormalization(gamma_regularizer=lib.regularizers.L1(0.05)),
            lib.layers.Dense(2),
        ]
    )


def _rnn(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((4, 3)),
            lib.layers.GRU(
                4,
                return_sequences=True,
                # (not on the recurrent kernel: its orthogonal init puts the penalty at a
                # kink, |P_ij| ≈ 0, where the gradient's sign is rounding noise)
                kernel_regularizer=lib.regularizers.OrthogonalRegularizer(0.1, "columns"),
                recurrent_regularizer=lib.regularizers.L2(0.03),
                bias_regularizer=lib.regularizers.L1(0.02),
            ),
            lib.layers.LSTM(
                3, recurrent_regularizer=lib.regularizers.L2(0.05), activity_regularizer="l2"
            ),
            lib.layers.Dense(2),
        ]
    )


MODELS = {"mlp": _mlp, "cnn": _cnn, "embedding": _embedding, "norms": _norms, "rnn": _rnn}


def _data(name: str, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    if name == "embedding":
        x = rng.integers(0, 7, (n, 4)).astype("int32")
    elif name == "cnn":
        x = rng.standard_normal((n, 6, 6, 2)).astype(F32)
    elif name == "rnn":
        x = rng.standard_normal((n, 4, 3)).astype(F32)
    else:
        x = rng.standard_normal((n, 6 if name == "mlp" else 5)).astype(F32)
    return x, rng.standard_normal((n, 2)).astype(F32)


def _train_beside_keras(make: Callable[[Any], Any], x: Any, y: Any, backend: str) -> Any:
    """Fit the same model on ``backend`` and in Keras from the same weights; compare."""
    with dl.use_backend(backend):
        ours = make(dl)
        theirs = make(keras)
        theirs.set_weights(ours.get_weights())
        ours.compile(optimizer=dl.optimizers.SGD(0.05, momentum=0.5), loss="mse")
        theirs.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), loss="mse")
        h = ours.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        kh = theirs.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        _close(f"History loss on {backend}", h.history["loss"], kh.history["loss"])
        _close(f"final weights on {backend}", ours.get_weights(), theirs.get_weights())
        ev, kev = ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0)
        _close(f"evaluate on {backend}", ev, kev)
        return ours, theirs


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("backend", WITH_NUMPY)
def test_training_with_regularizers_matches_keras(name, backend):
    x, y = _data(name)
    _train_beside_keras(MODELS[name], x, y, backend)


def test_penalties_change_the_loss():
    """The History loss includes the penalties: it equals compiled loss + penalties."""
    x, y = _data("mlp")
    with dl.use_backend(BACKENDS[0]):
        model = _mlp(dl)
        model.compile(optimizer="sgd", loss="mse")
        total = model.evaluate(x, y, verbose=0, batch_size=len(x))
        plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
        model(x, training=True)  # eager: the layers' losses of this (full-batch) call
        extra = float(np.sum(model.losses))
    assert extra > 1e-3
    assert_close("loss = mse + Σ losses", total, plain + extra, F32, "forward")


# ---- add_loss ------------------------------------------------------------------------------------
class KerasActivityReg(keras.layers.Layer):
    def __init__(self, rate: float = 1e-2, **kw: Any) -> None:
        super().__init__(**kw)
        self.rate = rate

    def call(self, inputs: Any) -> Any:
        self.add_loss(self.rate * keras.ops.sum(inputs))
        return inputs


class DlActivityReg(dl.layers.Layer):
    def __init__(self, rate: float = 1e-2, **kw: Any) -> None:
        super().__init__(**kw)
        self.rate = rate

    def call(self, inputs: Any) -> Any:
        self.add_loss(self.rate * dl.ops.sum(inputs))
        return inputs


class KerasBlock(keras.layers.Layer):
    """A custom layer whose sublayer has an activity regularizer (Keras applies it)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.dense = keras.layers.Dense(3, activity_regularizer=keras.regularizers.L2(0.02))

    def call(self, inputs: Any) -> Any:
        y = self.dense(inputs)
        self.add_loss([0.1 * keras.ops.mean(keras.ops.square(y)), 0.01 * keras.ops.sum(y)])
        return y


class DlBlock(dl.layers.Layer):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.dense = dl.layers.Dense(3, activity_regularizer=dl.regularizers.L2(0.02))

    def call(self, inputs: Any) -> Any:
        y = self.dense(inputs)
        self.add_loss([0.1 * dl.ops.mean(dl.ops.square(y)), 0.01 * dl.ops.sum(y)])
        return y


def _with_custom(lib: Any, reg: type, block: type) -> Any:
    inp = lib.layers.Input((6,))
    h = lib.layers.Dense(4, activation="tanh", kernel_regularizer=lib.regularizers.L2(0.02))(inp)
    h = reg(rate=0.03)(h)
    h = block()(h)
    return lib.Model(inp, lib.layers.Dense(2)(h))


def _custom_model(lib: Any) -> Any:
    if lib is keras:
        return _with_custom(keras, KerasActivityReg, KerasBlock)
    return _with_custom(dl, DlActivityReg, DlBlock)


@pytest.mark.parametrize("backend", BACKENDS)
def test_add_loss_layer_trains_like_keras(backend):
    x, y = _data("mlp")
    _train_beside_keras(_custom_model, x, y, backend)


def test_add_loss_refused_clearly_by_the_numpy_backend():
    with dl.use_backend("numpy"), pytest.raises(BackendError, match="no implementation of.*Fix"):
        _custom_model(dl).predict(_data("mlp")[0], verbose=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_after_an_eager_call_match_keras(backend):
    x, _ = _data("mlp", 8)
    with dl.use_backend(backend):
        ours = _custom_model(dl)
        theirs = _custom_model(keras)
        theirs.set_weights(ours.get_weights())
        # before any call: the weight penalties only (recomputed on access)
        _close("losses before a call", ours.losses, [_kv(t) for t in theirs.losses], "forward")
        ours(x, training=True)
        theirs(x, training=True)
        _close("model.losses", ours.losses, [_kv(t) for t in theirs.losses], "forward")
        block, kblock = ours.layers[3], theirs.layers[3]
        _close("layer.losses", block.losses, [_kv(t) for t in kblock.losses], "forward")
        # an eager layer call replaces that layer's values (Keras: losses of the last call)
        h = np.random.default_rng(1).standard_normal((5, 4)).astype(F32)
        block(h)
        kblock(h)
        _close("after layer(x)", block.losses, [_kv(t) for t in kblock.losses], "forward")
        # the weight penalties follow the weights
        w = [a * 2 for a in ours.get_weights()]
        ours.set_weights(w)
        theirs.set_weights(w)
        _close("after set_weights", ours.losses[-1:], [_kv(theirs.losses[-1])], "forward")


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow not installed")
def test_losses_of_a_compiled_tensorflow_call_say_so():
    x, y = _data("mlp")
    with dl.use_backend("tensorflow"):
        model = _mlp(dl)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        with pytest.raises(BackendError, match="compiled TensorFlow function.*Fix"):
            model.losses  # noqa: B018
        model(x, training=True)  # an eager call gives values again
        assert len(model.losses) == 4  # the activity term, then three weight penalties


def test_add_loss_outside_a_call_is_kept_until_the_next_call():
    layer = DlActivityReg()
    layer.add_loss(np.float32(2.5))
    assert [float(v) for v in layer.losses] == [2.5]
    with dl.use_backend(BACKENDS[0]):
        layer(np.ones((2, 3), F32))
    assert_close("after a call", np.sum(layer.losses), 0.01 * 6, F32, "forward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_model_penalties_count_once_each(backend):
    """A model used as a layer: its layers' penalties join the outer model's loss."""
    x, y = _data("mlp")

    def make(lib: Any) -> Any:
        inner = _mlp(lib)
        inp = lib.layers.Input((6,))
        out = lib.layers.Dense(2, activity_regularizer=lib.regularizers.L1(0.01))(inner(inp))
        return lib.Model(inp, out)

    _train_beside_keras(make, x, y, backend)


def test_numpy_backend_refuses_a_regularizer_without_a_numpy_gradient():
    x, y = _data("mlp")
    with dl.use_backend("numpy"):
        model = dl.Sequential(
            [
                dl.layers.Input((6,)),
                dl.layers.Dense(2, kernel_regularizer=lambda w: 0.1 * dl.ops.sum(w * w)),
            ]
        )
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(BackendError, match="cannot differentiate the regularizer.*Fix"):
            model.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_callable_regularizer_trains_like_keras(backend):
    x, y = _data("mlp")

    def make(lib: Any) -> Any:
        return lib.Sequential(
            [
                lib.layers.Input((6,)),
                lib.layers.Dense(
                    2, kernel_regularizer=lambda w: 0.1 * lib.ops.sum(lib.ops.square(w))
                ),
            ]
        )

    _train_beside_keras(make, x, y, backend)


# ---- configs ------------------------------------------------------------------------------------
LAYERS_WITH_OPTIONS = [
    ("Dense", {"units": 3}, ("kernel", "bias")),
    ("Conv1D", {"filters": 2, "kernel_size": 3}, ("kernel", "bias")),
    ("Conv2D", {"filters": 2, "kernel_size": 3}, ("kernel", "bias")),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3}, ("kernel", "bias")),
    ("DepthwiseConv2D", {"kernel_size": 3}, ("depthwise", "bias")),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3}, ("depthwise", "pointwise", "bias")),
    ("Embedding", {"input_dim": 5, "output_dim": 3}, ("embeddings",)),
    ("BatchNormalization", {}, ("beta", "gamma")),
    ("LayerNormalization", {}, ("beta", "gamma")),
    ("GroupNormalization", {"groups": 2}, ("beta", "gamma")),
    ("SimpleRNN", {"units": 3}, ("kernel", "recurrent", "bias")),
    ("LSTM", {"units": 3}, ("kernel", "recurrent", "bias")),
    ("GRU", {"units": 3}, ("kernel", "recurrent", "bias")),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, ("kernel", "bias")),
]


@pytest.mark.parametrize(
    ("name", "kw", "prefixes"), LAYERS_WITH_OPTIONS, ids=[r[0] for r in LAYERS_WITH_OPTIONS]
)
def test_layer_configs_carry_the_options_as_keras(name, kw, prefixes):
    opts: dict[str, Any] = {"activity_regularizer": "l2"}
    for i, p in enumerate(prefixes):
        opts[f"{p}_regularizer"] = dl.regularizers.L1L2(0.01 * (i + 1), 0.02)
        opts[f"{p}_constraint"] = dl.constraints.MaxNorm(1.5 + i)
    layer = getattr(dl.layers, name)(**kw, **opts)
    cfg = layer.get_config()
    again = type(layer).from_config(cfg)
    assert again.get_config() == cfg
    for p in prefixes:
        assert cfg[f"{p}_regularizer"]["class_name"] == "L1L2"
        assert (
            getattr(again, f"{p}_constraint").get_config() == opts[f"{p}_constraint"].get_config()
        )
    assert cfg["activity_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    # the same option names as Keras 3's config of that layer
    keras_keys = {
        k
        for k in getattr(keras.layers, name)(**kw).get_config()
        if k.endswith(("_regularizer", "_constraint"))
    }
    ours_keys = {k for k in cfg if k.endswith(("_regularizer", "_constraint"))}
    assert ours_keys == keras_keys | {"activity_regularizer"}


def test_the_variables_keep_their_options():
    layer = dl.layers.LSTM(3, recurrent_regularizer="l2", kernel_constraint="non_neg")
    dl.Sequential([dl.layers.Input((2, 4)), layer])
    by_name = {w.name: w for w in layer.weights}
    assert isinstance(by_name["recurrent_kernel"].regularizer, dl.regularizers.L2)
    assert isinstance(by_name["kernel"].constraint, dl.constraints.NonNeg)
    assert by_name["bias"].regularizer is None and by_name["bias"].constraint is None


def test_model_config_round_trip_keeps_the_penalties(tmp_path):
    x, y = _data("cnn", 8)
    with dl.use_backend(BACKENDS[0]):
        model = _cnn(dl)
        model.compile(optimizer="sgd", loss="mse")
        path = tmp_path / "m.dlm"
        model.save(path)
        loaded = dl.load_model(path)
        conv = loaded.layers[0]
        assert conv.kernel_regularizer.get_config() == {"l2": 0.02}
        assert conv.activity_regularizer.get_config() == {"l1": 0.001}
        assert_close(
            "evaluate after load",
            loaded.evaluate(x, y, verbose=0),
            model.evaluate(x, y, verbose=0),
            F32,
            "forward",
        )
