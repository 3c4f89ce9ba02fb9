"""Device placement: an explicit "cpu" is the same run as the default on this machine, and on
a machine with a GPU the CUDA run agrees with the CPU run (skipped, with this reason, where no
GPU is present: CI machines have none)."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn import config
from duallearn.testing import assert_close


def run(device, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 6)).astype("float32")
    y = rng.integers(0, 3, 64)
    dl.set_random_seed(seed)
    m = dl.Sequential(
        [
            dl.layers.Input((6,)),
            dl.layers.Dense(16, activation="relu"),
            dl.layers.BatchNormalization(),
            dl.layers.Dense(3),
        ]
    )
    if device is not None:
        m.set_device(device)
    m.compile(
        optimizer=dl.optimizers.Adam(0.01),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    h = m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return m, h, m.predict(x, verbose=0)


def test_explicit_cpu_equals_default(backend):
    if config.gpu_count(backend):
        pytest.skip("the default is the GPU on this machine; the CUDA test covers it")
    m0, h0, p0 = run(None)
    m1, h1, p1 = run("cpu")
    assert m1.device == "cpu"
    np.testing.assert_array_equal(p0, p1)
    assert h0.history == h1.history


def test_cuda_run_matches_cpu_run(backend):
    if not config.gpu_count(backend):
        pytest.skip("needs a GPU: none on this machine (CI has none)")
    config.set_deterministic(True)  # TF32 off on both engines
    mc, hc, pc = run("cpu")
    mg, hg, pg = run("cuda:0")
    assert mg.device == "cuda:0"
    assert_close("predictions on cuda vs cpu", pg, pc, "float32", "forward")
    for a, b in zip(mg.get_weights(), mc.get_weights(), strict=True):
        assert_close("weights after 8 steps on cuda vs cpu", a, b, "float32", "params_10")
