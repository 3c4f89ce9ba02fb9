"""The ``>>>`` examples in the docstrings of the API reference run, on each backend.

Every public name of the reference (tools/gen_api_pages.py) and every public module is searched
once; its examples run in its module's namespace plus ``dl`` and ``np``, in a temporary folder.
An example that cannot run in CI (it downloads, needs files on disk, or is a fragment using a
``model`` defined elsewhere) is listed in NOT_RUN with the reason.
"""

from __future__ import annotations

import doctest
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl

from ..conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_api_pages", ROOT / "tools" / "gen_api_pages.py")
assert _spec and _spec.loader
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

_DOWNLOAD = "downloads a data set or file (no network in CI)"
_FILES = "reads image or text files from a folder that the example assumes"
NOT_RUN = {
    "duallearn.applications.imagenet_utils.decode_predictions": _DOWNLOAD,
    "duallearn.datasets.boston_housing.load_data": _DOWNLOAD,
    "duallearn.datasets.california_housing.load_data": _DOWNLOAD,
    "duallearn.datasets.cifar10.load_data": _DOWNLOAD,
    "duallearn.datasets.cifar100.load_data": _DOWNLOAD,
    "duallearn.datasets.fashion_mnist.load_data": _DOWNLOAD,
    "duallearn.datasets.imdb.load_data": _DOWNLOAD,
    "duallearn.datasets.imdb.get_word_index": _DOWNLOAD,
    "duallearn.datasets.mnist.load_data": _DOWNLOAD,
    "duallearn.datasets.reuters.load_data": _DOWNLOAD,
    "duallearn.datasets.reuters.get_word_index": _DOWNLOAD,
    "duallearn.utils.get_file": _DOWNLOAD,
    "duallearn.utils.extract_archive": "fragment: an archive on disk",
    "duallearn.preprocessing.image_dataset_from_directory": _FILES,
    "duallearn.preprocessing.text_dataset_from_directory": _FILES,
    "duallearn.preprocessing.image.img_to_array": _FILES,
    "duallearn.preprocessing.image.load_img": _FILES,
    "duallearn.data.Dataset": "fragment: `x`, `y`, `model`",
    "duallearn.utils.PyDataset": "fragment: `x`, `y`, `model`",
    "duallearn.utils.plot_model": "fragment: `model`",
    "duallearn.utils.Progbar": "prints a progress bar with timings (not reproducible text)",
}


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(recurse=False)
    seen: set[int] = set()
    found = []
    for module_name in gen.public_modules():
        module = gen.load(module_name)
        objects = [(module_name, module)]
        objects += [
            (f"{module_name}.{n}", getattr(module, n))
            for n in gen.public_names(module_name)
            if hasattr(module, n)
        ]
        for path, obj in objects:
            if id(obj) in seen or not (inspect.ismodule(obj) or callable(obj)):
                continue
            seen.add(id(obj))
            home = inspect.getmodule(obj) or module
            globs = {**vars(home), **vars(module), "dl": dl, "np": np}
            found += [t for t in finder.find(obj, path, globs=globs) if t.examples]
    return found


TESTS = _doctests()
RUN = [t for t in TESTS if t.name not in NOT_RUN]  # the others: NOT_RUN, with the reason


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("test", RUN, ids=lambda t: t.name)
def test_docstring_examples_run(test, backend_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    with dl.use_backend(backend_name):
        result = runner.run(test, out=report.append, clear_globs=False)
    assert result.failed == 0, "".join(report)


def test_not_run_entries_name_a_docstring_example():
    stale = sorted(set(NOT_RUN) - {t.name for t in TESTS})
    assert not stale, f"NOT_RUN entries with no docstring example (remove them): {stale}"


@pytest.mark.parametrize("test", [t for t in TESTS if t.name in NOT_RUN], ids=lambda t: t.name)
def test_examples_not_run_still_parse(test):
    """An example in NOT_RUN is not executed, but each of its statements must still parse,
    so a typo in it fails here."""
    for example in test.examples:
        compile(example.source, f"{test.name} (NOT_RUN: {NOT_RUN[test.name]})", "single")
