"""dl.layers.add / subtract / ... : Keras's functional merge spellings, against real Keras 3."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS

keras = importlib.import_module("keras")  # the oracle (in the test extra; never absent in CI)

FUNCS = [
    ("add", {}, "Add"),
    ("subtract", {}, "Subtract"),
    ("multiply", {}, "Multiply"),
    ("average", {}, "Average"),
    ("maximum", {}, "Maximum"),
    ("minimum", {}, "Minimum"),
    ("concatenate", {"axis": -1}, "Concatenate"),
    ("dot", {"axes": 1, "normalize": True}, "Dot"),
]


def _build(lib, fn, kw):
    a, b = lib.Input((4,)), lib.Input((4,))
    ha = lib.layers.Dense(4, name="da")(a)
    hb = lib.layers.Dense(4, name="db")(b)
    merged = getattr(lib.layers, fn)([ha, hb], name="merge", **kw)
    return lib.Model([a, b], lib.layers.Dense(2, name="out")(merged))


@pytest.mark.parametrize("fn, kw, cls", FUNCS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_merge_matches_keras(backend, fn, kw, cls):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((5, 4)).astype("float32") for _ in range(2)]
    dl.set_random_seed(0)
    with dl.use_backend(backend):
        ours = _build(dl, fn, kw)
        assert type(ours.get_layer("merge")).__name__ == cls
        theirs = _build(keras, fn, kw)
        theirs.set_weights(ours.get_weights())
        assert_close(
            f"{backend} {fn}",
            ours.predict(xs, verbose=0),
            np.asarray(theirs.predict(xs, verbose=0)),
            "float32",
            "forward",
        )


def test_functional_merge_on_arrays_and_load_model_spelling(tmp_path):
    a = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(dl.layers.add([a, a]), a + a)
    np.testing.assert_array_equal(dl.layers.concatenate([a, a]), np.concatenate([a, a], axis=-1))
    m = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)])
    m.save(str(tmp_path / "m.dlm"))
    again = dl.models.load_model(str(tmp_path / "m.dlm"))
    assert dl.models.load_model is dl.saving.load_model
    for w, v in zip(m.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(w, v)
