"""examples/lstm_digits.py really trains an LSTM on digits' rows, per installed backend."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", BACKENDS)
def test_lstm_digits_accuracy(name):
    env = {**os.environ, "DUALLEARN_BACKEND": name, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "lstm_digits.py"), "6"],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    ).stdout  # fmt: skip
    assert f"backend: {name}" in out
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.85, out
