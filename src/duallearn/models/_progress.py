"""Progress output for ``fit``/``evaluate``/``predict`` (tqdm bars or one line per epoch).

``verbose`` as Keras: 0 silent, 1 a progress bar, 2 one line per epoch, ``"auto"`` = 1. A
bar needs a terminal or Jupyter; when stdout is neither (a log file, CI), verbose 1 prints the
one-line summary instead. Running metrics cost a device read, so the bar's metrics are
refreshed at most every ``REFRESH`` seconds, not per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError

REFRESH = 0.5


def resolve_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if not isinstance(verbose, bool) and verbose in (0, 1, 2):
        return int(verbose)
    raise ConfigError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}.")


def interactive() -> bool:
    """Whether a live bar can be drawn: a terminal on stdout, or code running in a Jupyter
    kernel (an IPython shell with a kernel: importing ``ipykernel`` alone is not enough)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return True
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def _fmt(logs: dict[str, float] | None) -> str:
    return " - ".join(f"{k}: {_num(v)}" for k, v in (logs or {}).items())


def _num(v: Any) -> str:
    """One log value; per-class metrics (F1Score(), Precision(thresholds=[...])) are vectors."""
    if isinstance(v, (list, tuple)) or np.ndim(v) > 0:
        return "[" + ", ".join(f"{float(x):.4f}" for x in np.ravel(v)) + "]"
    return f"{v:.4f}"


class Progress:
    """One bar per epoch (``mode`` "train") or per call ("evaluate", "predict")."""

    def __init__(self, mode: str, verbose: int, steps: int | None, epochs: int | None) -> None:
        self.mode, self.verbose, self.steps, self.epochs = mode, verbose, steps, epochs
        self.bar_used = verbose == 1 and interactive()
        self._bar: Any = None
        self._t0 = 0.0
        self._last = 0.0

    def start_epoch(self, epoch: int) -> None:
        self._t0 = self._last = time.perf_counter()
        if not self.bar_used:
            return
        from tqdm.auto import tqdm

        desc = f"Epoch {epoch + 1}/{self.epochs}" if self.mode == "train" else self.mode
        self._bar = tqdm(
            total=self.steps,
            desc=desc,
            unit="step",
            file=sys.stdout,
            leave=True,
            dynamic_ncols=True,
            mininterval=0.1,
        )

    def step(self, batch: int, logs: Callable[[], dict[str, float]] | None, n: int = 1) -> None:
        """``n`` more batches done (the last one ``batch``)."""
        if self._bar is None:
            return
        self._bar.update(n)
        now = time.perf_counter()
        if logs is not None and now - self._last >= REFRESH:
            self._last = now
            self._bar.set_postfix_str(_fmt(logs()), refresh=False)

    def end_epoch(self, epoch: int, logs: dict[str, float] | None) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix_str(_fmt(logs), refresh=False)
            self._bar.close()
            self._bar = None
            return
        if self.mode == "train" and self.verbose:
            dt = time.perf_counter() - self._t0
            print(f"Epoch {epoch + 1}/{self.epochs} - {dt:.1f}s - {_fmt(logs)}", flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
