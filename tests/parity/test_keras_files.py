"""Real Keras 3 files both ways, on both engines.

- Files made by real Keras here (``.keras``, ``.weights.h5``, legacy ``.h5``) load in
  duallearn with Keras's predictions, and training continues as in Keras (the compile config
  and the optimizer's slots come along).
- Files written by duallearn load in real Keras in a subprocess that cannot import duallearn
  (checked there), with duallearn's predictions, and Keras's training continues as ours.
- ``dl.from_keras`` / ``model.to_keras()`` round trips keep weights bit for bit.
- Every layer duallearn shares with Keras, both ways (a small model per layer).

The models are written once against the shared API (``M`` is ``keras`` or ``duallearn``), with
non-default arguments, so the same builder makes the Keras model and the duallearn one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import SerializationError
from duallearn.saving._keras_compile import CompileSkipped
from duallearn.testing import assert_close
from tests.conftest import both

pytestmark = [both()]
TWO = ("torch", "tensorflow")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keras():
    import keras as keras_module

    return keras_module


# ---- the five models, written once for both libraries --------------------------------------
def mlp(M: Any) -> Any:
    model = M.Sequential(
        [
            M.Input((6,)),
            M.layers.Dense(16, activation="relu", use_bias=False,
                           kernel_initializer="he_normal", name="hidden"),
            M.layers.Dense(8, activation="tanh", kernel_regularizer=M.regularizers.L2(1e-3)),
            M.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="mlp",
    )  # fmt: skip
    model.compile(
        optimizer=M.optimizers.Adam(learning_rate=5e-3, amsgrad=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def cnn(M: Any) -> Any:
    L = M.layers
    image = M.Input((9, 9, 3), name="image")
    x = L.Conv2D(6, 3, strides=2, padding="same", activation="relu")(image)
    x = L.BatchNormalization(momentum=0.9, epsilon=1e-4)(x)
    x = L.MaxPooling2D(2, padding="same")(x)
    x = L.DepthwiseConv2D(2, depth_multiplier=2)(x)
    x = L.GlobalAveragePooling2D()(x)
    model = M.Model(image, L.Dense(2, name="logits")(x), name="cnn")
    model.compile(optimizer=M.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    return model


def rnn(M: Any) -> Any:
    L = M.layers
    model = M.Sequential(
        [
            M.Input((7, 3)),
            L.LSTM(5, return_sequences=True, unit_forget_bias=False),
            L.GRU(4, return_sequences=True, reset_after=False),
            L.Bidirectional(L.GRU(3), merge_mode="sum"),
            L.Dense(1),
        ],
        name="rnn",
    )
    model.compile(
        optimizer=M.optimizers.RMSprop(learning_rate=1e-2, momentum=0.5, centered=True),
        loss="mse",
    )
    return model


def embed(M: Any) -> Any:
    L = M.layers
    tokens = M.Input((6,), dtype="int32", name="tokens")
    x = L.Embedding(30, 8, mask_zero=True)(tokens)
    x = L.LSTM(4)(x)
    model = M.Model(tokens, L.Dense(2, activation="sigmoid")(x), name="embed")
    model.compile(optimizer=M.optimizers.Adagrad(learning_rate=0.01), loss="binary_crossentropy")
    return model


def merge(M: Any) -> Any:
    L = M.layers
    a, b = M.Input((5,), name="a"), M.Input((5,), name="b")
    shared = L.Dense(4, activation="relu", name="shared")
    sa, sb = shared(a), shared(b)
    joined = L.Concatenate(axis=-1)([sa, sb])
    summed = L.Add(name="sum")([sa, sb])
    main = L.Dense(3, name="main")(L.Dropout(0.2)(joined))
    model = M.Model([a, b], [main, summed], name="merge")
    model.compile(optimizer=M.optimizers.Adam(1e-3), loss=["mse", "mae"], loss_weights=[1.0, 0.5])
    return model


def nested(M: Any) -> Any:
    """Dict inputs and outputs, and a functional model called inside another."""
    L = M.layers
    i = M.Input((4,), name="i")
    inner = M.Model(i, L.Dense(3, activation="tanh", name="inner_dense")(i), name="inner")
    a, b = M.Input((4,), name="a"), M.Input((4,), name="b")
    h = inner(a)
    s = L.Add()([h, L.Dense(3, name="from_b")(b)])
    model = M.Model({"a": a, "b": b}, {"out": L.Dense(2, name="out")(s), "h": h}, name="nested")
    model.compile(optimizer=M.optimizers.Adam(1e-2), loss={"out": "mse", "h": "mae"})
    return model


def data(name: str, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    n = 16
    if name == "mlp":
        return rng.standard_normal((n, 6)).astype("float32"), rng.integers(0, 3, n)
    if name == "cnn":
        x = rng.standard_normal((n, 9, 9, 3)).astype("float32")
        return x, rng.standard_normal((n, 2)).astype("float32")
    if name == "rnn":
        x = rng.standard_normal((n, 7, 3)).astype("float32")
        return x, rng.standard_normal((n, 1)).astype("float32")
    if name == "embed":
        # No token twice in a batch of 8: Keras's TensorFlow backend hands the optimizer an
        # Embedding's gradient as IndexedSlices and squares each occurrence separately
        # (Adagrad's accumulator gets Σg² instead of (Σg)²), which no other engine does.
        tokens = np.zeros((n, 6), "int32")  # the last 3 positions: padding, masked
        for start in range(0, n, 8):
            tokens[start : start + 8, :3] = rng.permutation(np.arange(1, 30))[:24].reshape(8, 3)
        return tokens, rng.integers(0, 2, (n, 2)).astype("float32")
    if name == "nested":
        x = {k: rng.standard_normal((n, 4)).astype("float32") for k in ("a", "b")}
        y = {"out": rng.standard_normal((n, 2)).astype("float32"),
             "h": rng.standard_normal((n, 3)).astype("float32")}  # fmt: skip
        return x, y
    a, b = (rng.standard_normal((n, 5)).astype("float32") for _ in range(2))
    return [a, b], [rng.standard_normal((n, 3)).astype("float32"), np.zeros((n, 4), "float32")]


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "mlp": mlp, "cnn": cnn, "rnn": rnn, "embed": embed, "merge": merge, "nested": nested,
}  # fmt: skip
NAMES = list(BUILDERS)
# merge has Dropout: no step-for-step training
DETERMINISTIC = ["mlp", "cnn", "rnn", "embed", "nested"]


def outputs(y: Any) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def to_npz(path: Path, x: Any, y: Any) -> None:
    """Arrays for the subprocess: ``x0``, ``x1`` for lists, ``x:a`` for dicts."""
    arrays = {}
    for prefix, v in (("x", x), ("y", y)):
        if isinstance(v, dict):
            arrays.update({f"{prefix}:{k}": a for k, a in v.items()})
        else:
            arrays.update(
                {f"{prefix}{i}": a for i, a in enumerate(v if isinstance(v, list) else [v])}
            )
    np.savez(path, **arrays)


def check_predictions(label: str, ours: Any, theirs: Any) -> None:
    a, b = outputs(ours), outputs(theirs)
    assert len(a) == len(b), f"{label}: {len(a)} outputs vs {len(b)}"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert_close(f"{label} output {i}", x, y, "float32", "forward")


def check_weights(label: str, ours: list[np.ndarray], theirs: list[np.ndarray], kind: str) -> None:
    assert len(ours) == len(theirs), f"{label}: {len(ours)} weights vs {len(theirs)}"
    for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(f"{label} weight {i}", x, y, "float32", kind)


_TRAINED: dict[tuple[str, int], bytes] = {}  # (model, seed) -> the trained model's .keras file


def keras_trained(keras: Any, name: str, seed: int = 3) -> Any:
    """A Keras model trained one epoch (two Adam/SGD/... steps). Trained once per worker and
    kept as its ``.keras`` file; later calls load a fresh copy of it, optimizer state and step
    count included (training traces Keras's train function: 0.5-3 s, ~48 calls here)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trained.keras")
        if (name, seed) in _TRAINED:
            Path(path).write_bytes(_TRAINED[name, seed])
            return keras.models.load_model(path)
        keras.utils.set_random_seed(seed)
        model = BUILDERS[name](keras)
        x, y = data(name)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        model.save(path)
        _TRAINED[name, seed] = Path(path).read_bytes()
        return model


# ---- Keras files → duallearn ----------------------------------------------------------------
@pytest.mark.parametrize("backend", TWO)
@pytest.mark.parametrize("name", NAMES)
def test_keras_file_loads_with_keras_predictions(keras, tmp_path, name, backend):
    kmodel = keras_trained(keras, name)
    path = tmp_path / f"{name}.keras"
    kmodel.save(path)
    x, _ = data(name, seed=1)
    model = dl.load_model(path, backend=backend)
    assert [layer.name for layer in model.layers if layer.weights] == [
        layer.name for layer in kmodel.layers if layer.weights
    ]
    check_weights(f"{name} {backend} weights", model.get_weights(), kmodel.get_weights(), "forward")
    check_predictions(
        f"{name} {backend} predict", model.predict(x, verbose=0), kmodel.predict(x, verbose=0)
    )
    assert type(model.optimizer).__name__ == type(kmodel.optimizer).__name__
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations) == 2


@pytest.mark.parametrize("backend", TWO)
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_training_continues_from_keras_file(keras, tmp_path, name, backend):
    """The optimizer's slots and step count come along: two more epochs on each side give
    the same weights (Adam with amsgrad, SGD with momentum, centered RMSprop, Adagrad)."""
    kmodel = keras_trained(keras, name)
    kmodel.save(tmp_path / "m.keras")
    model = dl.load_model(tmp_path / "m.keras", backend=backend)
    x, y = data(name, seed=2)
    kmodel.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations) == 6
    check_weights(f"{name} {backend} after 4 more steps", model.get_weights(),
                  kmodel.get_weights(), "params_10")  # fmt: skip


@pytest.mark.parametrize("backend", TWO)
@pytest.mark.parametrize("name", NAMES)
def test_keras_weights_file_loads(keras, tmp_path, name, backend):
    kmodel = keras_trained(keras, name)
    kmodel.save_weights(tmp_path / "w.weights.h5")
    keras.utils.set_random_seed(99)
    BUILDERS[name](keras).save(tmp_path / "fresh.keras")  # same layers, other weights
    model = dl.load_model(tmp_path / "fresh.keras", compile=False, backend=backend)
    x, _ = data(name, seed=1)
    before = model.predict(x, verbose=0)
    assert not np.allclose(outputs(before)[0], outputs(kmodel.predict(x, verbose=0))[0])
    model.load_weights(str(tmp_path / "w.weights.h5"))
    check_predictions(
        f"{name} {backend} after load_weights",
        model.predict(x, verbose=0),
        kmodel.predict(x, verbose=0),
    )


@pytest.mark.parametrize("backend", TWO)
def test_legacy_h5_weights(keras, tmp_path, backend):
    kmodel = keras_trained(keras, "cnn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: "HDF5 format is considered legacy"
        kmodel.save(tmp_path / "legacy.h5")
    with dl.use_backend(backend):
        model = cnn(dl)
    x, _ = data("cnn", seed=1)
    model.load_weights(str(tmp_path / "legacy.h5"))
    check_predictions(f"legacy .h5 {backend}", model.predict(x, verbose=0),
                      kmodel.predict(x, verbose=0))  # fmt: skip
    with pytest.raises(dl.errors.ConfigError, match="skip_mismatch=True is not supported"):
        model.load_weights(str(tmp_path / "legacy.h5"), skip_mismatch=True)


def test_keras_weights_shape_mismatch(keras, tmp_path):
    kmodel = keras_trained(keras, "mlp")
    kmodel.save_weights(tmp_path / "w.weights.h5")
    other = dl.Sequential([dl.Input((6,)), dl.layers.Dense(16, use_bias=False, name="hidden"),
                           dl.layers.Dense(9), dl.layers.Dense(3)])  # fmt: skip
    before = other.get_weights()
    with pytest.raises(SerializationError, match=r"weight 'layers/dense_1/vars/0'.*\(16, 8\)"):
        other.load_weights(str(tmp_path / "w.weights.h5"))
    for a, b in zip(other.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # nothing assigned
    other.load_weights(str(tmp_path / "w.weights.h5"), skip_mismatch=True)
    np.testing.assert_array_equal(other.get_weights()[0], kmodel.get_weights()[0])
    np.testing.assert_array_equal(other.get_weights()[1], before[1])
    with pytest.raises(dl.errors.ConfigError, match="by_name=True is not supported"):
        other.load_weights(str(tmp_path / "w.weights.h5"), by_name=True)


def test_keras_lambda_file_is_refused(keras, tmp_path):
    sentinel = tmp_path / "ran"
    inp = keras.Input((3,))
    # a lambda that leaves a file behind whenever it runs (Keras runs it once, to trace it)
    fn = eval(f"lambda t: t * 2.0 + 0.0 * float(open({str(sentinel)!r}, 'w').close() is None)")
    out = keras.layers.Lambda(fn)(inp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about serializing a lambda
        keras.Model(inp, keras.layers.Dense(2)(out)).save(tmp_path / "lam.keras")
    if sentinel.exists():
        sentinel.unlink()  # Keras traced the lambda while building
    with pytest.raises(SerializationError, match="Lambda.*never runs code"):
        dl.load_model(tmp_path / "lam.keras")
    assert not sentinel.exists()


def test_untranslatable_compile_config_loads_uncompiled(keras, tmp_path):
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    kmodel.compile(optimizer=keras.optimizers.Lamb(), loss="mse")
    kmodel.save(tmp_path / "lamb.keras")
    with pytest.warns(CompileSkipped, match="loaded uncompiled.*Lamb"):
        model = dl.load_model(tmp_path / "lamb.keras")
    assert model.optimizer is None
    x = np.ones((2, 4), "float32")
    check_predictions("Lamb model", model.predict(x, verbose=0), kmodel.predict(x, verbose=0))
    kmodel.compile(optimizer=keras.optimizers.Nadam(), loss="mse")
    kmodel.fit(x, np.zeros((2, 2), "float32"), verbose=0)
    kmodel.save(tmp_path / "nadam.keras")
    with pytest.warns(CompileSkipped, match="optimizer state was not loaded"):
        model = dl.load_model(tmp_path / "nadam.keras")
    assert type(model.optimizer).__name__ == "Nadam" and model.optimizer.iterations == 0


@pytest.mark.parametrize("backend", TWO)
def test_keras_ops_in_a_graph_become_dl_ops(keras, tmp_path, backend):
    """``a + b`` and ``keras.ops`` calls on Keras tensors are recorded as op nodes; they
    load as the ``dl.ops`` functions of the same names, with their arguments."""
    a = keras.Input((5,), name="a")
    h = keras.layers.Dense(4, name="h")(a)
    y = keras.ops.relu(h) + keras.ops.mean(h, axis=-1, keepdims=True) * 2.0
    kmodel = keras.Model(a, keras.layers.Dense(2, name="out")(y))
    kmodel.save(tmp_path / "ops.keras")
    model = dl.load_model(tmp_path / "ops.keras", backend=backend)
    x = np.random.default_rng(4).standard_normal((6, 5)).astype("float32")
    check_predictions(f"ops {backend}", model.predict(x, verbose=0), kmodel.predict(x, verbose=0))
    ops = sorted(layer.op for layer in model.graph.layers if type(layer).__name__ == "OpLayer")
    assert ops == ["add", "mean", "multiply", "relu"]


# ---- duallearn files → real Keras in a clean subprocess ------------------------------------
CLEAN_KERAS = textwrap.dedent(
    """
    import importlib.util, json, sys
    repo = sys.argv[1]
    # The venv installs duallearn in editable mode: drop its finder and the source folders.
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
    ours = (repo + "/src", repo + "/backends", repo + "/tests")
    sys.path[:] = [p for p in sys.path if p and p != repo and not p.startswith(ours)]
    sys.path_importer_cache.clear()
    for name in ("duallearn", "duallearn_torch", "duallearn_tensorflow", "tests"):
        assert importlib.util.find_spec(name) is None, f"{name} is importable"
    try:
        import duallearn  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("duallearn imported")
    import numpy as np
    import keras
    out = {}
    def unpack(d, prefix):
        if any(k.startswith(prefix + ":") for k in d.files):
            return {k[2:]: d[k] for k in d.files if k.startswith(prefix + ":")}
        v = [d[k] for k in sorted(d.files) if k.startswith(prefix)]
        return v if len(v) > 1 else v[0]

    def flat(y):
        if isinstance(y, dict):
            return [np.asarray(y[k]) for k in sorted(y)]
        return [np.asarray(v) for v in (y if isinstance(y, list) else [y])]

    for job in json.loads(sys.argv[2]):
        d = np.load(job["data"])
        x = unpack(d, "x")
        model = keras.saving.load_model(job["keras"])
        out[job["name"] + "/predict"] = flat(model.predict(x, verbose=0))
        fresh = keras.models.clone_model(model)
        fresh.load_weights(job["weights"])
        out[job["name"] + "/weights_file"] = [np.asarray(v) for v in fresh.get_weights()]
        if job["train"]:
            out[job["name"] + "/iterations"] = [np.asarray(int(model.optimizer.iterations))]
            model.fit(x, unpack(d, "y"), batch_size=8, epochs=2, verbose=0, shuffle=False)
            out[job["name"] + "/trained"] = [np.asarray(v) for v in model.get_weights()]
    assert not [m for m in sys.modules if m.startswith("duallearn")]
    np.savez(sys.argv[3], **{f"{k}/{i}": v for k, vs in out.items() for i, v in enumerate(vs)})
    """
)


def run_clean_keras(tmp_path: Path, jobs: list[dict[str, Any]]) -> dict[str, list[np.ndarray]]:
    result = tmp_path / "keras_out.npz"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-I", "-c", CLEAN_KERAS, str(REPO), json.dumps(jobs), str(result)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = np.load(result)
    out: dict[str, list[np.ndarray]] = {}
    for key in sorted(stored.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
        out.setdefault(key.rsplit("/", 1)[0], []).append(stored[key])
    return out


@pytest.mark.parametrize("backend", TWO)
def test_duallearn_files_load_in_keras_without_duallearn(tmp_path, backend):
    """Each model, built and trained by duallearn, saved as .keras and .weights.h5: Keras
    (no duallearn importable) predicts as we do, reads the weights file, and two more epochs
    of Keras training from the file's optimizer state match two more of ours."""
    models, jobs = {}, []
    for name in NAMES:
        with dl.use_backend(backend):
            dl.set_random_seed(5)
            model = BUILDERS[name](dl)
        x, y = data(name)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        model.save(tmp_path / f"{name}.keras")
        model.save_weights(tmp_path / f"{name}.weights.h5")
        to_npz(tmp_path / f"{name}.npz", x, y)
        models[name] = model
        jobs.append({"name": name, "keras": str(tmp_path / f"{name}.keras"),
                     "weights": str(tmp_path / f"{name}.weights.h5"),
                     "data": str(tmp_path / f"{name}.npz"), "train": name in DETERMINISTIC})  # fmt: skip
    theirs = run_clean_keras(tmp_path, jobs)
    for name, model in models.items():
        x, y = data(name)
        check_predictions(f"{name} {backend} in Keras", model.predict(x, verbose=0),
                          theirs[f"{name}/predict"])  # fmt: skip
        check_weights(f"{name} {backend} weights file in Keras", model.get_weights(),
                      theirs[f"{name}/weights_file"], "forward")  # fmt: skip
        if name in DETERMINISTIC:
            assert int(theirs[f"{name}/iterations"][0]) == model.optimizer.iterations == 2
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
            check_weights(f"{name} {backend} trained on in Keras", model.get_weights(),
                          theirs[f"{name}/trained"], "params_10")  # fmt: skip


def test_duallearn_only_argument_is_refused_for_keras_files(tmp_path):
    model = dl.Sequential(
        [dl.Input((3,)), dl.layers.BatchNormalization(unbiased_moving_variance=True)]
    )
    with pytest.raises(
        SerializationError, match=r"unbiased_moving_variance=True has no Keras.*\.dlm"
    ):
        model.save(tmp_path / "m.keras")
    assert not os.listdir(tmp_path)  # nothing written, not even a temporary file
    model.save(tmp_path / "m.dlm")  # duallearn's format keeps it
    assert dl.load_model(tmp_path / "m.dlm").layers[0].unbiased_moving_variance


def test_save_formats_follow_the_name(tmp_path):
    model = mlp(dl)
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.dlm")
    model.save_weights(tmp_path / "w.weights.h5")
    model.save_weights(tmp_path / "w.safetensors")
    import zipfile

    assert sorted(zipfile.ZipFile(tmp_path / "m.keras").namelist()) == [
        "config.json", "metadata.json", "model.weights.h5"]  # fmt: skip
    assert "manifest.json" in zipfile.ZipFile(tmp_path / "m.dlm").namelist()
    assert (tmp_path / "w.weights.h5").read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    from safetensors.numpy import load_file

    assert len(load_file(str(tmp_path / "w.safetensors"))) == len(model.get_weights())
    again = dl.load_model(tmp_path / "m.keras")
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---- live models ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", TWO)
@pytest.mark.parametrize("name", NAMES)
def test_from_keras_and_back(keras, name, backend):
    kmodel = keras_trained(keras, name)
    model = dl.from_keras(kmodel, backend=backend)
    assert model.backend_name == backend
    x, _ = data(name, seed=1)
    check_predictions(f"{name} {backend} from_keras", model.predict(x, verbose=0),
                      kmodel.predict(x, verbose=0))  # fmt: skip
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    back = model.to_keras()
    assert [type(layer).__name__ for layer in back.layers] == [
        type(layer).__name__ for layer in kmodel.layers
    ]
    for a, b in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert type(back.optimizer).__name__ == type(kmodel.optimizer).__name__
    assert int(back.optimizer.iterations) == int(kmodel.optimizer.iterations) == 2
    for a, b in zip(back.optimizer.variables, kmodel.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    check_predictions(f"{name} {backend} to_keras", back.predict(x, verbose=0),
                      kmodel.predict(x, verbose=0))  # fmt: skip


def test_from_keras_refuses_other_objects(keras):
    with pytest.raises(dl.errors.ConfigError, match="takes a keras.Model.*Received: Dense"):
        dl.from_keras(keras.layers.Dense(2))


# ---- every shared layer, both ways ------------------------------------------------------------
def _two_inputs(kind: str) -> Callable[[Any], Any]:
    def make(M: Any) -> Any:
        i = M.Input((5, 8))
        if kind == "mha":
            y = M.layers.MultiHeadAttention(2, 3, value_dim=4, use_bias=False)(i, i)
        else:
            y = M.layers.Attention(score_mode="concat", use_scale=True)([i, i])
        return M.Model(i, y)

    return make


LAYERS: list[tuple[str, tuple[int, ...], Any, str]] = [
    ("Dense", (4,), lambda L: L.Dense(3, activation="relu"), "f"),
    ("Conv1D", (9, 3), lambda L: L.Conv1D(2, 3, strides=2, padding="causal"), "f"),
    ("Conv2D", (7, 7, 3), lambda L: L.Conv2D(2, 3, strides=2, padding="same"), "f"),
    ("Conv3D", (5, 5, 5, 2), lambda L: L.Conv3D(2, 2), "f"),
    ("Conv1DTranspose", (6, 3), lambda L: L.Conv1DTranspose(2, 3, strides=2), "f"),
    ("Conv2DTranspose", (5, 5, 3), lambda L: L.Conv2DTranspose(2, 3, strides=2, padding="same"), "f"),
    ("Conv3DTranspose", (3, 3, 3, 2), lambda L: L.Conv3DTranspose(2, 2), "f"),
    ("DepthwiseConv2D", (6, 6, 3), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2), "f"),
    ("SeparableConv2D", (6, 6, 3), lambda L: L.SeparableConv2D(4, 3, depth_multiplier=2), "f"),
    ("Embedding", (5,), lambda L: L.Embedding(10, 4), "int"),
    ("LSTM", (6, 3), lambda L: L.LSTM(4, return_sequences=True, go_backwards=True), "f"),
    ("GRU", (6, 3), lambda L: L.GRU(4, reset_after=False), "f"),
    ("SimpleRNN", (6, 3), lambda L: L.SimpleRNN(4, activation="relu"), "f"),
    ("Bidirectional", (6, 3), lambda L: L.Bidirectional(L.LSTM(3), merge_mode="sum"), "f"),
    ("TimeDistributed", (4, 5), lambda L: L.TimeDistributed(L.Dense(2)), "f"),
    ("BatchNormalization", (5,), lambda L: L.BatchNormalization(momentum=0.8, scale=False), "f"),
    ("LayerNormalization", (5, 4), lambda L: L.LayerNormalization(epsilon=1e-5), "f"),
    ("GroupNormalization", (6, 4), lambda L: L.GroupNormalization(groups=2), "f"),
    ("UnitNormalization", (5,), lambda L: L.UnitNormalization(), "f"),
    ("Normalization", (3,), lambda L: L.Normalization(mean=[1.0, 2, 3], variance=[1.0, 2, 3]), "f"),
    ("PReLU", (5,), lambda L: L.PReLU(), "f"),
    ("ReLU", (5,), lambda L: L.ReLU(max_value=2.0, negative_slope=0.1), "f"),
    ("LeakyReLU", (5,), lambda L: L.LeakyReLU(negative_slope=0.2), "f"),
    ("ELU", (5,), lambda L: L.ELU(alpha=0.5), "f"),
    ("Softmax", (5,), lambda L: L.Softmax(), "f"),
    ("Activation", (5,), lambda L: L.Activation("gelu"), "f"),
    ("Dropout", (5,), lambda L: L.Dropout(0.3), "f"),
    ("GaussianNoise", (5,), lambda L: L.GaussianNoise(0.1), "f"),
    ("SpatialDropout1D", (5, 3), lambda L: L.SpatialDropout1D(0.3), "f"),
    ("SpatialDropout2D", (5, 5, 3), lambda L: L.SpatialDropout2D(0.3), "f"),
    ("Flatten", (3, 4), lambda L: L.Flatten(), "f"),
    ("Reshape", (12,), lambda L: L.Reshape((3, 4)), "f"),
    ("Permute", (3, 4), lambda L: L.Permute((2, 1)), "f"),
    ("RepeatVector", (4,), lambda L: L.RepeatVector(3), "f"),
    ("Cropping1D", (6, 2), lambda L: L.Cropping1D((1, 2)), "f"),
    ("Cropping2D", (6, 6, 2), lambda L: L.Cropping2D(((1, 0), (0, 2))), "f"),
    ("UpSampling1D", (3, 2), lambda L: L.UpSampling1D(2), "f"),
    ("UpSampling2D", (3, 3, 2), lambda L: L.UpSampling2D(2), "f"),
    ("ZeroPadding1D", (3, 2), lambda L: L.ZeroPadding1D(2), "f"),
    ("ZeroPadding2D", (3, 3, 2), lambda L: L.ZeroPadding2D(((1, 0), (2, 1))), "f"),
    ("MaxPooling1D", (6, 2), lambda L: L.MaxPooling1D(2), "f"),
    ("MaxPooling2D", (6, 6, 2), lambda L: L.MaxPooling2D(3, strides=2, padding="same"), "f"),
    ("MaxPooling3D", (4, 4, 4, 2), lambda L: L.MaxPooling3D(2), "f"),
    ("AveragePooling1D", (6, 2), lambda L: L.AveragePooling1D(2), "f"),
    ("AveragePooling2D", (7, 7, 2), lambda L: L.AveragePooling2D(2, padding="same"), "f"),
    ("AveragePooling3D", (4, 4, 4, 2), lambda L: L.AveragePooling3D(2), "f"),
    ("GlobalAveragePooling1D", (6, 2), lambda L: L.GlobalAveragePooling1D(), "f"),
    ("GlobalAveragePooling2D", (6, 6, 2), lambda L: L.GlobalAveragePooling2D(keepdims=True), "f"),
    ("GlobalAveragePooling3D", (4, 4, 4, 2), lambda L: L.GlobalAveragePooling3D(), "f"),
    ("GlobalMaxPooling1D", (6, 2), lambda L: L.GlobalMaxPooling1D(), "f"),
    ("GlobalMaxPooling2D", (6, 6, 2), lambda L: L.GlobalMaxPooling2D(), "f"),
    ("GlobalMaxPooling3D", (4, 4, 4, 2), lambda L: L.GlobalMaxPooling3D(), "f"),
    ("MultiHeadAttention", (5, 8), _two_inputs("mha"), "model"),
    ("Attention", (5, 8), _two_inputs("attention"), "model"),
    ("Rescaling", (5,), lambda L: L.Rescaling(0.5, offset=1.0), "f"),
    ("Resizing", (6, 6, 2), lambda L: L.Resizing(4, 4), "f"),
    ("CenterCrop", (6, 6, 2), lambda L: L.CenterCrop(4, 4), "f"),
    ("RandomFlip", (6, 6, 2), lambda L: L.RandomFlip(), "f"),
    ("RandomRotation", (6, 6, 2), lambda L: L.RandomRotation(0.1), "f"),
    ("RandomZoom", (6, 6, 2), lambda L: L.RandomZoom(0.1), "f"),
    ("RandomTranslation", (6, 6, 2), lambda L: L.RandomTranslation(0.1, 0.1), "f"),
    ("RandomContrast", (6, 6, 2), lambda L: L.RandomContrast(0.1), "f"),
    ("RandomBrightness", (6, 6, 2), lambda L: L.RandomBrightness(0.1), "f"),
    ("CategoryEncoding", (3,), lambda L: L.CategoryEncoding(5, output_mode="count"), "int"),
    ("Hashing", (3,), lambda L: L.Hashing(5), "int"),
    ("Discretization", (3,), lambda L: L.Discretization(bin_boundaries=[0.2, 0.5]), "f"),
]  # fmt: skip


def _layer_model(M: Any, shape: tuple[int, ...], make: Any, kind: str) -> Any:
    if kind == "model":
        return make(M)
    inp = M.Input(shape, dtype="int32" if kind == "int" else "float32")
    return M.Model(inp, make(M.layers)(inp))


@pytest.mark.parametrize("backend", TWO)
@pytest.mark.parametrize(("cls", "shape", "make", "kind"), LAYERS, ids=[c[0] for c in LAYERS])
def test_every_shared_layer_both_ways(keras, tmp_path, cls, shape, make, kind, backend):
    rng = np.random.default_rng(7)
    x = (rng.integers(0, 9, (3, *shape)).astype("int32") if kind == "int"
         else rng.standard_normal((3, *shape)).astype("float32"))  # fmt: skip
    kmodel = _layer_model(keras, shape, make, kind)
    values = [rng.standard_normal(w.shape).astype("float32") for w in kmodel.weights]
    kmodel.set_weights([np.abs(v) if "variance" in w.path else v
                        for v, w in zip(values, kmodel.weights, strict=True)])  # fmt: skip
    kmodel.save(tmp_path / "k.keras")
    model = dl.load_model(tmp_path / "k.keras", backend=backend)
    assert type(model.layers[-1]).__name__ == cls
    check_predictions(f"{cls} Keras→{backend}", model.predict(x, verbose=0),
                      kmodel(x, training=False))  # fmt: skip
    with dl.use_backend(backend):
        ours = _layer_model(dl, shape, make, kind)
    ours.save(tmp_path / "d.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.saving.load_model(tmp_path / "d.keras")
    assert type(theirs.layers[-1]).__name__ == cls
    check_predictions(f"{cls} {backend}→Keras", ours.predict(x, verbose=0),
                      theirs(x, training=False))  # fmt: skip


# ---- load_weights dispatch to the PyTorch loader ----------------------------------------------
def test_load_weights_reads_pytorch_sources(tmp_path):
    """A state_dict, an nn.Module, a .pt file and a safetensors file keyed by torch names go
    to dl.porting.load_torch_weights (Linear weight (out, in) → Dense kernel (in, out))."""
    import torch
    from safetensors.numpy import save_file

    model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, name="fc")])
    w = np.arange(6, dtype="float32").reshape(2, 3)
    b = np.array([1.0, -2.0], "float32")
    model.load_weights({"fc.weight": w, "fc.bias": b})
    np.testing.assert_array_equal(model.get_weights()[0], w.T)
    np.testing.assert_array_equal(model.get_weights()[1], b)
    torch.save({"fc.weight": torch.tensor(2 * w), "fc.bias": torch.tensor(b)}, tmp_path / "w.pt")
    model.load_weights(str(tmp_path / "w.pt"))
    np.testing.assert_array_equal(model.get_weights()[0], 2 * w.T)
    save_file({"fc.weight": 3 * w, "fc.bias": b}, str(tmp_path / "torch.safetensors"))
    model.load_weights(str(tmp_path / "torch.safetensors"))
    np.testing.assert_array_equal(model.get_weights()[0], 3 * w.T)
    net = torch.nn.Sequential()
    net.add_module("fc", torch.nn.Linear(3, 2))
    model.load_weights(net)
    np.testing.assert_array_equal(model.get_weights()[0], net.fc.weight.detach().numpy().T)
    with pytest.raises(SerializationError, match="missing keys: fc.weight"):
        model.load_weights({"weight": w, "bias": b})
    model.save_weights(tmp_path / "ours.safetensors")  # duallearn's own file still loads as such
    model.load_weights(str(tmp_path / "ours.safetensors"))
    np.testing.assert_array_equal(model.get_weights()[0], net.fc.weight.detach().numpy().T)
