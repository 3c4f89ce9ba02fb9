"""List the Keras names each script in a folder uses, by reading its syntax tree (nothing runs).

Usage: .venv/bin/python tools/keras_names/extract.py FOLDER [--prefix PREFIX] [--out FILE]

For every ``*.py`` under FOLDER this records, as names only (never code):

- ``names``: each dotted Keras name the script reaches (``keras.layers.Dense``,
  ``keras.utils.get_file``, ``keras.ops.linspace``, ``keras.datasets.mnist.load_data``),
  resolving ``import keras``, ``import keras_core as keras``, ``from keras import layers``,
  ``from keras.layers import TextVectorization``, ``import keras.ops as ops`` and
  ``from tensorflow import keras`` to the ``keras.`` spelling;
- ``overrides``: methods a script overrides on a Keras base class, or calls on ``self`` from
  the base class (``keras.Model.train_step``, ``keras.layers.Layer.add_weight``), following
  subclasses of the script's own classes back to the Keras base;
- ``third_party``: the libraries built on top of Keras, or data/model hubs, that the script
  imports (keras_hub, keras_cv, keras_nlp, tensorflow_datasets, ...): a script flagged here
  cannot be ported by changing its Keras import alone;
- ``frameworks``: tensorflow / torch / jax when the script also imports one directly.

The committed list (``keras_io_names.json`` beside this file) was made from the Keras-3 ports of
keras.io examples kept in keras-team/keras under ``examples/keras_io/``; ``report.py`` compares it
with what duallearn has.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Top-level packages that mean "Keras": all spelled ``keras.`` in the list.
KERAS_ROOTS = {
    "keras": "keras",
    "keras_core": "keras",
    "tensorflow.keras": "keras",
    "tf_keras": "keras",
}

# Libraries built on Keras, hubs and data sets: a script importing one is flagged.
THIRD_PARTY = frozenset({
    "keras_hub", "keras_cv", "keras_nlp", "keras_tuner", "keras_rs",
    "tensorflow_datasets", "tensorflow_hub", "tensorflow_text", "tensorflow_io",
    "tensorflow_addons", "tensorflow_probability", "tensorflow_decision_forests",
    "tensorflow_recommenders", "transformers", "datasets", "torchvision", "timm",
})  # fmt: skip
FRAMEWORKS = frozenset({"tensorflow", "torch", "jax"})

# Methods that mean "this subclass overrides a Keras hook" when defined in a Keras subclass.
# ``_compute_attention`` is private but overridden by MultiHeadAttention subclasses
# (vit_small_ds), so it is listed: duallearn's layer must have it for such a port to work.
HOOKS = frozenset({
    "build", "call", "compute_output_shape", "compute_output_spec", "compute_mask",
    "get_config", "from_config", "get_build_config", "build_from_config",
    "train_step", "test_step", "predict_step", "compile", "compute_loss", "compute_metrics",
    "metrics", "fit", "evaluate", "predict", "summary", "save", "save_own_variables",
    "load_own_variables", "update_state", "result", "reset_state", "reset_states",
    "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end", "on_train_begin",
    "on_train_end", "on_train_batch_begin", "on_train_batch_end", "on_test_begin",
    "on_test_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_begin",
    "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end", "set_model",
    "convolution_op", "__call__", "__getitem__", "__len__", "get_state", "set_state",
    "apply_gradients", "update_step", "get_initial_state", "save_weights", "load_weights",
    "_compute_attention",
})  # fmt: skip


@dataclass
class ScriptNames:
    names: set[str] = field(default_factory=set)
    overrides: set[str] = field(default_factory=set)
    third_party: set[str] = field(default_factory=set)
    frameworks: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "names": sorted(self.names),
            "overrides": sorted(self.overrides),
            "third_party": sorted(self.third_party),
            "frameworks": sorted(self.frameworks),
        }


def _keras_path(module: str) -> str | None:
    """``keras_core.layers`` -> ``keras.layers``; None for a module that is not Keras."""
    for root, spelled in sorted(KERAS_ROOTS.items(), key=lambda kv: -len(kv[0])):
        if module == root or module.startswith(root + "."):
            return spelled + module[len(root) :]
    return None


def _chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


class _Extractor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.out = ScriptNames()
        self.aliases: dict[str, str] = {}  # local name -> dotted keras path
        self.tf_aliases: set[str] = set()  # local names bound to tensorflow (`tf.keras.X`)
        self.from_imported: dict[str, str] = {}  # local name bound by `from keras... import`
        self.prefix_used: set[str] = set()  # local names used as `name.attr`
        self.bare_used: set[str] = set()  # local names used on their own
        self.classes: dict[str, str] = {}  # script class -> the Keras base it derives from

    # imports -----------------------------------------------------------------------------
    def _note_module(self, module: str) -> None:
        top = module.split(".")[0]
        if top in THIRD_PARTY:
            self.out.third_party.add(top)
        elif top in FRAMEWORKS and _keras_path(module) is None:
            self.out.frameworks.add(top)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._note_module(alias.name)
            path = _keras_path(alias.name)
            if alias.name == "tensorflow":
                self.tf_aliases.add(alias.asname or alias.name)
            if path is None:
                continue
            if alias.asname:
                self.aliases[alias.asname] = path
            else:  # `import keras.ops` binds `keras`
                self.aliases[alias.name.split(".")[0]] = "keras"

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        self._note_module(node.module)
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            self._note_module(full)
            path = _keras_path(full)
            if path is None or alias.name == "*":
                continue
            local = alias.asname or alias.name
            self.aliases[local] = path
            self.from_imported[local] = path

    # uses --------------------------------------------------------------------------------
    def _resolve(self, node: ast.expr) -> str | None:
        parts = _chain(node)
        if parts and parts[0] in self.tf_aliases and len(parts) > 2 and parts[1] == "keras":
            return ".".join(["keras", *parts[2:]])
        if not parts or parts[0] not in self.aliases:
            return None
        return ".".join([self.aliases[parts[0]], *parts[1:]])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # Only the outermost attribute of a chain is recorded; inner ones are its prefixes.
        parts = _chain(node)
        if parts and parts[0] in self.tf_aliases and len(parts) > 2 and parts[1] == "keras":
            resolved = self._resolve(node)
            if resolved:
                self.out.names.add(resolved)
            return
        if parts and parts[0] in self.aliases:
            self.prefix_used.add(parts[0])
            resolved = self._resolve(node)
            if resolved:
                self.out.names.add(resolved)
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.from_imported:
            self.bare_used.add(node.id)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        base_path = None
        for base in node.bases:
            self.visit(base)
            resolved = self._resolve(base)
            parts = _chain(base)
            if resolved:
                base_path = resolved
            elif parts and len(parts) == 1 and parts[0] in self.classes:
                base_path = self.classes[parts[0]]
            if base_path:
                break
        for deco in node.decorator_list:
            self.visit(deco)
        if base_path:
            self.classes[node.name] = base_path
            defined = {
                item.name
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
            for name in defined & HOOKS:
                self.out.overrides.add(f"{base_path}.{name}")
            assigned = _self_assigned(node)
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                    target = call.func
                    if (
                        isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                        and target.attr not in defined
                        and target.attr not in assigned
                        and not target.attr.startswith("_")
                    ):
                        self.out.overrides.add(f"{base_path}.{target.attr}")
        for item in node.body:
            self.visit(item)

    def finish(self) -> ScriptNames:
        # A name imported with `from keras.x import Y` counts when Y is used on its own (a class
        # or function); when it is only used as `Y.attr` it is a module, whose uses are counted.
        for local, path in self.from_imported.items():
            if local in self.bare_used or local not in self.prefix_used:
                if local in self.bare_used:
                    self.out.names.add(path)
        return self.out


def _self_assigned(cls: ast.ClassDef) -> set[str]:
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    names.add(target.attr)
    return names


def extract_source(source: str) -> ScriptNames:
    """The Keras names one script's source uses (see the module docstring)."""
    tree = ast.parse(source)
    extractor = _Extractor()
    # Imports first, wherever they sit in the file, so later aliases resolve everywhere.
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            extractor.visit(node)
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            extractor.visit(node)
    return extractor.finish()


def extract_folder(folder: Path, prefix: str = "") -> dict[str, dict[str, list[str]]]:
    """``{prefix + relative path: names}`` for every ``*.py`` under ``folder``, sorted by path."""
    result = {}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder).as_posix()
        result[prefix + rel] = extract_source(path.read_text(encoding="utf-8")).as_dict()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--prefix", default="", help="prepended to each relative path")
    parser.add_argument("--source", default="", help="where the scripts came from (recorded)")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument(
        "--pending",
        type=Path,
        help="a file listing (one a line) scripts of the same collection not read yet",
    )
    args = parser.parse_args(argv)
    scripts = extract_folder(args.folder, args.prefix)
    pending = []
    if args.pending:
        lines = args.pending.read_text(encoding="utf-8").split()
        pending = sorted(args.prefix + p for p in lines if args.prefix + p not in scripts)
    data = {
        "source": args.source,
        "note": "Keras names used by each script (names only, no code). "
        "Regenerate with tools/keras_names/extract.py.",
        "scripts": scripts,
        "pending": pending,
    }
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
