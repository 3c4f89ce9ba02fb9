"""The API reference (docs/api/) covers every public name, and every public name has a docstring.

Public names: each module's ``__all__`` (for a module without one, the functions and classes it
defines; tools/gen_api_pages.py states the rule). Imports only the front-end: no framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api"

_spec = importlib.util.spec_from_file_location("gen_api_pages", ROOT / "tools" / "gen_api_pages.py")
assert _spec and _spec.loader
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

MODULES = gen.public_modules()

# Public names without a docstring, defined in files that other engineers are writing now
# (src/duallearn/applications/*, layers/_conv.py, _pooling.py, _normalization.py, _custom.py,
# ops/*, config.py, backends/*), which this task must not edit.
# Reason for every entry: being written in parallel; fixed at integration (the lead clears it;
# test_no_stale_allow_list fails once an entry has its docstring, so the list only shrinks).
MISSING_DOCSTRING_ALLOWED = {
    "duallearn.plugin.axis_pads",  # defined in layers/_conv.py: being written in parallel
}


def listed_in_page(module_name: str) -> set[str]:
    """The names a module's page lists: autosummary entries and links to submodule pages."""
    text = (API / f"{module_name}.md").read_text(encoding="utf-8")
    names: set[str] = set()
    for block in re.findall(r"^\.\. autosummary::\n((?:   .*\n|\n)+)", text, flags=re.M):
        names.update(m for m in re.findall(r"^   ([A-Za-z_][\w.]*)$", block, flags=re.M))
    for sub in re.findall(r"^- \[`([\w.]+)`\]\(\1\.md\)$", text, flags=re.M):
        names.add(sub.rpartition(".")[2])
    return names


def test_every_public_module_has_a_page_in_the_index():
    index = (API / "index.md").read_text(encoding="utf-8")
    toctree = set(re.findall(r"^(duallearn[\w.]*)$", index, flags=re.M))
    missing = [m for m in MODULES if m not in toctree or not (API / f"{m}.md").exists()]
    assert not missing, f"modules without an API page (run tools/gen_api_pages.py): {missing}"


@pytest.mark.parametrize("module_name", MODULES)
def test_api_page_covers_all(module_name):
    """Every name of the module's ``__all__`` is listed on its page (a failure names them)."""
    wanted = gen.public_names(module_name)
    module = gen.load(module_name)
    undefined = [n for n in wanted if not hasattr(module, n)]
    assert not undefined, f"{module_name}.__all__ lists undefined names: {undefined}"
    missing = sorted(set(wanted) - listed_in_page(module_name))
    assert not missing, (
        f"docs/api/{module_name}.md lacks {missing}; run: python tools/gen_api_pages.py"
    )


def test_api_pages_are_up_to_date(capsys):
    """The committed pages are exactly what tools/gen_api_pages.py writes (no stale name)."""
    assert gen.main(["--check"]) == 0, capsys.readouterr().out


def test_top_level_all_is_covered():
    import duallearn

    assert set(duallearn.__all__) - {"__version__"} <= listed_in_page("duallearn")


def _documented_objects():
    for module_name in MODULES:
        module = gen.load(module_name)
        yield module_name, module
        for name in gen.public_names(module_name):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
                yield f"{module_name}.{name}", obj
            # constants (``__version__``, tables) cannot carry a docstring of their own


def test_every_public_name_has_a_docstring():
    lacking = sorted(
        path
        for path, obj in _documented_objects()
        if not (obj.__doc__ or "").strip() and path not in MISSING_DOCSTRING_ALLOWED
    )
    assert not lacking, "public names without a docstring:\n  " + "\n  ".join(lacking)


def test_no_stale_allow_list():
    have = {path for path, obj in _documented_objects() if (obj.__doc__ or "").strip()}
    stale = sorted(MISSING_DOCSTRING_ALLOWED & have)
    assert not stale, f"remove from MISSING_DOCSTRING_ALLOWED (they have docstrings now): {stale}"
