"""Dense, Activation, Flatten and Dropout: forward and gradients vs numpy and across backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duallearn as dl
from duallearn.testing import check_layer

from ..conftest import BACKENDS

ACTS = dl.activations.names()
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


@settings(max_examples=12)
@given(
    batch=st.integers(1, 5),
    fan_in=st.integers(1, 9),
    units=st.integers(1, 7),
    activation=st.sampled_from(ACTS),
    use_bias=st.booleans(),
    rank3=st.booleans(),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_dense(batch, fan_in, units, activation, use_bias, rank3, seed, dtype):
    shape = (batch, 3, fan_in) if rank3 else (batch, fan_in)
    x = np.random.default_rng(seed).standard_normal(shape)
    kind = "gelu" if activation == "gelu" and dtype == "float32" else "layer"
    check_layer(
        lambda: dl.layers.Dense(units, activation=activation, use_bias=use_bias),
        x,
        dtype=dtype,
        kind=kind,
        seed=seed,
    )


@settings(max_examples=12)
@given(
    activation=st.sampled_from(ACTS),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_activation(activation, seed, dtype):
    x = np.random.default_rng(seed).uniform(-4, 4, (3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep off the kinks of relu / leaky_relu / elu
    kind = "gelu" if activation == "gelu" else "activation"
    check_layer(lambda: dl.layers.Activation(activation), x, dtype=dtype, kind=kind, seed=seed)


def test_flatten_keeps_channels_last_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    check_layer(lambda: dl.layers.Flatten(), x)


@settings(max_examples=6)
@given(rate=st.floats(0.05, 0.9), seed=st.integers(0, 2**16))
def test_dropout_deterministic_masks_are_identical(rate, seed):
    x = np.random.default_rng(seed).standard_normal((4, 6))
    layer = dl.layers.Dropout(rate)
    mask = layer.draw_noise(np.random.default_rng(seed), x.shape)
    assert set(np.unique(mask)) <= {0.0, 1.0 / (1.0 - rate)}
    check_layer(lambda: dl.layers.Dropout(rate), x, training=True, noise={0: mask})
    check_layer(lambda: dl.layers.Dropout(rate), x, training=False)


def test_dropout_fast_mode_statistics(backend):
    model = dl.Sequential([dl.layers.Input((20000,)), dl.layers.Dropout(0.3)])
    out = model._get_runtime().forward([np.ones((2, 20000), np.float32)], training=True)[0]
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
