"""``dl.applications`` ResNet / ResNetV2 / VGG against Keras 3's own ``keras.applications``
(TensorFlow backend): layer names, parameter counts, ``predict`` with the same weights on both
backends, the headless pooled variants, ``preprocess_input`` / ``decode_predictions``, the
legacy-``.h5`` weight loader and the ``"imagenet"`` cache path, and Keras's argument rules."""

from __future__ import annotations

import hashlib
import importlib
import json
import os

import numpy as np
import pytest

import duallearn as dl
from duallearn import _naming
from duallearn.errors import ConfigError, SerializationError, ShapeError
from duallearn.testing import assert_close, max_errors

from ..conftest import BACKENDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
keras = importlib.import_module("keras")

# name -> (module, smallest input side we test with)
ARCHS = {
    "ResNet50": ("resnet", 64),
    "ResNet101": ("resnet", 32),
    "ResNet152": ("resnet", 32),
    "ResNet50V2": ("resnet_v2", 64),
    "ResNet101V2": ("resnet_v2", 32),
    "ResNet152V2": ("resnet_v2", 32),
    "VGG16": ("vgg16", 32),
    "VGG19": ("vgg19", 32),
}
# ResNet101/152 (V1, V2) are ResNet50's blocks stacked more times (the same builder code, the
# same layer kinds), so the engines' numbers are proven by ResNet50 on every backend; the deeper
# ones are checked for names, counts and outputs on one backend (each TensorFlow trace of a
# 150-layer network costs ~5 s).
DEEPER = {"ResNet101", "ResNet152", "ResNet101V2", "ResNet152V2"}
_KERAS_CACHE: dict[tuple, dict] = {}


def _set_test_weights(model, seed: int) -> list[np.ndarray]:
    """The model's initial kernels with BatchNormalization statistics drawn at random (so the
    inference formula and its epsilon are exercised); the same on every backend."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            shape = layer.weights[0].shape
            layer.set_weights([
                rng.uniform(0.5, 1.5, shape).astype("float32"),
                rng.normal(0.0, 0.1, shape).astype("float32"),
                rng.normal(0.0, 0.1, shape).astype("float32"),
                rng.uniform(0.5, 1.5, shape).astype("float32"),
            ])  # fmt: skip
    return model.get_weights()


def _keras_model(name: str, **kwargs):
    keras.backend.clear_session()
    return getattr(keras.applications, name)(weights=None, **kwargs)


def _images(side: int, n: int = 2, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0, 255, (n, side, side, 3)).astype("float32")
    return dl.applications.imagenet_utils.preprocess_input(x)


def _keras_facts(name: str, kwargs: dict, weights: list[np.ndarray], x: np.ndarray) -> dict:
    """Keras's model facts (name, layer names, parameter count, weight shapes) and its output
    with our weights; built once per architecture and arguments, reused by the other backend
    (the weights are identical on both backends: the front-end draws them, checked here)."""
    key = (name, tuple(sorted(kwargs.items())))
    facts = _KERAS_CACHE.get(key)
    if facts is None or not all(
        np.array_equal(a, b) for a, b in zip(facts["weights"], weights, strict=True)
    ):
        kmodel = _keras_model(name, **kwargs)
        facts = {
            "name": kmodel.name,
            "layers": [layer.name for layer in kmodel.layers],
            "params": kmodel.count_params(),
            "shapes": [w.shape for w in kmodel.get_weights()],
        }
        assert facts["shapes"] == [w.shape for w in weights]
        kmodel.set_weights(weights)
        facts["out"] = np.asarray(kmodel(x, training=False))
        facts["weights"] = weights
        _KERAS_CACHE[key] = facts
    return facts


def _check_against_keras(label: str, name: str, kwargs: dict, side: int, seed: int, call):
    model = getattr(dl.applications, name)(weights=None, **kwargs)
    weights = _set_test_weights(model, seed)
    x = _images(side, seed=seed)
    facts = _keras_facts(name, kwargs, weights, x)
    assert model.name == facts["name"]
    assert [layer.name for layer in model.layers] == facts["layers"]
    assert model.count_params() == facts["params"]
    y = call(model, x)
    assert np.std(facts["out"]) > 0, f"{label}: Keras's output is constant; the test is void"
    assert_close(label, y, facts["out"], "float32", "forward")
    err, rel = max_errors(y, facts["out"])
    print(f"{label}: max abs error {err:.2e}, relative to max|ref| {rel:.2e}")  # run with -s
    return y


@pytest.mark.parametrize("name", list(ARCHS))
def test_architecture_matches_keras(name):
    """The classifier (logits) on small images; ``predict`` on every backend vs Keras (one
    Keras build for all backends)."""
    module, side = ARCHS[name]
    assert getattr(getattr(dl.applications, module), name) is getattr(dl.applications, name)
    kwargs = {"input_shape": (side, side, 3), "classes": 10, "classifier_activation": None}
    for backend in BACKENDS if name not in DEEPER else BACKENDS[-1:]:
        _naming.reset_names()  # each backend's model as built first in a session
        with dl.use_backend(backend):
            _check_against_keras(
                f"{name} {backend} logits vs Keras", name, kwargs, side, len(name),
                lambda m, x: m.predict(x, verbose=0),
            )  # fmt: skip


# every pooling of three families on torch; VGG16's on TensorFlow too (each TensorFlow model
# costs seconds of graph building, and the pooling layers have their own parity tests)
HEADLESS = [
    (n, p, "torch") for n in ("ResNet50", "ResNet50V2", "VGG16") for p in (None, "avg", "max")
]
HEADLESS += [("VGG16", p, "tensorflow") for p in (None, "avg", "max")]


@pytest.mark.parametrize(("name", "pooling", "engine"), HEADLESS)
def test_headless_pooling_matches_keras(name, pooling, engine):
    if engine not in BACKENDS:
        pytest.skip(f"{engine} not installed")
    kwargs = {"include_top": False, "input_shape": (64, 64, 3), "pooling": pooling}
    with dl.use_backend(engine):  # 64×64: a 2×2 final map, so the pools differ
        y = _check_against_keras(
            f"{name} pooling={pooling} {engine} vs Keras", name, kwargs, 64, 3,
            lambda m, x: m.predict(x, verbose=0),
        )  # fmt: skip
    features = 2048 if "Res" in name else 512
    assert y.shape == ((2, 2, 2, features) if pooling is None else (2, features))


# ---- preprocess_input / decode_predictions -------------------------------------------------
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", [None, "channels_last", "channels_first"])
@pytest.mark.parametrize("ndim", [3, 4])
def test_preprocess_input_matches_keras(mode, data_format, ndim):
    from keras.src.applications import imagenet_utils as kutils

    shape = (2, 5, 4, 3) if data_format != "channels_first" else (2, 3, 5, 4)
    raw = np.random.default_rng(ndim).uniform(0, 255, shape[-ndim:]).astype("float32")
    ours = dl.applications.imagenet_utils.preprocess_input(raw.copy(), data_format, mode)
    ref = kutils.preprocess_input(raw.copy(), data_format=data_format, mode=mode)
    np.testing.assert_array_equal(ours, ref)
    # integers become floatx, as in Keras
    ints = raw.astype("uint8")
    ours = dl.applications.imagenet_utils.preprocess_input(ints, data_format, mode)
    ref = kutils.preprocess_input(ints, data_format=data_format, mode=mode)
    assert ours.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("module", ["resnet", "resnet50", "resnet_v2", "vgg16", "vgg19"])
def test_module_preprocess_input_matches_keras(module):
    raw = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    ours = getattr(dl.applications, module).preprocess_input(raw.copy())
    ref = getattr(keras.applications, module).preprocess_input(raw.copy())
    np.testing.assert_array_equal(ours, ref)


def test_preprocess_input_bad_arguments():
    pre = dl.applications.imagenet_utils.preprocess_input
    with pytest.raises(ConfigError, match=r"mode=.*'caffe'|Received: mode='foo'"):
        pre(np.zeros((1, 2, 2, 3)), mode="foo")
    with pytest.raises(ConfigError, match="data_format='nhwc'"):
        pre(np.zeros((1, 2, 2, 3)), data_format="nhwc")


@pytest.fixture
def class_index_cache(tmp_path, monkeypatch):
    """A fake ``imagenet_class_index.json`` pre-placed where get_file looks
    (``$DUALLEARN_HOME/models``); its own md5 replaces Keras's, so the hash check passes and
    no download is tried (urlopen fails the test if called). Keras gets the same index."""
    from keras.src.applications import imagenet_utils as kutils

    from duallearn.utils import _files

    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "imagenet_class_index.json"
    path.write_text(json.dumps(index))
    monkeypatch.setenv("DUALLEARN_HOME", str(tmp_path))
    monkeypatch.setattr(
        dl.applications.imagenet_utils,
        "CLASS_INDEX_HASH",
        hashlib.md5(path.read_bytes()).hexdigest(),
    )
    monkeypatch.setattr(_files.urllib.request, "urlopen", _no_network)
    monkeypatch.setattr(kutils, "CLASS_INDEX", index)
    return index


def _no_network(*args, **kwargs):
    raise AssertionError(f"a download was attempted: {args}")


@pytest.mark.parametrize("module", ["imagenet_utils", "resnet", "resnet_v2", "vgg16", "vgg19"])
def test_decode_predictions_matches_keras(module, class_index_cache):
    preds = np.random.default_rng(5).random((3, 1000)).astype("float32")
    preds[1, 7] = preds[1, 9] = 2.0  # a tie: broken as Keras's argsort breaks it
    ours = getattr(dl.applications, module).decode_predictions(preds, top=4)
    kmod = keras.applications.imagenet_utils if module == "imagenet_utils" else None
    ref = (kmod or getattr(keras.applications, module)).decode_predictions(preds, top=4)
    assert ours == ref
    assert {r[:2] for r in ours[1][:2]} == {("n00000007", "class_7"), ("n00000009", "class_9")}
    with pytest.raises(ShapeError, match=r"\(samples, 1000\).*\(3, 10\)"):
        dl.applications.imagenet_utils.decode_predictions(np.zeros((3, 10)))


# ---- weights files -------------------------------------------------------------------------
def _write_keras_legacy_h5(kmodel, path) -> None:
    """Keras 3's own writer of the legacy layout (the layout of the published ImageNet files)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


def _write_h5(path, layers: list[tuple[str, list[np.ndarray]]], chunked: bool = False) -> None:
    """A Keras-2-style legacy file written by hand (layer names chosen by the test)."""
    import h5py

    with h5py.File(path, "w") as f:
        names = [n.encode() for n, _ in layers]
        if chunked:  # Keras splits long attribute lists past HDF5's header limit
            f.attrs["layer_names0"], f.attrs["layer_names1"] = names[:2], names[2:]
        else:
            f.attrs["layer_names"] = names
        for name, arrays in layers:
            g = f.create_group(name)
            wnames = [f"{name}/w{i}:0".encode() for i in range(len(arrays))]
            g.attrs["weight_names"] = wnames
            for wn, a in zip(wnames, arrays, strict=True):
                g.create_dataset(wn, data=a)


@pytest.fixture(scope="module")
def keras_resnet50_file(tmp_path_factory):
    """Keras's headless ResNet50 with random BN statistics, saved in the legacy layout."""
    kmodel = _keras_model("ResNet50", include_top=False, input_shape=(64, 64, 3), pooling="avg")
    rng = np.random.default_rng(11)
    kmodel.set_weights([
        w + rng.normal(0, 0.05, w.shape).astype("float32") if w.ndim == 1 else w
        for w in kmodel.get_weights()
    ])  # fmt: skip
    path = tmp_path_factory.mktemp("weights") / "resnet50_notop_legacy.h5"
    _write_keras_legacy_h5(kmodel, path)
    x = _images(64, seed=2)
    return path, x, np.asarray(kmodel(x, training=False))


def test_legacy_h5_path_loads_as_keras(keras_resnet50_file, backend):
    path, x, ref = keras_resnet50_file
    model = dl.applications.ResNet50(
        weights=str(path), include_top=False, input_shape=(64, 64, 3), pooling="avg"
    )
    assert_close(f"ResNet50(weights=h5) {backend} vs Keras", model.predict(x, verbose=0), ref,
                 "float32", "forward")  # fmt: skip
    # Keras reads the same file into its model: the layout is Keras's own
    kmodel = _keras_model("ResNet50", include_top=False, input_shape=(64, 64, 3), pooling="avg")
    kmodel.load_weights(str(path))
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_imagenet_loads_from_the_cache(keras_resnet50_file, tmp_path, monkeypatch):
    """``weights="imagenet"`` with the file pre-placed under Keras's file name in
    ``$DUALLEARN_HOME/models``: the real file is 100 MB, so the legacy file written above stands
    in for it and Keras's md5 is replaced by that file's own md5 (the hash check runs, and
    passes); no download may happen."""
    from duallearn.applications import resnet
    from duallearn.utils import _files

    path, x, ref = keras_resnet50_file
    folder = tmp_path / "models"
    folder.mkdir()
    cached = folder / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.write_bytes(path.read_bytes())
    md5 = hashlib.md5(cached.read_bytes()).hexdigest()
    monkeypatch.setenv("DUALLEARN_HOME", str(tmp_path))
    monkeypatch.setitem(resnet.WEIGHTS_HASHES, "resnet50", ("unused", md5))
    monkeypatch.setattr(_files.urllib.request, "urlopen", _no_network)
    model = dl.applications.ResNet50(include_top=False, input_shape=(64, 64, 3), pooling="avg")
    assert_close("ResNet50(weights='imagenet') from cache", model.predict(x, verbose=0), ref,
                 "float32", "forward")  # fmt: skip


def test_imagenet_offline_names_url_and_cache_path(tmp_path, monkeypatch):
    """Keras's real md5 and no network: a DownloadError naming Keras's URL and the file."""
    import urllib.error

    from duallearn.utils import _files

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("DUALLEARN_HOME", str(tmp_path))
    monkeypatch.setattr(_files.urllib.request, "urlopen", offline)
    url = (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    with pytest.raises(_files.DownloadError) as err:
        dl.applications.VGG16(include_top=False, input_shape=(32, 32, 3))
    assert url in str(err.value)
    assert str(tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in str(
        err.value
    )
    assert not os.listdir(tmp_path / "models")  # nothing half-written


def _vgg_legacy_layers(model, names) -> list[tuple[str, list[np.ndarray]]]:
    weighted = [layer for layer in model.layers if layer.weights]
    rng = np.random.default_rng(0)
    return [
        (n, [rng.normal(0, 0.1, w.shape).astype("float32") for w in layer.weights])
        for n, layer in zip(names, weighted, strict=True)
    ]


def test_legacy_h5_by_order_when_names_differ(tmp_path):
    """Keras-2 files whose automatic names differ (``conv2d_1``...) load in the order of the
    weighted layers, as ``keras.Model.load_weights`` does; attributes split into chunks too."""
    model = dl.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    layers = _vgg_legacy_layers(model, [f"conv2d_{i}" for i in range(1, 14)])
    path = tmp_path / "keras2.h5"
    _write_h5(path, layers, chunked=True)
    model = dl.applications.VGG16(weights=str(path), include_top=False, input_shape=(32, 32, 3))
    for got, (_, arrays) in zip(
        [layer.get_weights() for layer in model.layers if layer.weights], layers, strict=True
    ):
        for a, b in zip(got, arrays, strict=True):
            np.testing.assert_array_equal(a, b)


def test_legacy_h5_mismatches_are_clear(tmp_path):
    model = dl.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers if layer.weights]
    layers = _vgg_legacy_layers(model, names)
    layers[2] = (layers[2][0], [a[..., :5] for a in layers[2][1]])
    path = tmp_path / "bad_shape.h5"
    _write_h5(path, layers)
    with pytest.raises(ShapeError, match=r"'block2_conv1'.*expected shapes \[\(3, 3, 64, 128\)"):
        dl.applications.VGG16(weights=str(path), include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "short.h5"
    _write_h5(path, layers[:5])
    with pytest.raises(
        SerializationError, match="holds 5 layers with weights; model 'vgg16' has 13"
    ):
        dl.applications.VGG16(weights=str(path), include_top=False, input_shape=(32, 32, 3))
    # a Keras 3 .weights.h5 file loads too (dl.saving reads Keras 3 weight files)
    kmodel = _keras_model("VGG16", include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "k3.weights.h5"
    kmodel.save_weights(str(path))
    ours = dl.applications.VGG16(weights=str(path), include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(ours.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_duallearn_weights_file_loads(tmp_path):
    model = dl.applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
    _set_test_weights(model, seed=9)
    path = str(tmp_path / "r.safetensors")  # (a .weights.h5 name now writes Keras 3 weights)
    model.save_weights(path)
    again = dl.applications.ResNet50V2(weights=path, include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---- Keras's argument rules ----------------------------------------------------------------
BAD_ARGUMENTS = [
    ("ResNet50", {"weights": "foo"}, ConfigError, r"weights='foo'.*Fix"),
    ("VGG16", {"weights": "imagenet", "classes": 10}, ConfigError, r"should be 1000\. Received: classes=10"),
    ("ResNet101", {"weights": "imagenet", "input_shape": (64, 64, 3)}, ShapeError,
     r"should be \(224, 224, 3\)\. Received: input_shape=\(64, 64, 3\)"),
    ("ResNet50V2", {"weights": None, "input_shape": (31, 64, 3)}, ShapeError,
     r"at least 32x32.*\(31, 64, 3\)"),
    ("VGG19", {"weights": None, "input_shape": (64, 64)}, ShapeError, "three integers"),
    ("ResNet152", {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)},
     ShapeError, "3 channels"),
    ("ResNet50", {"weights": None, "input_shape": (None, 64, 3)}, ShapeError,
     "static `input_shape`"),
    ("ResNet50", {"weights": "imagenet", "classifier_activation": "relu"}, ConfigError,
     r"classifier_activation='relu'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_follow_keras(name, kwargs, error, message, tmp_path, monkeypatch):
    from duallearn.utils import _files

    monkeypatch.setattr(_files.urllib.request, "urlopen", _no_network)
    with pytest.raises(error, match=message):
        getattr(dl.applications, name)(**kwargs)
    keras.backend.clear_session()
    with pytest.raises(ValueError):  # Keras refuses the same call (before any download)
        getattr(keras.applications, name)(**kwargs)


def test_pooling_is_checked():  # Keras ignores an unknown pooling; we refuse it
    with pytest.raises(ConfigError, match="pooling='mean'"):
        dl.applications.ResNet50(weights=None, include_top=False, pooling="mean")


def test_unusual_channel_count_warns_as_keras():
    with pytest.warns(UserWarning, match="1 or 3 input channels"):
        model = dl.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 4))
    assert model.inputs[0].shape == (None, 32, 32, 4)


def test_public_names():
    expected = {"ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
                "VGG16", "VGG19", "imagenet_utils", "resnet", "resnet50", "resnet_v2", "vgg16",
                "vgg19"}  # fmt: skip
    assert expected <= set(dl.applications.__all__)
    for name in dl.applications.__all__:
        assert hasattr(dl.applications, name)
        if name[0].isupper():
            assert hasattr(keras.applications, name)
    assert dl.applications.resnet50.ResNet50 is dl.applications.resnet.ResNet50
    _naming.reset_names()
