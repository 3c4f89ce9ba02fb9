"""Smoke test of the benchmark harness (benchmarks/run.py --quick): it runs end to end and
writes a result of the documented structure. Never asserts timings (the machine is shared)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINES = [e for e in ("torch", "tensorflow") if importlib.util.find_spec(e) is not None]
NATIVE = {"torch": "torch", "tensorflow": "tf"}


@pytest.mark.skipif(not ENGINES, reason="needs torch or tensorflow")
def test_quick_benchmark_writes_documented_json(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--workloads",
        "mlp",
        "--no-keras",
        "--import-repeats",
        "1",
        "--engines",
        ",".join(ENGINES),
        "--out-dir",
        str(tmp_path),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    result = json.loads((tmp_path / "benchmark.json").read_text())

    assert set(result) >= {
        "command",
        "date_utc",
        "conditions",
        "engines",
        "import",
        "rss",
        "targets",
        "chart",
    }
    assert result["conditions"]["quick"] is True
    assert result["conditions"]["threads"] == "intra 2, inter 2"
    for engine in ENGINES:
        eng = result["engines"][engine]
        assert "error" not in eng, eng.get("error")
        mlp = eng["workloads"]["mlp"]
        assert "systems" in mlp, mlp
        native = NATIVE[engine]
        assert set(mlp["systems"]) == {f"duallearn_{native}", native}
        for s in mlp["systems"].values():
            assert s["train_samples_per_s"] > 0 and s["predict_samples_per_s"] > 0
            assert set(s["train_ratio_to_native"]) == {"median", "min", "max"}
            assert len(s["epoch_s"]) == result["conditions"]["rounds"] == 1
        assert mlp["systems"][native]["train_ratio_to_native"]["median"] == 1.0
        rss = result["rss"][f"{engine} mlp"]
        assert rss["duallearn_mb"] > 0 and rss["native_mb"] > 0 and rss["ratio"] > 0

    imp = result["import"]
    assert imp["frameworks_imported"] == []  # import duallearn imports no framework
    assert imp["bare_python_s"] > 0 and imp["import_duallearn_s"] > 0
    names = [t["target"] for t in result["targets"]]
    assert "import duallearn: added seconds" in names
    assert all(t["hit"] in (True, False, None) for t in result["targets"])
    if result["chart"] is not None:
        assert (tmp_path / result["chart"]).stat().st_size > 1000
    assert "targets:" in p.stdout and "samples/s" in p.stdout
