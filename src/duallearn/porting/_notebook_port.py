"""Rewrite a Keras script or notebook to run on duallearn, and list what does not port.

:func:`port_source` rewrites one piece of Python source; :func:`port_file` a ``.py`` file or a
``.ipynb`` notebook (every code cell, read and written with nbformat). What changes:

- imports of ``keras``, ``tensorflow.keras`` and ``tf_keras`` in every form (``import keras``,
  ``import keras as K``, ``from keras import layers``, ``from tensorflow import keras``,
  ``from tensorflow.keras.layers import Dense``) become the same import from ``duallearn``,
  binding the same local names, so the code below them stays as it is;
- attribute uses through TensorFlow (``tf.keras.layers.Dense``) become ``dl.layers.Dense``,
  and ``import duallearn as dl`` joins (or, when nothing else uses ``tf``, replaces) the
  ``import tensorflow as tf`` line;
- ``KERAS_BACKEND`` (``os.environ[...] = ...``, ``setdefault``, ``%env``) becomes
  ``DUALLEARN_BACKEND``; a backend duallearn has no engine for (``jax``) becomes ``torch``.

Every Keras name used is looked up on the installed duallearn (attribute look-ups: no framework
is imported). A name it lacks, and every TensorFlow name that is not Keras's, is a
:class:`Finding` with its line (and cell) and a suggestion. Source is read with :mod:`ast`;
only the spans that change are replaced, so comments and formatting elsewhere stay, and
IPython magics (``%...``, ``!...``, ``name?``) stay untouched (except ``%env KERAS_BACKEND``).

``ALIASES`` (Keras spelling -> duallearn spelling where they differ) moved here from
``tools/keras_names/report.py``, which may import it from this module.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import importlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["ALIASES", "Change", "Finding", "PortReport", "port_file", "port_source"]

# Keras spelling -> duallearn spelling, where duallearn names a thing differently. Everything
# else maps by replacing the leading ``keras`` with ``duallearn``. Used only when the direct
# spelling does not exist in duallearn (so ``keras.models.Model`` stays ``models.Model``).
ALIASES: dict[str, str] = {
    "keras.layers.Input": "duallearn.layers.Input",
    "keras.models.Model": "duallearn.Model",
    "keras.models.Sequential": "duallearn.Sequential",
    "keras.Model": "duallearn.Model",
    "keras.Sequential": "duallearn.Sequential",
    "keras.Input": "duallearn.Input",
    "keras.optimizers.schedules": "duallearn.schedules",
}

# Packages that are Keras under another name.
_KERAS_PACKAGES = ("tensorflow.keras", "tensorflow.python.keras", "tf_keras", "keras")

# Libraries built on Keras or TensorFlow: kept, with a finding at their import.
_THIRD_PARTY = {
    "keras_hub": ("missing", "not in duallearn: keras_hub builds on Keras itself"),
    "keras_nlp": ("missing", "not in duallearn: keras_nlp builds on Keras itself"),
    "keras_cv": ("missing", "not in duallearn: keras_cv builds on Keras itself"),
    "tensorflow_datasets": (
        "tensorflow",
        "keep: loads data through tensorflow (tfds.as_numpy gives numpy batches for both engines)",
    ),
    "tensorflow_hub": ("tensorflow", "keep: runs only on the tensorflow engine"),
    "tensorflow_text": ("tensorflow", "keep: runs only on the tensorflow engine"),
    "tensorflow_addons": ("tensorflow", "keep: runs only on the tensorflow engine"),
}

_KEEP_TF = "keep: runs only on the tensorflow engine"
# TensorFlow name (longest prefix wins) -> (kind, suggestion).
_TF_NAMES: dict[str, tuple[str, str]] = {
    "tensorflow.GradientTape": ("manual", "dl.GradientTape"),
    "tensorflow.Variable": ("manual", "dl.Variable"),
    "tensorflow.random.set_seed": ("manual", "dl.set_random_seed"),
    "tensorflow.random.normal": ("manual", "dl.random.normal"),
    "tensorflow.random.uniform": ("manual", "dl.random.uniform"),
    "tensorflow.function": ("manual", "drop it: duallearn compiles its own train step"),
    "tensorflow.constant": ("manual", "dl.ops.convert_to_tensor"),
    "tensorflow.convert_to_tensor": ("manual", "dl.ops.convert_to_tensor"),
    "tensorflow.reduce_mean": ("manual", "dl.ops.mean"),
    "tensorflow.reduce_sum": ("manual", "dl.ops.sum"),
    "tensorflow.reduce_max": ("manual", "dl.ops.max"),
    "tensorflow.reduce_min": ("manual", "dl.ops.min"),
    "tensorflow.concat": ("manual", "dl.ops.concatenate"),
    "tensorflow.print": ("manual", "print(dl.ops.convert_to_numpy(x))"),
    "tensorflow.data": ("tensorflow", _KEEP_TF),
}
_DTYPES = frozenset(
    "bfloat16 float16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64 "
    "bool complex64 complex128".split()
)
_BACKEND_VALUES = ("torch", "tensorflow")
_MISSING = object()


@dataclass(frozen=True)
class Finding:
    """A name the port could not map (or a note about one it did).

    ``kind``: ``"missing"`` (a Keras name duallearn lacks), ``"manual"`` (a TensorFlow name with
    a duallearn equivalent to write by hand), ``"tensorflow"`` (a TensorFlow name that stays:
    it runs only on the tensorflow engine), ``"unparsed"`` (source that is not Python the tool
    can read) or ``"note"`` (a choice the port made; not a problem). ``line`` counts from 1
    within the file or cell; ``cell`` counts every notebook cell (markdown too) from 1.
    """

    line: int
    name: str
    kind: str
    suggestion: str
    cell: int | None = None

    @property
    def blocking(self) -> bool:
        """Whether the name still needs a person (every kind but ``"note"``)."""
        return self.kind != "note"

    def __str__(self) -> str:
        where = f"cell {self.cell}, line {self.line}" if self.cell else f"line {self.line}"
        return f"{where}: {self.name} -> {self.suggestion}"


@dataclass(frozen=True)
class Change:
    """One line the port rewrote: ``before`` is empty for an added line."""

    line: int
    before: str
    after: str
    cell: int | None = None

    def __str__(self) -> str:
        where = f"cell {self.cell}, line {self.line}" if self.cell else f"line {self.line}"
        if not self.before:
            return f"{where}: + {self.after}"
        return f"{where}: {self.before} -> {self.after}"


@dataclass
class PortReport:
    """What :func:`port_file` did: ``text`` is the ported file (notebook JSON for ``.ipynb``),
    ``out`` the path written (None when nothing was written)."""

    path: str
    out: str | None
    findings: list[Finding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    text: str = ""

    @property
    def unmapped(self) -> list[Finding]:
        """The findings that still need a person (``Finding.blocking``)."""
        return [f for f in self.findings if f.blocking]

    def summary(self) -> str:
        """The report as text: the changed lines, then the findings."""
        head = (
            f"{self.path}: {len(self.changes)} line(s) changed, "
            f"{len(self.unmapped)} name(s) to port by hand"
        )
        lines = [head]
        lines += [f"  {c}" for c in self.changes]
        if self.findings:
            lines.append("names that did not port:" if self.unmapped else "notes:")
            lines += [f"  {f}" + ("" if f.blocking else " (note)") for f in self.findings]
        if self.out:
            lines.append(f"written: {self.out}")
        else:
            lines.append("nothing written (pass -o OUT / out= to write the ported file)")
        return "\n".join(lines)


# ---- looking names up on the installed duallearn ---------------------------------------------
_lookups: dict[str, Any] = {}


def _lookup(dotted: str) -> Any:
    """The object ``dotted`` (``duallearn.layers.Dense``) names, or ``_MISSING``."""
    if dotted not in _lookups:
        parts = dotted.split(".")
        obj: Any = importlib.import_module(parts[0])
        for i, part in enumerate(parts[1:], start=1):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                try:  # a submodule not imported yet
                    obj = importlib.import_module(".".join(parts[: i + 1]))
                except ImportError:
                    obj = _MISSING
                    break
        _lookups[dotted] = obj
    return _lookups[dotted]


def _exists(dotted: str) -> bool:
    return _lookup(dotted) is not _MISSING


def _canonical(dotted: str) -> str:
    """``tensorflow.keras.layers`` -> ``keras.layers``; other names unchanged."""
    for package in _KERAS_PACKAGES:
        if dotted == package or dotted.startswith(package + "."):
            return "keras" + dotted[len(package) :]
    return dotted


def _is_private(canonical: str) -> bool:
    return canonical == "keras.src" or canonical.startswith("keras.src.")


def _is_keras(canonical: str) -> bool:
    """A public Keras name (``keras.src`` is Keras's private package: not rewritten)."""
    public = canonical == "keras" or canonical.startswith("keras.")
    return public and not _is_private(canonical)


def _is_tensorflow(canonical: str) -> bool:
    return canonical == "tensorflow" or canonical.startswith("tensorflow.")


def to_duallearn(name: str) -> str:
    """duallearn's spelling of a Keras name: the direct one (``keras`` -> ``duallearn``) when
    duallearn has it, else through the longest :data:`ALIASES` prefix.

    Example:
        >>> to_duallearn("keras.layers.Dense")
        'duallearn.layers.Dense'
    """
    direct = "duallearn" + name[len("keras") :]
    if _exists(direct):
        return direct
    for key in sorted(ALIASES, key=len, reverse=True):
        if name == key or name.startswith(key + "."):
            aliased = ALIASES[key] + name[len(key) :]
            if _exists(aliased):
                return aliased
    return direct


def _closest(target: str) -> str:
    """The suggestion for a duallearn name that does not exist."""
    parts = target.split(".")
    if "src" in parts[:2]:
        private = "not in duallearn: keras.src is Keras's private package"
        for sub in ("", *sorted(importlib.import_module("duallearn")._SUBMODULES)):
            where = "duallearn" + (f".{sub}" if sub else "")
            if len(parts) > 2 and _exists(f"{where}.{parts[-1]}"):
                return f"{private}; use {where}.{parts[-1]}"
        return f"{private}; use the public name"
    i = len(parts) - 1
    while i > 1 and not _exists(".".join(parts[:i])):
        i -= 1
    leaf = parts[i]
    submodules = sorted(importlib.import_module("duallearn")._SUBMODULES)
    for sub in ("", *submodules):
        where = "duallearn" + (f".{sub}" if sub else "")
        if where != ".".join(parts[:i]) and _exists(f"{where}.{leaf}"):
            return f"not in duallearn: closest {where}.{leaf}"
    parent = _lookup(".".join(parts[:i]))
    names = [n for n in dir(parent) if not n.startswith("_")]
    close = difflib.get_close_matches(leaf, names, n=1, cutoff=0.75)
    if close:
        return f"not in duallearn: closest {'.'.join(parts[:i])}.{close[0]}"
    return "not in duallearn"


def _tf_suggestion(canonical: str) -> tuple[str, str, int]:
    """``(kind, suggestion, parts of the name it is about)`` for a TensorFlow name."""
    parts = canonical.split(".")
    for n in range(len(parts), 1, -1):
        hit = _TF_NAMES.get(".".join(parts[:n]))
        if hit:
            return hit[0], hit[1], n
    if len(parts) == 2 and parts[1] in _DTYPES:
        return "manual", f'"{parts[1]}" (dtypes are strings in duallearn)', 2
    if len(parts) >= 2 and not parts[-1].startswith("_") and parts[1] not in ("data", "io"):
        leaf = parts[-1]
        for module in ("ops", "activations"):
            if _exists(f"duallearn.{module}.{leaf}"):
                return "manual", f"dl.{module}.{leaf}", len(parts)
    return "tensorflow", _KEEP_TF, min(len(parts), 2)


# ---- reading source: lines, offsets, magics ----------------------------------------------------
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_MAGIC_RE = re.compile(r"^[ \t]*(?:[%!]|[\w.]+[ \t]*=[ \t]*[%!])")
_HELP_RE = re.compile(r"^[ \t]*(?:\?\??[\w.]+|[\w.]+\?\??)[ \t]*$")
_ENV_RE = re.compile(
    r"^(?P<head>[ \t]*%(?:env|set_env)[ \t]+)KERAS_BACKEND(?P<sep>[ \t]*=[ \t]*|[ \t]+)"
    r"(?P<value>\S+?)(?P<tail>[ \t]*)$"
)
# Cell magics whose body is Python.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


def _backend_value(value: str) -> tuple[str, str | None]:
    """duallearn's engine for a ``KERAS_BACKEND`` value, and a note when it differs."""
    if value in _BACKEND_VALUES:
        return value, None
    return "torch", f"duallearn has no {value!r} engine: 'torch' chosen ('tensorflow' is the other)"


class _Unit:
    """One piece of source (a file or a cell): its lines, its tree, its planned edits."""

    def __init__(self, text: str, cell: int | None) -> None:
        self.text = text
        self.cell = cell
        self.lines = _LINE_RE.findall(text)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.edits: list[tuple[int, int, str]] = []
        self.tree: ast.Module | None = None
        self.error: str | None = None
        self._parse()

    def _parse(self) -> None:
        masked = list(self.lines)
        first = self.lines[0].strip() if self.lines else ""
        if first.startswith("%%"):
            name = first[2:].split(None, 1)[0] if len(first) > 2 else ""
            if name not in _PYTHON_CELL_MAGICS:
                return  # not Python (%%bash, %%html, %%writefile ...): left alone
        for i, line in enumerate(self.lines):
            if _MAGIC_RE.match(line) or _HELP_RE.match(line.rstrip("\r\n")):
                indent = line[: len(line) - len(line.lstrip(" \t"))]
                ending = line[len(line.rstrip("\r\n")) :]
                masked[i] = f"{indent}pass{ending}"
        for source in ("".join(masked), self.text):  # a "%" line may be a continuation
            try:
                self.tree = ast.parse(source)
                self.error = None
                return
            except SyntaxError as exc:
                self.error = f"{exc.msg} (line {exc.lineno})"

    def offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        col = len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="replace"))
        return self.starts[lineno - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def indent_of(self, node: ast.stmt) -> tuple[str, bool]:
        """The statement's indentation, and whether it starts its line."""
        line = self.lines[node.lineno - 1]
        before = line.encode("utf-8")[: node.col_offset].decode("utf-8", errors="replace")
        return before, before.strip() == ""

    def ported(self) -> str:
        text = self.text
        for start, end, new in sorted(set(self.edits), reverse=True):
            text = text[:start] + new + text[end:]
        return text


@dataclass
class _Binding:
    canonical: str  # keras.layers, tensorflow, tensorflow.data, duallearn
    target: str | None = None  # the duallearn object a keras binding names after the port


def _chains(tree: ast.AST) -> list[list[ast.expr]]:
    """Every maximal ``Name.attr.attr`` chain, root first."""
    found: list[list[ast.expr]] = []

    class Visitor(ast.NodeVisitor):
        def visit_Attribute(self, node: ast.Attribute) -> None:
            nodes: list[ast.expr] = [node]
            cur = node.value
            while isinstance(cur, ast.Attribute):
                nodes.append(cur)
                cur = cur.value
            if isinstance(cur, ast.Name):
                nodes.append(cur)
                found.append(nodes[::-1])
            else:
                self.visit(cur)

        def visit_Name(self, node: ast.Name) -> None:
            found.append([node])

    Visitor().visit(tree)
    return found


def _chain_names(chain: list[ast.expr]) -> list[str]:
    root = chain[0]
    assert isinstance(root, ast.Name)
    return [root.id] + [n.attr for n in chain[1:] if isinstance(n, ast.Attribute)]


class _Porter:
    """Ports a list of units that share one namespace (a file, or a notebook's cells)."""

    def __init__(self, units: list[_Unit]) -> None:
        self.units = units
        self.findings: list[Finding] = []
        self.bindings: dict[str, _Binding] = {}
        self.tf_other_uses: dict[str, int] = {}
        self.tf_keras_uses: dict[str, int] = {}
        used: set[str] = set()
        for unit in units:
            if unit.tree is None:
                continue
            for node in ast.walk(unit.tree):
                if isinstance(node, ast.Name):
                    used.add(node.id)
                elif isinstance(node, ast.alias):
                    used.add(node.asname or node.name.split(".")[0])
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                    used.add(node.name)
                elif isinstance(node, ast.arg):
                    used.add(node.arg)
        self.dl = "dl" if "dl" not in used else "duallearn"
        self.dl_bound = False

    def find(self, unit: _Unit, line: int, name: str, kind: str, suggestion: str) -> None:
        finding = Finding(line, name, kind, suggestion, unit.cell)
        if finding not in self.findings:
            self.findings.append(finding)

    def run(self) -> None:
        for unit in self.units:
            if unit.error is not None and unit.tree is None:
                self.find(unit, 1, "(source)", "unparsed", f"not ported: {unit.error}")
            if unit.tree is not None:
                self._bind(unit, unit.tree)
        for local, binding in self.bindings.items():
            if binding.canonical == "duallearn":  # `import duallearn as dl` already there
                self.dl, self.dl_bound = local, True
                break
        for unit in self.units:
            if unit.tree is not None:
                for chain in _chains(unit.tree):
                    self._chain(unit, chain)
        added = False
        for unit in self.units:
            if unit.tree is None:
                continue
            for node in ast.walk(unit.tree):
                if isinstance(node, ast.Import):
                    added = self._import(unit, node, added)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    self._import_from(unit, node)
            self._backend_env(unit)
        for unit in self.units:
            self._env_magics(unit)
        self.findings.sort(key=lambda f: (f.cell or 0, f.line))

    # -- bindings --------------------------------------------------------------------------
    def _bind(self, unit: _Unit, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    bound = _canonical(alias.name if alias.asname else top)
                    self._add(alias.asname or top, bound)
                    if alias.asname and _is_keras(bound) and not _exists(to_duallearn(bound)):
                        target = to_duallearn(bound)
                        self.find(unit, node.lineno, bound, "missing", _closest(target))
                    if top in _THIRD_PARTY:
                        kind, text = _THIRD_PARTY[top]
                        self.find(unit, node.lineno, top, kind, text)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if _is_private(_canonical(node.module)):
                    for alias in node.names:
                        full = f"{_canonical(node.module)}.{alias.name}"
                        self.find(unit, node.lineno, full, "missing", _closest(full))
                top = node.module.split(".")[0]
                if top in _THIRD_PARTY:
                    kind, text = _THIRD_PARTY[top]
                    self.find(unit, node.lineno, top, kind, text)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    full = _canonical(f"{node.module}.{alias.name}")
                    self._add(alias.asname or alias.name, full)
                    if _is_keras(full):
                        target = to_duallearn(full)
                        if not _exists(target):
                            self.find(unit, node.lineno, full, "missing", _closest(target))

    def _add(self, local: str, canonical: str) -> None:
        if _is_keras(canonical):
            self.bindings[local] = _Binding(canonical, to_duallearn(canonical))
        elif _is_tensorflow(canonical) or canonical == "duallearn":
            self.bindings[local] = _Binding(canonical)

    # -- attribute chains ------------------------------------------------------------------
    def _chain(self, unit: _Unit, chain: list[ast.expr]) -> None:
        names = _chain_names(chain)
        binding = self.bindings.get(names[0])
        if binding is None or binding.canonical == "duallearn":
            return
        prefixes = [
            _canonical(".".join([binding.canonical, *names[1 : i + 1]])) for i in range(len(names))
        ]
        line = chain[0].lineno
        if binding.target is not None:  # bound to a Keras object, now duallearn's
            if len(chain) == 1:
                return  # the import itself was checked
            self._keras_chain(unit, chain, prefixes, 0, binding.target, names[0])
            return
        j = next((i for i, p in enumerate(prefixes) if _is_keras(p)), None)
        if j is None:
            self.tf_other_uses[names[0]] = self.tf_other_uses.get(names[0], 0) + 1
            if isinstance(chain[0].ctx, ast.Load):  # type: ignore[attr-defined]
                kind, text, n = _tf_suggestion(prefixes[-1])
                n = max(1, n - len(binding.canonical.split(".")) + 1)
                self.find(unit, line, ".".join(names[:n]), kind, text)
            return
        self.tf_keras_uses[names[0]] = self.tf_keras_uses.get(names[0], 0) + 1
        unit.edits.append((*unit.span(chain[j]), self.dl))
        self._keras_chain(unit, chain, prefixes, j, "duallearn", self.dl, replaced=j)

    def _keras_chain(
        self,
        unit: _Unit,
        chain: list[ast.expr],
        prefixes: list[str],
        j: int,
        root_target: str,
        root_text: str,
        replaced: int | None = None,
    ) -> None:
        names = _chain_names(chain)
        keras_root = prefixes[j]
        full = prefixes[-1]
        direct = root_target + full[len(keras_root) :]
        if _exists(direct):
            return
        line = chain[0].lineno
        for i in range(len(chain) - 1, j, -1):
            key = prefixes[i]
            if key not in ALIASES:
                continue
            aliased = ALIASES[key] + full[len(key) :]
            if _exists(aliased) and ALIASES[key].startswith(root_target):
                new = root_text + ALIASES[key][len(root_target) :]
                if replaced is not None:
                    unit.edits.remove((*unit.span(chain[replaced]), self.dl))
                unit.edits.append((*unit.span(chain[i]), new))
                return
        written = ".".join(names)
        self.find(unit, line, written, "missing", _closest(direct))

    # -- import statements -----------------------------------------------------------------
    def _import(self, unit: _Unit, node: ast.Import, added: bool) -> bool:
        statements: list[list[str]] = [[]]  # runs of "import a as b" pieces; "from" lines
        changed = False
        for alias in node.names:
            top = alias.name.split(".")[0]
            local = alias.asname or top
            bound = _canonical(alias.name if alias.asname else top)
            written = alias.name + _as(alias.name, local)
            if _is_keras(bound):
                changed = True
                target = to_duallearn(bound)
                if "." not in target:
                    statements[-1].append("duallearn" + _as("duallearn", local))
                else:
                    parent, leaf = target.rsplit(".", 1)
                    statements += [[f"from {parent} import {leaf}{_as(leaf, local)}"], []]
            elif _is_tensorflow(bound) and self.tf_keras_uses.get(local):
                changed = True
                if not self.tf_other_uses.get(local):  # tf was only ever tf.keras
                    statements[-1].append("duallearn" + _as("duallearn", self.dl))
                else:
                    statements[-1].append(written)
                    if not added and not self.dl_bound:
                        statements += [["duallearn" + _as("duallearn", self.dl)], []]
                        added = True
            else:
                statements[-1].append(written)
        if changed:
            lines = [
                group[0] if group[0].startswith("from ") else f"import {', '.join(group)}"
                for group in statements
                if group
            ]
            self._replace_statement(unit, node, lines)
        return added

    def _import_from(self, unit: _Unit, node: ast.ImportFrom) -> None:
        assert node.module is not None
        module = _canonical(node.module)
        keras_module = _is_keras(module)
        kept: list[ast.alias] = []
        targets: list[tuple[ast.alias, str]] = []
        for alias in node.names:
            full = module if alias.name == "*" else _canonical(f"{node.module}.{alias.name}")
            if keras_module or _is_keras(full):
                targets.append((alias, to_duallearn(full)))
            else:
                kept.append(alias)
        if not targets:
            return
        new_module = to_duallearn(module) if keras_module else None
        simple = (
            keras_module
            and not kept
            and new_module is not None
            and all(
                t == (new_module if a.name == "*" else f"{new_module}.{a.name}") for a, t in targets
            )
        )
        if simple and new_module is not None:
            start, end = unit.span(node)
            source = unit.text[start:end]
            match = re.match(r"from\s+([\w.]+)\s+import\b", source)
            if match and match.group(1) == node.module:
                unit.edits.append((start + match.start(1), start + match.end(1), new_module))
                return
        imports: list[str] = []
        groups: dict[str, list[str]] = {}
        for alias, target in targets:
            local = alias.asname or alias.name
            if alias.name == "*":
                groups.setdefault(target, []).append("*")
            elif "." not in target:
                imports.append("duallearn" + _as("duallearn", local))
            else:
                parent, leaf = target.rsplit(".", 1)
                groups.setdefault(parent, []).append(leaf + _as(leaf, local))
        lines = [f"from {p} import {', '.join(names)}" for p, names in groups.items()]
        if imports:
            lines.insert(0, f"import {', '.join(imports)}")
        if kept:
            names = ", ".join(a.name + _as(a.name, a.asname or a.name) for a in kept)
            lines.insert(0, f"from {node.module} import {names}")
        self._replace_statement(unit, node, lines)

    def _replace_statement(self, unit: _Unit, node: ast.stmt, statements: list[str]) -> None:
        indent, own_line = unit.indent_of(node)
        joiner = "\n" + indent if own_line else "; "
        unit.edits.append((*unit.span(node), joiner.join(statements)))

    # -- KERAS_BACKEND -----------------------------------------------------------------------
    def _backend_env(self, unit: _Unit) -> None:
        assert unit.tree is not None
        values: list[ast.expr] = []
        for node in ast.walk(unit.tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                if _is_keras_backend(node.targets[0].slice):
                    values.append(node.value)
            elif isinstance(node, ast.Call) and len(node.args) >= 2:
                if _is_keras_backend(node.args[0]):
                    values.append(node.args[1])
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if key is not None and _is_keras_backend(key):
                        values.append(value)
        for node in ast.walk(unit.tree):
            if _is_keras_backend(node):
                start, end = unit.span(node)
                text = unit.text[start:end].replace("KERAS_BACKEND", "DUALLEARN_BACKEND")
                unit.edits.append((start, end, text))
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                engine, note = _backend_value(value.value)
                if note:
                    start, end = unit.span(value)
                    old = unit.text[start:end]
                    unit.edits.append((start, end, old.replace(value.value, engine)))
                    self.find(unit, value.lineno, f"KERAS_BACKEND={value.value!r}", "note", note)

    def _env_magics(self, unit: _Unit) -> None:
        if unit.tree is None and unit.error is None:
            return  # a non-Python cell magic
        for lineno, line in enumerate(unit.lines, start=1):
            body = line.rstrip("\r\n")
            match = _ENV_RE.match(body)
            if not match:
                continue
            raw = match.group("value").strip("'\"")
            engine, note = _backend_value(raw)
            new = f"{match.group('head')}DUALLEARN_BACKEND{match.group('sep')}{engine}"
            start = unit.starts[lineno - 1]
            unit.edits.append((start, start + len(body), new + match.group("tail")))
            if note:
                self.find(unit, lineno, f"KERAS_BACKEND={raw!r}", "note", note)


def _is_keras_backend(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "KERAS_BACKEND"


def _as(leaf: str, local: str) -> str:
    return "" if leaf == local else f" as {local}"


def _changes(unit: _Unit) -> list[Change]:
    """The lines the unit's edits touch, before and after (an added line has no "before")."""
    spans: list[tuple[int, int, list[tuple[int, int, str]]]] = []  # first, last line, edits
    for start, end, new in sorted(set(unit.edits)):
        first = bisect.bisect_right(unit.starts, start)
        last = max(first, bisect.bisect_right(unit.starts, max(end - 1, start)))
        if spans and first <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(last, spans[-1][1]), [*spans[-1][2], (start, end, new)])
        else:
            spans.append((first, last, [(start, end, new)]))
    out: list[Change] = []
    for first, last, edits in spans:
        base = unit.starts[first - 1]
        old = "".join(unit.lines[first - 1 : last])
        new_block = old
        for start, end, text in sorted(edits, reverse=True):
            new_block = new_block[: start - base] + text + new_block[end - base :]
        old_lines, new_lines = old.splitlines(), new_block.splitlines()
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                before = old_lines[i1 + k].strip() if i1 + k < i2 else ""
                after = new_lines[j1 + k].strip() if j1 + k < j2 else ""
                line = first + i1 + k if i1 + k < i2 else first + max(i2, 1) - 1
                out.append(Change(line, before, after, unit.cell))
    return out


def _port_units(units: list[_Unit]) -> tuple[list[str], list[Finding], list[Change]]:
    porter = _Porter(units)
    porter.run()
    texts = [unit.ported() for unit in units]
    changes = [c for unit in units for c in _changes(unit)]
    return texts, porter.findings, changes


def port_source(text: str) -> tuple[str, list[Finding]]:
    """Rewrite Keras / ``tf.keras`` imports and uses in Python source to duallearn.

    Imports keep their local names (``import keras`` -> ``import duallearn as keras``;
    ``from tensorflow.keras.layers import Dense`` -> ``from duallearn.layers import Dense``),
    ``tf.keras.X`` becomes ``dl.X`` and ``KERAS_BACKEND`` becomes ``DUALLEARN_BACKEND``. Lines
    that need no change, comments and IPython magics stay as they are.

    Args:
        text: Python source (a script, or one notebook cell; magics allowed).

    Returns:
        ``(new_text, findings)``: the ported source, and a :class:`Finding` for every Keras
        name duallearn lacks and every TensorFlow name that is not Keras's (line, name,
        suggestion).

    Raises:
        ConfigError: ``text`` is not a string.

    Example:
        >>> new, findings = port_source("import keras\\nx = keras.layers.Dense(3)\\n")
        >>> print(new, end="")
        import duallearn as keras
        x = keras.layers.Dense(3)
        >>> findings
        []
    """
    if not isinstance(text, str):
        raise ConfigError(
            f"port_source expects Python source as a str. Received: {type(text).__name__}. "
            "Fix: pass the file's text (port_file reads .py and .ipynb files)."
        )
    texts, findings, _ = _port_units([_Unit(text, None)])
    return texts[0], findings


def _read_notebook(path: str) -> Any:
    try:
        nbformat = importlib.import_module("nbformat")
    except ImportError:
        raise ConfigError(
            f"Reading {path} needs nbformat, which is not installed. "
            "Fix: pip install nbformat nbclient ipykernel."
        ) from None
    try:
        return nbformat.read(path, as_version=4)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON or schema errors
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ConfigError(
            f"{path} is not a readable Jupyter notebook: {reason}. Fix: open and save it in "
            "Jupyter, or pass the .py script instead."
        ) from None


def port_file(
    path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> PortReport:
    """Port a ``.py`` script or a ``.ipynb`` notebook (every code cell) to duallearn.

    Each notebook cell is ported as :func:`port_source` ports a script, with the imports of
    earlier cells in scope; markdown cells, outputs and metadata are kept. The file is written
    only when ``out`` is given (atomically; ``out`` may be ``path`` itself).

    Args:
        path: the ``.py`` or ``.ipynb`` file to read.
        out: where to write the ported file (same suffix as ``path``), or None to write nothing.

    Returns:
        A :class:`PortReport`: ``findings`` (cell and line for notebooks), ``changes`` (each
        rewritten line), ``text`` (the ported file) and ``out``.

    Raises:
        ConfigError: ``path`` is missing, not a ``.py``/``.ipynb`` file or not readable;
            ``out`` has another suffix.
        SerializationError: ``out`` cannot be written (its folder does not exist, ...).

    Example:
        >>> report = port_file("train.py", out="train_duallearn.py")  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
    """
    from ..saving._container import atomic_write

    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".py", ".ipynb"):
        raise ConfigError(
            f"port_file reads a .py script or a .ipynb notebook. Received: {path!r}. "
            "Fix: pass a file ending in .py or .ipynb."
        )
    if not os.path.isfile(path):
        what = "a folder" if os.path.isdir(path) else "missing"
        raise ConfigError(f"Cannot port {path}: it is {what}. Fix: pass an existing {suffix} file.")
    out_path = None if out is None else os.fspath(out)
    if out_path is not None and os.path.splitext(out_path)[1].lower() != suffix:
        raise ConfigError(
            f"The ported file keeps the input's kind ({suffix}). Received: out={out_path!r}. "
            f"Fix: name an output ending in {suffix}."
        )
    report = PortReport(path, out_path)
    if suffix == ".py":
        try:
            with open(path, encoding="utf-8", newline="") as f:
                source = f.read()
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path} is not UTF-8 text ({exc.reason}). Fix: save it as UTF-8."
            ) from None
        texts, report.findings, report.changes = _port_units([_Unit(source, None)])
        report.text = texts[0]
    else:
        nbformat = importlib.import_module("nbformat")
        nb = _read_notebook(path)
        cells = [(i, c) for i, c in enumerate(nb.cells, start=1) if c.cell_type == "code"]
        units = [_Unit(c.source, i) for i, c in cells]
        texts, report.findings, report.changes = _port_units(units)
        for (_, cell), text in zip(cells, texts, strict=True):
            cell.source = text
        report.text = nbformat.writes(nb) + "\n"
    if out_path is not None:
        atomic_write(out_path, report.text.encode("utf-8"))
    return report
