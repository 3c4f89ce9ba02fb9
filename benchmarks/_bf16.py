"""Mixed bfloat16 against float32, one engine, one process (issue 20).

    python benchmarks/_bf16.py torch|tensorflow --workloads mlp,cnn,lstm --rounds 4 \
        [--quick] [--scale F] --out result.json

Four systems take turns epoch by epoch (the order rotates each round, as in ``_engine.py``):
duallearn in float32 and under the ``mixed_bfloat16`` dtype policy
(``dl.mixed_precision.set_global_policy``, set while the model is built and its runtime first
runs, then reset), and the native loop in float32 (``_workloads.build_torch`` /
``build_tf``, the main table's loops) and in bfloat16: torch runs the forward and the loss
under ``torch.autocast("cpu", dtype=torch.bfloat16)``; TensorFlow casts the batch and the
float32 variables to bfloat16 inside its ``tf.function`` step and the logits back to float32
before the loss (variables, gradients and Adam stay float32, as ``mixed_bfloat16`` does).

Writes ``{"engine", "cpu": {...}, "workloads": {name: {"systems": {...}}}}``; each system
has ``epoch_s`` (and ``predict_s`` for the MLP) per round, and ``policy`` for duallearn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_info() -> dict[str, Any]:
    """The CPU model and its bfloat16 flags (AMX tiles, AVX-512 BF16) from /proc/cpuinfo."""
    flags: set[str] = set()
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "model": model,
        "amx_bf16": "amx_bf16" in flags,
        "amx_tile": "amx_tile" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
    }


def _model_of(fn: Any) -> Any:
    """The duallearn model inside a ``build_duallearn`` closure (to read its dtype policy)."""
    for cell in getattr(fn, "__closure__", None) or ():
        if hasattr(cell.cell_contents, "dtype_policy"):
            return cell.cell_contents
    return None


def build_duallearn(wl: Any, d: Any, engine: str, policy: str) -> tuple[Any, Any, str]:
    """duallearn under ``policy``, kept while the runtime is first built (warm-up epoch and
    predict), then the global policy back to float32."""
    import duallearn as dl

    dl.mixed_precision.set_global_policy(policy)
    try:
        epoch, predict = wl.build_duallearn(d, engine)
        epoch()  # warm-up; builds the runtime under the policy
        if d.workload == "mlp":
            predict()
        model = _model_of(epoch)
        got = str(model.dtype_policy.name) if model is not None else "unknown"
    finally:
        dl.mixed_precision.set_global_policy(None)
    return epoch, predict, got


def build_torch_bf16(wl: Any, d: Any) -> tuple[Any, Any]:
    """The anchors' torch loop with forward + loss under CPU bfloat16 autocast."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = d.x
    model: nn.Module
    if d.workload == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
        )
    elif d.workload == "cnn":
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 8 * 8, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    else:

        class LSTMNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm, self.fc = nn.LSTM(32, 128, batch_first=True), nn.Linear(128, 10)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.fc(self.lstm(x)[1][0][-1])

        model = LSTMNet()
    bs, pbs = d.bs, wl.PRED_BS
    batches = [
        (torch.from_numpy(x[i : i + bs]), torch.from_numpy(d.y[i : i + bs]))
        for i in range(0, d.n, bs)
    ]
    pbatches = [torch.from_numpy(x[i : i + pbs]) for i in range(0, d.n, pbs)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
        loss.item()

    def predict() -> Any:
        model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return np.concatenate([model(xb).float().numpy() for xb in pbatches])

    return epoch, predict


def build_tf_bf16(wl: Any, d: Any) -> tuple[Any, Any]:
    """The anchors' TF loop (hand-written Adam, one tf.function step) computing in bfloat16:
    the batch and the float32 variables are cast inside the step, the logits cast back."""
    import tensorflow as tf

    init = np.random.default_rng(1)
    workload, shape, cdt = d.workload, d.shape, tf.bfloat16

    def var(*shape: int) -> tf.Variable:
        lim = np.sqrt(6.0 / (shape[-2] * int(np.prod(shape[:-2] or [1])) + shape[-1]))
        return tf.Variable(init.uniform(-lim, lim, shape).astype(np.float32))

    def zeros(n: int) -> tf.Variable:
        return tf.Variable(tf.zeros([n]))

    if workload == "mlp":
        params = [var(784, 256), zeros(256), var(256, 256), zeros(256), var(256, 10), zeros(10)]
    elif workload == "cnn":
        params = [
            var(3, 3, 3, 32),
            zeros(32),
            var(3, 3, 32, 64),
            zeros(64),
            var(4096, 128),
            zeros(128),
            var(128, 10),
            zeros(10),
        ]
    else:
        params = [var(32, 512), var(128, 512), zeros(512), var(128, 10), zeros(10)]

    def net(x: tf.Tensor) -> tf.Tensor:
        p = [tf.cast(v, cdt) for v in params]
        x = tf.cast(x, cdt)
        if workload == "mlp":
            h = tf.nn.relu(x @ p[0] + p[1])
            h = tf.nn.relu(h @ p[2] + p[3])
            out = h @ p[4] + p[5]
        elif workload == "cnn":
            h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, p[0], 1, "SAME") + p[1]), 2, 2, "VALID")
            h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, p[2], 1, "SAME") + p[3]), 2, 2, "VALID")
            h = tf.nn.relu(tf.reshape(h, [-1, 4096]) @ p[4] + p[5])
            out = h @ p[6] + p[7]
        else:
            W, U, b = p[0], p[1], p[2]
            T = x.shape[1]
            xw = tf.reshape(tf.reshape(x, [-1, 32]) @ W, [-1, T, 512]) + b
            h = c = tf.zeros([tf.shape(x)[0], 128], cdt)
            for t in range(T):  # unrolled in the graph, as the float32 loop
                i, f, g, o = tf.split(xw[:, t] + h @ U, 4, axis=1)
                c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                h = tf.sigmoid(o) * tf.tanh(c)
            out = h @ p[3] + p[4]
        return tf.cast(out, tf.float32)

    m = [tf.Variable(tf.zeros_like(v)) for v in params]
    s = [tf.Variable(tf.zeros_like(v)) for v in params]
    t = tf.Variable(0.0)
    b1, b2, eps, lr = 0.9, 0.999, 1e-7, 1e-3
    sig = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int64)]

    @tf.function(input_signature=sig)
    def step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, net(xb)))
        grads = tape.gradient(loss, params)
        t.assign_add(1.0)
        a = lr * tf.sqrt(1 - b2**t) / (1 - b1**t)
        for g, v, mm, ss in zip(grads, params, m, s, strict=True):
            mm.assign(b1 * mm + (1 - b1) * g)
            ss.assign(b2 * ss + (1 - b2) * g * g)
            v.assign_sub(a * mm / (tf.sqrt(ss) + eps))
        return loss

    @tf.function(input_signature=sig[:1])
    def fwd(xb: tf.Tensor) -> tf.Tensor:
        return net(xb)

    bs, pbs = d.bs, wl.PRED_BS
    batches = [
        (tf.constant(d.x[i : i + bs]), tf.constant(d.y[i : i + bs])) for i in range(0, d.n, bs)
    ]
    pbatches = [tf.constant(d.x[i : i + pbs]) for i in range(0, d.n, pbs)]

    def epoch() -> None:
        for xb, yb in batches:
            loss = step(xb, yb)
        float(loss)

    def predict() -> Any:
        return np.concatenate([fwd(xb).numpy() for xb in pbatches])

    return epoch, predict


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", choices=["torch", "tensorflow"])
    ap.add_argument("--workloads", default="mlp,cnn,lstm")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    import _workloads as wl

    build_native: Any
    build_native_bf16: Any
    if args.engine == "torch":
        import torch  # noqa: F401

        wl.set_threads_torch()
        native, build_native, build_native_bf16 = "torch", wl.build_torch, build_torch_bf16
    else:
        import tensorflow  # noqa: F401

        wl.set_threads_tf()
        native, build_native, build_native_bf16 = "tf", wl.build_tf, build_tf_bf16

    def timed(fn: Any) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def run(workload: str) -> dict[str, Any]:
        missing = wl.missing_layers(workload)
        if missing:
            return {"skipped": f"duallearn layers not available yet: {', '.join(missing)}"}
        d = wl.Data(workload, args.quick, args.scale)
        fns: dict[str, tuple[Any, Any]] = {}
        policies: dict[str, str] = {}
        for name, policy in (
            (f"duallearn_{native}", "float32"),
            (f"duallearn_{native}_bf16", "mixed_bfloat16"),
        ):
            try:
                e, p, got = build_duallearn(wl, d, args.engine, policy)
            except Exception as exc:  # e.g. a layer without a bfloat16 kernel on this engine
                traceback.print_exc()
                return {"error": f"duallearn {policy}: {type(exc).__name__}: {str(exc)[:300]}"}
            fns[name], policies[name] = (e, p), got
        fns[native] = build_native(d)
        fns[f"{native}_bf16"] = build_native_bf16(wl, d)
        predict = workload == "mlp"
        for name in (native, f"{native}_bf16"):
            fns[name][0]()  # warm-up (tracing)
            if predict:
                fns[name][1]()
        names = list(fns)
        train: dict[str, list[float]] = {n: [] for n in names}
        pred: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                train[n].append(timed(fns[n][0]))
                if predict:
                    pred[n].append(timed(fns[n][1]))
            print(
                f"[{args.engine}] bf16 {workload}: round {r + 1}/{args.rounds}",
                file=sys.stderr,
                flush=True,
            )
        systems: dict[str, Any] = {}
        for n in names:
            s: dict[str, Any] = {"epoch_s": [round(t, 4) for t in train[n]]}
            if predict:
                s["predict_s"] = [round(t, 4) for t in pred[n]]
            if n in policies:
                s["policy"] = policies[n]
            systems[n] = s
        return {"samples": d.n, "batch": d.bs, "rounds": args.rounds, "systems": systems}

    result: dict[str, Any] = {"engine": args.engine, "cpu": cpu_info(), "workloads": {}}
    for w in args.workloads.split(","):
        try:
            result["workloads"][w] = run(w)
        except Exception as e:
            traceback.print_exc()
            result["workloads"][w] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        print(f"[{args.engine}] bf16 {w}: done", file=sys.stderr, flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
