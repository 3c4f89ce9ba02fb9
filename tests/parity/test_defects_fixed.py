"""The defects the independent oracles recorded (docs/parity_oracles.md), checked on the third
implementation as well: the numpy reference (``Layer.reference``/``reference_backward``,
``Loss.reference``/``reference_grad``) against both engines (``check_layer``) and, for the
losses, against real Keras 3; the engines against Keras are in test_oracle_layers.py and
test_oracle_losses_metrics.py. Plus the paths around them: ignore_class in a compiled model
(fit's loss), the unequal-stride depthwise convolution with an unknown spatial size on the
TensorFlow engine, and the SparseCategoricalCrossentropy metric from unclipped probabilities.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import duallearn as dl
from duallearn.activations import SELU_SCALE
from duallearn.testing import assert_close, check_layer

from ..conftest import both
from ._keras_compare import keras_floatx
from .test_oracle_losses_metrics import judge, keras_loss, ours_loss

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

pytestmark = both()
BACKENDS = ["torch", "tensorflow"]
L = dl.layers


# ---- layers: numpy reference and both engines --------------------------------------------------


def test_selu_gradient_at_zero_numpy_reference():
    """f'(0) = scale (TensorFlow's SeluGrad), not scale·α: the numpy VJP and both engines."""
    x = np.array([0.0, -0.0, 1e-3, -1e-3])
    g = dl.activations.reference_grad("selu", x, dl.activations.reference("selu", x), np.ones(4))
    assert g[0] == g[1] == SELU_SCALE
    check_layer(lambda: L.Dense(2, activation="selu", use_bias=False), np.zeros((2, 3)))


def test_selu_op_gradient_at_zero_is_tensorflows():
    """``dl.ops.selu`` (custom layers use it) takes the same slope at 0 on both engines as
    TensorFlow's SeluGrad: scale, and scale·α just left of 0."""
    import tensorflow as tf
    import torch

    x = np.array([0.0, -1e-3, 1e-3])
    t = torch.tensor(x, requires_grad=True)
    with dl.use_backend("torch"):
        dl.ops.selu(t).sum().backward()
    v = tf.Variable(x)
    with dl.use_backend("tensorflow"), tf.GradientTape() as tape:
        y = tf.reduce_sum(dl.ops.selu(v))
    with tf.GradientTape() as tape2:
        z = tf.reduce_sum(tf.nn.selu(v))
    want = tape2.gradient(z, v).numpy()
    assert want[0] == SELU_SCALE
    for name, got in (("torch", t.grad.numpy()), ("tensorflow", tape.gradient(y, v).numpy())):
        assert got[0] == SELU_SCALE, name  # the kink: exactly the right branch's slope
        assert_close(f"selu' on {name}", got, want, "float64", "activation")


@pytest.mark.parametrize("layer", ["DepthwiseConv2D", "SeparableConv2D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [(1, 2), (3, 1), (2, 3)])
def test_unequal_strides(layer, padding, strides):
    """Row ≠ column stride: the numpy reference, the torch engine and the TF engine's sliced
    stride-1 convolution agree (Keras's TF kernel refuses these strides)."""
    kw = {"kernel_size": (2, 3), "strides": strides, "padding": padding, "use_bias": True,
          "depth_multiplier": 2}  # fmt: skip
    if layer == "SeparableConv2D":
        kw["filters"] = 3
    x = np.random.default_rng(1).standard_normal((2, 5, 7, 2))
    check_layer(lambda: getattr(L, layer)(**kw), x)


def test_unequal_strides_unknown_size_on_tensorflow():
    """SAME pads computed in the graph when the spatial size is unknown (a step traced for
    any size) equal the static ones; and a model with unknown sizes agrees across engines."""
    import tensorflow as tf
    from duallearn_tensorflow._conv import _depthwise

    kw = {"kernel_size": (3, 2), "strides": (2, 1), "padding": "same"}
    spec = L.DepthwiseConv2D(**kw)
    rng = np.random.default_rng(2)
    kernel = tf.constant(rng.standard_normal((3, 2, 2, 1)))
    traced = tf.function(
        lambda t: _depthwise(t, kernel, spec),
        input_signature=[tf.TensorSpec((None, None, None, 2), tf.float64)],
    )
    for shape in [(1, 5, 4, 2), (2, 6, 3, 2)]:
        x = tf.constant(rng.standard_normal(shape))
        np.testing.assert_allclose(traced(x).numpy(), _depthwise(x, kernel, spec).numpy(),
                                   rtol=1e-14, atol=1e-14)  # fmt: skip
    dl.config.set_floatx("float64")
    outs = []
    x = rng.standard_normal((2, 7, 5, 2))
    weights = None
    for backend in BACKENDS:
        with dl.use_backend(backend):
            inp = dl.Input((None, None, 2))
            model = dl.Model(inp, L.DepthwiseConv2D(**kw)(inp))
            if weights is None:
                weights = model.get_weights()
            model.set_weights(weights)
            outs.append(model.predict(x, verbose=0))
    assert_close("unknown-size DepthwiseConv2D tensorflow vs torch", outs[1], outs[0], "float64",
                 "layer")  # fmt: skip


def test_batch_norm_of_one_value_numpy_reference():
    kw = {"gamma_initializer": "random_normal", "beta_initializer": "random_normal"}
    check_layer(lambda: L.BatchNormalization(**kw), np.array([[0.5, -2.0, 3.0]]), training=True)


def test_group_of_one_value_numpy_reference():
    kw = {"groups": 2, "gamma_initializer": "random_normal", "beta_initializer": "random_normal"}
    check_layer(lambda: L.GroupNormalization(**kw), np.array([[[0.5, -2.0]]]))


def test_unit_normalization_of_zero_numpy_reference():
    x = np.array([[0.0, 0.0, 0.0], [0.3, -0.4, 1.2]])
    check_layer(lambda: L.UnitNormalization(), x)


def test_average_pooling3d_smaller_than_the_pool_numpy_reference():
    # symmetric pads (1, 1) on the 1×1 plane: the case F.avg_pool3d refused
    x = np.array([0.5, -2.0, 1.0, 4.0]).reshape(1, 2, 1, 1, 2)
    check_layer(lambda: L.AveragePooling3D((1, 3, 3), padding="same"), x)


# ---- losses: numpy reference against Keras ---------------------------------------------------

CASES = {
    "cosine of a zero vector": ("cosine", {}, [[0.3, -1.0], [1.0, 2.0]], [[0.0, 0.0], [0.5, -0.25]]),
    "binary focal of large logits": (
        "binary_focal",
        {"from_logits": True, "label_smoothing": 0.1, "apply_class_balancing": True,
         "alpha": 0.25, "gamma": 2.0},
        [[1.0, 0.0, 1.0]], [[-100.0, 0.3, 40.0]],
    ),
    "binary focal gamma=0 at a certain prediction": (
        "binary_focal",
        {"from_logits": False, "label_smoothing": 0.0, "apply_class_balancing": False,
         "alpha": 0.25, "gamma": 0.0},
        [[1.0, 0.0]], [[1.0, 0.3]],
    ),
    "scce of unclipped probabilities": (
        "scce", {"from_logits": False, "ignore_class": None}, [0, 1, 2],
        [[2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.2, 0.0, 0.7]],
    ),
}  # fmt: skip
REDUCTIONS = ["sum_over_batch_size", "mean_with_sample_weight", "sum", "none"]
CLASSES = {
    "cosine": "CosineSimilarity",
    "binary_focal": "BinaryFocalCrossentropy",
    "scce": "SparseCategoricalCrossentropy",
}


def _numpy_loss(name, opts, y, p, sw, reduction):
    spec = getattr(dl.losses, CLASSES[name])(reduction=reduction, **opts)
    return np.asarray(spec.reference(y, p, sw)), spec.reference_grad(y, p, sw)


def _judge_nan(label, got, want):
    """nan where Keras has nan, the rest judged as usual."""
    (v, g), (kv, kg) = got, want
    assert np.array_equal(np.isnan(g), np.isnan(kg)), (label, g, kg)
    cot = np.ones(np.shape(v)) if np.ndim(v) else np.ones(1)
    judge(label, (v, np.nan_to_num(g)), (kv, np.nan_to_num(kg)), "float64", cot)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_numpy_reference_vs_keras(case, reduction):
    name, opts, y, p = CASES[case]
    y, p = np.asarray(y, np.float64 if name != "scce" else np.int64), np.asarray(p, np.float64)
    cot = np.ones(p.shape[:-1])
    for sw in (None, np.linspace(0.0, 2.0, p.shape[0])):
        want = keras_loss(name, opts, y, p, sw, reduction, cot)
        _judge_nan(f"{case} numpy reference ({reduction}, weighted={sw is not None})",
                   _numpy_loss(name, opts, y, p, sw, reduction), want)  # fmt: skip


@pytest.mark.parametrize("backend", [None, *BACKENDS])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "mean_with_sample_weight",
                                       "sum", "none"])  # fmt: skip
@pytest.mark.parametrize("kept", ["some", "none", "all"])
def test_ignore_class_every_reduction(backend, reduction, kept):
    """Keras's apply_mask: the mean reductions divide by the kept labels (0 when none is kept,
    divide_no_nan), mean_with_sample_weight by Σ(w·kept); value and gradient, weighted or
    not, on the numpy reference (None) and both engines."""
    y = {"some": [0, 2, 1, 0], "none": [0, 0, 0, 0], "all": [1, 2, 1, 2]}[kept]
    y = np.array(y)
    p = np.random.default_rng(4).uniform(0.05, 1.0, (4, 3))
    opts = {"from_logits": False, "ignore_class": 0}
    cot = np.ones(4)
    for sw in (None, np.array([0.5, 2.0, 1.0, 0.25])):
        want = keras_loss("scce", opts, y, p, sw, reduction, cot)
        if backend is None:
            got = _numpy_loss("scce", opts, y, p, sw, reduction)
        else:
            got = ours_loss(backend, "scce", opts, y, p, sw, reduction, cot)
        judge(f"ignore_class {kept} kept, {reduction}, weighted={sw is not None} on {backend}",
              got, want, "float64", cot)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignore_class_in_a_compiled_model(backend):
    """fit's loss (the engine's compiled loss) divides by the kept labels as Keras's
    evaluate does; training steps stay finite."""
    import keras

    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 0, 0, 1])
    dl.config.set_floatx("float64")
    with dl.use_backend(backend):
        model = dl.Sequential([dl.Input((4,)), L.Dense(3, activation="softmax")])
        model.compile(loss=dl.losses.SparseCategoricalCrossentropy(ignore_class=0))
        weights = model.get_weights()
        ours = model.evaluate(x, y, batch_size=6, verbose=0)
    with keras_floatx("float64"):
        kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        kmodel.set_weights(weights)
        kmodel.compile(loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=0))
        theirs = kmodel.evaluate(x, y, batch_size=6, verbose=0)
    assert_close("compiled ignore_class loss", np.float64(ours), np.float64(theirs), "float64",
                 "forward")  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_crossentropy_metric_of_unclipped_probabilities(backend):
    """Keras's metric clips the raw p then takes softmax(log p), as its loss."""
    import keras

    from .test_oracle_losses_metrics import native

    y, p = np.array([0, 1, 2]), np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.2, 0.0, 0.7]])
    ours = dl.metrics.SparseCategoricalCrossentropy()
    ours.update_state(native(backend, y), native(backend, p))
    with keras_floatx("float64"):
        theirs = keras.metrics.SparseCategoricalCrossentropy(dtype="float64")
        theirs.update_state(y, p)
    assert_close("scce metric", np.float64(ours.result()), np.float64(theirs.result()),
                 "float64", "forward")  # fmt: skip
