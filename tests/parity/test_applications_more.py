"""``dl.applications`` MobileNet / MobileNetV2 / EfficientNet / DenseNet / InceptionV3 /
Xception against Keras 3's own ``keras.applications`` (TensorFlow backend): layer names (in
order: Keras's legacy ``.h5`` files load by that order), parameter counts, ``predict`` with the
same weights on both backends, the headless pooled variants, ``alpha``, each module's
``preprocess_input`` / ``decode_predictions``, the weights-file names, and Keras's argument
rules."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn import _naming
from duallearn.applications import imagenet_utils
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close

from ..conftest import BACKENDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
keras = importlib.import_module("keras")

# case -> (function, module, smallest allowed input side, extra arguments)
ARCHS = {
    "MobileNetV2": ("MobileNetV2", "mobilenet_v2", 32, {}),
    "MobileNetV2-alpha0.35": ("MobileNetV2", "mobilenet_v2", 32, {"alpha": 0.35}),
    "EfficientNetB0": ("EfficientNetB0", "efficientnet", 32, {}),
    "DenseNet121": ("DenseNet121", "densenet", 32, {}),
    "MobileNet": ("MobileNet", "mobilenet", 32, {}),
    "MobileNet-alpha0.5": ("MobileNet", "mobilenet", 32, {"alpha": 0.5, "depth_multiplier": 2}),
    "Xception": ("Xception", "xception", 71, {}),
    "InceptionV3": ("InceptionV3", "inception_v3", 75, {}),
}
# kernel gain of the test weights: swish and squeeze-excite shrink the signal more than ReLU
GAIN = {"EfficientNetB0": 2.3}
MODULES = ["mobilenet", "mobilenet_v2", "efficientnet", "densenet", "inception_v3", "xception"]
_KERAS_CACHE: dict[tuple, dict] = {}


def _set_test_weights(model, seed: int, gain: float = 2.0) -> list[np.ndarray]:
    """The model's initial kernels with every BatchNormalization's and Normalization's
    statistics, and every bias, drawn at random (so the inference formulas and epsilons are
    exercised); the same on every backend."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kind = type(layer).__name__
        values = layer.get_weights()
        if not values:
            continue
        if kind == "BatchNormalization":  # [gamma,] [beta,] moving mean, moving variance
            new = [rng.normal(0.0, 0.1, v.shape) for v in values[:-1]]
            if layer.scale:
                new[0] = rng.uniform(0.5, 1.5, values[0].shape)
            new.append(rng.uniform(0.5, 1.5, values[-1].shape))
        elif kind == "Normalization":  # mean, variance, count (an int, kept)
            new = [
                rng.uniform(0.3, 0.6, values[0].shape),
                rng.uniform(0.04, 0.09, values[1].shape),
                values[2],
            ]
        else:  # He-scaled kernels (the signal keeps its size through the depth); biases random
            new = [_kernel(kind, v, rng, gain) if v.ndim > 1 else rng.normal(0.0, 0.1, v.shape)
                   for v in values]  # fmt: skip
        layer.set_weights([np.asarray(n).astype(v.dtype) for n, v in zip(new, values, strict=True)])
    return model.get_weights()


def _kernel(kind: str, v: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    """``N(0, gain / fan_in)``; fan_in is ``kh·kw`` for a depthwise kernel (one input channel
    per output), whose gain is 1 inside a SeparableConv2D (its pointwise kernel follows with
    no activation between)."""
    separable = kind == "SeparableConv2D" and v.shape[0] > 1
    depthwise = kind == "DepthwiseConv2D" or separable
    fan_in = v.shape[0] * v.shape[1] if depthwise else int(np.prod(v.shape[:-1]))
    return rng.normal(0.0, np.sqrt((1.0 if separable else gain) / fan_in), v.shape)


def _keras_model(name: str, **kwargs):
    keras.backend.clear_session()
    return getattr(keras.applications, name)(weights=None, **kwargs)


def _images(module: str, side: int, n: int = 2, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0, 255, (n, side, side, 3)).astype("float32")
    return getattr(dl.applications, module).preprocess_input(x)


def _keras_facts(name: str, kwargs: dict, weights: list[np.ndarray], x: np.ndarray) -> dict:
    """Keras's model facts (name, layer names and types, parameter count, weight paths and
    shapes) and its output with our weights: one Keras build per architecture and arguments
    in a worker (a build takes seconds), reused while the weights are the same (they are on
    every backend: the front-end draws them)."""
    key = (name, tuple(sorted(kwargs.items())))
    facts = _KERAS_CACHE.get(key)
    if facts is not None and all(
        np.array_equal(a, b) for a, b in zip(facts["weights"], weights, strict=True)
    ):
        return facts
    kmodel = _keras_model(name, **kwargs)
    facts = _structure(kmodel)
    kmodel.set_weights(weights)
    for layer in kmodel.layers:  # Keras's set_weights leaves Normalization's cached mean and
        if hasattr(layer, "finalize_state"):  # variance stale; its .h5 loader refreshes them so
            layer.finalize_state()
    facts["out"] = np.asarray(kmodel(x, training=False))
    facts["weights"] = weights
    _KERAS_CACHE[key] = facts
    return facts


def _structure(kmodel) -> dict:
    return {
        "name": kmodel.name,
        "layers": [layer.name for layer in kmodel.layers],
        "types": [type(layer).__name__.replace("Functional", "Model") for layer in kmodel.layers],
        "params": kmodel.count_params(),
        "paths": [w.path for w in kmodel.weights],
        "shapes": [w.shape for w in kmodel.get_weights()],
    }


def _same_structure(model, facts: dict) -> None:
    assert model.name == facts["name"]
    assert [layer.name for layer in model.layers] == facts["layers"]
    assert [type(layer).__name__ for layer in model.layers] == facts["types"]
    assert model.count_params() == facts["params"]
    assert [w.path for w in model.weights] == facts["paths"]
    assert [w.shape for w in model.get_weights()] == facts["shapes"]


@pytest.mark.parametrize("case", list(ARCHS))
def test_architecture_matches_keras(case):
    """The classifier (logits) on small images: ``predict`` on every backend against Keras's
    output with the same weights, and the same structure (one Keras build for all backends)."""
    name, module, side, extra = ARCHS[case]
    kwargs = {"input_shape": (side, side, 3), "classes": 10, "classifier_activation": None}
    kwargs.update(extra)
    assert getattr(getattr(dl.applications, module), name) is getattr(dl.applications, name)
    x = _images(module, side)
    for backend in BACKENDS:
        _naming.reset_names()  # each backend's model as built first in a session
        with dl.use_backend(backend):
            model = getattr(dl.applications, name)(weights=None, **kwargs)
            weights = _set_test_weights(model, seed=len(case), gain=GAIN.get(name, 2.0))
            y = model.predict(x, verbose=0)
        facts = _keras_facts(name, kwargs, weights, x)
        _same_structure(model, facts)
        assert y.shape == (2, 10)
        # the two images give different logits: the check is about the input, not the biases
        assert np.max(np.abs(y[0] - y[1])) > 1e-2 * np.max(np.abs(y)), y
        assert_close(f"{case} {backend} logits vs Keras", y, facts["out"], "float32", "forward")


# the two poolings on different backends: each backend and each pooling once per architecture
@pytest.mark.parametrize("case", ["MobileNetV2", "EfficientNetB0", "DenseNet121", "MobileNet",
                                  "Xception", "InceptionV3"])  # fmt: skip
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_headless_pooling_matches_keras(case, pooling):
    name, module, side, _ = ARCHS[case]
    kwargs = {"include_top": False, "input_shape": (side, side, 3), "pooling": pooling}
    backend = BACKENDS[0] if pooling == "avg" else BACKENDS[-1]
    with dl.use_backend(backend):
        model = getattr(dl.applications, name)(weights=None, **kwargs)
        weights = _set_test_weights(model, seed=3, gain=GAIN.get(name, 2.0))
        x = _images(module, side, seed=1)
        y = model.predict(x, verbose=0)
    facts = _keras_facts(name, kwargs, weights, x)
    _same_structure(model, facts)
    assert y.ndim == 2
    assert_close(f"{case} pooling={pooling} {backend} vs Keras", y, facts["out"], "float32",
                 "forward")  # fmt: skip


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("EfficientNetB1", {}),
        ("EfficientNetB3", {}),
        ("DenseNet169", {}),
        ("DenseNet201", {}),
        ("MobileNetV2", {"alpha": 1.4}),
        ("MobileNet", {"alpha": 0.25}),
    ],
)
def test_variants_match_keras_structure(name, kwargs):
    """The other sizes (built, not run): names, order, parameter counts, weight paths."""
    kwargs = {"include_top": False, "input_shape": (32, 32, 3), **kwargs}
    model = getattr(dl.applications, name)(weights=None, **kwargs)
    _same_structure(model, _structure(_keras_model(name, **kwargs)))


def test_headless_defaults_and_feature_shapes():
    model = dl.applications.MobileNetV2(weights=None, include_top=False)
    kmodel = _keras_model("MobileNetV2", include_top=False)
    assert model.inputs[0].shape == tuple(kmodel.inputs[0].shape) == (None, None, None, 3)
    assert model.name == kmodel.name == "mobilenetv2_1.00_None"  # as Keras
    model = dl.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(64, 64, 3))
    assert model.outputs[0].shape == (None, 2, 2, 1280)
    model = dl.applications.InceptionV3(weights=None)
    assert model.inputs[0].shape == (None, 299, 299, 3)


def test_efficientnet_stochastic_depth_and_preprocessing_layers():
    """Keras's stochastic depth: a per-sample Dropout (``noise_shape=(None, 1, 1, 1)``) whose
    rate rises linearly with the block index; the in-model preprocessing layers."""
    model = dl.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3))
    kmodel = _keras_model("EfficientNetB0", input_shape=(32, 32, 3))
    drops = [layer for layer in model.layers if layer.name.endswith("_drop")]
    kdrops = [layer for layer in kmodel.layers if layer.name.endswith("_drop")]
    assert [d.name for d in drops] == [d.name for d in kdrops] and len(drops) == 9
    for ours, theirs in zip(drops, kdrops, strict=True):
        assert tuple(ours.noise_shape) == tuple(theirs.noise_shape) == (None, 1, 1, 1)
        assert ours.rate == pytest.approx(theirs.rate)
    assert model.get_layer("top_dropout").rate == 0.2
    assert [type(layer).__name__ for layer in model.layers[1:3]] == ["Rescaling", "Normalization"]
    assert model.get_layer("rescaling").scale == pytest.approx(1 / 255)


# ---- preprocess_input / decode_predictions -------------------------------------------------
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("data_format", [None, "channels_first"])
def test_module_preprocess_input_matches_keras(module, data_format):
    raw = np.random.default_rng(0).uniform(0, 255, (2, 3, 4, 3)).astype("float32")
    ours = getattr(dl.applications, module).preprocess_input(raw.copy(), data_format=data_format)
    ref = getattr(keras.applications, module).preprocess_input(raw.copy(), data_format=data_format)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))


@pytest.mark.parametrize("module", MODULES)
def test_module_decode_predictions_is_imagenet_utils(module, monkeypatch):
    calls = []

    def spy(preds, top=5):
        calls.append((preds, top))
        return [[("n0", "c", 1.0)]]

    monkeypatch.setattr(imagenet_utils, "decode_predictions", spy)
    preds = np.zeros((1, 1000))
    assert getattr(dl.applications, module).decode_predictions(preds, top=3) == [[("n0", "c", 1.0)]]
    assert calls == [(preds, 3)]


# ---- weights files -------------------------------------------------------------------------
def _write_keras_legacy_h5(kmodel, path) -> None:
    """Keras 3's own writer of the legacy layout (the layout of the published ImageNet files)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


def test_inception_legacy_h5_with_other_automatic_names_loads_by_order(tmp_path):
    """InceptionV3's conv/BN layers are unnamed, so a file written by another session carries
    other automatic names (``conv2d_95``...): it loads by the order of the weighted layers, as
    ``keras.Model.load_weights`` does."""
    kwargs = {"include_top": False, "input_shape": (75, 75, 3), "pooling": "avg"}
    model = dl.applications.InceptionV3(weights=None, **kwargs)
    weights = _set_test_weights(model, seed=5)
    keras.backend.clear_session()
    keras.layers.Conv2D(1, 1), keras.layers.BatchNormalization()  # shift the automatic names
    kmodel = keras.applications.InceptionV3(weights=None, **kwargs)
    kmodel.set_weights(weights)
    assert kmodel.layers[1].name == "conv2d_1" != model.layers[1].name
    path = tmp_path / "inception_v3_notop.h5"
    _write_keras_legacy_h5(kmodel, path)
    again = dl.applications.InceptionV3(weights=str(path), **kwargs)
    for a, b in zip(again.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("name", "kwargs", "file_name"),
    [
        ("MobileNetV2", {"alpha": 0.35, "input_shape": (96, 96, 3)},
         "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5"),
        ("MobileNetV2", {"include_top": False, "input_shape": (128, 128, 3)},
         "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128_no_top.h5"),
        ("MobileNet", {"alpha": 0.75, "input_shape": (160, 160, 3)}, "mobilenet_7_5_160_tf.h5"),
        ("MobileNet", {"alpha": 0.25, "include_top": False, "input_shape": (128, 128, 3)},
         "mobilenet_2_5_128_tf_no_top.h5"),
        ("EfficientNetB0", {"include_top": False, "input_shape": (32, 32, 3)},
         "efficientnetb0_notop.h5"),
        ("DenseNet121", {"include_top": False, "input_shape": (32, 32, 3)},
         "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        ("Xception", {"include_top": False, "input_shape": (71, 71, 3)},
         "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        ("InceptionV3", {"include_top": False, "input_shape": (75, 75, 3)},
         "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ],
)  # fmt: skip
def test_imagenet_asks_for_keras_file(name, kwargs, file_name, monkeypatch):
    """``weights="imagenet"`` asks the loader for Keras's file name, under Keras's URL."""
    module = {"MobileNetV2": "mobilenet_v2", "MobileNet": "mobilenet", "EfficientNetB0":
              "efficientnet", "DenseNet121": "densenet", "Xception": "xception",
              "InceptionV3": "inception_v3"}[name]  # fmt: skip
    asked = {}

    def fake_load(model, weights, *, file_name, origin, file_hash):
        asked.update(weights=weights, file_name=file_name, origin=origin, file_hash=file_hash)

    monkeypatch.setattr(getattr(dl.applications, module), "load_weights", fake_load)
    model = getattr(dl.applications, name)(weights="imagenet", **kwargs)
    assert asked["weights"] == "imagenet" and asked["file_name"] == file_name
    assert asked["origin"].startswith("https://storage.googleapis.com/")
    assert asked["origin"].endswith("/" + file_name)
    if name == "EfficientNetB0":  # with ImageNet weights Keras adds the 1/sqrt(std) rescale
        assert [type(layer).__name__ for layer in model.layers[1:4]] == [
            "Rescaling", "Normalization", "Rescaling",
        ]  # fmt: skip
        kmodel = keras.applications.EfficientNetB0(weights=None, **kwargs)
        assert model.count_params() == kmodel.count_params()


def test_imagenet_other_size_warns_and_asks_for_224(monkeypatch):
    from duallearn.applications import mobilenet_v2

    asked = {}
    monkeypatch.setattr(mobilenet_v2, "load_weights", lambda model, weights, **kw: asked.update(kw))
    with pytest.warns(UserWarning, match=r"Weights for input shape \(224, 224\)"):
        model = dl.applications.MobileNetV2(include_top=False, input_shape=(100, 100, 3))
    assert asked["file_name"].endswith("_1.0_224_no_top.h5")
    assert model.name == "mobilenetv2_1.00_224"


# ---- Keras's argument rules ----------------------------------------------------------------
BAD_ARGUMENTS = [
    ("MobileNetV2", {"weights": "imagenet", "alpha": 0.6}, ConfigError,
     r"alpha must be one of 0\.35.*Received: alpha=0\.6\. Fix"),
    ("MobileNet", {"weights": "imagenet", "alpha": 0.3}, ConfigError,
     r"alpha can be one of 0\.25.*Received: alpha=0\.3\. Fix"),
    ("MobileNet", {"weights": "imagenet", "depth_multiplier": 2}, ConfigError,
     r"depth multiplier must be 1\. Received: depth_multiplier=2\. Fix"),
    ("MobileNetV2", {"weights": None, "input_shape": (31, 32, 3)}, ShapeError,
     r"at least 32x32.*\(31, 32, 3\)\. Fix"),
    ("MobileNet", {"weights": None, "input_shape": (32, 16, 3)}, ShapeError, "at least 32x32"),
    ("EfficientNetB0", {"weights": None, "input_shape": (31, 31, 3)}, ShapeError,
     "at least 32x32"),
    ("DenseNet121", {"weights": None, "input_shape": (16, 64, 3)}, ShapeError, "at least 32x32"),
    ("Xception", {"weights": None, "input_shape": (70, 71, 3)}, ShapeError,
     r"at least 71x71.*\(70, 71, 3\)"),
    ("InceptionV3", {"weights": None, "input_shape": (74, 80, 3)}, ShapeError,
     r"at least 75x75.*\(74, 80, 3\)"),
    ("InceptionV3", {"weights": "imagenet", "input_shape": (150, 150, 3)}, ShapeError,
     r"should be \(299, 299, 3\)\. Received: input_shape=\(150, 150, 3\)"),
    ("Xception", {"weights": "imagenet", "classes": 10}, ConfigError,
     r"should be 1000\. Received: classes=10"),
    ("DenseNet169", {"weights": "nope.h5"}, ConfigError, r"weights='nope.h5'.*Fix"),
    ("EfficientNetB3", {"weights": "imagenet", "include_top": False,
                        "input_shape": (64, 64, 1)}, ShapeError, "3 channels"),
    ("MobileNet", {"weights": "imagenet", "classifier_activation": "relu"}, ConfigError,
     r"classifier_activation='relu'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_follow_keras(name, kwargs, error, message, monkeypatch):
    from duallearn.utils import _files

    def no_network(*args, **kw):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(_files.urllib.request, "urlopen", no_network)
    with pytest.raises(error, match=message):
        getattr(dl.applications, name)(**kwargs)
    keras.backend.clear_session()
    with pytest.raises(ValueError):  # Keras refuses the same call (before any download)
        getattr(keras.applications, name)(**kwargs)
