"""dl.utils.plot_model writes PNG and SVG with no graphviz: valid images, the layer names in
the SVG, a top-to-bottom layered layout, branches and merges drawn as arrows."""

from __future__ import annotations

import importlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import duallearn as dl
from duallearn.errors import ConfigError

Image = importlib.import_module("PIL.Image")
SVG = "{http://www.w3.org/2000/svg}"


def _functional() -> dl.Model:
    inp = dl.layers.Input((8,), name="features")
    a = dl.layers.Dense(4, activation="relu", name="left")(inp)
    b = dl.layers.Dense(6, name="right")(inp)
    c = dl.layers.Concatenate(name="merge")([a, b])
    out = dl.layers.Dense(1, activation="sigmoid", name="score")(c)
    return dl.Model(inp, out, name="branchy")


def _sequential() -> dl.Sequential:
    return dl.Sequential(
        [dl.layers.Input((5,)), dl.layers.Dense(3, name="hidden"), dl.layers.Dense(1, name="head")],
        name="seq",
    )


def _boxes(path: Path) -> dict[str, tuple[float, float, float, float]]:
    root = ET.parse(path).getroot()
    out = {}
    for g in root.iter(f"{SVG}g"):
        rect = g.find(f"{SVG}rect")
        out[g.get("id")] = tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))
    return out


def test_functional_svg_has_names_shapes_and_a_layered_layout(tmp_path: Path) -> None:
    path = tmp_path / "model.svg"
    result = dl.utils.plot_model(
        _functional(), path, show_shapes=True, show_dtype=True, show_layer_names=True,
        show_layer_activations=True, show_trainable=True,
    )  # fmt: skip
    assert result is None
    text = path.read_text()
    root = ET.fromstring(text)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    for name in ("features (InputLayer)", "left (Dense)", "right (Dense)", "merge (Concatenate)",
                 "score (Dense)"):  # fmt: skip
        assert name in text
    assert "Input shape: (None, 8)" in text and "Output shape: (None, 10)" in text
    assert "Output dtype: float32" in text and "Activation: relu" in text and "Trainable" in text
    boxes = _boxes(path)
    y = {k: v[1] for k, v in boxes.items()}
    assert y["features"] < y["left"] == y["right"] < y["merge"] < y["score"]
    x = {k: v[0] for k, v in boxes.items()}
    assert x["left"] != x["right"]  # side by side
    assert len(root.findall(f"{SVG}polygon")) == 5  # 5 edges: 2 from input, 2 into merge, 1 out
    # no overlapping boxes
    items = list(boxes.values())
    for i, (ax, ay, aw, ah) in enumerate(items):
        for bx, by, bw, bh in items[i + 1 :]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay


def test_png_is_a_valid_image(tmp_path: Path) -> None:
    for model in (_functional(), _sequential()):
        path = tmp_path / f"{model.name}.png"
        img = dl.utils.plot_model(model, path, show_shapes=True)
        with Image.open(path) as check:
            check.verify()
        with Image.open(path) as reopened:
            assert reopened.format == "PNG" and reopened.size[0] > 50 and reopened.size[1] > 50
            # black ink was drawn on a white page
            colors = {c for _, c in reopened.convert("L").getcolors(1 << 20)}
            assert 0 in colors and 255 in colors
        assert img.size == reopened.size
    # no extension: PNG, as Keras
    dl.utils.plot_model(_sequential(), tmp_path / "noext")
    assert Image.open(tmp_path / "noext").format == "PNG"


def test_sequential_svg_and_default_labels(tmp_path: Path) -> None:
    path = tmp_path / "seq.svg"
    dl.utils.plot_model(_sequential(), path)
    text = path.read_text()
    labels = re.findall(r">([^<>]+)</text>", text)
    assert "Dense" in labels and "hidden (Dense)" not in text  # show_layer_names=False
    ys = sorted(v[1] for v in _boxes(path).values())
    assert len(ys) == len(set(ys))  # a chain: one layer per rank


@pytest.mark.parametrize("rankdir", ["LR", "BT", "RL"])
def test_other_directions(tmp_path: Path, rankdir: str) -> None:
    path = tmp_path / "m.svg"
    dl.utils.plot_model(_functional(), path, rankdir=rankdir, show_layer_names=True)
    boxes = _boxes(path)
    axis = 0 if rankdir in ("LR", "RL") else 1
    first, last = boxes["features"][axis], boxes["score"][axis]
    assert (first < last) if rankdir == "LR" else (first > last)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rankdir": "UP"}, "rankdir must be"),
        ({"to_file": "model.pdf"}, "writes .png or .svg"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    kwargs.setdefault("to_file", "m.svg")
    kwargs["to_file"] = tmp_path / kwargs["to_file"]
    with pytest.raises(ConfigError, match=match):
        dl.utils.plot_model(_sequential(), **kwargs)
