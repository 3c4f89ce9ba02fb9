"""Measure how much of the two backends reads the same but for the framework's name.

For each pair of mirrored modules (same file name in ``backends/duallearn_torch`` and
``backends/duallearn_tensorflow``), lines are normalised (framework names, ``Torch``/``TF``
class prefixes and whitespace folded) and matched with ``difflib``; matched runs of at least
``--min-run`` lines (default 6, blank and comment lines skipped) count as mirrored. Prints each
pair and the total, as lines and as a share of the backends' code lines.

    python tools/mirrored_lines.py [--rev GIT_REV]   # --rev: measure a past commit
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("backends/duallearn_torch", "backends/duallearn_tensorflow")
_NAMES = re.compile(
    r"\b(torch|tensorflow|tf|nn|F|Torch|TF|TensorFlow|duallearn_torch|duallearn_tensorflow)\b"
)
_PREFIX = re.compile(r"\b(Torch|TF)(?=[A-Z_])")


def _norm(line: str) -> str:
    line = _PREFIX.sub("X", line.strip())
    return _NAMES.sub("X", line)


def _code(text: str) -> list[str]:
    return [
        _norm(l) for l in text.splitlines() if l.strip() and not l.strip().startswith("#")
    ]


def _files(rev: str | None, side: str) -> dict[str, str]:
    if rev is None:
        return {p.name: p.read_text() for p in sorted((ROOT / side).glob("*.py"))}
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:{side}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    return {
        n: subprocess.run(
            ["git", "show", f"{rev}:{side}/{n}"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout
        for n in names
        if n.endswith(".py")
    }


def measure(rev: str | None = None, min_run: int = 6) -> tuple[int, int, dict[str, int]]:
    a, b = (_files(rev, s) for s in SIDES)
    total = sum(len(_code(t)) for t in [*a.values(), *b.values()])
    per: dict[str, int] = {}
    for name in sorted(set(a) & set(b)):
        la, lb = _code(a[name]), _code(b[name])
        sm = difflib.SequenceMatcher(None, la, lb, autojunk=False)
        same = sum(m.size for m in sm.get_matching_blocks() if m.size >= min_run)
        if same:
            per[name] = 2 * same  # the run stands in both backends
    return sum(per.values()), total, per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rev", default=None)
    ap.add_argument("--min-run", type=int, default=6)
    args = ap.parse_args()
    mirrored, total, per = measure(args.rev, args.min_run)
    for name, n in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"{name:24s} {n:5d}")
    print(f"mirrored {mirrored} of {total} code lines ({100 * mirrored / max(total, 1):.1f}%)")


if __name__ == "__main__":
    main()
