"""The ```python blocks of the guides (docs/*.md) run, on each backend.

Each page's blocks run in order in one namespace (a reader's session), after the prelude every
guide assumes (``import duallearn as dl``, ``import numpy as np``), in a temporary folder. A
block that cannot run on its own (a fragment of a larger program, a placeholder ``...``, a
download) is listed in NOT_RUN with the reason; the rest must run. A NOT_RUN entry that matches
no block fails too, so the list follows the guides.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import duallearn as dl

from ..conftest import BACKENDS

DOCS = Path(__file__).resolve().parents[2] / "docs"
PRELUDE = "import duallearn as dl\nimport numpy as np\n"

# (page, start of the block's first line) -> why it is not run.
NOT_RUN = {
    ("applications.md", "import duallearn as dl"): "downloads ImageNet weights (no network in CI)",
    ("distributed.md", "import tensorflow as tf"): "logical devices must be made before "
    "TensorFlow's first operation, which this test process ran long ago (the same set-up runs in "
    "a fresh process in tests/distributed/test_data_parallel.py, mode 'mirrored')",
    ("export.md", 'result = model.export("model.onnx", format="onnx")'): "fragment: `model`",
    (
        "layers.md",
        "# the loop behind the table",
    ): "fragment of the parity harness",
    (
        "porting.md",
        "# before                                  # after",
    ): "two columns (before | after), not one program",
    ("preprocessing.md", "augment = dl.Sequential(["): "placeholder `...` for the model",
    (
        "text_preprocessing.md",
        "vectorize = dl.layers.TextVectorization(",
    ): "fragment: `train_texts`",
    (
        "training.md",
        "ds = dl.data.Dataset.from_tensor_slices((x, y))",
    ): "fragment: `x`, `y`, `augment`",
    ("training.md", "class Batches(dl.utils.PyDataset):"): "fragment: `model`, `x`, `y`",
    (
        "training.md",
        'dl.mixed_precision.set_global_policy("mixed_bfloat16")',
    ): "fragment: `build`",
    ("training.md", "def my_mse(y_true, y_pred):"): "fragment: `model`",
    (
        "training.md",
        "self.loss_tracker.update_state(loss, sample_weight=batch_size)",
    ): "lines of a train_step body",
}


def blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)


def not_run(page: Path, block: str) -> str | None:
    """Why this block is not run, or None when it runs."""
    first = block.splitlines()[0] if block.strip() else ""
    return next(
        (
            why
            for (name, start), why in NOT_RUN.items()
            if name == page.name and first.startswith(start)
        ),
        None,
    )


PAGES = sorted(p for p in DOCS.glob("*.md") if blocks(p))
# the pages with a block to run (on the others every block is in NOT_RUN, with its reason)
RUN_PAGES = [p for p in PAGES if any(not not_run(p, b) for b in blocks(p))]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: p.name)
def test_guide_code_blocks_run(page, backend_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a block that saves a file writes it here
    namespace: dict = {"__name__": "__main__"}
    exec(PRELUDE, namespace)
    ran = 0
    with dl.use_backend(backend_name):
        for i, block in enumerate(blocks(page)):
            if not_run(page, block):
                continue
            code = compile(block, f"{page.name} (block {i + 1})", "exec")
            exec(code, namespace)
            ran += 1
    assert ran > 0, f"{page.name}: no block ran"


def test_not_run_entries_match_a_block():
    firsts = [(p.name, b.splitlines()[0] if b.strip() else "") for p in PAGES for b in blocks(p)]
    stale = sorted(
        key for key in NOT_RUN if not any(n == key[0] and f.startswith(key[1]) for n, f in firsts)
    )
    assert not stale, f"NOT_RUN entries that match no block (the guide changed): {stale}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_blocks_not_run_are_still_python(page):
    """A NOT_RUN block is not executed, but it must still parse (as the body of a function:
    a fragment may ``return``), so a typo in it fails here; a two-column comparison is not
    one program and is exempt."""
    for i, block in enumerate(blocks(page)):
        why = not_run(page, block)
        if why is None or "not one program" in why:
            continue
        body = "def _fragment():\n" + "".join(f"    {l}\n" for l in block.splitlines())
        compile(body, f"{page.name} (block {i + 1}, NOT_RUN: {why})", "exec")
