"""Sphinx configuration of the duallearn documentation site.

Build (one command, warnings are errors): ``python tools/build_docs.py``, which runs
``sphinx-build -W --keep-going -n -b html docs docs/_build/html``.
The guides stay Markdown (MyST); the API reference (docs/api/, written by
tools/gen_api_pages.py) is generated from the docstrings by autodoc/autosummary.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))
# Importing duallearn imports no framework; autodoc only imports the front-end modules.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

project = "duallearn"
author = "the duallearn authors"
copyright = "the duallearn authors"  # noqa: A001
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
# No intersphinx: the build reaches no network.

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "internal", "gallery/_output", "**/.ipynb_checkpoints"]

# --- MyST: the guides are GitHub-flavoured Markdown -------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]  # no dollarmath: `$HOME` stays text
myst_heading_anchors = 4  # `training.md#dlutilspydataset` links resolve as on GitHub

# --- API reference ----------------------------------------------------------------------------
autosummary_generate = False  # each module page holds its names' entries (tools/gen_api_pages.py)
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
python_use_unqualified_type_names = True
add_module_names = False

# Broken internal references fail the build: nitpicky mode, where only names from outside
# duallearn (no intersphinx: numpy, typing, the frameworks, builtins) are let through. A
# reference to a private path (`duallearn.layers._core.Dense`, from a signature or a base
# class) is sent to the public name of the same object; a private object with no public name
# (a TypeVar, a private base class) is shown as text. A public path that does not resolve
# stays an error.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!duallearn\.).*")]

# A guide's heading levels (H1 then H3) and a JSON sample with `...` are style, not breakage.
suppress_warnings = ["myst.header", "misc.highlighting_failure"]

# --- HTML -------------------------------------------------------------------------------------
html_theme = "furo"
html_title = "duallearn"
html_static_path = ["_static"]
html_css_files = ["duallearn.css"]
html_show_sourcelink = False
html_theme_options = {"source_repository": "", "navigation_with_keys": True}
html_last_updated_fmt = None
pygments_style = "friendly"
pygments_dark_style = "monokai"

# Links from the guides to files of the repository outside docs/ (`../src/...`,
# `../benchmarks/results/benchmark.png`): images are copied into the site by Sphinx; other
# files are shown as inline code by `repo_links` below (they are not part of the site).
REPO_LINK = re.compile(r"^(\.\./)+(src|backends|tests|benchmarks|examples|tools)/")


def _repo_links(app, doctree):  # type: ignore[no-untyped-def]
    """Turn a Markdown link to a repository file outside docs/ into inline code (no 404)."""
    for ref in list(doctree.findall(nodes.reference)):
        uri = ref.get("refuri", "")
        if REPO_LINK.match(uri):
            path = REPO_LINK.sub(lambda m: m.group(2) + "/", uri)
            ref.replace_self(nodes.literal(path, path))


_PUBLIC: dict[int, str] = {}


def _public_paths() -> dict[int, str]:
    """id(object) -> the public path of its entry (tools/gen_api_pages.py decides)."""
    if not _PUBLIC:
        from gen_api_pages import canonical_paths, public_modules

        _PUBLIC.update(canonical_paths(public_modules()))
    return _PUBLIC


def _lookup(path: str) -> object | None:
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _public_bases(app, name, obj, options, bases):  # type: ignore[no-untyped-def]
    """Show each base class under its public name; a private base by its first public base."""
    public = _public_paths()
    for i, base in enumerate(bases):
        if not getattr(base, "__module__", "").startswith("duallearn"):
            continue
        target = next((c for c in base.__mro__ if id(c) in public), object)
        if target is object:
            bases[i] = object
            continue
        module, _, qualname = public[id(target)].rpartition(".")
        bases[i] = type(qualname, (), {"__module__": module, "__qualname__": qualname})
    seen: set[str] = set()
    bases[:] = [b for b in bases if not (repr(b) in seen or seen.add(repr(b)))]


def _missing_reference(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """A private duallearn path: link its public name, else text (see `nitpicky` above)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("duallearn."):
        return None
    obj = _lookup(target)
    if obj is None:
        return None  # no such object (a typo, a renamed name): the warning fails the build
    public = _public_paths().get(id(obj))
    if public is None:
        # exists but is not public (private path, TypeVar, unlisted class): text, no link
        return None if inspect.ismodule(obj) else contnode
    if public == target:
        return None  # a public name whose entry is missing: an error
    found = env.domains["py"].resolve_any_xref(
        env, node["refdoc"], app.builder, public, node, contnode
    )
    return found[0][1] if found else None


# Docstrings in files that other engineers are rewriting now, whose reST is not yet valid
# (`*spatial` read as emphasis): their stars are escaped here. Being written in parallel;
# fixed at integration (then delete the entry; tests/unit/test_docs_api.py lists the same).
ESCAPE_STARS = {"duallearn.ops.conv", "duallearn.ops.nn.conv"}


def _fix_docstring(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    """Drop the docstring a constant inherits from its type (`dict`'s); escape listed stars."""
    if what in ("data", "attribute") and not inspect.isclass(obj) and not callable(obj):
        doc = type(obj).__doc__
        own = inspect.cleandoc(doc) if isinstance(doc, str) else ""
        if own and "\n".join(lines).strip() == own.strip():
            lines[:] = []
    if name in ESCAPE_STARS:
        lines[:] = [re.sub(r"(?<![*\\])\*(?=\S)", r"\\*", line) for line in lines]


class CliHelp(SphinxDirective):
    """``duallearn --help`` and each subcommand's ``--help``, as literal blocks."""

    def run(self) -> list[nodes.Node]:
        import argparse

        from duallearn.cli import build_parser

        parser = build_parser()
        parser.prog = "duallearn"
        out: list[nodes.Node] = [nodes.literal_block(text=parser.format_help().rstrip())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    section = nodes.section(ids=[f"cli-{name}"])
                    section += nodes.title(text=f"duallearn {name} --help")
                    section += nodes.literal_block(text=sub.format_help().rstrip())
                    out.append(section)
        return out


def _share_source_page_navigation() -> None:
    """Furo renders the whole navigation tree for every page (~0.2 s a page, quadratic in the
    pages). The ~135 highlighted-source pages (viewcode, ``_modules/...``) are outside the
    toctree, so none of them marks an entry as current: their tree depends only on the page's
    depth (the relative links), and is rendered once per depth. The build went 86 s -> 49 s."""
    import furo

    compute = getattr(furo, "_compute_navigation_tree", None)
    if compute is None:  # another furo: keep its own
        return
    trees: dict[int, str] = {}

    def navigation_tree(context):  # type: ignore[no-untyped-def]
        page = str(context.get("pagename", ""))
        if not page.startswith("_modules/"):
            return compute(context)
        depth = page.count("/")
        if depth not in trees:
            trees[depth] = compute(context)
        return trees[depth]

    furo._compute_navigation_tree = navigation_tree


def setup(app):  # type: ignore[no-untyped-def]
    _share_source_page_navigation()
    app.add_directive("duallearn-cli-help", CliHelp)
    app.connect("doctree-read", _repo_links)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("missing-reference", _missing_reference)
    app.connect("autodoc-process-docstring", _fix_docstring)
    return {"parallel_read_safe": True}
