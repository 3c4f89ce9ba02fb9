"""The ``duallearn`` console script, driven in subprocesses: output, exit codes, and one-line
errors (never a traceback) for user mistakes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close, tolerance
from tests.conftest import BACKENDS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``duallearn ARGS`` (the installed script when present, else ``python -m``)."""
    exe = shutil.which("duallearn", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "duallearn.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DUALLEARN_BACKEND", None)
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


def assert_user_error(res: subprocess.CompletedProcess, *fragments: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = [l for l in res.stderr.splitlines() if l.startswith("duallearn: error:")]
    assert len(lines) == 1, res.stderr
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A small functional CNN-ish model with two inputs, trained, saved (front-end only)."""
    path = tmp_path_factory.mktemp("cli") / "model.dlm"
    a, b = dl.Input((4,), name="a"), dl.Input((3,), name="b")
    L = dl.layers
    x = L.Dense(5, activation="relu", name="da")(a)
    y = L.Dense(5, activation="tanh", name="db")(b)
    merged = L.Add(name="add")([x, y])
    out = L.Dense(2, name="head")(merged)
    dl.Model([a, b], out, name="two_inputs").save(str(path))
    return path


def test_info():
    res = run("info")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"duallearn {dl.__version__}")
    for name in BACKENDS:
        assert f"  {name}: " in res.stdout
    assert "devices: cpu" in res.stdout
    assert "active backend: " in res.stdout and "(default" in res.stdout


def test_inspect(model_file):
    res = run("inspect", str(model_file))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "format version: 2" in out
    assert "model: two_inputs (Model)" in out
    assert "da" in out and "Dense" in out and "25" in out  # 4*5 + 5
    assert "digests: OK" in out


def test_inspect_old_format():
    res = run("inspect", str(DATA / "format_v1_mlp.dlm"))
    assert res.returncode == 0, res.stderr
    assert "format version: 1" in res.stdout and "digests: OK" in res.stdout


def test_inspect_reports_digest_mismatch(model_file, tmp_path):
    raw = bytearray(model_file.read_bytes())
    with zipfile.ZipFile(model_file) as zf:
        info = zf.getinfo("model.safetensors")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.file_size - 1] ^= 0x01  # last weight byte; CRC now fails as well
    bad = tmp_path / "bad.dlm"
    bad.write_bytes(bytes(raw))
    res = run("inspect", str(bad))
    # zipfile's CRC check refuses the member before the digest is computed: one-line error.
    assert res.returncode in (1, 2)
    assert "Traceback" not in res.stderr
    assert "model.safetensors" in (res.stdout + res.stderr)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="parity needs two installed backends")
def test_parity_probe_and_data(model_file, tmp_path):
    from duallearn.cli import parity_table

    rows, ok, note = parity_table(str(model_file), None)  # probe inputs, in-process
    assert ok and "forward" in note
    assert [r[0] for r in rows] == ["da", "db", "add", "head"]
    tol = tolerance("forward", "float32")  # the tool's own rule, recomputed from the table
    assert all(r[4] <= tol.rtol + tol.atol_s and r[5] for r in rows), rows
    # an independent look: the loaded models' outputs agree by the same table row
    from duallearn.export import probe_inputs

    ref, other = (dl.load_model(str(model_file), compile=False, backend=b) for b in BACKENDS[:2])
    probe = probe_inputs(ref)
    assert_close("head", other.predict(probe, verbose=0), ref.predict(probe, verbose=0),
                 "float32", "forward")  # fmt: skip
    data = tmp_path / "in.npz"
    rng = np.random.default_rng(0)
    np.savez(data, a=rng.standard_normal((5, 4)).astype("float32"),
             b=rng.standard_normal((5, 3)).astype("float32"))  # fmt: skip
    res = run("parity", str(model_file), "--data", str(data))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["layer", "class", "backends"]
    assert any(l.startswith("head ") for l in lines)
    assert "parity: OK" in res.stdout


@pytest.mark.skipif("torch" not in BACKENDS, reason="torchscript export needs torch")
def test_export_torchscript(model_file, tmp_path):
    out = tmp_path / "model.torchscript"
    res = run("export", str(model_file), "--format", "torchscript", "--output", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("torchscript -> ") and res.stdout.rstrip().endswith("OK")
    assert "max abs error" in res.stdout
    assert out.exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["inspect", "missing.dlm"], ["No such model file: missing.dlm"]),
        (["parity", "missing.dlm"], ["No such model file"]),
        (["export", "missing.dlm", "--format", "onnx", "--output", "x.onnx"], ["No such model"]),
        (["inspect", "."], ["is a folder"]),
        (["inspect", "junk.dlm"], ["not a duallearn model file"]),
        (["export", "MODEL", "--format", "pickle", "--output", "x"], ["invalid choice"]),
        (["export", "MODEL", "--format", "onnx"], ["--output"]),
        (["export", "MODEL", "--format", "torch_export", "--output", "x.pt"], ["must end in .pt2"]),
        (["export", "MODEL", "--format", "onnx", "--output", "no/such/x.onnx"], ["does not exist"]),
        (["parity", "MODEL", "--data", "missing.npz"], ["No such data file"]),
        (["parity", "MODEL", "--data", "junk.dlm"], ["not a readable .npz"]),
        (["frobnicate"], ["invalid choice"]),
        ([], ["required"]),
    ],
)
def test_user_errors_are_one_line(model_file, tmp_path, args, fragments):
    (tmp_path / "junk.dlm").write_bytes(b"not a model")
    args = [str(model_file) if a == "MODEL" else a for a in args]
    assert_user_error(run(*args, cwd=tmp_path), *fragments)


def test_inspect_stale_manifest_exits_1(model_file, tmp_path):
    """A member rewritten (valid CRC) without updating the manifest: inspect reports the
    mismatch per member and exits 1; load_model refuses the file."""
    with zipfile.ZipFile(model_file) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    cfg = members["config.json"].replace(b'"two_inputs"', b'"renamed___"')
    members["config.json"] = cfg
    bad = tmp_path / "stale.dlm"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    res = run("inspect", str(bad))
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "digest config.json: MISMATCH" in res.stdout
    assert "digest model.safetensors: OK" in res.stdout
    assert "digests: FAILED (config.json)" in res.stdout


def test_hostile_file_is_one_line(tmp_path):
    import pickle

    (tmp_path / "evil.dlm").write_bytes(pickle.dumps(os.system))
    assert_user_error(run("parity", "evil.dlm", cwd=tmp_path), "not a duallearn model file")


@pytest.mark.skipif(len(BACKENDS) < 2, reason="parity needs two installed backends")
def test_parity_above_tolerance_exits_1(model_file, monkeypatch, capsys):
    """With a tolerance no difference can meet, parity prints FAILED and exits 1 (in-process:
    the tolerance table is duallearn's own, not a framework's)."""
    from duallearn.cli import main
    from duallearn.testing import _tolerances

    monkeypatch.setitem(_tolerances.TABLE["forward"], "float32", _tolerances.Tol(-1.0, 0.0))
    assert main(["parity", str(model_file)]) == 1
    out = capsys.readouterr().out
    assert "parity: FAILED" in out and " NO" in out
