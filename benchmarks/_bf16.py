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

    native, build_native = wl.native_for(args.engine)

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
        fns[f"{native}_bf16"] = build_native(d, bf16=True)
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
