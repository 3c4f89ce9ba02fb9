"""Contract 1: importing duallearn, building a spec and listing backends import no framework."""

import subprocess
import sys

import pytest

CODE = """
import sys
import duallearn as dl
names = dl.available_backends()
model = dl.Sequential([dl.layers.Input((4,)), dl.layers.Dense(3, activation="relu"),
                       dl.layers.Dropout(0.5), dl.layers.Dense(2)])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
w = model.get_weights()
print(",".join(sorted(m for m in ("torch", "tensorflow", "keras", "jax") if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "env", [{}, {"DUALLEARN_BACKEND": "tensorflow"}, {"DUALLEARN_BACKEND": "torch"}]
)
def test_import_builds_and_lists_without_framework(env):
    import os

    out = subprocess.run(
        [sys.executable, "-c", CODE],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    assert out.stdout.strip() == ""


def test_selected_framework_imported_at_first_use():
    import duallearn as dl

    names = dl.available_backends()
    if "torch" not in names:
        pytest.skip("torch backend not installed: nothing to import lazily")
    code = (
        "import sys, numpy as np, duallearn as dl\n"
        "dl.set_backend('torch')\n"
        "m = dl.Sequential([dl.layers.Input((2,)), dl.layers.Dense(1)])\n"
        "assert 'torch' not in sys.modules\n"
        "m.predict(np.zeros((1, 2), 'float32'), verbose=0)\n"
        "print('torch' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True False"
