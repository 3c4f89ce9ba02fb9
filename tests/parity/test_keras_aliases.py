"""Keras's other spellings (docs/porting.md, "Cheap to add"): each alias is the same object as
duallearn's canonical name, exactly where Keras's alias is the same object as Keras's canonical
name, and every alias exists in real Keras 3 (so none is invented). Registration
(``register_keras_serializable``) lets ``load_model`` find a custom layer, loss or function
without ``custom_objects``, under Keras's ``"package>name"`` key."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import SerializationError

from ..conftest import BACKENDS, both

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _resolve(root, dotted):
    obj = root
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _keras_has(dotted):
    try:
        _resolve(keras, dotted)
    except AttributeError:
        return False
    return True


# (alias, canonical): paths below the top module, the same on both sides (dl.X / keras.X)
ALIASES = [
    ("layers.MaxPool1D", "layers.MaxPooling1D"),
    ("layers.MaxPool2D", "layers.MaxPooling2D"),
    ("layers.AvgPool1D", "layers.AveragePooling1D"),
    ("layers.AvgPool2D", "layers.AveragePooling2D"),
    ("layers.GlobalAvgPool1D", "layers.GlobalAveragePooling1D"),
    ("layers.GlobalAvgPool2D", "layers.GlobalAveragePooling2D"),
    ("layers.GlobalMaxPool1D", "layers.GlobalMaxPooling1D"),
    ("layers.GlobalMaxPool2D", "layers.GlobalMaxPooling2D"),
    ("preprocessing.image_dataset_from_directory", "utils.image_dataset_from_directory"),
    ("preprocessing.text_dataset_from_directory", "utils.text_dataset_from_directory"),
    ("preprocessing.timeseries_dataset_from_array", "utils.timeseries_dataset_from_array"),
    ("preprocessing.image.load_img", "utils.load_img"),
    ("preprocessing.image.img_to_array", "utils.img_to_array"),
    ("preprocessing.image.array_to_img", "utils.array_to_img"),
    ("preprocessing.image.save_img", "utils.save_img"),
    ("preprocessing.sequence.pad_sequences", "utils.pad_sequences"),
    ("utils.register_keras_serializable", "saving.register_keras_serializable"),
    ("utils.get_registered_name", "saving.get_registered_name"),
    ("utils.get_registered_object", "saving.get_registered_object"),
    ("utils.get_custom_objects", "saving.get_custom_objects"),
    ("utils.custom_object_scope", "saving.CustomObjectScope"),
    ("utils.CustomObjectScope", "saving.CustomObjectScope"),
    ("saving.custom_object_scope", "saving.CustomObjectScope"),
]
ALIASES += [(f"ops.nn.{n}", f"ops.{n}") for n in dl.ops.nn.__all__]
ALIASES += [(f"ops.numpy.{n}", f"ops.{n}") for n in dl.ops.numpy.__all__]


@pytest.mark.parametrize(("alias", "canonical"), ALIASES, ids=[a for a, _ in ALIASES])
def test_alias_is_the_canonical_object_as_in_keras(alias, canonical):
    assert _keras_has(alias), f"keras.{alias} does not exist in Keras {keras.__version__}"
    assert _keras_has(canonical), f"keras.{canonical} does not exist"
    keras_same = _resolve(keras, alias) is _resolve(keras, canonical)
    assert keras_same, f"in Keras, {alias} is not {canonical}: an identity alias is wrong"
    assert _resolve(dl, alias) is _resolve(dl, canonical)


# Keras names the porting notes listed (keras_core-era spellings used by some examples) that
# Keras 3 does not have: duallearn does not invent them either.
NOT_IN_KERAS = [
    "backend.cast",
    "backend.shape",
    "ops.backend",
    "random.random",
    "utils.numerical_utils",
    "utils.image_utils",
    "optimizers.schedules.learning_rate_schedule",
    "losses.Reduction",
]


@pytest.mark.parametrize("name", NOT_IN_KERAS)
def test_names_keras_3_lacks_are_not_invented(name):
    assert not _keras_has(name)
    with pytest.raises(AttributeError):
        _resolve(dl, name)


def test_namespaces_hold_only_keras_names_of_the_same_namespace():
    assert set(dl.ops.nn.__all__) <= set(dir(keras.ops.nn))
    assert set(dl.ops.numpy.__all__) <= set(dir(keras.ops.numpy))
    assert {"relu", "sigmoid", "softmax", "conv", "max_pool"} <= set(dl.ops.nn.__all__)
    assert {"arange", "matmul", "where", "concatenate"} <= set(dl.ops.numpy.__all__)
    # every op of dl.ops that Keras exports from ops.nn / ops.numpy is there
    assert set(dl.ops.NAMES) & set(dir(keras.ops.nn)) == set(dl.ops.nn.__all__)
    assert set(dl.ops.NAMES) & set(dir(keras.ops.numpy)) == set(dl.ops.numpy.__all__)


def test_ops_namespaces_compute_what_keras_computes():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], "float32")
    with ops.numpy_mode():
        for name in ("relu", "sigmoid", "softmax", "gelu", "silu"):
            ours = np.asarray(getattr(dl.ops.nn, name)(x))
            theirs = keras.ops.convert_to_numpy(getattr(keras.ops.nn, name)(x))
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(
            np.asarray(dl.ops.numpy.arange(1, 7, 2)),
            keras.ops.convert_to_numpy(keras.ops.numpy.arange(1, 7, 2)),
        )


def test_short_pooling_spellings_build_the_same_layers():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    with dl.use_backend(BACKENDS[0]):
        long = dl.Sequential([dl.Input((4, 4, 3)), dl.layers.MaxPooling2D()])
        short = dl.Sequential([dl.Input((4, 4, 3)), dl.layers.MaxPool2D()])
        np.testing.assert_array_equal(short.predict(x, verbose=0), long.predict(x, verbose=0))
    assert type(short.layers[-1]).__name__ == "MaxPooling2D"  # configs name the class


# ---- registration -----------------------------------------------------------------------------


@dl.saving.register_keras_serializable(package="aliases_pkg")
class Scaled(dl.layers.Layer):
    """y = x · s with a trainable scale per feature."""

    def __init__(self, init=2.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.s = self.add_weight("s", (input_shape[-1],), "ones")

    def call(self, x):
        return x * self.s * self.init

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@dl.saving.register_keras_serializable(package="aliases_pkg", name="half_mse")
def half_mse_loss(y_true, y_pred):
    return 0.5 * ops.mean(ops.square(y_pred - y_true), axis=-1)


def _model():
    x = dl.Input((3,))
    return dl.Model(x, dl.layers.Dense(2)(Scaled(1.5)(x)))


def test_registered_names_are_keras_names():
    @keras.saving.register_keras_serializable(package="aliases_pkg")
    class Scaled(keras.layers.Layer):  # noqa: F811 - Keras's twin, registered the same way
        def get_config(self):
            return super().get_config()

    @keras.saving.register_keras_serializable(package="aliases_pkg", name="half_mse")
    def half_mse_loss(y_true, y_pred):  # noqa: F811
        return 0.5 * keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1)

    dl_scaled, dl_loss = globals()["Scaled"], globals()["half_mse_loss"]
    assert dl.saving.get_registered_name(dl_scaled) == keras.saving.get_registered_name(Scaled)
    assert dl.saving.get_registered_name(dl_scaled) == "aliases_pkg>Scaled"
    assert dl.saving.get_registered_name(dl_loss) == keras.saving.get_registered_name(half_mse_loss)
    assert dl.saving.get_registered_name(dl_loss) == "aliases_pkg>half_mse"
    # an unregistered object: its __name__, as Keras
    assert dl.saving.get_registered_name(np.mean) == keras.saving.get_registered_name(np.mean)
    assert dl.saving.get_registered_object("aliases_pkg>Scaled") is dl_scaled
    assert keras.saving.get_registered_object("aliases_pkg>Scaled") is Scaled
    assert dl.saving.get_registered_object("nothing>Here") is None
    assert dl.saving.get_registered_object("x", custom_objects={"x": 1}) == 1
    assert dl.saving.get_registered_object("x", module_objects={"x": 2}) == 2
    assert dl.saving.get_custom_objects()["aliases_pkg>Scaled"] is dl_scaled


def test_a_class_without_get_config_is_refused_as_by_keras():
    class Plain:
        pass

    with pytest.raises(ValueError, match="get_config"):
        keras.saving.register_keras_serializable("aliases_pkg")(Plain)
    with pytest.raises(ValueError, match="get_config"):
        dl.saving.register_keras_serializable("aliases_pkg")(Plain)


def test_registered_layer_and_loss_load_without_custom_objects(backend, tmp_path):
    x = np.random.default_rng(0).standard_normal((8, 3)).astype("float32")
    y = np.random.default_rng(1).standard_normal((8, 2)).astype("float32")
    m = _model()
    m.compile(optimizer="sgd", loss=half_mse_loss)
    m.fit(x, y, epochs=1, batch_size=4, verbose=0)
    m.save(tmp_path / "m.dlm")
    again = dl.load_model(tmp_path / "m.dlm")
    assert isinstance(again.layers[1], Scaled)
    np.testing.assert_allclose(again.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(
        again.evaluate(x, y, verbose=0), m.evaluate(x, y, verbose=0), rtol=1e-6
    )


@both()
def test_registered_layer_crosses_backends(tmp_path):
    x = np.random.default_rng(2).standard_normal((4, 3)).astype("float32")
    with dl.use_backend("torch"):
        m = _model()
        ref = m.predict(x, verbose=0)
        m.save(tmp_path / "t.dlm")
    with dl.use_backend("tensorflow"):
        again = dl.load_model(tmp_path / "t.dlm")
        np.testing.assert_allclose(again.predict(x, verbose=0), ref, rtol=1e-6)


def test_custom_objects_dict_and_scope_are_known_to_loaders(tmp_path):
    class Cube(dl.layers.Layer):  # not decorated: made known through the dict / a scope
        def call(self, x):
            return ops.power(x, 3)

    def triple(t):
        return ops.multiply(t, 3.0)

    x = dl.Input((2,))
    m = dl.Model(x, dl.layers.Lambda(triple)(x))
    m.save(tmp_path / "l.dlm")
    with pytest.raises(SerializationError, match="custom_objects"):
        dl.load_model(tmp_path / "l.dlm")
    with dl.utils.custom_object_scope({"triple": triple}):
        again = dl.load_model(tmp_path / "l.dlm")
    np.testing.assert_allclose(again.predict(np.ones((1, 2), "float32"), verbose=0), 3.0)

    m = dl.Model(x, Cube()(x))
    with pytest.raises(SerializationError, match="register"):
        m.save(tmp_path / "c.dlm")
    dl.saving.get_custom_objects()["Cube"] = Cube  # Keras's other way to register
    try:
        m.save(tmp_path / "c.dlm")
        again = dl.load_model(tmp_path / "c.dlm")
        assert isinstance(again.layers[-1], Cube)
    finally:
        del dl.saving.get_custom_objects()["Cube"]
