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

from duallearn.testing import max_errors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.parity import test_optimizers as T  # noqa: E402


def _rel(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    """The largest of the weights' errors relative to ``max|want|``."""
    return max(max_errors(a, b)[1] for a, b in zip(got, want, strict=True))


def _fmt(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def main() -> None:
    for name in T.NAMES:
        for formula in ("keras", "torch"):
            row: list[float] = []
            for dtype in ("float64", "float32"):  # the suite's fixed trajectories
                seed, steps = T.fixed_run(name, formula, dtype)
                _, ref, _, runs = T.run_trajectory(name, formula, seed, dtype, steps, True, True)
                torch_w, tf_w = runs["torch"][0], runs["tensorflow"][0]
                row += [_rel(torch_w, ref), _rel(tf_w, ref), _rel(torch_w, tf_w)]
            print(f"| {name} | {formula} | " + " | ".join(_fmt(v) for v in row) + " |")


if __name__ == "__main__":
    main()
