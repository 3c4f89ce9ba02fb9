"""Recurrent kernels on TensorFlow and torch predict without per-batch conversions.

Usage: .venv/bin/python benchmarks/recurrent_kernels.py [--rounds 5] [--samples 1280]
       [--layers GRU,GRU_before,SimpleRNN,GRU_mask,LSTM_mask] [--no-predict]

TensorFlow part: each layer (B=64, T=50, 32 features, 128 units, then Dense(10); Adam,
sparse cross-entropy) is built twice with the same weights: ``scan`` runs the per-gate cell
as a ``tf.scan`` (:func:`scan_loop`, a copy of the path that GRU and SimpleRNN took for every
call, and LSTM under a Keras mask or recurrent dropout, before issue 20) and ``loop`` the
backend's own path (one ``tf.while_loop`` whose step does the input and the recurrent GEMM
over all gates and the gate math). ``GRU_before`` is ``reset_after=False``; ``*_mask`` feeds
the layer from ``Embedding(mask_zero=True)`` with padded tails (a Keras mask). Each round
times one training epoch (``fit``) and one ``predict`` (batch 128) of each, alternating; the
lines print wall milliseconds per round and the ratio scan / loop of that round (> 1: the
new path is faster), then the minimum and median over rounds, wall and process CPU time.

torch part (``--no-predict`` skips it): ``model.predict`` on arrays with the torch runtime's
``predict_many`` (the inputs converted once, the batches' outputs concatenated as tensors and
read back once) against the default ``predict_many`` of ``duallearn.plugin`` that torch used
before (one ``Runtime.predict`` per batch: a conversion in and out per batch, then
``np.concatenate``), on the benchmark MLP (784-256-256-10; 60,000 samples × ``--samples`` /
5000) and on a GRU (torch's ``nn.GRU``; a twentieth of the MLP's samples).

The machine is shared: read the ratios measured in one round and the minimum over rounds.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads as wl  # noqa: E402

B, T, F, H = 64, 50, 32, 128


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and process CPU milliseconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def _report(label: str, a_name: str, b_name: str, rows: list[tuple[float, float]]) -> None:
    ratios = [a / b for a, b in rows]
    a_ms, b_ms = [r[0] for r in rows], [r[1] for r in rows]
    print(
        f"  {label}: {a_name} min {min(a_ms):.0f} / median {statistics.median(a_ms):.0f} ms, "
        f"{b_name} min {min(b_ms):.0f} / median {statistics.median(b_ms):.0f} ms; "
        f"ratio of minima {min(a_ms) / min(b_ms):.2f}x, per-round ratio median "
        f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}..{max(ratios):.2f}]"
    )


# ------------------------------------------------------------------------------ TensorFlow
def scan_loop(
    native: Any, x: Any, dm: list[Any], rm: list[Any], mask: Any, init: Any = None
) -> Any:
    """The per-gate cell (``native.step``) as a ``tf.scan`` over time: the TensorFlow
    backend's cell loop before issue 20 (same masks and outputs)."""
    import tensorflow as tf

    spec = native.spec
    init = native._begin(x, init)
    n = spec.n_states
    zeros = tf.zeros(tf.stack([tf.shape(x)[0], native.units]), x.dtype)
    xt = tf.transpose(x, [1, 0, 2])

    def cell(states: list[Any], x_t: Any) -> list[Any]:
        x_in = [x_t if m is None else x_t * m for m in dm]
        h_in = [states[0] if m is None else states[0] * m for m in rm]
        return native.step(x_in, h_in, states)  # type: ignore[no-any-return]

    if mask is None:

        def plain(carry: Any, x_t: Any) -> Any:
            new = cell(list(carry[:n]), x_t)
            return (*new, new[0])

        fn: Any = plain
        elems: Any = xt
    else:

        def masked(carry: Any, e: Any) -> Any:
            x_t, m_t = e
            old = list(carry[:n])
            m = m_t[:, None]
            new = [tf.where(m, a, o) for a, o in zip(cell(old, x_t), old, strict=True)]
            out = tf.where(m, new[0], zeros) if spec.zero_output_for_mask else new[0]
            return (*new, out)

        fn = masked
        elems = (xt, tf.transpose(tf.cast(mask, tf.bool)))
    start = tuple(init) if init is not None else (zeros,) * n
    res = tf.scan(fn, elems, initializer=(*start, start[0]))
    return tf.transpose(res[-1], [1, 0, 2]), [r[-1] for r in res[:n]]


def _rnn_model(dl: Any, kind: str, scan: bool) -> Any:
    L = dl.layers
    dl.set_random_seed(0)
    rnn = {
        "GRU": lambda: L.GRU(H),
        "GRU_before": lambda: L.GRU(H, reset_after=False),
        "SimpleRNN": lambda: L.SimpleRNN(H),
        "GRU_mask": lambda: L.GRU(H),
        "LSTM_mask": lambda: L.LSTM(H),
    }[kind]()
    with dl.use_backend("tensorflow"):
        if kind.endswith("_mask"):
            embed = L.Embedding(100, F, mask_zero=True)
            model = dl.Sequential([L.Input((T,), dtype="int64"), embed, rnn])
        else:
            model = dl.Sequential([L.Input((T, F)), rnn])
        model.add(L.Dense(10))
    model.compile(
        optimizer=dl.optimizers.Adam(1e-3),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    if scan:  # every call of this model's recurrent layer through scan_loop
        for mod in model.native.layers_:
            if hasattr(mod, "step"):
                object.__setattr__(mod, "fusable", lambda dtype: False)
                object.__setattr__(mod, "_loop", functools.partial(scan_loop, mod))
    return model


def _rnn_data(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n).astype(np.int64)
    if not kind.endswith("_mask"):
        return rng.standard_normal((n, T, F), dtype=np.float32), y
    x = rng.integers(1, 100, (n, T)).astype(np.int64)
    lengths = rng.integers(T // 2, T + 1, n)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0  # padded tails
    return x, y


def bench_rnn(kind: str, rounds: int, n: int) -> None:
    import duallearn as dl

    x, y = _rnn_data(kind, n)
    models = {path: _rnn_model(dl, kind, path == "scan") for path in ("scan", "loop")}
    models["loop"].set_weights(models["scan"].get_weights())
    outs = {}
    for path, m in models.items():  # warm-up: traces, and the two paths' numbers
        m.fit(x[:B], y[:B], batch_size=B, epochs=1, shuffle=False, verbose=0)
        outs[path] = m.predict(x, batch_size=wl.PRED_BS, verbose=0)
    diff = float(np.max(np.abs(outs["scan"] - outs["loop"])))
    print(f"{kind} (B={B}, T={T}, F={F}, units={H}, {n} samples; |scan - loop| {diff:.1e})")
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in ("train", "predict")}
    cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in ("train", "predict")}
    for r in range(rounds):
        order = ["scan", "loop"] if r % 2 == 0 else ["loop", "scan"]
        wall: dict[tuple[str, str], float] = {}
        proc: dict[tuple[str, str], float] = {}
        for path in order:
            m = models[path]
            for what, fn in (
                ("train", lambda m=m: m.fit(x, y, batch_size=B, shuffle=False, verbose=0)),
                ("predict", lambda m=m: m.predict(x, batch_size=wl.PRED_BS, verbose=0)),
            ):
                wall[what, path], proc[what, path] = _timed(fn)
        line = []
        for what in rows:
            a, b = wall[what, "scan"], wall[what, "loop"]
            rows[what].append((a, b))
            cpu[what].append((proc[what, "scan"], proc[what, "loop"]))
            line.append(f"{what} scan {a:.0f} ms, loop {b:.0f} ms ({a / b:.2f}x)")
        print(f"  round {r}: " + "; ".join(line))
    for what in rows:
        _report(f"{what} wall", "scan", "loop", rows[what])
        _report(f"{what} CPU", "scan", "loop", cpu[what])


# ----------------------------------------------------------------------------------- torch
def bench_torch_predict(rounds: int, scale: float) -> None:
    import duallearn as dl
    from duallearn.plugin import NativeRuntime

    L = dl.layers
    n_mlp = max(wl.PRED_BS, int(60000 * scale))
    rng = np.random.default_rng(0)
    cases = {
        "mlp": (
            [L.Input((784,)), L.Dense(256, activation="relu"), L.Dense(256, activation="relu")],
            rng.standard_normal((n_mlp, 784), dtype=np.float32),
        ),
        "gru": (
            [L.Input((T, F)), L.GRU(H)],
            rng.standard_normal((max(wl.PRED_BS, n_mlp // 20), T, F), dtype=np.float32),
        ),
    }
    bs = wl.PRED_BS
    for name, (layers, x) in cases.items():
        dl.set_random_seed(0)
        with dl.use_backend("torch"):
            model = dl.Sequential([*layers, L.Dense(10)])
        many = model.predict(x, batch_size=bs, verbose=0)
        rt = model._get_runtime()

        def run(per_batch: bool, model: Any = model, rt: Any = rt, x: np.ndarray = x) -> Any:
            """``model.predict`` with the runtime's ``predict_many`` or, for ``per_batch``,
            the default one of ``duallearn.plugin`` (one ``predict`` per batch, before)."""
            if per_batch:
                rt.predict_many = NativeRuntime.predict_many.__get__(rt)
            try:
                return model.predict(x, batch_size=bs, verbose=0)
            finally:
                rt.__dict__.pop("predict_many", None)

        same = bool(np.array_equal(many, run(True)))
        print(f"torch predict {name} ({len(x)} samples, batch {bs}; bitwise equal: {same})")
        rows, cpu = [], []
        for r in range(rounds):
            ms: dict[bool, tuple[float, float]] = {}
            for per_batch in [True, False] if r % 2 == 0 else [False, True]:
                ms[per_batch] = _timed(functools.partial(run, per_batch))
            rows.append((ms[True][0], ms[False][0]))
            cpu.append((ms[True][1], ms[False][1]))
            print(
                f"  round {r}: per-batch {ms[True][0]:.0f} ms, predict_many {ms[False][0]:.0f} "
                f"ms ({ms[True][0] / ms[False][0]:.2f}x)"
            )
        _report("predict wall", "per-batch", "predict_many", rows)
        _report("predict CPU", "per-batch", "predict_many", cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1280)
    parser.add_argument("--layers", default="GRU,GRU_before,SimpleRNN,GRU_mask,LSTM_mask")
    parser.add_argument("--no-predict", action="store_true", help="skip the torch part")
    args = parser.parse_args()
    import torch  # noqa: F401  (torch before TensorFlow in one process)

    wl.set_threads_torch()
    import tensorflow  # noqa: F401

    wl.set_threads_tf()
    for kind in [k for k in args.layers.split(",") if k]:
        bench_rnn(kind, args.rounds, args.samples)
    if not args.no_predict:
        bench_torch_predict(args.rounds, args.samples / 5000)


if __name__ == "__main__":
    main()
