"""Automatic names (``dense``, ``dense_1``, ...) as Keras gives them."""

from __future__ import annotations

import re
from collections import defaultdict

_counters: defaultdict[str, int] = defaultdict(int)


def snake_case(name: str) -> str:
    """``"BatchNormalization"`` → ``"batch_normalization"``; ``"Conv2D"`` → ``"conv2d"``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(prefix: str) -> str:
    """The first use of a prefix gets the bare name, later ones ``prefix_N``."""
    n = _counters[prefix]
    _counters[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Restart the automatic name counters (as ``keras.backend.clear_session``)."""
    _counters.clear()
