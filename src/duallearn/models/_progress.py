"""Per-epoch progress output (a richer progress bar arrives with the callbacks work)."""

from __future__ import annotations

import time


class EpochPrinter:
    """Prints ``Epoch i/N - 1.2s - loss: ... - accuracy: ...`` once per epoch when verbose."""

    def __init__(self, epochs: int, verbose: int) -> None:
        self.epochs, self.verbose = epochs, verbose
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def end(self, epoch: int, logs: dict[str, float]) -> None:
        if not self.verbose:
            return
        dt = time.perf_counter() - self._t0
        parts = [f"{k}: {v:.4f}" for k, v in logs.items()]
        print(f"Epoch {epoch + 1}/{self.epochs} - {dt:.1f}s - " + " - ".join(parts), flush=True)
