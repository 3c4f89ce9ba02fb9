"""Report which Keras names used by the keras.io example ports duallearn still lacks.

Usage: .venv/bin/python tools/keras_names/report.py [--data FILE] [--json] [--top N]

Reads the list made by ``extract.py`` (default: ``keras_io_names.json`` beside this file),
maps every Keras name to duallearn's spelling (``keras.X`` -> ``duallearn.X``, through
``ALIASES`` for the few spots duallearn names differently), looks each one up on the installed
duallearn (attribute look-ups only: no framework is imported), and prints:

- the names duallearn lacks, ranked by how many example scripts use them;
- the share of examples, leaving out those flagged as built on keras_hub / keras_cv /
  keras_nlp / tensorflow_datasets / ... (``third_party``), that use only names duallearn has.

An override (``keras.Model.train_step``) counts as present when duallearn's class has that
method. ``--json`` prints the same figures as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).with_name("keras_io_names.json")

# Keras spelling -> duallearn spelling, where duallearn names a thing differently. Everything
# else maps by replacing the leading ``keras`` with ``duallearn``.
from duallearn.porting._notebook_port import ALIASES  # noqa: E402  (the table lives there now)

# Hooks duallearn calls on a subclass though its base class defines no default (as Keras's
# ``Layer.call``, or ``PyDataset.__len__``, which Keras's base leaves to the subclass too): an
# override counts as present when the base class exists.
HOOKS_WITHOUT_DEFAULT = frozenset({
    "duallearn.layers.Layer.call", "duallearn.Model.call",
    "duallearn.utils.PyDataset.__len__", "duallearn.utils.Sequence.__len__",
})  # fmt: skip


def to_duallearn(name: str) -> str:
    """The duallearn spelling of a Keras name (longest ``ALIASES`` prefix, else ``duallearn.``)."""
    for keras_name in sorted(ALIASES, key=len, reverse=True):
        if name == keras_name or name.startswith(keras_name + "."):
            return ALIASES[keras_name] + name[len(keras_name) :]
    if name == "keras" or name.startswith("keras."):
        return "duallearn" + name[len("keras") :]
    return name


def resolve(dotted: str) -> bool:
    """Whether ``dotted`` (``duallearn.layers.Dense``) names something that exists."""
    parts = dotted.split(".")
    try:
        obj: Any = importlib.import_module(parts[0])
    except ImportError:
        return False
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:  # a submodule not yet imported
                obj = importlib.import_module(".".join(parts[: i + 1]))
            except ImportError:
                return False
    return True


def report(
    scripts: dict[str, dict[str, list[str]]],
    exists: Callable[[str], bool] = resolve,
) -> dict[str, Any]:
    """The report's figures for ``scripts`` (the ``scripts`` mapping of the JSON list).

    ``exists`` answers for a duallearn dotted name (injected by tests). Returns ``missing``
    (``[{"name", "duallearn", "scripts", "scripts_counted"}]``, most used first),
    ``counted`` / ``ported`` (examples not flagged third-party / of those, the ones using only
    present names), ``percent`` and per-script ``missing_by_script``.
    """
    cache: dict[str, bool] = {}

    def present(keras_name: str) -> bool:
        if keras_name not in cache:
            target = to_duallearn(keras_name)
            if target in HOOKS_WITHOUT_DEFAULT:
                target = target.rsplit(".", 1)[0]
            cache[keras_name] = exists(target)
        return cache[keras_name]

    used_all: Counter[str] = Counter()
    used_counted: Counter[str] = Counter()
    missing_by_script: dict[str, list[str]] = {}
    counted = ported = 0
    for path, entry in sorted(scripts.items()):
        names = set(entry.get("names", [])) | set(entry.get("overrides", []))
        flagged = bool(entry.get("third_party"))
        absent = sorted(n for n in names if not present(n))
        missing_by_script[path] = absent
        used_all.update(absent)
        if not flagged:
            counted += 1
            used_counted.update(absent)
            ported += not absent
    ranked = sorted(used_all, key=lambda n: (-used_counted[n], -used_all[n], n))
    missing = [
        {
            "name": name,
            "duallearn": to_duallearn(name),
            "scripts": used_all[name],
            "scripts_counted": used_counted[name],
        }
        for name in ranked
    ]
    return {
        "scripts": len(scripts),
        "flagged": len(scripts) - counted,
        "counted": counted,
        "ported": ported,
        "percent": round(100.0 * ported / counted, 1) if counted else 0.0,
        "missing": missing,
        "missing_by_script": missing_by_script,
    }


def format_text(result: dict[str, Any], top: int | None = None) -> str:
    pending = result.get("pending", 0)
    lines = [
        f"{result['scripts']} example scripts listed"
        + (f" ({pending} more in the collection not listed yet)" if pending else "")
        + f"; {result['flagged']} flagged as built on "
        f"third-party libraries (left out); {result['ported']} of the other "
        f"{result['counted']} ({result['percent']}%) use only names duallearn has.",
        "",
        f"{len(result['missing'])} Keras names missing (scripts counted / all scripts):",
    ]
    for m in result["missing"][:top]:
        lines.append(f"  {m['scripts_counted']:3d} / {m['scripts']:3d}  {m['name']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--top", type=int, default=None, help="list only the N most used")
    args = parser.parse_args(argv)
    data = json.loads(args.data.read_text(encoding="utf-8"))
    result = report(data["scripts"])
    result["pending"] = len(data.get("pending", []))
    if args.json:
        if args.top is not None:
            result["missing"] = result["missing"][: args.top]
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
    else:
        sys.stdout.write(format_text(result, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
