"""Public classes and functions no test named before (issue 19, ``tools/public_names.py``):
callback, optimizer, schedule, regularizer and constraint base classes (subclassed as users
do), saving and porting functions, ``InputLayer``, utilities and configuration switches.

Oracles: real Keras 3 where it has the name (configs, ``pack_x_y_sample_weight``, a Keras
model reading our weights file), a built-in twin whose numbers are already checked (a custom
``L1`` equals ``dl.regularizers.L1``; a custom schedule equals ``PiecewiseConstantDecay``),
and exact expected values."""

from __future__ import annotations

import importlib
import json
import os
import sys
import zipfile
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import (
    BackendError,
    ConfigError,
    DuallearnError,
    SerializationError,
    UnknownNameError,
)
from duallearn.testing import assert_close

from ..conftest import BACKENDS

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = importlib.import_module("keras")  # the oracle: a required test dependency

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _data(n: int = 16, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    return x, (x @ rng.normal(size=(d, 2))).astype("float32")


def _dense(backend: str, seed: int = 3, **kw: Any) -> dl.Model:
    dl.set_random_seed(seed)
    with dl.use_backend(backend):
        return dl.Sequential([dl.Input((4,)), dl.layers.Dense(2, **kw)])


def _same_weights(a: dl.Model, b: dl.Model) -> None:
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


# ---- callbacks ----------------------------------------------------------------------------------
def test_history_is_what_fit_returns_with_every_epoch_log(backend):
    x, y = _data(20)
    model = _dense(backend)
    model.compile(dl.optimizers.SGD(0.05), "mse", metrics=["mae"])
    logged: list[dict] = []
    own = dl.callbacks.History()
    keep = dl.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logged.append(dict(logs)))
    h = model.fit(x, y, epochs=3, batch_size=5, validation_split=0.25, verbose=0,
                  callbacks=[keep, own])  # fmt: skip
    assert isinstance(h, dl.callbacks.History) and model.history is h
    assert h.epoch == own.epoch == [0, 1, 2]
    assert h.history == own.history == {k: [e[k] for e in logged] for k in logged[0]}
    assert sorted(h.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert h.to_dict() == {"epoch": [0, 1, 2], "history": h.history}
    assert h.params["epochs"] == 3 and h.params["steps"] == 3
    assert repr(h) == "<History epochs=3 keys=['loss', 'mae', 'val_loss', 'val_mae']>"


def test_callback_list_calls_each_callback_in_order():
    calls: list[tuple] = []

    class Rec(dl.callbacks.Callback):
        def __init__(self, tag: str, batch_logs: bool) -> None:
            super().__init__()
            self.tag = tag
            if batch_logs:
                self.on_train_batch_end = lambda b, logs=None: calls.append((self.tag, b))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append((self.tag, epoch, dict(logs or {})))

    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
    a, b = Rec("a", False), Rec("b", False)
    cl = dl.callbacks.CallbackList([a, b], model=model, params={"epochs": 2, "steps": 5})
    assert cl.callbacks == [a, b]
    assert a.model is model and b.model is model and a.params == {"epochs": 2, "steps": 5}
    cl.on_epoch_begin(1, {"lr": 0.5})
    cl.on_train_begin(None)  # a hook nobody overrides: the base class's, no call recorded
    assert calls == [("a", 1, {"lr": 0.5}), ("b", 1, {"lr": 0.5})]
    assert not cl.wants_batch_logs("on_train_batch_end")

    class Batched(dl.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):  # the Keras-2 spelling counts too
            pass

    assert dl.callbacks.CallbackList([a, Batched()], model, {}).wants_batch_logs(
        "on_train_batch_end"
    )
    with pytest.raises(AttributeError):
        cl.not_a_hook  # noqa: B018


# ---- optimizers and schedules -------------------------------------------------------------------
def test_optimizer_base_class_and_its_keras_config():
    rules = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam",
             "RMSprop"]  # fmt: skip
    for name in rules:
        assert issubclass(getattr(dl.optimizers, name), dl.optimizers.Optimizer), name
        assert isinstance(getattr(dl.optimizers, name)(), dl.optimizers.Optimizer), name
    ours = dl.optimizers.Optimizer(0.25, clipnorm=1.5).get_config()
    theirs = keras.optimizers.SGD(0.25, clipnorm=1.5).get_config()  # the base's keys
    base_keys = ["learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
                 "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                 "gradient_accumulation_steps"]  # fmt: skip
    assert {k: ours[k] for k in base_keys} == {k: theirs[k] for k in base_keys}
    assert ours["name"] == "optimizer"


def test_optimizer_base_class_has_no_update_rule(backend):
    model = _dense(backend)
    model.compile(dl.optimizers.Optimizer(0.1), "mse")
    with pytest.raises(BackendError, match=f"The {backend} backend has no update rule for "
                                           "Optimizer"):  # fmt: skip
        model.fit(*_data(), epochs=1, verbose=0)


def test_optimizers_deserialize_reads_keras_and_trains_as_the_class(backend):
    kdict = keras.optimizers.serialize(
        keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8, amsgrad=True)
    )
    opt = dl.optimizers.deserialize(kdict)
    assert type(opt) is dl.optimizers.Adam
    config = opt.get_config()
    for key in ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"):
        assert config[key] == kdict["config"][key], key
    again = dl.optimizers.deserialize(dl.optimizers.serialize(opt))
    assert again.get_config() == config and again is not opt
    x, y = _data()
    runs = []
    for make in (lambda: again, lambda: dl.optimizers.Adam(config["learning_rate"], beta_1=0.8,
                                                           amsgrad=True)):  # fmt: skip
        model = _dense(backend)
        model.compile(make(), "mse")
        runs.append((model.fit(x, y, epochs=2, batch_size=4, verbose=0).history, model))
    assert runs[0][0] == runs[1][0]
    _same_weights(runs[0][1], runs[1][1])
    with pytest.raises(UnknownNameError, match="Nope"):
        dl.optimizers.deserialize({"class_name": "Nope", "config": {}})


class Halving(dl.optimizers.schedules.LearningRateSchedule):
    """``0.1`` halved every two steps."""

    def __init__(self, initial: float = 0.1) -> None:
        self.initial = initial

    def __call__(self, step: int) -> float:
        return self.initial * 0.5 ** (step // 2)

    def get_config(self) -> dict[str, Any]:
        return {"initial": self.initial}


def test_a_learning_rate_schedule_subclass_drives_the_optimizer(backend):
    x, y = _data(12)
    seen: list[float] = []
    runs = []
    for schedule in (Halving(), dl.optimizers.schedules.PiecewiseConstantDecay(
            [1, 3], [0.1, 0.05, 0.025])):  # fmt: skip
        model = _dense(backend)
        model.compile(dl.optimizers.SGD(schedule), "mse")
        lam = dl.callbacks.LambdaCallback(
            on_train_batch_begin=lambda b, logs, m=model: seen.append(
                m.optimizer.current_learning_rate()
            )
        )
        model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False, callbacks=[lam])
        runs.append(model)
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025] * 2
    _same_weights(*runs)  # the same rates step for step: the same weights, bit for bit
    assert isinstance(Halving(), dl.optimizers.schedules.LearningRateSchedule)
    assert dl.optimizers.schedules.serialize(Halving(0.2)) == {
        "class_name": "Halving",
        "config": {"initial": 0.2},
    }
    assert Halving.from_config({"initial": 0.4})(4) == 0.1


# ---- custom regularizers and constraints --------------------------------------------------------
@dl.regularizers.register
class Issue19SumAbs(dl.regularizers.Regularizer):
    """``factor · Σ|x|``, written as a user would."""

    def __init__(self, factor: float = 0.01) -> None:
        self.factor = factor

    def __call__(self, x: Any) -> Any:
        return self.factor * dl.ops.sum(dl.ops.abs(x))

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor}


@dl.constraints.register
class Issue19Clip(dl.constraints.Constraint):
    """Every entry clipped to ``[-c, c]``."""

    def __init__(self, c: float = 0.05) -> None:
        self.c = c

    def __call__(self, w: Any) -> Any:
        return dl.ops.clip(w, -self.c, self.c)

    def get_config(self) -> dict[str, Any]:
        return {"c": self.c}


def test_a_registered_regularizer_subclass_adds_its_penalty_and_reloads(backend, tmp_path):
    x, y = _data()
    ours = _dense(backend, kernel_regularizer=Issue19SumAbs(0.1))
    builtin = _dense(backend, kernel_regularizer=dl.regularizers.L1(0.1))
    kernel, bias = ours.get_weights()
    want = float(np.mean((x @ kernel + bias - y) ** 2) + 0.1 * np.abs(kernel).sum())
    for m in (ours, builtin):
        m.compile(dl.optimizers.SGD(0.05), "mse")
    loss = ours.evaluate(x, y, batch_size=16, verbose=0)
    assert_close("MSE + custom penalty", loss, want, "float32", "loss")
    h1 = ours.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False).history["loss"]
    h2 = builtin.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False).history["loss"]
    assert_close("custom vs built-in L1 history", np.array(h1), np.array(h2), "float32",
                 "params_10")  # fmt: skip
    for k, (a, b) in enumerate(zip(ours.get_weights(), builtin.get_weights(), strict=True)):
        assert_close(f"custom vs built-in L1 weight {k}", a, b, "float32", "params_10")
    path = tmp_path / "reg.dlm"
    ours.save(str(path))
    loaded = dl.load_model(str(path))
    reg = loaded.layers[0].kernel_regularizer
    assert type(reg) is Issue19SumAbs and reg.factor == 0.1
    assert loaded.evaluate(x, y, batch_size=16, verbose=0) == ours.evaluate(
        x, y, batch_size=16, verbose=0
    )


def test_a_registered_constraint_subclass_projects_after_each_step(backend, tmp_path):
    x, y = _data()
    clipped = _dense(backend, kernel_constraint=Issue19Clip(0.05))
    free = _dense(backend)
    for m in (clipped, free):
        m.compile(dl.optimizers.SGD(0.5), "mse")
        m.fit(x, y, epochs=1, batch_size=16, verbose=0)  # one step from the same weights
    (kernel, bias), (free_kernel, free_bias) = clipped.get_weights(), free.get_weights()
    assert np.abs(kernel).max() == np.float32(0.05)  # clipped exactly at c ...
    assert np.sum(np.abs(kernel) == np.float32(0.05)) == np.sum(np.abs(free_kernel) > 0.05) > 0
    # ... and otherwise the same step (the two compiled steps may round differently)
    assert_close("kernel vs clip(unconstrained)", kernel, np.clip(free_kernel, -0.05, 0.05),
                 "float32", "params_10")  # fmt: skip
    assert_close("bias (unconstrained in both)", bias, free_bias, "float32", "params_10")
    path = tmp_path / "con.dlm"
    clipped.save(str(path))
    con = dl.load_model(str(path)).layers[0].kernel_constraint
    assert type(con) is Issue19Clip and con.c == 0.05
    assert isinstance(con, dl.constraints.Constraint)
    w = np.array([-1.0, 0.5])
    with dl.ops.numpy_mode():
        np.testing.assert_array_equal(dl.constraints.Constraint()(w), w)  # the base: identity


# ---- saving -------------------------------------------------------------------------------------
def test_saving_save_weights_load_weights_and_keras(backend, tmp_path):
    x, _ = _data()
    model = _dense(backend, seed=5, activation="tanh")
    h5 = str(tmp_path / "w.weights.h5")
    dl.saving.save_weights(model, h5)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="tanh")])
    kmodel.load_weights(h5)  # Keras itself reads the file
    for a, b in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_close("Keras on our weights", kmodel.predict(x, verbose=0),
                 model.predict(x, verbose=0), "float32", "layer")  # fmt: skip
    fresh = _dense(backend, seed=6, activation="tanh")
    dl.saving.load_weights(fresh, h5)
    _same_weights(fresh, model)
    st = str(tmp_path / "w.safetensors")
    dl.saving.save_weights(model, st)
    other = _dense(backend, seed=7, activation="tanh")
    dl.saving.load_weights(other, st)
    _same_weights(other, model)
    kmodel.set_weights([w * 2 for w in kmodel.get_weights()])
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))  # a file Keras wrote
    dl.saving.load_weights(other, str(tmp_path / "k.weights.h5"))
    for a, b in zip(other.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(SerializationError, match="exists"):
        dl.saving.save_weights(model, st, overwrite=False)


def test_format_version_is_written_and_newer_files_are_refused(tmp_path):
    from duallearn.saving import _container

    assert dl.saving.FORMAT_VERSION == 2  # a change of the file format is deliberate
    model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
    path = tmp_path / "m.dlm"
    model.save(str(path))
    config, metadata, _, version, members = dl.saving.read_model_file(str(path))
    assert version == config["format_version"] == metadata["format_version"] == 2
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("manifest.json"))["format_version"] == 2
    newer = tmp_path / "newer.dlm"
    newer.write_bytes(_container.pack(members, version=dl.saving.FORMAT_VERSION + 1))
    with pytest.raises(SerializationError, match=r"format version 3; this duallearn reads "
                                                 r"versions 1\.\.2\. Fix: upgrade"):  # fmt: skip
        dl.load_model(str(newer))


# ---- porting and layers -------------------------------------------------------------------------
def test_to_keras_gives_a_keras_model_with_our_weights_and_compile(backend):
    x, y = _data()
    model = _dense(backend, seed=8, activation="relu")
    model.compile(dl.optimizers.Adam(0.02), "mse", metrics=["mae"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    kmodel = dl.porting.to_keras(model)
    assert isinstance(kmodel, keras.Model)
    for a, b in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_close("to_keras predict", kmodel.predict(x, verbose=0), model.predict(x, verbose=0),
                 "float32", "layer")  # fmt: skip
    assert isinstance(kmodel.optimizer, keras.optimizers.Adam)
    assert float(kmodel.optimizer.learning_rate) == np.float32(0.02)
    k_loss = kmodel.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["loss"]
    assert_close("to_keras evaluate", k_loss, model.evaluate(x, y, batch_size=16, verbose=0)[0],
                 "float32", "loss")  # fmt: skip


def test_input_layer_matches_keras(backend):
    x, _ = _data(5)
    with dl.use_backend(backend):
        model = dl.Sequential([dl.layers.InputLayer(shape=(4,)), dl.layers.Dense(3, "tanh")])
    kmodel = keras.Sequential([keras.layers.InputLayer(shape=(4,)), keras.layers.Dense(3, "tanh")])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"]  # as Keras: no layer
    assert [type(layer).__name__ for layer in kmodel.layers] == ["Dense"]
    kmodel.set_weights(model.get_weights())
    assert_close("InputLayer model", model.predict(x, verbose=0), kmodel.predict(x, verbose=0),
                 "float32", "layer")  # fmt: skip
    kw = {"shape": (4,), "batch_size": 2, "dtype": "float64", "name": "ids"}
    ours, theirs = dl.layers.InputLayer(**kw), keras.layers.InputLayer(**kw)
    config, kconfig = ours.get_config(), theirs.get_config()
    assert config == {"batch_shape": [2, 4], "dtype": "float64", "name": "ids"}
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in kconfig.items() if k in config} \
        == config  # fmt: skip
    assert ours.output.shape == tuple(theirs.output.shape) == (2, 4)


# ---- utilities, configuration, errors -----------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [(1,), (1, 2), (1, 2, 3), ((1, 2),), ([1, 2],), (1, None, 3), ({"a": 1}, 2)],
    ids=str,
)
def test_pack_x_y_sample_weight_matches_keras(args):
    ours = dl.utils.pack_x_y_sample_weight(*args)
    assert ours == keras.utils.pack_x_y_sample_weight(*args)
    assert type(ours) is type(keras.utils.pack_x_y_sample_weight(*args))
    assert dl.utils.unpack_x_y_sample_weight(ours) == keras.utils.unpack_x_y_sample_weight(ours)


def test_missing_dependency_error_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)  # Pillow "not installed"
    with pytest.raises(dl.utils.MissingDependencyError) as info:
        dl.utils.load_img(str(tmp_path / "x.png"))
    assert isinstance(info.value, ImportError) and isinstance(info.value, DuallearnError)
    assert str(info.value) == (
        "Image loading and saving need Pillow, which is not installed. Fix: pip install "
        "pillow (or pip install duallearn[image])."
    )


def test_is_deterministic_and_apply_backend_flags(backend):
    assert dl.config.is_deterministic() is False
    dl.config.set_deterministic(True)
    assert dl.config.is_deterministic() is True
    torch = sys.modules.get("torch")
    saved = None if torch is None else (torch.backends.cuda.matmul.allow_tf32,
                                        torch.backends.cudnn.deterministic)  # fmt: skip
    try:
        dl.config.apply_backend_flags(backend)
        assert dl.config.tf32_enabled(backend) is False
        if backend == "torch":
            assert torch.backends.cudnn.deterministic is True
    finally:
        if saved is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic = saved
        dl.config.set_deterministic(False)
    assert dl.config.is_deterministic() is False


def test_config_set_backend_selects_the_backend_of_new_models():
    first = dl.config.backend()
    try:
        for name in BACKENDS:
            dl.config.set_backend(name)
            assert dl.config.backend() == name == dl.backend.backend()
            model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)])
            model.predict(np.zeros((1, 2), "float32"), verbose=0)
            assert model.backend_name == name
        with pytest.raises(BackendError, match="jax"):
            dl.config.set_backend("jax")
    finally:
        dl.config.set_backend(first)
    assert dl.config.backend() == first


def test_errors_check_and_unknown_name():
    dl.errors.check(True, "never raised")
    with pytest.raises(ConfigError) as info:
        dl.errors.check(False, "units must be > 0")
    assert str(info.value) == "units must be > 0" and type(info.value) is ConfigError
    with pytest.raises(dl.errors.ShapeError, match="^bad shape$"):
        dl.errors.check(False, "bad shape", dl.errors.ShapeError)
    err = dl.errors.unknown_name("loss", "msee", ["mse", "mae"])
    assert isinstance(err, UnknownNameError)
    assert str(err) == (
        "Unknown loss: 'msee'. Expected one of: mae, mse. Fix: pass one of these names, or an "
        "instance of the loss class."
    )


def test_losses_check_targets_refuses_bad_labels_before_the_device():
    scce = dl.losses.SparseCategoricalCrossentropy()
    dl.losses.check_targets([scce], [np.array([0, 2, 1])], [(None, 3)])  # fine: no error
    dl.losses.check_targets([scce], None, [(None, 3)])  # no targets: nothing to check
    dl.losses.check_targets([None], [np.array([9])], [(None, 3)])  # an output with no loss
    with pytest.raises(DuallearnError, match=r"3") as info:
        dl.losses.check_targets([scce], [np.array([0, 3, 1])], [(None, 3)])
    model = dl.Sequential([dl.Input((2,)), dl.layers.Dense(3)])
    model.compile("sgd", dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(type(info.value)) as fit_info:  # fit runs the same check
        model.fit(np.zeros((3, 2), "float32"), np.array([0, 3, 1]), verbose=0)
    assert str(fit_info.value) == str(info.value)
