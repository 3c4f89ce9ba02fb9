"""Neighbours for the benchmark's "neighbours" scenarios (issue 20): what else shares the
process or the machine when duallearn runs, so that fragility shows in the tables.

    python benchmarks/_neighbours.py framework ENGINE [_engine.py arguments...]
    python benchmarks/_neighbours.py busy [--threads 1]

``framework``: loads the *other* framework into the engine's process, makes it run, then runs
``_engine.py`` in the same process (``runpy``), and adds ``"neighbour"`` (what was loaded and
built) to the engine's result JSON. On the torch engine: TensorFlow and Keras are imported
(Keras on the torch backend, as the engine's Keras 3 comparison uses) and a small Keras model
is trained and predicts, and one ``tf.function`` runs. On TensorFlow: torch is imported (before
TensorFlow, as it must be) and a small ``nn`` model trains a few steps. Thread settings are the
benchmark's for both frameworks (intra 2, inter 2).

``busy``: a second process spinning a numpy float32 matmul loop (``--threads`` BLAS threads,
default 1) until SIGTERM, then one JSON line ``{"matmuls", "seconds", "matmuls_per_s"}``.
``run.py`` starts it before the engine process and stops it after the timed rounds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
_keep: list[Any] = []  # the neighbour's objects live as long as the benchmark


def busy(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)  # before numpy loads its BLAS
    import numpy as np

    stop = False

    def on_term(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    a = np.random.default_rng(0).standard_normal((384, 384), dtype=np.float32)
    n, t0 = 0, time.perf_counter()
    while not stop:
        b = a @ a
        a = b * np.float32(1.0 / 384) if n % 64 == 63 else a  # keep the values finite
        n += 1
    dt = time.perf_counter() - t0
    print(json.dumps({"matmuls": n, "seconds": round(dt, 2), "matmuls_per_s": round(n / dt, 1)}))


def _data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((512, 32), dtype=np.float32), rng.integers(0, 10, 512)


def _torch_engine_neighbour(wl: Any) -> str:
    """TensorFlow and Keras (on the torch backend) imported, a Keras model trained and run,
    one tf.function run."""
    import torch  # noqa: F401  (always before TensorFlow)

    wl.set_threads_torch()
    import keras
    import tensorflow as tf

    wl.set_threads_tf()
    x, y = _data()
    f = tf.function(lambda a: tf.nn.relu(tf.matmul(a, a)))
    f(tf.ones((64, 64))).numpy()
    model = keras.Sequential(
        [keras.Input((32,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    model.predict(x, batch_size=128, verbose=0)
    _keep.extend([f, model])
    return f"Keras 3 ({keras.config.backend()} backend) Dense model fit+predict; tf.function"


def _tf_engine_neighbour(wl: Any) -> str:
    """torch imported (before TensorFlow) and a small nn model trained and run."""
    import torch

    wl.set_threads_torch()
    x, y = _data()
    net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xb, yb = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(8):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xb), yb).backward()
        opt.step()
    with torch.inference_mode():
        net(xb)
    import tensorflow  # noqa: F401  (the engine's framework, after torch)

    wl.set_threads_tf()
    _keep.extend([net, opt])
    return "torch nn model, 8 Adam steps + inference"


def load_other_framework(engine: str) -> dict[str, Any]:
    """Import the other framework into this process and make it run (see the module doc)."""
    os.environ["KERAS_BACKEND"] = engine  # the engine's Keras 3 comparison uses this backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, HERE)
    import _workloads as wl

    t0 = time.perf_counter()
    other = "tensorflow" if engine == "torch" else "torch"
    if importlib.util.find_spec(other) is None:
        built = f"nothing: {other} is not installed"
    elif engine == "torch":
        built = _torch_engine_neighbour(wl)
    else:
        built = _tf_engine_neighbour(wl)
    return {
        "loaded": [m for m in ("torch", "tensorflow", "keras") if m in sys.modules],
        "built": built,
        "load_s": round(time.perf_counter() - t0, 2),
    }


def framework(argv: list[str]) -> None:
    import runpy

    engine = argv[0]
    info = load_other_framework(engine)
    out = argv[argv.index("--out") + 1]
    engine_py = os.path.join(HERE, "_engine.py")
    sys.argv = [engine_py, *argv]
    runpy.run_path(engine_py, run_name="__main__")
    with open(out) as f:
        result = json.load(f)
    result["neighbour"] = info
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "busy":
        threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
        busy(threads)
    elif sys.argv[1] == "framework":
        framework(sys.argv[2:])
    else:
        raise SystemExit(__doc__)
