"""Tests that kill the mutants the rest of the suite let survive (tools/mutation.py,
docs/mutation.md): each test names the mutant(s) it was written for; the oracles are real
Keras 3, torch.nn / torch.optim, or the other engine, tolerances from the table."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn import activations as A
from duallearn.testing import assert_close, check_layer

from ..conftest import BACKENDS
from ._keras_compare import compare_with_keras

keras = importlib.import_module("keras")  # the oracle (a test dependency)


class TestActivations:
    """Mutants of backends/duallearn_*/_activations.py."""

    # Mutants: ACTIVATIONS["softmax"] / ["log_softmax"] with dim=-1 → dim=1 (torch) and
    # axis=-1 → axis=1 (TensorFlow). Every other test feeds a Dense a rank-2 input, where the
    # last axis is axis 1.
    @pytest.mark.parametrize("name", ["softmax", "log_softmax"])
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_dense_activation_on_a_rank_3_input_matches_keras(self, name, backend):
        assert name in A.names()
        x = np.random.default_rng(7).standard_normal((2, 3, 6)).astype("float32")
        dl.set_random_seed(7)
        compare_with_keras(
            f"Dense({name}) on (2, 3, 6)",
            lambda: dl.layers.Dense(4, activation=name),
            lambda: keras.layers.Dense(4, activation=name),
            x,
            backend,
            kind="forward",
        )

    # Mutants: TensorFlow's _gelu with a constant built without dtype= (float32 0.5 times a
    # float64 tensor), and the like: the backend's own activation table (what Dense(activation=)
    # runs) is otherwise checked in float32 only, and on rank-2 inputs only.
    @pytest.mark.parametrize("name", A.names())
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_dense_activation_float64_rank_3_matches_numpy(self, name, backend):
        x = np.random.default_rng(3).standard_normal((2, 3, 6))
        check_layer(
            lambda: dl.layers.Dense(4, activation=name), x, dtype="float64", backends=[backend]
        )


class TestLosses:
    """Mutants of backends/duallearn_*/_losses.py."""

    REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none")

    # Mutant: TensorFlow's align_weight ``w.shape[-1] == 1`` → ``== 0`` (a trailing 1 of a
    # sample weight of higher rank than the per-sample values is no longer squeezed, so
    # (B,) values times (B, 1) weights broadcast to (B, B)). Other tests give weights of the
    # values' rank. Keras squeezes them (squeeze_or_expand_to_same_rank).
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("backend", [*BACKENDS, "numpy reference"])
    def test_sample_weight_with_a_trailing_1_matches_keras(self, backend, reduction):
        rng = np.random.default_rng(4)
        y, p = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
        sw = rng.uniform(0.5, 2.0, (5, 1))
        want = _keras_float64(keras.losses.MeanSquaredError, y, p, sw, reduction=reduction)
        spec = dl.losses.MeanSquaredError(reduction=reduction)
        got = _loss_on(backend, spec, y, p, sw)
        assert_close(
            f"mse {reduction}, weights (5, 1) on {backend} vs Keras",
            got,
            want,
            "float64",
            "forward",
        )

    # The same rank rule where the values carry a mask (ignore_class): Keras expands the
    # (5,) mask to the (5, 1) weights' rank before folding it in (apply_mask), so "none"
    # gives (5, 1) here too and the mean reductions divide by the kept entries.
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("backend", [*BACKENDS, "numpy reference"])
    def test_ignore_class_with_a_trailing_1_weight_matches_keras(self, backend, reduction):
        rng = np.random.default_rng(5)
        y = np.array([0, 2, 1, 2, 3])
        p = rng.standard_normal((5, 4))
        sw = rng.uniform(0.5, 2.0, (5, 1))
        want = _keras_float64(
            keras.losses.SparseCategoricalCrossentropy, y, p, sw,
            from_logits=True, ignore_class=2, reduction=reduction,
        )  # fmt: skip
        assert want.shape == ((5, 1) if reduction == "none" else ())
        spec = dl.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=2, reduction=reduction
        )
        got = _loss_on(backend, spec, y, p, sw)
        assert_close(
            f"scce ignore_class {reduction}, weights (5, 1) on {backend} vs Keras",
            got,
            want,
            "float64",
            "forward",
        )

    # Mutant: torch's align_weight ``w.shape[-1] == 1`` → ``== 0`` survived once
    # expand_rank_1 made (B,) values take (B, 1) weights' rank: a weight of higher rank than
    # the values is still squeezed when the values are per-timestep, (5, 4) values and
    # (5, 4, 1) weights (Keras's squeeze_or_expand_to_same_rank).
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("backend", [*BACKENDS, "numpy reference"])
    def test_per_timestep_weights_with_a_trailing_1_match_keras(self, backend, reduction):
        rng = np.random.default_rng(6)
        y, p = rng.standard_normal((5, 4, 3)), rng.standard_normal((5, 4, 3))
        sw = rng.uniform(0.5, 2.0, (5, 4, 1))
        want = _keras_float64(keras.losses.MeanSquaredError, y, p, sw, reduction=reduction)
        assert want.shape == ((5, 4) if reduction == "none" else ())
        got = _loss_on(backend, dl.losses.MeanSquaredError(reduction=reduction), y, p, sw)
        assert_close(f"mse {reduction}, weights (5, 4, 1) on {backend} vs Keras", got, want,
                     "float64", "forward")  # fmt: skip

    # Mutant: torch's align_targets ``y.squeeze(-1)`` → ``y.squeeze(0)``: targets of one more
    # rank than the predictions, (6, 1, 1) for a (6, 1) output, lose their trailing 1 in
    # Keras; squeezing axis 0 (size 6) does nothing and (y - p) broadcasts to (6, 6, 1). The
    # engines' loss classes align targets in fit and evaluate (a direct loss call aligns them
    # in the front-end).
    @pytest.mark.parametrize("loss", ["mse", "binary_crossentropy", "hinge"])
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_targets_with_a_trailing_1_in_evaluate_match_keras(self, backend, loss):
        rng = np.random.default_rng(8)
        x = rng.standard_normal((6, 3)).astype("float32")
        y = rng.integers(0, 2, (6, 1, 1)).astype("float32")
        kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        kmodel.compile(loss=loss)
        with dl.use_backend(backend):
            model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(1, activation="sigmoid")])
        model.set_weights(kmodel.get_weights())
        model.compile(loss=loss)
        want = kmodel.evaluate(x, y, verbose=0)
        got = model.evaluate(x, y, verbose=0)
        assert_close(f"{loss} evaluate, targets (6, 1, 1) on {backend} vs Keras", got, want,
                     "float32", "loss")  # fmt: skip


class TestNormalization:
    """Mutants of backends/duallearn_*/_normalization.py."""

    # Mutant: torch's masked BatchNormalization, unbiased moving variance
    # ``v · n / clamp(n − 1, min=1)`` with ``min=0``: it differs only when at most one
    # position is unmasked (n − 1 < 1), which no other test feeds. One unmasked position and
    # none at all: the moving statistics stay finite and match the numpy reference
    # (``max(n − 1, 1)``) on every engine.
    @pytest.mark.parametrize(
        "ids",
        [[[3, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]],
        ids=["one-unmasked", "all-masked"],
    )
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_masked_unbiased_moving_variance_of_one_value(self, ids, backend):
        L = dl.layers
        dl.config.set_floatx("float64")
        ids = np.array(ids, "int32")
        dl.set_random_seed(5)
        model = dl.Sequential([
            L.Input((6,), dtype="int32"),
            L.Embedding(7, 3, mask_zero=True, embeddings_initializer="random_normal"),
            L.BatchNormalization(momentum=0.8, unbiased_moving_variance=True,
                                 gamma_initializer="random_normal",
                                 beta_initializer="random_normal"),
        ], backend=backend)  # fmt: skip
        w = model.get_weights()
        model._get_runtime().forward([ids], training=True)
        bn = model.layers[1]
        want = bn.reference_moving_update(w[1:], w[0][ids], ids != 0)
        for name, got, ref in zip(
            ("moving_mean", "moving_variance"), model.get_weights()[3:], want, strict=True
        ):
            assert np.all(np.isfinite(got)), f"{backend} {name}: {got}"
            assert_close(f"{backend} masked unbiased {name}", got, ref, "float64", "forward")

    # Mutants: TensorFlow's masked moments ``reduce_sum(..., keepdims=True)`` without
    # keepdims, for the mean and for the variance: with the channels last, the division by
    # the kept-dims count restores the shape (equivalent); with ``axis=1`` it broadcasts
    # (C,) against (1, C, 1) into the wrong shape. No other test masks a BatchNormalization
    # whose axis is not the last one.
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_masked_batch_normalization_over_axis_1(self, backend):
        L = dl.layers
        dl.config.set_floatx("float64")
        dl.set_random_seed(5)
        model = dl.Sequential([
            L.Input((6,), dtype="int32"),
            L.Embedding(7, 3, mask_zero=True, embeddings_initializer="random_normal"),
            L.BatchNormalization(axis=1, momentum=0.8, gamma_initializer="random_normal",
                                 beta_initializer="random_normal"),
        ], backend=backend)  # fmt: skip
        ids = np.array([[1, 2, 0, 0, 3, 4], [5, 0, 6, 6, 0, 1], [2, 3, 4, 0, 0, 5]], "int32")
        w = model.get_weights()
        out = model._get_runtime().forward([ids], training=True)[0]
        bn = model.layers[1]
        x, mask = w[0][ids], ids != 0
        ref = bn.reference_masked(w[1:], x, mask, training=True)
        assert_close(
            f"{backend} masked BN(axis=1) forward vs numpy", out, ref, "float64", "forward"
        )
        want = bn.reference_moving_update(w[1:], x, mask)
        for name, got, r in zip(
            ("moving_mean", "moving_variance"), model.get_weights()[3:], want, strict=True
        ):
            assert_close(f"{backend} masked BN(axis=1) {name}", got, r, "float64", "forward")


class TestRecurrent:
    """Mutants of backends/duallearn_*/_recurrent.py."""

    # Mutant: TensorFlow's fast-mode recurrent-dropout mask drawn with the input mask's
    # random key (``tag=1`` dropped): with one unit and one feature the two masks are then
    # the same draw. SimpleRNN(linear), kernel = recurrent = 1, inputs [1, 0, 0]:
    # h_3 = m_in · m_rec², nonzero with probability (1 − rate)² when the masks are
    # independent, 1 − rate when they are one draw.
    # Mutant: the recurrent mask's 1/(1 − rate) built without ``dtype=`` (float32): a float64
    # layer then multiplies float64 by float32, which TensorFlow refuses.
    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_fast_mode_input_and_recurrent_masks_are_independent(self, backend, dtype):
        L = dl.layers
        rate, n = 0.5, 4000
        with dl.use_backend(backend):
            layer = L.SimpleRNN(
                1,
                activation="linear",
                use_bias=False,
                dropout=rate,
                recurrent_dropout=rate,
                dtype=dtype,
            )
            model = dl.Sequential([L.Input((3, 1)), layer])
            model.set_weights([np.ones((1, 1)), np.ones((1, 1))])
            x = np.zeros((n, 3, 1), dtype)
            x[:, 0] = 1.0
            h = model._get_runtime().forward([x], training=True)[0][:, 0]
        assert h.dtype == np.dtype(dtype)
        assert abs((h > 0).mean() - (1 - rate) ** 2) < 0.03, (h > 0).mean()


class TestConv:
    """Mutants of backends/duallearn_*/_conv.py."""

    # Mutant: ``(k - 1) * d`` → ``(k - 1) / d`` in TensorFlow's ``_same_pads``, the branch that
    # computes SAME pads in the graph when the traced step does not know the spatial size
    # (an ``Input((None, None, C))`` model). Unequal strides reach it: TensorFlow's depthwise
    # kernel refuses them, so the engine pads and slices a stride-1 convolution. torch's
    # native strided convolution is the oracle; the known-size model on TensorFlow (the
    # other branch) must give the same numbers.
    @pytest.mark.parametrize("layer", ["DepthwiseConv2D", "SeparableConv2D"])
    def test_unequal_strides_on_an_unknown_spatial_size_match_torch(self, layer):
        L = dl.layers
        kw = {"kernel_size": 3, "strides": (2, 1), "padding": "same"}
        if layer == "SeparableConv2D":
            kw["filters"] = 4
        x = np.random.default_rng(7).standard_normal((2, 7, 6, 3)).astype("float32")
        outs = {}
        for backend, shape in [("torch", (7, 6, 3)), ("tensorflow", (None, None, 3)),
                               ("tensorflow", (7, 6, 3))]:  # fmt: skip
            dl.set_random_seed(0)  # the same initial weights on both engines
            with dl.use_backend(backend):
                model = dl.Sequential([L.Input(shape), getattr(L, layer)(**kw)])
            outs[backend, shape[0]] = model.predict(x, verbose=0)
        want = outs["torch", 7]
        assert want.shape == (2, 4, 6, 4 if layer == "SeparableConv2D" else 3)
        for key in [("tensorflow", None), ("tensorflow", 7)]:
            assert_close(f"{layer} {key} vs torch", outs[key], want, "float32", "layer")


def _keras_float64(loss_class, y, p, sw, **kwargs):
    """Keras's ``loss_class(**kwargs)`` in float64 (floatx and dtype) on ``y``, ``p`` and
    sample weights ``sw``, as numpy."""
    import tensorflow as tf

    keras.config.set_floatx("float64")
    try:
        k = loss_class(**kwargs, dtype="float64")
        return np.asarray(k(tf.constant(y), tf.constant(p), sample_weight=tf.constant(sw)))
    finally:
        keras.config.set_floatx("float32")


def _loss_on(backend, spec, y, p, sw):
    """``spec(y, p, sw)`` on an engine's native tensors, or on numpy arrays for the numpy
    reference, as numpy."""
    if backend == "numpy reference":
        return np.asarray(spec(y, p, sw))
    with dl.use_backend(backend):
        args = [dl.ops.convert_to_tensor(a) for a in (y, p, sw)]
        return dl.ops.convert_to_numpy(spec(*args))
