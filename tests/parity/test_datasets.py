"""dl.datasets against real Keras 3 loading the same pre-placed files (no network).

Small files in the exact published formats (npz, gzipped IDX, pickled CIFAR batches in a
tar.gz, JSON word indexes) are written into a temporary cache with Keras's file names. Our
loaders read them from ``$DUALLEARN_HOME`` (their hash constants patched to the small files'
hashes); real Keras reads a copy from ``$KERAS_HOME`` in a subprocess (its hash check patched
off). Every returned array must be identical: shape, dtype and bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import inspect
import io
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, SerializationError
from duallearn.utils import DownloadError

keras = importlib.import_module("keras")
KERAS_DATASETS = Path(keras.__file__).parent / "src" / "datasets"

CASES = [
    ("mnist", "load_data", {}),
    ("fashion_mnist", "load_data", {}),
    ("cifar10", "load_data", {}),
    ("cifar100", "load_data", {}),
    ("cifar100", "load_data", {"label_mode": "coarse"}),
    ("imdb", "load_data", {}),
    ("imdb", "load_data", {"num_words": 9, "skip_top": 2, "maxlen": 7, "seed": 5}),
    ("imdb", "load_data", {"start_char": None, "oov_char": None, "index_from": 0, "num_words": 6}),
    ("imdb", "get_word_index", {}),
    ("reuters", "load_data", {}),
    ("reuters", "load_data", {"num_words": 8, "maxlen": 6, "test_split": 0.3, "oov_char": None}),
    ("reuters", "get_word_index", {}),
    ("boston_housing", "load_data", {}),
    ("boston_housing", "load_data", {"test_split": 0.1, "seed": 4}),
    ("california_housing", "load_data", {}),
    ("california_housing", "load_data", {"version": "small", "test_split": 0.25}),
]


def _summary(value):
    """Shapes, dtypes and a digest of every array in a (nested) result."""
    if isinstance(value, dict):
        return {"dict": hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()}
    if isinstance(value, (tuple, list)):
        return [_summary(v) for v in value]
    a = np.asarray(value)
    if a.dtype == object:
        data = json.dumps(a.tolist(), default=int).encode()
    else:
        data = np.ascontiguousarray(a).tobytes()
    return [list(a.shape), str(a.dtype), hashlib.sha256(data).hexdigest()]


# ---- writing the published formats ------------------------------------------------------------
def _npz(path: Path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _ragged(rng, n: int, vocab: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = [list(map(int, rng.integers(1, vocab, rng.integers(2, 9)))) for _ in range(n)]
    return out


def _idx_gz(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _cifar_tar(path: Path, folder: str, batches: dict[str, dict]) -> None:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, batch in batches.items():
            data = pickle.dumps({k.encode(): v for k, v in batch.items()}, protocol=4)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _write_cache(root: Path) -> None:
    d = root / "datasets"
    (d / "fashion-mnist").mkdir(parents=True)
    rng = np.random.default_rng(0)
    _npz(
        d / "mnist.npz",
        x_train=rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 7, dtype=np.uint8),
        x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 3, dtype=np.uint8),
    )
    for prefix, n in (("train", 6), ("t10k", 4)):
        _idx_gz(
            d / "fashion-mnist" / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n), 2049
        )
        _idx_gz(
            d / "fashion-mnist" / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28)),
            2051,
        )
    # CIFAR-10: Keras fills fixed (50000, ...) arrays, so the batches have the real sizes
    pattern = (np.arange(10000 * 3072, dtype=np.int64) % 251).astype(np.uint8).reshape(10000, 3072)
    batches = {
        f"data_batch_{i}": {
            "data": np.roll(pattern, i, axis=1),
            "labels": list(map(int, rng.integers(0, 10, 10000))),
        }
        for i in range(1, 6)
    }
    batches["test_batch"] = {
        "data": pattern[::-1].copy(),
        "labels": list(map(int, rng.integers(0, 10, 10000))),
    }
    batches["batches.meta"] = {"label_names": [b"airplane"]}
    _cifar_tar(d / "cifar-10-batches-py-target_archive", "cifar-10-batches-py", batches)
    c100 = {
        split: {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "fine_labels": list(map(int, rng.integers(0, 100, n))),
            "coarse_labels": list(map(int, rng.integers(0, 20, n))),
        }
        for split, n in (("train", 9), ("test", 4))
    }
    _cifar_tar(d / "cifar-100-python-target_archive", "cifar-100-python", c100)
    _npz(
        d / "imdb.npz",
        x_train=_ragged(rng, 12, 15), y_train=rng.integers(0, 2, 12),
        x_test=_ragged(rng, 8, 15), y_test=rng.integers(0, 2, 8),
    )  # fmt: skip
    _npz(d / "reuters.npz", x=_ragged(rng, 15, 20), y=rng.integers(0, 46, 15))
    for name in ("imdb_word_index.json", "reuters_word_index.json"):
        (d / name).write_text(json.dumps({"the": 1, "and": 2, "film": 3, name[:4]: 4}))
    _npz(d / "boston_housing.npz", x=rng.normal(size=(23, 13)), y=rng.normal(size=23))
    _npz(
        d / "california_housing.npz",
        x=rng.normal(size=(640, 8)).astype("float32"),
        y=rng.normal(size=640),
    )


KERAS_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, pickle, sys, importlib
    import numpy as np
    import keras.src.utils.file_utils as fu
    fu.validate_file = lambda *a, **k: True   # the small files are not Keras's real ones
    exec(sys.argv[3])  # defines _summary, the same function as in this test file
    out = []
    for module, func, kw in json.loads(sys.argv[1]):
        fn = getattr(importlib.import_module(f"keras.datasets.{module}"), func)
        out.append(_summary(fn(**kw)))
    with open(sys.argv[2], "wb") as f:
        pickle.dump(out, f)
    """
)


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("datasets")
    ours, theirs = root / "dl_home", root / "keras_home"
    _write_cache(ours)
    shutil.copytree(ours, theirs)
    out = root / "keras.pkl"
    env = {**os.environ, "KERAS_HOME": str(theirs), "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, json.dumps(CASES), str(out), inspect.getsource(_summary)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out, "rb") as f:
        return ours, pickle.load(f)


@pytest.fixture
def our_home(caches, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = caches[0]
    monkeypatch.setenv("DUALLEARN_HOME", str(home))
    d = home / "datasets"
    files = {
        "mnist": ("mnist.npz",), "cifar10": ("cifar-10-batches-py-target_archive",),
        "cifar100": ("cifar-100-python-target_archive",),
        "imdb": ("imdb.npz", "imdb_word_index.json"),
        "reuters": ("reuters.npz", "reuters_word_index.json"),
        "boston_housing": ("boston_housing.npz",),
        "california_housing": ("california_housing.npz",),
    }  # fmt: skip
    for module, names in files.items():
        mod = getattr(dl.datasets, module)
        monkeypatch.setattr(mod, "FILE_HASH", dl.utils._files.hash_file(d / names[0]))
        if len(names) > 1:
            monkeypatch.setattr(
                mod, "WORD_INDEX_HASH", dl.utils._files.hash_file(d / names[1], "md5")
            )
    return home


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{m}.{f}{kw or ''}" for m, f, kw in CASES])
def test_loader_equals_keras(caches, our_home: Path, i: int) -> None:
    module, func, kw = CASES[i]
    ours = getattr(getattr(dl.datasets, module), func)(**kw)
    assert _summary(ours) == caches[1][i]


def test_urls_hashes_and_names_are_keras_own() -> None:
    for module in (
        "mnist",
        "cifar10",
        "cifar100",
        "imdb",
        "reuters",
        "boston_housing",
        "california_housing",
    ):
        mod = getattr(dl.datasets, module)
        source = (KERAS_DATASETS / f"{module}.py").read_text()
        assert mod.FILE_HASH in source, module
        assert mod.URL.rsplit("/", 1)[-1] in source, module
        if hasattr(mod, "WORD_INDEX_HASH"):
            assert mod.WORD_INDEX_HASH in source
    assert dl.datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()
    assert "tf-keras-datasets" in dl.datasets.mnist.URL


def test_offline_without_cache_names_url_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALLEARN_HOME", str(tmp_path / "home"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tf-keras-datasets/mnist.npz"
    monkeypatch.setattr(dl.datasets.mnist, "URL", url)
    with pytest.raises(DownloadError) as info:
        dl.datasets.mnist.load_data()
    assert url in str(info.value)
    assert str(tmp_path / "home" / "datasets" / "mnist.npz") in str(info.value)


def test_hostile_pickle_in_a_cifar_batch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": os.system}))
    with pytest.raises(
        SerializationError, match="Refusing to unpickle posix.system|Refusing to unpickle"
    ):
        dl.datasets._cifar.load_batch(str(path))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: dl.datasets.cifar100.load_data(label_mode="medium"),
            "label_mode must be 'fine' or 'coarse'",
        ),
        (
            lambda: dl.datasets.boston_housing.load_data(test_split=1.0),
            "test_split must be in \\[0, 1\\)",
        ),
        (
            lambda: dl.datasets.california_housing.load_data(version="tiny"),
            "version must be 'small' or 'large'",
        ),
        (
            lambda: dl.datasets.imdb.load_data(nb_words=10),
            "unexpected keyword arguments \\['nb_words'\\]",
        ),
    ],
)
def test_bad_arguments(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


def test_imdb_maxlen_too_small(our_home: Path) -> None:
    with pytest.raises(ConfigError, match="no review is shorter than maxlen=2"):
        dl.datasets.imdb.load_data(maxlen=2)
