"""Retake the screenshots of the built site with headless Chromium: docs/_static/screenshots/*.png.

    python tools/build_docs.py && python tools/docs_screenshots.py

Pages: the home page, one API page (``duallearn.layers``) and one gallery page (the
quickstart). Needs Chromium (Debian: ``apt-get install chromium``); the site is opened from
disk (file://), so nothing is fetched. Each PNG is re-encoded as 256-colour PNG when Pillow is
installed, to stay small in the repository.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
OUT = ROOT / "docs" / "_static" / "screenshots"
PAGES = {
    "home.png": "index.html",
    "api_layers.png": "api/duallearn.layers.html",
    "gallery_quickstart.png": "gallery/quickstart.html",
}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def shrink(path: Path) -> None:
    """Re-encode as an adaptive 256-colour PNG (text pages: ~3x smaller, no visible change)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--size", default="1280,900", help="window width,height")
    args = parser.parse_args(argv)
    if not (SITE / "index.html").exists():
        print("build the site first: python tools/build_docs.py")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for name, page in PAGES.items():
        with tempfile.TemporaryDirectory() as profile:
            cmd = [args.browser, *FLAGS, f"--user-data-dir={profile}"]
            cmd += [f"--screenshot={OUT / name}", f"--window-size={args.size}"]
            cmd.append((SITE / page).as_uri())
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        shrink(OUT / name)
        print(f"{(OUT / name).relative_to(ROOT)}: {(OUT / name).stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
