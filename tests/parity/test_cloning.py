"""``dl.models.clone_model``, ``Model.to_json`` / ``dl.models.model_from_json`` and
``Layer.input``, on each backend and against Keras 3: same architecture, new variables
(independent of the original's), or shared ones when ``clone_function`` returns the layer."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, NotBuiltError, SerializationError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers


def _keras():
    return importlib.import_module("keras")


def _models(lib):
    """The same four models built with keras or duallearn: Sequential, residual functional,
    two-input two-output functional, and a functional model nesting a Sequential one."""
    KL = lib.layers
    seq = lib.Sequential(
        [lib.Input((4,)), KL.Dense(5, activation="relu", name="s1"), KL.Dense(2, name="s2")],
        name="seq",
    )
    x = lib.Input((4,), name="x")
    h = KL.Dense(4, activation="tanh", name="r1")(x)
    res = lib.Model(x, KL.Dense(3, name="r_out")(KL.Add(name="r_add")([x, h])), name="res")
    a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
    cat = KL.Concatenate(name="cat")([KL.Dense(3, name="ha")(a), b])
    two = lib.Model([a, b], [KL.Dense(2, name="o1")(cat), KL.Dense(1, name="o2")(cat)], name="two")
    inner = lib.Sequential([lib.Input((3,)), KL.Dense(2, name="in_d")], name="inner")
    z = lib.Input((4,), name="z")
    nested = lib.Model(z, inner(KL.Dense(3, name="pre")(z)), name="nested")
    return {"seq": seq, "res": res, "two": two, "nested": nested}


def _x(model, n=6, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((n, *t.shape[1:])).astype("float32") for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def _y(model, n=6, seed=1):
    rng = np.random.default_rng(seed)
    ys = [rng.standard_normal((n, *t.shape[1:])).astype("float32") for t in model.outputs]
    return ys if len(ys) > 1 else ys[0]


def _flat(pred):
    return pred if isinstance(pred, list) else [pred]


def _train(model):
    """Three SGD steps."""
    multi = len(model.outputs) > 1
    model.compile(dl.optimizers.SGD(0.1), loss=["mse", "mse"] if multi else "mse")
    model.fit(_x(model), _y(model), batch_size=2, epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize("name", ["seq", "res", "two", "nested"])
def test_clone_has_the_architecture_and_new_variables(backend, name):
    model = _models(dl)[name]
    clone = dl.models.clone_model(model)
    assert type(clone) is type(model) and clone.backend_name == backend
    assert clone.get_config() == model.get_config()
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert clone.count_params() == model.count_params()
    assert not {id(w) for w in clone.weights} & {id(w) for w in model.weights}
    assert all(c is not m for c, m in zip(clone.layers, model.layers, strict=True))
    # freshly initialised: the kernels are new draws, not copies
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    # same weights -> the same function, bit for bit
    clone.set_weights(model.get_weights())
    x = _x(model)
    for p, q in zip(
        _flat(clone.predict(x, verbose=0)), _flat(model.predict(x, verbose=0)), strict=True
    ):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("name", ["seq", "two", "nested"])
def test_training_the_clone_leaves_the_original_unchanged(backend, name):
    model = _models(dl)[name]
    clone = dl.models.clone_model(model)
    clone.set_weights(model.get_weights())
    before = model.get_weights()
    x = _x(model)
    ref = _flat(model.predict(x, verbose=0))
    _train(clone)
    changed = [not np.array_equal(a, b) for a, b in zip(clone.get_weights(), before, strict=True)]
    assert sum(changed) == len(before)  # every variable of the clone trained
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    for p, q in zip(_flat(model.predict(x, verbose=0)), ref, strict=True):
        np.testing.assert_array_equal(p, q)
    # and the other way round
    frozen = clone.get_weights()
    _train(model)
    for a, b in zip(clone.get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b)


def test_clone_function_returning_the_layer_shares_it(backend):
    model = _models(dl)["res"]
    shared = dl.models.clone_model(model, clone_function=lambda layer: layer)
    assert [id(w) for w in shared.weights] == [id(w) for w in model.weights]
    assert all(c is m for c, m in zip(shared.layers[1:], model.layers[1:], strict=True))
    x = _x(model)
    before = model.predict(x, verbose=0)
    _train(shared)  # training one trains the other: one set of variables
    after = model.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-4
    np.testing.assert_array_equal(after, shared.predict(x, verbose=0))
    _train(model)
    np.testing.assert_array_equal(model.predict(x, verbose=0), shared.predict(x, verbose=0))


def test_clone_function_can_share_some_layers_and_copy_others(backend):
    model = _models(dl)["seq"]
    calls = []

    def fn(layer):
        calls.append(layer.name)
        if layer.name == "s1":
            return layer
        return type(layer).from_config({**layer.get_config(), "units": 7, "name": "s2_wide"})

    clone = dl.models.clone_model(model, clone_function=fn)
    assert calls == ["s1", "s2"]  # once per layer, in order
    assert clone.layers[0] is model.layers[0]
    assert clone.layers[1].name == "s2_wide" and clone.output.shape == (None, 7)
    assert clone.weights[0] is model.weights[0] and clone.weights[2] is not model.weights[2]
    before = model.get_weights()
    clone.compile(dl.optimizers.SGD(0.1), loss="mse")
    clone.fit(_x(model), np.ones((6, 7), "float32"), epochs=1, verbose=0)
    after = model.get_weights()
    assert not np.array_equal(after[0], before[0])  # the shared kernel trained
    np.testing.assert_array_equal(after[2], before[2])  # the original's s2 did not


def test_shared_layer_is_cloned_once(backend):
    x = dl.Input((3,))
    d = L.Dense(3, activation="tanh", name="twice")
    model = dl.Model(x, d(d(x)))
    clone = dl.models.clone_model(model)
    assert len(clone.layers) == 2 and len(clone.weights) == 2
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(
        clone.predict(_x(model), verbose=0), model.predict(_x(model), verbose=0)
    )


def test_input_tensors_and_call_function(backend):
    model = _models(dl)["res"]
    t = dl.Input((4,), name="mine")
    clone = dl.models.clone_model(model, input_tensors=t)
    assert clone.inputs[0] is t and clone.input is t

    def call(layer, x):
        y = layer(x)
        return L.Activation("relu", name=f"{layer.name}_relu")(y) if layer.name == "r1" else y

    more = dl.models.clone_model(model, clone_function=lambda l: l, call_function=call)
    assert [l.name for l in more.layers] == ["x", "r1", "r1_relu", "r_add", "r_out"]
    xs = _x(model)
    w = model.get_weights()
    hidden = np.maximum(np.tanh(xs @ w[0] + w[1]), 0)
    assert_close(
        "call_function graph",
        more.predict(xs, verbose=0),
        (xs + hidden) @ w[2] + w[3],
        "float32",
        "forward",
    )

    seq = _models(dl)["seq"]
    t2 = dl.Input((4,))
    assert dl.models.clone_model(seq, input_tensors=[t2]).inputs[0] is t2
    with pytest.raises(ConfigError, match="call_function applies to functional models"):
        dl.models.clone_model(seq, call_function=call)
    with pytest.raises(ConfigError, match=r"has 2 input\(s\).*Fix"):
        dl.models.clone_model(_models(dl)["two"], input_tensors=dl.Input((3,)))


def test_recursive_clone_uses_clone_function_inside_nested_models(backend):
    model = _models(dl)["nested"]
    inner = model.layers[-1]
    flat = dl.models.clone_model(model, clone_function=lambda l: l)
    assert flat.layers[-1] is inner  # the nested model itself was returned
    deep = dl.models.clone_model(model, clone_function=lambda l: l, recursive=True)
    assert deep.layers[-1] is not inner and deep.layers[-1].layers[0] is inner.layers[0]
    fresh = dl.models.clone_model(model)  # the default clones nested models' layers too
    assert fresh.layers[-1].layers[0] is not inner.layers[0]


def test_compiled_lambda_and_subclassed_models_clone(backend):
    model = dl.Sequential(
        [dl.Input((4,)), L.Dense(3, name="d"), L.Lambda(lambda t: dl.ops.tanh(t) * 2.0)]
    )
    model.compile(dl.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    clone = dl.models.clone_model(model)
    assert clone.optimizer is not None and clone.optimizer is not model.optimizer
    assert clone.optimizer.get_config() == model.optimizer.get_config()
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(
        clone.predict(_x(model), verbose=0), model.predict(_x(model), verbose=0)
    )
    logs = clone.fit(_x(model), np.zeros((6, 3), "float32"), epochs=1, verbose=0).history
    assert set(logs) == {"loss", "mae"}

    class Tower(dl.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.head = L.Dense(units)

        def call(self, x):
            return self.head(dl.ops.relu(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    tower = Tower(units=3)
    tower.build((None, 4))
    twin = dl.models.clone_model(tower)
    assert type(twin) is Tower and twin.units == 3
    assert [w.shape for w in twin.weights] == [(4, 3), (3,)]
    assert twin.weights[0] is not tower.weights[0]
    with pytest.raises(ConfigError, match="subclassed"):
        dl.models.clone_model(tower, clone_function=lambda l: l)


def test_clone_errors_say_what_was_expected():
    with pytest.raises(ConfigError, match="expects a dl.Model.*Received: Dense"):
        dl.models.clone_model(L.Dense(2))
    model = _models(dl)["seq"]
    with pytest.raises(ConfigError, match="must return a layer.*Received: 3"):
        dl.models.clone_model(model, clone_function=lambda l: 3)
    with pytest.raises(ConfigError, match="must be a callable"):
        dl.models.clone_model(model, clone_function="copy")


@both()
def test_clone_under_another_backend_gives_a_copy_for_that_engine():
    with dl.use_backend("torch"):
        model = _models(dl)["two"]
    with dl.use_backend("tensorflow"):
        clone = dl.models.clone_model(model)
    assert (model.backend_name, clone.backend_name) == ("torch", "tensorflow")
    clone.set_weights(model.get_weights())
    x = _x(model)
    for p, q in zip(clone.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        assert_close("tf clone vs torch model", p, q, "float32", "forward")


@pytest.mark.parametrize("name", ["seq", "res", "two", "nested"])
def test_to_json_round_trip(backend, name):
    model = _models(dl)[name]
    text = model.to_json()
    cfg = json.loads(text)
    assert set(cfg) == {"class_name", "config"}
    assert cfg["class_name"] == ("Sequential" if name == "seq" else "Functional")
    assert cfg["config"] == model.get_config()
    again = dl.models.model_from_json(text)
    assert again.get_config() == model.get_config()
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
    assert not {id(w) for w in again.weights} & {id(w) for w in model.weights}
    again.set_weights(model.get_weights())
    x = _x(model)
    for p, q in zip(
        _flat(again.predict(x, verbose=0)), _flat(model.predict(x, verbose=0)), strict=True
    ):
        np.testing.assert_array_equal(p, q)
    assert model.to_json(indent=2) == json.dumps(cfg, indent=2)  # kwargs go to json.dumps


def test_to_json_carries_the_compile_config(backend):
    model = _models(dl)["seq"]
    model.compile(dl.optimizers.Adam(0.02), loss="mse", metrics=["mae"])
    cfg = json.loads(model.to_json())
    assert cfg["compile_config"]["optimizer"]["class_name"] == "Adam"
    again = dl.models.model_from_json(model.to_json())
    assert again.optimizer is not None
    assert again.optimizer.get_config() == model.optimizer.get_config()
    logs = again.fit(_x(model), _y(model), epochs=1, verbose=0).history
    assert set(logs) == {"loss", "mae"}


def test_model_from_json_errors():
    with pytest.raises(SerializationError, match="not valid JSON.*Fix"):
        dl.models.model_from_json("{not json")
    with pytest.raises(SerializationError, match="expects a JSON string.*Received: dict"):
        dl.models.model_from_json({"class_name": "Sequential"})
    with pytest.raises(SerializationError, match="Sequential or Model"):
        dl.models.model_from_json('{"class_name": "Dense", "config": {}}')
    lam = dl.Sequential([dl.Input((2,)), L.Lambda(dl.ops.tanh)])
    with pytest.raises(SerializationError, match="custom_objects"):
        dl.models.model_from_json(lam.to_json())
    back = dl.models.model_from_json(lam.to_json(), custom_objects={"tanh": dl.ops.tanh})
    assert isinstance(back.layers[0], L.Lambda)


def test_layer_input(backend):
    models = _models(dl)
    seq, two = models["seq"], models["two"]
    assert seq.layers[0].input is seq.inputs[0]
    assert seq.layers[1].input is seq.layers[0].output
    cat = two.get_layer("cat")
    assert isinstance(cat.input, list) and [t.shape for t in cat.input] == [(None, 3), (None, 2)]
    assert two.get_layer("a").input == []  # an InputLayer's call has no inputs (Keras too)
    assert two.input == two.inputs and two.output == two.outputs
    assert seq.input is seq.inputs[0] and seq.output is seq.outputs[0]
    d = L.Dense(2, name="lonely")
    with pytest.raises(NotBuiltError, match="'lonely' has never been called on symbolic input"):
        _ = d.input
    d(np.ones((1, 3), "float32"))  # an eager call records no symbolic input
    with pytest.raises(NotBuiltError, match="Fix"):
        _ = d.input


def test_matches_keras_3():
    """Layer counts and names after cloning, class names in to_json, shared layers with an
    identity clone_function, compile and trainable carried over, Layer.input shapes."""
    keras = _keras()
    ours, theirs = _models(dl), _models(keras)
    for name in ours:
        o, t = dl.models.clone_model(ours[name]), keras.models.clone_model(theirs[name])
        assert [l.name for l in o.layers] == [l.name for l in t.layers], name
        assert [type(l).__name__ for l in o.layers] == [
            type(l).__name__.replace("Functional", "Model") for l in t.layers
        ]
        assert [w.shape for w in o.weights] == [tuple(w.shape) for w in t.weights]
        assert (
            json.loads(ours[name].to_json())["class_name"]
            == (json.loads(theirs[name].to_json())["class_name"])
        )
        so = dl.models.clone_model(ours[name], clone_function=lambda l: l)
        st = keras.models.clone_model(theirs[name], clone_function=lambda l: l)
        assert [w is v for w, v in zip(so.weights, ours[name].weights, strict=True)] == [
            w is v for w, v in zip(st.weights, theirs[name].weights, strict=True)
        ]
        for lo, lt in zip(ours[name].layers, theirs[name].layers, strict=True):
            if type(lt).__name__ in ("InputLayer",):
                assert lo.input == [] and list(lt.input) == []
            else:
                shapes = [tuple(x.shape) for x in _flat(lt.input)]
                assert [tuple(x.shape) for x in _flat(lo.input)] == shapes
        # the same numbers once the clones hold the Keras weights
        o.set_weights(theirs[name].get_weights())
        t.set_weights(theirs[name].get_weights())
        x = _x(ours[name])
        for p, q in zip(
            _flat(o.predict(x, verbose=0)), _flat(t.predict(x, verbose=0)), strict=True
        ):
            assert_close(f"clone of {name} vs keras", p, q, "float32", "forward")
    for m in (ours["seq"], theirs["seq"]):
        m.compile("adam", "mse")
        m.trainable = False
    seq_o = dl.models.clone_model(ours["seq"])
    seq_t = keras.models.clone_model(theirs["seq"])
    assert (seq_o.optimizer is not None, seq_o.trainable) == (seq_t.compiled, seq_t.trainable)
    ours["res"].trainable = theirs["res"].trainable = False
    res_o = dl.models.clone_model(ours["res"])
    res_t = keras.models.clone_model(theirs["res"])
    assert res_o.trainable == res_t.trainable
