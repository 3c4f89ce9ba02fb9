"""A custom layer and a subclassed model written only with dl.ops train to the same weights
on both backends; saving needs registration; Lambda and native modules."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import BackendError, SerializationError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


@dl.saving.register_serializable(package="tests")
class GatedDense(dl.layers.Layer):
    """y = tanh(x·W + b) · sigmoid(x·G) + offset (offset frozen)."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d = input_shape[-1]
        self.w = self.add_weight("w", (d, self.units), "glorot_uniform")
        self.g = self.add_weight("g", (d, self.units), "glorot_uniform")
        self.b = self.add_weight("b", (self.units,), "zeros")
        self.offset = self.add_weight("offset", (self.units,), "ones", trainable=False)

    def call(self, inputs, training=None):
        h = ops.tanh(ops.matmul(inputs, self.w) + self.b)
        return h * ops.sigmoid(inputs @ self.g) + self.offset

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@dl.saving.register_serializable(package="tests")
class TwoTower(dl.Model):
    def __init__(self, hidden=5, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.gate = GatedDense(hidden)
        self.head = dl.layers.Dense(2)

    def call(self, x):
        h = self.gate(x)
        return self.head(ops.concatenate([h, ops.relu(x)], axis=-1))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((32, 3)), rng.standard_normal((32, 2))


def _functional(be):
    x = dl.Input((3,))
    return dl.Model(x, dl.layers.Dense(2)(GatedDense(4)(x)), backend=be)


def test_custom_layer_forward_matches_numpy():
    dl.config.set_floatx("float64")
    x, _ = _data()
    for be in BACKENDS:
        dl.set_random_seed(1)
        m = _functional(be)
        layer = m.layers[1]
        from duallearn.layers._custom import numpy_call

        ref = numpy_call(layer, x)
        out = m._get_runtime().forward([x], False)
        np.testing.assert_allclose(
            m.layers[2].reference(m.layers[2].get_weights(), ref), out[0], rtol=1e-12
        )


@both()
@pytest.mark.parametrize("kind", ["custom_layer", "subclassed_model"])
def test_trains_to_the_same_weights_on_both_backends(kind, tmp_path):
    dl.config.set_floatx("float64")
    x, y = _data()
    weights = {}
    for be in BACKENDS:
        dl.set_random_seed(2)
        m = _functional(be) if kind == "custom_layer" else TwoTower(backend=be)
        m.compile(dl.optimizers.Adam(0.01), loss="mse")
        m.fit(x, y, batch_size=8, epochs=3, verbose=0)
        weights[be] = m.get_weights()
        path = tmp_path / f"{be}.dlm"
        m.save(path)
        other = [b for b in BACKENDS if b != be][0]
        again = dl.load_model(path, backend=other)
        np.testing.assert_allclose(again.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-10)
    assert len(weights[BACKENDS[0]]) == 6
    for a, b in zip(weights[BACKENDS[0]], weights[BACKENDS[1]], strict=True):
        assert_close("weights after 12 Adam steps", b, a, "float64", "params_10")


def test_subclassed_model_keeps_keras_attribute_order():
    m = TwoTower()
    m.build((None, 3))
    assert [type(l).__name__ for l in m.layers] == ["InputLayer", "GatedDense", "Dense"]
    assert [w.name for w in m.weights] == ["w", "g", "b", "offset", "kernel", "bias"]


def test_unregistered_custom_layer_cannot_be_saved(tmp_path):
    class Local(dl.layers.Layer):
        def call(self, x):
            return ops.square(x)

    x = dl.Input((2,))
    m = dl.Model(x, Local()(x))
    with pytest.raises(SerializationError, match="register_serializable"):
        m.save(tmp_path / "m.dlm")


def test_lambda_runs_but_loading_needs_the_function(tmp_path):
    def double(t):
        return ops.multiply(t, 2.0)

    x = dl.Input((3,))
    m = dl.Model(x, dl.layers.Lambda(double)(x))
    np.testing.assert_allclose(m.predict(np.ones((2, 3), "float32"), verbose=0), 2.0)
    m.save(tmp_path / "l.dlm")
    with pytest.raises(SerializationError, match="custom_objects"):
        dl.load_model(tmp_path / "l.dlm")
    again = dl.load_model(tmp_path / "l.dlm", custom_objects={"double": double})
    np.testing.assert_allclose(again.predict(np.ones((2, 3), "float32"), verbose=0), 2.0)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch not installed")
def test_torch_module_trains_and_is_not_portable():
    import torch

    torch.manual_seed(0)
    mod = torch.nn.Linear(3, 2)
    x = dl.Input((3,))
    m = dl.Model(x, dl.layers.TorchModule(mod)(x), backend="torch")
    data, target = _data()
    before = m.get_weights()[0].copy()
    m.compile("sgd", loss="mse")
    m.fit(data.astype("float32"), target.astype("float32"), epochs=1, verbose=0)
    assert not np.allclose(m.get_weights()[0], before)
    assert isinstance(m.native, torch.nn.Module)
    if "tensorflow" in BACKENDS:
        m2 = dl.Model(x, m.layers[1](x), backend="tensorflow")
        with pytest.raises(BackendError, match="runs only on the torch backend"):
            m2.predict(data.astype("float32"), verbose=0)


@dl.saving.register_serializable(package="tests")
class Block(dl.layers.Layer):
    """A custom layer calling built-in sublayers: ``d2(d1(x)) · scale + Σx``."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d1 = dl.layers.Dense(units, activation="relu")
        self.d2 = dl.layers.Dense(units)

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (self.units,), "ones")

    def call(self, x, training=None):
        return self.d2(self.d1(x)) * self.scale + ops.sum(x, axis=-1, keepdims=True)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@both()
def test_sublayers_inside_a_custom_layer_train_identically():
    dl.config.set_floatx("float64")
    x, _ = _data()
    y = np.zeros((32, 4))
    ws = {}
    for be in BACKENDS:
        dl.set_random_seed(4)
        i = dl.Input((3,))
        m = dl.Model(i, Block(4)(i), backend=be)
        # Keras's order: the layer's own weights, then each sublayer's, by attribute order
        assert [w.name for w in m.weights] == ["scale", "kernel", "bias", "kernel", "bias"]
        assert m.count_params() == 4 + (3 * 4 + 4) + (4 * 4 + 4)
        m.compile(dl.optimizers.Adam(0.01), loss="mse")
        m.fit(x, y, batch_size=8, epochs=2, verbose=0)
        ws[be] = m.get_weights()
    for a, b in zip(ws[BACKENDS[0]], ws[BACKENDS[1]], strict=True):
        assert_close("weights after 8 steps", b, a, "float64", "params_10")


def test_ops_on_symbolic_tensors_save_and_load(tmp_path):
    a = dl.Input((3,))
    h = dl.layers.Dense(4, name="h")(a)
    y = ops.sum(ops.relu(h) * 2.0 - h, axis=-1, keepdims=True)
    m = dl.Model(a, y)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    m.save(tmp_path / "o.dlm")
    again = dl.load_model(tmp_path / "o.dlm")
    np.testing.assert_allclose(again.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)
    assert [type(l).__name__ for l in m.layers] == ["InputLayer", "Dense"]  # ops are not layers


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow not installed")
def test_tf_module_trains_and_native_is_a_tf_module():
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.ones((3, 2), "float32"), name="w")

        def __call__(self, x):
            return tf.matmul(x, self.w)

    x = dl.Input((3,))
    m = dl.Model(x, dl.layers.TFModule(Affine())(x), backend="tensorflow")
    data, target = _data()
    m.compile("sgd", loss="mse")
    m.fit(data.astype("float32"), target.astype("float32"), epochs=1, verbose=0)
    assert not np.allclose(m.get_weights()[0], 1.0)
    assert isinstance(m.native, tf.Module)


class Pair(dl.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d = dl.layers.Dense(2)

    def call(self, inputs):
        a, b = inputs
        return self.d(dl.layers.Concatenate()([a, ops.tanh(b)]))


def test_subclassed_model_with_two_inputs_builds_from_data():
    m = Pair()
    m.compile("sgd", loss="mse")
    x = [np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")]
    m.fit(x, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    assert m.predict(x, verbose=0).shape == (4, 2)
    s = dl.Sequential([dl.Input((3,)), GatedDense(2)])  # custom layers in Sequential too
    assert s.predict(np.ones((2, 3), "float32"), verbose=0).shape == (2, 2)


def test_example_custom_layer_runs_on_every_backend():
    import pathlib
    import runpy

    importlib.import_module("sklearn")
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "custom_layer.py"
    main = runpy.run_path(str(path))["main"]
    for be in BACKENDS:
        assert main(be, epochs=2) > 0.5


def test_layers_and_weights_outside_a_model():
    g = GatedDense(2)
    assert g(np.ones((2, 3), "float32")).shape == (2, 2)  # eager call on the active backend
    for be in BACKENDS:
        with dl.use_backend(be):
            got = ops.convert_to_numpy(ops.add(g.w, 1.0))  # a Weight outside a call: its value
        np.testing.assert_allclose(got, g.w.numpy() + 1.0)
    with ops.numpy_mode():  # built-in layers run their numpy reference in numpy mode
        assert dl.layers.Dense(2)(np.ones((1, 3))).shape == (1, 2)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch not installed")
def test_torch_module_saves_weights_and_loads_with_the_module(tmp_path):
    import torch

    torch.manual_seed(1)
    x = dl.Input((3,))
    m = dl.Model(x, dl.layers.TorchModule(torch.nn.Linear(3, 2), name="lin")(x), backend="torch")
    m.save(tmp_path / "t.dlm")
    with pytest.raises(SerializationError, match="custom_objects"):
        dl.load_model(tmp_path / "t.dlm", backend="torch")
    again = dl.load_model(
        tmp_path / "t.dlm", backend="torch", custom_objects={"lin": torch.nn.Linear(3, 2)}
    )
    data = np.ones((2, 3), "float32")
    np.testing.assert_allclose(again.predict(data, verbose=0), m.predict(data, verbose=0))
