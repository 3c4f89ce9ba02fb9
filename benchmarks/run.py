"""duallearn vs hand-written native loops vs Keras 3, on PyTorch and TensorFlow.

    .venv/bin/python benchmarks/run.py [--quick] [--rounds 4] [--workloads mlp,cnn,lstm]
                                       [--no-keras] [--no-rss] [--out-dir DIR]

One process per engine (``_engine.py``) runs duallearn, the native loop and Keras 3 on that
engine interleaved epoch by epoch; ``import duallearn`` time and peak RSS during ``fit`` are
measured in fresh subprocesses (``_rss.py``). Prints samples/s and ratios, checks the targets
of docs/benchmarks.md, and writes ``benchmark.json`` and ``benchmark.png`` to the output folder
(default ``benchmarks/results``; ``benchmarks/results/quick`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
ENGINES = {"torch": "torch", "tensorflow": "tf"}
# speed targets: (kind, engine, workload, minimum)
KERAS_TARGETS = {
    ("torch", "mlp"): 1.8,
    ("torch", "cnn"): 1.8,
    ("torch", "lstm"): 4.0,
    ("tensorflow", "mlp"): 1.0,
    ("tensorflow", "cnn"): 1.0,
    ("tensorflow", "lstm"): 1.0,
}
NATIVE_TARGET = 0.95
IMPORT_TARGET_S = 0.15
RSS_TARGET = 1.15


def log(msg: str) -> None:
    print(msg, flush=True)


def engine_installed(engine: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(engine) is not None


def run_engine(engine: str, a: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        cmd = [
            PY,
            os.path.join(HERE, "_engine.py"),
            engine,
            "--workloads",
            a.workloads,
            "--rounds",
            str(a.rounds),
            "--out",
            out,
        ]
        cmd += ["--quick"] if a.quick else []
        cmd += ["--no-keras"] if a.no_keras else []
        cmd += ["--scale", str(a.scale)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: list[str] = []
        assert p.stdout is not None
        for line in p.stdout:  # progress lines through, the rest kept for an error report
            if line.startswith(f"[{engine}]"):
                log("  " + line.rstrip())
            tail = (tail + [line])[-40:]
        if p.wait() != 0 or not os.path.exists(out):
            return {"engine": engine, "error": "".join(tail)[-2000:]}
        with open(out) as f:
            return json.load(f)


def import_time(repeats: int) -> dict[str, Any]:
    """Wall time of ``python -c 'import duallearn'`` minus ``python -c pass`` (medians), and
    which frameworks the import pulled in (must be none)."""
    probe = (
        "import sys, duallearn; print(','.join(m for m in ('torch', 'tensorflow', 'keras', "
        "'jax') if m in sys.modules))"
    )

    def wall(code: str) -> tuple[float, str]:
        t = time.perf_counter()
        p = subprocess.run([PY, "-c", code], stdout=subprocess.PIPE, text=True, check=True)
        return time.perf_counter() - t, p.stdout.strip()

    bare, dl, loaded = [], [], ""
    for _ in range(repeats):  # alternate, so load hits both alike
        bare.append(wall("pass")[0])
        t, loaded = wall(probe)
        dl.append(t)
    b, d = statistics.median(bare), statistics.median(dl)
    return {
        "bare_python_s": round(b, 4),
        "import_duallearn_s": round(d, 4),
        "added_s": round(d - b, 4),
        "frameworks_imported": [m for m in loaded.split(",") if m],
        "repeats": repeats,
    }


def peak_rss(engine: str, workload: str, quick: bool, scale: float) -> dict[str, Any]:
    """Peak RSS of the native loop and of duallearn, each in its own process (the two run at
    the same time: ru_maxrss is per process, and no timing is taken)."""
    res: dict[str, Any] = {}
    procs = {}
    for system in ("native", "duallearn"):
        cmd = [PY, os.path.join(HERE, "_rss.py"), system, engine, workload]
        cmd += ["--quick", "--epochs", "1"] if quick else ["--scale", str(scale)]
        procs[system] = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    outs = {system: (p.communicate(), p.returncode) for system, p in procs.items()}
    for system, ((out, err), rc) in outs.items():
        if rc != 0:
            return {"error": err[-1000:]}
        res[f"{system}_mb"] = json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]
    res["ratio"] = round(res["duallearn_mb"] / res["native_mb"], 3)
    return res


def check_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: float, higher: bool, note: str = "") -> None:
        hit = None if value is None else (value >= target if higher else value <= target)
        rows.append(
            {
                "target": name,
                "value": value,
                "goal": f"{'>=' if higher else '<='} {target}",
                "hit": hit,
                "note": note,
            }
        )

    for engine, eng in result["engines"].items():
        native = ENGINES[engine]
        for w, r in eng.get("workloads", {}).items():
            if "systems" not in r:
                add(
                    f"{engine} {w}: duallearn / native train",
                    None,
                    NATIVE_TARGET,
                    True,
                    r.get("skipped") or r.get("error", ""),
                )
                continue
            s = r["systems"]
            dl = s[f"duallearn_{native}"]
            add(
                f"{engine} {w}: duallearn / native train",
                dl["train_ratio_to_native"]["median"],
                NATIVE_TARGET,
                True,
            )
            if "predict_ratio_to_native" in dl:
                add(
                    f"{engine} {w} predict: duallearn / native",
                    dl["predict_ratio_to_native"]["median"],
                    NATIVE_TARGET,
                    True,
                )
            k = s.get(f"keras_{native}")
            if k is not None:
                ratios = [kt / dt for kt, dt in zip(k["epoch_s"], dl["epoch_s"], strict=True)]
                add(
                    f"{engine} {w}: duallearn / Keras 3 train",
                    round(statistics.median(ratios), 3),
                    KERAS_TARGETS[(engine, w)],
                    True,
                )
    imp = result.get("import")
    if imp:
        add(
            "import duallearn: added seconds",
            imp["added_s"],
            IMPORT_TARGET_S,
            False,
            f"frameworks imported: {imp['frameworks_imported'] or 'none'}",
        )
    for key, r in result.get("rss", {}).items():
        add(
            f"peak RSS during fit ({key}): duallearn / native",
            r.get("ratio"),
            RSS_TARGET,
            False,
            r.get("error", ""),
        )
    return rows


def print_tables(result: dict[str, Any]) -> None:
    for engine, eng in result["engines"].items():
        if "error" in eng:
            log(f"\n{engine}: FAILED\n{eng['error']}")
            continue
        native = ENGINES[engine]
        log(
            f"\n== {engine} (one process, interleaved; samples/s = median over rounds; "
            f"ratio = per-round speed / native {native}, median [min..max])"
        )
        for w, r in eng["workloads"].items():
            if "systems" not in r:
                log(f"  {w:5s} SKIPPED: {r.get('skipped') or r.get('error')}")
                continue
            for kind in ("train", "predict"):
                key = f"{kind}_samples_per_s"
                for n, s in r["systems"].items():
                    if key not in s:
                        continue
                    q = s[f"{kind}_ratio_to_native"]
                    log(
                        f"  {w + ' ' + kind:14s} {n:16s} {s[key]:10.0f} samples/s"
                        f"   x{q['median']:.3f}"
                        f" [{q['min']:.2f}..{q['max']:.2f}]"
                    )
    if "import" in result:
        i = result["import"]
        log(
            f"\nimport duallearn: {i['import_duallearn_s']:.3f} s vs bare python "
            f"{i['bare_python_s']:.3f} s: +{i['added_s']:.3f} s; frameworks imported: "
            f"{i['frameworks_imported'] or 'none'}"
        )
    for k, r in result.get("rss", {}).items():
        if "ratio" in r:
            log(
                f"peak RSS {k}: duallearn {r['duallearn_mb']} MB vs native {r['native_mb']} MB"
                f" = x{r['ratio']}"
            )
        else:
            log(f"peak RSS {k}: FAILED {r.get('error', '')[-300:]}")
    log("\ntargets:")
    for t in result["targets"]:
        mark = {True: "HIT ", False: "MISS", None: "n/a "}[t["hit"]]
        log(f"  [{mark}] {t['target']}: {t['value']} (goal {t['goal']}) {t['note']}")


def chart(result: dict[str, Any], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        return False
    order = ["duallearn_torch", "torch", "keras_torch", "duallearn_tf", "tf", "keras_tf"]
    colors = {
        "duallearn_torch": "#c0392b",
        "torch": "#e59866",
        "keras_torch": "#f5cba7",
        "duallearn_tf": "#1f618d",
        "tf": "#5dade2",
        "keras_tf": "#aed6f1",
    }
    groups: dict[str, dict[str, tuple[float, float]]] = {}
    for eng in result["engines"].values():
        for w, r in eng.get("workloads", {}).items():
            for n, s in r.get("systems", {}).items():
                for kind in ("train", "predict"):
                    if f"{kind}_samples_per_s" in s:
                        g = groups.setdefault(f"{w} {kind}", {})
                        g[n] = (s[f"{kind}_samples_per_s"], s[f"{kind}_ratio_to_native"]["median"])
    if not groups:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(order)
    for ax, idx, ylabel in (
        (axes[0], 0, "samples/s (log)"),
        (axes[1], 1, "speed / native loop of the same engine"),
    ):
        for j, n in enumerate(order):
            xs = [
                i + (j - len(order) / 2 + 0.5) * width
                for i, g in enumerate(groups.values())
                if n in g
            ]
            ys = [g[n][idx] for g in groups.values() if n in g]
            if xs:
                ax.bar(xs, ys, width, label=n, color=colors[n])
        ax.set_xticks(range(len(groups)), list(groups))
        ax.set_ylabel(ylabel)
        if idx == 0:
            ax.set_yscale("log")
        else:
            ax.axhline(NATIVE_TARGET, color="k", ls="--", lw=0.8)
    axes[1].legend(fontsize=8, ncol=2)
    fig.suptitle(
        f"duallearn vs native loops vs Keras 3 ({result['conditions']['note']})", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="few batches, 1 round (smoke test)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 4; quick 1)")
    ap.add_argument("--workloads", default="mlp,cnn,lstm")
    ap.add_argument("--engines", default="torch,tensorflow")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="fraction of each epoch's samples (noisy hosts)"
    )
    ap.add_argument("--no-keras", action="store_true")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--import-repeats", type=int, default=None)
    ap.add_argument("--out-dir", default=None)
    a = ap.parse_args()
    a.rounds = a.rounds or (1 if a.quick else 4)
    out_dir = a.out_dir or os.path.join(HERE, "results", "quick" if a.quick else "")
    os.makedirs(out_dir, exist_ok=True)

    versions = {}
    for pkg in ("duallearn", "numpy", "torch", "tensorflow-cpu", "tensorflow", "keras"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    result: dict[str, Any] = {
        "command": " ".join([os.path.relpath(PY), *sys.argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "conditions": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": list(os.getloadavg()),
            "threads": "intra 2, inter 2",
            "quick": a.quick,
            "scale": a.scale,
            "rounds": a.rounds,
            "versions": versions,
            "note": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
            f"{'quick' if a.quick else f'scale {a.scale:g}'}, {a.rounds} rounds",
        },
        "engines": {},
    }
    t0 = time.perf_counter()
    for engine in a.engines.split(","):
        if not engine_installed(engine):
            result["engines"][engine] = {
                "engine": engine,
                "skipped": f"{engine} not installed",
                "workloads": {},
            }
            continue
        log(f"running {engine} ...")
        result["engines"][engine] = run_engine(engine, a)
    log("import time ...")
    result["import"] = import_time(a.import_repeats or (3 if a.quick else 9))
    if not a.no_rss:
        result["rss"] = {}
        for engine in a.engines.split(","):
            if engine_installed(engine):
                log(f"peak RSS {engine} mlp ...")
                result["rss"][f"{engine} mlp"] = peak_rss(engine, "mlp", a.quick, a.scale)
    result["conditions"]["loadavg_end"] = list(os.getloadavg())
    result["conditions"]["total_s"] = round(time.perf_counter() - t0, 1)
    result["targets"] = check_targets(result)
    png = os.path.join(out_dir, "benchmark.png")
    result["chart"] = os.path.basename(png) if chart(result, png) else None
    with open(os.path.join(out_dir, "benchmark.json"), "w") as f:
        json.dump(result, f, indent=1)
    print_tables(result)
    log(
        f"\nwrote {os.path.join(out_dir, 'benchmark.json')}"
        + (f" and {png}" if result["chart"] else "")
    )


if __name__ == "__main__":
    main()
