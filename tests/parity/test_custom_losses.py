"""User-defined losses, as Keras 3 takes them: a plain function ``fn(y_true, y_pred)`` in
``compile(loss=fn)`` (wrapped as ``LossFunctionWrapper``), a ``dl.losses.Loss`` subclass with
its own ``call``, and ``LossFunctionWrapper(fn, **kwargs)``.

Real Keras 3 (in-process) is the oracle throughout: the same loss is written once with
``keras.ops`` and once with ``dl.ops``; standalone values are compared for every reduction
with and without sample weights (numpy reference in float64, native torch / TensorFlow
tensors in float32); a small Dense model trained by ``fit`` on each backend, from Keras's
initial weights and on the same batches, ends at Keras's weights and losses. The native train
step runs the loss's ``call`` on native tensors: the gradients it gives equal the built-in
MeanSquaredError's when the custom loss is MSE written by hand.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, SerializationError, ShapeError
from duallearn.testing import assert_close

from ..conftest import BACKENDS

keras = importlib.import_module("keras")
# what Keras's compile wraps a function in (not exported under keras.losses in Keras 3.15)
KLossFunctionWrapper = importlib.import_module("keras.src.losses").LossFunctionWrapper
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

F32 = "float32"
REDUCTIONS = ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]


# ---- the same losses, written with dl.ops and with keras.ops ---------------------------------
def my_mse(y_true: Any, y_pred: Any) -> Any:
    return dl.ops.mean(dl.ops.square(y_true - y_pred), axis=-1)


def k_my_mse(y_true: Any, y_pred: Any) -> Any:
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def my_scalar(y_true: Any, y_pred: Any) -> Any:
    """A loss that reduces everything itself (Keras: the reduction of a scalar is itself)."""
    return dl.ops.mean(dl.ops.abs(y_true - y_pred))


def k_my_scalar(y_true: Any, y_pred: Any) -> Any:
    return keras.ops.mean(keras.ops.abs(y_true - y_pred))


def my_power(y_true: Any, y_pred: Any, power: float = 2.0) -> Any:
    return dl.ops.mean(dl.ops.power(dl.ops.abs(y_true - y_pred), power), axis=-1)


def k_my_power(y_true: Any, y_pred: Any, power: float = 2.0) -> Any:
    return keras.ops.mean(keras.ops.power(keras.ops.abs(y_true - y_pred), power), axis=-1)


class CustomMSE(dl.losses.Loss):
    """``factor · mean_last((y − p)²) + mean_last(|p|)·penalty``."""

    def __init__(self, factor: float = 1.0, penalty: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor
        self.penalty = penalty

    def call(self, y_true: Any, y_pred: Any) -> Any:
        mse = dl.ops.mean(dl.ops.square(y_true - y_pred), axis=-1)
        return self.factor * mse + self.penalty * dl.ops.mean(dl.ops.abs(y_pred), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "penalty": self.penalty}


class KCustomMSE(keras.losses.Loss):
    def __init__(self, factor: float = 1.0, penalty: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor
        self.penalty = penalty

    def call(self, y_true: Any, y_pred: Any) -> Any:
        mse = keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)
        return self.factor * mse + self.penalty * keras.ops.mean(keras.ops.abs(y_pred), axis=-1)


class DoubledMSE(dl.losses.MeanSquaredError):
    """A built-in loss extended with ``super().call`` (Keras allows it)."""

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return 2.0 * super().call(y_true, y_pred)


# form -> (duallearn loss factory, keras loss factory); each takes the reduction and dtype
FORMS = {
    "function": (
        lambda r, d: dl.losses.LossFunctionWrapper(my_mse, reduction=r, dtype=d),
        lambda r, d: KLossFunctionWrapper(k_my_mse, reduction=r, dtype=d),
    ),
    "function_kwargs": (
        lambda r, d: dl.losses.LossFunctionWrapper(my_power, reduction=r, dtype=d, power=3.0),
        lambda r, d: KLossFunctionWrapper(k_my_power, reduction=r, dtype=d, power=3.0),
    ),
    "scalar_function": (
        lambda r, d: dl.losses.LossFunctionWrapper(my_scalar, reduction=r, dtype=d),
        lambda r, d: KLossFunctionWrapper(k_my_scalar, reduction=r, dtype=d),
    ),
    "subclass": (
        lambda r, d: CustomMSE(1.5, 0.25, reduction=r, dtype=d),
        lambda r, d: KCustomMSE(1.5, 0.25, reduction=r, dtype=d),
    ),
    "subclass_of_builtin": (
        lambda r, d: DoubledMSE(reduction=r, dtype=d),
        lambda r, d: KLossFunctionWrapper(
            lambda y, p: 2.0 * keras.losses.mean_squared_error(y, p), reduction=r, dtype=d
        ),
    ),
}


def _data(n: int = 6, width: int = 3, seed: int = 0) -> tuple[np.ndarray, ...]:
    r = np.random.default_rng(seed)
    y = r.standard_normal((n, width))
    p = r.standard_normal((n, width)) * 1.3
    sw = r.uniform(0.1, 2.0, n)
    return y, p, sw


def _keras_value(loss: Any, y: Any, p: Any, sw: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(loss(y, p, sample_weight=sw)))


def _native(backend: str, loss: Any, y: np.ndarray, p: np.ndarray, sw: Any):
    """The loss on native float32 tensors: (value, d value.sum() / d y_pred), both numpy,
    and the value's native type name."""
    if backend == "torch":
        import torch

        pt = torch.tensor(p.astype(F32), requires_grad=True)
        swt = None if sw is None else torch.tensor(sw.astype(F32))
        v = loss(torch.tensor(y.astype(F32)), pt, sample_weight=swt)
        assert isinstance(v, torch.Tensor), type(v)
        v.sum().backward()
        return v.detach().numpy(), pt.grad.numpy()
    import tensorflow as tf

    pt = tf.constant(p.astype(F32))
    with tf.GradientTape() as tape:
        tape.watch(pt)
        swt = None if sw is None else tf.constant(sw.astype(F32))
        v = loss(tf.constant(y.astype(F32)), pt, sample_weight=swt)
        total = tf.reduce_sum(v)
    assert isinstance(v, tf.Tensor), type(v)
    return v.numpy(), tape.gradient(total, pt).numpy()


# ---- (a) standalone values, every reduction, with and without sample weights -----------------
@pytest.mark.parametrize("form", sorted(FORMS))
def test_standalone_numpy_matches_keras(form):
    """The numpy reference of each custom form equals Keras's value in float64."""
    ours, theirs = FORMS[form]
    y, p, sw = _data()
    for reduction in REDUCTIONS:
        for w in (None, sw):
            label = f"{form} {reduction} weighted={w is not None}"
            got = ours(reduction, None)(y, p, sample_weight=w)
            assert isinstance(got, (np.ndarray, np.generic)), label
            want = _keras_value(theirs(reduction, "float64"), y, p, w)
            assert_close(label, got, want, "float64", "loss")


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("form", sorted(FORMS))
def test_standalone_native_tensors_match_keras(backend_name, form):
    """On native tensors the loss is a native tensor equal to Keras's float32 value, and
    its gradient (autograd / GradientTape) equals the other backend's."""
    ours, theirs = FORMS[form]
    y, p, sw = _data(seed=1)
    for reduction in REDUCTIONS:
        for w in (None, sw):
            label = f"{form} {backend_name} {reduction} weighted={w is not None}"
            value, grad = _native(backend_name, ours(reduction, None), y, p, w)
            want = _keras_value(theirs(reduction, F32), y.astype(F32), p.astype(F32), w)
            assert_close(label, value, want, F32, "loss")
            # the numpy reference's central-difference gradient of Σ values
            loss64 = ours("sum" if reduction == "none" else reduction, None)
            ref = loss64.reference_grad(y, p, w)
            assert_close(f"{label} gradient", grad, ref, F32, "gradient")
            for other in [b for b in BACKENDS if b != backend_name]:
                v2, g2 = _native(other, ours(reduction, None), y, p, w)
                assert_close(f"{label} vs {other}", value, v2, F32, "loss")
                assert_close(f"{label} vs {other} gradient", grad, g2, F32, "gradient")


def test_function_aligns_ranks_as_keras():
    """LossFunctionWrapper squeezes/expands a trailing size-1 axis first (Keras), so y of
    shape (n,) against p of shape (n, 1) is not broadcast to (n, n)."""
    y, p, sw = _data(n=5, width=1, seed=2)
    for yy, pp in [(y[:, 0], p), (y, p[:, 0])]:
        got = dl.losses.LossFunctionWrapper(my_mse)(yy, pp, sample_weight=sw)
        want = _keras_value(KLossFunctionWrapper(k_my_mse, dtype="float64"), yy, pp, sw)
        assert_close(f"ranks {yy.shape} {pp.shape}", got, want, "float64", "loss")


def test_functional_spellings_match_keras():
    """dl.losses.mean_squared_error(y, p) and friends: per-sample values as Keras's, in
    numpy and on native tensors."""
    y, p, _ = _data(seed=3)
    probs = np.exp(p) / np.exp(p).sum(-1, keepdims=True)
    onehot = np.eye(3)[[0, 2, 1, 1, 0, 2]]
    cases = [
        ("mean_squared_error", {}, y, p),
        ("mean_absolute_error", {}, y, p),
        ("huber", {"delta": 0.5}, y, p),
        ("cosine_similarity", {}, y, p),
        ("categorical_crossentropy", {"from_logits": True}, onehot, p),
        ("categorical_crossentropy", {"label_smoothing": 0.1}, onehot, probs),
        ("kl_divergence", {}, probs[::-1], probs),
        ("sparse_categorical_crossentropy", {"from_logits": True}, np.array([0, 2, 1, 1, 0, 2]), p),
    ]
    for name, kw, yy, pp in cases:
        want = np.asarray(keras.ops.convert_to_numpy(getattr(keras.losses, name)(yy, pp, **kw)))
        got = getattr(dl.losses, name)(yy, pp, **kw)
        assert_close(f"{name} numpy", got, want, "float64", "loss")
        for b in BACKENDS:
            yt = yy if yy.dtype.kind == "i" else yy.astype(F32)
            if b == "torch":
                import torch

                native = getattr(dl.losses, name)(
                    torch.tensor(yt), torch.tensor(pp.astype(F32)), **kw
                )
                assert isinstance(native, torch.Tensor)
            else:
                import tensorflow as tf

                native = getattr(dl.losses, name)(
                    tf.constant(yt), tf.constant(pp.astype(F32)), **kw
                )
                assert isinstance(native, tf.Tensor)
            assert_close(f"{name} {b}", native.numpy(), want, F32, "loss")


# ---- (b) fit on each backend vs Keras's fit ----------------------------------------------------
N, BATCH, EPOCHS = 32, 8, 2


def _fit_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.random.default_rng(5)
    x = r.standard_normal((N, 5)).astype(F32)
    y = r.standard_normal((N, 2)).astype(F32)
    sw = r.uniform(0.2, 2.0, N).astype(F32)
    return x, y, sw


def _model(lib: Any, **kw: Any) -> Any:
    return lib.Sequential(
        [lib.Input((5,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(2)], **kw
    )


# fit case -> (duallearn loss, keras loss, with sample weights)
FIT_CASES = {
    "function": (lambda: my_mse, lambda: k_my_mse, False),
    "function_weighted": (lambda: my_mse, lambda: k_my_mse, True),
    "subclass": (lambda: CustomMSE(0.5, 0.1), lambda: KCustomMSE(0.5, 0.1), False),
    "subclass_weighted_sum": (
        lambda: CustomMSE(0.5, 0.1, reduction="sum"),
        lambda: KCustomMSE(0.5, 0.1, reduction="sum"),
        True,
    ),
}


@functools.cache
def _keras_fit(case: str) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """Keras's initial weights, final weights and History losses for a fit case."""
    _, make_keras, weighted = FIT_CASES[case]
    x, y, sw = _fit_data()
    keras.utils.set_random_seed(3)
    km = _model(keras)
    start = [np.array(w) for w in km.get_weights()]
    km.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=make_keras())
    h = km.fit(
        x,
        y,
        sample_weight=sw if weighted else None,
        batch_size=BATCH,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
    )
    return start, [np.array(w) for w in km.get_weights()], list(h.history["loss"])


def _dl_fit(backend: str, loss: Any, start: list[np.ndarray], weighted: bool):
    x, y, sw = _fit_data()
    model = _model(dl, backend=backend)
    model.set_weights(start)
    model.compile(optimizer=dl.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    h = model.fit(
        x,
        y,
        sample_weight=sw if weighted else None,
        batch_size=BATCH,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
    )
    return model, h


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_with_custom_loss_matches_keras(backend_name, case):
    make_dl, _, weighted = FIT_CASES[case]
    start, k_final, k_losses = _keras_fit(case)
    model, h = _dl_fit(backend_name, make_dl(), start, weighted)
    for i, (a, b) in enumerate(zip(model.get_weights(), k_final, strict=True)):
        assert_close(f"{case} {backend_name} weight {i} vs Keras", a, b, F32, "params_10")
    assert_close(f"{case} {backend_name} history", h.history["loss"], k_losses, F32, "forward")
    assert float(np.max(np.abs(model.get_weights()[0] - start[0]))) > 1e-3  # it trained


def test_fit_numpy_reference_backend_matches_keras():
    """The numpy reference runs the custom call in numpy (float64) and differentiates it by
    central differences: it trains the same trajectory as Keras."""
    for case in ("function_weighted", "subclass"):
        make_dl, _, weighted = FIT_CASES[case]
        start, k_final, k_losses = _keras_fit(case)
        model, h = _dl_fit("numpy", make_dl(), start, weighted)
        for i, (a, b) in enumerate(zip(model.get_weights(), k_final, strict=True)):
            assert_close(f"{case} numpy weight {i} vs Keras", a, b, F32, "params_10")
        assert_close(f"{case} numpy history", h.history["loss"], k_losses, F32, "forward")


# ---- (c) gradients flow: a hand-written MSE trains exactly as the built-in one ---------------
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_hand_written_mse_trains_as_builtin(backend_name):
    start, _, _ = _keras_fit("function")
    x, y, sw = _fit_data()
    runs = {}
    for name, loss in [
        ("builtin", dl.losses.MeanSquaredError()),
        ("function", my_mse),
        ("subclass", CustomMSE()),
        ("super_call", DoubledMSE()),
    ]:
        model, h = _dl_fit(backend_name, loss, start, True)
        runs[name] = (model.get_weights(), h.history["loss"])
        assert float(np.max(np.abs(runs[name][0][0] - start[0]))) > 1e-3, f"{name}: no training"
    for name in ("function", "subclass"):
        for i, (a, b) in enumerate(zip(runs[name][0], runs["builtin"][0], strict=True)):
            assert_close(
                f"{backend_name} {name} weight {i} vs built-in MSE", a, b, F32, "params_10"
            )
        assert_close(f"{name} history", runs[name][1], runs["builtin"][1], F32, "forward")
    # twice the loss is not the same trajectory: the custom call really drives the gradients
    assert not np.allclose(runs["super_call"][0][0], runs["builtin"][0][0], atol=1e-4)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_evaluate_with_custom_loss_matches_keras(backend_name):
    start, _, _ = _keras_fit("subclass")
    x, y, sw = _fit_data()
    km = _model(keras)
    km.set_weights(start)
    km.compile(optimizer="sgd", loss=KCustomMSE(2.0, 0.3))
    model = _model(dl, backend=backend_name)
    model.set_weights(start)
    model.compile(optimizer="sgd", loss=CustomMSE(2.0, 0.3))
    for w in (None, sw):
        got = model.evaluate(x, y, sample_weight=w, batch_size=N, verbose=0)
        want = km.evaluate(x, y, sample_weight=w, batch_size=N, verbose=0)
        assert_close(f"{backend_name} evaluate weighted={w is not None}", got, want, F32, "loss")


# ---- (d) errors ------------------------------------------------------------------------------
def batch_mean(y_true: Any, y_pred: Any) -> Any:
    """Wrong: reduces the batch axis, so sample weights cannot weight it."""
    return dl.ops.mean(dl.ops.square(y_true - y_pred), axis=0)


def k_batch_mean(y_true: Any, y_pred: Any) -> Any:
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=0)


WRONG_SHAPE = (
    r"Loss 'batch_mean' \(LossFunctionWrapper\).*Expected: one value per sample.*"
    r"Received: values.shape=\(2,\), sample_weight.shape=\(8,\).*Fix: keep the batch axis"
)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_wrong_shape_in_fit_is_a_clear_error(backend_name):
    x, y, sw = _fit_data()
    # Keras fails too (a framework broadcasting error); ours names what and how to fix
    km = _model(keras)
    km.compile(optimizer="sgd", loss=k_batch_mean)
    with pytest.raises(Exception):  # noqa: B017 - Keras raises its framework's error
        km.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=1, verbose=0)
    model = _model(dl, backend=backend_name)
    model.compile(optimizer="sgd", loss=batch_mean)
    with pytest.raises(ShapeError, match=WRONG_SHAPE):
        model.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=1, verbose=0)


def test_wrong_shape_standalone_is_a_clear_error():
    y, p, _ = _data(n=8, width=2)
    sw = np.ones(8)
    loss = dl.losses.LossFunctionWrapper(batch_mean, name="batch_mean")
    with pytest.raises(ShapeError, match=WRONG_SHAPE):
        loss(y, p, sample_weight=sw)
    for b in BACKENDS:
        with pytest.raises(ShapeError, match=WRONG_SHAPE):
            _native(b, loss, y, p, sw)


def test_returning_nothing_is_a_clear_error():
    class Forgot(dl.losses.Loss):
        def call(self, y_true, y_pred):
            dl.ops.square(y_true - y_pred)  # no return

    y, p, _ = _data()
    with pytest.raises(ShapeError, match=r"'forgot' \(Forgot\): call\(\) returned NoneType.*Fix"):
        Forgot()(y, p)
    for b in BACKENDS:
        with pytest.raises(ShapeError, match=r"returned NoneType. Expected: a tensor"):
            _native(b, Forgot(), y, p, None)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_not_a_loss_is_a_clear_error(backend_name):
    x, y, _ = _fit_data()
    with pytest.raises(ValueError):  # Keras: "Could not interpret loss identifier"
        keras.losses.get(42)
    model = _model(dl, backend=backend_name)
    # refused by compile itself (as Keras's compile refuses it), not at the first fit
    with pytest.raises(ConfigError, match=r"Cannot interpret 42 as a loss.*Received: int.*Fix"):
        model.compile(optimizer="sgd", loss=42)
    with pytest.raises(ConfigError, match=r"needs a function.*Received: fn='mse' \(str\).*Fix"):
        dl.losses.LossFunctionWrapper("mse")

    class NoCall(dl.losses.Loss):
        pass

    with pytest.raises(ConfigError, match=r"NoCall subclasses dl.losses.Loss but implements no"):
        NoCall()(y, y)
    with pytest.raises(ConfigError, match=r"implements no call\(y_true, y_pred\).*Fix"):
        model.compile(optimizer="sgd", loss=NoCall())


# ---- compile by function and class, names as Keras's -----------------------------------------
def test_get_wraps_functions_and_classes_as_keras():
    wrapped = dl.losses.get(my_mse)
    assert isinstance(wrapped, dl.losses.LossFunctionWrapper)
    assert (wrapped.name, wrapped.reduction, wrapped.fn) == (
        "my_mse",
        "sum_over_batch_size",
        my_mse,
    )
    # Keras makes auto names unique (``custom_mse_3``); duallearn's is the bare snake case
    bare = lambda name: re.sub(r"_\d+$", "", name)  # noqa: E731
    assert dl.losses.LossFunctionWrapper(my_mse).name == "loss_function_wrapper"
    assert bare(KLossFunctionWrapper(k_my_mse).name) == "loss_function_wrapper"
    assert isinstance(dl.losses.get(CustomMSE), CustomMSE)
    keras_same_name = type("CustomMSE", (KCustomMSE,), {})
    assert CustomMSE().name == bare(keras_same_name().name) == "custom_mse"
    assert dl.losses.get(dl.losses.mean_absolute_error).name == "mean_absolute_error"


# ---- saving ----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_save_and_load_with_custom_objects(backend_name, tmp_path):
    x, y, sw = _fit_data()
    start, _, _ = _keras_fit("subclass")
    for loss, objects, name in [
        (CustomMSE(0.5, 0.1), {"CustomMSE": CustomMSE}, "CustomMSE"),
        (my_mse, {"my_mse": my_mse}, "my_mse"),
    ]:
        model, _ = _dl_fit(backend_name, loss, start, True)
        path = str(tmp_path / f"{name}.dlm")
        model.save(path)
        with pytest.raises(
            SerializationError, match=rf"{name}.*custom_objects=\{{'{name}': {name}\}}"
        ):
            dl.load_model(path)
        assert dl.load_model(path, compile=False).optimizer is None
        loaded = dl.load_model(path, custom_objects=objects)
        restored = loaded._compile_args["loss"]
        if isinstance(loss, CustomMSE):
            assert type(restored) is CustomMSE
            assert (restored.factor, restored.penalty) == (0.5, 0.1)
        else:
            assert restored.fn is my_mse and restored.name == "my_mse"
        # continuing fit from the file equals continuing the original
        for m in (model, loaded):
            m.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        for i, (a, b) in enumerate(zip(loaded.get_weights(), model.get_weights(), strict=True)):
            assert_close(f"{name} loaded weight {i}", a, b, F32, "params_10")


def test_config_missing_init_arguments_is_refused():
    class Scaled(dl.losses.Loss):
        def __init__(self, scale=2.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * dl.ops.mean(dl.ops.square(y_true - y_pred), axis=-1)

    with pytest.raises(
        SerializationError,
        match=r"takes \['scale'\] in __init__ but its get_config\(\) does not return them.*Fix",
    ):
        dl.losses.serialize(Scaled())
    cfg = dl.losses.serialize(CustomMSE(3.0))
    assert cfg == {
        "class_name": "CustomMSE",
        "config": {
            "reduction": "sum_over_batch_size",
            "name": "custom_mse",
            "factor": 3.0,
            "penalty": 0.0,
        },
    }
    back = dl.losses.deserialize(cfg, {"CustomMSE": CustomMSE})
    # what a clone of a compiled model needs to rebuild its losses
    objects = dl.losses.custom_objects_of([my_mse, CustomMSE(), "mse", dl.losses.Huber()])
    assert objects == {"my_mse": my_mse, "CustomMSE": CustomMSE}
    assert (type(back), back.factor, back.name) == (CustomMSE, 3.0, "custom_mse")
