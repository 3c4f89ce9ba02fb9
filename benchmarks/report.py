"""Markdown tables of a benchmark result, for docs/benchmarks.md.

.venv/bin/python benchmarks/report.py [benchmarks/results/benchmark.json]
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = {
    "torch": ["duallearn_torch", "torch", "keras_torch"],
    "tensorflow": ["duallearn_tf", "tf", "keras_tf"],
}


def cell(s: dict[str, Any] | None, kind: str) -> str:
    if s is None or f"{kind}_samples_per_s" not in s:
        return "–"
    q = s[f"{kind}_ratio_to_native"]
    return (
        f"{s[f'{kind}_samples_per_s']:,.0f} (×{q['median']:.2f} [{q['min']:.2f}..{q['max']:.2f}])"
    )


def main(path: str) -> None:
    with open(path) as f:
        r = json.load(f)
    c = r["conditions"]
    print(
        f"Run: `{r['command']}` on {r['date_utc']}; {c['note']}; load average "
        f"{c['loadavg_start'][0]:.1f} at start, {c.get('loadavg_end', [0])[0]:.1f} at end; "
        f"{c.get('total_s', '?')} s in all.\n"
    )
    for engine, systems in SYSTEMS.items():
        eng = r["engines"].get(engine)
        if eng is None:
            continue
        print(
            f"**{engine}** — samples/s, median over rounds (× per-round speed relative to the "
            "native loop of the same engine, median [min..max])\n"
        )
        print("| workload | " + " | ".join(systems) + " |")
        print("|---|" + "---|" * len(systems))
        for w, res in eng.get("workloads", {}).items():
            if "systems" not in res:
                reason = res.get("skipped") or res.get("error", "")
                print(f"| {w} train | skipped: {reason} |" + " |" * (len(systems) - 1))
                continue
            for kind in ("train", "predict"):
                row = [cell(res["systems"].get(n), kind) for n in systems]
                if any(x != "–" for x in row):
                    print(f"| {w} {kind} | " + " | ".join(row) + " |")
        print()
    i = r.get("import")
    if i:
        print(
            f"`import duallearn`: {i['import_duallearn_s']:.3f} s vs bare `python -c pass` "
            f"{i['bare_python_s']:.3f} s (median of {i['repeats']}): **+{i['added_s']:.3f} s**; "
            f"frameworks imported: {', '.join(i['frameworks_imported']) or 'none'}.\n"
        )
    for k, v in r.get("rss", {}).items():
        if "ratio" in v:
            print(
                f"Peak RSS during fit ({k}): duallearn {v['duallearn_mb']:.0f} MB, native "
                f"{v['native_mb']:.0f} MB: ×{v['ratio']:.2f}.\n"
            )
    print("| target | value | goal | |")
    print("|---|---|---|---|")
    for t in r["targets"]:
        mark = {True: "hit", False: "**miss**", None: "not measured"}[t["hit"]]
        note = f" ({t['note']})" if t["note"] else ""
        print(f"| {t['target']} | {t['value']} | {t['goal']} | {mark}{note} |")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--png=")]
    src = args[0] if args else os.path.join(HERE, "results", "benchmark.json")
    main(src)
    for a in sys.argv[1:]:  # --png=PATH: redraw the chart from the JSON
        if a.startswith("--png="):
            sys.path.insert(0, HERE)
            import run

            with open(src) as f:
                run.chart(json.load(f), a[len("--png=") :])
