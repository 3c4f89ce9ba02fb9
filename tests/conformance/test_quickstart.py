"""The README's main example really trains: >= 0.95 held-out accuracy on digits, per backend."""

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
def test_quickstart_accuracy(name):
    # One OpenMP thread: torch with 2 threads slows badly when other processes share the cores.
    env = {**os.environ, "DUALLEARN_BACKEND": name, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    ).stdout
    assert f"backend: {name}" in out
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.95
    assert "same predictions = True" in out
