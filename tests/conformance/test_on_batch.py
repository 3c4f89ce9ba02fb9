"""``train_on_batch`` / ``test_on_batch`` against real Keras 3: one step per call on the whole
batch, the metrics reset before each call (Keras 3.15), Keras's flat order of the results."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from .test_custom_steps import PortableStep

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _graph(lib: Any) -> tuple[Any, Any]:
    i = lib.Input((4,))
    h = lib.layers.Dense(6, activation="relu")(i)
    return i, lib.layers.Dense(2)(h)


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    sizes = (8, 8, 5)
    return [(rng.standard_normal((n, 4)).astype("float32"),
             rng.standard_normal((n, 2)).astype("float32")) for n in sizes]  # fmt: skip


def _same(label: str, ours: Any, theirs: Any) -> None:
    a, b = np.atleast_1d(np.asarray(ours, np.float64)), np.atleast_1d(np.asarray(theirs))
    assert a.shape == b.shape, (label, ours, theirs)
    assert_close(label, a, b, "float32", "params_10")


@pytest.mark.parametrize("custom", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_on_batch_calls_match_keras(backend: str, custom: bool) -> None:
    with dl.use_backend(backend):
        ours = (PortableStep if custom else dl.Model)(*_graph(dl))
    theirs = keras.Model(*_graph(keras))
    theirs.set_weights(ours.get_weights())
    ours.compile(dl.optimizers.SGD(0.05), "mse", metrics=["mae"])
    theirs.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    batches = _batches()
    for k, (x, y) in enumerate(batches):  # [loss, mae] of each batch
        _same(f"train_on_batch {k}", ours.train_on_batch(x, y), theirs.train_on_batch(x, y))
    _same("weights", np.concatenate([w.ravel() for w in ours.get_weights()]),
          np.concatenate([w.ravel() for w in theirs.get_weights()]))  # fmt: skip
    ours.reset_metrics()
    theirs.reset_metrics()
    x, y = batches[0]
    got = ours.train_on_batch(x, y, return_dict=True)
    want = theirs.train_on_batch(x, y, return_dict=True)
    assert sorted(got) == sorted(want) == ["loss", "mae"]
    for key in want:
        _same(f"after reset: {key}", got[key], want[key])
    ours.reset_metrics()
    theirs.reset_metrics()
    _same("test_on_batch", ours.test_on_batch(*batches[2]), theirs.test_on_batch(*batches[2]))
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations.numpy()) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_batch_needs_compile_and_a_loss_alone_is_a_scalar(backend: str) -> None:
    with dl.use_backend(backend):
        m = dl.Model(*_graph(dl))
    x, y = _batches()[0]
    with pytest.raises(ConfigError, match="train_on_batch needs a compiled model"):
        m.train_on_batch(x, y)
    m.compile("sgd", "mse")
    k = keras.Model(*_graph(keras))
    k.set_weights(m.get_weights())
    k.compile("sgd", "mse")
    out, want = m.train_on_batch(x, y), k.train_on_batch(x, y)
    assert np.ndim(out) == 0 and isinstance(want, float)
    _same("loss", out, want)
