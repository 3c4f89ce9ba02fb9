"""Helpers shared by callbacks: monitor comparisons and early checks of output folders."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable

import numpy as np

from ..errors import ConfigError


def monitor_op(mode: str, monitor: str, who: str) -> Callable[[float, float], bool]:
    """``a`` better than ``b``: ``<`` for "min", ``>`` for "max"; "auto" picks "max" for
    accuracy/AUC-like names (Keras's rule) and "min" otherwise."""
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"{who}: mode must be 'auto', 'min' or 'max'. Received: {mode!r}.")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        mode = "max" if ("acc" in name or name.startswith("auc") or name == "fmeasure") else "min"
    return np.greater if mode == "max" else np.less  # type: ignore[return-value]


def missing_monitor(who: str, monitor: str, logs: dict[str, float] | None) -> None:
    warnings.warn(
        f"{who} is conditioned on metric {monitor!r}, which is not available. Available "
        f"metrics are: {', '.join(sorted(logs or {}))}.",
        UserWarning,
        stacklevel=3,
    )


def check_writable(directory: str, who: str) -> None:
    """Create ``directory`` if needed and prove a file can be written there, so that a bad
    path fails before training starts rather than at the first checkpoint."""
    directory = os.path.abspath(directory or ".")
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".duallearn-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"{who} cannot write to {directory!r}: {exc.strerror or exc}. Fix: choose a "
            "writable folder (checked before training starts)."
        ) from None
