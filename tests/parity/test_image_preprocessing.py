"""Image preprocessing and augmentation layers against real Keras 3 (TensorFlow backend) on
both backends: deterministic layers' values, shapes and dtypes; random layers' identity in
inference, their transform with our drawn parameters fed to Keras's own ``transform_images``,
bit-identical augmented batches on torch and TensorFlow for one seed; a model with
augmentation trains identically on both backends, saves and reloads; bad arguments."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn import _seed
from duallearn.errors import ConfigError, DuallearnError, ShapeError
from duallearn.testing import assert_close
from duallearn.testing._tolerances import tolerance

from ..conftest import BACKENDS, both

pytestmark = [pytest.mark.skipif(not BACKENDS, reason="no backend installed"), both()]
L = dl.layers
TWO = ("torch", "tensorflow")


@pytest.fixture(scope="module")
def keras():
    return importlib.import_module("keras")


def images(shape=(3, 7, 9, 3), seed=0, hi=255.0):
    return np.random.default_rng(seed).uniform(0.0, hi, shape).astype("float32")


def run(layer, x, backend, training=False):
    with dl.use_backend(backend):
        return np.asarray(layer(x, training=training))


def ours_vs_keras(label, make, make_keras, x, training=False):
    kout = make_keras()(x, training=training)
    for b in TWO:
        out = run(make(), x, b, training)
        assert out.shape == tuple(kout.shape), f"{label} {b}: shape {out.shape} vs {kout.shape}"
        assert out.dtype == np.dtype(kout.dtype.name), f"{label} {b}: dtype {out.dtype}"
        assert_close(f"{label} {b} vs Keras", out, np.asarray(kout), "float32", "layer")


# ---- deterministic layers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scale", "offset"),
    [(1 / 255.0, 0.0), (1 / 127.5, -1.0), ([0.5, 2.0, 1 / 3], [1.0, 0.0, -2.0])],
)
def test_rescaling_matches_keras(keras, scale, offset):
    x = images()
    ours_vs_keras(
        f"Rescaling({scale}, {offset})",
        lambda: L.Rescaling(scale, offset=offset),
        lambda: keras.layers.Rescaling(scale, offset=offset),
        x,
    )
    ours_vs_keras(  # integer images give floats
        "Rescaling uint8",
        lambda: L.Rescaling(scale, offset=offset),
        lambda: keras.layers.Rescaling(scale, offset=offset),
        x.astype("uint8"),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mean": 3.0, "variance": 2.0},
        {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.5, 1e-20]},
        {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.5, 2.0], "invert": True},
        {"axis": (1, -1), "mean": np.ones((7, 3)), "variance": np.full((7, 3), 9.0)},
    ],
)
def test_normalization_with_given_statistics_matches_keras(keras, kwargs):
    x = images()
    ours_vs_keras(
        f"Normalization({kwargs})",
        lambda: L.Normalization(**kwargs),
        lambda: keras.layers.Normalization(**kwargs),
        x,
    )


@pytest.mark.parametrize("axis", [-1, None, (1, 2), 2])
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_adapt_matches_keras(keras, axis, invert):
    data = images((20, 7, 9, 3), seed=1)
    batches = [data[:7], data[7:15], data[15:]]
    x = images(seed=2)
    k = keras.layers.Normalization(axis=axis, invert=invert)
    k.adapt(data)
    kout = np.asarray(k(x))
    for b in TWO:
        for label, src in (("array", data), ("batches", batches)):
            layer = L.Normalization(axis=axis, invert=invert)
            layer.adapt(src)
            assert [w.name for w in layer.weights] == [w.name for w in k.weights]
            for w, kw in zip(layer.get_weights(), k.get_weights(), strict=True):
                assert w.shape == kw.shape
                assert_close(f"adapt({label}) weights axis={axis}", w, kw, "float32", "layer")
            out = run(layer, x, b)
            assert_close(f"Normalization adapt({label}) {b} axis={axis}", out, kout, "float32")


@pytest.mark.parametrize(
    ("size", "kwargs"),
    [
        ((3, 4), {}),
        ((14, 20), {}),
        ((5, 13), {}),
        ((3, 4), {"interpolation": "nearest"}),
        ((14, 20), {"interpolation": "nearest"}),
        ((11, 5), {"interpolation": "nearest"}),
        ((4, 4), {"crop_to_aspect_ratio": True}),
        ((6, 3), {"crop_to_aspect_ratio": True, "interpolation": "nearest"}),
        ((4, 4), {"pad_to_aspect_ratio": True}),
        ((3, 9), {"pad_to_aspect_ratio": True, "fill_value": 7.0}),
        ((7, 9), {}),
    ],
)
def test_resizing_matches_keras(keras, size, kwargs):
    x = images()
    ours_vs_keras(
        f"Resizing{size} {kwargs}",
        lambda: L.Resizing(*size, **kwargs),
        lambda: keras.layers.Resizing(*size, **kwargs),
        x,
    )


@pytest.mark.parametrize("size", [(3, 3), (7, 9), (4, 8), (2, 1), (10, 12), (9, 4)])
def test_center_crop_matches_keras(keras, size):
    x = images()
    ours_vs_keras(
        f"CenterCrop{size}", lambda: L.CenterCrop(*size), lambda: keras.layers.CenterCrop(*size), x
    )


def test_single_image_and_model_shapes(keras):
    x = images()
    for b in TWO:
        out = run(L.Resizing(4, 5), x[0], b)
        assert out.shape == (4, 5, 3)
        with dl.use_backend(b):
            model = dl.Sequential([L.Input((7, 9, 3)), L.CenterCrop(5, 4), L.Resizing(8, 6)])
        assert model.layers[-1].output_shape == (None, 8, 6, 3)
        assert model.predict(x, verbose=0).shape == (3, 8, 6, 3)


# ---- random layers -----------------------------------------------------------------------------
RANDOM = {
    "flip_h": (lambda s: L.RandomFlip("horizontal", seed=s), "RandomFlip", ("horizontal",), {}),
    "flip_v": (lambda s: L.RandomFlip("vertical", seed=s), "RandomFlip", ("vertical",), {}),
    "flip_hv": (lambda s: L.RandomFlip(seed=s), "RandomFlip", (), {}),
    "contrast": (lambda s: L.RandomContrast(0.6, seed=s), "RandomContrast", (0.6,), {}),
    "contrast2": (
        lambda s: L.RandomContrast((0.3, 0.9), seed=s),
        "RandomContrast",
        ((0.3, 0.9),),
        {},
    ),
    "brightness": (
        lambda s: L.RandomBrightness(0.4, seed=s),
        "RandomBrightness",
        (0.4,),
        {},
    ),
    "brightness01": (
        lambda s: L.RandomBrightness((-0.2, 0.5), value_range=(0, 1), seed=s),
        "RandomBrightness",
        ((-0.2, 0.5),),
        {"value_range": (0, 1)},
    ),
    "crop": (lambda s: L.RandomCrop(4, 5, seed=s), "RandomCrop", (4, 5), {}),
    "rotation": (lambda s: L.RandomRotation(0.3, seed=s), "RandomRotation", (0.3,), {}),
    "zoom": (lambda s: L.RandomZoom(0.4, seed=s), "RandomZoom", (0.4,), {}),
    "zoom_hw": (
        lambda s: L.RandomZoom((-0.5, 0.6), (0.2, 0.7), seed=s),
        "RandomZoom",
        ((-0.5, 0.6), (0.2, 0.7)),
        {},
    ),
    "translation": (
        lambda s: L.RandomTranslation(0.3, 0.4, seed=s),
        "RandomTranslation",
        (0.3, 0.4),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_layer_inference_is_keras_identity(keras, name):
    make, kname, args, kwargs = RANDOM[name]
    x = images()
    if kname == "RandomCrop":  # Keras returns the uncropped input here (see the docs)
        for b in TWO:
            out = run(make(1), x, b)
            kc = keras.layers.Resizing(4, 5, crop_to_aspect_ratio=True)(x)
            assert_close(f"RandomCrop inference {b}", out, np.asarray(kc), "float32")
        return
    ours_vs_keras(
        f"{name} inference",
        lambda: make(1),
        lambda: getattr(keras.layers, kname)(*args, **kwargs),
        x,
        training=False,
    )


def _keras_transformation(name, layer, params, x):
    """Keras's transformation dict (or tuple) for our drawn ``params``."""
    b = len(x)
    if name.startswith("flip"):
        return {"flips": (params > 0.5).reshape(b, 1, 1, 1), "input_shape": x.shape}
    if name.startswith("contrast"):
        return {"contrast_factor": params.reshape(b, 1, 1, 1).astype("float32")}
    if name.startswith("brightness"):
        return {"rgb_delta": params.reshape(b, 1, 1, 1).astype("float32")}
    if name == "crop":
        return int(params[0, 0]), int(params[0, 1])
    if name == "rotation":
        return {"rotation_matrix": params.astype("float32")}
    if name.startswith("zoom"):
        return {
            "width_zoom": params[:, 0:1].astype("float32"),
            "height_zoom": params[:, 4:5].astype("float32"),
        }
    return {"translations": -params[:, [2, 5]].astype("float32"), "input_shape": x.shape}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_transform_with_our_parameters_matches_keras(keras, name):
    """Our augmented batch equals Keras's ``transform_images`` given the parameters we drew
    (the first draw of a SeedGenerator(seed) is Philox(seed, 0, 1))."""
    make, kname, args, kwargs = RANDOM[name]
    x = images((6, 7, 9, 3), seed=3)
    seed = 42
    for b in TWO:
        layer = make(seed)
        out = run(layer, x, b, training=True)
        params = layer.parameters(_seed.philox(seed, 0, 1), len(x))
        klayer = getattr(keras.layers, kname)(*args, **kwargs)
        t = _keras_transformation(name, layer, params, x)
        kout = np.asarray(klayer.transform_images(x, t, training=True))
        assert out.shape == kout.shape, f"{name} {b}: shape {out.shape} vs Keras {kout.shape}"
        assert out.dtype == kout.dtype, f"{name} {b}: dtype {out.dtype} vs Keras {kout.dtype}"
        assert_close(f"{name} {b} transform vs Keras", out, kout, "float32", "layer")
        if not name.startswith(("flip", "crop")):
            assert not np.allclose(out, x), f"{name}: no augmentation happened"


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("kind", ["rotation", "zoom", "translation"])
def test_affine_fill_modes_and_interpolations_match_keras(keras, fill_mode, interpolation, kind):
    opts = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 5.0}
    x = images((5, 8, 11, 2), seed=4)
    if kind == "rotation":
        layer, klayer = L.RandomRotation(0.5, seed=3, **opts), keras.layers.RandomRotation(0.5)
    elif kind == "zoom":
        layer = L.RandomZoom((-0.6, 0.9), seed=3, **opts)
        klayer = keras.layers.RandomZoom((-0.6, 0.9))
    else:
        layer = L.RandomTranslation(0.7, 0.8, seed=3, **opts)
        klayer = keras.layers.RandomTranslation(0.7, 0.8)
    for key, v in opts.items():
        setattr(klayer, key, v)
    outs = {b: run(layer, x, b, training=True) for b in TWO}
    for i, b in enumerate(TWO):
        params = layer.parameters(_seed.philox(3, i, 1), len(x))
        t = _keras_transformation(kind, layer, params, x)
        kout = np.asarray(klayer.transform_images(x, t, training=True))
        assert_close(f"{kind} {fill_mode}/{interpolation} {b} vs Keras", outs[b], kout, "float32")


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_same_seed_gives_bit_identical_batches_on_both_backends(name):
    make = RANDOM[name][0]
    x = images((4, 7, 9, 3), seed=5)
    outs = {}
    for b in TWO:
        layer = make(7)
        outs[b] = [run(layer, x, b, training=True) for _ in range(3)]
    for i in range(3):
        np.testing.assert_array_equal(outs["torch"][i], outs["tensorflow"][i], f"{name} call {i}")
    if not name.startswith("crop"):  # the generator advances: a new batch each call
        assert any(not np.array_equal(outs["torch"][0], o) for o in outs["torch"][1:]), name


def test_standalone_call_defaults_to_training_and_accepts_a_single_image():
    x = images((1, 7, 9, 3), seed=6)
    for b in TWO:
        with dl.use_backend(b):
            out = L.RandomBrightness(0.5, seed=1)(x[0])
            same = L.RandomBrightness(0.5, seed=1)(x, training=False)
        assert out.shape == (7, 9, 3)
        assert not np.allclose(out, x[0])
        np.testing.assert_array_equal(same, x)


# ---- in a model: fit, equal on both backends, save and reload ---------------------------------
def _augmenting_model(backend):
    return dl.Sequential(
        [
            L.Input((10, 12, 3)),
            L.Rescaling(1 / 255.0),
            L.RandomFlip("horizontal", seed=1),
            L.RandomRotation(0.1, seed=2),
            L.RandomZoom(0.2, seed=3),
            L.RandomTranslation(0.1, 0.1, seed=4),
            L.RandomContrast(0.3, value_range=(0, 1), seed=5),
            L.RandomBrightness(0.1, value_range=(0, 1), seed=6),
            L.RandomCrop(8, 8, seed=7),
            L.Conv2D(4, 3, activation="relu"),
            L.Flatten(),
            L.Dense(2),
        ],
        backend=backend,
    )


def test_model_with_augmentation_trains_identically_and_saves(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 255, (24, 10, 12, 3)).astype("float32")
    y = rng.standard_normal((24, 2)).astype("float32")
    finals, histories, preds = {}, {}, {}
    for b in TWO:
        dl.set_random_seed(11)
        model = _augmenting_model(b)
        model.compile(optimizer=dl.optimizers.SGD(0.05), loss="mse")
        hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        finals[b], histories[b] = model.get_weights(), hist.history["loss"]
        preds[b] = model.predict(x, verbose=0)
        path = tmp_path / f"aug_{b}.keras"
        model.save(path)
        other = "tensorflow" if b == "torch" else "torch"
        with dl.use_backend(other):
            loaded = dl.load_model(path)
        assert [type(la).__name__ for la in loaded.layers] == [
            type(la).__name__ for la in model.layers
        ]
        assert loaded.layers[3].get_config() == model.layers[3].get_config()
        assert_close(f"reloaded predict {b}", loaded.predict(x, verbose=0), preds[b], "float32")
    assert_close("loss history", histories["tensorflow"], histories["torch"], "float32", "loss")
    for i, (a, c) in enumerate(zip(finals["torch"], finals["tensorflow"], strict=True)):
        assert_close(f"weight {i} after 6 augmented steps", c, a, "float32", "params_10")
    assert_close("predict", preds["tensorflow"], preds["torch"], "float32", "forward")


def test_adapted_normalization_in_a_model_saves_and_reloads(tmp_path, keras):
    data = images((30, 4, 5, 3), seed=9)
    for b in TWO:
        norm = L.Normalization()
        norm.adapt(data)
        model = dl.Sequential([L.Input((4, 5, 3)), norm, L.Flatten(), L.Dense(2)], backend=b)
        path = tmp_path / f"norm_{b}.keras"
        model.save(path)
        loaded = dl.load_model(path)
        for w, lw in zip(model.get_weights(), loaded.get_weights(), strict=True):
            np.testing.assert_array_equal(w, lw)
        assert_close(
            f"reloaded Normalization {b}",
            loaded.predict(data, verbose=0),
            model.predict(data, verbose=0),
            "float32",
        )


# ---- bad arguments -----------------------------------------------------------------------------
BAD = [
    (lambda: L.Rescaling("x"), ConfigError, "scale` must be a number"),
    (lambda: L.Normalization(mean=1.0), ConfigError, "both `mean` and `variance`"),
    (lambda: L.Normalization(axis="c"), ConfigError, "`axis` must be an int"),
    (lambda: L.Resizing(0, 4), ConfigError, "`height` must be a positive integer"),
    (lambda: L.Resizing(4, 4, interpolation="cubic"), ConfigError, "unknown `interpolation`"),
    (
        lambda: L.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
        ConfigError,
        "only one of",
    ),
    (lambda: L.CenterCrop(4, 4, data_format="channels_first"), ConfigError, "channels_last"),
    (lambda: L.RandomFlip("diagonal"), ConfigError, "unknown `mode`"),
    (lambda: L.RandomFlip(seed=1.5), ConfigError, "`seed` must be an integer"),
    (lambda: L.RandomContrast(-0.2), ConfigError, r"range \[0.0, 1.0\]"),
    (lambda: L.RandomContrast(1.5), ConfigError, "factor"),
    (lambda: L.RandomBrightness(0.2, value_range=5), ConfigError, "value_range"),
    (lambda: L.RandomRotation(0.2, fill_mode="mirror"), ConfigError, "unknown `fill_mode`"),
    (lambda: L.RandomZoom(-1.0), ConfigError, r"range \(-1.0, 1.0\]"),
    (lambda: L.RandomTranslation(0.1, (0.1, 0.2, 0.3)), ConfigError, "width_factor"),
]


@pytest.mark.parametrize(("make", "err", "msg"), BAD)
def test_bad_arguments(make, err, msg):
    with pytest.raises(err, match=msg) as info:
        make()
    assert isinstance(info.value, DuallearnError)
    assert "Received" in str(info.value) and "Fix" in str(info.value)


def test_bad_input_shapes():
    with pytest.raises(ShapeError, match="expects images of shape"):
        L.RandomFlip()(dl.Input((5, 3)))
    with pytest.raises(ShapeError, match="known height and width"):
        L.Resizing(4, 4)(dl.Input((None, None, 3)))


@pytest.mark.parametrize("source", ["dataset", "partial-last-batch"])
def test_affine_layers_train_with_an_unknown_batch_size(source):
    """A traced TensorFlow step sees the batch dimension as None when the data comes from a
    dataset or ends with a partial batch; the affine layers' gathers must not need it (the
    two backends then train the same)."""
    rng = np.random.default_rng(0)
    x = rng.random((10, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64")
    weights = {}
    for name in BACKENDS:
        with dl.use_backend(name):
            dl.set_random_seed(0)
            model = dl.Sequential([
                dl.Input((8, 8, 1)),
                dl.layers.RandomRotation(0.2, seed=1),
                dl.layers.RandomZoom(0.2, seed=2),
                dl.layers.RandomTranslation(0.1, 0.1, seed=3),
                dl.layers.Flatten(),
                dl.layers.Dense(2),
            ])  # fmt: skip
            model.compile("sgd", dl.losses.SparseCategoricalCrossentropy(from_logits=True))
            if source == "dataset":
                data = dl.data.Dataset.from_tensor_slices((x, y)).batch(4)
                model.fit(data, epochs=2, verbose=0)
            else:
                model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
            weights[name] = model.get_weights()
    if len(weights) == 2:
        for i, (a, b) in enumerate(zip(weights["torch"], weights["tensorflow"], strict=True)):
            assert_close(f"weight {i}", a, b, "float32", "params_10")


@pytest.mark.parametrize(
    "engine, fmt, suffix",
    [("torch", "onnx", "onnx"), ("torch", "torchscript", "pt"), ("tensorflow", "tflite", "tflite")],
)
def test_model_with_preprocessing_layers_exports(engine, fmt, suffix, tmp_path):
    """Preprocessing layers are exported with the model (random ones as the identity they
    are at inference); the export checks the artifact against the model on probe inputs."""
    if engine not in BACKENDS:
        pytest.skip(f"{engine} not installed")
    with dl.use_backend(engine):
        dl.set_random_seed(0)
        model = dl.Sequential([
            dl.Input((16, 16, 3)),
            dl.layers.Rescaling(1 / 255),
            dl.layers.RandomFlip(seed=1),
            dl.layers.RandomRotation(0.1, seed=2),
            dl.layers.Resizing(8, 8),
            dl.layers.Normalization(mean=0.5, variance=0.25),
            dl.layers.Flatten(),
            dl.layers.Dense(3),
        ])  # fmt: skip
        result = model.export(str(tmp_path / f"m.{suffix}"), format=fmt)
    assert result.passed, result
    # max error / max|model| within the table's "forward" row (rtol + atol_s bounds it)
    tol = tolerance("forward", "float32")
    assert result.max_rel_error <= tol.rtol + tol.atol_s
