"""Every public name of duallearn has a test (issue 19): ``tools/public_names.py`` lists the
public names and the ones no file under tests/ references; any such name must be in the
tool's small ``ALLOWLIST`` with its reason.

The scan itself is checked on a made-up test folder, form by form, so that this test cannot
pass by seeing nothing. Imports only the front-end: no framework."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("public_names", ROOT / "tools" / "public_names.py")
assert _spec and _spec.loader
tool = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("public_names", tool)  # its dataclass looks its module up
_spec.loader.exec_module(tool)

MAX_ALLOWLIST = 10  # the allowlist must stay small: write the test instead


def test_every_public_name_has_a_test():
    result = tool.report()
    assert len(result.names) > 800  # the walk reached every module
    assert result.ok, "\n".join(result.lines())


def test_the_allowlist_is_small_and_every_entry_says_why():
    assert len(tool.ALLOWLIST) <= MAX_ALLOWLIST, sorted(tool.ALLOWLIST)
    for name, reason in tool.ALLOWLIST.items():
        assert name.startswith("duallearn.") and isinstance(reason, str), name
        assert len(reason.split()) >= 3, f"{name}: give the reason, not {reason!r}"


def test_public_names_follow_all_and_the_module_rule():
    names = tool.public_names()
    for expected in (
        "duallearn.Model",
        "duallearn.layers.Dense",
        "duallearn.optimizers.schedules.CosineDecay",  # a submodule listed in __all__
        "duallearn.ops.relu",  # dl.ops has no __all__: its functions ...
        "duallearn.ops.nn.relu",  # ... and its public submodules
        "duallearn.initializers.GlorotUniform",
    ):
        assert expected in names, expected
    assert "duallearn.ops.annotations" not in names  # an imported helper is not public
    assert "duallearn.initializers.np" not in names
    assert names["duallearn.Input"] is names["duallearn.layers.Input"]


SAMPLE = """
import importlib

import pytest

import duallearn as dl
from duallearn import layers as L
from duallearn.losses import Huber

R = dl.regularizers
keras = importlib.import_module("keras")
KL = keras.layers
NAMES = ["softsign"]


def test_chains_aliases_and_getattr():
    L.Dense(2)
    R.L2()
    getattr(dl.ops, "relu")
    KL.Conv2D(2, 3)  # Keras's, not ours
    Huber()


@pytest.mark.parametrize("name", NAMES)
def test_strings(name):
    getattr(dl.activations, name)


@pytest.mark.parametrize("module", ["vgg16"])
def test_getattr_of_a_parameter(module):
    getattr(dl.applications, module).preprocess_input


@pytest.mark.parametrize("what", ["Conv1D", "ops.nn.sigmoid"])
def test_strings_only(what):
    assert what  # ids alone: no import, attribute or getattr reaches them


def both(make):
    return make(dl.layers)


def test_a_parameter():
    both(lambda lib: lib.GRU(2))
    dl.layers.Input((2,))
"""


def test_the_scan_sees_each_form_and_reports_the_rest(tmp_path):
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(SAMPLE))
    names = tool.public_names()
    refs, strings = tool.references(tmp_path)
    missing = set(tool.untested(names, refs, strings))
    for seen in (
        "duallearn.layers.Dense",  # from duallearn import layers as L; L.Dense
        "duallearn.regularizers.L2",  # R = dl.regularizers; R.L2
        "duallearn.ops.relu",  # getattr(dl.ops, "relu")
        "duallearn.ops.nn.relu",  # the same function as dl.ops.relu
        "duallearn.losses.Huber",  # from duallearn.losses import Huber
        "duallearn.activations.softsign",  # a parametrize string, through NAMES
        "duallearn.applications.vgg16.preprocess_input",  # getattr(..., parameter).name
        "duallearn.layers.GRU",  # lib.GRU, lib a parameter
        "duallearn.Input",  # the same object as duallearn.layers.Input
    ):
        assert seen not in missing, seen
    for unseen in (
        "duallearn.layers.Conv2D",
        "duallearn.layers.LSTM",
        "duallearn.losses.Hinge",
        "duallearn.layers.Conv1D",  # a parametrize string only: not a reference
        "duallearn.ops.nn.sigmoid",  # a dotted parametrize string only: not a reference
    ):
        assert unseen in missing, unseen
    result = tool.report(
        tmp_path, allowlist={"duallearn.layers.LSTM": "a reason", "duallearn.layers.Dense": "x"}
    )
    assert not result.ok
    assert "duallearn.layers.LSTM" in result.untested
    assert "duallearn.layers.LSTM" not in result.unexpected  # allowlisted
    assert "duallearn.layers.Conv2D" in result.unexpected
    assert result.stale_allowlist == ["duallearn.layers.Dense"]  # tested: the entry must go
    assert result.lines()[0].startswith(f"{len(names)} public names; ")
    assert "untested: duallearn.layers.Conv2D" in result.lines()
