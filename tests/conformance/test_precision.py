"""Dtype policies (float32, float64, mixed_float16, mixed_bfloat16) and device/mode flags."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn import config
from duallearn.testing import assert_close

from ._training_utils import data


@pytest.fixture(autouse=True)
def _reset_policy():
    yield
    dl.mixed_precision.set_global_policy(None)
    config.set_floatx("float32")


def _model(policy: str, seed: int = 0):
    dl.mixed_precision.set_global_policy(policy)
    dl.set_random_seed(seed)
    m = dl.Sequential([dl.Input((4,)), dl.layers.Dense(16, activation="relu"), dl.layers.Dense(2)])
    m.compile(
        dl.optimizers.Adam(0.01),
        dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return m


def _loss_scale(m) -> float:
    rt = m._runtime
    return float(rt._scale[0]) if m.backend_name == "torch" else float(rt._ls[0].numpy())


@pytest.mark.parametrize(
    "policy,variables,compute",
    [
        ("float32", "float32", "float32"),
        ("float64", "float64", "float64"),
        ("mixed_bfloat16", "float32", "bfloat16"),
        ("mixed_float16", "float32", "float16"),
    ],
)
def test_policy_dtypes_and_training(backend, policy, variables, compute):
    x, y = data(64)
    m = _model(policy)
    assert m.dtype_policy.name == policy
    assert m.dtype_policy.variable_dtype == variables
    assert m.dtype_policy.compute_dtype == compute
    w0 = m.get_weights()
    h = m.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert all(w.dtype == np.dtype(variables) for w in m.get_weights())
    assert h.history["loss"][-1] < h.history["loss"][0]  # it trains
    p = m.predict(x, verbose=0)
    assert p.dtype == np.dtype(variables)
    # the same weights computed in float32: low-precision compute differs at its epsilon
    ref = _model("float32")
    ref.set_weights([w.astype("float32") for w in m.get_weights()])
    want = ref.predict(x, verbose=0)
    if compute in ("float32", "float64"):
        assert_close(f"{policy} vs float32", p.astype("float32"), want, "float32", "forward")
    else:
        assert_close(f"{policy} vs float32", p.astype("float32"), want, "float32", policy)
        # and it really computed in the low precision: far more than float32 rounding apart
        eps = {"bfloat16": 2.0**-8, "float16": 2.0**-11}[compute]
        diff, scale = np.max(np.abs(want - p.astype("float32"))), np.max(np.abs(want))
        assert diff > eps * scale / 100, (diff, scale)
    assert not any(np.array_equal(a, b) for a, b in zip(w0, m.get_weights(), strict=True))


def test_float16_loss_scaling_skips_overflowing_steps(backend):
    x, y = data(32)
    m = _model("mixed_float16")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert _loss_scale(m) == 2.0**15
    before = m.get_weights()
    # a huge sample weight makes loss * 2**15 overflow float16 gradients: skipped, scale / 2
    m.fit(x[:16], y[:16], sample_weight=np.full(16, 1e4), epochs=1, batch_size=16, verbose=0)
    assert _loss_scale(m) == 2.0**14
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unknown_policy_and_keras_config_names():
    with pytest.raises(dl.errors.ConfigError, match="Unknown dtype policy 'mixed_float8'"):
        dl.mixed_precision.set_global_policy("mixed_float8")
    config.set_dtype_policy("mixed_bfloat16")
    assert config.dtype_policy() == dl.mixed_precision.Policy("mixed_bfloat16")
    assert config.floatx() == "float32"
    config.set_dtype_policy("float64")
    assert config.floatx() == "float64" and dl.mixed_precision.global_policy().name == "float64"


def test_deterministic_mode_turns_tf32_off(backend):
    x, y = data(16)
    config.set_deterministic(True)
    m = _model("float32")
    m.fit(x, y, epochs=1, verbose=0)
    assert config.tf32_enabled(backend) is False
    if backend == "torch":
        import torch

        assert torch.backends.cudnn.allow_tf32 is False


def test_device_selection_on_this_machine(backend, monkeypatch):
    x, y = data(16)
    m = _model("float32")
    m.fit(x, y, epochs=1, verbose=0)
    gpus = config.gpu_count(backend)
    assert m.device == ("cuda:0" if gpus else "cpu") or m.device == "cpu"
    if gpus:
        pytest.skip("the error below needs a machine without GPUs")
    monkeypatch.setenv(config.DEVICE_ENV, "cuda:1")
    m = _model("float32")
    with pytest.raises(dl.errors.ConfigError, match="'cuda:1' was requested but this machine"):
        m.fit(x, y, epochs=1, verbose=0)
    monkeypatch.setenv(config.DEVICE_ENV, "cuda")
    m = _model("float32")
    m.set_device("cpu")  # the model's request beats the variable
    m.fit(x, y, epochs=1, verbose=0)
    assert m.device == "cpu"
