"""The CNN example trains on scikit-learn's digits (8×8×1 images) on every installed backend."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import BACKENDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cnn_digits.py"
EPOCHS = 6  # 25 in the example; 6 reach ~0.93 held-out accuracy
THRESHOLD = 0.85

importlib.import_module("sklearn")


@pytest.mark.parametrize("name", BACKENDS)
def test_cnn_digits_example_trains(name):
    env = dict(os.environ, DUALLEARN_BACKEND=name, CNN_DIGITS_EPOCHS=str(EPOCHS))
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny tensors: threads only add contention in CI
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLE.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"backend: {name}" in proc.stdout
    assert f"Epoch {EPOCHS}/{EPOCHS}" in proc.stdout
    found = re.search(r"held-out accuracy: ([0-9.]+)", proc.stdout)
    assert found, proc.stdout[-2000:]
    assert float(found.group(1)) > THRESHOLD, proc.stdout[-2000:]
