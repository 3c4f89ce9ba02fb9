"""``dl.porting.layer_report`` and ``duallearn parity MODEL --against FILE``: the per-layer
comparison with the Keras 3 / torch model a duallearn model was ported from. The oracle models
are real Keras 3 and real ``torch.nn``; a planted difference must be named as the first
diverging layer, and the CLI must exit 1 on it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError

from ..conftest import BACKENDS

keras = importlib.import_module("keras")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _graph(lib: Any) -> Any:
    i = lib.Input((6,), name="x")
    h = lib.layers.Dense(5, activation="tanh", name="d1")(i)
    h = lib.layers.BatchNormalization(name="bn")(h)
    h = lib.layers.Dense(4, activation="relu", name="d2")(h)
    return lib.Model(i, lib.layers.Dense(2, name="out")(h))


def _pair(backend: str) -> tuple[Any, Any]:
    with dl.use_backend(backend):
        ours = _graph(dl)
    theirs = _graph(keras)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


@pytest.mark.parametrize("backend", BACKENDS)
def test_equal_models_agree_layer_by_layer_and_after_training(backend: str) -> None:
    ours, theirs = _pair(backend)
    before = [w.copy() for w in ours.get_weights()]
    report = dl.porting.layer_report(ours, theirs, train=3)
    assert [r.name for r in report.rows] == ["d1", "bn", "d2", "out"]
    assert report.ok and report.first_divergent is None, str(report)
    assert all(r.max_rel <= report.tolerance for r in report.rows)
    assert [r.name for r in report.train_rows][:2] == ["d1[0]", "d1[1]"]
    assert len(report.train_rows) == len(ours.get_weights())
    # the training ran on copies: both models are as they were
    for a, b in zip(ours.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(theirs.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert "parity against keras: OK" in str(report)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_planted_difference_is_named(backend: str) -> None:
    ours, theirs = _pair(backend)
    w = theirs.get_layer("d2").get_weights()
    w[0] = w[0] * 1.01  # 1 % off in the second Dense layer
    theirs.get_layer("d2").set_weights(w)
    report = dl.porting.layer_report(ours, theirs)
    assert [r.ok for r in report.rows] == [True, True, False, False]
    assert report.first_divergent == "d2" and not report.ok
    assert "first layer beyond it: d2" in str(report)
    trained = dl.porting.layer_report(ours, theirs, train=2)
    # the 1 % reaches every earlier layer's gradient too; the weight itself is off from the start
    off = [r.name for r in trained.train_rows if not r.ok]
    assert "d2[0]" in off and trained.first_divergent_weight == off[0]


def test_what_it_compares_against_is_checked(tmp_path: Path) -> None:
    ours = _graph(dl)
    with pytest.raises(ConfigError, match="compares with a Keras 3 model or a torch.nn.Module"):
        dl.porting.layer_report(ours, object())
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"expected a Keras 3 file \(.keras, .h5\)"):
        dl.porting.layer_report(ours, bad)
    with pytest.raises(ConfigError, match="No such file"):
        dl.porting.layer_report(ours, tmp_path / "missing.keras")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    return subprocess.run([sys.executable, "-m", "duallearn.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip


def test_cli_against_a_real_keras_file(tmp_path: Path) -> None:
    ours, theirs = _pair(BACKENDS[0])
    ours.save(tmp_path / "ours.dlm")
    theirs.save(tmp_path / "theirs.keras")  # written by real Keras
    ok = _cli("parity", str(tmp_path / "ours.dlm"), "--against", str(tmp_path / "theirs.keras"),
              "--train", "2")  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "every layer agrees" in ok.stdout and "every weight agrees" in ok.stdout
    w = theirs.get_layer("bn").get_weights()
    w[0] = w[0] + 0.05
    theirs.get_layer("bn").set_weights(w)
    theirs.save(tmp_path / "off.keras")
    bad = _cli("parity", str(tmp_path / "ours.dlm"), "--against", str(tmp_path / "off.keras"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "first layer beyond it: bn" in bad.stdout
    usage = _cli("parity", str(tmp_path / "ours.dlm"), "--train", "3")
    assert usage.returncode == 2 and "needs --against FILE" in usage.stderr


def _torch_cnn() -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).eval()


def _torch_lstm() -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(5, 6, num_layers=2, batch_first=True)
            self.head = nn.Linear(6, 2)

        def forward(self, x: Any) -> Any:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    torch.manual_seed(1)
    return Net().eval()


@pytest.mark.parametrize("make, shape", [(_torch_cnn, (2, 8, 8)), (_torch_lstm, (7, 5))])
@pytest.mark.parametrize("backend", BACKENDS)
def test_against_torch_modules(backend: str, make: Any, shape: tuple[int, ...]) -> None:
    net = make()
    with dl.use_backend(backend):
        ours = dl.from_torch(net, input_shape=shape)
    report = dl.porting.layer_report(ours, net, train=3)
    compared = [r for r in report.rows if not r.note]
    assert report.ok, str(report)
    assert len(compared) >= 2 and report.train_rows, str(report)
    # a planted difference in the last module is named
    import torch

    with torch.no_grad():
        last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.mul_(1.02)
    bad = dl.porting.layer_report(ours, net)
    assert not bad.ok and bad.first_divergent == compared[-1].name, str(bad)


def test_cli_against_a_torch_export_file(tmp_path: Path) -> None:
    import torch

    net = _torch_cnn()
    ours = dl.from_torch(net, input_shape=(2, 8, 8))
    ours.save(tmp_path / "ours.dlm")  # the layouts follow the rule: images channels-first
    program = torch.export.export(net, (torch.randn(3, 2, 8, 8),))
    torch.export.save(program, tmp_path / "net.pt2")
    ok = _cli("parity", str(tmp_path / "ours.dlm"), "--against", str(tmp_path / "net.pt2"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "parity against torch: OK" in ok.stdout
    train = _cli("parity", str(tmp_path / "ours.dlm"), "--against", str(tmp_path / "net.pt2"),
                 "--train", "2")  # fmt: skip
    assert train.returncode == 2 and "fixed the module's mode" in train.stderr, train.stderr
    with torch.no_grad():
        net[1].bias.add_(0.1)  # the BatchNorm's shift
    torch.export.save(torch.export.export(net, (torch.randn(3, 2, 8, 8),)), tmp_path / "b.pt2")
    bad = _cli("parity", str(tmp_path / "ours.dlm"), "--against", str(tmp_path / "b.pt2"))
    assert bad.returncode == 1 and "first layer beyond it: 1" in bad.stdout, bad.stdout
