"""Weight constraints beside real Keras 3 (the oracle).

Standalone projections; models whose weights carry ``MaxNorm`` / ``NonNeg`` / ``UnitNorm`` /
``MinMaxNorm`` trained from the same weights as an identically built Keras model, on every
backend: History losses and final weights match within the float32 table. Torch keeps conv
kernels transposed (and depthwise / GRU kernels rearranged), yet an ``axis`` always means the
canonical (Keras) axis: the Conv2D, DepthwiseConv2D, SeparableConv2D and GRU cases prove it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, DuallearnError, SerializationError, UnknownNameError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from .test_regularizers import _close

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

F32 = "float32"
BATCH = 8
WITH_NUMPY = [*BACKENDS, "numpy"]


# ---- standalone projections ----------------------------------------------------------------
CONSTRAINTS: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    ("MaxNorm", lambda lib: lib.constraints.MaxNorm(1.2), (5, 4)),
    ("MaxNorm-axis1", lambda lib: lib.constraints.MaxNorm(0.7, axis=1), (5, 4)),
    ("MaxNorm-conv", lambda lib: lib.constraints.MaxNorm(1.0, axis=[0, 1, 2]), (3, 3, 2, 4)),
    ("NonNeg", lambda lib: lib.constraints.NonNeg(), (3, 3, 2, 4)),
    ("UnitNorm", lambda lib: lib.constraints.UnitNorm(), (5, 4)),
    ("UnitNorm-conv", lambda lib: lib.constraints.UnitNorm(axis=[0, 1, 2]), (3, 3, 2, 4)),
    ("MinMaxNorm", lambda lib: lib.constraints.MinMaxNorm(0.8, 1.5), (5, 4)),
    ("MinMaxNorm-rate", lambda lib: lib.constraints.MinMaxNorm(1.5, 2.5, 0.4, 1), (5, 4)),
]


@pytest.mark.parametrize(("label", "make", "shape"), CONSTRAINTS, ids=[c[0] for c in CONSTRAINTS])
@pytest.mark.parametrize("where", [*BACKENDS, "numpy_mode"])
def test_projections_match_keras(label, make, shape, where):
    w = np.random.default_rng(2).standard_normal(shape).astype(F32)
    theirs = keras.ops.convert_to_numpy(make(keras)(keras.ops.convert_to_tensor(w)))
    if where == "numpy_mode":
        with dl.ops.numpy_mode():
            ours = np.asarray(make(dl)(w))
    else:
        with dl.use_backend(where):
            ours = dl.ops.convert_to_numpy(make(dl)(w))
    assert_close(f"{label} on {where}", ours, theirs, F32, "layer")


def test_names_configs_and_serialization_match_keras():
    for name in ("max_norm", "non_neg", "unit_norm", "min_max_norm", "MaxNorm", "UnitNorm"):
        ours, theirs = dl.constraints.get(name), keras.constraints.get(name)
        assert type(ours).__name__ == type(theirs).__name__, name
        assert ours.get_config() == theirs.get_config(), name
    c = dl.constraints.MaxNorm(3, axis=[0, 1, 2])
    assert dl.constraints.serialize(c) == {
        "class_name": "MaxNorm",
        "config": {"max_value": 3, "axis": [0, 1, 2]},
    }
    again = dl.constraints.deserialize(dl.constraints.serialize(c))
    assert again.get_config() == c.get_config()
    k = keras.constraints.serialize(keras.constraints.MinMaxNorm(0.1, 0.9, 0.5, axis=1))
    assert dl.constraints.get(k).get_config() == {
        "min_value": 0.1,
        "max_value": 0.9,
        "rate": 0.5,
        "axis": 1,
    }
    assert dl.constraints.max_norm is dl.constraints.MaxNorm
    assert dl.constraints.get(None) is None


def test_bad_input_raises_clear_errors():
    with pytest.raises(UnknownNameError, match="Unknown constraint: 'max_norms'.*Expected one of"):
        dl.constraints.get("max_norms")
    with pytest.raises(
        ConfigError, match=r"axis must be an int or a list.*Received: axis='0'.*Fix"
    ):
        dl.constraints.MaxNorm(axis="0")
    with pytest.raises(ConfigError, match=r"max_value must be >= 0.*Received: max_value=-1"):
        dl.constraints.MaxNorm(-1)
    with pytest.raises(ConfigError, match="min_value must be <= max_value.*Fix"):
        dl.constraints.MinMaxNorm(2.0, 1.0)
    with pytest.raises(SerializationError, match="Fix: subclass dl.constraints.Constraint"):
        dl.constraints.serialize(lambda w: w)
    with pytest.raises(UnknownNameError, match="Embedding: embeddings_constraint: Unknown"):
        dl.layers.Embedding(3, 2, embeddings_constraint="nonneg")
    assert issubclass(UnknownNameError, DuallearnError)


# ---- trajectories beside Keras --------------------------------------------------------------------
def _dense(kernel: Callable[[Any], Any], bias: Callable[[Any], Any] | None = None) -> Any:
    def make(lib: Any) -> Any:
        return lib.Sequential(
            [
                lib.layers.Input((6,)),
                lib.layers.Dense(
                    4,
                    activation="tanh",
                    kernel_constraint=kernel(lib),
                    bias_constraint=None if bias is None else bias(lib),
                ),
                lib.layers.Dense(2, kernel_constraint=lib.constraints.NonNeg()),
            ]
        )

    return make


def _conv(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((6, 6, 2)),
            lib.layers.Conv2D(3, 3, kernel_constraint=lib.constraints.MaxNorm(0.6, axis=[0, 1, 2])),
            lib.layers.Conv2D(2, 2, kernel_constraint=lib.constraints.UnitNorm(axis=[0, 1, 2])),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]
    )


def _depthwise(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((6, 6, 2)),
            lib.layers.DepthwiseConv2D(
                3,
                depth_multiplier=2,
                depthwise_constraint=lib.constraints.MaxNorm(0.5, axis=[0, 1]),
                bias_constraint=lib.constraints.NonNeg(),
            ),
            lib.layers.SeparableConv2D(
                3,
                2,
                pointwise_constraint=lib.constraints.UnitNorm(axis=[0, 1, 2]),
                depthwise_constraint=lib.constraints.MinMaxNorm(0.1, 0.4, axis=[0, 1]),
            ),
            lib.layers.Conv2DTranspose(
                2, 2, kernel_constraint=lib.constraints.MaxNorm(0.5, axis=[0, 1, 3])
            ),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]
    )


def _recurrent(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((4, 3)),
            lib.layers.GRU(
                4,
                return_sequences=True,
                kernel_constraint=lib.constraints.MaxNorm(0.5, axis=0),
                recurrent_constraint=lib.constraints.UnitNorm(axis=1),
            ),
            lib.layers.LSTM(3, kernel_constraint=lib.constraints.MaxNorm(0.4, axis=0)),
            lib.layers.Dense(2),
        ]
    )


def _embedding(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((4,), dtype="int32"),
            lib.layers.Embedding(7, 3, embeddings_constraint=lib.constraints.UnitNorm(axis=1)),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]
    )


def _normalization(lib: Any) -> Any:
    return lib.Sequential(
        [
            lib.layers.Input((5,)),
            lib.layers.Dense(4),
            lib.layers.LayerNormalization(gamma_constraint=lib.constraints.MaxNorm(1.0)),
            lib.layers.BatchNormalization(beta_constraint=lib.constraints.NonNeg()),
            lib.layers.Dense(2),
        ]
    )


MODELS = {
    "MaxNorm": _dense(
        lambda lib: lib.constraints.MaxNorm(0.5), lambda lib: lib.constraints.NonNeg()
    ),
    "UnitNorm-axis1": _dense(lambda lib: lib.constraints.UnitNorm(axis=1)),
    "MinMaxNorm-rate": _dense(
        lambda lib: lib.constraints.MinMaxNorm(0.2, 0.6, rate=0.5),
        lambda lib: lib.constraints.MaxNorm(0.1),
    ),
    "conv": _conv,
    "depthwise-separable-transpose": _depthwise,
    "recurrent": _recurrent,
    "embedding": _embedding,
    "normalization": _normalization,
}


def _data(name: str, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    if name in ("conv", "depthwise-separable-transpose"):
        x = rng.standard_normal((n, 6, 6, 2)).astype(F32)
    elif name == "recurrent":
        x = rng.standard_normal((n, 4, 3)).astype(F32)
    elif name == "embedding":
        x = rng.integers(0, 7, (n, 4)).astype("int32")
    else:
        x = rng.standard_normal((n, 5 if name == "normalization" else 6)).astype(F32)
    return x, rng.standard_normal((n, 2)).astype(F32)


def _train_beside_keras(
    make: Callable[[Any], Any], x: Any, y: Any, backend: str, sgd: bool = False, **opt: Any
) -> tuple[Any, Any]:
    """Adam(0.05) (SGD(0.5) with ``sgd``) from the same weights on ``backend`` and Keras."""
    with dl.use_backend(backend):
        ours, theirs = make(dl), make(keras)
        theirs.set_weights(ours.get_weights())
        if sgd:
            ours.compile(optimizer=dl.optimizers.SGD(0.5, **opt), loss="mse")
            theirs.compile(optimizer=keras.optimizers.SGD(0.5, **opt), loss="mse")
        else:
            ours.compile(optimizer=dl.optimizers.Adam(0.05, **opt), loss="mse")
            theirs.compile(optimizer=keras.optimizers.Adam(0.05, **opt), loss="mse")
        h = ours.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        kh = theirs.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        _close(f"History loss on {backend}", h.history["loss"], kh.history["loss"])
        _close(f"final weights on {backend}", ours.get_weights(), theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("backend", WITH_NUMPY)
def test_constrained_training_matches_keras(name, backend):
    x, y = _data(name)
    # SGD for: Embedding (Keras-on-TensorFlow's Adam treats its sparse gradient its own way,
    # docs/optimizers.md "Known divergence"); the normalization stack (BatchNormalization
    # cancels the Dense bias's gradient to rounding noise, which Adam would scale up to full
    # steps of lr)
    sgd = name in ("embedding", "normalization")
    _train_beside_keras(MODELS[name], x, y, backend, sgd=sgd)


@pytest.mark.parametrize("backend", WITH_NUMPY)
def test_conv_kernel_axis_is_the_canonical_one(backend):
    """MaxNorm(axis=[0, 1, 2]) bounds each filter's norm over (kh, kw, in) of the canonical
    kernel, however the backend stores it (torch: (out, in, kh, kw))."""
    x, y = _data("conv")
    ours, _ = _train_beside_keras(_conv, x, y, backend)
    k1, k2 = ours.layers[0].kernel.numpy(), ours.layers[1].kernel.numpy()
    assert np.all(np.sqrt((k1**2).sum(axis=(0, 1, 2))) <= 0.6 + 1e-6)
    np.testing.assert_allclose(np.sqrt((k2**2).sum(axis=(0, 1, 2))), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_constraints_apply_on_every_accumulation_step_as_keras(backend):
    """Keras 3 projects after every ``apply``, accumulating steps included."""
    x, y = _data("MaxNorm")
    _train_beside_keras(MODELS["MaxNorm"], x, y, backend, gradient_accumulation_steps=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_frozen_weights_are_not_projected(backend):
    """Keras 3 projects only the variables the optimizer trains."""
    x, y = _data("MaxNorm")
    with dl.use_backend(backend):
        model = MODELS["MaxNorm"](dl)
        model.layers[0].trainable = False
        before = model.layers[0].kernel.numpy()
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        np.testing.assert_array_equal(model.layers[0].kernel.numpy(), before)
        assert np.max(np.sqrt((before**2).sum(axis=0))) > 0.5  # it would have been projected


def test_native_layouts_are_seen_canonically():
    """The plugin's Layout: identity, a transpose or a gather per torch storage layout."""
    if "torch" not in BACKENDS:
        pytest.skip("torch not installed")
    from duallearn.plugin._penalties import Layout

    with dl.use_backend("torch"):
        model = _depthwise(dl)
        model.predict(np.zeros((1, 6, 6, 2), F32), verbose=0)
        dense = dl.Sequential([dl.layers.Input((3,)), dl.layers.Dense(2)])
        dense.predict(np.zeros((1, 3), F32), verbose=0)
        conv = dl.Sequential([dl.layers.Input((5, 5, 2)), dl.layers.Conv2D(3, 2)])
        conv.predict(np.zeros((1, 5, 5, 2), F32), verbose=0)
    assert Layout(dense.layers[0].kernel).kind == "same"
    lay = Layout(conv.layers[0].kernel)
    assert lay.kind == "transpose" and lay.to_native_perm == [3, 2, 0, 1]
    assert Layout(model.layers[0].kernel).kind == "gather"  # (C·M, 1, kh, kw)
    from duallearn_torch import _ops

    for layer in (conv.layers[0], model.layers[0], model.layers[1]):
        w = layer.weights[0]
        lay = Layout(w)
        np.testing.assert_array_equal(
            _ops.convert_to_numpy(lay.canonical(_ops, w.value)), w.numpy()
        )
        again = lay.native(_ops, lay.canonical(_ops, w.value))
        np.testing.assert_array_equal(_ops.convert_to_numpy(again), _ops.convert_to_numpy(w.value))
