"""List every public name of duallearn and the ones no test references (issue 19).

Usage::

    .venv/bin/python tools/public_names.py            # report; exit 1 if a name is untested
    .venv/bin/python tools/public_names.py --json     # the same, as JSON
    .venv/bin/python tools/public_names.py --all      # also print every public name

**Public names.** ``duallearn.__all__``, walked recursively through each public submodule it
reaches: a module's ``__all__``; for a module without one, the functions and classes defined in
it or in its private submodules, and its public submodules (the rule of
tools/gen_api_pages.py). Each name is written with the path it is first reached by
(``duallearn.layers.Dense``).

**References.** A static scan (``ast``) of every ``*.py`` under tests/:

- attribute chains from a name bound to duallearn, with aliases resolved: ``import duallearn
  as dl`` then ``dl.layers.Dense``; ``from duallearn import layers as L`` then ``L.Dense``;
  ``L = dl.layers`` then ``L.Dense``; ``from duallearn.layers import Dense``; every prefix of a
  chain counts (``dl.layers.Dense.from_config`` references ``duallearn.layers.Dense``);
- ``getattr(<resolved>, "Name")``, and ``getattr(<resolved>, name)`` with ``name`` each string
  of the file's ``pytest.mark.parametrize`` argument lists (and of the module-level
  assignments of the names those lists use): the attribute access is the reference;
- a capitalised attribute of a plain name bound to neither duallearn nor another library
  (a parameter: ``both(lambda lib: lib.IntegerLookup(...))`` called with ``dl.layers`` and
  ``keras.layers``) references the public names with that last part.

A string alone is not a reference: ``"Dense"`` in a parametrize list (an id, a label, a
name handed to a helper) tests nothing until code reaches the name by an import, an attribute
or a ``getattr`` of a duallearn object.

A public name is *tested* when it is referenced, or when its object (a class, function or
module) is the very object of a referenced public name (``duallearn.Input`` is
``duallearn.layers.Input``: a test of either tests both, and were one rewired to another
object, it would no longer be the same object and would be reported).

A name no test references either gets a test, or an entry in :data:`ALLOWLIST` with its
reason; tests/unit/test_public_names_tested.py fails on any other untested name, and on an
allowlist entry that is stale (tested now, or no longer public).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import sys
import types
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
TOP = "duallearn"

UNDEFINED = object()  # the object of a name listed in ``__all__`` but not defined
NO_TEST_YET = "no test yet (issue 19)"
# Public names with no test, each with its reason. Keep it small: a name leaves the list when
# a test that would fail if the name were wrong references it.
ALLOWLIST: dict[str, str] = {}


# ---- the public names ---------------------------------------------------------------------------
def _module_names(module: types.ModuleType) -> list[str]:
    """One module's public names: ``__all__``, else the rule in the module docstring."""
    listed = getattr(module, "__all__", None)
    if listed is not None:
        return list(dict.fromkeys(listed))
    real = module.__name__
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.ismodule(obj):
            if obj.__name__ == f"{real}.{name}":  # a public submodule
                names.append(name)
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        origin = getattr(obj, "__module__", "") or ""
        if origin == real or origin.startswith(real + "._"):
            names.append(name)
    return names


def public_names() -> dict[str, object]:
    """Every public name of duallearn (qualified, in walk order) -> its object."""
    found: dict[str, object] = {}
    visited: set[str] = set()

    def walk(module: types.ModuleType, path: str) -> None:
        visited.add(module.__name__)
        for name in _module_names(module):
            try:
                obj = getattr(module, name)
            except AttributeError:  # listed but not defined: a defect, reported as such
                obj = UNDEFINED
            qualified = f"{path}.{name}"
            found[qualified] = obj
            if (
                inspect.ismodule(obj)
                and obj.__name__.startswith(TOP + ".")
                and obj.__name__ not in visited
            ):
                walk(obj, qualified)

    walk(importlib.import_module(TOP), TOP)
    return found


# ---- what the tests reference -------------------------------------------------------------------
def _chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _strings(node: ast.AST) -> Iterable[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _is_parametrize(call: ast.Call) -> bool:
    chain = _chain(call.func)
    return bool(chain) and chain[-1] == "parametrize"


class _FileScan:
    """The duallearn names one test file references."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.nodes = list(ast.walk(tree))
        self.aliases: dict[str, set[str]] = {}  # local name -> qualified duallearn paths
        self.refs: set[str] = set()
        self.strings: set[str] = set()
        self.foreign: set[str] = set()  # names bound to other libraries (keras, tf, np, ...)
        self.class_names: set[str] = set()  # ``lib.Name`` on a parameter or other unknown

    def resolve(self, chain: list[str]) -> set[str]:
        """The qualified paths ``chain`` may denote (its head resolved through aliases)."""
        return {".".join([base, *chain[1:]]) for base in self.aliases.get(chain[0], ())}

    def _bind(self, name: str, targets: set[str]) -> bool:
        before = len(self.aliases.get(name, ()))
        self.aliases.setdefault(name, set()).update(targets)
        return len(self.aliases[name]) != before

    def _imports(self) -> None:
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == TOP or a.name.startswith(TOP + "."):
                        if a.asname:
                            self._bind(a.asname, {a.name})
                        else:
                            self._bind(TOP, {TOP})
                        self.refs.add(a.name)
                    else:
                        self.foreign.add(a.asname or a.name.partition(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                if not node.level and (node.module == TOP or node.module.startswith(TOP + ".")):
                    for a in node.names:
                        qualified = f"{node.module}.{a.name}"
                        self._bind(a.asname or a.name, {qualified})
                        self.refs.add(qualified)
                else:
                    self.foreign.update(a.asname or a.name for a in node.names)
            elif (  # keras = importlib.import_module("keras") / pytest.importorskip("keras")
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr in ("import_module", "importorskip")
            ):
                self.foreign.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def _assignments(self) -> None:
        """``L = dl.layers`` (and chains of such), to a fixed point."""
        changed = True
        while changed:
            changed = False
            for node in self.nodes:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                else:
                    continue
                chain = _chain(value)
                if isinstance(target, ast.Name) and chain:
                    resolved = self.resolve(chain)
                    if resolved:
                        changed |= self._bind(target.id, resolved)
                    elif chain[0] in self.foreign and target.id not in self.foreign:
                        self.foreign.add(target.id)  # KL = keras.layers
                        changed = True

    def _module_level_values(self) -> dict[str, list[ast.AST]]:
        values: dict[str, list[ast.AST]] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        values.setdefault(t.id, []).append(node.value)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                if isinstance(node.target, ast.Name):
                    values.setdefault(node.target.id, []).append(node.value)
        return values

    def _parametrize_strings(self, call: ast.Call, values: dict[str, list[ast.AST]]) -> None:
        seen: set[str] = set()
        todo: list[ast.AST] = [*call.args[1:], *(k.value for k in call.keywords)]
        while todo:
            node = todo.pop()
            self.strings.update(_strings(node))
            for sub in ast.walk(node):  # module-level lists the argument is built from
                if isinstance(sub, ast.Name) and sub.id in values and sub.id not in seen:
                    seen.add(sub.id)
                    todo.extend(values[sub.id])

    def resolve_expr(self, node: ast.AST) -> set[str]:
        """The qualified paths an expression may denote: an alias, an attribute of one,
        ``getattr(<resolved>, "Name")``, or ``getattr(<resolved>, name)`` with ``name`` any
        parametrize string of the file (``getattr(dl.applications, module).preprocess_input``
        under ``@parametrize("module", ["vgg16", ...])``)."""
        if isinstance(node, ast.Name):
            return set(self.aliases.get(node.id, ()))
        if isinstance(node, ast.Attribute):
            return {f"{p}.{node.attr}" for p in self.resolve_expr(node.value)}
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
        ):
            owners = self.resolve_expr(node.args[0])
            attr = node.args[1]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                return {f"{p}.{attr.value}" for p in owners}
            return {f"{p}.{s}" for p in owners for s in self.strings if s.isidentifier()}
        return set()

    def scan(self) -> None:
        self._imports()
        self._assignments()
        values = self._module_level_values()
        for node in self.nodes:
            if isinstance(node, ast.Call) and _is_parametrize(node):
                self._parametrize_strings(node, values)
        for node in self.nodes:
            if isinstance(node, (ast.Attribute, ast.Name, ast.Call)):
                found = self.resolve_expr(node)
                self.refs.update(found)
                if not found and isinstance(node, ast.Attribute) and node.attr[:1].isupper():
                    chain = _chain(node.value)
                    if chain is not None and len(chain) == 1 and chain[0] not in self.foreign:
                        if not self.resolve_expr(node.value) and chain[0] != "self":
                            self.class_names.add(node.attr)
        # every prefix of a referenced chain is referenced too
        for path in list(self.refs):
            parts = path.split(".")
            self.refs.update(".".join(parts[:i]) for i in range(1, len(parts)))


def references(tests: Path = TESTS) -> tuple[set[str], set[str]]:
    """``(qualified paths, attribute names)`` that the test files reference: the paths their
    imports, attribute chains and ``getattr`` calls resolve to, and the capitalised
    attributes read from parameters (``lib.GRU``). Parametrize strings only resolve
    ``getattr`` calls inside their own file."""
    refs: set[str] = set()
    attrs: set[str] = set()
    for path in sorted(tests.rglob("*.py")):
        scan = _FileScan(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        scan.scan()
        refs |= scan.refs
        attrs |= scan.class_names
    return refs, attrs


# ---- the report ---------------------------------------------------------------------------------
def _identity_key(obj: object) -> int | None:
    if inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj):
        return id(obj)
    return None


def untested(names: dict[str, object], refs: set[str], attrs: set[str]) -> list[str]:
    """The public names that no test references (directly, as an attribute of a parameter,
    or by identity)."""

    def direct(name: str) -> bool:
        return name in refs or name.rpartition(".")[2] in attrs

    tested_ids = {_identity_key(names[n]) for n in names if direct(n)} - {None}
    return [n for n in names if not direct(n) and _identity_key(names[n]) not in tested_ids]


@dataclass
class Report:
    names: list[str]  # every public name
    untested: list[str]  # no test references them
    unexpected: list[str]  # untested and not in the allowlist: failures
    stale_allowlist: list[str]  # allowlisted but tested now, or no longer public: failures
    undefined: list[str]  # listed in an ``__all__`` but not defined: failures

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.stale_allowlist or self.undefined)

    def lines(self) -> list[str]:
        out = [
            f"{len(self.names)} public names; {len(self.untested)} with no test "
            f"({len(self.untested) - len(self.unexpected)} allowlisted)"
        ]
        out += [f"untested: {n}" for n in self.unexpected]
        out += [f"stale allowlist entry (tested now, or not public): {n}"
                for n in self.stale_allowlist]  # fmt: skip
        out += [f"listed in __all__ but not defined: {n}" for n in self.undefined]
        return out


def report(tests: Path = TESTS, allowlist: dict[str, str] | None = None) -> Report:
    """Compare the public names with what the tests under ``tests`` reference."""
    allowed = ALLOWLIST if allowlist is None else allowlist
    names = public_names()
    refs, attrs = references(tests)
    missing = untested(names, refs, attrs)
    return Report(
        names=list(names),
        untested=missing,
        unexpected=[n for n in missing if n not in allowed],
        stale_allowlist=sorted(n for n in allowed if n not in names or n not in missing),
        undefined=[n for n, obj in names.items() if obj is UNDEFINED],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--all", action="store_true", help="also list every public name")
    args = parser.parse_args(argv)
    result = report()
    if args.json:
        data = asdict(result)
        if not args.all:
            data.pop("names")
        print(json.dumps(data, indent=2))
    else:
        if args.all:
            print("\n".join(result.names))
        print("\n".join(result.lines()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
