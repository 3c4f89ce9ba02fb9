"""Public functions no test called before (issue 19, ``tools/public_names.py``): activations,
Keras's functional losses and metrics, and ``dl.ops`` conversion, pooling and attention.

Oracle: real Keras 3 (TensorFlow backend) on the same float32 inputs, on every installed
backend (native tensors in, native tensors out), and the closed form in float64 where there
is one. Inputs sit on the kinks (``±1`` of ``sparse_plus``, ``hard_tanh``...), where a wrong
branch shows. The loss functions are also run the way users run them: ``compile(loss=fn)``,
whose ``evaluate`` must equal the mean of Keras's per-sample values."""

from __future__ import annotations

import importlib
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


def _native(fn: Callable[..., Any], backend: str, *arrays: np.ndarray, **kw: Any) -> np.ndarray:
    """``fn`` on ``backend``'s native tensors; the result as numpy."""
    with dl.use_backend(backend):
        out = fn(*(dl.ops.convert_to_tensor(a) for a in arrays), **kw)
        assert not isinstance(out, np.ndarray), f"{fn.__name__} on {backend} returned numpy"
        return np.asarray(dl.ops.convert_to_numpy(out))


# ---- activations ------------------------------------------------------------------------------
KINKS = np.array([-3.0, -1.0, -0.999, -0.5, 0.0, 0.5, 0.999, 1.0, 1.001, 3.0])
CLOSED_FORM: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exponential": np.exp,
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "sparse_plus": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, (x + 1) / 2)),
    "tanh_shrink": lambda x: x - np.tanh(x),
}


def _activation_input(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([KINKS, rng.uniform(-3, 3, 14)]).reshape(4, 6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_activation_matches_keras_and_its_formula(name: str, backend: str) -> None:
    fn = getattr(dl.activations, name)
    x32 = _activation_input(0).astype("float32")
    want = np.asarray(getattr(keras.activations, name)(x32))
    assert_close(f"{name} {backend} vs Keras", _native(fn, backend, x32), want, "float32",
                 "activation")  # fmt: skip
    x64 = _activation_input(1)
    ref = CLOSED_FORM[name](x64)
    assert_close(f"{name} {backend} float64", _native(fn, backend, x64), ref, "float64",
                 "activation")  # fmt: skip
    with dl.ops.numpy_mode():  # the numpy reference implementation too
        assert_close(f"{name} numpy", np.asarray(fn(x64)), ref, "float64", "activation")
    assert dl.activations.get(name) is fn  # the name resolves to this function


# ---- Keras's functional losses and metrics ------------------------------------------------------
def _probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _loss_data(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (6, 4)
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, 4, (6,)).astype("float32"), _probabilities(rng, shape)
    if name in ("binary_crossentropy", "binary_focal_crossentropy"):
        return rng.integers(0, 2, shape).astype("float32"), rng.uniform(0.02, 0.98, shape)
    if name in ("categorical_focal_crossentropy", "kl_divergence"):
        return _probabilities(rng, shape), _probabilities(rng, shape)
    if name == "mean_absolute_percentage_error":  # |y_true| away from 0
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape), rng.normal(0, 1, shape)
    if name == "mean_squared_logarithmic_error":
        return rng.uniform(0, 3, shape), rng.uniform(0, 3, shape)
    return rng.normal(0, 1, shape), rng.normal(0, 1, shape)  # cosine_similarity


LOSS_CASES = [
    ("binary_crossentropy", {}),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("binary_focal_crossentropy", {}),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5}),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    ("categorical_focal_crossentropy", {}),
    ("categorical_focal_crossentropy", {"alpha": 0.4, "gamma": 3.0, "label_smoothing": 0.1}),
    ("categorical_focal_crossentropy", {"from_logits": True}),
    ("cosine_similarity", {}),
    ("kl_divergence", {}),
    ("mean_absolute_percentage_error", {}),
    ("mean_squared_logarithmic_error", {}),
    ("sparse_categorical_crossentropy", {}),
    ("sparse_categorical_crossentropy", {"from_logits": True}),
]
METRIC_FUNCTIONS = [
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "kl_divergence",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "sparse_categorical_crossentropy",
]


def _keras_values(module: Any, name: str, y: np.ndarray, p: np.ndarray, kw: dict) -> np.ndarray:
    return np.asarray(getattr(module, name)(y, p, **kw))


@pytest.mark.parametrize("name, kw", LOSS_CASES, ids=[f"{n}-{sorted(k)}" for n, k in LOSS_CASES])
def test_loss_function_matches_keras_per_sample(name: str, kw: dict) -> None:
    y, p = (a.astype("float32") for a in _loss_data(name, len(name)))
    if kw.get("from_logits"):
        p = np.log(p).astype("float32")
    want = _keras_values(keras.losses, name, y, p, kw)
    fn = getattr(dl.losses, name)
    with dl.ops.numpy_mode():
        got = np.asarray(fn(y, p, **kw))
    assert_close(f"{name}{kw} numpy vs Keras", got, want, "float32", "loss")
    for backend in BACKENDS:
        got = _native(fn, backend, y, p, **kw)
        assert_close(f"{name}{kw} {backend} vs Keras", got, want, "float32", "loss")


def test_cosine_similarity_refuses_another_axis() -> None:
    y, p = _loss_data("cosine_similarity", 0)
    with pytest.raises(dl.errors.ConfigError, match=r"only axis=-1 is supported.*axis=0"):
        dl.losses.cosine_similarity(y, p, axis=0)


@pytest.mark.parametrize("name", METRIC_FUNCTIONS)
def test_metric_function_matches_keras_metric_function(name: str) -> None:
    y, p = (a.astype("float32") for a in _loss_data(name, 3))
    want = _keras_values(keras.metrics, name, y, p, {})
    for backend in BACKENDS:
        got = _native(getattr(dl.metrics, name), backend, y, p)
        assert_close(f"dl.metrics.{name} {backend} vs Keras", got, want, "float32", "loss")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [n for n, kw in LOSS_CASES if not kw])
def test_loss_function_compiled_evaluates_to_the_keras_mean(name: str, backend: str) -> None:
    """``compile(loss=dl.losses.<name>)``: the compiled test step runs the function natively;
    the loss is the mean of its per-sample values (Keras's sum_over_batch_size)."""
    y, p = (a.astype("float32") for a in _loss_data(name, 11))
    with dl.use_backend(backend):
        model = dl.Sequential([dl.Input((4,)), dl.layers.Activation("linear")])
    model.compile(loss=getattr(dl.losses, name))
    loss = model.evaluate(p, y, batch_size=len(p), verbose=0)
    want = float(np.mean(_keras_values(keras.losses, name, y, p, {})))
    assert_close(f"compile(loss={name}) on {backend}", loss, want, "float32", "loss")


# ---- dl.ops -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_convert_to_tensor_gives_a_native_tensor_with_numpy_dtypes(backend: str) -> None:
    native = {"torch": "torch.Tensor", "tensorflow": "tensorflow", "numpy": "numpy.ndarray"}
    x = np.arange(6, dtype="float32").reshape(2, 3) / 4
    with dl.use_backend(backend):
        cases = {
            "float32 array": (dl.ops.convert_to_tensor(x), x, "float32"),
            "cast to float64": (dl.ops.convert_to_tensor(x, dtype="float64"), x, "float64"),
            "cast to int32": (dl.ops.convert_to_tensor(x * 4, "int32"), x * 4, "int32"),
            # python numbers follow numpy's rules (docs/ops.md: numpy semantics)
            "list of ints": (dl.ops.convert_to_tensor([1, 2]), np.array([1, 2]), "int64"),
            "list of floats": (dl.ops.convert_to_tensor([0.5]), np.array([0.5]), "float64"),
        }
        for label, (t, values, dtype) in cases.items():
            kind = f"{type(t).__module__}.{type(t).__name__}"
            assert kind.startswith(native.get(backend, backend)), (label, kind)
            assert dl.ops.dtype(t) == dtype, (label, dl.ops.dtype(t))
            np.testing.assert_array_equal(dl.ops.convert_to_numpy(t), values.astype(dtype))
        again = dl.ops.convert_to_tensor(cases["float32 array"][0])  # a tensor passes through
        np.testing.assert_array_equal(dl.ops.convert_to_numpy(again), x)


POOL_CASES = [
    ((2, 7, 7, 3), 3, 2, "valid"),
    ((2, 7, 7, 3), 3, 2, "same"),  # 'same' divides by the count of valid elements (Keras)
    ((2, 6, 5, 2), (2, 3), (1, 2), "same"),
    ((3, 9, 4), 2, None, "valid"),  # 1-D, strides default to the pool size
    ((3, 9, 4), 4, 3, "same"),
]


@pytest.mark.parametrize("shape, pool, strides, padding", POOL_CASES)
def test_average_pool_matches_keras(shape, pool, strides, padding) -> None:
    x = np.random.default_rng(len(shape)).normal(size=shape).astype("float32")
    want = np.asarray(keras.ops.average_pool(x, pool, strides, padding))
    for fn in (dl.ops.average_pool, dl.ops.nn.average_pool):
        for backend in BACKENDS:
            got = _native(fn, backend, x, pool_size=pool, strides=strides, padding=padding)
            assert_close(f"average_pool{shape, pool, strides, padding} {backend}", got, want,
                         "float32", "layer")  # fmt: skip


def _attention_inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    b, t, s, n, h = 2, 3, 5, 2, 4
    return {
        "query": rng.normal(size=(b, t, n, h)).astype("float32"),
        "key": rng.normal(size=(b, s, n, h)).astype("float32"),
        "value": rng.normal(size=(b, s, n, h)).astype("float32"),
        "bias": rng.normal(size=(b, n, t, s)).astype("float32"),
        "mask": rng.random((b, n, t, s)) > 0.3,
    }


ATTENTION_CASES = [
    {},
    {"bias": True},
    {"mask": True, "scale": 0.3},
    {"is_causal": True},
    {"bias": True, "mask": True, "is_causal": True},
]


@pytest.mark.parametrize(
    "fn",
    [
        dl.ops.dot_product_attention,
        dl.ops.scaled_dot_product_attention,
        dl.ops.nn.dot_product_attention,
    ],
    ids=["ops.dot_product_attention", "ops.scaled_dot_product_attention", "ops.nn.attention"],
)
@pytest.mark.parametrize("case", ATTENTION_CASES, ids=[str(sorted(c)) for c in ATTENTION_CASES])
def test_dot_product_attention_matches_keras(fn, case) -> None:
    data = _attention_inputs(7)
    q, k, v = data["query"], data["key"], data["value"]
    extra = {n: data[n] for n in ("bias", "mask") if case.get(n)}
    flags = {n: case[n] for n in ("scale", "is_causal") if n in case}
    want = np.asarray(keras.ops.dot_product_attention(q, k, v, **extra, **flags))
    assert want.shape == q.shape
    for backend in BACKENDS:
        with dl.use_backend(backend):
            args = {n: dl.ops.convert_to_tensor(a) for n, a in extra.items()}
            out = fn(*(dl.ops.convert_to_tensor(a) for a in (q, k, v)), **args, **flags)
            got = np.asarray(dl.ops.convert_to_numpy(out))
        assert_close(f"attention{case} {backend} vs Keras", got, want, "float32", "layer")
