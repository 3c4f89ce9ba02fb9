"""Print the rows of docs/optimizers.md §1.4 (measured trajectory errors) for the current code.

Usage: .venv/bin/python tools/optimizer_table.py

The trajectories are ``tests/parity/test_optimizers.py``'s (the same seeds, hyperparameters
and features): float64, 200 steps, and float32, 10 steps, every feature and the schedule on,
each backend driven with the same gradients. A figure is the max over weights of
``max|a − b| / max|b|`` against the numpy reference, and torch against TensorFlow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.parity import test_optimizers as T  # noqa: E402


def _rel(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    out = 0.0
    for a, b in zip(got, want, strict=True):
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        out = max(out, float(np.max(np.abs(a64 - b64))) / max(float(np.max(np.abs(b64))), 1e-300))
    return out


def _fmt(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def main() -> None:
    for name in T.NAMES:
        for formula in ("keras", "torch"):
            row: list[float] = []
            runs = [("float64", T.NAMES.index(name) * 7 + len(formula), 200),
                    ("float32", 100 + T.NAMES.index(name), 10)]  # fmt: skip
            for dtype, seed, steps in runs:  # as check_trajectory draws them
                r, w0, grads, names = T.problem(seed, steps)
                hyper = T.draw_hyper(name, formula, r)
                feats = T.draw_features(r, True)
                spec = T.make(name, formula, hyper, feats, True)
                ref, _ = T.reference(spec, w0, grads, names)
                got = {b: T.RUN[b](spec, w0, grads, names, dtype)[0] for b in T.RUN}
                row += [_rel(got["torch"], ref), _rel(got["tensorflow"], ref),
                        _rel(got["torch"], got["tensorflow"])]  # fmt: skip
            print(f"| {name} | {formula} | " + " | ".join(_fmt(v) for v in row) + " |")


if __name__ == "__main__":
    main()
