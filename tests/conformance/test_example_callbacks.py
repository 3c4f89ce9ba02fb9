"""The callbacks + TensorBoard example trains from a DataLoader / tf.data on each backend."""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

import pytest

import duallearn as dl

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callbacks_tensorboard.py"

pytest.importorskip("sklearn")


def test_callbacks_tensorboard_example(backend, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("callbacks_tensorboard", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(str(tmp_path), epochs=4)
    assert out["epochs"] == 4 and out["best_accuracy"] > 0.6
    assert os.path.exists(tmp_path / "best.dlm") and os.path.exists(tmp_path / "history.csv")
    assert glob.glob(str(tmp_path / "tensorboard" / "train" / "events.out.tfevents.*"))
    assert glob.glob(str(tmp_path / "tensorboard" / "validation" / "events.out.tfevents.*"))
    assert not os.path.exists(tmp_path / "backup" / "latest.dlm")  # deleted after success
    assert f"{dl.backend()}: 4 epochs" in capsys.readouterr().out
