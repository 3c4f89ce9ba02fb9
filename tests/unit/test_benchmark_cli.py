"""benchmarks/run.py at its smallest size (one workload, two batches, two rounds, torch): the
markdown tables carry the median and the minimum over rounds, the per-scenario sections
(alone, neighbours) and the mixed-bfloat16 table, and ``--json`` writes the result. Asserts
the structure and that the figures are positive numbers, never timings (the host is shared)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the benchmark CLI test runs on torch"
)


def _tables(out: str) -> dict[str, list[list[str]]]:
    """Markdown tables of the output, each under the last ``### `` heading before it."""
    tables: dict[str, list[list[str]]] = {}
    heading = ""
    for line in out.splitlines():
        if line.startswith("### "):
            heading = line[4:]
        elif line.startswith("| ") and not line.startswith("|---"):
            tables.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return tables


def _positive(cell: str) -> float:
    value = float(cell.replace(",", ""))
    assert value > 0, cell
    return value


def test_smallest_benchmark_prints_min_median_scenarios_and_bf16(tmp_path: Path) -> None:
    json_path = tmp_path / "r.json"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--engines",
        "torch",
        "--workloads",
        "mlp",
        "--scale",
        "0.003",  # 180 samples: two batches
        "--rounds",
        "2",
        "--no-keras",
        "--no-rss",
        "--no-chart",
        "--import-repeats",
        "1",
        "--scenario",
        "alone,neighbours",
        "--bf16",
        "--out-dir",
        str(tmp_path),
        "--json",
        str(json_path),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    tables = _tables(p.stdout)

    for scenario in ("alone", "neighbours"):
        (heading,) = [h for h in tables if h.startswith(f"torch, scenario {scenario}:")]
        header, *rows = tables[heading]
        assert header[:8] == [
            "workload",
            "system",
            "samples/s median",
            "samples/s min",
            "× native median",
            "× native min",
            "× Keras 3 median",
            "× Keras 3 min",
        ]
        assert {(r[0], r[1]) for r in rows} == {
            (f"mlp {kind}", system)
            for kind in ("train", "predict")
            for system in ("duallearn_torch", "torch")
        }
        for r in rows:
            median, low = _positive(r[2]), _positive(r[3])
            assert low <= median
            assert _positive(r[5]) <= _positive(r[4])
            if r[1] == "torch":
                assert r[4] == r[5] == "1.000"
            assert r[6] == r[7] == "–"  # --no-keras

    header, *rows = tables["duallearn / native loop by scenario (median and min over rounds)"]
    assert header == [
        "engine",
        "workload",
        "alone median",
        "alone min",
        "neighbours median",
        "neighbours min",
    ]
    assert [r[:2] for r in rows] == [["torch", "mlp train"], ["torch", "mlp predict"]]
    for r in rows:
        for cell in r[2:]:
            _positive(cell)

    (bf16,) = [h for h in tables if h.startswith("mixed bfloat16 vs float32")]
    assert "amx_bf16: " in bf16
    header, *rows = tables[bf16]
    assert header[3:7] == [
        "float32 samples/s",
        "bf16 samples/s",
        "bf16 / fp32 median",
        "bf16 / fp32 min",
    ]
    assert {(r[1], r[2]) for r in rows} == {
        (f"mlp {kind}", system)
        for kind in ("train", "predict")
        for system in ("duallearn_torch", "torch")
    }
    for r in rows:
        for cell in r[3:]:
            _positive(cell)
    assert "targets:" in p.stdout

    result = json.loads(json_path.read_text())
    assert json.loads((tmp_path / "benchmark.json").read_text()) == result
    assert result["conditions"]["scenarios"] == ["alone", "neighbours"]
    neighbours = result["scenarios"]["neighbours"]["engines"]["torch"]
    assert "torch" in neighbours["neighbour"]["loaded"]
    assert neighbours["busy"]["matmuls"] > 0
    bf = result["bf16"]["engines"]["torch"]["workloads"]["mlp"]["systems"]
    assert bf["duallearn_torch_bf16"]["policy"] == "mixed_bfloat16"
    assert bf["duallearn_torch"]["policy"] == "float32"
    assert isinstance(result["bf16"]["cpu"]["amx_bf16"], bool)
    s = result["engines"]["torch"]["workloads"]["mlp"]["systems"]["duallearn_torch"]
    assert s["train_samples_per_s_min"] <= s["train_samples_per_s"]
    targets = [t["target"] for t in result["targets"]]
    assert "torch mlp: duallearn / native train, min over rounds" in targets
    assert "[neighbours] torch mlp: duallearn / native train, min over rounds" in targets
