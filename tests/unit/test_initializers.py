"""Initializers: Keras 3 formulas, drawn with numpy from the seed (no framework needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import duallearn as dl
from duallearn import initializers as I
from duallearn.errors import ConfigError, UnknownNameError
from duallearn.testing import assert_close


@pytest.mark.parametrize(
    "name, shape, limit",
    [
        ("glorot_uniform", (30, 20), math.sqrt(6 / 50)),
        ("he_uniform", (30, 20), math.sqrt(6 / 30)),
        ("lecun_uniform", (30, 20), math.sqrt(3 / 30)),
        ("glorot_uniform", (3, 3, 4, 8), math.sqrt(6 / (36 + 72))),  # conv fans
        ("random_uniform", (50, 50), 0.05),
    ],
)
def test_uniform_limits(name, shape, limit):
    w = I.get(name)(shape, "float64")
    assert w.shape == shape
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.9 * limit  # the draw fills the interval
    # a sampling bound: the mean of n uniform draws has standard error limit / sqrt(3n)
    assert abs(w.mean()) < 5 * limit / math.sqrt(3 * w.size)


@pytest.mark.parametrize(
    "name, fan, scale",
    [("glorot_normal", (400 + 300) / 2, 1.0), ("he_normal", 400, 2.0), ("lecun_normal", 400, 1.0)],
)
def test_truncated_normal_presets(name, fan, scale):
    w = I.get(name)((400, 300), "float64")
    stddev = math.sqrt(scale / fan) / I.TRUNCATED_STDDEV_FACTOR
    assert np.abs(w).max() <= 2 * stddev
    # the truncated distribution's standard deviation is sqrt(scale / fan). A sampling bound,
    # not a float tolerance: the sample std of n draws has relative standard error
    # ~1/sqrt(2n) (0.2% here); 6 of them is far from chance, and far below the ~13% error of
    # forgetting TRUNCATED_STDDEV_FACTOR.
    rel_bound = 6 / math.sqrt(2 * w.size)
    assert abs(w.std() / math.sqrt(scale / fan) - 1) <= rel_bound


def test_orthogonal_is_orthogonal_both_ways():
    for shape in [(6, 4), (4, 6), (2, 3, 5)]:
        w = I.Orthogonal(gain=2.0)(shape, "float64")
        m = w.reshape(-1, shape[-1])
        small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        assert_close(f"W W^T of {shape}", small, 4.0 * np.eye(small.shape[0]), "float64", "layer")


def test_constant_zeros_ones_and_dtype():
    assert I.get("zeros")((2, 3), "float32").dtype == np.float32
    np.testing.assert_array_equal(I.get("ones")((2,), "float64"), [1.0, 1.0])
    np.testing.assert_array_equal(I.Constant(0.5)((2,)), [0.5, 0.5])


def test_global_seed_makes_draws_bit_identical():
    dl.set_random_seed(7)
    a = I.get("glorot_uniform")((5, 4))
    dl.set_random_seed(7)
    b = I.get("glorot_uniform")((5, 4))
    assert a.tobytes() == b.tobytes()
    assert a.dtype == np.float32
    # float32 weights are the float64 draw cast once
    dl.set_random_seed(7)
    c = I.get("glorot_uniform")((5, 4), "float64")
    assert c.astype(np.float32).tobytes() == a.tobytes()


def test_per_initializer_seed_ignores_global_stream():
    dl.set_random_seed(1)
    a = I.RandomNormal(seed=3)((3, 3))
    dl.set_random_seed(2)
    b = I.RandomNormal(seed=3)((3, 3))
    np.testing.assert_array_equal(a, b)


def test_bad_names_and_arguments():
    with pytest.raises(UnknownNameError, match=r"Unknown initializer: 'glorot'.*glorot_uniform"):
        I.get("glorot")
    with pytest.raises(ConfigError, match="scale > 0"):
        I.VarianceScaling(scale=-1.0)
    with pytest.raises(ConfigError, match="minval <= maxval"):
        I.RandomUniform(1.0, 0.0)
    with pytest.raises(ConfigError, match="non-negative integer"):
        dl.set_random_seed(-1)
