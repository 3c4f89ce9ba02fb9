"""dl.random (keras.random's API): the same numbers on numpy, torch and TensorFlow for every
function and seed kind; SeedGenerator determinism; moments; Keras's argument checks; draws
inside a custom layer's call (eager torch, traced TensorFlow) identical on both backends."""

from __future__ import annotations

import importlib
import inspect
import math

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

R = dl.random
LOGITS = np.log(np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]]))

# name, draw(seed) -> tensor, expected dtype, expected shape
DRAWS = [
    ("normal", lambda s: R.normal((3, 4), mean=1.0, stddev=2.0, seed=s), "float32", (3, 4)),
    ("uniform", lambda s: R.uniform((5,), minval=-1.0, maxval=2.0, seed=s), "float32", (5,)),
    ("truncated_normal", lambda s: R.truncated_normal((4, 2), seed=s), "float32", (4, 2)),
    ("randint", lambda s: R.randint((2, 6), 0, 10, seed=s), "int32", (2, 6)),
    ("categorical", lambda s: R.categorical(LOGITS, 7, seed=s), "int32", (2, 7)),
    ("gamma", lambda s: R.gamma((3, 3), 2.5, seed=s), "float32", (3, 3)),
    ("binomial", lambda s: R.binomial((6,), 5, 0.3, seed=s), "float32", (6,)),
    ("beta", lambda s: R.beta((2, 3), 2.0, 3.0, seed=s), "float32", (2, 3)),
    (
        "dropout",
        lambda s: R.dropout(np.ones((4, 5), "float32"), 0.5, seed=s),
        "float32",
        (4, 5),
    ),
    ("shuffle", lambda s: R.shuffle(np.arange(12).reshape(3, 4), axis=1, seed=s), "int64", (3, 4)),
    ("normal_f64", lambda s: R.normal((3,), dtype="float64", seed=s), "float64", (3,)),
    ("randint_i64", lambda s: R.randint((3,), -5, 5, dtype="int64", seed=s), "int64", (3,)),
]


def _numpy(draw):
    with ops.numpy_mode():
        return np.asarray(draw())


def _on(be, draw):
    with dl.use_backend(be):
        t = draw()
        assert type(t).__module__.split(".")[0] in ("torch", "tensorflow"), type(t)
        return ops.convert_to_numpy(t)


@pytest.mark.parametrize("name, draw, dtype, shape", DRAWS, ids=[d[0] for d in DRAWS])
@pytest.mark.parametrize("seed_kind", ["int", "generator", "global"])
def test_same_numbers_on_every_backend(name, draw, dtype, shape, seed_kind):
    def make():
        if seed_kind == "int":
            return 7
        if seed_kind == "generator":
            return R.SeedGenerator(1337)
        dl.utils.set_random_seed(42)  # seed=None: the global stream
        return None

    ref = _numpy(lambda: draw(make()))
    assert ref.dtype == np.dtype(dtype) and ref.shape == shape
    for be in BACKENDS:
        got = _on(be, lambda: draw(make()))
        assert got.dtype == np.dtype(dtype), (be, got.dtype)
        np.testing.assert_array_equal(got, ref, err_msg=f"{name} on {be}")


def test_int_seed_repeats_and_generator_advances():
    with ops.numpy_mode():
        a, b = R.normal((4,), seed=3), R.normal((4,), seed=3)
        np.testing.assert_array_equal(a, b)
        g = R.SeedGenerator(1337)
        assert g.state.tolist() == [1337, 0]
        seq = [R.normal((4,), seed=g) for _ in range(3)]
        assert g.state.tolist() == [1337, 3]
        assert not np.array_equal(seq[0], seq[1]) and not np.array_equal(seq[1], seq[2])
        g2 = R.SeedGenerator(1337)  # the same sequence every run
        again = [R.normal((4,), seed=g2) for _ in range(3)]
    for x, y in zip(seq, again, strict=True):
        np.testing.assert_array_equal(x, y)
    for be in BACKENDS:  # and on every backend
        g3 = R.SeedGenerator(1337)
        with dl.use_backend(be):
            for x in seq:
                np.testing.assert_array_equal(ops.convert_to_numpy(R.normal((4,), seed=g3)), x)


def test_global_stream_follows_set_random_seed():
    with ops.numpy_mode():
        dl.utils.set_random_seed(5)
        a = [R.uniform((3,)) for _ in range(2)]
        dl.utils.set_random_seed(5)
        b = [R.uniform((3,)) for _ in range(2)]
        g1 = R.SeedGenerator()  # seed=None: drawn from the global stream too
        dl.utils.set_random_seed(5)
        _ = [R.uniform((3,)) for _ in range(2)]
        g2 = R.SeedGenerator()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])
    assert g1.state.tolist() == g2.state.tolist()


def test_seed_generator_config_and_names():
    g = R.SeedGenerator(7)
    assert g.name == "seed_generator" and R.SeedGenerator(8).name == "seed_generator_1"
    assert g.get_config() == {"seed": 7, "name": "seed_generator"}
    h = R.SeedGenerator.from_config(g.get_config())
    assert h.state.tolist() == [7, 0]


N = 200_000


@pytest.mark.parametrize(
    "name, draw, mean, var",
    [
        ("normal", lambda: R.normal((N,), 1.0, 2.0, "float64", 1), 1.0, 4.0),
        ("uniform", lambda: R.uniform((N,), -1.0, 3.0, "float64", 2), 1.0, 16 / 12),
        # truncated at ±2σ: variance σ²·(1 − 2·2φ(2)/(2Φ(2) − 1))
        (
            "truncated_normal",
            lambda: R.truncated_normal((N,), 0.5, 3.0, "float64", 3),
            0.5,
            9.0 * (1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))),
        ),
        ("randint", lambda: R.randint((N,), 0, 10, "int64", 4), 4.5, 99 / 12),
        ("gamma", lambda: R.gamma((N,), 2.5, "float64", 5), 2.5, 2.5),
        ("binomial", lambda: R.binomial((N,), 10, 0.3, "float64", 6), 3.0, 2.1),
        ("beta", lambda: R.beta((N,), 2.0, 3.0, "float64", 7), 0.4, 6 / (25 * 6)),
    ],
)
def test_moments(name, draw, mean, var):
    x = np.asarray(_numpy(draw), np.float64)
    sd = math.sqrt(var)
    assert abs(x.mean() - mean) < 5 * sd / math.sqrt(N), (name, x.mean())
    assert abs(x.var() - var) < 0.02 * var, (name, x.var())


def test_ranges():
    with ops.numpy_mode():
        t = np.asarray(R.truncated_normal((N,), 1.0, 0.5, seed=1))
        u = np.asarray(R.uniform((N,), 2.0, 3.0, seed=1))
        r = np.asarray(R.randint((N,), -3, 4, seed=1))
        b = np.asarray(R.beta((N,), 0.5, 0.5, seed=1))
    assert t.min() >= 0.0 and t.max() <= 2.0
    assert u.min() >= 2.0 and u.max() < 3.0
    assert set(np.unique(r).tolist()) == set(range(-3, 4))
    assert b.min() >= 0.0 and b.max() <= 1.0


def test_categorical_frequencies_follow_softmax():
    logits = np.array([[0.0, 1.0, 2.0], [0.0, -np.inf, 0.0]])
    with ops.numpy_mode():
        s = np.asarray(R.categorical(logits, 100_000, seed=3))
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    freq = np.bincount(s[0], minlength=3) / s.shape[1]
    np.testing.assert_allclose(freq, p, atol=0.01)
    assert 1 not in s[1]  # a -inf logit is never drawn
    assert abs((s[1] == 0).mean() - 0.5) < 0.01


def test_dropout_and_shuffle():
    x = np.arange(1, 100_001, dtype="float64").reshape(1000, 100)
    with ops.numpy_mode():
        d = np.asarray(R.dropout(x, 0.25, seed=2))
        col = np.asarray(R.dropout(x, 0.5, noise_shape=(1, None), seed=2))
        s = np.asarray(R.shuffle(x, axis=0, seed=2))
    kept = d != 0
    np.testing.assert_allclose(d[kept], x[kept] / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01
    assert all(len(set(c.tolist())) == 1 for c in (col != 0).T)  # one draw per column
    np.testing.assert_array_equal(np.sort(s[:, 0]), x[:, 0])  # rows permuted, kept whole
    np.testing.assert_array_equal(s - s[:, :1], x - x[:, :1])


def _native(be, a):
    if be == "torch":
        import torch

        return torch.tensor(a)
    import tensorflow as tf

    return tf.constant(a)


def test_native_tensor_arguments():
    x = np.arange(12, dtype="float32").reshape(4, 3)
    g = R.SeedGenerator(9)
    with ops.numpy_mode():
        ref_d = np.asarray(R.dropout(x, 0.5, seed=g))
        ref_s = np.asarray(R.shuffle(x, seed=g))
        ref_n = np.asarray(R.normal((4, 2), seed=g))
        ref_c = np.asarray(R.categorical(LOGITS.astype("float32"), 3, seed=g))
    for be in BACKENDS:
        g = R.SeedGenerator(9)
        with dl.use_backend(be):
            xn = _native(be, x)
            np.testing.assert_array_equal(ops.convert_to_numpy(R.dropout(xn, 0.5, seed=g)), ref_d)
            np.testing.assert_array_equal(ops.convert_to_numpy(R.shuffle(xn, seed=g)), ref_s)
            batch = ops.shape(xn)[0]
            np.testing.assert_array_equal(ops.convert_to_numpy(R.normal((batch, 2), seed=g)), ref_n)
            logits = _native(be, LOGITS.astype("float32"))
            np.testing.assert_array_equal(
                ops.convert_to_numpy(R.categorical(logits, 3, seed=g)), ref_c
            )


BAD = [
    (lambda: R.normal((2,), seed="a"), "Argument `seed` must be either an integer or an instance"),
    (lambda: R.normal((2,), seed=1.5), "Argument `seed` must be either an integer"),
    (lambda: R.SeedGenerator("a"), r"Argument `seed` must be an integer. Received: seed='a'"),
    (lambda: R.SeedGenerator(1, foo=2), "unrecognized keyword arguments: {'foo': 2}"),
    (
        lambda: R.uniform((2,), dtype="int32"),
        "requires a floating point `dtype`. Received: dtype=int32",
    ),
    (lambda: R.normal((2,), dtype="int32"), "requires a floating point `dtype`"),
    (
        lambda: R.randint((2,), 0, 5, dtype="float32"),
        "requires an integer `dtype`. Received: dtype=float32",
    ),
    (lambda: R.randint((2,), 5, 5), "needs minval < maxval. Received: minval=5, maxval=5"),
    (lambda: R.dropout(np.ones(3, "float32"), 1.0), r"range \[0, 1\). Received: rate=1.0"),
    (lambda: R.dropout(np.ones(3, "float32"), -0.1), r"range \[0, 1\). Received: rate=-0.1"),
    (lambda: R.dropout(np.ones(3, "int32"), 0.5), "must be a floating point tensor"),
    (lambda: R.dropout(np.ones((2, 3), "float32"), 0.5, noise_shape=(3,)), "rank of inputs"),
    (lambda: R.categorical(np.zeros(3), 2), "`logits` should be a 2-D tensor"),
    (lambda: R.shuffle(np.zeros((2, 3)), axis=2), r"axis must be an int in \[-2, 2\)"),
    (lambda: R.normal((None, 2)), r"shape must be a tuple of ints. Received: shape=\(None, 2\)"),
    (lambda: R.normal((-1, 2)), "dimensions must be >= 0"),
    (lambda: R.dropout(dl.Input((3,)), 0.5), "not on symbolic model inputs"),
]


@pytest.mark.parametrize("call, message", BAD)
def test_argument_errors(call, message):
    with ops.numpy_mode(), pytest.raises(ConfigError, match=message):
        call()


def test_signatures_match_keras():
    keras = importlib.import_module("keras")
    for name in [
        "normal", "uniform", "randint", "truncated_normal", "dropout", "shuffle",
        "categorical", "gamma", "binomial", "beta",
    ]:  # fmt: skip
        ours = inspect.signature(getattr(R, name)).parameters
        theirs = inspect.signature(getattr(keras.random, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name
    assert list(inspect.signature(R.SeedGenerator).parameters) == ["seed", "name", "kwargs"]


def test_results_have_keras_dtypes_and_shapes():
    keras = importlib.import_module("keras")
    kr, x = keras.random, np.ones((4, 5), "float32")
    pairs = [
        (kr.normal((2, 3), seed=1), R.normal((2, 3), seed=1)),
        (kr.randint((2, 3), 0, 4, seed=1), R.randint((2, 3), 0, 4, seed=1)),
        (kr.categorical(LOGITS.astype("float32"), 5, seed=1), R.categorical(LOGITS, 5, seed=1)),
        (kr.binomial((3,), 4, 0.5, seed=1), R.binomial((3,), 4, 0.5, seed=1)),
        (kr.gamma((3,), 1.0, seed=1), R.gamma((3,), 1.0, seed=1)),
        (kr.beta((3,), 1.0, 2.0, seed=1), R.beta((3,), 1.0, 2.0, seed=1)),
        (kr.dropout(x, 0.5, seed=1), R.dropout(x, 0.5, seed=1)),
        (kr.shuffle(np.arange(6), seed=1), R.shuffle(np.arange(6), seed=1)),
    ]
    with ops.numpy_mode():
        pairs = [(k, np.asarray(o)) for k, o in pairs]
    for k, o in pairs:
        k = keras.ops.convert_to_numpy(k)
        assert (k.shape, k.dtype) == (o.shape, o.dtype)


class NoisyDense(dl.layers.Layer):
    """``dropout(x·W + N(0, 0.1²)) `` in training (a SeedGenerator, so new noise per step);
    ``x·W`` otherwise."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.seed_generator = R.SeedGenerator(1337)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

    def call(self, x, training=None):
        h = ops.matmul(x, self.w)
        if not training:
            return h
        noise = R.normal((ops.shape(h)[0], self.units), stddev=0.1, seed=self.seed_generator)
        return R.dropout(h + noise, 0.5, seed=self.seed_generator)


@both()
def test_draws_inside_a_custom_layer_match_across_backends():
    dl.config.set_floatx("float64")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 4)), rng.standard_normal((20, 3))
    got = {}
    for be in BACKENDS:
        dl.set_random_seed(3)
        i = dl.Input((4,))
        layer = NoisyDense()
        m = dl.Model(i, layer(i), backend=be)
        m.compile(dl.optimizers.SGD(0.1), loss="mse")
        # batch 8: two full batches and a partial one (TF: a trace with an open batch size)
        m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        got[be] = (m.get_weights(), layer.seed_generator.state.tolist())
    (wa, sa), (wb, sb) = got["torch"], got["tensorflow"]
    assert sa == sb == [1337, 2 * 9]  # two draws per training step, 9 steps
    for a, b in zip(wa, wb, strict=True):
        assert_close("weights after 9 noisy steps", b, a, "float64", "params_10")


class Sampling(dl.layers.Layer):
    """The Keras VAE example's layer: two positional tensors, ``normal`` with a traced batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = R.SeedGenerator(1337)

    def call(self, z_mean, z_log_var):
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        eps = R.normal((batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def test_vae_sampling_layer_gives_the_same_samples_on_every_backend():
    rng = np.random.default_rng(1)
    mean, log_var = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    outs = {}
    for be in BACKENDS:
        a, b = dl.Input((2,)), dl.Input((2,))
        m = dl.Model([a, b], Sampling()(a, b), backend=be)
        # batches 2, 2, 1: on TensorFlow the last one runs a trace with an open batch size
        first = m.predict([mean, log_var], batch_size=2, verbose=0)
        second = m.predict([mean, log_var], batch_size=2, verbose=0)
        assert not np.allclose(first, second)  # the generator advanced
        outs[be] = (first, second)
    with ops.numpy_mode():
        g = R.SeedGenerator(1337)
        eps = [np.asarray(R.normal((n, 2), seed=g)) for n in (2, 2, 1)]
    want = mean + np.exp(0.5 * log_var) * np.concatenate(eps)
    for be, (first, _) in outs.items():
        assert_close(f"samples on {be}", first, want, "float32", "layer")
    if len(outs) == 2:
        np.testing.assert_array_equal(outs["torch"][1], outs["tensorflow"][1])


class NoisyStep(dl.Model):
    """A custom train step that draws its own noise (the input jitter of a denoising fit)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d = dl.layers.Dense(2)
        self.gen = R.SeedGenerator(7)
        self.drawn = []

    def call(self, x):
        return self.d(x)

    def train_step(self, data):
        x, y = data
        noise = R.normal((ops.shape(x)[0], 3), stddev=0.1, seed=self.gen)
        self.drawn.append(type(noise).__module__.split(".")[0])
        with dl.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x + noise, training=True))
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        return {"loss": loss}


@both()
def test_draws_in_a_custom_train_step_are_native_tensors_of_the_model_backend():
    x = np.random.default_rng(0).standard_normal((10, 3)).astype("float32")
    y = np.random.default_rng(1).standard_normal((10, 2)).astype("float32")
    for be in BACKENDS:
        m = NoisyStep(backend=be)
        m.compile(dl.optimizers.SGD(0.1), loss="mse")
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        assert set(m.drawn) == {be}  # the model's backend, whatever the active one
        assert m.gen.state.tolist() == [7, 6]  # one draw per step, 3 steps x 2 epochs
