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


def _devices(model) -> set[str]:
    """Where every variable of the model's runtime lives: weights, optimizer slots, the metric
    accumulator and the fast-mode RNG (torch generator / TF seed), as "cpu" / "cuda:N"."""
    rt = model._get_runtime()
    tensors = [w.value for w in model.weights] + [t for ts in rt._opt.slots.values() for t in ts]
    tensors.append(rt._acc)
    tensors.append(rt.rng.seed if hasattr(rt.rng, "seed") else rt.rng.generator)
    out = set()
    for t in tensors:
        d = str(t.device)
        if "device:" in d:  # TensorFlow: /job:localhost/replica:0/task:0/device:CPU:0
            kind, index = d.rsplit("device:", 1)[1].split(":")
            d = "cpu" if kind == "CPU" else f"cuda:{index}"
        out.add(d)
    return out


def test_explicit_cpu_holds_every_variable(backend):
    """set_device("cpu") creates every variable on the CPU, also on TensorFlow, whose own
    default on a GPU machine is the GPU (on this CPU-only machine the check cannot tell the
    two apart; the CUDA test below covers a GPU)."""
    m, _, _ = run("cpu")
    assert _devices(m) == {"cpu"}


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
    assert _devices(mg) == {"cuda:0"} and _devices(mc) == {"cpu"}
    assert_close("predictions on cuda vs cpu", pg, pc, "float32", "forward")
    for a, b in zip(mg.get_weights(), mc.get_weights(), strict=True):
        assert_close("weights after 8 steps on cuda vs cpu", a, b, "float32", "params_10")
