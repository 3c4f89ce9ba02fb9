"""Hypothesis strategies shared by the parity modules that judge the engines against our own
numpy references (issue 19, "hypothesis that searches"): the values themselves are drawn by
hypothesis (``hnp.arrays``), not by numpy from a drawn seed, so a failing example shrinks
toward small shapes and simple values (0, 1, -1, 0.5 ...), and the edge values hypothesis
favours (exact zeros, repeated entries, the ends of a range) are drawn on purpose.

Rules every module follows (written once here, referred to by name in the modules):

* **Subnormals**: entries below ``TINY[dtype]`` in magnitude become 0 (1e-100 for float64,
  1e-15 for float32, so that products and squares of drawn entries stay normal numbers):
  TensorFlow flushes subnormals to zero, torch does not (shared/PARITY.md §10).
* **Magnitudes**: values in [-1, 1] times a drawn magnitude (``SCALES``: 1, 1e-2, 1e3 by
  default; a module narrows it where the formula itself saturates or overflows, and says
  why beside its call).
* **Ties** (``distinct``): where a layer or op takes a maximum, a sort or an argmax, the
  frameworks may route the gradient of equal candidates differently (or pick another index),
  which is not a formula difference. The drawn values are made distinct: the i-th entry in a
  drawn order gets ``i·1e-3`` (of the magnitude) added, and an example with a tie left is
  rejected. Max and sort are exact in floating point, so distinct inputs leave no room for
  rounding to pick another winner.
* **Kinks** (``off_kinks``): where a function's derivative jumps (ReLU at 0, clip bounds,
  |x|, round), an input *exactly at* a kink is kept when every engine and the numpy
  reference take the same one-sided derivative there (ReLU, LeakyReLU and |x| at 0: checked
  by the drawn examples); an input *near* a kink whose float32 rounding could move it across
  (within ``gap``) is moved ``2·gap`` away, on its own side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOATS = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(
    lambda v: 0.0 if abs(v) < 1e-100 else v
)
UNIT = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(
    lambda v: 0.0 if v < 1e-100 else v
)
SCALES = (1.0, 1e-2, 1e3)
TINY = {"float64": 1e-100, "float32": 1e-15}
DTYPES = st.sampled_from(["float64", "float32"])
SEEDS = st.integers(0, 2**16)  # weights and cotangents only: values are drawn by hypothesis


def flush(x: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """Entries below ``TINY[dtype]`` in magnitude become 0 (the subnormal rule)."""
    return np.where(np.abs(x) < TINY[str(np.dtype(dtype))], 0.0, x)


def values(
    draw: st.DrawFn,
    shape: Sequence[int],
    scales: Sequence[float] = SCALES,
    elements: st.SearchStrategy[float] = FLOATS,
    dtype: str = "float64",
) -> np.ndarray:
    """float64 entries drawn by hypothesis (``elements``, [-1, 1] by default) times a drawn
    magnitude from ``scales``, tiny entries flushed for ``dtype``."""
    s = draw(st.sampled_from(list(scales)))
    return flush(draw(hnp.arrays(np.float64, tuple(shape), elements=elements)) * s, dtype)


def between(
    draw: st.DrawFn, shape: Sequence[int], lo: float, hi: float, dtype: str = "float64"
) -> np.ndarray:
    """float64 entries in [lo, hi], both ends included (hypothesis draws them)."""
    el = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return flush(draw(hnp.arrays(np.float64, tuple(shape), elements=el)), dtype)


def distinct(
    draw: st.DrawFn,
    shape: Sequence[int],
    scales: Sequence[float] = SCALES,
    dtype: str = "float64",
) -> np.ndarray:
    """Drawn values without ties, also after rounding to ``dtype`` (the module docstring's
    rule)."""
    shape = tuple(shape)
    s = draw(st.sampled_from(list(scales)))
    x = draw(hnp.arrays(np.float64, shape, elements=FLOATS))
    order = np.random.default_rng(draw(SEEDS)).permutation(x.size)
    flat = x.reshape(-1)
    flat[order] += np.arange(x.size) * 1e-3
    x = flush(flat.reshape(shape) * s, dtype)
    assume(np.unique(x.astype(dtype)).size == x.size)
    return x


def off_kinks(x: np.ndarray, points: Sequence[float], gap: float) -> np.ndarray:
    """Entries within ``gap`` of a kink in ``points`` (but not on it) moved ``2·gap`` away on
    their own side; entries exactly on a kink are kept (see the module docstring)."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = (np.abs(x - p) < gap) & (x != p)
        x[near] = p + np.where(x[near] > p, 2 * gap, -2 * gap)
    return x


def assert_close_or_nan(label: str, a: object, ref: object, dtype: str, kind: str) -> None:
    """``assert_close`` where nan entries must sit at the same places on both sides (a result
    that is 0/0 by definition, as Keras's R2Score of constant targets) and the other entries
    are judged by the table."""
    from duallearn.testing import assert_close

    a_arr, r_arr = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    nan = np.isnan(r_arr)
    assert a_arr.shape == r_arr.shape, f"{label}: shape {a_arr.shape} != {r_arr.shape}"
    assert np.array_equal(np.isnan(a_arr), nan), f"{label}: nan at other places: {a_arr} vs {r_arr}"
    assert_close(label, a_arr[~nan], r_arr[~nan], dtype, kind)


@st.composite
def arrays(
    draw: st.DrawFn,
    shape: Sequence[int] | st.SearchStrategy[tuple[int, ...]],
    scales: Sequence[float] = SCALES,
    dtype: str = "float64",
) -> np.ndarray:
    """A strategy of ``values`` arrays (the shape itself may be a strategy)."""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    return values(draw, shape, scales, dtype=dtype)
