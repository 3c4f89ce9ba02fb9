"""``dl.utils.plot_model``: a model's layer graph as PNG (Pillow) or SVG (text), no graphviz.

The boxes hold Keras 3's labels (``name (Class)`` or ``Class``, then "Activation", "Input
shape" / "Output shape", "Output dtype", "Trainable" as asked); the layout is a layered DAG:
each layer one rank below its deepest input, ranks top-to-bottom (``rankdir="TB"``) or
left-to-right (``"LR"``), arrows from every input to its consumer.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ._images import pil_image

_PAD, _GAP_MAJOR, _GAP_MINOR, _LINE, _MARGIN = 10, 44, 24, 20, 20
_FONT_SIZE = 13


@dataclass
class _Box:
    layer: Any
    lines: list[str]
    rank: int = 0
    w: float = 0.0
    h: float = 0.0
    x: float = 0.0
    y: float = 0.0
    inputs: list[int] = field(default_factory=list)


def _graph(model: Any) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """The model's layers (inputs first) and its ``(source, consumer)`` edges."""
    graph = getattr(model, "_graph", None)
    nodes = getattr(graph, "nodes", None) if graph is not None else None
    if not nodes:
        layers = list(getattr(model, "layers", []))
        return layers, list(zip(layers, layers[1:], strict=False))
    layers = list(getattr(graph, "all_layers", None) or model.layers)
    by_name = {layer.name: layer for layer in layers if type(layer).__name__ == "InputLayer"}
    edges: list[tuple[Any, Any]] = []
    for node in nodes:
        for t in node.inputs:
            src = t.node.layer if getattr(t, "node", None) is not None else by_name.get(t.name)
            if src is not None and (src, node.layer) not in edges:
                edges.append((src, node.layer))
    return layers, edges


def _shape_text(value: Any) -> str:
    if value is None:
        return "?"
    return str(value).replace("{", "").replace("}", "")


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    name = act if isinstance(act, str) else getattr(act, "__name__", type(act).__name__)
    return str(name)


def _label(layer: Any, show_shapes: bool, show_dtype: bool, show_names: bool,
           show_activations: bool, show_trainable: bool) -> list[str]:  # fmt: skip
    cls = type(layer).__name__
    lines = [f"{layer.name} ({cls})" if show_names else cls]
    act = _activation_name(layer) if show_activations else None
    if act is not None:
        lines.append(f"Activation: {act}")
    if show_shapes:
        if cls != "InputLayer":
            lines.append(f"Input shape: {_shape_text(getattr(layer, 'input_shape', None))}")
        lines.append(f"Output shape: {_shape_text(getattr(layer, 'output_shape', None))}")
    if show_dtype:
        lines.append(f"Output dtype: {getattr(layer, 'dtype', None) or '?'}")
    if show_trainable and getattr(layer, "weights", None):
        lines.append("Trainable" if getattr(layer, "trainable", True) else "Non-trainable")
    return lines


def _layout(boxes: list[_Box], measure: Any, rankdir: str) -> tuple[float, float]:
    for _ in range(len(boxes)):  # longest path from an input: one rank below the deepest input
        changed = False
        for box in boxes:
            rank = max((boxes[j].rank + 1 for j in box.inputs), default=0)
            changed |= rank != box.rank
            box.rank = rank
        if not changed:
            break
    for box in boxes:
        box.w = max(measure(s) for s in box.lines) + 2 * _PAD
        box.h = len(box.lines) * _LINE + 2 * _PAD
    ranks: dict[int, list[_Box]] = {}
    for box in boxes:
        ranks.setdefault(box.rank, []).append(box)
    horizontal = rankdir in ("LR", "RL")
    # extent of each rank along the rank axis, and total breadth across it
    depth = {r: max((b.w if horizontal else b.h) for b in bs) for r, bs in ranks.items()}
    breadth = {
        r: sum((b.h if horizontal else b.w) for b in bs) + _GAP_MINOR * (len(bs) - 1)
        for r, bs in ranks.items()
    }
    full = max(breadth.values())
    pos = float(_MARGIN)
    for r in sorted(ranks):
        across = _MARGIN + (full - breadth[r]) / 2
        for b in ranks[r]:
            if horizontal:
                b.x, b.y = pos + (depth[r] - b.w) / 2, across
                across += b.h + _GAP_MINOR
            else:
                b.x, b.y = across, pos + (depth[r] - b.h) / 2
                across += b.w + _GAP_MINOR
        pos += depth[r] + _GAP_MAJOR
    length = pos - _GAP_MAJOR + _MARGIN
    width, height = (length, full + 2 * _MARGIN) if horizontal else (full + 2 * _MARGIN, length)
    if rankdir in ("BT", "RL"):  # mirror along the rank axis
        for b in boxes:
            if horizontal:
                b.x = width - b.x - b.w
            else:
                b.y = height - b.y - b.h
    return width, height


def _anchor(src: _Box, dst: _Box, rankdir: str) -> tuple[float, float, float, float]:
    if rankdir == "TB":
        return src.x + src.w / 2, src.y + src.h, dst.x + dst.w / 2, dst.y
    if rankdir == "BT":
        return src.x + src.w / 2, src.y, dst.x + dst.w / 2, dst.y + dst.h
    if rankdir == "LR":
        return src.x + src.w, src.y + src.h / 2, dst.x, dst.y + dst.h / 2
    return src.x, src.y + src.h / 2, dst.x + dst.w, dst.y + dst.h / 2


def _arrow_head(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    dx, dy = x1 - x0, y1 - y0
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    ux, uy = dx / norm, dy / norm
    size = 8.0
    bx, by = x1 - ux * size, y1 - uy * size
    return [
        (x1, y1),
        (bx - uy * size / 2, by + ux * size / 2),
        (bx + uy * size / 2, by - ux * size / 2),
    ]


def _svg(boxes: list[_Box], width: float, height: float, rankdir: str, title: str) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        f"<title>{html.escape(title)}</title>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
    ]
    for dst in boxes:
        for j in dst.inputs:
            x0, y0, x1, y1 = _anchor(boxes[j], dst, rankdir)
            head = " ".join(f"{px:.1f},{py:.1f}" for px, py in _arrow_head(x0, y0, x1, y1))
            out.append(
                f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" '
                'stroke="black" stroke-width="1.2"/>'
            )
            out.append(f'<polygon points="{head}" fill="black"/>')
    for b in boxes:
        out.append(f'<g class="layer" id="{html.escape(b.layer.name, quote=True)}">')
        out.append(
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" '
            'fill="white" stroke="black"/>'
        )
        out.append(
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{_LINE + _PAD:.1f}" '
            'fill="black"/>'
        )
        for k, line in enumerate(b.lines):
            color = "white" if k == 0 else "black"
            weight = ' font-weight="bold"' if k == 0 else ""
            out.append(
                f'<text x="{b.x + _PAD:.1f}" y="{b.y + _PAD + (k + 0.75) * _LINE:.1f}" '
                f'font-family="Helvetica, Arial, sans-serif" font-size="{_FONT_SIZE}" '
                f'fill="{color}"{weight}>{html.escape(line)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _png(boxes: list[_Box], width: float, height: float, rankdir: str, dpi: int, path: str,
         font: Any) -> None:  # fmt: skip
    Image = pil_image()
    from PIL import ImageDraw

    img = Image.new("RGB", (int(width) + 1, int(height) + 1), "white")
    draw = ImageDraw.Draw(img)
    for dst in boxes:
        for j in dst.inputs:
            x0, y0, x1, y1 = _anchor(boxes[j], dst, rankdir)
            draw.line([(x0, y0), (x1, y1)], fill="black", width=1)
            draw.polygon(_arrow_head(x0, y0, x1, y1), fill="black")
    for b in boxes:
        draw.rectangle([b.x, b.y, b.x + b.w, b.y + b.h], fill="white", outline="black")
        draw.rectangle([b.x, b.y, b.x + b.w, b.y + _LINE + _PAD], fill="black")
        for k, line in enumerate(b.lines):
            draw.text((b.x + _PAD, b.y + _PAD + k * _LINE + 3), line,
                      fill="white" if k == 0 else "black", font=font)  # fmt: skip
    img.save(path, format="PNG", dpi=(dpi, dpi))


def _font() -> Any:
    pil_image()
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:  # pragma: no cover - Pillow < 10.1 without FreeType sizes
        return ImageFont.load_default()


def plot_model(
    model: Any,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    **kwargs: Any,
) -> Any:
    """Draw a model's layer graph into ``to_file`` (``.png`` or ``.svg``; no graphviz needed).

    Works for Sequential and functional models, branches and merges included: each layer
    is a box (Keras 3's label contents), placed one rank below its deepest input, with an
    arrow from every input.

    Args:
        model: A built ``dl.Sequential`` or functional ``dl.Model``.
        to_file: Output path; the extension picks the format (none: PNG, as Keras).
        show_shapes: Add "Input shape" / "Output shape" lines.
        show_dtype: Add the output dtype.
        show_layer_names: Head each box with ``name (Class)`` instead of ``Class``.
        rankdir: ``"TB"`` (top to bottom), ``"BT"``, ``"LR"`` or ``"RL"``.
        expand_nested: Accepted for Keras compatibility; a nested model is drawn as one box.
        dpi: Resolution written into the PNG.
        show_layer_activations: Add the activation of layers that have one.
        show_trainable: Add "Trainable" / "Non-trainable" for layers with weights.
        **kwargs: Keras's graphviz-only options (``splines``...) are accepted and ignored.

    Returns:
        The ``PIL.Image.Image`` of a PNG (Keras returns an IPython image in notebooks), or
        ``None`` for SVG.

    Raises:
        ConfigError: an unknown ``rankdir`` or file extension, or a model with no layers.
        MissingDependencyError: PNG output without Pillow.

    Example:
        >>> dl.utils.plot_model(model, "model.svg", show_shapes=True, show_layer_names=True)
    """
    if rankdir not in ("TB", "BT", "LR", "RL"):
        raise ConfigError(
            f"plot_model: rankdir must be 'TB', 'BT', 'LR' or 'RL'. Received: rankdir={rankdir!r}."
        )
    path = os.fspath(to_file)
    ext = os.path.splitext(path)[1].lower().lstrip(".") or "png"
    if ext not in ("png", "svg"):
        raise ConfigError(
            f"plot_model writes .png or .svg files. Received: to_file={path!r}. Fix: name the "
            "file model.png or model.svg."
        )
    layers, edges = _graph(model)
    if not layers:
        raise ConfigError(
            f"plot_model: model {getattr(model, 'name', model)!r} has no layers. Fix: add layers "
            "(and build the model) before plotting it."
        )
    index = {id(layer): i for i, layer in enumerate(layers)}
    boxes = [
        _Box(layer, _label(layer, show_shapes, show_dtype, show_layer_names,
                           show_layer_activations, show_trainable))
        for layer in layers
    ]  # fmt: skip
    for src, dst in edges:
        if id(src) in index and id(dst) in index:
            boxes[index[id(dst)]].inputs.append(index[id(src)])
    font = _font() if ext == "png" else None
    if font is not None:
        measure = font.getlength
    else:
        try:
            measure = _font().getlength
        except ImportError:
            measure = lambda s: 7.2 * len(s)  # noqa: E731 - Helvetica-ish average width
    width, height = _layout(boxes, measure, rankdir)
    if ext == "svg":
        with open(path, "w", encoding="utf-8") as f:
            f.write(_svg(boxes, width, height, rankdir, str(getattr(model, "name", "model"))))
        return None
    _png(boxes, width, height, rankdir, dpi, path, font)
    return pil_image().open(path)
