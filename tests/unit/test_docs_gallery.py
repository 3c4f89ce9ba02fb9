"""The gallery (docs/gallery/) shows every example with output recorded from the current script.

tools/record_gallery.py runs each script of examples/ on both backends and records its output
with the script's SHA-256; this test fails when a script changed after its output was recorded
or when a page is missing or stale (the build renders what was recorded; it runs nothing).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "record_gallery", ROOT / "tools" / "record_gallery.py"
)
assert _spec and _spec.loader
gallery = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gallery)


def test_every_example_has_a_page_and_both_outputs():
    missing = [
        str(gallery.output_path(s, b).relative_to(ROOT))
        for s in gallery.scripts()
        for b in gallery.BACKENDS
        if not gallery.output_path(s, b).exists()
    ]
    missing += [
        s.stem for s in gallery.scripts() if not (gallery.GALLERY / f"{s.stem}.md").exists()
    ]
    assert not missing, f"run: python tools/record_gallery.py ({missing})"


def test_outputs_recorded_from_the_current_scripts():
    problems = gallery.stale()
    assert not problems, (
        "re-record with python tools/record_gallery.py --only NAME:\n  " + "\n  ".join(problems)
    )


def test_recorded_output_shows_the_backend_and_a_result():
    for script in gallery.scripts():
        for backend in gallery.BACKENDS:
            text = gallery.output_path(script, backend).read_text(encoding="utf-8")
            assert (
                f"DUALLEARN_BACKEND={backend} python examples/{script.name}" in text.splitlines()[0]
            )
            body = text.partition("\n")[2]
            assert backend in body and ("accuracy" in body or "loss" in body), (
                script.name,
                backend,
            )
