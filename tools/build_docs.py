"""Build the documentation site: python tools/build_docs.py (-> docs/_build/html/index.html).

1. checks that the API pages (docs/api/) match the public names (tools/gen_api_pages.py);
2. runs ``sphinx-build -W --keep-going -n -b html docs docs/_build/html``: every warning,
   a broken internal link or cross-reference included (nitpicky), fails the build;
3. checks that no page loads a remote resource (font, script, style, image).

Needs the ``docs`` extra (``pip install -e ".[docs]"``); no network, no framework import.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


REMOTE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)


def check_offline(out: Path) -> int:
    """The site loads nothing remote (fonts, scripts, styles, images): it must work offline."""
    bad = [
        str(p.relative_to(out))
        for p in sorted(out.rglob("*.html"))
        if REMOTE.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    if bad:
        print(f"pages that load a remote resource ({len(bad)}): {', '.join(bad[:10])}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/_build/html", help="output folder")
    parser.add_argument("--jobs", default="auto", help="sphinx-build -j (default: auto)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    check = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_api_pages.py"), "--check"], cwd=ROOT
    )
    if check.returncode:
        return check.returncode
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-n",
        "-q",
        "-j",
        args.jobs,
        "-b",
        "html",
        "docs",
        args.out,
    ]
    print("+ sphinx-build", " ".join(cmd[3:]), flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    took = time.perf_counter() - start
    if code == 0:
        code = check_offline(ROOT / args.out)
    if code == 0:
        print(f"built {args.out}/index.html in {took:.0f} s, no warning")
    else:
        print(f"docs build failed after {took:.0f} s (warnings are errors; see above)")
    return code


if __name__ == "__main__":
    sys.exit(main())
