"""Issue 17, "every bad input is a clear error": Embedding ids out of range, backend names,
strict JSON in .dlm files, and the TensorFlow log level a user sets.

The front-end parts need no framework; the per-backend parts run on each installed backend
(the ``backend`` fixture) and are skipped where none is installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import (
    BackendError,
    DuallearnError,
    IndexRangeError,
    SerializationError,
    ShapeError,
)
from duallearn.plugin import _select
from duallearn.saving import inspect_model_file, read_model_file
from tests.conftest import BACKENDS

L = dl.layers
REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


# ---- 1. Embedding ids out of range --------------------------------------------------------
def _embedding(input_dim: int = 10) -> dl.layers.Embedding:
    layer = L.Embedding(input_dim, 3, name="tokens")
    layer.build((None, 4))
    return layer


@pytest.mark.parametrize(
    "ids, bad, index",
    [
        (np.array([[0, 1, 2, 10]]), "10", "(0, 3)"),  # one past the end
        (np.array([[0, 1], [-1, 2]], dtype="int64"), "-1", "(1, 0)"),  # negative
        (np.array([[3, 2**31 - 1]], dtype="int32"), "2147483647", "(0, 1)"),
        (np.array([[200]], dtype="uint8"), "200", "(0, 0)"),
        (np.array([[-3]], dtype="int8"), "-3", "(0, 0)"),
        (np.array([[9.5, 10.0]], dtype="float32"), "10.0", "(0, 1)"),  # 10.0 truncates to 10
        (np.array([[-1.0]]), "-1.0", "(0, 0)"),  # -1.0 truncates to -1
        (np.array([[1.0, np.nan]]), "nan", "(0, 1)"),
    ],
)
def test_check_ids_names_layer_input_dim_and_the_bad_id(ids, bad, index):
    with pytest.raises(IndexRangeError) as info:
        _embedding().check_ids(ids, " of model input 'words'")
    msg = str(info.value)
    for words in (
        "Layer 'tokens' (Embedding, input_dim=10)",
        f"received id {bad} at index {index} of model input 'words'",
        "Expected ids in [0, 10)",
        "Fix: give the layer input_dim larger than the largest id",
    ):
        assert words in msg, (words, msg)
    for base in (DuallearnError, ShapeError, ValueError, IndexError):
        assert isinstance(info.value, base)


def test_check_ids_accepts_every_valid_id():
    layer = _embedding()
    layer.check_ids(np.arange(10).reshape(2, 5))
    layer.check_ids(np.array([[9.99, -0.5, 0.0]], dtype="float32"))  # truncate into range
    layer.check_ids(np.array([[9]], dtype="uint8"))
    layer.check_ids(np.zeros((0, 4), dtype="int32"))  # no ids at all
    layer.check_ids(np.array([[True, False]]))  # booleans are ids 0 and 1
    one = L.Embedding(1, 2, name="tiny")
    one.build((None, 2))
    with pytest.raises(IndexRangeError, match=r"received id 1 at index \(0, 1\)"):
        one.check_ids(np.array([[False, True]]))


def test_check_ids_counts_every_bad_id():
    ids = np.array([[0, 11, 12], [-4, 5, 6]])
    with pytest.raises(IndexRangeError, match=r"3 of 6 ids are out of range \(smallest -4, "
                       r"largest 12\)"):  # fmt: skip
        _embedding().check_ids(ids)


def _id_model(input_dim: int = 10, nested: bool = False) -> dl.Model:
    inp = dl.Input((5,), dtype="int32", name="words")
    if nested:  # the Embedding sits inside a Sequential that the functional model calls
        inner = dl.Sequential([dl.Input((5,), dtype="int32"), L.Embedding(input_dim, 4)])
        x = inner(inp)
    else:
        x = L.Embedding(input_dim, 4, name="tokens")(inp)
    x = L.GlobalAveragePooling1D()(x)
    out = L.Dense(1, name="head")(x)
    model = dl.Model(inp, out, name="ids_model")
    model.compile(optimizer="adam", loss="mse")
    return model


def _ids(n: int, seed: int, high: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, (n, 5)).astype("int32")


def _twins(backend: str, nested: bool = False) -> tuple[dl.Model, dl.Model]:
    models = []
    for _ in range(2):
        dl.set_random_seed(3)
        models.append(_id_model(nested=nested))
    return models[0], models[1]


def _assert_same_weights(a: dl.Model, b: dl.Model) -> None:
    # twins: same seed, same backend, same batches in one process, so bit for bit equal
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("nested", [False, True], ids=["direct", "nested"])
def test_bad_ids_in_fit_then_trains_like_its_twin(backend, nested):
    model, twin = _twins(backend, nested)
    x, y = _ids(16, 0), np.random.default_rng(1).random((16, 1)).astype("float32")
    bad = x.copy()
    bad[5, 3] = 10
    with pytest.raises(IndexRangeError) as info:
        model.fit(bad, y, epochs=1, batch_size=4, verbose=0)
    msg = str(info.value)
    assert "(Embedding, input_dim=10) received id 10 at index (5, 3) of model input 'words'" in msg
    _assert_same_weights(model, twin)  # refused before any step
    h1 = model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    h2 = twin.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    assert h1.history["loss"] == h2.history["loss"]
    _assert_same_weights(model, twin)
    np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))


def test_bad_ids_everywhere_data_enters(backend):
    model, twin = _twins(backend)
    x, y = _ids(8, 0), np.zeros((8, 1), "float32")
    bad = x.copy()
    bad[2, 1] = -1
    calls = {
        "predict": lambda: model.predict(bad, verbose=0),
        "evaluate": lambda: model.evaluate(bad, y, verbose=0),
        "call": lambda: model(bad),
        "training call": lambda: model(bad, training=True),
        "validation_data": lambda: model.fit(x, y, validation_data=(bad, y), verbose=0),
        "dict input": lambda: model.predict({"words": bad}, verbose=0),
        "layer on arrays": lambda: model.get_layer("tokens")(bad),
    }
    for what, call in calls.items():
        with pytest.raises(IndexRangeError, match=r"received id -1 at index \(2, 1\)"):
            call()
            pytest.fail(f"{what}: no error")
    _assert_same_weights(model, twin)
    np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))


def test_bad_ids_from_a_generator_name_the_batch_values(backend):
    model, twin = _twins(backend)
    y = np.zeros((4, 1), "float32")

    def batches(bad_second: bool):
        yield _ids(4, 0), y
        if bad_second:
            bad = _ids(4, 1)
            bad[3, 4] = 99
            yield bad, y

    with pytest.raises(IndexRangeError, match=r"received id 99 at index \(3, 4\)"):
        model.fit(batches(True), epochs=1, verbose=0)
    twin.fit(batches(False), epochs=1, verbose=0)  # the good first batch only
    assert model.optimizer.iterations == twin.optimizer.iterations == 1
    _assert_same_weights(model, twin)  # the refused batch changed nothing
    x2, y2 = _ids(8, 2), np.random.default_rng(4).random((8, 1)).astype("float32")
    history = model.fit(x2, y2, epochs=1, verbose=0, shuffle=False)
    again = twin.fit(x2, y2, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"] == again.history["loss"]
    _assert_same_weights(model, twin)


def test_float_ids_truncate_as_the_lookup_does(backend):
    inp = dl.Input((3,))  # float input: the lookup truncates toward zero, as Keras
    model = dl.Model(inp, L.Embedding(4, 2, name="tokens")(inp))
    ok = np.array([[0.0, 3.9, -0.5]], dtype="float32")
    np.testing.assert_array_equal(
        model.predict(ok, verbose=0)[0], model.get_weights()[0][[0, 3, 0]]
    )
    with pytest.raises(IndexRangeError, match=r"input_dim=4\) received id 4\.0 at index"):
        model.predict(np.array([[0.0, 4.0, 1.0]], dtype="float32"), verbose=0)


def test_ids_computed_inside_the_model(backend):
    """Ids a model computes (not a model input) reach the framework's lookup: torch, and
    TensorFlow's compiled step, report them as IndexRangeError naming the layer, and the
    failed step changes nothing (predict, evaluate and fit all go on afterwards)."""
    inp = dl.Input((5,), dtype="int32")
    emb = L.Embedding(10, 2, name="tokens")(inp + 5)
    out = L.Dense(1)(L.Flatten()(emb))
    model = dl.Model(inp, out)
    model.compile(dl.optimizers.SGD(0.1), "mse")
    x = np.zeros((2, 5), "int32")
    x[1, 2] = 6
    y = np.ones((2, 1), "float32")
    words = (
        r"Layer 'tokens' \(Embedding, input_dim=10\) received id 11 at index \(1, 2\) \(computed"
    )
    with pytest.raises(IndexRangeError, match=words):
        model.predict(x, verbose=0)
    w0 = model.get_weights()
    with pytest.raises(IndexRangeError, match=words):
        model.fit(x, y, verbose=0, batch_size=2, shuffle=False)  # (positions within the batch)
    for a, b in zip(model.get_weights(), w0, strict=True):
        np.testing.assert_array_equal(a, b)  # the rejected step updated nothing
    with pytest.raises(IndexRangeError, match=words):
        model.evaluate(x, y, verbose=0, batch_size=2)
    good = np.zeros((2, 5), "int32")
    assert model.predict(good, verbose=0).shape == (2, 1)
    model.fit(good, y, verbose=0, batch_size=2)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), w0, strict=True))


# ---- 2. backend names are checked when read -----------------------------------------------
@pytest.fixture
def _selection(monkeypatch):
    monkeypatch.delenv("DUALLEARN_BACKEND", raising=False)
    monkeypatch.setattr(_select, "_process", None)
    monkeypatch.setattr(_select, "_env_checked", None)


def _assert_unknown_jax(exc: BaseException) -> None:
    msg = str(exc)
    assert msg.startswith("Unknown backend 'jax'"), msg
    assert "Installed backends: " in msg and "Fix: set DUALLEARN_BACKEND" in msg
    for name in dl.available_backends():
        assert name in msg


def test_set_and_use_backend_refuse_unknown_names(_selection):
    before = dl.backend()
    with pytest.raises(BackendError) as info:
        dl.set_backend("jax")
    _assert_unknown_jax(info.value)
    with pytest.raises(BackendError) as info:
        with dl.use_backend("jax"):
            pass
    _assert_unknown_jax(info.value)
    assert dl.backend() == before  # nothing was selected


def test_env_backend_is_checked_at_first_use(_selection, monkeypatch):
    monkeypatch.setenv("DUALLEARN_BACKEND", "jax")
    with pytest.raises(BackendError) as info:
        dl.backend()
    _assert_unknown_jax(info.value)
    assert "(from DUALLEARN_BACKEND='jax')" in str(info.value)
    assert "unset DUALLEARN_BACKEND for the default" in str(info.value)
    with pytest.raises(BackendError, match="DUALLEARN_BACKEND='jax'"):
        dl.Sequential([dl.Input((2,)), L.Dense(1)])  # a model picks its backend: same error
    if BACKENDS:
        monkeypatch.setenv("DUALLEARN_BACKEND", BACKENDS[-1])
        assert dl.backend() == BACKENDS[-1]
        monkeypatch.setenv("DUALLEARN_BACKEND", "jax")  # a changed value is checked again
        with pytest.raises(BackendError, match="Unknown backend 'jax'"):
            dl.backend()


def test_env_backend_error_in_a_fresh_process():
    code = "import duallearn as dl\ntry:\n    dl.backend()\nexcept Exception as e:\n" \
           "    print(type(e).__name__, '|', e)\n"  # fmt: skip
    env = {**os.environ, "DUALLEARN_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("BackendError | Unknown backend 'jax' (from DUALLEARN_BACKEND")


# ---- 4. strict JSON in .dlm files -----------------------------------------------------------
def _saved(tmp_path: Path, functional: bool = False) -> Path:
    if functional:
        a, b = dl.Input((4,), name="a"), dl.Input((3,), name="b")
        x = L.Concatenate(name="cat")([L.Dense(2, name="da")(a), b])
        model = dl.Model([a, b], L.Dense(1, name="out")(x), name="two")
    else:
        model = dl.Sequential([dl.Input((4,)), L.Dense(3, name="hidden"), L.Dense(1)], name="m")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    path = tmp_path / ("f.dlm" if functional else "s.dlm")
    model.save(str(path))
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, members: dict[str, bytes], manifest_extra: dict | None = None) -> Path:
    """Repack ``members`` (manifest recomputed, so every digest matches)."""
    body = {n: b for n, b in members.items() if n != "manifest.json"}
    old = json.loads(members["manifest.json"])
    manifest = {
        "format": old["format"],
        "format_version": old["format_version"],
        "members": {
            n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
            for n, b in sorted(body.items())
        },
    }
    for key, value in (manifest_extra or {}).items():
        target = manifest
        *parents, last = key.split("/")
        for p in parents:
            target = target[p]
        target[last] = value
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in [*sorted(body.items()), ("manifest.json", json.dumps(manifest).encode())]:
            zf.writestr(name, data)
    out = path.with_name("edited.dlm")
    out.write_bytes(buf.getvalue())
    return out


def _edit_json(members: dict[str, bytes], name: str, edit) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    value = json.loads(members[name])
    edit(value)
    return {**members, name: json.dumps(value).encode()}


def _config_model(c: dict) -> dict:
    return c["model"]["config"]


EDITS = [
    ("config.json", lambda c: c.update(comment="hi"), "comment", "config.json"),
    ("config.json", lambda c: c["model"].update(module="keras"), "module", "'Sequential' object"),
    ("config.json", lambda c: _config_model(c).update(trainable=True), "trainable", "model config"),
    ("config.json", lambda c: _config_model(c)["input"].update(sparse=False), "sparse", "input"),
    (
        "config.json",
        lambda c: _config_model(c)["layers"][0].update(registered_name="x"),
        "registered_name",
        "'Dense' object",
    ),
    (
        "config.json",
        lambda c: _config_model(c)["layers"][0]["config"]["kernel_initializer"].update(extra=1),
        "extra",
        "'GlorotUniform' object",
    ),
    ("config.json", lambda c: c["compile"].update(jit_compile=True), "jit_compile", "compile"),
    ("config.json", lambda c: c["compile"]["optimizer"].update(x=1), "x", "'Adam' object"),
    ("metadata.json", lambda m: m.update(author="me"), "author", "metadata.json"),
    ("metadata.json", lambda m: m["dtype_policy"].update(quantized=1), "quantized", "dtype_policy"),
    ("training.json", lambda t: t.update(step=3), "step", "training.json"),
]


@pytest.mark.parametrize("member, edit, key, where", EDITS, ids=[e[2] for e in EDITS])
def test_unknown_json_keys_are_refused(tmp_path, member, edit, key, where):
    path = _saved(tmp_path)
    bad = _write(path, _edit_json(_members(path), member, edit))
    with pytest.raises(SerializationError) as info:
        dl.load_model(str(bad))
    msg = str(info.value)
    assert f"unknown key {key!r} in" in msg and where in msg, msg
    assert "Expected only:" in msg and "Fix:" in msg
    if member != "training.json":  # the resume state is read when a model is loaded
        with pytest.raises(SerializationError, match=f"unknown key {key!r}"):
            inspect_model_file(str(bad))
    assert dl.load_model(str(path)).name == "m"  # the unedited file still loads


@pytest.mark.parametrize(
    "extra, key, where",
    [
        ({"signature": "abc"}, "signature", "manifest.json"),
        ({"members/config.json/mtime": 1}, "mtime", "manifest.json's entry 'config.json'"),
    ],
)
def test_unknown_manifest_keys_are_refused(tmp_path, extra, key, where):
    path = _saved(tmp_path)
    bad = _write(path, _members(path), extra)
    for read in (dl.load_model, inspect_model_file):
        with pytest.raises(SerializationError) as info:
            read(str(bad))
        assert f"unknown key {key!r} in {where}" in str(info.value)


def test_unknown_functional_keys_are_refused(tmp_path):
    path = _saved(tmp_path, functional=True)
    assert dl.load_model(str(path)).input_names == ["a", "b"]
    for edit, key in [
        (lambda c: _config_model(c)["nodes"][0].update(kwargs={}), "kwargs"),
        (lambda c: _config_model(c)["inputs"][1].update(sparse=False), "sparse"),
        (lambda c: _config_model(c).update(input_layers=[]), "input_layers"),
    ]:
        bad = _write(path, _edit_json(_members(path), "config.json", edit))
        with pytest.raises(SerializationError, match=f"unknown key {key!r}"):
            dl.load_model(str(bad))


@pytest.mark.parametrize("name", ["format_v1_mlp.dlm", "format_v2_mlp.dlm"])
def test_committed_files_still_read(name):
    config, metadata, tensors, version, _ = read_model_file(str(DATA / name))
    assert version == int(name[8]) and metadata["backend"] == "torch" and tensors
    model = dl.load_model(str(DATA / name), compile=False)
    assert [layer.name for layer in model.layers] == ["hidden", "drop", "out"]


def test_files_written_now_round_trip(tmp_path):
    """Everything the writer emits is known to the reader (no key refused): compiled
    Sequential and functional models, a nested model, a Bidirectional wrapper."""
    for functional in (False, True):
        dl.load_model(str(_saved(tmp_path, functional)))
    inner = dl.Sequential([dl.Input((5, 2)), L.Bidirectional(L.LSTM(3))], name="inner")
    inp = dl.Input((5, 2))
    model = dl.Model(inp, L.Dense(1)(inner(inp)), name="outer")
    model.compile(optimizer="sgd", loss="mse")
    model.save(str(tmp_path / "nested.dlm"))
    assert dl.load_model(str(tmp_path / "nested.dlm")).name == "outer"


# ---- 6. TF_CPP_MIN_LOG_LEVEL: a user's value is kept ---------------------------------------
@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="needs the tensorflow backend")
@pytest.mark.parametrize("user", [None, "0", "1"])
def test_tensorflow_backend_keeps_the_users_log_level(user):
    code = (
        "import os, sys\nimport duallearn as dl\n"
        "m = dl.Sequential([dl.Input((2,)), dl.layers.Dense(1)], backend='tensorflow')\n"
        "m.predict([[1.0, 2.0]], verbose=0)\n"
        "assert 'tensorflow' in sys.modules\n"
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    if user is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == (user or "2")


@pytest.mark.parametrize(
    ("n_losses", "n_targets", "n_outputs"), [(2, 1, 2), (1, 2, 2), (2, 2, 1), (2, 3, 2)]
)
def test_check_targets_refuses_counts_that_do_not_line_up(n_losses, n_targets, n_outputs):
    """One loss, one target array and one output shape per output; a mismatch was zipped up
    to the shortest and the rest went unchecked."""
    losses = [dl.losses.MeanSquaredError()] * n_losses
    targets = [np.zeros((4, 3))] * n_targets
    shapes = [(None, 3)] * n_outputs
    with pytest.raises(dl.errors.DataError) as info:
        dl.losses.check_targets(losses, targets, shapes)
    assert isinstance(info.value, DuallearnError)
    assert str(info.value).startswith(
        "Expected one target array per model output and one loss (or None) per output. "
        f"Received: {n_targets} target arrays, {n_losses} losses, {n_outputs} outputs. Fix: "
    )
    # the same, lined up, is accepted (and still checks shapes: (4, 2) is not (None, 3))
    dl.losses.check_targets(losses[:1], targets[:1], shapes[:1])
    with pytest.raises(ShapeError, match="y_true and y_pred must have the same shape"):
        dl.losses.check_targets(losses[:1], [np.zeros((4, 2))], shapes[:1])
