"""duallearn vs hand-written native loops vs Keras 3, on PyTorch and TensorFlow.

    .venv/bin/python benchmarks/run.py [--quick] [--rounds 4] [--workloads mlp,cnn,lstm]
        [--engines torch,tensorflow] [--scale F] [--scenario alone,neighbours] [--bf16]
        [--no-keras] [--no-rss] [--no-chart] [--out-dir DIR] [--json PATH]
    .venv/bin/python benchmarks/run.py --report results/benchmark.json   # tables only

One process per engine and scenario (``_engine.py``) runs duallearn, the native loop and
Keras 3 on that engine interleaved epoch by epoch; the scenarios (``--scenario``) add
neighbours: the other framework loaded and run in the same process, and/or a second process
spinning a numpy matmul loop (``_neighbours.py``). ``--bf16`` adds the mixed-bfloat16 vs
float32 table (``_bf16.py``). ``import duallearn`` time and peak RSS during ``fit`` are
measured in fresh subprocesses (``_rss.py``). Prints markdown tables (samples/s median and
min over rounds, per-round ratios to the native loop and to Keras 3, median and min), checks
the targets of docs/benchmarks.md and issue 20, and writes ``benchmark.json`` and
``benchmark.png`` to the output folder (default ``benchmarks/results``;
``benchmarks/results/quick`` with ``--quick``), and the JSON to ``--json PATH`` as well.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import signal
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
    ("torch", "mlp"): 2.0,  # issue 20 (was 1.8)
    ("torch", "cnn"): 2.0,
    ("torch", "lstm"): 4.0,
    ("tensorflow", "mlp"): 1.0,
    ("tensorflow", "cnn"): 1.0,
    ("tensorflow", "lstm"): 1.0,
}
NATIVE_TARGET = 0.95  # median (alone) and min over rounds (every scenario)
MLP_NATIVE_TARGET = 1.5  # issue 20: MLP train, median, both engines
MLP_TARGET_WORKLOADS = ("mlp",)
IMPORT_TARGET_S = 0.15
RSS_TARGET = 1.15


def log(msg: str) -> None:
    print(msg, flush=True)


def engine_installed(engine: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(engine) is not None


SCENARIOS = {
    "alone": "as today: one engine per process, nothing else loaded",
    "framework": "the other framework loaded and run in the same process",
    "busy": "a second process spinning a numpy matmul loop",
    "neighbours": "the other framework in the process and a second busy process",
}


def run_child(cmd: list[str], tag: str, out: str) -> dict[str, Any]:
    """Run a benchmark child process; pass its progress lines (``tag``...) through."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert p.stdout is not None
    for line in p.stdout:  # progress lines through, the rest kept for an error report
        if line.startswith(tag):
            log("  " + line.rstrip())
        tail = (tail + [line])[-40:]
    if p.wait() != 0 or not os.path.exists(out):
        return {"error": "".join(tail)[-2000:]}
    with open(out) as f:
        return json.load(f)


def start_busy(threads: int) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [PY, os.path.join(HERE, "_neighbours.py"), "busy", "--threads", str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # let it start spinning before the engine process does
    return p


def stop_busy(p: subprocess.Popen[str]) -> dict[str, Any]:
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    try:
        return dict(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"error": (err or out)[-500:]}


def run_engine(engine: str, a: argparse.Namespace, scenario: str = "alone") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        args = [engine, "--workloads", a.workloads, "--rounds", str(a.rounds), "--out", out]
        args += ["--quick"] if a.quick else []
        args += ["--no-keras"] if a.no_keras else []
        args += ["--scale", str(a.scale)]
        if scenario in ("framework", "neighbours"):
            cmd = [PY, os.path.join(HERE, "_neighbours.py"), "framework", *args]
        else:
            cmd = [PY, os.path.join(HERE, "_engine.py"), *args]
        busy = start_busy(a.busy_threads) if scenario in ("busy", "neighbours") else None
        try:
            res = run_child(cmd, f"[{engine}]", out)
        finally:  # the busy process runs until the engine process has finished its rounds
            busy_info = stop_busy(busy) if busy is not None else None
        res.setdefault("engine", engine)
        if busy_info is not None:
            res["busy"] = {"threads": a.busy_threads, **busy_info}
        return res


def run_bf16(engine: str, a: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        cmd = [PY, os.path.join(HERE, "_bf16.py"), engine, "--workloads", a.workloads]
        cmd += ["--rounds", str(a.rounds), "--scale", str(a.scale), "--out", out]
        cmd += ["--quick"] if a.quick else []
        res = run_child(cmd, f"[{engine}] bf16", out)
        res.setdefault("engine", engine)
        return res


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


# ------------------------------------------------------------------------------- statistics
def _ratio(base: list[float], mine: list[float]) -> dict[str, float]:
    """Per-round speed of ``mine`` relative to ``base`` (base time / my time, >1: faster):
    median, min and max over rounds."""
    r = [b / m for b, m in zip(base, mine, strict=True)]
    return {
        "median": round(statistics.median(r), 3),
        "min": round(min(r), 3),
        "max": round(max(r), 3),
    }


def add_stats(eng: dict[str, Any]) -> None:
    """Per system and kind (train, predict): samples/s at the median, slowest (min) and
    fastest (max) round, and the per-round ratios to the native loop and to Keras 3."""
    native = ENGINES.get(eng.get("engine", ""), "")
    for r in eng.get("workloads", {}).values():
        systems = r.get("systems")
        if not systems:
            continue
        for kind, key in (("train", "epoch_s"), ("predict", "predict_s")):
            base = systems.get(native, {}).get(key)
            keras = systems.get(f"keras_{native}", {}).get(key)
            for s in systems.values():
                times = s.get(key)
                if not times:
                    continue
                n = r["samples"]
                s[f"{kind}_samples_per_s"] = round(n / statistics.median(times), 1)
                s[f"{kind}_samples_per_s_min"] = round(n / max(times), 1)
                s[f"{kind}_samples_per_s_max"] = round(n / min(times), 1)
                # and the fastest round against the fastest round (``_best``)
                for ref, name in ((base, "native"), (keras, "keras")):
                    if ref:
                        s[f"{kind}_ratio_to_{name}"] = _ratio(ref, times)
                        s[f"{kind}_ratio_to_{name}_best"] = round(min(ref) / min(times), 3)


def bf16_rows(eng: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the mixed-bfloat16 table: per workload, kind and system family (duallearn,
    native), float32 and bfloat16 samples/s and per-round bf16 / fp32 speed."""
    native = ENGINES[eng["engine"]]
    rows: list[dict[str, Any]] = []
    for w, r in eng.get("workloads", {}).items():
        if "systems" not in r:
            rows.append({"workload": w, "skipped": r.get("skipped") or r.get("error", "")})
            continue
        s = r["systems"]
        for kind, key in (("train", "epoch_s"), ("predict", "predict_s")):
            if key not in s[native]:
                continue
            nat_bf = s[f"{native}_bf16"][key]
            for fam in (f"duallearn_{native}", native):
                fp, bf = s[fam][key], s[f"{fam}_bf16"][key]
                row = {
                    "workload": w,
                    "kind": kind,
                    "system": fam,
                    "float32_samples_per_s": round(r["samples"] / statistics.median(fp), 1),
                    "bf16_samples_per_s": round(r["samples"] / statistics.median(bf), 1),
                    "bf16_over_fp32": _ratio(fp, bf),
                    "bf16_ratio_to_native_bf16": _ratio(nat_bf, bf),
                    "policy": s[f"{fam}_bf16"].get("policy", "autocast / cast"),
                }
                rows.append(row)
    return rows


# ---------------------------------------------------------------------------------- targets
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

    for scenario, sc in result.get("scenarios", {"alone": result}).items():
        pre = "" if scenario == "alone" else f"[{scenario}] "
        for engine, eng in sc["engines"].items():
            native = ENGINES[engine]
            for w, r in eng.get("workloads", {}).items():
                if "systems" not in r:
                    add(
                        f"{pre}{engine} {w}: duallearn / native train",
                        None,
                        NATIVE_TARGET,
                        True,
                        r.get("skipped") or r.get("error", ""),
                    )
                    continue
                dl = r["systems"][f"duallearn_{native}"]
                for kind in ("train", "predict"):
                    q = dl.get(f"{kind}_ratio_to_native")
                    if q is None:
                        continue
                    label = f"{pre}{engine} {w}" + (
                        ": duallearn / native train"
                        if kind == "train"
                        else " predict: duallearn / native"
                    )
                    if not pre:  # the median targets of docs/benchmarks.md, alone only
                        add(label, q["median"], NATIVE_TARGET, True)
                    add(label + ", min over rounds", q["min"], NATIVE_TARGET, True)
                if not pre and w in MLP_TARGET_WORKLOADS:
                    add(
                        f"{engine} {w}: duallearn / native train (issue 20)",
                        dl["train_ratio_to_native"]["median"],
                        MLP_NATIVE_TARGET,
                        True,
                    )
                k = dl.get("train_ratio_to_keras")
                if k is not None and not pre:
                    add(
                        f"{engine} {w}: duallearn / Keras 3 train",
                        k["median"],
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


# ----------------------------------------------------------------------------------- tables
def md_table(header: list[str], rows: list[list[str]]) -> str:
    rows = [[c.replace("\n", " ").replace("|", "/") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _n(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}"


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def engine_table(eng: dict[str, Any]) -> str:
    header = [
        "workload",
        "system",
        "samples/s median",
        "samples/s min",
        "× native median",
        "× native min",
        "× Keras 3 median",
        "× Keras 3 min",
    ]
    rows: list[list[str]] = []
    for w, r in eng.get("workloads", {}).items():
        if "systems" not in r:
            rows.append([w, "skipped: " + str(r.get("skipped") or r.get("error"))] + [""] * 6)
            continue
        for kind in ("train", "predict"):
            for n, s in r["systems"].items():
                if f"{kind}_samples_per_s" not in s:
                    continue
                q = s.get(f"{kind}_ratio_to_native", {})
                k = s.get(f"{kind}_ratio_to_keras", {})
                rows.append(
                    [
                        f"{w} {kind}",
                        n,
                        _n(s[f"{kind}_samples_per_s"]),
                        _n(s.get(f"{kind}_samples_per_s_min")),
                        _x(q.get("median")),
                        _x(q.get("min")),
                        _x(k.get("median")),
                        _x(k.get("min")),
                    ]
                )
    return md_table(header, rows)


def _neighbour_note(eng: dict[str, Any]) -> str:
    notes = []
    nb = eng.get("neighbour")
    if nb:
        notes.append(f"in the process: {', '.join(nb['loaded'])} ({nb['built']})")
    busy = eng.get("busy")
    if busy:
        rate = busy.get("matmuls_per_s", busy.get("error", "?"))
        notes.append(
            f"busy process: numpy 384×384 matmul loop, {busy['threads']} thread(s), "
            f"{rate} matmuls/s over {busy.get('seconds', '?')} s"
        )
    return "; ".join(notes)


def print_tables(result: dict[str, Any]) -> None:
    rounds = result["conditions"]["rounds"]
    scenarios = result.get("scenarios", {"alone": {"engines": result["engines"]}})
    log(
        f"\nsamples/s over {rounds} round(s): median and min (the slowest round); × = per-round "
        "speed relative to the native loop / Keras 3 of the same engine in the same process "
        "(>1: faster), median and min over rounds."
    )
    for scenario, sc in scenarios.items():
        for engine, eng in sc["engines"].items():
            log(f"\n### {engine}, scenario {scenario}: {SCENARIOS.get(scenario, '')}\n")
            if "error" in eng or "skipped" in eng:
                log(f"{engine}: {'FAILED' if 'error' in eng else 'skipped'}\n")
                log(eng.get("error") or eng.get("skipped", ""))
                continue
            note = _neighbour_note(eng)
            if note:
                log(note + "\n")
            log(engine_table(eng))
    if len(scenarios) > 1:
        names = list(scenarios)
        log("\n### duallearn / native loop by scenario (median and min over rounds)\n")
        header = ["engine", "workload"] + [f"{s} {m}" for s in names for m in ("median", "min")]
        rows = []
        for engine, native in ENGINES.items():
            keys: list[tuple[str, str]] = []
            for sc in scenarios.values():
                for w, r in sc["engines"].get(engine, {}).get("workloads", {}).items():
                    for kind in ("train", "predict"):
                        if (w, kind) not in keys and f"{kind}_samples_per_s" in r.get(
                            "systems", {}
                        ).get(native, {}):
                            keys.append((w, kind))
            for w, kind in keys:
                row = [engine, f"{w} {kind}"]
                for s in names:
                    sys_ = (
                        scenarios[s]["engines"]
                        .get(engine, {})
                        .get("workloads", {})
                        .get(w, {})
                        .get("systems", {})
                        .get(f"duallearn_{native}", {})
                    )
                    q = sys_.get(f"{kind}_ratio_to_native", {})
                    row += [_x(q.get("median")), _x(q.get("min"))]
                rows.append(row)
        log(md_table(header, rows))
    bf = result.get("bf16")
    if bf:
        cpu = bf["cpu"]
        log(
            f"\n### mixed bfloat16 vs float32 (CPU: {cpu['model']}; amx_bf16: "
            f"{'yes' if cpu['amx_bf16'] else 'no'}; avx512_bf16: "
            f"{'yes' if cpu['avx512_bf16'] else 'no'})\n"
        )
        log(
            "duallearn: dtype policy 'mixed_bfloat16' vs 'float32'; native: torch.autocast(cpu, "
            "bfloat16) / TF casts to bfloat16 in the step, vs the float32 loop. bf16 / fp32 = "
            "per-round speed of bfloat16 relative to float32 (>1: bf16 faster); × native bf16 = "
            "per-round speed relative to the native loop in bfloat16.\n"
        )
        header = [
            "engine",
            "workload",
            "system",
            "float32 samples/s",
            "bf16 samples/s",
            "bf16 / fp32 median",
            "bf16 / fp32 min",
            "× native bf16 median",
        ]
        rows = []
        for engine, eng in bf["engines"].items():
            if "error" in eng:
                rows.append([engine, "FAILED", eng["error"][-200:].replace("\n", " ")] + [""] * 5)
                continue
            for br in bf16_rows(eng):
                if "skipped" in br:
                    rows.append([engine, br["workload"], "skipped: " + br["skipped"]] + [""] * 5)
                    continue
                rows.append(
                    [
                        engine,
                        f"{br['workload']} {br['kind']}",
                        br["system"],
                        _n(br["float32_samples_per_s"]),
                        _n(br["bf16_samples_per_s"]),
                        _x(br["bf16_over_fp32"]["median"]),
                        _x(br["bf16_over_fp32"]["min"]),
                        _x(br["bf16_ratio_to_native_bf16"]["median"]),
                    ]
                )
        log(md_table(header, rows))
    if "import" in result:
        i = result["import"]
        log(
            f"\n`import duallearn`: {i['import_duallearn_s']:.3f} s vs bare python "
            f"{i['bare_python_s']:.3f} s: +{i['added_s']:.3f} s; frameworks imported: "
            f"{i['frameworks_imported'] or 'none'}"
        )
    for k, r in result.get("rss", {}).items():
        if "ratio" in r:
            log(
                f"\npeak RSS {k}: duallearn {r['duallearn_mb']} MB vs native {r['native_mb']} MB"
                f" = ×{r['ratio']}"
            )
        else:
            log(f"\npeak RSS {k}: FAILED {r.get('error', '')[-300:]}")
    log("\n### targets:\n")
    marks = {True: "hit", False: "**MISS**", None: "n/a"}
    log(
        md_table(
            ["target", "value", "goal", "", "note"],
            [
                [t["target"], str(t["value"]), t["goal"], marks[t["hit"]], t["note"]]
                for t in result["targets"]
            ],
        )
    )


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
    ap.add_argument(
        "--scenario",
        default="alone",
        help="comma-separated, each gets its own tables: "
        + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items())
        + " (default alone)",
    )
    ap.add_argument(
        "--busy-threads", type=int, default=1, help="BLAS threads of the busy process (default 1)"
    )
    ap.add_argument("--bf16", action="store_true", help="also the mixed_bfloat16 vs float32 table")
    ap.add_argument("--no-keras", action="store_true")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--import-repeats", type=int, default=None)
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the result here")
    ap.add_argument(
        "--report", default=None, metavar="JSON", help="print the tables of a saved result only"
    )
    a = ap.parse_args()
    if a.report:
        with open(a.report) as f:
            saved = json.load(f)
        for sc in saved.get("scenarios", {"alone": saved}).values():
            for eng in sc["engines"].values():
                add_stats(eng)  # min and Keras ratios for results saved before they existed
        print_tables(saved)
        return
    scenarios = [s for s in a.scenario.split(",") if s]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        ap.error(f"--scenario: unknown {unknown}; choose from {', '.join(SCENARIOS)}")
    a.rounds = a.rounds or (1 if a.quick else 4)
    out_dir = a.out_dir or os.path.join(HERE, "results", "quick" if a.quick else "")
    os.makedirs(out_dir, exist_ok=True)
    engines = a.engines.split(",")

    versions = {}
    for pkg in ("duallearn", "numpy", "torch", "tensorflow-cpu", "tensorflow", "keras"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    sys.path.insert(0, HERE)
    from _bf16 import cpu_info

    result: dict[str, Any] = {
        "command": " ".join([os.path.relpath(PY), *sys.argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "conditions": {
            "cpus": os.cpu_count(),
            "cpu": cpu_info(),
            "python": platform.python_version(),
            "loadavg_start": list(os.getloadavg()),
            "threads": "intra 2, inter 2",
            "quick": a.quick,
            "scale": a.scale,
            "rounds": a.rounds,
            "scenarios": scenarios,
            "busy_threads": a.busy_threads,
            "versions": versions,
            "note": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
            f"{'quick' if a.quick else f'scale {a.scale:g}'}, {a.rounds} rounds",
        },
        "scenarios": {},
    }
    t0 = time.perf_counter()
    for scenario in scenarios:
        here: dict[str, Any] = {"description": SCENARIOS[scenario], "engines": {}}
        result["scenarios"][scenario] = here
        for engine in engines:
            if not engine_installed(engine):
                here["engines"][engine] = {
                    "engine": engine,
                    "skipped": f"{engine} not installed",
                    "workloads": {},
                }
                continue
            log(f"running {engine} (scenario {scenario}) ...")
            here["engines"][engine] = run_engine(engine, a, scenario)
            add_stats(here["engines"][engine])
    # the first scenario's tables are also the top-level "engines" (chart, report.py)
    result["engines"] = result["scenarios"][scenarios[0]]["engines"]
    if a.bf16:
        result["bf16"] = {"cpu": result["conditions"]["cpu"], "engines": {}}
        for engine in engines:
            if engine_installed(engine):
                log(f"mixed bfloat16 vs float32, {engine} ...")
                eng = run_bf16(engine, a)
                if "error" not in eng:
                    eng["rows"] = bf16_rows(eng)
                result["bf16"]["engines"][engine] = eng
    log("import time ...")
    result["import"] = import_time(a.import_repeats or (3 if a.quick else 9))
    if not a.no_rss:
        result["rss"] = {}
        for engine in engines:
            if engine_installed(engine):
                log(f"peak RSS {engine} mlp ...")
                result["rss"][f"{engine} mlp"] = peak_rss(engine, "mlp", a.quick, a.scale)
    result["conditions"]["loadavg_end"] = list(os.getloadavg())
    result["conditions"]["total_s"] = round(time.perf_counter() - t0, 1)
    result["targets"] = check_targets(result)
    png = os.path.join(out_dir, "benchmark.png")
    result["chart"] = None if a.no_chart or not chart(result, png) else os.path.basename(png)
    paths = [os.path.join(out_dir, "benchmark.json")] + ([a.json] if a.json else [])
    for path in paths:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
    print_tables(result)
    log(f"\nwrote {' and '.join(paths)}" + (f" and {png}" if result["chart"] else ""))


if __name__ == "__main__":
    main()
