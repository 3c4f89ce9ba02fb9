"""One engine, one process: duallearn, the hand-written native loop and Keras 3 on the same
engine take turns epoch by epoch (the order rotates each round), so load from neighbours on a
shared machine hits all of them alike (the method of ``shared/anchors/ratios.py``).

    python benchmarks/_engine.py torch|tensorflow --workloads mlp,cnn,lstm --rounds 4 \
        [--quick] [--no-keras] --out result.json

Writes ``{"engine", "workloads": {name: {...}}}``; a workload whose duallearn layers have not
landed yet (or fail to build) is recorded as ``{"skipped": reason}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
from typing import Any

ap = argparse.ArgumentParser()
ap.add_argument("engine", choices=["torch", "tensorflow"])
ap.add_argument("--workloads", default="mlp,cnn,lstm")
ap.add_argument("--rounds", type=int, default=4)
ap.add_argument("--quick", action="store_true")
ap.add_argument("--scale", type=float, default=1.0)
ap.add_argument("--no-keras", action="store_true")
ap.add_argument("--out", required=True)
args = ap.parse_args()

os.environ["KERAS_BACKEND"] = args.engine  # before keras is first imported
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads as wl  # noqa: E402

# the framework first, with the anchors' thread settings, before anything runs on it
native_name, build_native = wl.native_for(args.engine)

keras_ok = not args.no_keras and importlib.util.find_spec("keras") is not None
dl_name = f"duallearn_{native_name}"
keras_name = f"keras_{native_name}"


def timed(fn: Any) -> tuple[float, float]:
    """Wall seconds and process CPU use (CPU s / wall s; ~2.0 = both cores busy)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - t
    return wall, (time.process_time() - c) / wall


def run_workload(name: str) -> dict[str, Any]:
    missing = wl.missing_layers(name)
    if missing:
        return {"skipped": f"duallearn layers not available yet: {', '.join(missing)}"}
    d = wl.Data(name, args.quick, args.scale)
    systems: dict[str, Any] = {}
    warmup: dict[str, float] = {}
    try:
        systems[dl_name] = wl.build_duallearn(d, args.engine)
        warmup[dl_name] = timed(systems[dl_name][0])[0]  # also proves the backend has the layers
    except Exception as e:  # a layer whose native implementation has not landed yet
        return {"skipped": f"duallearn {args.engine} failed: {type(e).__name__}: {str(e)[:300]}"}
    systems[native_name] = build_native(d)
    if keras_ok:
        systems[keras_name] = wl.build_keras(d)
    names = list(systems)
    for n in names[1:]:
        warmup[n] = timed(systems[n][0])[0]
    predict = name == "mlp"
    if predict:
        for n in names:
            systems[n][1]()  # warm-up (tracing)
    train: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    pred: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            wall, util = timed(systems[n][0])
            train[n].append(wall)
            cpu[n].append(round(util, 2))
            if predict:
                pred[n].append(timed(systems[n][1])[0])
        print(f"[{args.engine}] {name}: round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
    out: dict[str, Any] = {"samples": d.n, "batch": d.bs, "rounds": args.rounds, "systems": {}}
    for n in names:
        s: dict[str, Any] = {
            "train_samples_per_s": round(d.n / statistics.median(train[n]), 1),
            "epoch_s": [round(t, 4) for t in train[n]],
            "warmup_epoch_s": round(warmup[n], 3),
            "cpu_util": cpu[n],
            # per-round speed relative to the native loop of this engine (>1: faster)
            "train_ratio_to_native": _ratio(train[native_name], train[n]),
        }
        if predict:
            s["predict_samples_per_s"] = round(d.n / statistics.median(pred[n]), 1)
            s["predict_s"] = [round(t, 4) for t in pred[n]]
            s["predict_ratio_to_native"] = _ratio(pred[native_name], pred[n])
        out["systems"][n] = s
    return out


def _ratio(native: list[float], mine: list[float]) -> dict[str, float]:
    r = [a / b for a, b in zip(native, mine, strict=True)]
    return {
        "median": round(statistics.median(r), 3),
        "min": round(min(r), 3),
        "max": round(max(r), 3),
    }


result: dict[str, Any] = {"engine": args.engine, "keras": keras_ok, "workloads": {}}
for w in args.workloads.split(","):
    try:
        result["workloads"][w] = run_workload(w)
    except Exception as e:
        traceback.print_exc()
        result["workloads"][w] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    print(f"[{args.engine}] {w}: done", file=sys.stderr, flush=True)
with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
