"""Every failure of the ``duallearn`` command is one ``duallearn: error: ...`` line on stderr
and exit status 2 (docs/cli.md), never a traceback: bad paths, bad files and bad arguments of
each subcommand, driven through the real console script in subprocesses (a table: the
arguments, the files they need, the words the line must hold).

(tests/conformance/test_cli.py holds the successful runs and the first error cases.)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from tests.conftest import BACKENDS

REPO = Path(__file__).resolve().parents[2]
L = dl.layers


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("duallearn", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "duallearn.cli"]
    base = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    base.pop("DUALLEARN_BACKEND", None)
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**base, **(env or {})},
    )


def assert_one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr[-3000:])
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-3000:]
    lines = [l for l in res.stderr.splitlines() if l.startswith("duallearn:")]
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("duallearn: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Models and data files (good and bad) that the table's rows name."""
    d = tmp_path_factory.mktemp("cli_errors")
    dl.Sequential([dl.Input((4,)), L.Dense(2)], name="mlp").save(str(d / "mlp.dlm"))
    a, b = dl.Input((4,), name="a"), dl.Input((3,), name="b")
    dl.Model([a, b], L.Dense(1)(L.Concatenate()([a, b])), name="two").save(str(d / "two.dlm"))
    ids = dl.Input((5,), dtype="int32", name="words")
    dl.Model(ids, L.Embedding(10, 2, name="tokens")(ids), name="emb").save(str(d / "emb.dlm"))
    np.save(d / "x.npy", np.zeros((2, 4), "float32"))
    np.savez(d / "strings.npz", x=np.array([["a", "b", "c", "d"]]))
    np.savez(d / "shape.npz", x=np.zeros((2, 7), "float32"))
    np.savez(d / "names.npz", p=np.zeros((2, 4), "float32"))
    np.savez(d / "ids.npz", words=np.array([[1, 2, 3, 4, 12]], dtype="int32"))
    (d / "pickled.npz").write_bytes(__import__("pickle").dumps([1, 2]))
    (d / "empty.dlm").write_bytes(b"")
    (d / "folder").mkdir()
    os.mkfifo(d / "fifo")
    (d / "old_stuff").mkdir()
    (d / "old_stuff" / "keep.txt").write_text("precious")
    (d / "file.txt").write_text("not a folder")
    with zipfile.ZipFile(d / "mlp.dlm") as zf:  # a manifest with a key no reader knows
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    manifest["signed_by"] = "someone"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in sorted(members.items()):
            zf.writestr(name, data)
        zf.writestr("manifest.json", json.dumps(manifest))
    (d / "extra_key.dlm").write_bytes(buf.getvalue())
    return d


# (arguments, extra environment, the words the error line must hold)
ROWS = [
    # inspect: bad paths and bad files
    (["inspect", "folder"], None, ["folder is a folder, not a model file"]),
    (["inspect", "fifo"], None, ["fifo is not a regular file"]),
    (["inspect", "empty.dlm"], None, ["not a duallearn model file"]),
    (["inspect", "x.npy"], None, ["not a duallearn model file"]),
    (["inspect", "names.npz"], None, ["unexpected members"]),
    (["inspect", "extra_key.dlm"], None, ["unknown key 'signed_by' in manifest.json"]),
    (["inspect"], None, ["the following arguments are required: model"]),
    (["inspect", "mlp.dlm", "--data", "x.npz"], None, ["unrecognized arguments: --data"]),
    # parity: bad model files and bad --data
    (["parity", "extra_key.dlm"], None, ["unknown key 'signed_by'"]),
    (["parity", "mlp.dlm", "--data", "x.npy"], None, ["x.npy is a .npy file", "np.savez"]),
    (["parity", "mlp.dlm", "--data", "folder"], None, ["folder is a folder, not a .npz"]),
    (["parity", "mlp.dlm", "--data", "fifo"], None, ["fifo is not a regular file"]),
    (["parity", "mlp.dlm", "--data", "strings.npz"], None, ["array 'x' holds <U1", "numbers"]),
    (["parity", "mlp.dlm", "--data", "pickled.npz"], None, ["not a readable .npz file"]),
    (["parity", "two.dlm", "--data", "names.npz"], None, ["holds arrays ['p']", "['a', 'b']"]),
    (["parity", "mlp.dlm", "--data", "shape.npz"], None, ["expects input shape (None, 4)"]),
    (
        ["parity", "emb.dlm", "--data", "ids.npz"],
        None,
        ["Layer 'tokens' (Embedding, input_dim=10) received id 12 at index (0, 4)"],
    ),
    # export: bad --data and bad destinations (checked before any framework loads)
    (
        ["export", "mlp.dlm", "--format", "onnx", "--output", "m.onnx", "--data", "x.npy"],
        None,
        ["x.npy is a .npy file"],
    ),  # fmt: skip
    (
        ["export", "mlp.dlm", "--format", "onnx", "--output", "folder"],
        None,
        ["Cannot export onnx to folder: it is a folder", "folder/model.onnx"],
    ),  # fmt: skip
    (
        ["export", "mlp.dlm", "--format", "tflite", "--output", "folder"],
        None,
        ["it is a folder", "folder/model.tflite"],
    ),  # fmt: skip
    (
        ["export", "mlp.dlm", "--format", "saved_model", "--output", "file.txt"],
        None,
        ["it is a file, and a SavedModel is a folder"],
    ),  # fmt: skip
    (
        ["export", "mlp.dlm", "--format", "saved_model", "--output", "old_stuff"],
        None,
        ["the folder exists and holds other files", "would delete"],
    ),  # fmt: skip
    (
        ["export", "mlp.dlm", "--format", "onnx", "--output", "x.onnx", "--data", "shape.npz"],
        None,
        ["expects input shape (None, 4)"],
    ),  # fmt: skip
    (["export", "mlp.dlm", "--output", "x.onnx"], None, ["required: --format"]),
    (["export", "mlp.dlm", "--format", "ONNX", "--output", "x.onnx"], None, ["invalid choice"]),
    # an unknown backend named in the environment
    (["info"], {"DUALLEARN_BACKEND": "jax"}, ["Unknown backend 'jax'", "Installed backends:"]),
    (
        ["export", "mlp.dlm", "--format", "onnx", "--output", "x.onnx"],
        {"DUALLEARN_BACKEND": "jax"},
        ["Unknown backend 'jax' (from DUALLEARN_BACKEND='jax')"],
    ),  # fmt: skip
    (["frobnicate", "mlp.dlm"], None, ["invalid choice: 'frobnicate'"]),
]


@pytest.mark.parametrize("args, env, fragments", ROWS, ids=[" ".join(r[0]) for r in ROWS])
def test_failure_is_one_line_and_exit_2(workdir, args, env, fragments):
    if {"shape.npz", "ids.npz"} & set(args) and not BACKENDS:
        # these inputs are checked where a backend's predict takes them: with none installed
        # the line says so and how to install one (the same one-line contract)
        fragments = ["pip install 'duallearn["]
    res = run(*args, cwd=workdir, env=env)
    assert_one_line_error(res, *fragments)
    if args[0] == "info":
        assert res.stdout == ""  # refused before printing anything
    assert (workdir / "old_stuff" / "keep.txt").read_text() == "precious"  # nothing deleted


def test_every_subcommand_has_rows():
    assert {r[0][0] for r in ROWS} >= {"info", "inspect", "parity", "export"}


def test_os_errors_are_one_line(monkeypatch, capsys):
    """What the operating system refuses (here a permission, which root would never see in
    a subprocess) is one line and exit 2 as well."""
    from duallearn import cli

    def refuse(args):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", "/models/model.dlm")

    monkeypatch.setattr(cli, "cmd_inspect", refuse)
    assert cli.main(["inspect", "model.dlm"]) == 2
    err = capsys.readouterr().err
    assert err == "duallearn: error: Permission denied: /models/model.dlm.\n"
