"""Initializer classes and helpers no test named before (issue 19, ``tools/public_names.py``).

Oracles: Keras 3's own ``compute_fans``, configs and ``serialize``; the variance-scaling
formulas (Keras's, docs in ``duallearn.initializers``) checked on large draws with sampling
bounds computed from the draw size; and each class against its string name, whose draws
``tests/unit/test_initializers.py`` checks (the same seed must give the same bits)."""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest

import duallearn as dl
from duallearn import initializers as I
from duallearn.errors import ConfigError

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = importlib.import_module("keras")  # the oracle: a required test dependency
random_initializers = importlib.import_module("keras.src.initializers.random_initializers")

SHAPE = (400, 300)  # 120000 draws: the sample moments sit within ~0.5% of the formulas

# class -> (string name, scale, fan mode, distribution), Keras's presets
PRESETS = {
    I.GlorotUniform: ("glorot_uniform", 1.0, "fan_avg", "uniform"),
    I.GlorotNormal: ("glorot_normal", 1.0, "fan_avg", "truncated_normal"),
    I.HeUniform: ("he_uniform", 2.0, "fan_in", "uniform"),
    I.HeNormal: ("he_normal", 2.0, "fan_in", "truncated_normal"),
    I.LecunUniform: ("lecun_uniform", 1.0, "fan_in", "uniform"),
    I.LecunNormal: ("lecun_normal", 1.0, "fan_in", "truncated_normal"),
}


def _sampling_bound(n: int) -> float:
    """Six standard errors of a sample standard deviation relative to the true one
    (~1/sqrt(2n)): a sampling bound, not a float tolerance."""
    return 6 / math.sqrt(2 * n)


@pytest.mark.parametrize(
    "shape", [(), (5,), (3, 4), (3, 3, 4, 8), (2, 3, 4, 5, 6), (7, 1, 1)], ids=str
)
def test_compute_fans_matches_keras(shape):
    theirs = random_initializers.compute_fans(shape)
    assert I.compute_fans(shape) == tuple(float(f) for f in theirs)


@pytest.mark.parametrize("cls", list(PRESETS), ids=lambda c: c.__name__)
def test_preset_class_is_its_formula_and_its_keras_config(cls):
    name, scale, mode, dist = PRESETS[cls]
    dl.set_random_seed(21)
    w = cls()(SHAPE, "float64")
    dl.set_random_seed(21)
    np.testing.assert_array_equal(w, I.get(name)(SHAPE, "float64"))  # the class is the name
    fan_in, fan_out = I.compute_fans(SHAPE)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)  # the variance Keras's preset gives every entry
    if dist == "uniform":
        limit = math.sqrt(3 * scale / n)
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.999 * limit
    else:  # normal truncated at two of its own standard deviations
        assert np.abs(w).max() <= 2 * std / I.TRUNCATED_STDDEV_FACTOR
    assert abs(w.std() / std - 1) <= _sampling_bound(w.size), (w.std(), std)
    assert abs(w.mean()) <= 6 * std / math.sqrt(w.size)
    # its config is Keras's, the axis keys of Keras 3.12+ included
    theirs = getattr(keras.initializers, cls.__name__)(seed=5).get_config()
    ours = cls(seed=5).get_config()
    assert ours == theirs == {"seed": 5, "input_axes": None, "output_axes": None}
    assert isinstance(cls(), I.VarianceScaling) and isinstance(cls(), I.Initializer)


def test_zeros_and_ones_match_keras_exactly():
    for cls in (I.Zeros, I.Ones):
        kinit = getattr(keras.initializers, cls.__name__)()
        for dtype in ("float32", "float64"):
            got = cls()((3, 4), dtype)
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, np.asarray(kinit((3, 4), dtype=dtype)))
        assert cls().get_config() == kinit.get_config() == {}
    model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, kernel_initializer=I.Ones(),
                                                           bias_initializer=I.Zeros())])  # fmt: skip
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((3, 2), "float32"))
    np.testing.assert_array_equal(model.get_weights()[1], np.zeros(2, "float32"))


def test_truncated_normal_bounds_moments_seed_and_keras_config():
    init = I.TruncatedNormal(mean=1.0, stddev=0.5, seed=3)
    w = init(SHAPE, "float64")
    assert w.min() >= 1.0 - 2 * 0.5 and w.max() <= 1.0 + 2 * 0.5
    assert w.min() < 1.0 - 1.99 * 0.5 and w.max() > 1.0 + 1.99 * 0.5  # the bounds are reached
    # N(0, 1) truncated to [-2, 2] has standard deviation TRUNCATED_STDDEV_FACTOR
    want = 0.5 * I.TRUNCATED_STDDEV_FACTOR
    assert abs(w.std() / want - 1) <= _sampling_bound(w.size), (w.std(), want)
    assert abs(w.mean() - 1.0) <= 6 * want / math.sqrt(w.size)
    np.testing.assert_array_equal(I.TruncatedNormal(1.0, 0.5, seed=3)(SHAPE, "float64"), w)
    theirs = keras.initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=3).get_config()
    assert init.get_config() == theirs == {"mean": 1.0, "stddev": 0.5, "seed": 3}
    assert I.get("truncated_normal").get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}


MAKERS = {
    "Zeros": lambda lib: lib.Zeros(),
    "Constant": lambda lib: lib.Constant(0.5),
    "TruncatedNormal": lambda lib: lib.TruncatedNormal(mean=0.1, stddev=0.2, seed=4),
    "RandomUniform": lambda lib: lib.RandomUniform(-0.2, 0.3, seed=1),
    "Orthogonal": lambda lib: lib.Orthogonal(gain=2.0, seed=9),
    "HeNormal": lambda lib: lib.HeNormal(seed=2),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_serialize_matches_keras_and_round_trips(name):
    make = MAKERS[name]
    ours, theirs = I.serialize(make(I)), keras.initializers.serialize(make(keras.initializers))
    assert ours["class_name"] == theirs["class_name"] == name
    assert ours["config"] == {k: theirs["config"][k] for k in ours["config"]}
    again = I.get(ours)
    assert type(again) is type(make(I)) and again.get_config() == ours["config"]
    np.testing.assert_array_equal(again((4, 3), "float64"), make(I)((4, 3), "float64"))


@pytest.mark.parametrize("name", list(MAKERS))
def test_get_reads_the_dict_keras_serializes(name):
    make = MAKERS[name]
    init = I.get(keras.initializers.serialize(make(keras.initializers)))
    assert type(init) is type(make(I)) and init.get_config() == make(I).get_config()


def test_a_custom_initializer_subclass_fills_a_layer():
    class Arange(I.Initializer):
        """0, 1, 2, ... times ``step``, in the weight's shape."""

        def __init__(self, step: float = 1.0, seed: int | None = None) -> None:
            super().__init__(seed)
            self.step = step

        def draw(self, shape, rng):
            return self.step * np.arange(math.prod(shape)).reshape(shape)

        def get_config(self):
            return {"step": self.step, "seed": self.seed}

    kernel = Arange(0.25)((3, 2), "float32")
    np.testing.assert_array_equal(kernel, 0.25 * np.arange(6, dtype="float32").reshape(3, 2))
    model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, kernel_initializer=Arange(0.5))])
    np.testing.assert_array_equal(model.get_weights()[0], 0.5 * np.arange(6).reshape(3, 2))
    assert I.serialize(Arange(2.0)) == {"class_name": "Arange", "config": {"step": 2.0,
                                                                          "seed": None}}  # fmt: skip
    with pytest.raises(NotImplementedError):
        I.Initializer()((2,))  # the base class draws nothing
    with pytest.raises(ConfigError, match=r"seed must be an int or None\. Received: seed='1'"):
        Arange(seed="1")


@pytest.mark.parametrize(
    "shape, input_axes, output_axes",
    [
        ((3, 4, 5), [0], [1, 2]),
        ((2, 3, 4, 6), [0, 1, 2], [3]),
        ((7, 2), [1], [0]),
        ((4, 5), None, [1]),
    ],
)
def test_compute_fans_with_axes_matches_keras(shape, input_axes, output_axes):
    from keras.src.initializers.random_initializers import compute_fans as keras_fans

    ours = I.compute_fans(shape, input_axes, output_axes)
    assert ours == tuple(float(f) for f in keras_fans(shape, input_axes, output_axes))


def test_variance_scaling_axes_set_the_scale():
    # HeUniform over fan_in = shape[0]·shape[1] = 12: limit sqrt(6 / 12); by rank it would be
    # fan_in = 4·3 = 12 too, so take output-style axes that differ: fan_in = shape[2] = 50
    init = I.HeUniform(seed=1, input_axes=[2], output_axes=[0])
    w = init((4, 3, 50), "float64")
    limit = math.sqrt(6.0 / 50)
    assert np.max(np.abs(w)) <= limit and np.max(np.abs(w)) > 0.95 * limit  # 600 uniform draws
    assert init.get_config() == {"seed": 1, "input_axes": [2], "output_axes": [0]}
    keras_conf = keras.initializers.HeUniform(seed=1, input_axes=[2], output_axes=[0]).get_config()
    assert init.get_config() == keras_conf
    with pytest.raises(dl.errors.ConfigError, match=r"input_axes must be a list of axis integers"):
        I.VarianceScaling(input_axes="0")
