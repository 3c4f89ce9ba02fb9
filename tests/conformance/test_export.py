"""Every export format verified on an MLP, a CNN and an LSTM, each trained on the *other*
framework (torch-trained models go to SavedModel/TF Lite, TF-trained ones to ONNX,
TorchScript and torch.export): the artifact is run back and compared with the source model.

Measured errors are printed (``pytest -s``) and recorded in docs/export.md.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.export import FORMATS, ExportError, ExportResult, probe_inputs
from duallearn.testing import assert_close, tolerance
from tests.conftest import BACKENDS

L = dl.layers


def _mlp() -> dl.Model:
    return dl.Sequential(
        [dl.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")],
        name="mlp",
    )


def _cnn() -> dl.Model:
    return dl.Sequential(
        [
            dl.Input((8, 8, 2)),
            L.Conv2D(4, 3, padding="same", activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(3),
        ],
        name="cnn",
    )


def _lstm() -> dl.Model:
    return dl.Sequential([dl.Input((5, 3)), L.LSTM(4), L.Dense(2)], name="lstm")


BUILDERS = {
    "mlp": (_mlp, ("Dense",)),
    "cnn": (_cnn, ("Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten")),
    "lstm": (_lstm, ("LSTM",)),
}
MODELS = [n for n, (_, uses) in BUILDERS.items() if all(hasattr(L, u) for u in uses)]


def _source_backend(fmt: str) -> str:
    target = FORMATS[fmt]
    others = [b for b in BACKENDS if b != target]
    return others[0] if others else target


@functools.cache
def _trained(name: str, backend: str) -> dl.Model:
    with dl.use_backend(backend):
        dl.set_random_seed(5)
        m = BUILDERS[name][0]()
        x = probe_inputs(m, batch=8, seed=1)
        y = np.asarray(m.predict(x[0], verbose=0))
        m.compile(optimizer="adam", loss="mse")
        m.fit(x[0], y + 0.1, epochs=2, batch_size=8, verbose=0)
    return m


def _needs(fmt: str) -> None:
    target = FORMATS[fmt]
    if target not in BACKENDS:
        pytest.skip(f"{fmt} needs the {target} framework, which is not installed")
    if fmt == "onnx":  # a required test dependency: missing, the run fails (not skipped)
        assert importlib.util.find_spec("onnxruntime") is not None, (
            "onnx export is verified with onnxruntime: pip install 'duallearn[export]'"
        )


def _path(tmp_path, name: str, fmt: str) -> str:
    return str(tmp_path / f"{name}.{'pt2' if fmt == 'torch_export' else fmt}")


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", MODELS)
def test_export_verified(tmp_path, name, fmt):
    _needs(fmt)
    model = _trained(name, _source_backend(fmt))
    result = model.export(_path(tmp_path, name, fmt), format=fmt)
    assert isinstance(result, ExportResult)
    print(f"\nEXPORT {name} {model.backend_name}->{fmt}: {result.summary()}")
    assert result.passed
    assert result.source_backend == model.backend_name
    assert result.backend == FORMATS[fmt]
    # the check's bound is the table's "forward" row, scaled by the model's own outputs
    tol = tolerance("forward", "float32")
    scale = float(np.max(np.abs(model.predict(probe_inputs(model)[0], verbose=0))))
    assert (result.rtol, result.atol) == (tol.rtol, tol.atol_s * scale)
    assert 0.0 <= result.max_abs_error <= result.atol + result.rtol * scale
    assert result.probe_shapes[0][0] == 3


def test_export_failure_reports_measured_error(tmp_path):
    fmt = "saved_model" if "tensorflow" in BACKENDS else "torchscript"
    _needs(fmt)
    model = _trained("mlp", BACKENDS[0])
    # A probe with large values makes the float32 error non-zero; ask for exactness.
    x = [np.linspace(-50, 50, 18, dtype="float32").reshape(3, 6)]
    with pytest.raises(ExportError, match="max abs error") as info:
        model.export(_path(tmp_path, "strict", fmt), format=fmt, inputs=x, rtol=0.0, atol=-1.0)
    res = info.value.result
    assert res is not None and not res.passed and res.max_abs_error >= 0.0


@pytest.mark.parametrize("returned", [0, 2])
def test_export_with_a_wrong_number_of_artifact_outputs_is_an_error(
    tmp_path, monkeypatch, returned
):
    """An exporter returning more or fewer outputs than the model has is a clear
    ExportError naming both counts (it used to be compared pairwise up to the shorter)."""
    import types

    from duallearn import export as export_mod

    fmt = "saved_model" if "tensorflow" in BACKENDS else "torchscript"
    _needs(fmt)
    model = _trained("mlp", BACKENDS[0])
    probe = probe_inputs(model)
    ref = np.asarray(model.predict(probe[0], verbose=0))
    fake = types.SimpleNamespace(export=lambda *a, **k: [ref] * returned)
    monkeypatch.setattr(export_mod, "_plugin_module", lambda name: fake)
    with pytest.raises(
        ExportError, match=rf"returned {returned} outputs .* Expected: 1, one per model output"
    ):
        model.export(_path(tmp_path, "count", fmt), format=fmt)


def test_export_user_errors(tmp_path):
    model = _mlp()
    with pytest.raises(ConfigError, match="Unknown export format 'pickle'"):
        model.export(str(tmp_path / "m"), format="pickle")
    with pytest.raises(ConfigError, match="must end in .pt2"):
        model.export(str(tmp_path / "m.pt"), format="torch_export")
    with pytest.raises(ConfigError, match="does not exist"):
        model.export(str(tmp_path / "no" / "m.onnx"), format="onnx")


def test_exported_saved_model_serves_other_batch_sizes(tmp_path):
    _needs("saved_model")
    import tensorflow as tf

    model = _trained("mlp", BACKENDS[0])
    path = str(tmp_path / "sm")
    model.export(path, format="saved_model")
    fn = tf.saved_model.load(path).signatures["serving_default"]
    x = np.random.default_rng(3).standard_normal((7, 6)).astype("float32")
    (out,) = fn(**{fn.structured_input_signature[1].popitem()[0]: tf.constant(x)}).values()
    assert_close("saved_model b=7", out.numpy(), model.predict(x, verbose=0), "float32", "forward")


@pytest.mark.skipif(
    not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs both frameworks to train on one"
)
def test_export_needs_only_the_target_framework(tmp_path):
    """A model trained and saved on torch exports to SavedModel in a process that never
    imports torch: the TF runtime is rebuilt from the file's config and canonical weights."""
    import subprocess
    import sys
    import textwrap

    model = _trained("mlp", "torch")
    model.save(str(tmp_path / "mlp.dlm"))
    code = textwrap.dedent(
        """
        import sys
        import duallearn as dl
        m = dl.load_model(sys.argv[1], backend="tensorflow")
        r = m.export(sys.argv[2], format="saved_model")
        assert "torch" not in sys.modules, "torch was imported"
        print(r.passed, r.backend, r.source_backend)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "mlp.dlm"), str(tmp_path / "sm")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["True", "tensorflow", "tensorflow"]


@pytest.mark.skipif("lstm" not in MODELS, reason="needs the LSTM layer")
def test_torch_artifacts_serve_other_batch_sizes(tmp_path):
    """The torch formats keep the batch dimension dynamic: batch 1 and 7 (exported at 3)."""
    _needs("onnx")
    import onnxruntime as ort
    import torch

    model = _trained("lstm", _source_backend("onnx"))
    paths = {f: _path(tmp_path, "lstm", f) for f in ("onnx", "torchscript", "torch_export")}
    for fmt, path in paths.items():
        model.export(path, format=fmt)
    session = ort.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", DeprecationWarning)  # torch 2.13 notice
        ts = torch.jit.load(paths["torchscript"])
    pt2 = torch.export.load(paths["torch_export"]).module()
    for batch in (1, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 5, 3)).astype("float32")
        ref = model.predict(x, verbose=0)
        outs = {
            "onnx": session.run(None, {session.get_inputs()[0].name: x})[0],
            "torchscript": ts(torch.from_numpy(x)).detach().numpy(),
            "torch_export": pt2(torch.from_numpy(x)).detach().numpy(),
        }
        for fmt, out in outs.items():
            assert_close(f"{fmt} b={batch}", out, ref, "float32", "forward")
