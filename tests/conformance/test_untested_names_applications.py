"""``dl.applications`` names no test named before (issue 19, ``tools/public_names.py``): the
EfficientNet sizes B2 and B4-B7, and the building blocks the application modules expose
(``resnet.ResNet``, ``residual_block_v1`` ... ``mobilenet_v2.inverted_res_block``).

Oracles: real Keras 3. Each building block is called with the same arguments as Keras's own
(``keras.src.applications.<module>``) on the same input: the same layers (names, classes),
the same weights (paths, shapes), and, with our weights copied into Keras, the same outputs.
The large EfficientNets are compared with a fingerprint of Keras's model (parameter count,
layer count, and a digest of every layer's name and class and every weight's path and shape)
recorded from Keras 3.15 (``_fingerprint`` below on ``keras.applications.<name>(weights=None,
include_top=False, input_shape=(32, 32, 3))`` after ``keras.backend.clear_session()``):
building Keras's B4-B7 takes over a minute, ours a few seconds."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = importlib.import_module("keras")  # the oracle: a required test dependency

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _fingerprint(model: Any) -> tuple[int, int, str]:
    layers = [(layer.name, type(layer).__name__.replace("Functional", "Model"))
              for layer in model.layers]  # fmt: skip
    weights = [(w.path, [int(s) for s in w.shape]) for w in model.weights]
    digest = hashlib.sha256(json.dumps([layers, weights]).encode()).hexdigest()[:16]
    return model.count_params(), len(layers), digest


# Keras 3.15, include_top=False, input_shape=(32, 32, 3)
KERAS_FINGERPRINTS = {
    "EfficientNetB2": (7768569, 339, "9ec98b3d9c51bcc0"),
    "EfficientNetB4": (17673823, 474, "5706310f6a1d6d07"),
    "EfficientNetB5": (28513527, 576, "a16cbcdff6241f1d"),
    "EfficientNetB6": (40960143, 666, "6241f260f67093ee"),
    "EfficientNetB7": (64097687, 813, "ece162079113a130"),
}


@pytest.mark.parametrize("name", list(KERAS_FINGERPRINTS))
def test_efficientnet_sizes_match_keras(name):
    ours = getattr(dl.applications, name)
    assert getattr(dl.applications.efficientnet, name) is ours
    model = ours(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert model.name == name.lower()
    assert _fingerprint(model) == KERAS_FINGERPRINTS[name]


def test_fingerprint_recipe_against_live_keras():
    """The recipe behind the recorded numbers, checked live on the smallest size: ours and
    Keras's EfficientNetB0 give the same fingerprint (so the records compare like with like)."""
    keras.backend.clear_session()
    theirs = keras.applications.EfficientNetB0(weights=None, include_top=False,
                                               input_shape=(32, 32, 3))  # fmt: skip
    model = dl.applications.EfficientNetB0(weights=None, include_top=False,
                                           input_shape=(32, 32, 3))  # fmt: skip
    assert _fingerprint(model) == _fingerprint(theirs)


# ---- the building blocks, against Keras's own ----------------------------------------------------
def _k(module: str) -> Any:
    return importlib.import_module(f"keras.src.applications.{module}")


def _d(module: str) -> Any:
    return getattr(dl.applications, module)


EXPANDING = {"filters_in": 4, "filters_out": 8, "kernel_size": 5, "strides": 2,
             "expand_ratio": 6, "se_ratio": 0.25, "name": "b_"}  # fmt: skip
SKIPPING = {"filters_in": 8, "filters_out": 8, "se_ratio": 0.5, "name": "s_"}

# case -> (input shape, our model builder, Keras's), each builder given (library, input)
Build = Callable[[Any, Any], Any]
BLOCKS: dict[str, tuple[tuple[int, ...], Build, Build]] = {
    "resnet.residual_block_v1": (
        (8, 8, 4),
        lambda lib, x: _d("resnet").residual_block_v1(x, 8, stride=2, name="r1"),
        lambda lib, x: _k("resnet").residual_block_v1(x, 8, stride=2, name="r1"),
    ),
    "resnet.stack_residual_blocks_v1": (
        (8, 8, 4),
        lambda lib, x: _d("resnet").stack_residual_blocks_v1(x, 4, 2, name="s1"),
        lambda lib, x: _k("resnet").stack_residual_blocks_v1(x, 4, 2, name="s1"),
    ),
    "resnet.residual_block_v2": (
        (8, 8, 4),
        lambda lib, x: _d("resnet").residual_block_v2(x, 8, conv_shortcut=True, name="r2"),
        lambda lib, x: _k("resnet").residual_block_v2(x, 8, conv_shortcut=True, name="r2"),
    ),
    "resnet.stack_residual_blocks_v2": (
        (8, 8, 16),
        lambda lib, x: _d("resnet").stack_residual_blocks_v2(x, 4, 2, name="s2"),
        lambda lib, x: _k("resnet").stack_residual_blocks_v2(x, 4, 2, name="s2"),
    ),
    "densenet.dense_block": (
        (6, 6, 8),
        lambda lib, x: _d("densenet").dense_block(x, 2, name="d"),
        lambda lib, x: _k("densenet").dense_block(x, 2, name="d"),
    ),
    "densenet.transition_block": (
        (6, 6, 8),
        lambda lib, x: _d("densenet").transition_block(x, 0.5, name="t"),
        lambda lib, x: _k("densenet").transition_block(x, 0.5, name="t"),
    ),
    "densenet.conv_block": (
        (6, 6, 8),
        lambda lib, x: _d("densenet").conv_block(x, 4, name="c"),
        lambda lib, x: _k("densenet").conv_block(x, 4, name="c"),
    ),
    "efficientnet.block": (
        (8, 8, 4),
        lambda lib, x: _d("efficientnet").block(x, **EXPANDING),
        lambda lib, x: _k("efficientnet").block(x, **EXPANDING),
    ),
    "efficientnet.block-id_skip": (
        (8, 8, 8),
        lambda lib, x: _d("efficientnet").block(x, **SKIPPING),
        lambda lib, x: _k("efficientnet").block(x, **SKIPPING),
    ),
    "inception_v3.conv2d_bn": (
        (9, 9, 3),
        lambda lib, x: _d("inception_v3").conv2d_bn(x, 8, 1, 3, strides=(2, 2), name="cb"),
        lambda lib, x: _k("inception_v3").conv2d_bn(x, 8, 1, 3, strides=(2, 2), name="cb"),
    ),
    "mobilenet_v2.inverted_res_block": (
        (8, 8, 8),
        lambda lib, x: _d("mobilenet_v2").inverted_res_block(x, 6, 2, 1.0, 16, block_id=1),
        lambda lib, x: _k("mobilenet_v2")._inverted_res_block(x, 6, 2, 1.0, 16, block_id=1),
    ),
    "mobilenet_v2.inverted_res_block-skip": (
        (8, 8, 16),
        lambda lib, x: _d("mobilenet_v2").inverted_res_block(x, 6, 1, 1.0, 16, block_id=2),
        lambda lib, x: _k("mobilenet_v2")._inverted_res_block(x, 6, 1, 1.0, 16, block_id=2),
    ),
}


def _random_weights(model: Any, seed: int) -> list[np.ndarray]:
    """Random weights (batch-norm variances positive), so every formula is exercised."""
    rng = np.random.default_rng(seed)
    out = []
    for w in model.weights:
        value = rng.normal(0.0, 0.3, tuple(w.shape))
        if w.path.endswith("moving_variance") or w.path.endswith("/variance"):
            value = rng.uniform(0.5, 1.5, tuple(w.shape))
        out.append(value.astype("float32"))
    model.set_weights(out)
    return out


def _same_layers_and_weights(model: Any, kmodel: Any) -> None:
    assert [(layer.name, type(layer).__name__) for layer in model.layers] == [
        (layer.name, type(layer).__name__) for layer in kmodel.layers
    ]
    assert [(w.path, tuple(w.shape)) for w in model.weights] == [
        (w.path, tuple(w.shape)) for w in kmodel.weights
    ]


def _one_backend(cases: list[str]) -> list[tuple[str, str]]:
    """Each case on one backend, the backends taking turns (the layers' cross-backend
    agreement is checked in tests/parity; here the question is the name's structure)."""
    return [(c, BACKENDS[i % len(BACKENDS)]) for i, c in enumerate(cases)] if BACKENDS else []


@pytest.mark.parametrize("case, backend", _one_backend(list(BLOCKS)))
def test_building_block_matches_keras(case, backend):
    shape, ours, theirs = BLOCKS[case]
    keras.backend.clear_session()
    kin = keras.Input(shape, name="x")
    kmodel = keras.Model(kin, theirs(keras.layers, kin))
    with dl.use_backend(backend):
        inp = dl.Input(shape, name="x")
        model = dl.Model(inp, ours(dl.layers, inp))
    _same_layers_and_weights(model, kmodel)
    kmodel.set_weights(_random_weights(model, seed=len(case)))
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape[1:] == tuple(kmodel.output.shape[1:])
    assert_close(f"{case} {backend} vs Keras", y, np.asarray(kmodel(x, training=False)),
                 "float32", "forward")  # fmt: skip


# ---- the model builders, against Keras's own ----------------------------------------------------
def _two_stacks(stack: Callable[..., Any], blocks: int = 1) -> Callable[[Any], Any]:
    """A ResNet ``stack_fn`` of two small stacks (ResNet50's has four, 3-4-6-3 blocks; a v2
    stack names its first and last block apart, so it needs two)."""
    return lambda x: stack(stack(x, 4, blocks, stride1=1, name="conv2"), 8, blocks, name="conv3")


BUILDERS: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "resnet.ResNet": (
        lambda: _d("resnet").ResNet(
            _two_stacks(_d("resnet").stack_residual_blocks_v1), preact=False,
            use_bias=True, weights=None, input_shape=(32, 32, 3), classes=5, name="tiny"),
        lambda: _k("resnet").ResNet(
            _two_stacks(_k("resnet").stack_residual_blocks_v1), preact=False,
            use_bias=True, weights=None, input_shape=(32, 32, 3), classes=5, name="tiny"),
    ),
    "resnet.ResNet-preact": (
        lambda: _d("resnet").ResNet(
            _two_stacks(_d("resnet").stack_residual_blocks_v2, 2), preact=True,
            use_bias=True, weights=None, input_shape=(32, 32, 3), include_top=False,
            pooling="avg", name="tiny2"),
        lambda: _k("resnet").ResNet(
            _two_stacks(_k("resnet").stack_residual_blocks_v2, 2), preact=True,
            use_bias=True, weights=None, input_shape=(32, 32, 3), include_top=False,
            pooling="avg", name="tiny2"),
    ),
    "densenet.DenseNet": (
        lambda: _d("densenet").DenseNet([1, 1, 1, 1], weights=None, input_shape=(32, 32, 3),
                                        classes=4, name="tinydense"),
        lambda: _k("densenet").DenseNet([1, 1, 1, 1], weights=None, input_shape=(32, 32, 3),
                                        classes=4, name="tinydense"),
    ),
    "efficientnet.EfficientNet": (
        lambda: _d("efficientnet").EfficientNet(0.1, 0.1, 32, weights=None,
                                                input_shape=(32, 32, 3), classes=3, name="tinyeff"),
        lambda: _k("efficientnet").EfficientNet(0.1, 0.1, 32, weights=None,
                                                input_shape=(32, 32, 3), classes=3, name="tinyeff"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case, backend", _one_backend(list(BUILDERS)))
def test_model_builder_matches_keras(case, backend):
    ours, theirs = BUILDERS[case]
    keras.backend.clear_session()
    kmodel = theirs()
    with dl.use_backend(backend):
        model = ours()
    assert model.name == kmodel.name and model.count_params() == kmodel.count_params()
    assert [(w.path, tuple(w.shape)) for w in model.weights] == [
        (w.path, tuple(w.shape)) for w in kmodel.weights
    ]
    kmodel.set_weights(_random_weights(model, seed=len(case)))
    for layer in kmodel.layers:  # Keras's Normalization caches its statistics at build
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()
    x = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    assert_close(f"{case} {backend} vs Keras", model.predict(x, verbose=0),
                 np.asarray(kmodel(x, training=False)), "float32", "forward")  # fmt: skip


@pytest.mark.parametrize("include_top", [True, False])
def test_resnet_weights_file_is_keras_file(include_top):
    kres = _k("resnet")
    for name in ("resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2",
                 "resnet152v2"):  # fmt: skip
        file_name = f"{name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        assert dl.applications.resnet.weights_file(name, include_top) == (
            file_name,
            kres.BASE_WEIGHTS_PATH + file_name,
            kres.WEIGHTS_HASHES[name][0 if include_top else 1],
        )
