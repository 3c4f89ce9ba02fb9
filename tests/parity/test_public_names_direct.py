"""Public names that the rest of the suite reached only through strings (a parametrize id, an
activation or op name handed to a registry): each is called here by its own name and its
numbers are checked against Keras 3's function of the same name (tools/public_names.py counts
only imports, attribute chains and getattr calls as references)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.applications import densenet, efficientnet, inception_v3, mobilenet_v2, resnet
from duallearn.preprocessing import image
from duallearn.testing import assert_close, set_keras_weights_and_compare

from ..conftest import BACKENDS

keras = importlib.import_module("keras")
kapps = importlib.import_module("keras.src.applications")
for _m in ("resnet", "densenet", "efficientnet", "inception_v3", "mobilenet_v2"):
    importlib.import_module(f"keras.src.applications.{_m}")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4)).astype("float32") * 3.0


def _np(a):
    return np.asarray(dl.ops.convert_to_numpy(a))


# (ours, Keras's, inputs): each called on numpy inputs under the backend
ACTIVATIONS = {
    "hard_sigmoid": (dl.activations.hard_sigmoid, keras.activations.hard_sigmoid),
    "log_sigmoid": (dl.activations.log_sigmoid, keras.activations.log_sigmoid),
    "selu": (dl.activations.selu, keras.activations.selu),
    "sigmoid": (dl.activations.sigmoid, keras.activations.sigmoid),
    "softplus": (dl.activations.softplus, keras.activations.softplus),
    "softsign": (dl.activations.softsign, keras.activations.softsign),
    "tanh": (dl.activations.tanh, keras.activations.tanh),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_activation_functions_match_keras(backend, name):
    ours, theirs = ACTIVATIONS[name]
    with dl.use_backend(backend):
        got = _np(ours(dl.ops.convert_to_tensor(X)))
    assert_close(f"dl.activations.{name} on {backend}", got, np.asarray(theirs(X)), "float32",
                 "activation")  # fmt: skip


P = np.abs(X) + 0.5
IMG = RNG.standard_normal((2, 6, 6, 3)).astype("float32")
KER = RNG.standard_normal((3, 3, 3, 4)).astype("float32")
OPS = {
    "conv": (dl.ops.conv, keras.ops.conv, (IMG, KER), {"strides": 1, "padding": "same"}),
    "max_pool": (dl.ops.max_pool, keras.ops.max_pool, (IMG, 2), {"strides": 2}),
    "elu": (dl.ops.elu, keras.ops.elu, (X,), {}),
    "celu": (dl.ops.celu, keras.ops.celu, (X,), {"alpha": 0.7}),
    "softsign": (dl.ops.softsign, keras.ops.softsign, (X,), {}),
    "hard_sigmoid": (dl.ops.hard_sigmoid, keras.ops.hard_sigmoid, (X,), {}),
    "hard_silu": (dl.ops.hard_silu, keras.ops.hard_silu, (X,), {}),
    "hard_swish": (dl.ops.hard_swish, keras.ops.hard_swish, (X,), {}),
    "log_sigmoid": (dl.ops.log_sigmoid, keras.ops.log_sigmoid, (X,), {}),
    "tan": (dl.ops.tan, keras.ops.tan, (X / 3.0,), {}),
    "log2": (dl.ops.log2, keras.ops.log2, (P,), {}),
    "log10": (dl.ops.log10, keras.ops.log10, (P,), {}),
    "isinf": (dl.ops.isinf, keras.ops.isinf, (np.array([1.0, np.inf, -np.inf, np.nan]),), {}),
    "logaddexp": (dl.ops.logaddexp, keras.ops.logaddexp, (X, X[::-1].copy()), {}),
    "outer": (dl.ops.outer, keras.ops.outer, (X[0], X[1, :3]), {}),
    "full_like": (dl.ops.full_like, keras.ops.full_like, (X, 2.5), {}),
    "moveaxis": (dl.ops.moveaxis, keras.ops.moveaxis, (IMG, 3, 1), {}),
    "tril": (dl.ops.tril, keras.ops.tril, (X,), {"k": 1}),
    "triu": (dl.ops.triu, keras.ops.triu, (X,), {"k": -1}),
    "cumprod": (dl.ops.cumprod, keras.ops.cumprod, (X / 3.0,), {"axis": 1}),
    "stop_gradient": (dl.ops.stop_gradient, keras.ops.stop_gradient, (X,), {}),
}


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_ops_match_keras(backend, name):
    ours, theirs, args, kw = OPS[name]
    with dl.use_backend(backend):
        got = _np(ours(*[dl.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a
                         for a in args], **kw))  # fmt: skip
    want = np.asarray(theirs(*args, **kw))
    assert got.shape == want.shape, (name, got.shape, want.shape)
    if want.dtype == bool:
        np.testing.assert_array_equal(got, want)
    else:
        assert_close(f"dl.ops.{name} on {backend}", got, want, "float32", "forward")


MERGES = {
    "average": (dl.layers.average, lambda a, b: (a + b) / 2),
    "maximum": (dl.layers.maximum, np.maximum),
    "minimum": (dl.layers.minimum, np.minimum),
    "multiply": (dl.layers.multiply, np.multiply),
    "subtract": (dl.layers.subtract, np.subtract),
    "dot": (lambda xs: dl.layers.dot(xs, axes=1), lambda a, b: np.sum(a * b, 1, keepdims=True)),
}


@pytest.mark.parametrize("name", list(MERGES))
def test_functional_merges(backend, name):
    merge, formula = MERGES[name]
    a, b = dl.layers.Input((4,)), dl.layers.Input((4,))
    model = dl.Model([a, b], merge([a, b]))
    xa, xb = X, RNG.standard_normal((3, 4)).astype("float32")
    got = model.predict([xa, xb], verbose=0)
    assert_close(f"dl.layers.{name} on {backend}", got, formula(xa, xb), "float32", "layer")


def test_op_layer_records_a_dl_ops_call(backend):
    """``dl.ops`` on symbolic tensors records an OpLayer, which runs that op and rebuilds
    from its config."""
    x = dl.layers.Input((4,))
    model = dl.Model(x, dl.ops.multiply(dl.ops.exp(x), 2.0))
    nodes = [n.layer for n in model.graph.nodes]
    ops_layers = [layer for layer in nodes if isinstance(layer, dl.layers.OpLayer)]
    assert len(ops_layers) == 2
    np.testing.assert_allclose(model.predict(X, verbose=0), 2.0 * np.exp(X), rtol=1e-6)
    again = dl.layers.OpLayer.from_config(ops_layers[0].get_config())
    assert again.get_config() == ops_layers[0].get_config()


@pytest.mark.parametrize("axis", [0, 1])
def test_unit_norm_matches_keras(axis):
    w = RNG.standard_normal((4, 3)).astype("float32")
    want = np.asarray(keras.constraints.UnitNorm(axis=axis)(w))
    for constraint in (dl.constraints.UnitNorm(axis=axis), dl.constraints.unit_norm(axis=axis)):
        got = np.asarray(constraint(w))
        assert_close(f"UnitNorm(axis={axis})", got, want, "float32", "forward")
        assert constraint.get_config()["axis"] == axis


def test_image_module_round_trips_like_keras(tmp_path):
    arr = (RNG.random((5, 4, 3)) * 255).astype("float32").round()
    img = image.array_to_img(arr, scale=False)
    np.testing.assert_array_equal(image.img_to_array(img), keras.utils.img_to_array(img))
    image.save_img(tmp_path / "a.png", arr, scale=False)
    back = image.img_to_array(image.load_img(tmp_path / "a.png"))
    np.testing.assert_array_equal(back, arr)


# ---- the applications' building blocks, against Keras's, with the same weights ----------------
KA = kapps


def _stack1(x):
    return resnet.stack_residual_blocks_v1(x, 4, 1, stride1=1, name="s1")


def _k_stack1(x):
    return KA.resnet.stack_residual_blocks_v1(x, 4, 1, stride1=1, name="s1")


def _stack2(x):
    return resnet.stack_residual_blocks_v2(x, 4, 2, stride1=2, name="s2")


def _k_stack2(x):
    return KA.resnet.stack_residual_blocks_v2(x, 4, 2, stride1=2, name="s2")


# name -> (ours on x, Keras's on x): the same block, the same arguments
BLOCKS = {
    "residual_block_v1": (
        lambda x: resnet.residual_block_v1(x, 4, name="b1"),
        lambda x: KA.resnet.residual_block_v1(x, 4, name="b1"),
    ),
    "residual_block_v2": (
        lambda x: resnet.residual_block_v2(x, 4, conv_shortcut=True, name="b2"),
        lambda x: KA.resnet.residual_block_v2(x, 4, conv_shortcut=True, name="b2"),
    ),
    "dense_block": (
        lambda x: densenet.dense_block(x, 2, name="d"),
        lambda x: KA.densenet.dense_block(x, 2, name="d"),
    ),
    "transition_block": (
        lambda x: densenet.transition_block(x, 0.5, name="t"),
        lambda x: KA.densenet.transition_block(x, 0.5, name="t"),
    ),
    "conv_block": (
        lambda x: densenet.conv_block(x, 4, name="c"),
        lambda x: KA.densenet.conv_block(x, 4, name="c"),
    ),
    "block": (
        lambda x: efficientnet.block(
            x, filters_in=8, filters_out=8, expand_ratio=2, se_ratio=0.25, name="e"
        ),
        lambda x: KA.efficientnet.block(
            x, filters_in=8, filters_out=8, expand_ratio=2, se_ratio=0.25, name="e"
        ),
    ),
    "conv2d_bn": (
        lambda x: inception_v3.conv2d_bn(x, 4, 3, 3, name="cb"),
        lambda x: KA.inception_v3.conv2d_bn(x, 4, 3, 3, name="cb"),
    ),
    "inverted_res_block": (
        lambda x: mobilenet_v2.inverted_res_block(x, 2, 2, 1.0, 8, 1),
        lambda x: KA.mobilenet_v2._inverted_res_block(x, 2, 2, 1.0, 8, 1),
    ),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_application_blocks_match_keras(backend, name):
    ours, theirs = BLOCKS[name]
    x = RNG.standard_normal((2, 8, 8, 8)).astype("float32")
    ki = keras.Input((8, 8, 8))
    km = keras.Model(ki, theirs(ki))
    di = dl.layers.Input((8, 8, 8))
    dm = dl.Model(di, ours(di))
    assert dm.count_params() == km.count_params()
    set_keras_weights_and_compare(dm, km, x)


@pytest.mark.parametrize("which", ["ResNet", "DenseNet", "EfficientNet"])
def test_application_builders_match_keras(backend, which):
    kw = {"include_top": True, "weights": None, "input_shape": (32, 32, 3), "classes": 5}
    if which == "ResNet":
        dm = resnet.ResNet(_stack1, False, True, **kw)
        km = kapps.resnet.ResNet(_k_stack1, False, True, **kw)
        dm2 = resnet.ResNet(_stack2, True, True, pooling="avg", **{**kw, "include_top": False})
        km2 = kapps.resnet.ResNet(_k_stack2, True, True, pooling="avg",
                                  **{**kw, "include_top": False})  # fmt: skip
    elif which == "DenseNet":
        dm, km = densenet.DenseNet([1, 1, 1, 1], **kw), kapps.densenet.DenseNet([1, 1, 1, 1], **kw)
        dm2 = km2 = None
    else:
        args = (0.1, 0.1, 32)
        dm = efficientnet.EfficientNet(*args, **kw)
        km = kapps.efficientnet.EfficientNet(*args, **kw)
        dm2 = km2 = None
    x = RNG.standard_normal((2, 32, 32, 3)).astype("float32")
    for d, k in ((dm, km), (dm2, km2)):
        if d is None:
            continue
        assert d.count_params() == k.count_params()
        set_keras_weights_and_compare(d, k, x)
