"""tools/keras_names: the name extractor and the missing-names report (logic, not figures)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "keras_names"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"keras_names_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


extract = _load("extract")
report = _load("report")

SCRIPT = """
import keras_core as keras
from keras import layers, ops
from keras.layers import TextVectorization
import keras.utils as kutils
import tensorflow as tf
import tensorflow_datasets as tfds

class Block(layers.Layer):
    def build(self, shape):
        self.w = self.add_weight(shape=shape)
    def call(self, x):
        return ops.linspace(0, 1, 3) + self.helper(x)
    def helper(self, x):
        return x

class Inner(Block):
    def get_config(self):
        return {}

class GAN(keras.Model):
    def train_step(self, data):
        return self.compute_loss(data)

v = TextVectorization()
x = keras.datasets.mnist.load_data()
y = kutils.get_file("a", "b")
z = tf.keras.layers.StringLookup()
"""


def test_extract_resolves_aliases_chains_bases_and_overrides():
    names = extract.extract_source(SCRIPT).as_dict()
    assert names["names"] == [
        "keras.Model",
        "keras.datasets.mnist.load_data",
        "keras.layers.Layer",
        "keras.layers.StringLookup",
        "keras.layers.TextVectorization",
        "keras.ops.linspace",
        "keras.utils.get_file",
    ]
    # hooks overridden (also through a subclass of the script's own class) and base-class
    # methods called on self; the script's own helper is not a Keras name
    assert names["overrides"] == [
        "keras.Model.compute_loss",
        "keras.Model.train_step",
        "keras.layers.Layer.add_weight",
        "keras.layers.Layer.build",
        "keras.layers.Layer.call",
        "keras.layers.Layer.get_config",
    ]
    assert names["third_party"] == ["tensorflow_datasets"]
    assert names["frameworks"] == ["tensorflow"]


def test_extract_folder_keys_by_prefixed_relative_path(tmp_path):
    (tmp_path / "vision").mkdir()
    (tmp_path / "vision" / "a.py").write_text("import keras\nkeras.layers.Dense(1)\n")
    out = extract.extract_folder(tmp_path, prefix="examples/")
    assert list(out) == ["examples/vision/a.py"]
    assert out["examples/vision/a.py"]["names"] == ["keras.layers.Dense"]


def test_names_map_to_duallearn_spelling():
    assert report.to_duallearn("keras.layers.Dense") == "duallearn.layers.Dense"
    assert report.to_duallearn("keras.models.Model") == "duallearn.Model"
    assert (
        report.to_duallearn("keras.optimizers.schedules.ExponentialDecay")
        == "duallearn.schedules.ExponentialDecay"
    )


def test_resolve_finds_present_names_and_rejects_fake_ones():
    assert report.resolve("duallearn.layers.Dense")
    assert report.resolve("duallearn.Model.train_step")
    assert not report.resolve("duallearn.layers.NoSuchLayerXyz")
    assert not report.resolve("duallearn_no_such_package.x")


def test_report_ranks_missing_names_and_computes_the_share():
    scripts = {
        "a.py": {"names": ["keras.layers.Dense", "keras.layers.FakeOne"], "third_party": []},
        "b.py": {"names": ["keras.layers.Dense"], "overrides": ["keras.Model.train_step"]},
        "c.py": {"names": ["keras.layers.FakeOne", "keras.utils.FakeTwo"], "third_party": []},
        "d.py": {"names": ["keras.utils.FakeTwo"], "third_party": ["keras_hub"]},
        "e.py": {"names": ["keras.layers.Dense"], "overrides": ["keras.layers.Layer.call"]},
    }
    result = report.report(scripts)
    missing = {m["name"]: (m["scripts_counted"], m["scripts"]) for m in result["missing"]}
    assert missing == {"keras.layers.FakeOne": (2, 2), "keras.utils.FakeTwo": (1, 2)}
    assert [m["name"] for m in result["missing"]] == ["keras.layers.FakeOne", "keras.utils.FakeTwo"]
    assert result["missing_by_script"]["b.py"] == []
    # d.py is flagged (keras_hub) and left out: 2 of the other 4 use only present names
    assert (result["counted"], result["flagged"], result["ported"]) == (4, 1, 2)
    assert result["percent"] == 50.0


def test_report_with_injected_lookup():
    scripts = {"a.py": {"names": ["keras.x.A"]}, "b.py": {"names": ["keras.x.B"]}}
    result = report.report(scripts, exists=lambda name: name == "duallearn.x.A")
    assert result["missing_by_script"] == {"a.py": [], "b.py": ["keras.x.B"]}
    assert result["percent"] == 50.0
    assert report.report({})["percent"] == 0.0


def test_committed_list_is_names_only_and_reports_consistently(capsys):
    data = json.loads((TOOLS / "keras_io_names.json").read_text())
    assert data["scripts"]
    for path, entry in data["scripts"].items():
        assert path.startswith("examples/keras_io/") and path.endswith(".py")
        assert set(entry) == {"names", "overrides", "third_party", "frameworks"}
        for name in entry["names"] + entry["overrides"]:
            assert name.startswith("keras.") and " " not in name and "(" not in name
    result = report.report(data["scripts"])
    assert result["counted"] + result["flagged"] == len(data["scripts"])
    assert result["ported"] == sum(
        1
        for path, entry in data["scripts"].items()
        if not entry["third_party"] and not result["missing_by_script"][path]
    )
    # an exact quantity: the share, rounded to one decimal as the report prints it
    assert result["percent"] == round(100 * result["ported"] / result["counted"], 1)
    assert report.main(["--json", "--top", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["percent"] == result["percent"] and len(printed["missing"]) <= 3
    assert report.main([]) == 0
    assert "use only names duallearn has" in capsys.readouterr().out
