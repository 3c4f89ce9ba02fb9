"""Data-parallel throughput: samples/s of 1 and 2 processes, and the all-reduce cost per step.

    .venv/bin/python benchmarks/distributed.py [--quick] [--nproc 1,2] [--epochs 4]
                                               [--backend torch] [--out FILE.json]

For each process count N it runs ``duallearn launch --nproc N benchmarks/distributed.py
--worker ...``: every process trains the same MLP with BatchNormalization (8192 samples of 128
features, global batch 256, Adam, synchronized BatchNormalization) under
``dl.distribution.DataParallel``; process 0 reports the samples/s of the timed epochs (the
first epoch warms up), the time of one training step, and the time of one gradient
all-reduce of the model's gradients measured on its own (median of 50, the same bucketed
all-reduce the step runs). The launcher gives each process ``cores / N`` threads. On a machine
with as many cores as processes the 2-process figure shows the overhead, not a speed-up: each
process then has half the cores (docs/distributed.md, "Benchmark").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES, FEATURES, BATCH, WIDTH = 8192, 128, 256, 512


def worker(backend: str, epochs: int, out: str, samples: int) -> None:
    import numpy as np

    import duallearn as dl

    dl.set_backend(backend)
    dl.set_random_seed(0)
    dl.distribution.set_distribution(dl.distribution.DataParallel())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, FEATURES)).astype("float32")
    y = rng.integers(0, 10, size=samples).astype("int64")
    m = dl.Sequential(
        [
            dl.Input((FEATURES,)),
            dl.layers.Dense(WIDTH, use_bias=False),
            dl.layers.BatchNormalization(),
            dl.layers.Activation("relu"),
            dl.layers.Dense(WIDTH, activation="relu"),
            dl.layers.Dense(10),
        ]
    )
    m.compile(dl.optimizers.Adam(1e-3), dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # warm-up (joins the processes)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        times.append(time.perf_counter() - t0)
    steps = -(-samples // BATCH)
    epoch_s = statistics.median(times)
    allreduce_ms = 0.0
    runtime = m._get_runtime()
    group = getattr(runtime, "_group", None)
    if group is not None:
        if backend == "torch":
            import torch

            grads = [torch.zeros_like(p) for p in runtime.params]
        else:
            import tensorflow as tf

            grads = [tf.zeros_like(p) for p in runtime.params]
        group.reduce_gradients(grads)  # (traced once on TensorFlow)
        laps = []
        for _ in range(50):
            t0 = time.perf_counter()
            group.reduce_gradients(grads)
            laps.append(time.perf_counter() - t0)
        allreduce_ms = 1e3 * statistics.median(laps)
    if dl.distribution.process_index() == 0:
        report = {
            "processes": dl.distribution.num_processes(),
            "samples_per_s": samples / epoch_s,
            "step_ms": 1e3 * epoch_s / steps,
            "allreduce_ms": allreduce_ms,
            "gradient_mb": sum(int(np.prod(w.shape)) for w in m.trainable_weights) * 4 / 2**20,
            "threads": os.environ.get("OMP_NUM_THREADS", ""),
        }
        with open(out, "w", encoding="utf-8") as f:
            json.dump(report, f)


def run(nproc: int, backend: str, epochs: int, samples: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "duallearn.cli", "launch", "--nproc", str(nproc)]
        cmd += [os.path.abspath(__file__), "--worker", "--backend", backend]
        cmd += ["--epochs", str(epochs), "--samples", str(samples), "--report", out]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"{nproc} processes failed:\n{proc.stdout}\n{proc.stderr}")
        with open(out, encoding="utf-8") as f:
            return json.load(f)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--nproc", default="1,2", help="process counts (default: 1,2)")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs (default: 4)")
    parser.add_argument("--samples", type=int, default=SAMPLES, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1 timed epoch of 2048 samples")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.samples = 1, 2048
    if args.worker:
        worker(args.backend, args.epochs, args.report, args.samples)
        return 0
    rows = [run(int(n), args.backend, args.epochs, args.samples) for n in args.nproc.split(",")]
    print(f"data-parallel {args.backend}, {os.cpu_count()} cores, global batch {BATCH}, "
          f"{args.samples} samples, gradients {rows[0]['gradient_mb']:.2f} MB")  # fmt: skip
    print(f"{'processes':>9}  {'threads':>7}  {'samples/s':>10}  {'step ms':>8}  "
          f"{'all-reduce ms/step':>18}  {'share':>6}")  # fmt: skip
    for r in rows:
        share = r["allreduce_ms"] / r["step_ms"] if r["step_ms"] else 0.0
        print(f"{r['processes']:>9}  {r['threads']:>7}  {r['samples_per_s']:>10.0f}  "
              f"{r['step_ms']:>8.2f}  {r['allreduce_ms']:>18.3f}  {share:>6.1%}")  # fmt: skip
    base = rows[0]["samples_per_s"]
    for r in rows[1:]:
        print(f"{r['processes']} processes / {rows[0]['processes']}: "
              f"{r['samples_per_s'] / base:.2f}x samples/s")  # fmt: skip
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
