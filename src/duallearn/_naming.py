"""Automatic names (``dense``, ``dense_1``, ...) as Keras gives them.

Names are variable paths, optimizer slot keys and checkpoint keys, so they must not depend on
how threads interleave. The counters are context-local, as the seed stream is (``_seed``):
``reset_names()`` gives the calling context (and thread) fresh counters; a context without
its own uses its thread's, and a new thread starts from fresh ones (as Keras 3, whose name
counters are per thread). So a model built in a thread gets the names it gets alone.
"""

from __future__ import annotations

import contextvars
import re
import threading
from collections import defaultdict

Counters = defaultdict[str, int]

_context: contextvars.ContextVar[Counters | None] = contextvars.ContextVar(
    "duallearn_name_counters", default=None
)
_thread = threading.local()  # .counters: for this thread's contexts that have none


def snake_case(name: str) -> str:
    """``"BatchNormalization"`` → ``"batch_normalization"``; ``"Conv2D"`` → ``"conv2d"``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _counters() -> Counters:
    counters = _context.get()
    if counters is None:
        counters = getattr(_thread, "counters", None)
        if counters is None:
            counters = _thread.counters = defaultdict(int)
    return counters


def unique_name(prefix: str) -> str:
    """The first use of a prefix gets the bare name, later ones ``prefix_N``."""
    counters = _counters()
    n = counters[prefix]
    counters[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Restart the automatic name counters of this context and thread (as
    ``keras.backend.clear_session``)."""
    counters: Counters = defaultdict(int)
    _context.set(counters)
    _thread.counters = counters
