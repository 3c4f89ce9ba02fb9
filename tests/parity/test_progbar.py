"""dl.utils.Progbar prints exactly what keras.utils.Progbar prints (time frozen on both)."""

from __future__ import annotations

import importlib

import pytest

import duallearn as dl
from duallearn.errors import ConfigError

keras = importlib.import_module("keras")
keras_progbar = importlib.import_module("keras.src.utils.progbar")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(cls, clock: _Clock, capsys, script, **kwargs) -> str:
    clock.now = 1000.0
    bar = cls(**kwargs)
    for kind, step, values, dt in script:
        clock.now += dt
        if kind == "update":
            bar.update(step, values)
        else:
            bar.add(step, values)
    return capsys.readouterr().out


SCRIPT = [
    ("update", 1, [("loss", 0.5), ("acc", 0.25)], 0.3),
    ("update", 3, [("loss", 0.25), ("acc", 0.5)], 0.02),  # within interval: no redraw
    ("add", 2, [("loss", 0.125), ("acc", 1e-5)], 61.0),
    ("update", 9, [("loss", 2.0), ("acc", 0.75)], 4000.0),
    ("add", 1, [("loss", 1.0), ("acc", 0.5)], 0.5),
]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": 10},
        {"target": 10, "verbose": 2},
        {"target": 10, "width": 7, "stateful_metrics": ["acc"], "unit_name": "sample"},
        {"target": 10, "stateless_metrics": ["loss"], "interval": 0.0},
        {"target": None},
        {"target": 10, "verbose": 0},
        {"target": 100000, "width": 30},
    ],
)
def test_output_equals_keras(kwargs: dict, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(keras_progbar.time, "time", clock)  # the shared `time` module
    ours = _run(dl.utils.Progbar, clock, capsys, SCRIPT, **kwargs)
    theirs = _run(keras.utils.Progbar, clock, capsys, SCRIPT, **kwargs)
    assert ours == theirs
    if kwargs.get("verbose", 1) != 0:
        assert ours


def test_both_metric_lists_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not both"):
        dl.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
