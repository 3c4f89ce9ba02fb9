"""``dl.backend``: still callable (``dl.backend()`` names the active backend) and holds
``keras.backend``'s spellings (clear_session, backend, floatx, set_floatx, epsilon,
image_data_format). No framework is needed, except for the check against Keras itself."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError


def test_call_and_backend_name_the_active_backend():
    with dl.use_backend("numpy"):
        assert dl.backend() == "numpy"
        assert dl.backend.backend() == "numpy"
    from duallearn import backend

    assert backend is dl.backend
    assert "backend" in dir(dl)


def test_floatx_epsilon_and_image_data_format():
    assert dl.backend.floatx() == dl.config.floatx() == "float32"
    dl.backend.set_floatx("float64")
    assert dl.config.floatx() == "float64" and dl.backend.floatx() == "float64"
    dl.backend.set_floatx("float32")
    with pytest.raises(ConfigError, match=r"Unknown float type.*'int8'.*Fix"):
        dl.backend.set_floatx("int8")
    assert dl.backend.epsilon() == 1e-7
    dl.backend.set_epsilon(1e-7)
    with pytest.raises(ConfigError, match=r"Expected: 1e-07\. Received: 0\.001\. Fix"):
        dl.backend.set_epsilon(1e-3)
    assert dl.backend.image_data_format() == "channels_last"
    dl.backend.set_image_data_format("channels_last")
    with pytest.raises(ConfigError, match=r"Received: 'channels_first'.*Fix: pass data_format"):
        dl.backend.set_image_data_format("channels_first")


def test_clear_session_resets_names_and_dtype_policy_but_not_the_random_stream():
    dl.set_random_seed(1)
    first = dl.layers.Dense(3)
    first._ensure_built((None, 2))
    assert dl.layers.Dense(3).name == "dense_1"
    dl.mixed_precision.set_global_policy("mixed_float16")
    dl.backend.clear_session()
    assert dl.mixed_precision.global_policy().name == "float32"
    again = dl.layers.Dense(3)
    again._ensure_built((None, 2))
    assert again.name == "dense"
    assert not np.array_equal(again.get_weights()[0], first.get_weights()[0])  # stream goes on
    dl.set_random_seed(1)
    dl.backend.clear_session(free_memory=False)
    replay = dl.layers.Dense(3)
    replay._ensure_built((None, 2))
    assert replay.name == "dense"
    np.testing.assert_array_equal(replay.get_weights()[0], first.get_weights()[0])


def test_clear_session_behaves_as_keras():
    keras = importlib.import_module("keras")  # the oracle (in the test extra)

    def names_and_replay(lib, seed_fn):
        seed_fn(1)
        a = lib.layers.Dense(3)
        a.build((None, 2))
        lib.backend.clear_session()
        b = lib.layers.Dense(3)
        b.build((None, 2))
        seed_fn(1)
        lib.backend.clear_session()
        c = lib.layers.Dense(3)
        c.build((None, 2))
        w = [layer.get_weights()[0] for layer in (a, b, c)]
        return [a.name, b.name, c.name], np.array_equal(w[0], w[1]), np.array_equal(w[0], w[2])

    keras.backend.clear_session()
    dl.backend.clear_session()
    ours = names_and_replay(dl, dl.set_random_seed)
    theirs = names_and_replay(keras, keras.utils.set_random_seed)
    assert ours == theirs == (["dense", "dense", "dense"], False, True)


def test_dl_backend_object_imports_no_framework():
    code = (
        "import sys, duallearn as dl\n"
        "dl.backend.floatx(); dl.backend.epsilon(); dl.backend.clear_session()\n"
        "with dl.use_backend('numpy'):\n"
        "    assert dl.backend() == 'numpy'\n"
        "print(','.join(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == ""
