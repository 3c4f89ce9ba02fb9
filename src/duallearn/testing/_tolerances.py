"""The one tolerance table for parity tests (shared/PARITY.md §11).

A check passes when ``|a − b| ≤ atol_s·max|ref| + rtol·|ref|`` elementwise, ``ref`` being the
numpy float64 reference (or the first operand when comparing backends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tol:
    rtol: float
    atol_s: float


# kind -> dtype -> tolerance
TABLE: dict[str, dict[str, Tol]] = {
    "activation": {"float32": Tol(1e-6, 1e-7), "float64": Tol(1e-14, 1e-15)},
    "gelu": {"float32": Tol(1e-6, 1e-6), "float64": Tol(1e-14, 1e-15)},
    "layer": {"float32": Tol(1e-5, 1e-6), "float64": Tol(1e-12, 1e-13)},
    "forward": {"float32": Tol(1e-4, 1e-5), "float64": Tol(1e-11, 1e-12)},
    "loss": {"float32": Tol(1e-5, 0.0), "float64": Tol(1e-12, 0.0)},
    "gradient": {"float32": Tol(1e-4, 1e-5), "float64": Tol(1e-10, 1e-12)},
    "step": {"float32": Tol(1e-4, 1e-3), "float64": Tol(1e-10, 1e-12)},  # atol_s × lr
    "params_10": {"float32": Tol(1e-4, 1e-5), "float64": Tol(1e-10, 1e-12)},
    "params_100": {"float32": Tol(1e-2, 1e-3), "float64": Tol(1e-9, 1e-12)},
    # A model run under a mixed policy (float32 variables) against the same weights computed
    # in float32: every layer rounds at the compute dtype's epsilon (float16 2**-11, bfloat16
    # 2**-8) and the layers add up (measured: at most 10 epsilons of max|ref|, on a
    # Conv1D-LSTM-GRU-LayerNorm stack), so 25 epsilons; a wrong cast, a missing un-scaling
    # or a wrong layer is an error of the order of max|ref| itself.
    "mixed_float16": {"float32": Tol(0.0, 25 * 2.0**-11)},
    "mixed_bfloat16": {"float32": Tol(0.0, 25 * 2.0**-8)},
    # A float64 central difference (f(x + h·v) − f(x − h·v))/2h, h = 1e-6, against an engine's
    # directional derivative: truncation is O(h²) and the rounding of f over h, eps·|f|/h, is
    # ~1e-10 relative, so 1e-6 of max(1, |numeric|) (1: the floor for a derivative near 0);
    # the rounding of f itself, measured per call and amplified by 1/h, is added through
    # ``scale`` (tests/parity/test_ops.py::_check). A wrong formula is off by O(|numeric|).
    "central_difference": {"float64": Tol(0.0, 1e-6)},
    # A float64 200-step optimizer trajectory against Keras 3's, where Keras rounds one
    # constant through float32 even for float64 variables (Nadam's momentum-cache decay
    # 0.96 = ops.cast(0.96, dtype)): measured 1.3e-9 of max|weight|; the float64 rows would
    # fail and params_100's float32 row (1e-2 relative) would hide a wrong update.
    "float32_constant": {"float64": Tol(0.0, 1e-8)},
    # The same with Keras's default hyperparameters (0.9, 0.999, 1e-7, ...), every one rounded
    # through float32 inside Keras: measured at most 9.1e-8 of max|weight| (Adam, AdamW),
    # 1.3e-8 Ftrl, 3e-9 Lion, the others below 2e-9.
    "float32_defaults": {"float64": Tol(0.0, 1e-6)},
    # Bicubic image resizing (image_dataset_from_directory) against TensorFlow's: both weigh 16
    # pixels in float32, summed in another order; measured 9.2e-5 absolute at max|ref| 274
    # (0-255 pixels overshoot), 3.3e-7 of it; 4e-6 of max|ref| is 1e-3 on 0-255 values.
    # Nearest and bilinear are exact.
    "resize_bicubic": {"float32": Tol(0.0, 4e-6)},
}


def tolerance(kind: str, dtype: str) -> Tol:
    """The tolerance of one kind of check at one dtype, from :data:`TABLE`.

    A check passes when ``|a − b| ≤ atol_s·max|ref| + rtol·|ref|`` elementwise.

    Args:
        kind: a row of the table (``"activation"``, ``"layer"``, ``"forward"``, ``"loss"``,
            ``"gradient"``, ``"step"``, ``"params_10"``, ``"params_100"``, ...).
        dtype: ``"float32"`` or ``"float64"`` (anything ``np.dtype`` accepts).

    Returns:
        A ``Tol(rtol, atol_s)``.

    Example:
        >>> from duallearn.testing import tolerance
        >>> tolerance("layer", "float64")
        Tol(rtol=1e-12, atol_s=1e-13)
    """
    return TABLE[kind][str(np.dtype(dtype))]


def max_errors(a: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """``(max absolute error, max error relative to max|ref|)``."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    err = float(np.max(np.abs(a - ref))) if a.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return err, err / scale if scale else err


def assert_close(
    label: str,
    a: object,
    ref: object,
    dtype: str = "float64",
    kind: str = "layer",
    lr: float = 1.0,
    scale: float | None = None,
) -> None:
    """Assert ``a`` matches ``ref`` within the table's tolerance, with a labelled message.

    ``scale`` replaces ``max|ref|`` in the absolute term when the natural magnitude of the
    computation is larger than the result (a gradient entry that is a sum of terms which
    cancel: its rounding error follows the terms, not the sum)."""
    a_arr, r_arr = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a_arr.shape != r_arr.shape:
        raise AssertionError(f"{label}: shape {a_arr.shape} != reference shape {r_arr.shape}")
    tol = tolerance(kind, dtype)
    own = float(np.max(np.abs(r_arr))) if r_arr.size else 0.0
    atol = tol.atol_s * (lr if kind == "step" else 1.0) * max(own, scale or 0.0)
    bound = atol + tol.rtol * np.abs(r_arr)
    diff = np.abs(a_arr - r_arr)
    if not np.all(diff <= bound) or not np.all(np.isfinite(a_arr) == np.isfinite(r_arr)):
        i = np.unravel_index(int(np.argmax(diff - bound)), diff.shape) if diff.size else ()
        err, rel = max_errors(a_arr, r_arr)
        raise AssertionError(
            f"{label} ({kind}, {dtype}): max abs error {err:.3e} (relative to max|ref| "
            f"{rel:.3e}) exceeds rtol={tol.rtol:g}, atol_s={tol.atol_s:g}; worst at {i}: "
            f"{a_arr[i] if diff.size else a_arr} vs {r_arr[i] if diff.size else r_arr}"
        )
