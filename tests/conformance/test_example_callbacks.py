"""The callbacks + TensorBoard example trains from a DataLoader / tf.data on each backend."""

from __future__ import annotations

import glob
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import BACKENDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callbacks_tensorboard.py"

importlib.import_module("sklearn")


@pytest.mark.parametrize("name", BACKENDS)
def test_callbacks_tensorboard_example(name, tmp_path):
    env = dict(os.environ, DUALLEARN_BACKEND=name, EXAMPLE_EPOCHS="4")
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny tensors: threads only add contention in CI
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.search(r"(\w+): 4 epochs, .* \(best checkpoint ([0-9.]+)\)", proc.stdout)
    assert found, proc.stdout[-2000:]
    assert found.group(1) == name and float(found.group(2)) > 0.6
    assert len(re.findall(r"^Epoch \d/4 - ", proc.stdout, re.M)) == 4  # verbose=2 lines
    assert os.path.exists(tmp_path / "best.dlm") and os.path.exists(tmp_path / "history.csv")
    assert glob.glob(str(tmp_path / "tensorboard" / "train" / "events.out.tfevents.*"))
    assert glob.glob(str(tmp_path / "tensorboard" / "validation" / "events.out.tfevents.*"))
    assert not os.path.exists(tmp_path / "backup" / "latest.dlm")  # deleted after success
