"""Keras names that keras.io examples use (issue 14): Conv1DTranspose, Conv3D, Conv3DTranspose,
the 3D pools, UnitNormalization, TorchModuleWrapper, and the ops fft/fft2/ifft2/rfft/irfft and
image.resize. Each layer: forward and gradients against real Keras 3 (TensorFlow backend) on
every installed backend, the numpy reference (float64), a save/load round trip and bad
arguments; each op: values, shapes and dtypes against ``keras.ops``."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close, check_layer

from ..conftest import BACKENDS
from ._keras_compare import compare_with_keras

L = dl.layers
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _data(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5  # keep relu off its kink
    return x


# ---- layers: (id, make(module), per-example input shape) -------------------------------------
LAYER_CASES = [
    # Conv1DTranspose: valid/same, strides, dilation, output_padding, even kernels
    ("conv1dT-valid", lambda m: m.Conv1DTranspose(3, 3), (5, 2)),
    ("conv1dT-same-s2", lambda m: m.Conv1DTranspose(3, 3, strides=2, padding="same"), (5, 2)),
    ("conv1dT-valid-s3-even", lambda m: m.Conv1DTranspose(2, 4, strides=3), (4, 3)),
    ("conv1dT-same-dilated", lambda m: m.Conv1DTranspose(2, 3, padding="same",
     dilation_rate=2, activation="tanh"), (6, 2)),
    ("conv1dT-valid-dilated", lambda m: m.Conv1DTranspose(2, 2, dilation_rate=3,
     use_bias=False), (5, 2)),
    ("conv1dT-output-padding", lambda m: m.Conv1DTranspose(2, 3, strides=3, padding="same",
     output_padding=2), (4, 2)),
    ("conv1dT-valid-output-padding", lambda m: m.Conv1DTranspose(2, 2, strides=3,
     output_padding=1), (4, 2)),
    ("conv1dT-channels-first", lambda m: m.Conv1DTranspose(2, 3, strides=2, padding="same",
     data_format="channels_first"), (3, 5)),
    # Conv3D
    ("conv3d-valid", lambda m: m.Conv3D(3, 2), (4, 5, 3, 2)),
    ("conv3d-same-s2-even", lambda m: m.Conv3D(2, (2, 3, 4), strides=2, padding="same",
     activation="relu"), (5, 6, 7, 2)),
    ("conv3d-dilated-groups", lambda m: m.Conv3D(4, 2, padding="same", dilation_rate=(2, 1, 2),
     groups=2), (4, 5, 5, 4)),
    ("conv3d-strides-mixed", lambda m: m.Conv3D(2, 3, strides=(1, 2, 3)), (5, 6, 7, 1)),
    # Conv3DTranspose
    ("conv3dT-valid", lambda m: m.Conv3DTranspose(2, 2), (3, 2, 3, 2)),
    ("conv3dT-same-s2", lambda m: m.Conv3DTranspose(2, 3, strides=2, padding="same"),
     (3, 2, 3, 2)),
    ("conv3dT-valid-strides", lambda m: m.Conv3DTranspose(2, (2, 3, 2), strides=(1, 2, 3)),
     (2, 3, 2, 3)),
    ("conv3dT-dilated", lambda m: m.Conv3DTranspose(2, 2, padding="same", dilation_rate=2),
     (3, 3, 2, 2)),
    ("conv3dT-output-padding", lambda m: m.Conv3DTranspose(2, 3, strides=2, padding="same",
     output_padding=(1, 0, 1)), (2, 3, 2, 2)),
    # 3D pools
    ("maxpool3d", lambda m: m.MaxPooling3D(), (4, 5, 4, 2)),
    ("maxpool3d-same-s2", lambda m: m.MaxPooling3D(3, 2, padding="same"), (5, 4, 5, 2)),
    ("avgpool3d-valid", lambda m: m.AveragePooling3D((2, 3, 2), strides=(1, 2, 1)),
     (4, 5, 3, 2)),
    ("avgpool3d-same-s2", lambda m: m.AveragePooling3D(3, 2, padding="same"), (5, 4, 5, 2)),
    ("avgpool3d-channels-first", lambda m: m.AveragePooling3D(2, padding="same",
     data_format="channels_first"), (2, 3, 5, 4)),
    ("gap3d", lambda m: m.GlobalAveragePooling3D(), (3, 4, 2, 3)),
    ("gap3d-keepdims", lambda m: m.GlobalAveragePooling3D(keepdims=True), (3, 4, 2, 3)),
    ("gmp3d", lambda m: m.GlobalMaxPooling3D(), (3, 4, 2, 3)),
    ("gmp3d-channels-first", lambda m: m.GlobalMaxPooling3D(data_format="channels_first",
     keepdims=True), (3, 4, 2, 3)),
    # UnitNormalization
    ("unitnorm", lambda m: m.UnitNormalization(), (5,)),
    ("unitnorm-axis1", lambda m: m.UnitNormalization(axis=1), (4, 3)),
    ("unitnorm-axes", lambda m: m.UnitNormalization(axis=[1, -1]), (3, 2, 4)),
]  # fmt: skip


@pytest.mark.parametrize(
    "make,shape", [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES]
)
def test_layer_matches_keras(make, shape, backend):
    """Output, d(input) and d(weights) of ``sum(y · cot)`` vs Keras holding our weights."""
    keras = importlib.import_module("keras")
    x = _data(3, (2, *shape)).astype("float32")
    compare_with_keras(str(make), lambda: make(L), lambda: make(keras.layers), x, backend, seed=3)


@pytest.mark.parametrize(
    "make,shape", [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES]
)
def test_layer_matches_reference(make, shape):
    """float64: every backend equals the numpy reference (forward and gradients)."""
    x = _data(5, (2, *shape))
    assert check_layer(lambda: make(L), x, dtype="float64", seed=5)


# ---- save / load ------------------------------------------------------------------------------
SAVE_CASES = [
    ("conv1dT", lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1),
     (6, 2)),
    ("conv3d", lambda: L.Conv3D(2, 2, strides=(1, 2, 1), padding="same", activation="relu"),
     (4, 5, 3, 2)),
    ("conv3dT", lambda: L.Conv3DTranspose(2, 2, strides=2, data_format="channels_first"),
     (2, 3, 2, 3)),
    ("maxpool3d", lambda: L.MaxPooling3D(2, padding="same"), (3, 4, 5, 2)),
    ("avgpool3d", lambda: L.AveragePooling3D((1, 2, 2), strides=1), (3, 4, 5, 2)),
    ("gap3d", lambda: L.GlobalAveragePooling3D(keepdims=True), (3, 4, 5, 2)),
    ("gmp3d", lambda: L.GlobalMaxPooling3D(), (3, 4, 5, 2)),
    ("unitnorm", lambda: L.UnitNormalization(axis=[1, 2]), (3, 4)),
]  # fmt: skip


@pytest.mark.parametrize("make,shape", [c[1:] for c in SAVE_CASES], ids=[c[0] for c in SAVE_CASES])
def test_saved_layer_loads_on_every_backend(make, shape, backend, tmp_path):
    """model.save then dl.load_model: same config and predictions on each backend."""
    model = dl.Sequential([L.Input(shape), make()])
    model.set_weights(
        [np.random.default_rng(1).standard_normal(w.shape) for w in model.get_weights()]
    )
    x = _data(2, (2, *shape)).astype("float32")
    path = str(tmp_path / "m.dlm")
    model.save(path)
    expected = model.predict(x, verbose=0)
    for other in BACKENDS:
        with dl.use_backend(other):
            again = dl.load_model(path)
            assert again.layers[-1].get_config() == model.layers[-1].get_config()
            assert_close(f"reloaded on {other}", again.predict(x, verbose=0), expected, "float32")


# ---- bad arguments ----------------------------------------------------------------------------
BAD = [
    ("conv1dT-output-padding", lambda: L.Conv1DTranspose(2, 3, strides=2, output_padding=2),
     ConfigError, r"Conv1DTranspose: output_padding must be .*Received: output_padding=2"),
    ("conv1dT-stride-dilation", lambda: L.Conv1DTranspose(2, 3, strides=2, dilation_rate=2),
     ConfigError, r"Conv1DTranspose: strides > 1 together with dilation_rate > 1.*Fix"),
    ("conv1dT-kernel-tuple", lambda: L.Conv1DTranspose(2, (3, 3)), ConfigError,
     r"Conv1DTranspose: kernel_size must be an int or a tuple of 1 ints\. Received"),
    ("conv1dT-padding", lambda: L.Conv1DTranspose(2, 3, padding="causal"), ConfigError,
     r"Conv1DTranspose: unknown padding 'causal'\. Expected one of: 'valid', 'same'"),
    ("conv3d-filters", lambda: L.Conv3D(0, 3), ConfigError, r"filters"),
    ("conv3d-groups", lambda: L.Conv3D(3, 2, groups=2), ConfigError,
     r"Conv3D: filters \(3\) must be divisible by groups \(2\)\. Fix"),
    ("conv3dT-output-padding", lambda: L.Conv3DTranspose(2, 3, strides=2,
     output_padding=(1, 1)), ConfigError, r"Conv3DTranspose: output_padding must be"),
    ("pool3d-size", lambda: L.MaxPooling3D((2, 2)), ConfigError,
     r"MaxPooling3D: pool_size must be an int or a tuple of 3 ints"),
    ("avgpool3d-format", lambda: L.AveragePooling3D(2, data_format="NDHWC"), ConfigError,
     r"AveragePooling3D: unknown data_format 'NDHWC'.*Fix"),
    ("unitnorm-axis", lambda: L.UnitNormalization(axis="last"), ConfigError,
     r"UnitNormalization: axis must be an integer\. Received: axis='last'\. Fix"),
    ("unitnorm-empty", lambda: L.UnitNormalization(axis=[]), ConfigError,
     r"UnitNormalization: axis must not be empty"),
]  # fmt: skip


@pytest.mark.parametrize("make,error,match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_arguments_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


SHAPE_BAD = [
    ("conv1dT-rank", lambda: L.Conv1DTranspose(2, 3), (None, 4, 4, 2),
     r"\(Conv1DTranspose\) expects inputs of rank 3.*Received input shape"),
    ("conv3d-rank", lambda: L.Conv3D(2, 3), (None, 4, 4, 2),
     r"\(Conv3D\) expects inputs of rank 5.*Fix"),
    ("conv3d-too-small", lambda: L.Conv3D(2, 3), (None, 2, 4, 4, 1),
     r"\(Conv3D\): the kernel .* is larger than the valid-padded input"),
    ("pool3d-rank", lambda: L.MaxPooling3D(), (None, 4, 4, 2),
     r"\(MaxPooling3D\) expects inputs of rank 5, shape \(batch, depth, height, width"),
    ("gap3d-rank", lambda: L.GlobalAveragePooling3D(), (None, 4, 2),
     r"\(GlobalAveragePooling3D\) expects inputs of rank 5"),
    ("unitnorm-axis-range", lambda: L.UnitNormalization(axis=3), (None, 4),
     r"axis 3 is out of bounds for input shape \(None, 4\).*Fix"),
]  # fmt: skip


@pytest.mark.parametrize(
    "make,shape,match", [c[1:] for c in SHAPE_BAD], ids=[c[0] for c in SHAPE_BAD]
)
def test_bad_input_shapes_raise(make, shape, match):
    with pytest.raises(ShapeError, match=match):
        make().compute_output_shape(shape)


def test_conv3d_transpose_takes_data_format_before_output_padding():
    """Keras's positional order differs between Conv2DTranspose and Conv3DTranspose."""
    layer = L.Conv3DTranspose(2, 3, 2, "same", "channels_first", 1)
    assert (layer.data_format, layer.output_padding) == ("channels_first", (1, 1, 1))
    layer2 = L.Conv1DTranspose(2, 3, 2, "same", 1, "channels_first")
    assert (layer2.output_padding, layer2.data_format) == ((1,), "channels_first")


# ---- TorchModuleWrapper -----------------------------------------------------------------------
@pytest.mark.skipif("torch" not in BACKENDS, reason="torch not installed")
def test_torch_module_wrapper_runs_trains_and_reloads(tmp_path):
    """Keras's constructor (module, name, output_shape); the module's own forward, gradients
    flowing to its parameters, and a save/load round trip through custom_objects."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    wrapper = L.TorchModuleWrapper(module, name="tm", output_shape=(None, 3))
    assert isinstance(wrapper, L.TorchModule)
    assert wrapper.compute_output_shape((None, 4)) == (None, 3)
    assert wrapper.get_config()["output_shape"] == [None, 3]
    model = dl.Sequential([L.Input((4,)), wrapper, L.Dense(1)], backend="torch")
    x = _data(0, (5, 4)).astype("float32")
    with torch.no_grad():
        hidden = module(torch.from_numpy(x)).numpy()
    dense_w, dense_b = model.layers[-1].get_weights()
    assert_close("wrapper forward", model.predict(x, verbose=0), hidden @ dense_w + dense_b,
                 "float32")  # fmt: skip
    before = [p.detach().clone() for p in module.parameters()]
    model.compile(optimizer=dl.optimizers.SGD(0.1), loss="mse")
    model.fit(x, np.ones((5, 1), "float32"), epochs=1, batch_size=5, verbose=0)
    assert all(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    path = str(tmp_path / "tm.dlm")
    model.save(path)
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    with dl.use_backend("torch"):
        again = dl.load_model(path, custom_objects={"tm": fresh})
    assert type(again.layers[0]).__name__ == "TorchModuleWrapper"
    assert again.layers[0].compute_output_shape((None, 4)) == (None, 3)
    assert_close("wrapper reloaded", again.predict(x, verbose=0), model.predict(x, verbose=0),
                 "float32")  # fmt: skip


def test_torch_module_wrapper_bad_output_shape():
    torch = pytest.importorskip("torch")
    with pytest.raises(ConfigError, match=r"output_shape must be None or a tuple of ints.*Fix"):
        L.TorchModuleWrapper(torch.nn.Linear(2, 2), output_shape="(None, 2)")


# ---- ops: fft family and image.resize against keras.ops ----------------------------------------
def _keras_np(value):
    if isinstance(value, (tuple, list)):
        return [np.asarray(v) for v in value]
    return [np.asarray(value)]


def _ours_np(value):
    if isinstance(value, (tuple, list)):
        return [np.asarray(dl.ops.convert_to_numpy(v)) for v in value]
    return [np.asarray(dl.ops.convert_to_numpy(value))]


RNG = np.random.default_rng(7)
RE = RNG.standard_normal((2, 6, 5)).astype("float32")
IM = RNG.standard_normal((2, 6, 5)).astype("float32")
IMG = (RNG.random((2, 7, 10, 3)) * 4).astype("float32")
IMG_U8 = (RNG.random((2, 7, 10, 3)) * 255).astype("uint8")

OP_CASES = [
    ("fft", lambda o: o.fft((RE, IM))),
    ("fft2", lambda o: o.fft2((RE, IM))),
    ("ifft2", lambda o: o.ifft2((RE, IM))),
    ("rfft", lambda o: o.rfft(RE)),
    ("rfft-crop", lambda o: o.rfft(RE, fft_length=4)),
    ("rfft-pad", lambda o: o.rfft(RE, fft_length=9)),
    ("irfft", lambda o: o.irfft((RE, IM))),
    ("irfft-odd", lambda o: o.irfft((RE, IM), fft_length=9)),
    ("irfft-short", lambda o: o.irfft((RE, IM), fft_length=4)),
    ("resize-down", lambda o: o.image.resize(IMG, (4, 6))),
    ("resize-up", lambda o: o.image.resize(IMG, (11, 13))),
    ("resize-nearest", lambda o: o.image.resize(IMG, (5, 17), interpolation="nearest")),
    ("resize-crop", lambda o: o.image.resize(IMG, (6, 6), crop_to_aspect_ratio=True)),
    ("resize-pad", lambda o: o.image.resize(IMG, (6, 6), pad_to_aspect_ratio=True,
     fill_value=1.5)),
    ("resize-pad-wide", lambda o: o.image.resize(IMG, (3, 9), pad_to_aspect_ratio=True)),
    ("resize-unbatched", lambda o: o.image.resize(IMG[0], (5, 4))),
    ("resize-channels-first", lambda o: o.image.resize(IMG.transpose(0, 3, 1, 2), (5, 8),
     data_format="channels_first")),
    ("resize-uint8", lambda o: o.image.resize(IMG_U8, (5, 6))),
    ("resize-uint8-nearest", lambda o: o.image.resize(IMG_U8, (9, 4), interpolation="nearest")),
]  # fmt: skip


COVERED_OPS = {"fft", "fft2", "ifft2", "rfft", "irfft"}  # dl.ops names with rows here


@pytest.mark.parametrize("call", [c[1] for c in OP_CASES], ids=[c[0] for c in OP_CASES])
def test_op_matches_keras(call, backend):
    """Values, shapes and dtypes of each output vs keras.ops (TensorFlow backend)."""
    keras = importlib.import_module("keras")
    theirs = _keras_np(call(keras.ops))
    ours = _ours_np(call(dl.ops))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
        if a.dtype.kind in "iu":
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # rounding of x.5 only
        else:
            assert_close(f"{backend} vs keras.ops", a, b, "float32", "layer")


@pytest.mark.parametrize("call", [c[1] for c in OP_CASES], ids=[c[0] for c in OP_CASES])
def test_op_matches_numpy_reference(call, backend):
    with dl.ops.numpy_mode():
        ref = _ours_np(call(dl.ops))
    ours = _ours_np(call(dl.ops))
    for a, b in zip(ours, ref, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        if a.dtype.kind in "iu":
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        else:
            assert_close(f"{backend} vs numpy reference", a, b, "float32", "layer")


def test_fft_float64_is_exact_and_round_trips(backend):
    re, im = RE.astype("float64"), IM.astype("float64")
    fr, fi = dl.ops.fft2((re, im))
    expected = np.fft.fft2(re + 1j * im)
    assert_close("fft2 f64", dl.ops.convert_to_numpy(fr), expected.real, "float64", "layer")
    br, bi = dl.ops.ifft2((fr, fi))
    assert_close("ifft2(fft2)", dl.ops.convert_to_numpy(br), re, "float64", "layer")
    assert_close("ifft2(fft2) imag", dl.ops.convert_to_numpy(bi), im, "float64", "layer")
    back = dl.ops.irfft(dl.ops.rfft(re[..., :4]))
    assert_close("irfft(rfft)", dl.ops.convert_to_numpy(back), re[..., :4], "float64", "layer")


def _native_grad(backend, fn, x, cot):
    """d/dx of Σ_k Σ out_k · cot_k through the backend's own autograd."""
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        outs = fn(t)
        loss = sum((o * torch.tensor(c)).sum() for o, c in zip(outs, cot, strict=True))
        return torch.autograd.grad(loss, t)[0].numpy()
    import tensorflow as tf

    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        outs = fn(t)
        loss = tf.add_n([tf.reduce_sum(o * c) for o, c in zip(outs, cot, strict=True)])
    return tape.gradient(loss, t).numpy()


GRAD_CASES = [
    ("fft", lambda o, t: o.fft((t, t * 0.5))),
    ("fft2", lambda o, t: o.fft2((t, o.zeros_like(t)))),
    ("ifft2", lambda o, t: o.ifft2((t, t * t))),
    ("rfft", lambda o, t: o.rfft(t, fft_length=7)),
    ("irfft", lambda o, t: (o.irfft((t, t * 0.5), fft_length=8),)),
]


@pytest.mark.parametrize("fn", [c[1] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_fft_gradients_match_keras(fn, backend):
    """Gradients through our ops (the backend's autograd) vs through keras.ops (TF tape)."""
    keras = importlib.import_module("keras")
    shapes = [np.shape(o) for o in _keras_np(fn(keras.ops, RE))]
    cot = [np.random.default_rng(i).standard_normal(s).astype("float32") for i, s in
           enumerate(shapes)]  # fmt: skip
    expected = _native_grad("tensorflow", lambda t: fn(keras.ops, t), RE, cot)
    ours = _native_grad(backend, lambda t: fn(dl.ops, t), RE, cot)
    assert_close(f"{backend} gradient vs Keras", ours, expected, "float32", "gradient")


def test_resize_in_a_functional_model_saves_and_loads(backend, tmp_path):
    """On symbolic tensors image.resize is one graph node (an OpLayer 'image.resize')."""
    inp = L.Input((7, 10, 3))
    out = L.Conv2D(2, 1)(dl.ops.image.resize(inp, (4, 6)))
    model = dl.Model(inp, out)
    assert tuple(out.shape) == (None, 4, 6, 2)
    expected = model.predict(IMG, verbose=0)
    path = str(tmp_path / "r.dlm")
    model.save(path)
    again = dl.load_model(path)
    assert_close("resize model reloaded", again.predict(IMG, verbose=0), expected, "float32")


OP_BAD = [
    ("fft-not-pair", lambda: dl.ops.fft(RE), ConfigError,
     r"ops.fft takes a tuple of two tensors \(real, imaginary\)\. Received: ndarray\. Fix"),
    ("fft2-shapes", lambda: dl.ops.fft2((RE, IM[..., :3])), ShapeError,
     r"ops.fft2: the real and imaginary parts must have the same shape.*Fix"),
    ("resize-interp", lambda: dl.ops.image.resize(IMG, (3, 3), interpolation="bicubic"),
     ConfigError, r"unsupported interpolation.*Received: interpolation='bicubic'\. Fix"),
    ("resize-antialias", lambda: dl.ops.image.resize(IMG, (3, 3), antialias=True),
     ConfigError, r"antialias=True is not supported.*Fix: antialias=False"),
    ("resize-both", lambda: dl.ops.image.resize(IMG, (3, 3), crop_to_aspect_ratio=True,
     pad_to_aspect_ratio=True), ConfigError, r"only one of pad_to_aspect_ratio"),
    ("resize-size", lambda: dl.ops.image.resize(IMG, (3,)), ConfigError,
     r"size must be a tuple of two positive ints.*Received: size=\(3,\)\. Fix"),
    ("resize-fill-mode", lambda: dl.ops.image.resize(IMG, (3, 3), fill_mode="reflect"),
     ConfigError, r"only fill_mode='constant'"),
    ("resize-rank", lambda: dl.ops.image.resize(IMG[0, 0], (3, 3)), ShapeError,
     r"expects rank 3 \(one image\) or rank 4.*Received input shape \(10, 3\)"),
]  # fmt: skip


@pytest.mark.parametrize("call,error,match", [c[1:] for c in OP_BAD], ids=[c[0] for c in OP_BAD])
def test_bad_op_arguments_raise(call, error, match, backend):
    with pytest.raises(error, match=match):
        call()


# ---- keras.config names -----------------------------------------------------------------------
def test_config_traceback_filtering_flag_and_keras_names():
    cfg = dl.config
    assert cfg.is_traceback_filtering_enabled()
    cfg.disable_traceback_filtering()
    assert not cfg.is_traceback_filtering_enabled()
    cfg.enable_traceback_filtering()
    assert cfg.is_traceback_filtering_enabled()
    assert cfg.epsilon() == 1e-7 and cfg.image_data_format() == "channels_last"
    assert cfg.is_nnx_enabled() is False
    assert cfg.backend() == dl.backend()
    with pytest.raises(ConfigError, match=r"Expected: 'channels_last'.*Fix"):
        cfg.set_image_data_format("channels_first")
    with pytest.raises(ConfigError, match=r"Expected: 1e-07.*Fix"):
        cfg.set_epsilon(1e-5)
    keras = importlib.import_module("keras")
    for name in ("disable_traceback_filtering", "enable_traceback_filtering",
                 "is_traceback_filtering_enabled", "backend", "set_backend", "epsilon",
                 "set_epsilon", "image_data_format", "set_image_data_format",
                 "is_nnx_enabled"):  # fmt: skip
        assert hasattr(keras.config, name) and callable(getattr(cfg, name))
